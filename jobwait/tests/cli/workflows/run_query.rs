//! `jobwait omni-run-query`: run queries, wait for the running ones, print or write the
//! results.

use super::*;

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
