//! The `jobwait` binary as a user runs it: a real process against the job simulator,
//! checked by exit code, stdout, stderr and the requests the simulator recorded.
//!
//! The binary is the one cargo builds for this test (`CARGO_BIN_EXE_jobwait`). Every run
//! has RUST_LOG=trace and is checked for the tokens in its output.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

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

use crate::support::jobwait;

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

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

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
        .env("RETAILGRID_API_TOKEN", RETAILGRID_TOKEN)
        .env("RUST_LOG", "trace")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
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
        self.stderr
            .lines()
            .filter(|l| {
                !["TRACE", "DEBUG", " INFO", " WARN"]
                    .iter()
                    .any(|level| l.contains(level))
            })
            .collect::<Vec<_>>()
            .join("\n")
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

// ---------------------------------------------------------------------------------------
// 0: success, for every subcommand

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_succeeds() {
    let sim = simulator().await;
    let refresh = sim.add_schema_refresh(JobScript::succeed_after(ms(700)));
    let ai = sim.add_ai_job(JobScript::succeed_after(ms(700)));
    let queries = [
        sim.add_query_job(JobScript::succeed_after(ms(200))),
        sim.add_query_job(JobScript::succeed_after(ms(600))),
    ];
    let rg = sim.add_retailgrid_job(JobScript::succeed_after(ms(400)));
    let runs = run_all(vec![
        cmd(&sim, "omni-job", &[refresh], &[]),
        cmd(&sim, "omni-ai", &[ai], &[]),
        cmd(&sim, "omni-query", &queries, &[]),
        cmd(&sim, "retailgrid", &[rg], &[]),
    ])
    .await;
    for run in &runs {
        run.assert_code(0);
    }
    let last = |run: &Run| run.stdout.lines().last().unwrap_or_default().to_owned();
    assert_eq!(last(&runs[0]), format!("succeeded: {refresh} COMPLETED"));
    assert!(
        last(&runs[1]).starts_with(&format!("succeeded: {ai} COMPLETE")),
        "{}",
        runs[1]
    );
    assert!(
        last(&runs[3]).starts_with(&format!("succeeded: {rg} completed")),
        "{}",
        runs[3]
    );

    // omni-query: a table per job with the column names and the rows, then the final line.
    let query = &runs[2];
    for id in queries {
        assert!(
            query
                .stdout
                .contains(&format!("query {id}: 4 rows, 5 columns")),
            "{query}"
        );
    }
    for field in SAMPLE_RESULT_FIELDS {
        assert_eq!(query.stdout.matches(field).count(), 2, "{query}");
    }
    for value in [
        "1001",
        "Sunglasses",
        "89.99",
        "true",
        "2025-01-15T10:00:00Z",
    ] {
        assert!(query.stdout.contains(value), "{value} missing:\n{query}");
    }
    assert!(last(query).starts_with("succeeded: "), "{query}");
    assert!(last(query).ends_with("2/2 queries finished"), "{query}");
    // Two long polls: one for both jobs, answered with the first finished one; one for
    // the other job, 1 s later (Omni's floor).
    let query_requests: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/v1/query/wait"))
        .collect();
    assert_eq!(query_requests.len(), 2, "{query_requests:?}");
    assert_eq!(
        requests_for(&sim, queries[0]) + requests_for(&sim, queries[1]),
        3
    );
}

// ---------------------------------------------------------------------------------------
// 1: failed or cancelled

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_cancelled_jobs_exit_1_with_the_reason() {
    let sim = simulator().await;
    let rg = sim.add_retailgrid_job(JobScript::fail_after(ms(300), "row 17: unknown SKU 'X-1'"));
    let ai = sim.add_ai_job(JobScript::cancel_after(ms(300)));
    let ai_failed = sim.add_ai_job(
        JobScript::fail_after(ms(300), "Column 'revenue' not found")
            .with_error_code("QUERY_EXECUTION_ERROR"),
    );
    let refresh = sim.add_schema_refresh(JobScript::fail_after(ms(300), "ignored"));
    let query = sim.add_query_job(JobScript::fail_after(ms(200), "Syntax error in SQL"));
    let runs = run_all(vec![
        cmd(&sim, "retailgrid", &[rg], &[]),
        cmd(&sim, "omni-ai", &[ai], &[]),
        cmd(&sim, "omni-ai", &[ai_failed], &[]),
        cmd(&sim, "omni-job", &[refresh], &[]),
        cmd(&sim, "omni-query", &[query], &[]),
    ])
    .await;
    let expected = [
        "failed: row 17: unknown SKU 'X-1'".to_owned(),
        "failed: AI job cancelled by user".to_owned(),
        "failed: Column 'revenue' not found (QUERY_EXECUTION_ERROR)".to_owned(),
        "failed: refresh_schema job reported FAILED".to_owned(),
        format!("failed: query job {query} ended with status FAILED: Syntax error in SQL"),
    ];
    for (run, reason) in runs.iter().zip(expected) {
        run.assert_code(1);
        assert!(
            run.messages().contains(&reason),
            "{reason:?} not on stderr:\n{run}"
        );
        assert!(!run.stdout.contains("succeeded"), "{run}");
    }
}

