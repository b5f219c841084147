//! `jobwait` end to end: the real binary against the job simulator (`sdk_tests::sim`),
//! checked by exit code, stdout, stderr, the files written and the requests the simulator
//! recorded. One test binary for every command-line test:
//!
//! - `basic`: the subcommands that wait for an existing job (`omni-job`, `omni-ai`,
//!   `omni-query`, `retailgrid`): exit codes, `--json`, result files, token hygiene;
//! - `workflows`: the start-and-wait subcommands (`omni-refresh`, `omni-run-query`,
//!   `omni-ask`, `omni-download`).
//!
//! `cargo test -p jobwait --test cli workflows::` runs one group.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod basic;
mod support;
mod workflows;
