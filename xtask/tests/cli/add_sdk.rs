//! `cargo xtask add-sdk` as a user runs it: on the real-world corpus in `tests/corpus/`
//! (one scratch workspace, one shared target directory, `cargo check`), and on the inputs
//! it must refuse without changing anything.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// A workspace with this repository's root manifest and lock file but no members, and
/// an empty `specs/sdks.toml`.
fn scratch_workspace() -> tempfile::TempDir {
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

/// `add-sdk` here runs with `--no-verify`: the corpus test checks every crate in one
/// `cargo check` instead (verification itself is tested in codegen.rs).
fn xtask(root: &Path, args: &[&str]) -> Output {
    let no_verify = args.first() == Some(&"add-sdk");
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .args(no_verify.then_some("--no-verify"))
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

fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The corpus documents: every `*.json`/`*.yaml`/`*.yml` in `tests/corpus/`.
fn corpus() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    docs.retain(|p| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml" | "yml")
        )
    });
    docs.sort();
    docs
}

fn crate_name(doc: &Path) -> String {
    let stem = doc
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .to_ascii_lowercase();
    let clean: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("corpus-{}", clean.trim_matches('-'))
}

/// add-sdk on every corpus document, then one `cargo check` of them all. The warnings of
/// each (operations generated and dropped, with reasons) must match the committed
/// snapshot `tests/corpus/snapshot.txt`; `UPDATE_SNAPSHOT=1` rewrites it.
#[test]
fn every_corpus_document_becomes_a_compiling_crate() {
    let docs = corpus();
    assert!(
        docs.len() >= 8,
        "the corpus needs at least 8 documents, found {}",
        docs.len()
    );
    let ws = scratch_workspace();
    let mut snapshot = String::from(
        "# `cargo xtask add-sdk` on each corpus document: operations generated/total, then each\n\
         # dropped operation and warning. Regenerate with UPDATE_SNAPSHOT=1 cargo test -p xtask --test cli add_sdk\n",
    );
    let mut table = String::from(
        "# Corpus: what `cargo xtask add-sdk` generates\n\n\
         Written by `UPDATE_SNAPSHOT=1 cargo test -p xtask --test cli add_sdk` (checked like\n\
         `snapshot.txt`, which lists every warning).\n\n\
         | File | Operations | Generated | Dropped | Why dropped |\n|---|---:|---:|---:|---|\n",
    );
    let (mut all_ops, mut all_generated) = (0usize, 0usize);
    for doc in &docs {
        let name = crate_name(doc);
        let out = xtask(
            ws.path(),
            &["add-sdk", &name, "--spec", doc.to_str().unwrap()],
        );
        let all = text(&out);
        assert!(
            out.status.success(),
            "add-sdk {} failed:\n{all}",
            doc.display()
        );
        assert!(!all.contains("panicked at"), "a panic escaped: {all}");
        let file = doc.file_name().unwrap().to_string_lossy();
        snapshot.push_str(&format!("\n## {file}\n"));
        let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
        for line in all.lines() {
            if let Some(rest) = line.strip_prefix("warning: dropped operation ")
                && let Some((_, reason)) = rest.split_once("): ")
            {
                let reason = reason.trim_start_matches("conflicts with other operations: ");
                let short: String = reason.chars().take(70).collect();
                *reasons.entry(short).or_default() += 1;
            }
        }
        for line in all.lines() {
            if let Some(summary) = line.strip_prefix(&format!("added {name}: ")) {
                // Drop the timing, which varies.
                let summary = summary.split(" (").next().unwrap_or(summary);
                snapshot.push_str(&format!("{summary}\n"));
                let numbers: Vec<usize> = summary
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse().ok())
                    .collect();
                if let [generated, total, dropped, ..] = numbers[..] {
                    all_ops += total;
                    all_generated += generated;
                    let why: Vec<String> =
                        reasons.iter().map(|(r, n)| format!("{n} × {r}")).collect();
                    table.push_str(&format!(
                        "| `{file}` | {total} | {generated} | {dropped} | {} |\n",
                        why.join("; ").replace('|', "\\|")
                    ));
                }
            } else if line.starts_with("warning: ") {
                snapshot.push_str(&format!(
                    "{}\n",
                    line.replace(&*ws.path().to_string_lossy(), "<ws>")
                ));
            }
        }
    }
    let target = repo().join("target").join("corpus-check");
    let check = Command::new(env!("CARGO"))
        .args([
            "check",
            "--workspace",
            "--quiet",
            "--message-format",
            "short",
        ])
        .current_dir(ws.path())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "cargo check of the corpus crates failed:\n{}",
        text(&check)
    );

    table.push_str(&format!(
        "| **total ({} documents)** | {all_ops} | {all_generated} | {} | |\n",
        docs.len(),
        all_ops - all_generated
    ));
    let table_path = corpus_dir().join("TABLE.md");
    let path = corpus_dir().join("snapshot.txt");
    if std::env::var_os("UPDATE_SNAPSHOT").is_some() {
        std::fs::write(&path, &snapshot).unwrap();
        std::fs::write(&table_path, &table).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&table_path).unwrap_or_default(),
        table,
        "the corpus table changed; review and run with UPDATE_SNAPSHOT=1"
    );
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, snapshot,
        "what add-sdk drops or warns about changed; review and run with UPDATE_SNAPSHOT=1"
    );
}