// ---------------------------------------------------------------------------------------
// 2: usage and configuration errors, before any request

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_before_any_request() {
    let sim = simulator().await;
    let job = sim.add_schema_refresh(JobScript::succeed_after(ms(100)));
    let url = sim.omni_base_url();
    let id = job.to_string();

    let mut no_token = cmd(&sim, "omni-job", &[job], &[]);
    no_token.env_remove("OMNI_API_TOKEN");
    let scratch = scratch_dir();
    let not_a_file = scratch.join("not-a-dir");
    std::fs::write(&not_a_file, "a file").unwrap();
    let under_file = not_a_file.join("results");
    let under_file_arg = under_file.to_string_lossy().into_owned();
    let runs = run_all(vec![
        no_token,
        jobwait_cmd(&["omni-job", "not-a-uuid", "--base-url", &url]),
        jobwait_cmd(&["omni-query", &id, "1234", "--base-url", &url]),
        jobwait_cmd(&[
            "omni-job",
            &id,
            "--base-url",
            &url,
            "--instance",
            "blobsrus",
        ]),
        jobwait_cmd(&["omni-job", &id, "--base-url", &url, "--timeout", "soon"]),
        jobwait_cmd(&[
            "omni-job",
            &id,
            "--base-url",
            &url,
            "--min-delay",
            "5s",
            "--max-delay",
            "1s",
        ]),
        jobwait_cmd(&[
            "omni-query",
            &id,
            "--base-url",
            &url,
            "--output",
            &under_file_arg,
        ]),
        jobwait_cmd(&["retailgrid", &id]),
    ])
    .await;
    for run in &runs {
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{run}");
    }
    assert!(runs[0].stderr.contains("OMNI_API_TOKEN"), "{}", runs[0]);
    for run in &runs[1..3] {
        assert!(run.stderr.contains("<JOB_ID>"), "{run}");
        assert!(run.stderr.contains("invalid"), "{run}");
    }
    assert!(runs[3].stderr.contains("--instance"), "{}", runs[3]);
    assert!(runs[3].stderr.contains("--base-url"), "{}", runs[3]);
    assert!(runs[4].stderr.contains("--timeout"), "{}", runs[4]);
    assert!(runs[5].stderr.contains("min_delay"), "{}", runs[5]);
    assert!(runs[6].stderr.contains(&under_file_arg), "{}", runs[6]);
    assert!(
        runs[7].stderr.contains("RETAILGRID_BASE_URL"),
        "{}",
        runs[7]
    );
    assert_eq!(sim.request_count(), 0, "{:?}", sim.requests());
    std::fs::remove_dir_all(scratch).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_file_that_cannot_be_written_exits_2_with_its_path() {
    let sim = simulator().await;
    let job = sim.add_query_job(JobScript::succeed_after(ms(100)));
    let dir = scratch_dir();
    // A directory where the CSV file should go: creating the file fails.
    let blocker = dir.join(format!("{job}.csv"));
    std::fs::create_dir(&blocker).unwrap();
    let dir_arg = dir.to_string_lossy().into_owned();
    let run = run(cmd(&sim, "omni-query", &[job], &["--output", &dir_arg])).await;
    run.assert_code(2);
    assert!(
        run.messages()
            .contains(&format!("cannot write {}", blocker.display())),
        "{run}"
    );
    assert_eq!(requests_for(&sim, job), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// 3: deadline

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exits_3() {
    let sim = simulator().await;
    let rg = sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60)));
    let refresh = sim.add_schema_refresh(JobScript::succeed_after(Duration::from_secs(60)));
    let runs = run_all(vec![
        cmd(&sim, "retailgrid", &[rg], &["--timeout", "1s"]),
        cmd(&sim, "omni-job", &[refresh], &["--timeout", "1s"]),
    ])
    .await;
    for run in &runs {
        run.assert_code(3);
        assert!(run.messages().contains("deadline exceeded: "), "{run}");
        assert!(run.elapsed < Duration::from_secs(3), "{run}");
    }
    assert!(requests_for(&sim, rg) >= 4, "{}", requests_for(&sim, rg));
    // Omni's 1 s floor leaves room for one poll only within a 1 s deadline.
    assert_eq!(requests_for(&sim, refresh), 1);
}

