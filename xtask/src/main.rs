//! Workspace automation. `cargo xtask codegen [--check]` regenerates the SDK clients from
//! the vendored specs in `specs/` (see the README).

use xtask::{add_sdk, codegen};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  codegen            regenerate <sdk>/src/generated.rs from specs/, then
                     `cargo check` them (scratch target/xtask-verify) and repair or drop
                     what does not compile before writing anything
  codegen --no-verify
                     the same without the compile check
  codegen --check    write nothing, compile nothing; exit 1 with a diff if a generated
                     file is stale
  demo               run the job simulator and `jobwait` against it (no credentials)
  add-sdk NAME --spec FILE [--strict] [--no-verify]
                     add a client crate NAME generated from an OpenAPI 3.0/3.1 document
                     (JSON or YAML), compiled before it is added (unless --no-verify);
                     --strict fails on any dropped operation or warning
  remove-sdk NAME    remove a crate that add-sdk made

options:
  --root DIR         workspace to work on (default: the one containing the current
                     directory)";

/// The workspace of the current directory: the nearest ancestor whose `Cargo.toml` has a
/// `[workspace]` table and a `specs/sdks.toml`. Not the workspace xtask was compiled in
/// (`CARGO_MANIFEST_DIR`): with one target dir shared by two checkouts (git worktrees, a
/// global `CARGO_TARGET_DIR`), the binary built in one would regenerate the other.
fn workspace_root() -> Result<PathBuf, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    for dir in cwd.ancestors() {
        let manifest = dir.join("Cargo.toml");
        let is_workspace = std::fs::read_to_string(&manifest)
            .is_ok_and(|text| text.lines().any(|l| l.trim() == "[workspace]"));
        if is_workspace && dir.join(codegen::MANIFEST).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(format!(
        "{} is not inside a workspace with {} (pass --root DIR)",
        cwd.display(),
        codegen::MANIFEST
    ))
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut root = None;
    if let Some(i) = args.iter().position(|a| a == "--root") {
        match args.get(i + 1) {
            Some(dir) => root = Some(PathBuf::from(dir)),
            None => {
                eprintln!("error: --root needs a directory\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
        args.drain(i..i + 2);
    }
    let root = match root.map_or_else(workspace_root, Ok) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["codegen"] => run_codegen(&root, false, true),
        ["codegen", "--no-verify"] => run_codegen(&root, false, false),
        ["codegen", "--check"] => run_codegen(&root, true, false),
        ["demo"] => run_demo(&root),
        ["add-sdk", name, rest @ ..] => {
            let strict = rest.contains(&"--strict");
            let verify = !rest.contains(&"--no-verify");
            let spec = rest
                .iter()
                .position(|a| *a == "--spec")
                .and_then(|i| rest.get(i + 1));
            let unknown = rest.iter().enumerate().any(|(i, a)| {
                !matches!(*a, "--strict" | "--spec" | "--no-verify")
                    && (i == 0 || rest[i - 1] != "--spec")
            });
            match (spec, unknown) {
                (Some(spec), false) => run_add_sdk(&root, name, Path::new(spec), strict, verify),
                _ => {
                    eprintln!(
                        "error: usage: cargo xtask add-sdk NAME --spec FILE [--strict] [--no-verify]"
                    );
                    ExitCode::from(2)
                }
            }
        }
        ["remove-sdk", name] => match add_sdk::remove_sdk(&root, name) {
            Ok(()) => {
                eprintln!("removed {name}: its crate, spec and manifest entry");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "error: unrecognised arguments: {}\n\n{USAGE}",
                args.join(" ")
            );
            ExitCode::from(2)
        }
    }
}

fn run_codegen(root: &Path, check: bool, verify: bool) -> ExitCode {
    // Generate (and verify) everything before writing anything: one bad spec leaves every
    // file as it was.
    let manifest = match codegen::read_manifest(root) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `--check` compiles nothing: CI builds the crates anyway, and the fixes verification
    // found are replayed from the generated files' headers.
    let verify = verify && !check;
    let started = std::time::Instant::now();
    let outputs = match codegen::generate_verified(root, root, &manifest.sdk, verify) {
        Ok(outputs) => outputs,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("error: nothing was written");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for output in &outputs {
        for warning in &output.warnings {
            eprintln!("warning: {warning}");
        }
        for dropped in &output.dropped {
            eprintln!("warning: dropped operation {dropped}");
        }
    }
    if verify {
        eprintln!(
            "verified: `cargo check` of {} crate(s) passed ({:.1?}; scratch workspace {})",
            outputs.len(),
            started.elapsed(),
            xtask::verify::SCRATCH
        );
    }
    for output in &outputs {
        for (path, contents) in &output.files {
            failed |= !sync_file(root, path, contents, check);
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run_add_sdk(root: &Path, name: &str, spec: &Path, strict: bool, verify: bool) -> ExitCode {
    let started = std::time::Instant::now();
    match add_sdk::add_sdk(root, name, spec, strict, verify) {
        Ok(added) => {
            for w in &added.warnings {
                eprintln!("warning: {w}");
            }
            for d in &added.dropped {
                eprintln!("warning: dropped operation {d}");
            }
            eprintln!(
                "added {name}: {} of {} operations generated, {} dropped ({:.1?}); build it with `cargo build -p {name}`",
                added.operations.saturating_sub(added.dropped.len()),
                added.operations,
                added.dropped.len(),
                started.elapsed()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The demo lives in the tests crate (`cargo run -p sdk-tests --example demo`) so that
/// xtask, which `cargo xtask codegen` compiles, stays light.
fn run_demo(root: &Path) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args(["run", "--quiet", "-p", "sdk-tests", "--example", "demo"])
        .current_dir(root)
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("error: the demo failed ({s})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Compares (with `check`) or writes one generated file; false on a stale file or error.
fn sync_file(root: &Path, path: &Path, contents: &str, check: bool) -> bool {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let current = std::fs::read_to_string(path).unwrap_or_default();
    if current == contents {
        eprintln!("{}: {rel}", if check { "up to date" } else { "unchanged" });
        return true;
    }
    if check {
        let diff = similar::TextDiff::from_lines(current.as_str(), contents);
        print!(
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&format!("a/{rel}"), &format!("b/{rel}"))
        );
        eprintln!("error: {rel} is stale; run `cargo xtask codegen`");
        return false;
    }
    match write_atomically(path, contents) {
        Ok(()) => {
            eprintln!("wrote: {rel}");
            true
        }
        Err(e) => {
            eprintln!("error: cannot write {rel}: {e}");
            false
        }
    }
}

/// Writes through a temporary file and a rename, so a failure never leaves half a file.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("rs.tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
