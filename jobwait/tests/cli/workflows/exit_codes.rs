//! The start-and-wait subcommands' failures: exit 1 (the job failed), 2 (usage, before
//! any request) and 4 (a failed start request, not retried).

use super::*;

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
