//! The start-and-wait subcommands of `jobwait` (`omni-refresh`, `omni-run-query`,
//! `omni-ask`, `omni-download`) as a user runs them: the real binary against the job
//! simulator's start endpoints, checked by exit code, stdout, stderr, the files written and
//! the requests the simulator recorded.
//!
//! The binary is the one cargo builds for this test (`CARGO_BIN_EXE_jobwait`). Every run
//! has RUST_LOG=trace and is checked for the token in its output.
//! Omni's adapters poll a job at most once per second, so the scripted jobs take well
//! under 1.5 s and most runs end at their second poll.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

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

use crate::support::jobwait;

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

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

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
    cmd.env("OMNI_API_TOKEN", OMNI_TOKEN)
        .env("RUST_LOG", "trace")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
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

/// The lines of `stderr` that are not log lines.
fn messages(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !is_log_line(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_log_line(line: &str) -> bool {
    ["TRACE", "DEBUG", " INFO", " WARN"]
        .iter()
        .any(|level| line.contains(level))
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

// ---------------------------------------------------------------------------------------
// omni-refresh

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_refresh_prints_the_job_id_then_the_final_status() {
    let sim = simulator().await;
    sim.require_branch(BRANCHED_MODEL);
    sim.script_next_refresh(JobScript::succeed_after(ms(300)));
    let model = MODEL.to_string();
    let url = sim.omni_base_url();
    let run = run(cmd(&sim, &["omni-refresh", &model])).await;
    run.assert_code(0);
    let job = only_started(&sim);
    assert_eq!(
        run.last_stdout_line(),
        format!("succeeded: {job} COMPLETED")
    );
    assert_eq!(
        run.messages()
            .lines()
            .filter(|l| l.starts_with("started "))
            .collect::<Vec<_>>(),
        [format!(
            "started schema refresh job {job} of model {MODEL}; resume with: jobwait omni-job {job} --base-url {url}"
        )],
        "{run}"
    );
    let starts = recorded(&sim, "POST", &format!("/v1/models/{MODEL}/refresh"));
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].status, Some(200));
    assert_eq!(starts[0].decoded_query(), None);
    // Then the job's status, 1 s later (Omni's floor), which says COMPLETED.
    let polls = recorded(&sim, "GET", &format!("/v1/jobs/{job}/status"));
    assert_eq!(polls.len(), 1, "{polls:?}");
    assert!(polls[0].at - starts[0].at >= ms(950));

    // --branch goes on the start request, for a model that needs one.
    sim.clear_requests();
    sim.script_next_refresh(JobScript::succeed_after(ms(200)));
    let branched = BRANCHED_MODEL.to_string();
    let branch = BRANCH.to_string();
    let run = self::run(cmd(&sim, &["omni-refresh", &branched, "--branch", &branch])).await;
    run.assert_code(0);
    let job = sim.started_jobs()[1];
    assert_eq!(
        run.last_stdout_line(),
        format!("succeeded: {job} COMPLETED")
    );
    assert!(
        run.messages().contains(&format!(
            "started schema refresh job {job} of model {BRANCHED_MODEL} (branch {BRANCH})"
        )),
        "{run}"
    );
    let starts = recorded(&sim, "POST", "/refresh");
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0].decoded_query().as_deref(),
        Some(&*format!("branch_id={BRANCH}"))
    );

    // Without it, Omni's 400 answer ends the run: exit 4, the reason on stderr.
    sim.clear_requests();
    let run = self::run(cmd(&sim, &["omni-refresh", &branched])).await;
    run.assert_code(4);
    assert!(
        run.messages()
            .contains("branch_id is required when branch-based schema refresh is enabled"),
        "{run}"
    );
    assert_eq!(sim.started_jobs().len(), 2);
    assert_eq!(sim.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_refresh_job_id_is_on_stderr_before_the_end_and_resumes_the_wait() {
    let sim = simulator().await;
    sim.script_next_refresh(JobScript::succeed_after(ms(1300)));
    let model = MODEL.to_string();
    let mut live = Live::spawn(cmd(&sim, &["omni-refresh", &model, "--timeout", "30s"]));
    let line = tokio::task::block_in_place(|| live.wait_for_message("started schema refresh"));
    let job = only_started(&sim);
    // The job id is out while the wait goes on: the refresh takes 1.3 s, the first status
    // poll comes 1 s after the start.
    assert!(
        live.still_running(),
        "jobwait ended before printing {line:?}"
    );
    assert!(
        recorded(&sim, "GET", &format!("/v1/jobs/{job}/status")).is_empty(),
        "{line}"
    );
    let resume = line
        .split_once("resume with: ")
        .map(|(_, command)| command.to_owned())
        .unwrap_or_else(|| panic!("no resume command in {line:?}"));
    assert!(
        resume.starts_with(&format!("jobwait omni-job {job} --base-url ")),
        "{line}"
    );

    // A script that is stopped now...
    live.interrupt();
    let interrupted = tokio::task::block_in_place(|| live.finish());
    interrupted.assert_code(130);
    assert!(
        interrupted
            .messages()
            .contains("interrupted: polling stopped, nothing was cancelled on the server"),
        "{interrupted}"
    );
    // ...resumes the wait with the command it was given.
    let words: Vec<&str> = resume.split_whitespace().collect();
    assert_eq!(words[0], "jobwait");
    let mut args = words[1..].to_vec();
    args.extend(FAST);
    let resumed = run(jobwait_cmd(&args)).await;
    resumed.assert_code(0);
    assert_eq!(
        resumed.last_stdout_line(),
        format!("succeeded: {job} COMPLETED")
    );
    // One refresh was started, by the first run only.
    assert_eq!(posts(&sim).len(), 1, "{:?}", sim.requests());
}

// ---------------------------------------------------------------------------------------
// omni-run-query

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_run_query_prints_the_results_like_omni_query() {
    let sim = simulator().await;
    let body = query_body();
    let (dir, path) = body_file(&body.to_string());
    let path = path.to_string_lossy().into_owned();

    // Answered at once (the simulator's default run: one query of 50 ms).
    let run = run(cmd(&sim, &["omni-run-query", "--body", &path])).await;
    run.assert_code(0);
    let job = only_started(&sim);
    assert_sample_table(&run, job);
    assert_eq!(
        run.last_stdout_line(),
        format!("succeeded: {job} 1/1 queries finished")
    );
    assert!(
        run.messages().contains(&format!(
            "query run answered at once: 1 query finished (query jobs {job})"
        )),
        "{run}"
    );
    let starts = recorded(&sim, "POST", "/v1/query/run");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].body_json().unwrap()["query"], body["query"]);
    assert_eq!(sim.request_count(), 1, "{:?}", sim.requests());

    // The body on stdin.
    let mut from_stdin = cmd(&sim, &["omni-run-query", "--body", "-"]);
    from_stdin.stdin(Stdio::piped());
    let text = body.to_string();
    let stdin_run = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut child = from_stdin
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
        Run::from_output(child.wait_with_output().unwrap(), start.elapsed())
    })
    .await
    .unwrap();
    stdin_run.assert_code(0);
    let job = sim.started_jobs()[1];
    assert_sample_table(&stdin_run, job);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_run_query_waits_for_the_running_queries_and_writes_files() {
    let sim = simulator().await;
    // One query answered at once, one still running: its id on stderr, then the long poll.
    sim.script_next_query_run(
        QueryRun::many([
            JobScript::succeed_after(ms(20)),
            JobScript::succeed_after(ms(700)),
        ])
        .answering(RunningAnswer::JobIds),
    );
    let (dir, path) = body_file(&query_body().to_string());
    let out = dir.join("results");
    let out_arg = out.to_string_lossy().into_owned();
    let mut live = Live::spawn(cmd(
        &sim,
        &[
            "omni-run-query",
            "--body",
            &path.to_string_lossy(),
            "--output",
            &out_arg,
            "--format",
            "arrow",
        ],
    ));
    let line = tokio::task::block_in_place(|| live.wait_for_message("started query run"));
    let jobs = sim.started_jobs();
    assert_eq!(jobs.len(), 2);
    assert!(
        live.still_running(),
        "jobwait ended before printing {line:?}"
    );
    assert_eq!(
        line,
        format!(
            "started query run: 2 queries, query jobs {} {}; 1 still running; resume with: jobwait omni-query {} --base-url {}",
            jobs[0],
            jobs[1],
            jobs[1],
            sim.omni_base_url()
        )
    );
    let run = tokio::task::block_in_place(|| live.finish());
    run.assert_code(0);
    let ipc = sample_result_ipc().unwrap();
    for job in &jobs {
        let file = out.join(format!("{job}.arrow"));
        assert!(
            run.stdout
                .contains(&format!("wrote {} (4 rows)", file.display())),
            "{run}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), ipc);
    }
    assert!(
        run.last_stdout_line().ends_with("2/2 queries finished"),
        "{run}"
    );
    // One start, one long poll for the running query only.
    assert_eq!(posts(&sim).len(), 1);
    let waits = recorded(&sim, "GET", "/v1/query/wait");
    assert_eq!(waits.len(), 1, "{waits:?}");
    let asked = waits[0].decoded_query().unwrap();
    assert!(
        asked.contains(&jobs[1].to_string()) && !asked.contains(&jobs[0].to_string()),
        "{asked}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_run_query_json_lines_start_with_the_job_ids_and_end_with_the_rows() {
    let sim = simulator().await;
    let (dir, path) = body_file(&query_body().to_string());
    let run = run(cmd(
        &sim,
        &[
            "omni-run-query",
            "--body",
            &path.to_string_lossy(),
            "--json",
        ],
    ))
    .await;
    run.assert_code(0);
    let job = only_started(&sim);
    let lines = run.json_lines();
    assert_eq!(lines[0]["event"], "started", "{run}");
    assert_eq!(lines[0]["job_ids"], json!([job]), "{run}");
    assert_eq!(lines[0]["pending_job_ids"], json!([]), "{run}");
    let done = lines.last().unwrap();
    assert_eq!(done["event"], "done", "{run}");
    assert_eq!(done["outcome"], "succeeded", "{run}");
    let entry = &done["job"][job.to_string()];
    assert!(entry.get("result").is_none(), "base64 left in: {run}");
    assert_eq!(entry["row_count"], SAMPLE_RESULT_ROWS);
    assert_eq!(entry["rows"][0]["order_items.id"], 1001);
    assert_eq!(entry["rows"][3]["products.name"], "Sweater");
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// omni-ask

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_ask_prints_the_markdown_answer_on_stdout() {
    let sim = simulator().await;
    let answer = "**Sunglasses** lead with $89.99.\n\n| product | revenue |\n|---|---|\n| Sunglasses | 89.99 |";
    sim.script_next_ai_job(JobScript::succeed_after(ms(400)).with_result_summary(answer));
    let model = MODEL.to_string();
    let branch = BRANCH.to_string();
    let prompt = "What are the top products by revenue?";
    let run = run(cmd(
        &sim,
        &[
            "omni-ask",
            prompt,
            "--model",
            &model,
            "--branch",
            &branch,
            "--topic",
            "order_items",
        ],
    ))
    .await;
    run.assert_code(0);
    let job = only_started(&sim);
    // stdout is the answer, and only the answer.
    assert_eq!(run.stdout, format!("{answer}\n"), "{run}");
    let messages = run.messages();
    assert!(
        messages.contains(&format!("submitted AI job {job} (conversation ")),
        "{run}"
    );
    assert!(
        messages.contains(&format!("resume with: jobwait omni-ai {job} --base-url ")),
        "{run}"
    );
    assert!(
        messages.contains(&format!("succeeded: {job} COMPLETE")),
        "{run}"
    );
    let submits = recorded(&sim, "POST", "/v1/ai/jobs");
    assert_eq!(submits.len(), 1);
    let body = submits[0].body_json().unwrap();
    assert_eq!(body["prompt"], prompt);
    assert_eq!(body["modelId"], model);
    assert_eq!(body["branchId"], branch);
    assert_eq!(body["topicName"], "order_items");
    assert_eq!(
        recorded(&sim, "GET", &format!("/v1/ai/jobs/{job}/result")).len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_ask_ctrl_c_cancels_the_submitted_job() {
    let sim = simulator().await;
    sim.script_next_ai_job(JobScript::succeed_after(Duration::from_secs(60)));
    let model = MODEL.to_string();
    let mut live = Live::spawn(cmd(
        &sim,
        &["omni-ask", "Why?", "--model", &model, "--timeout", "30s"],
    ));
    let line = tokio::task::block_in_place(|| live.wait_for_message("submitted AI job"));
    let job = only_started(&sim);
    assert!(
        line.starts_with(&format!("submitted AI job {job} ")),
        "{line}"
    );
    assert!(live.still_running());
    live.interrupt();
    let run = tokio::task::block_in_place(|| live.finish());
    run.assert_code(130);
    assert!(run.stdout.is_empty(), "{run}");
    assert!(
        run.messages().contains(&format!(
            "interrupted: polling stopped; AI job {job} was cancelled on the server"
        )),
        "{run}"
    );
    let cancels = recorded(&sim, "POST", &format!("/v1/ai/jobs/{job}/cancel"));
    assert_eq!(cancels.len(), 1, "{:?}", sim.requests());
    assert_eq!(cancels[0].status, Some(200));
    // The server says so too.
    let client = sim.omni_client().unwrap();
    let state = client
        .get_ai_job()
        .job_id(job)
        .send()
        .await
        .unwrap()
        .into_inner()
        .state;
    assert_eq!(state.as_str(), "CANCELLED");
}

// ---------------------------------------------------------------------------------------
// omni-download

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_download_writes_exactly_the_served_file() {
    let sim = simulator().await;
    let len = 300_000;
    sim.script_next_download(JobScript::succeed_after(ms(400)).with_file_size(len));
    let dir = scratch_dir();
    let output = dir.join("dashboard.pdf");
    // A file already there is replaced.
    std::fs::write(&output, "an older download").unwrap();
    let output_arg = output.to_string_lossy().into_owned();
    let run = run(cmd(
        &sim,
        &[
            "omni-download",
            "12db1a0a",
            "--format",
            "pdf",
            "--output",
            &output_arg,
        ],
    ))
    .await;
    run.assert_code(0);
    let job = only_started(&sim);
    assert!(
        std::fs::read(&output).unwrap() == download_file(job, "pdf", len),
        "the file differs from the one served"
    );
    assert_eq!(
        entries(&dir),
        ["dashboard.pdf"],
        "a temporary file was left"
    );
    assert!(
        run.stdout
            .contains(&format!("wrote {output_arg} ({len} bytes)")),
        "{run}"
    );
    assert_eq!(
        run.last_stdout_line(),
        format!("succeeded: {job} downloaded {len} bytes (application/pdf)")
    );
    assert!(
        run.messages()
            .contains(&format!("started download job {job} of dashboard 12db1a0a")),
        "{run}"
    );
    let starts = recorded(&sim, "POST", "/v1/dashboards/12db1a0a/download");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].body_json().unwrap()["format"], "pdf");

    // `--output -`: the bytes on stdout, the final line on stderr.
    sim.script_next_download(JobScript::succeed_after(ms(300)).with_file_size(5000));
    let run = self::run(cmd(
        &sim,
        &[
            "omni-download",
            "weekly-sales",
            "--format",
            "csv",
            "--output",
            "-",
        ],
    ))
    .await;
    run.assert_code(0);
    let job = sim.started_jobs()[1];
    assert!(
        run.raw_stdout == download_file(job, "csv", 5000),
        "stdout differs from the file served:\n{run}"
    );
    assert!(
        run.messages().contains(&format!(
            "succeeded: {job} downloaded 5000 bytes (text/csv)"
        )),
        "{run}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_download_job_id_is_on_stderr_before_the_file() {
    let sim = simulator().await;
    sim.script_next_download(JobScript::succeed_after(ms(1200)).with_file_size(1000));
    let dir = scratch_dir();
    let output = dir.join("d.png");
    let mut live = Live::spawn(cmd(
        &sim,
        &[
            "omni-download",
            "dash",
            "--format",
            "png",
            "--output",
            &output.to_string_lossy(),
        ],
    ));
    let line = tokio::task::block_in_place(|| live.wait_for_message("started download job"));
    let job = only_started(&sim);
    assert_eq!(
        line,
        format!("started download job {job} of dashboard dash")
    );
    assert!(live.still_running());
    assert!(!output.exists());
    let run = tokio::task::block_in_place(|| live.finish());
    run.assert_code(0);
    assert!(std::fs::read(&output).unwrap() == download_file(job, "png", 1000));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_or_timed_out_download_leaves_no_file() {
    let sim = simulator().await;
    let dir = scratch_dir();
    let output = dir.join("d.pdf");
    let output_arg = output.to_string_lossy().into_owned();
    let args = [
        "omni-download",
        "dash",
        "--format",
        "pdf",
        "--output",
        &output_arg,
    ];

    // Ctrl-C once the job is started.
    sim.script_next_download(JobScript::succeed_after(Duration::from_secs(60)));
    let mut interrupted_args = args.to_vec();
    interrupted_args.extend(["--timeout", "30s"]);
    let mut live = Live::spawn(cmd(&sim, &interrupted_args));
    tokio::task::block_in_place(|| live.wait_for_message("started download job"));
    // The temporary file exists meanwhile, next to --output.
    let partial = entries(&dir);
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(
        partial[0].starts_with(".d.pdf.") && partial[0].ends_with(".jobwait-part"),
        "{partial:?}"
    );
    live.interrupt();
    let run = tokio::task::block_in_place(|| live.finish());
    run.assert_code(130);
    assert!(
        run.messages()
            .contains("interrupted: polling stopped, nothing was cancelled on the server"),
        "{run}"
    );
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));

    // The deadline.
    sim.script_next_download(JobScript::succeed_after(Duration::from_secs(60)));
    let mut timed_out_args = args.to_vec();
    timed_out_args.extend(["--timeout", "1500ms"]);
    let run = self::run(cmd(&sim, &timed_out_args)).await;
    run.assert_code(3);
    assert!(run.messages().contains("deadline exceeded: "), "{run}");
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    assert_eq!(sim.started_jobs().len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// 1: failed jobs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refresh_and_download_exit_1_with_the_reason() {
    let sim = simulator().await;
    let dir = scratch_dir();
    let fresh = dir.join("new.pdf");
    let existing = dir.join("kept.xlsx");
    std::fs::write(&existing, "the previous download").unwrap();

    sim.script_next_refresh(JobScript::fail_after(ms(300), "ignored"));
    let model = MODEL.to_string();
    let refresh = run(cmd(&sim, &["omni-refresh", &model])).await;
    refresh.assert_code(1);
    let job = only_started(&sim);
    let messages = refresh.messages();
    assert!(
        messages.contains("failed: refresh_schema job reported FAILED"),
        "{refresh}"
    );
    assert!(
        messages.contains(&format!("started schema refresh job {job} ")),
        "{refresh}"
    );
    assert!(!refresh.stdout.contains("succeeded"), "{refresh}");

    for (output, format) in [(&fresh, "pdf"), (&existing, "xlsx")] {
        sim.script_next_download(JobScript::fail_after(ms(300), "renderer crashed"));
        let run = run(cmd(
            &sim,
            &[
                "omni-download",
                "12db1a0a",
                "--format",
                format,
                "--output",
                &output.to_string_lossy(),
            ],
        ))
        .await;
        run.assert_code(1);
        assert!(
            run.messages().contains(
                "failed: the download job failed (HTTP 410): Download job failed: renderer crashed"
            ),
            "{run}"
        );
        assert!(!run.stdout.contains("succeeded"), "{run}");
        let job = *sim.started_jobs().last().unwrap();
        let files = recorded(&sim, "GET", &format!("/download/{job}"));
        assert_eq!(
            files.iter().map(|r| r.status).collect::<Vec<_>>(),
            [Some(410)]
        );
    }
    // Nothing written: no new file, the old one untouched, no temporary file left.
    assert!(!fresh.exists());
    assert_eq!(
        std::fs::read_to_string(&existing).unwrap(),
        "the previous download"
    );
    assert_eq!(entries(&dir), ["kept.xlsx"]);
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// 2: usage errors, before any request

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2_naming_them_before_any_request() {
    let sim = simulator().await;
    let dir = scratch_dir();
    let model = MODEL.to_string();
    let missing = dir.join("missing.json").to_string_lossy().into_owned();
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "{\"query\": {\"table\": ").unwrap();
    let typo = dir.join("typo.json");
    std::fs::write(&typo, r#"{"query": {}, "brnachId": "x"}"#).unwrap();
    let bad_uuid = dir.join("bad-uuid.json");
    std::fs::write(&bad_uuid, r#"{"query": {}, "branchId": "main"}"#).unwrap();
    let a_dir = dir.to_string_lossy().into_owned();
    let [not_json, typo, bad_uuid] =
        [not_json, typo, bad_uuid].map(|p| p.to_string_lossy().into_owned());
    let no_token = {
        let mut c = cmd(&sim, &["omni-refresh", &model]);
        c.env_remove("OMNI_API_TOKEN");
        c
    };
    let cases: Vec<(Command, Vec<String>)> = vec![
        (
            cmd(&sim, &["omni-refresh", "not-a-uuid"]),
            vec!["invalid value 'not-a-uuid' for '<MODEL_ID>'".into()],
        ),
        (
            cmd(&sim, &["omni-refresh", &model, "--branch", "main"]),
            vec!["invalid value 'main' for '--branch <BRANCH_ID>'".into()],
        ),
        (
            cmd(&sim, &["omni-ask", "Why?", "--model", "12345"]),
            vec!["invalid value '12345' for '--model <MODEL_ID>'".into()],
        ),
        (
            cmd(&sim, &["omni-ask", "", "--model", &model]),
            vec!["'<PROMPT>'".into(), "the prompt is empty".into()],
        ),
        (
            cmd(&sim, &["omni-run-query", "--body", &missing]),
            vec![format!("error: cannot read --body {missing}: ")],
        ),
        (
            cmd(&sim, &["omni-run-query", "--body", &not_json]),
            vec![
                format!("error: invalid --body {not_json}: not a QueryRunBody JSON document: "),
                "EOF while parsing".into(),
                "line 1 column".into(),
            ],
        ),
        (
            cmd(&sim, &["omni-run-query", "--body", &typo]),
            vec![format!(
                "error: invalid --body {typo}: unknown field(s) \"brnachId\""
            )],
        ),
        (
            cmd(&sim, &["omni-run-query", "--body", &bad_uuid]),
            vec![
                format!("error: invalid --body {bad_uuid}: not a QueryRunBody JSON document: "),
                "UUID".into(),
            ],
        ),
        (
            cmd(
                &sim,
                &["omni-download", "d", "--format", "gif", "--output", "x.gif"],
            ),
            vec!["invalid value 'gif' for '--format <FORMAT>'".into()],
        ),
        (
            cmd(
                &sim,
                &["omni-download", "d", "--format", "pdf", "--output", &a_dir],
            ),
            vec![format!("error: --output {a_dir} is a directory")],
        ),
        (
            cmd(
                &sim,
                &[
                    "omni-download",
                    "d",
                    "--format",
                    "pdf",
                    "--output",
                    "-",
                    "--json",
                ],
            ),
            vec!["--output - and --json both write to stdout".into()],
        ),
        (no_token, vec!["OMNI_API_TOKEN".into()]),
    ];
    let (cmds, expected): (Vec<Command>, Vec<Vec<String>>) = cases.into_iter().unzip();
    let runs = run_all(cmds).await;
    for (run, expected) in runs.iter().zip(expected) {
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{run}");
        for text in expected {
            assert!(run.stderr.contains(&text), "{text:?} not on stderr:\n{run}");
        }
    }
    assert_eq!(sim.request_count(), 0, "{:?}", sim.requests());
    assert!(sim.started_jobs().is_empty());
    // Nothing written next to the would-be download either.
    assert_eq!(
        entries(&dir),
        ["bad-uuid.json", "not.json", "typo.json"],
        "{runs:#?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// 4: a failed start request is not retried

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_on_the_start_request_exits_4_after_exactly_one_post() {
    let model = MODEL.to_string();
    let (dir, body) = body_file(&query_body().to_string());
    let body = body.to_string_lossy().into_owned();
    let output = dir.join("d.pdf").to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 4] = [
        (&["omni-refresh", &model], "/omni/v1/models/"),
        (&["omni-run-query", "--body", &body], "/omni/v1/query/run"),
        (&["omni-ask", "Why?", "--model", &model], "/omni/v1/ai/jobs"),
        (
            &["omni-download", "d", "--format", "pdf", "--output", &output],
            "/omni/v1/dashboards/",
        ),
    ];
    let mut sims = Vec::new();
    let mut cmds = Vec::new();
    for (args, path) in cases {
        let sim = simulator().await;
        sim.inject(Fault::status(500).on_path(path).times(1));
        cmds.push(cmd(&sim, args));
        sims.push((sim, path));
    }
    let runs = run_all(cmds).await;
    for (run, (sim, path)) in runs.iter().zip(&sims) {
        run.assert_code(4);
        let messages = run.messages();
        assert!(messages.contains("HTTP 500"), "{run}");
        assert!(
            messages.contains("(not retried: a second start request could start a second job)"),
            "{run}"
        );
        assert!(!messages.contains("started "), "{run}");
        let requests = sim.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0].method, "POST");
        assert!(requests[0].path.starts_with(path), "{requests:?}");
        assert_eq!(requests[0].status, Some(500));
        assert!(sim.started_jobs().is_empty());
        // Exits at once: no backoff, no second attempt.
        assert!(run.elapsed < Duration::from_secs(3), "{run}");
    }
    assert_eq!(entries(&dir), ["query.json"], "a download file was left");
    std::fs::remove_dir_all(dir).unwrap();
}
