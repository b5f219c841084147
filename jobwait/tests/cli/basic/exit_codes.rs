//! Every exit code of the wait-only subcommands: 0, 1, 2, 3, 4 and 130.

use super::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_query_on_the_streamed_contract_names_every_failed_query() {
    let sim = Simulator::start(SimConfig {
        omni_token: OMNI_TOKEN.to_owned(),
        query_dialect: sdk_tests::sim::QueryDialect::Ndjson,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let ok = sim.add_query_job(JobScript::succeed_after(ms(100)));
    let bad = sim.add_query_job(JobScript::fail_after(ms(150), "Syntax error in SQL"));
    let cancelled = sim.add_query_job(JobScript::cancel_after(ms(150)));
    let runs = run_all(vec![
        cmd(&sim, "omni-query", &[ok, bad, cancelled], &[]),
        cmd(&sim, "omni-query", &[ok], &[]),
    ])
    .await;
    runs[0].assert_code(1);
    let messages = runs[0].messages();
    assert!(messages.contains("2 of 3 query jobs failed"), "{}", runs[0]);
    assert!(
        messages.contains(&format!(
            "query job {bad} ended with status FAILED: Syntax error in SQL"
        )),
        "{}",
        runs[0]
    );
    assert!(
        messages.contains(&format!(
            "query job {cancelled} ended with status CANCELLED"
        )),
        "{}",
        runs[0]
    );
    assert!(!runs[0].stdout.contains("succeeded"), "{}", runs[0]);
    runs[1].assert_code(0);
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

/// A server that answers every request `403` with a JSON body and `x-request-id:
/// req-cli-77` (the simulator sends no request ids); its base URL.
fn forbidding_server_with_request_ids() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            // The request head (GETs have no body).
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let body = r#"{"detail":"forbidden for this token"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nx-request-id: req-cli-77\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base_url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failure_line_quotes_the_servers_request_id() {
    let base_url = forbidding_server_with_request_ids();
    let id = Uuid::new_v4().to_string();
    let mut args = vec!["retailgrid", &id, "--base-url", &base_url];
    args.extend(FAST);
    let run = run(jobwait_cmd(&args)).await;
    run.assert_code(4);
    assert!(run.messages().contains("HTTP 403"), "{run}");
    assert!(run.messages().contains("request id req-cli-77"), "{run}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_durations_exit_2_or_wait_but_never_panic() {
    let sim = simulator().await;
    let job = sim.add_retailgrid_job(JobScript::succeed_after(ms(300)));
    let runs = run_all(vec![
        // No poll could be answered before the deadline.
        cmd(
            &sim,
            "retailgrid",
            &[job],
            &["--initial-delay", "10s", "--timeout", "5s"],
        ),
        // Beyond what a Duration holds.
        cmd(
            &sim,
            "retailgrid",
            &[job],
            &["--timeout", "584942417355years"],
        ),
        // Delays of centuries: the last poll is pulled in before the deadline.
        cmd(
            &sim,
            "retailgrid",
            &[job],
            &[
                "--min-delay",
                "500000000000years",
                "--max-delay",
                "500000000000years",
                "--timeout",
                "2s",
            ],
        ),
        // A window of a millennium: one request, then none before the deadline.
        cmd(
            &sim,
            "retailgrid",
            &[job],
            &["--rate-limit", "2/1000years", "--timeout", "2s"],
        ),
    ])
    .await;
    runs[0].assert_code(2);
    assert!(
        runs[0]
            .stderr
            .contains("initial_delay (10s) must be shorter than the deadline (5s)"),
        "{}",
        runs[0]
    );
    runs[1].assert_code(2);
    assert!(runs[1].stderr.contains("--timeout"), "{}", runs[1]);
    // The job finishes after 300 ms: the poll just before the 2 s deadline sees it done.
    runs[2].assert_code(0);
    assert!(runs[2].elapsed >= ms(1500), "{}", runs[2]);
    for run in &runs {
        assert!(!run.stderr.contains("panicked"), "{run}");
    }
    runs[3].assert_code(3);
    assert!(runs[3].messages().contains("rate budget"), "{}", runs[3]);
}
