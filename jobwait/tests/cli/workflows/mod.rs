//! The start-and-wait subcommands of `jobwait` (`omni-refresh`, `omni-run-query`,
//! `omni-ask`, `omni-download`) as a user runs them: the real binary against the job
//! simulator's start endpoints, checked by exit code, stdout, stderr, the files written and
//! the requests the simulator recorded.
//!
//! Every run has RUST_LOG=trace and is checked for the token in its output. Omni's
//! adapters poll a job at most once per second, so the scripted jobs take well under 1.5 s
//! and most runs end at their second poll.

mod ask;
mod download;
mod exit_codes;
mod refresh;
mod run_query;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sdk_tests::sim::{
    Fault, JobScript, QueryRun, RunningAnswer, SAMPLE_RESULT_FIELDS, SAMPLE_RESULT_ROWS, SimConfig,
    Simulator, download_file, sample_result_ipc,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{is_log_line, jobwait_without_tokens, messages, ms};

const OMNI_TOKEN: &str = "omni-cli-workflows-secret-7c2e9d";

/// Millisecond-scale polling (Omni still polls at most once per second).
const FAST: [&str; 6] = [
    "--min-delay",
    "50ms",
    "--max-delay",
    "200ms",
    "--timeout",
    "10s",
];

async fn simulator() -> Simulator {
    Simulator::start(SimConfig {
        omni_token: OMNI_TOKEN.to_owned(),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// `jobwait <args>` with the simulator's token (and nothing else from the environment that
/// jobwait reads), `RUST_LOG=trace`, no proxy for loopback, stdin empty.
fn jobwait_cmd<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut cmd = jobwait_without_tokens(args);
    cmd.env("OMNI_API_TOKEN", OMNI_TOKEN);
    cmd
}

/// `jobwait <args> --base-url <sim> <FAST policy, except the flags in args>`.
fn cmd(sim: &Simulator, args: &[&str]) -> Command {
    let base_url = sim.omni_base_url();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--base-url", &base_url]);
    for pair in FAST.chunks(2) {
        if !args.contains(&pair[0]) {
            all.extend(pair);
        }
    }
    jobwait_cmd(&all)
}

/// A finished run.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    /// stdout as is (a downloaded file may be binary).
    raw_stdout: Vec<u8>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn from_output(output: Output, elapsed: Duration) -> Self {
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            raw_stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        };
        assert!(
            !run.stdout.contains(OMNI_TOKEN) && !run.stderr.contains(OMNI_TOKEN),
            "the token was printed:\n{run}"
        );
        run
    }

    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code:\n{self}");
        self
    }

    /// stderr without the log lines (`RUST_LOG=trace`).
    fn messages(&self) -> String {
        messages(&self.stderr)
    }

    fn last_stdout_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
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
        let stdout = if self.stdout.len() > 4000 {
            format!("({} bytes)\n", self.raw_stdout.len())
        } else {
            self.stdout.clone()
        };
        write!(
            f,
            "exit {:?} after {:?}\n--- stdout\n{stdout}--- stderr (messages)\n{}",
            self.code,
            self.elapsed,
            self.messages()
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

/// A `jobwait` still running, its stderr read line by line as it comes.
struct Live {
    child: Child,
    start: Instant,
    lines: mpsc::Receiver<String>,
    /// The stderr lines received so far.
    seen: Vec<String>,
    stdout: JoinHandle<Vec<u8>>,
}

impl Live {
    fn spawn(mut cmd: Command) -> Live {
        let start = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("jobwait starts");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            out.read_to_end(&mut bytes).unwrap();
            bytes
        });
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            start,
            lines,
            seen: Vec::new(),
            stdout,
        }
    }

    /// Blocks until a stderr message (not a log line) starts with `prefix`; returns it.
    fn wait_for_message(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if !is_log_line(&line) && line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no stderr line starting with {prefix:?} ({e:?}); stderr so far:\n{}",
                    messages(&self.seen.join("\n"))
                ),
            }
        }
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the end.
    fn finish(mut self) -> Run {
        let status = self.child.wait().unwrap();
        let elapsed = self.start.elapsed();
        self.seen.extend(self.lines.iter());
        let stdout = self.stdout.join().unwrap();
        Run::from_output(
            Output {
                status,
                stdout,
                stderr: self.seen.join("\n").into_bytes(),
            },
            elapsed,
        )
    }
}

/// A fresh directory under the target's tmp dir.
fn scratch_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("jobwait-workflows-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The requests the simulator recorded with this method and a path ending with `suffix`.
fn recorded(sim: &Simulator, method: &str, suffix: &str) -> Vec<sdk_tests::sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .collect()
}

/// The start requests (every POST) the simulator recorded.
fn posts(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect()
}

/// The one job the start endpoints created.
fn only_started(sim: &Simulator) -> Uuid {
    let started = sim.started_jobs();
    assert_eq!(started.len(), 1, "{started:?}");
    started[0]
}

const MODEL: Uuid = Uuid::from_u128(0x770e_8400_e29b_41d4_a716_4466_5544_0002);
const BRANCH: Uuid = Uuid::from_u128(0x880e_8400_e29b_41d4_a716_4466_5544_0003);
/// A model whose schema refresh needs a branch.
const BRANCHED_MODEL: Uuid = Uuid::from_u128(0x990e_8400_e29b_41d4_a716_4466_5544_0004);

fn query_body() -> Value {
    json!({"query": {
        "modelId": MODEL,
        "table": "order_items",
        "fields": SAMPLE_RESULT_FIELDS,
        "limit": SAMPLE_RESULT_ROWS,
    }})
}

/// Writes `body` to a fresh file; returns the directory and the file.
fn body_file(body: &str) -> (PathBuf, PathBuf) {
    let dir = scratch_dir();
    let path = dir.join("query.json");
    std::fs::write(&path, body).unwrap();
    (dir, path)
}

/// Asserts that stdout holds the preview table of the sample result for `job`.
fn assert_sample_table(run: &Run, job: Uuid) {
    assert!(
        run.stdout
            .contains(&format!("query {job}: 4 rows, 5 columns")),
        "{run}"
    );
    for field in SAMPLE_RESULT_FIELDS {
        assert!(run.stdout.contains(field), "{field} missing:\n{run}");
    }
    for value in ["1001", "Sunglasses", "89.99", "2025-01-15T10:00:00Z"] {
        assert!(run.stdout.contains(value), "{value} missing:\n{run}");
    }
}
