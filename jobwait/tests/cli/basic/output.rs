//! What the wait-only subcommands print and write: `--json` lines, `omni-query` results,
//! and never a token.

use super::*;

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
