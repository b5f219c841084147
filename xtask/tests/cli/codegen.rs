//! `cargo xtask codegen` as a user runs it, on a scratch copy of the workspace's specs and
//! generated files.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FILES: [&str; 8] = [
    "specs/sdks.toml",
    "specs/omni-openapi.json",
    "specs/omni.yaml",
    "specs/omni.overlay.yaml",
    "specs/retailgrid.yaml",
    "specs/retailgrid.overlay.yaml",
    "omni-sdk/src/generated.rs",
    "retailgrid-sdk/src/generated.rs",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A scratch workspace holding copies of the specs and of the committed generated files.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in FILES {
        let to = dir.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(f), to).unwrap();
    }
    dir
}

fn xtask(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn snapshot(root: &Path) -> Vec<Vec<u8>> {
    FILES
        .iter()
        .map(|f| std::fs::read(root.join(f)).unwrap())
        .collect()
}

#[test]
fn check_passes_on_the_committed_files() {
    let dir = scratch();
    let out = xtask(dir.path(), &["codegen", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn check_fails_with_a_diff_after_a_one_character_spec_change() {
    let dir = scratch();
    let spec = dir.path().join("specs/retailgrid.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    // "status" -> "statue": one character, in a description that reaches the docs.
    let changed = yaml.replacen("current status for", "current statue for", 1);
    assert_ne!(yaml, changed);
    std::fs::write(&spec, changed).unwrap();
    let before = snapshot(dir.path());
    let out = xtask(dir.path(), &["codegen", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("--- a/retailgrid-sdk/src/generated.rs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+++ b/retailgrid-sdk/src/generated.rs"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('+') && l.contains("current statue for")),
        "{stdout}"
    );
    assert_eq!(before, snapshot(dir.path()), "--check must write nothing");
}

#[test]
fn generation_is_deterministic_and_idempotent() {
    let dir = scratch();
    let spec = dir.path().join("specs/omni.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        yaml.replacen("Get job status", "Get the job status", 1),
    )
    .unwrap();
    let out = xtask(dir.path(), &["codegen", "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out));
    let first = snapshot(dir.path());
    let out = xtask(dir.path(), &["codegen", "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(first, snapshot(dir.path()));
    assert!(
        text(&out).contains("unchanged: omni-sdk/src/generated.rs"),
        "{}",
        text(&out)
    );
    let out = xtask(dir.path(), &["codegen", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_missing_spec_is_a_clear_error_and_writes_nothing() {
    let dir = scratch();
    std::fs::remove_file(dir.path().join("specs/omni-openapi.json")).unwrap();
    std::fs::write(dir.path().join("retailgrid-sdk/src/generated.rs"), "stale").unwrap();
    let out = xtask(dir.path(), &["codegen", "--no-verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cannot read specs/omni-openapi.json"),
        "{}",
        text(&out)
    );
    let untouched = std::fs::read_to_string(dir.path().join("retailgrid-sdk/src/generated.rs"));
    assert_eq!(
        untouched.unwrap(),
        "stale",
        "one bad spec must leave every file alone"
    );
}

#[test]
fn a_yaml_syntax_error_names_the_file_line_and_column() {
    let dir = scratch();
    let spec = dir.path().join("specs/retailgrid.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        yaml.replacen("  title: Retailgrid Public API", "  title: [unclosed", 1),
    )
    .unwrap();
    let out = xtask(dir.path(), &["codegen", "--no-verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("specs/retailgrid.yaml: invalid YAML/JSON"),
        "{msg}"
    );
    assert!(msg.contains("line ") && msg.contains("column "), "{msg}");
    assert!(!msg.contains("panicked"), "{msg}");
}

/// `retailgrid.yaml` in a scratch workspace with one more operation, `extra` (YAML lines at
/// the indentation of a path item), inserted before `/v1/jobs/{job_id}`.
fn with_extra_operation(dir: &Path, extra: &str) {
    let spec = dir.join("specs/retailgrid.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    let changed = yaml.replacen(
        "  /v1/jobs/{job_id}:\n",
        &format!("{extra}  /v1/jobs/{{job_id}}:\n"),
        1,
    );
    assert_ne!(yaml, changed);
    std::fs::write(&spec, changed).unwrap();
}

#[test]
fn an_operation_progenitor_cannot_handle_is_dropped_with_a_warning() {
    let dir = scratch();
    // Two operations with one operationId, with the repair that renames the second turned
    // off: progenitor rejects them together, so the second is left out, named in a warning
    // and in the generated file's header, and the rest is generated. (What no repair
    // covers yet ends the same way.)
    with_extra_operation(
        dir.path(),
        "  /v1/other/{job_id}:\n    get:\n      operationId: get_job\n      parameters:\n        - {name: job_id, in: path, required: true, schema: {type: string}}\n      responses:\n        '200': {description: ok}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["codegen", "--no-verify", "--root"])
        .arg(dir.path())
        .env("XTASK_SKIP_REPAIRS", "repair-operations")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("warning: dropped operation get_job (GET /v1/"),
        "{msg}"
    );
    let generated =
        std::fs::read_to_string(dir.path().join("retailgrid-sdk/src/generated.rs")).unwrap();
    assert!(
        generated.contains("// Operations left out (1)"),
        "{generated}"
    );
    assert!(
        generated.contains("pub fn get_job("),
        "the rest is generated"
    );
}

#[test]
fn a_duplicate_operation_id_is_renamed_with_a_warning_and_both_are_generated() {
    let dir = scratch();
    with_extra_operation(
        dir.path(),
        "  /v1/other/{job_id}:\n    get:\n      operationId: get_job\n      parameters:\n        - {name: job_id, in: path, required: true, schema: {type: string}}\n      responses:\n        '200': {description: ok}\n",
    );
    let out = xtask(dir.path(), &["codegen", "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("get_job is used by an earlier operation; renamed get_job_get"),
        "{msg}"
    );
    let generated =
        std::fs::read_to_string(dir.path().join("retailgrid-sdk/src/generated.rs")).unwrap();
    assert!(generated.contains("pub fn get_job("), "{generated}");
    assert!(generated.contains("pub fn get_job_get("), "{generated}");
    assert!(!generated.contains("// Operations left out"), "{generated}");
}

#[test]
fn a_spec_where_nothing_can_be_generated_is_an_error_not_a_panic() {
    let dir = scratch();
    // The only operation takes a multipart body, which progenitor cannot generate.
    let spec = dir.path().join("specs/retailgrid.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    let multipart = yaml.replacen(
        "      operationId: get_job_v1_jobs__job_id__get\n",
        "      operationId: get_job_v1_jobs__job_id__get\n      requestBody:\n        content:\n          multipart/form-data:\n            schema: {type: object}\n",
        1,
    );
    assert_ne!(yaml, multipart);
    std::fs::write(&spec, multipart).unwrap();
    let out = xtask(dir.path(), &["codegen", "--no-verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("specs/retailgrid.yaml: progenitor cannot generate a client"),
        "{msg}"
    );
    assert!(msg.contains("no operation can be generated"), "{msg}");
    assert!(
        !msg.contains("panicked at"),
        "a panic must not leak through: {msg}"
    );
}

#[test]
fn an_overlay_target_that_no_longer_matches_is_an_error() {
    let dir = scratch();
    let overlay = dir.path().join("specs/retailgrid.overlay.yaml");
    let text0 = std::fs::read_to_string(&overlay).unwrap();
    std::fs::write(
        &overlay,
        text0.replace("/v1/jobs/{job_id}", "/v1/gone/{job_id}"),
    )
    .unwrap();
    let out = xtask(dir.path(), &["codegen", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("selects nothing"), "{}", text(&out));
}

#[test]
fn unknown_arguments_are_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("codegne")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("usage: cargo xtask"), "{}", text(&out));
}

/// Without `--root`, xtask acts on the workspace of the current directory (not the one it
/// was compiled in): a stale spec in the scratch copy fails `--check` there, while the
/// repository's own files stay as they were.
#[test]
fn xtask_acts_on_the_workspace_of_the_current_directory() {
    let dir = scratch();
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    let nested = dir.path().join("omni-sdk/src");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .current_dir(&nested)
            .output()
            .unwrap()
    };
    let out = run(&["codegen", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
    let spec = dir.path().join("specs/retailgrid.yaml");
    let changed = std::fs::read_to_string(&spec).unwrap() + "\n# touched\n";
    std::fs::write(&spec, changed).unwrap();
    let out = run(&["codegen", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("retailgrid-sdk/src/generated.rs is stale"),
        "{}",
        text(&out)
    );

    let outside = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["codegen", "--check"])
        .current_dir(outside.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --root DIR"), "{}", text(&out));
}

/// A scratch cargo workspace (this repository's root manifest with no members, its lock
/// file, an empty `specs/sdks.toml`) for add-sdk.
fn cargo_workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let start = cargo.find("members = [").unwrap();
    let end = start + cargo[start..].find(']').unwrap() + 1;
    let cargo = format!("{}members = []{}", &cargo[..start], &cargo[end..]);
    // The workspace's path dependencies (the shared runtime) stay where they are.
    let cargo = xtask::verify::absolute_paths(&cargo, &repo());
    std::fs::write(dir.path().join("Cargo.toml"), cargo).unwrap();
    std::fs::copy(repo().join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    std::fs::create_dir_all(dir.path().join("specs")).unwrap();
    std::fs::write(dir.path().join("specs/sdks.toml"), "# scratch\n").unwrap();
    dir
}

/// Verification compiles what it generated and repairs what does not compile: with the
/// colliding-property repair switched off, the struct with `fieldName` and `field_name`
/// does not compile; the error is mapped back to its schema, which becomes an untyped JSON
/// value, and the crate that is added compiles. The repair is recorded in the header, so
/// `--check` (which compiles nothing) reproduces the file.
#[test]
fn verification_maps_compile_errors_back_to_the_schema_and_repairs_it() {
    let ws = cargo_workspace();
    let spec = ws.path().join("collide.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: getA\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Clash'}\n  /b:\n    get:\n      operationId: getB\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Fine'}\ncomponents:\n  schemas:\n    Clash:\n      type: object\n      properties:\n        fieldName: {type: string}\n        field_name: {type: string}\n    Fine:\n      type: object\n      properties:\n        name: {type: string}\n",
    )
    .unwrap();
    let target = repo().join("target");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "add-sdk",
            "collide",
            "--spec",
            spec.to_str().unwrap(),
            "--root",
        ])
        .arg(ws.path())
        .env("XTASK_SKIP_REPAIRS", "colliding-properties")
        .env("XTASK_VERIFY_TARGET_DIR", &target)
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("/components/schemas/Clash: generated as an untyped JSON value (its type did not compile: E0124"),
        "{all}"
    );
    assert!(all.contains("2 of 2 operations generated"), "{all}");
    let generated = std::fs::read_to_string(ws.path().join("collide/src/generated.rs")).unwrap();
    assert!(
        generated.contains("// verify-fix: {\"fix\":\"untyped-schema\",\"schema\":\"Clash\""),
        "{generated}"
    );
    assert!(generated.contains("pub struct Fine"), "{generated}");

    // The added crate compiles, and --check replays the recorded repair.
    let check = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "-p", "collide"])
        .current_dir(ws.path())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["codegen", "--check", "--root"])
        .arg(ws.path())
        .env("XTASK_SKIP_REPAIRS", "colliding-properties")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
