//! The `jobwait` binary for the CLI tests (`cli.rs`, `cli_workflows.rs`): `$JOBWAIT_BIN` if
//! set, else `<target dir>/debug/jobwait`, built once per test process when it is missing or
//! older than its sources.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The newest modification time of the files under `path`.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| newest(&entry.ok()?.path()))
        .max()
}

/// Whether `bin` is missing or older than a source it is built from.
fn stale(bin: &Path) -> bool {
    let Some(built) = newest(bin) else {
        return true;
    };
    let root = workspace();
    [
        "Cargo.toml",
        "poll-helpers/Cargo.toml",
        "poll-helpers/src",
        "omni-sdk/Cargo.toml",
        "omni-sdk/build.rs",
        "omni-sdk/src",
        "retailgrid-sdk/Cargo.toml",
        "retailgrid-sdk/src",
    ]
    .iter()
    .filter_map(|p| newest(&root.join(p)))
    .any(|source| source > built)
}

/// The `jobwait` binary, built at most once per test process.
pub(crate) fn jobwait() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("JOBWAIT_BIN") {
            return PathBuf::from(bin);
        }
        let root = workspace();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|dir| root.join(dir)) // `join` keeps an absolute path as is
            .unwrap_or_else(|| root.join("target"));
        let bin = target
            .join("debug")
            .join(format!("jobwait{}", std::env::consts::EXE_SUFFIX));
        if stale(&bin) {
            let output = Command::new(env!("CARGO"))
                .args(["build", "-p", "poll-helpers", "--features", "cli"])
                .args(["--bin", "jobwait"])
                .current_dir(&root)
                .output()
                .expect("cannot run cargo");
            assert!(
                output.status.success(),
                "building jobwait failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(bin.is_file(), "no jobwait binary at {}", bin.display());
        bin
    })
}