// ---------------------------------------------------------------------------------------
// 4: permanent request errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_exits_4() {
    let sim = simulator().await;
    let refresh = sim.add_schema_refresh(JobScript::succeed_after(ms(300)));
    let rg = sim.add_retailgrid_job(JobScript::succeed_after(ms(300)));
    let mut omni = cmd(&sim, "omni-job", &[refresh], &[]);
    omni.env("OMNI_API_TOKEN", WRONG_TOKEN);
    let mut retailgrid = cmd(&sim, "retailgrid", &[rg], &[]);
    retailgrid.env("RETAILGRID_API_TOKEN", WRONG_TOKEN);
    let runs = run_all(vec![omni, retailgrid]).await;
    for run in &runs {
        run.assert_code(4);
        assert!(run.messages().contains("HTTP 401"), "{run}");
    }
    // Not retried.
    assert_eq!(requests_for(&sim, refresh), 1);
    assert_eq!(requests_for(&sim, rg), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_job_exits_4_after_the_not_found_grace() {
    let sim = simulator().await;
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let runs = run_all(vec![
        cmd(&sim, "retailgrid", &[a], &["--not-found-grace", "500ms"]),
        cmd(&sim, "omni-job", &[b], &["--not-found-grace", "0s"]),
        cmd(&sim, "omni-query", &[c], &["--not-found-grace", "0s"]),
    ])
    .await;
    for run in &runs {
        run.assert_code(4);
        assert!(run.messages().contains("HTTP 404"), "{run}");
    }
    // 404s within the grace are "not visible yet": polled again.
    assert!(runs[0].elapsed >= ms(500), "{}", runs[0]);
    assert!(requests_for(&sim, a) >= 3, "{}", requests_for(&sim, a));
    assert_eq!(requests_for(&sim, b), 1);
    assert_eq!(requests_for(&sim, c), 1);
}

// ---------------------------------------------------------------------------------------
// 130: Ctrl-C

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_exits_130_and_stops_polling() {
    let sim = simulator().await;
    let rg = sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60)));
    let mut child = cmd(&sim, "retailgrid", &[rg], &["--timeout", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first request arrived, the Ctrl-C handler is installed.
    let start = Instant::now();
    while requests_for(&sim, rg) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "jobwait never polled"
        );
        tokio::time::sleep(ms(20)).await;
    }
    tokio::time::sleep(ms(300)).await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = tokio::task::spawn_blocking(move || {
        let mut stdout = String::new();
        let mut stderr = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        Run::from_output(
            Output {
                status,
                stdout: stdout.into_bytes(),
                stderr: stderr.into_bytes(),
            },
            start.elapsed(),
        )
    })
    .await
    .unwrap();
    run.assert_code(130);
    assert_eq!(
        run.messages().trim(),
        "interrupted: polling stopped, nothing was cancelled on the server",
        "{run}"
    );
    let before = sim.request_count();
    assert!(before >= 2, "{before}");
    tokio::time::sleep(ms(1500)).await;
    assert_eq!(sim.request_count(), before, "polling went on after Ctrl-C");
}

