//! `cargo xtask codegen` as a user runs it, on a scratch copy of the workspace's specs and
//! generated files.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FILES: [&str; 10] = [
    "specs/sdks.toml",
    "specs/omni-openapi.json",
    "specs/omni.yaml",
    "specs/omni.overlay.yaml",
    "specs/retailgrid.yaml",
    "specs/retailgrid.overlay.yaml",
    "omni-sdk/src/generated.rs",
    "omni-sdk/src/runtime.rs",
    "retailgrid-sdk/src/generated.rs",
    "retailgrid-sdk/src/runtime.rs",
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
    let out = xtask(dir.path(), &["codegen"]);
    assert!(out.status.success(), "{}", text(&out));
    let first = snapshot(dir.path());
    let out = xtask(dir.path(), &["codegen"]);
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
    let out = xtask(dir.path(), &["codegen"]);
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
    let out = xtask(dir.path(), &["codegen"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("specs/retailgrid.yaml: invalid YAML/JSON"),
        "{msg}"
    );
    assert!(msg.contains("line ") && msg.contains("column "), "{msg}");
    assert!(!msg.contains("panicked"), "{msg}");
}

#[test]
fn an_operation_progenitor_cannot_handle_is_dropped_with_a_warning() {
    let dir = scratch();
    // Two operations with the same operationId: progenitor rejects them together, so the
    // second is left out, named in a warning and in the generated file's header.
    let spec = dir.path().join("specs/retailgrid.yaml");
    let yaml = std::fs::read_to_string(&spec).unwrap();
    let dup = yaml.replacen(
        "  /v1/jobs/{job_id}:\n",
        "  /v1/other/{job_id}:\n    get:\n      operationId: get_job\n      parameters:\n        - {name: job_id, in: path, required: true, schema: {type: string}}\n      responses:\n        '200': {description: ok}\n  /v1/jobs/{job_id}:\n",
        1,
    );
    assert_ne!(yaml, dup);
    std::fs::write(&spec, dup).unwrap();
    let out = xtask(dir.path(), &["codegen"]);
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
    let out = xtask(dir.path(), &["codegen"]);
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
