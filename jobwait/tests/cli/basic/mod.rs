//! The subcommands that wait for an existing job (`omni-job`, `omni-ai`, `omni-query`,
//! `retailgrid`) as a user runs them: a real process against the job simulator, checked by
//! exit code, stdout, stderr and the requests the simulator recorded.
//!
//! Every run has RUST_LOG=trace and is checked for the tokens in its output.

mod exit_codes;
mod fleet;
mod many;
mod output;
mod statuses;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::time::{Duration, Instant};

use sdk_tests::sim::{
    Fault, JobScript, SAMPLE_RESULT_FIELDS, SAMPLE_RESULT_ROWS, SimConfig, Simulator,
    sample_result_ipc,
};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{is_log_line, jobwait_without_tokens, messages, ms};

const OMNI_TOKEN: &str = "omni-cli-test-secret-5f1c2a";
const RETAILGRID_TOKEN: &str = "retailgrid-cli-test-secret-9d7e4b";
const WRONG_TOKEN: &str = "wrong-cli-test-secret-3b8a61";

/// Millisecond-scale polling (Omni still polls at most once per second).
const FAST: [&str; 6] = [
    "--min-delay",
    "50ms",
    "--max-delay",
    "200ms",
    "--timeout",
    "5s",
];

async fn simulator() -> Simulator {
    Simulator::start(SimConfig {
        omni_token: OMNI_TOKEN.to_owned(),
        retailgrid_token: Some(RETAILGRID_TOKEN.to_owned()),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// `jobwait <args>` with the simulator's tokens (and nothing else from the environment
/// that jobwait reads), `RUST_LOG=trace`, and no proxy for loopback.
fn jobwait_cmd(args: &[&str]) -> Command {
    let mut cmd = jobwait_without_tokens(args);
    cmd.env("OMNI_API_TOKEN", OMNI_TOKEN)
        .env("RETAILGRID_API_TOKEN", RETAILGRID_TOKEN);
    cmd
}

/// `jobwait <subcommand> <job ids> --base-url <sim> <FAST policy> <extra>`.
fn cmd(sim: &Simulator, subcommand: &str, ids: &[Uuid], extra: &[&str]) -> Command {
    let base_url = match subcommand {
        "retailgrid" => sim.retailgrid_base_url(),
        _ => sim.omni_base_url(),
    };
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let mut args: Vec<&str> = vec![subcommand];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--base-url", &base_url]);
    // The FAST policy, except for the flags given in `extra`.
    for pair in FAST.chunks(2) {
        if !extra.contains(&pair[0]) {
            args.extend(pair);
        }
    }
    args.extend(extra);
    jobwait_cmd(&args)
}

/// A finished run.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn from_output(output: Output, elapsed: Duration) -> Self {
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        };
        run.assert_no_token();
        run
    }

    /// Tokens never appear in the output, whatever the log level.
    fn assert_no_token(&self) {
        for token in [OMNI_TOKEN, RETAILGRID_TOKEN, WRONG_TOKEN] {
            assert!(
                !self.stdout.contains(token) && !self.stderr.contains(token),
                "a token was printed:\n{self}"
            );
        }
    }

    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code:\n{self}");
        self
    }

    /// stderr without the log lines (`RUST_LOG=trace`).
    fn messages(&self) -> String {
        messages(&self.stderr)
    }

    /// Every stdout line as JSON.
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}\n{self}"))
            })
            .collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail: Vec<&str> = self.stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        write!(
            f,
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr (last 30 lines)\n{}",
            self.code,
            self.elapsed,
            self.stdout,
            tail.join("\n")
        )
    }
}

/// Runs a command to its end without blocking the simulator's runtime.
async fn run(mut cmd: Command) -> Run {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let output = cmd.output().expect("jobwait starts");
        Run::from_output(output, start.elapsed())
    })
    .await
    .expect("runner thread")
}

/// Runs several commands at once.
async fn run_all(cmds: Vec<Command>) -> Vec<Run> {
    let handles: Vec<_> = cmds.into_iter().map(|c| tokio::spawn(run(c))).collect();
    let mut runs = Vec::with_capacity(handles.len());
    for handle in handles {
        runs.push(handle.await.expect("run task"));
    }
    runs
}

/// Requests the simulator recorded that name `job` in their path or query.
fn requests_for(sim: &Simulator, job: Uuid) -> usize {
    let id = job.to_string();
    sim.requests()
        .iter()
        .filter(|r| r.path.contains(&id) || r.decoded_query().is_some_and(|q| q.contains(&id)))
        .count()
}

/// A fresh directory under the target's tmp dir.
fn scratch_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("jobwait-cli-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
