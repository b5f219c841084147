//! What the command-line tests share: the binary, a clean command line, log filtering.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `jobwait` binary cargo built for these tests.
pub(crate) fn jobwait() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_jobwait"))
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `jobwait <args>` with nothing from the environment that jobwait reads (no token: the
/// caller adds its own), `RUST_LOG=trace`, no proxy for loopback, stdin empty.
pub(crate) fn jobwait_without_tokens<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(jobwait());
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("OMNI_")
            || key.starts_with("RETAILGRID_")
            || key.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(&*key);
        }
    }
    cmd.env("RUST_LOG", "trace")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// The lines of `stderr` that are not log lines.
pub(crate) fn messages(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !is_log_line(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a stderr line is a log line (`RUST_LOG=trace`), not a message of jobwait's.
pub(crate) fn is_log_line(line: &str) -> bool {
    ["TRACE", "DEBUG", " INFO", " WARN"]
        .iter()
        .any(|level| line.contains(level))
}