#[test]
fn refusals_change_nothing() {
    let ws = scratch_workspace();
    let outside = tempfile::tempdir().unwrap();
    let pet = outside.path().join("pet-fixture.yaml");
    std::fs::write(
        &pet,
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: a\n      responses:\n        '200': {description: ok}\n",
    )
    .unwrap();
    let before = tree(ws.path());
    let not_openapi = ws.path().join("not-openapi.yaml");
    std::fs::write(&not_openapi, "a: 1\n").unwrap();
    let swagger = ws.path().join("swagger.json");
    std::fs::write(&swagger, "{\"swagger\": \"2.0\"}").unwrap();
    let pet_s = pet.to_str().unwrap();
    // A real 3.1 document with webhooks only (OAI's example): nothing a client can call.
    let webhooks = corpus_dir().join("refused/oai-webhook-example.yaml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["add-sdk", "9lives", "--spec", pet_s],
            "must start with a letter",
        ),
        (
            vec!["add-sdk", "bad/name", "--spec", pet_s],
            "may only contain",
        ),
        (vec!["add-sdk", "xtask", "--spec", pet_s], "reserved"),
        (
            vec!["add-sdk", "fine", "--spec", "/no/such/file.yaml"],
            "cannot read /no/such/file.yaml",
        ),
        (
            vec!["add-sdk", "fine", "--spec", not_openapi.to_str().unwrap()],
            "not an OpenAPI 3.0/3.1 document",
        ),
        (
            vec!["add-sdk", "fine", "--spec", swagger.to_str().unwrap()],
            "Swagger 2.0",
        ),
        (
            vec!["add-sdk", "fine", "--spec", webhooks.to_str().unwrap()],
            "has no operations",
        ),
    ];
    for (args, expected) in cases {
        let out = xtask(ws.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
    std::fs::remove_file(&not_openapi).unwrap();
    std::fs::remove_file(&swagger).unwrap();
    assert_eq!(
        before,
        tree(ws.path()),
        "a refused add-sdk must change nothing"
    );

    // A name already taken: add once, then again.
    let ok = xtask(ws.path(), &["add-sdk", "fine", "--spec", pet_s]);
    assert!(ok.status.success(), "{}", text(&ok));
    let after_first = tree(ws.path());
    let again = xtask(ws.path(), &["add-sdk", "fine", "--spec", pet_s]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert_eq!(after_first, tree(ws.path()));

    // remove-sdk undoes add-sdk exactly.
    let removed = xtask(ws.path(), &["remove-sdk", "fine"]);
    assert!(removed.status.success(), "{}", text(&removed));
    let mut restored = tree(ws.path());
    restored.retain(|(p, _)| !p.ends_with("Cargo.lock"));
    let mut original = before.clone();
    original.retain(|(p, _)| !p.ends_with("Cargo.lock"));
    assert_eq!(original, restored);
}

#[test]
fn strict_refuses_any_dropped_operation() {
    let ws = scratch_workspace();
    let spec = ws.path().join("multipart.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: a\n      responses:\n        '200': {description: ok}\n  /upload:\n    post:\n      operationId: upload\n      requestBody: {content: {multipart/form-data: {schema: {type: object}}}}\n      responses:\n        '204': {description: ok}\n",
    )
    .unwrap();
    let strict = xtask(
        ws.path(),
        &[
            "add-sdk",
            "strict-sdk",
            "--spec",
            spec.to_str().unwrap(),
            "--strict",
        ],
    );
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    assert!(
        text(&strict).contains("dropped operation upload (POST /upload)"),
        "{}",
        text(&strict)
    );
    assert!(!ws.path().join("strict-sdk").exists());
    let lenient = xtask(
        ws.path(),
        &["add-sdk", "strict-sdk", "--spec", spec.to_str().unwrap()],
    );
    assert!(lenient.status.success(), "{}", text(&lenient));
    assert!(
        text(&lenient).contains("1 of 2 operations generated, 1 dropped"),
        "{}",
        text(&lenient)
    );
    let generated = std::fs::read_to_string(ws.path().join("strict-sdk/src/generated.rs")).unwrap();
    assert!(generated.contains(
        "// - upload (POST /upload): its multipart/form-data schema (/paths/~1upload/post/requestBody/content/multipart~1form-data/schema) declares no properties"
    ));
}
