//! What the command-line tests share.

use std::path::Path;

/// The `jobwait` binary cargo built for these tests.
pub(crate) fn jobwait() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_jobwait"))
}