// ---------------------------------------------------------------------------------------
// --json

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_one_poll_event_per_request_then_done() {
    let sim = simulator().await;
    let ok = sim.add_retailgrid_job(JobScript::succeed_after(ms(1500)));
    // Two 429s with Retry-After: 1 s on the way.
    sim.inject(
        Fault::status(429)
            .retry_after(Duration::from_secs(1))
            .on_job(ok)
            .times(2),
    );
    let failed = sim.add_retailgrid_job(JobScript::fail_after(ms(400), "disk full"));
    let ai = sim.add_ai_job(JobScript::succeed_after(ms(1200)));
    let slow = sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60)));
    let denied = sim.add_schema_refresh(JobScript::succeed_after(ms(300)));
    let mut wrong_token = cmd(&sim, "omni-job", &[denied], &["--json"]);
    wrong_token.env("OMNI_API_TOKEN", WRONG_TOKEN);
    let cases = [
        (ok, "succeeded", 0),
        (failed, "failed", 1),
        (ai, "succeeded", 0),
        (slow, "deadline_exceeded", 3),
        (denied, "request_error", 4),
    ];
    let runs = run_all(vec![
        cmd(&sim, "retailgrid", &[ok], &["--json"]),
        cmd(&sim, "retailgrid", &[failed], &["--json"]),
        cmd(&sim, "omni-ai", &[ai], &["--json"]),
        cmd(&sim, "retailgrid", &[slow], &["--json", "--timeout", "1s"]),
        wrong_token,
    ])
    .await;
    for (run, (job, outcome, code)) in runs.iter().zip(cases) {
        run.assert_code(code);
        let lines = run.json_lines();
        let (done, polls) = lines.split_last().expect("at least the done line");
        assert_eq!(done["event"], "done", "{run}");
        assert_eq!(done["outcome"], outcome, "{run}");
        assert!(polls.iter().all(|l| l["event"] == "poll"), "{run}");
        assert_eq!(polls.len(), requests_for(&sim, job), "{run}");
        let attempts: Vec<u64> = polls
            .iter()
            .map(|l| l["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(
            attempts,
            (1..=polls.len() as u64).collect::<Vec<_>>(),
            "{run}"
        );
        match code {
            0 => assert!(done["reason"].is_null(), "{run}"),
            _ => assert!(done["reason"].is_string(), "{run}"),
        }
        if code != 4 {
            assert_eq!(
                done["job"]["job_id"]
                    .as_str()
                    .or(done["job"]["id"].as_str()),
                Some(&*job.to_string()),
                "{run}"
            );
        }
    }
    // The 429s are poll events with the status and the server's Retry-After.
    let throttled: Vec<Value> = runs[0]
        .json_lines()
        .into_iter()
        .filter(|l| l["error"]["status"] == 429)
        .collect();
    assert_eq!(throttled.len(), 2, "{}", runs[0]);
    assert!(
        throttled
            .iter()
            .all(|l| l["error"]["retry_after_ms"] == 1000)
    );
    assert_eq!(runs[1].json_lines().last().unwrap()["reason"], "disk full");
}

// ---------------------------------------------------------------------------------------
// omni-query results

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_query_writes_one_file_per_job_in_each_format() {
    let sim = simulator().await;
    let jobs = [
        sim.add_query_job(JobScript::succeed_after(ms(100))),
        sim.add_query_job(JobScript::succeed_after(ms(300))),
    ];
    let base = scratch_dir();
    // Directories that do not exist yet: jobwait creates them.
    let dirs: Vec<String> = ["csv", "json", "arrow"]
        .iter()
        .map(|f| base.join(f).join("out").to_string_lossy().into_owned())
        .collect();
    let json_dir = base.join("with-json").to_string_lossy().into_owned();
    let mut cmds: Vec<Command> = ["csv", "json", "arrow"]
        .iter()
        .zip(&dirs)
        .map(|(format, dir)| {
            cmd(
                &sim,
                "omni-query",
                &jobs,
                &["--format", format, "--output", dir],
            )
        })
        .collect();
    cmds.push(cmd(
        &sim,
        "omni-query",
        &jobs,
        &["--output", &json_dir, "--json"],
    ));
    let mut runs = run_all(cmds).await;

    // With --json, stdout stays JSON lines: the done line names the files.
    let with_json = runs.pop().unwrap();
    with_json.assert_code(0);
    let lines = with_json.json_lines();
    let done = lines.last().unwrap();
    assert_eq!(done["outcome"], "succeeded", "{with_json}");
    for job in jobs {
        let entry = &done["job"][job.to_string()];
        let path = Path::new(&json_dir).join(format!("{job}.csv"));
        assert_eq!(
            entry["file"],
            path.to_string_lossy().as_ref(),
            "{with_json}"
        );
        assert_eq!(entry["row_count"], SAMPLE_RESULT_ROWS);
        assert!(entry.get("result").is_none(), "{with_json}");
        assert!(path.is_file());
    }

    for run in &runs {
        run.assert_code(0);
        assert!(
            run.stdout
                .lines()
                .last()
                .unwrap()
                .starts_with("succeeded: "),
            "{run}"
        );
    }
    let ipc = sample_result_ipc().unwrap();
    for job in jobs {
        // CSV: a header row, then the rows.
        let path = Path::new(&dirs[0]).join(format!("{job}.csv"));
        assert!(
            runs[0]
                .stdout
                .contains(&format!("wrote {} (4 rows)", path.display())),
            "{}",
            runs[0]
        );
        let csv = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + SAMPLE_RESULT_ROWS, "{csv}");
        assert_eq!(lines[0], SAMPLE_RESULT_FIELDS.join(","));
        assert!(
            lines[1].starts_with("1001,Sunglasses,89.99,false,2025-01-15T10:00:00"),
            "{csv}"
        );
        assert!(lines[3].starts_with("1003,,12.0,,"), "{csv}");

        // JSON Lines: one object per row, nulls kept.
        let path = Path::new(&dirs[1]).join(format!("{job}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        let rows: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), SAMPLE_RESULT_ROWS, "{text}");
        for row in &rows {
            let keys: Vec<&str> = row
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut fields = SAMPLE_RESULT_FIELDS.to_vec();
            fields.sort_unstable();
            assert_eq!(keys, fields);
        }
        assert_eq!(rows[0]["order_items.id"], 1001);
        assert_eq!(rows[0]["products.name"], "Sunglasses");
        assert_eq!(rows[1]["order_items.returned"], true);
        assert!(rows[2]["products.name"].is_null());

        // Arrow: exactly the bytes Omni sent, base64-decoded.
        let path = Path::new(&dirs[2]).join(format!("{job}.arrow"));
        assert_eq!(std::fs::read(&path).unwrap(), ipc);
    }
    std::fs::remove_dir_all(base).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_query_json_done_line_carries_rows() {
    let sim = simulator().await;
    let jobs = [
        sim.add_query_job(JobScript::succeed_after(ms(100))),
        sim.add_query_job(JobScript::succeed_after(ms(200))),
    ];
    let run = run(cmd(&sim, "omni-query", &jobs, &["--json"])).await;
    run.assert_code(0);
    let lines = run.json_lines();
    let done = lines.last().unwrap();
    assert_eq!(done["outcome"], "succeeded", "{run}");
    let polls = lines.iter().filter(|l| l["event"] == "poll").count();
    assert_eq!(polls + 1, lines.len());
    assert_eq!(polls, sim.request_count());
    for job in jobs {
        let entry = &done["job"][job.to_string()];
        assert_eq!(entry["status"], "COMPLETE", "{run}");
        assert!(
            entry.get("result").is_none(),
            "base64 left in the done line: {run}"
        );
        assert_eq!(entry["columns"], serde_json::json!(SAMPLE_RESULT_FIELDS));
        assert_eq!(entry["row_count"], SAMPLE_RESULT_ROWS);
        let rows = entry["rows"].as_array().unwrap();
        assert_eq!(rows.len(), SAMPLE_RESULT_ROWS);
        assert_eq!(rows[0]["order_items.id"], 1001);
        assert_eq!(rows[3]["products.name"], "Sweater");
        assert_eq!(rows[0]["order_items.sale_price"], 89.99);
    }
}

// ---------------------------------------------------------------------------------------
// Token hygiene

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_printed_even_at_trace_level() {
    // Every run of this file is checked (see `Run::assert_no_token`) with RUST_LOG=trace;
    // here every ending once more, side by side, for both APIs.
    let sim = simulator().await;
    let mut cmds = Vec::new();
    for api in ["omni-job", "retailgrid"] {
        let add = |script: JobScript| match api {
            "retailgrid" => sim.add_retailgrid_job(script),
            _ => sim.add_schema_refresh(script),
        };
        let ok = add(JobScript::succeed_after(ms(300)));
        let failed = add(JobScript::fail_after(ms(300), "boom"));
        let slow = add(JobScript::succeed_after(Duration::from_secs(60)));
        cmds.push(cmd(&sim, api, &[ok], &[]));
        cmds.push(cmd(&sim, api, &[failed], &[]));
        cmds.push(cmd(&sim, api, &[ok], &["--json"]));
        cmds.push(cmd(&sim, api, &[slow], &["--timeout", "1s"]));
        let mut denied = cmd(&sim, api, &[ok], &["--json"]);
        denied
            .env("OMNI_API_TOKEN", WRONG_TOKEN)
            .env("RETAILGRID_API_TOKEN", WRONG_TOKEN);
        cmds.push(denied);
    }
    let runs = run_all(cmds).await;
    let codes: Vec<Option<i32>> = runs.iter().map(|r| r.code).collect();
    let expected = [0, 1, 0, 3, 4].map(Some);
    assert_eq!(codes, [expected, expected].concat(), "{runs:#?}");
    for run in &runs {
        run.assert_no_token();
        // Trace logging was on: the requests were logged, without their tokens.
        assert!(run.stderr.contains("TRACE"), "{run}");
    }
}
