//! Several job ids in one command (`omni-job`, `omni-ai`, `retailgrid`): every wait at
//! once, one final line per job, a summary, one exit code by precedence, and
//! `--rate-limit`.

use super::*;

/// The `"job_id"` of a JSON line, as a UUID.
fn job_of(line: &Value) -> Uuid {
    line["job_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no job_id in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_name_their_job_and_end_with_a_summary() {
    let sim = simulator().await;
    let ok = sim.add_retailgrid_job(JobScript::succeed_after(ms(400)));
    let failed = sim.add_retailgrid_job(JobScript::fail_after(ms(300), "disk full"));
    let slow = sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60)));
    let jobs = [ok, failed, slow];
    let run = run(cmd(
        &sim,
        "retailgrid",
        &jobs,
        &["--json", "--timeout", "2s"],
    ))
    .await;
    // A failed job wins over a deadline.
    run.assert_code(1);
    let lines = run.json_lines();
    let (summary, rest) = lines.split_last().unwrap();
    assert_eq!(
        *summary,
        serde_json::json!({
            "event": "summary", "succeeded": 1, "failed": 1, "deadline_exceeded": 1, "errors": 0
        }),
        "{run}"
    );
    for job in jobs {
        let mine: Vec<&Value> = rest.iter().filter(|l| job_of(l) == job).collect();
        let (done, polls) = mine.split_last().unwrap();
        assert_eq!(done["event"], "done", "{run}");
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
        assert_eq!(done["job"]["job_id"], job.to_string(), "{run}");
    }
    let outcome = |job: Uuid| {
        rest.iter()
            .find(|l| l["event"] == "done" && job_of(l) == job)
            .map(|l| (l["outcome"].clone(), l["reason"].clone()))
            .unwrap()
    };
    assert_eq!(outcome(ok), (Value::from("succeeded"), Value::Null));
    assert_eq!(
        outcome(failed),
        (Value::from("failed"), Value::from("disk full"))
    );
    assert_eq!(outcome(slow).0, "deadline_exceeded");
    // The failure names its job on stderr.
    assert!(
        run.messages()
            .contains(&format!("failed: job {failed}: disk full")),
        "{run}"
    );
    // All at once: the fast jobs did not wait for the slow one.
    assert!(run.elapsed < Duration::from_secs(4), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_json_one_line_per_job_then_the_summary() {
    let sim = simulator().await;
    let refreshes = [
        sim.add_schema_refresh(JobScript::succeed_after(ms(300))),
        sim.add_schema_refresh(JobScript::succeed_after(ms(600))),
    ];
    let ais = [
        sim.add_ai_job(JobScript::succeed_after(ms(300))),
        sim.add_ai_job(JobScript::succeed_after(ms(500))),
    ];
    let runs = run_all(vec![
        cmd(&sim, "omni-job", &refreshes, &[]),
        cmd(&sim, "omni-ai", &ais, &[]),
    ])
    .await;
    for (run, ids, state) in [
        (&runs[0], refreshes, "COMPLETED"),
        (&runs[1], ais, "COMPLETE"),
    ] {
        run.assert_code(0);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{run}");
        for id in ids {
            assert!(
                lines[..2]
                    .iter()
                    .any(|l| l.starts_with(&format!("succeeded: {id} {state}"))),
                "{run}"
            );
        }
        assert_eq!(
            lines[2], "summary: 2 jobs: 2 succeeded, 0 failed, 0 deadline exceeded, 0 errors",
            "{run}"
        );
        assert!(run.messages().is_empty(), "{run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_code_follows_the_precedence_4_1_3_0() {
    let sim = simulator().await;
    let ok = || sim.add_retailgrid_job(JobScript::succeed_after(ms(200)));
    let failed = || sim.add_retailgrid_job(JobScript::fail_after(ms(200), "bad row"));
    let slow = || sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60)));
    let unknown = Uuid::new_v4; // never added: 404 after the grace period
    let cases: Vec<(Vec<Uuid>, i32, [u64; 4])> = vec![
        (vec![ok(), ok()], 0, [2, 0, 0, 0]),
        (vec![ok(), slow()], 3, [1, 0, 1, 0]),
        (vec![slow(), failed(), ok()], 1, [1, 1, 1, 0]),
        (vec![failed(), unknown(), slow()], 4, [0, 1, 1, 1]),
    ];
    let cmds = cases
        .iter()
        .map(|(ids, _, _)| {
            cmd(
                &sim,
                "retailgrid",
                ids,
                &[
                    "--json",
                    "--timeout",
                    "1500ms",
                    "--not-found-grace",
                    "300ms",
                ],
            )
        })
        .collect();
    let runs = run_all(cmds).await;
    for (run, (ids, code, counts)) in runs.iter().zip(&cases) {
        run.assert_code(*code);
        let lines = run.json_lines();
        let summary = lines.last().unwrap();
        let got = ["succeeded", "failed", "deadline_exceeded", "errors"]
            .map(|k| summary[k].as_u64().unwrap());
        assert_eq!(got, *counts, "{run}");
        let done = lines.iter().filter(|l| l["event"] == "done").count();
        assert_eq!(done, ids.len(), "{run}");
    }
    assert!(runs[3].messages().contains("request error"), "{}", runs[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_id_prints_no_summary_and_a_repeated_id_is_one_job() {
    let sim = simulator().await;
    let job = sim.add_retailgrid_job(JobScript::succeed_after(ms(200)));
    let runs = run_all(vec![
        cmd(&sim, "retailgrid", &[job], &["--json"]),
        cmd(&sim, "retailgrid", &[job, job], &[]),
    ])
    .await;
    let lines = runs[0].json_lines();
    assert_eq!(lines.last().unwrap()["event"], "done", "{}", runs[0]);
    assert!(
        lines.iter().all(|l| l.get("job_id").is_none()),
        "{}",
        runs[0]
    );
    runs[1].assert_code(0);
    assert_eq!(runs[1].stdout.lines().count(), 1, "{}", runs[1]);
    assert!(
        runs[1]
            .stdout
            .starts_with(&format!("succeeded: {job} completed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rate_limits_exit_2_before_any_request() {
    let sim = simulator().await;
    let job = sim.add_retailgrid_job(JobScript::succeed_after(ms(100)));
    let bad = [
        "0/1m", "60", "60/", "x/1m", "60/soon", "60/0s", "-1/1s", "1.5/1s",
    ];
    let runs = run_all(
        bad.iter()
            .map(|limit| {
                let flag = format!("--rate-limit={limit}");
                cmd(&sim, "retailgrid", &[job], &[flag.as_str()])
            })
            .collect(),
    )
    .await;
    for (run, limit) in runs.iter().zip(bad) {
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{run}");
        assert!(run.stderr.contains("--rate-limit"), "{limit}: {run}");
        assert!(run.stderr.contains(limit), "{limit}: {run}");
    }
    assert_eq!(sim.request_count(), 0, "{:?}", sim.requests());
}

/// The most requests within any window of `per` among `times`.
fn most_in_window(mut times: Vec<Instant>, per: Duration) -> usize {
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < per)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rate_limit_is_shared_by_every_job_of_the_process() {
    let sim = simulator().await;
    let jobs: Vec<Uuid> = (0..3)
        .map(|_| sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60))))
        .collect();
    // 50 ms polls for 3 s: about 60 requests per job without a limit.
    let run = run(cmd(
        &sim,
        "retailgrid",
        &jobs,
        &["--timeout", "3s", "--rate-limit", "4/1s"],
    ))
    .await;
    run.assert_code(3);
    let times: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
    // At most 4 in any second (a little slack for when the server saw them).
    let most = most_in_window(times.clone(), ms(950));
    assert!(most <= 4, "{most} requests within a second: {run}");
    assert!(
        times.len() >= 6 && times.len() <= 14,
        "{} requests",
        times.len()
    );
    // Every job got its share: the budget serves the waits, not one of them.
    for job in &jobs {
        assert!(requests_for(&sim, *job) >= 2, "{job}: {run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_replaces_omnis_default_budget() {
    let sim = simulator().await;
    let jobs: Vec<Uuid> = (0..2)
        .map(|_| sim.add_schema_refresh(JobScript::succeed_after(Duration::from_secs(60))))
        .collect();
    // Omni's default (60 per minute, a burst of 6) would allow 6 requests at once.
    let run = run(cmd(
        &sim,
        "omni-job",
        &jobs,
        &["--timeout", "2500ms", "--rate-limit", "1/1s"],
    ))
    .await;
    run.assert_code(3);
    let times: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
    let most = most_in_window(times.clone(), ms(950));
    assert_eq!(most, 1, "{run}");
    assert!(
        (2..=4).contains(&times.len()),
        "{} requests: {run}",
        times.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_ends_every_wait_with_a_line_and_the_summary() {
    let sim = simulator().await;
    let fast = sim.add_retailgrid_job(JobScript::succeed_after(ms(200)));
    let slow = sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60)));
    let child = cmd(
        &sim,
        "retailgrid",
        &[fast, slow],
        &["--json", "--timeout", "30s"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let start = Instant::now();
    while requests_for(&sim, slow) == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never polled");
        tokio::time::sleep(ms(20)).await;
    }
    // The fast job is done by then.
    tokio::time::sleep(ms(800)).await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = tokio::task::spawn_blocking(move || {
        Run::from_output(child.wait_with_output().unwrap(), start.elapsed())
    })
    .await
    .unwrap();
    run.assert_code(130);
    let lines = run.json_lines();
    let done: Vec<(Uuid, &Value)> = lines
        .iter()
        .filter(|l| l["event"] == "done")
        .map(|l| (job_of(l), &l["outcome"]))
        .collect();
    assert_eq!(
        done,
        [
            (fast, &Value::from("succeeded")),
            (slow, &Value::from("interrupted"))
        ],
        "{run}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary", "{run}");
    assert_eq!(
        (summary["succeeded"].as_u64(), summary["errors"].as_u64()),
        (Some(1), Some(1))
    );
    let before = sim.request_count();
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(sim.request_count(), before, "polling went on after Ctrl-C");
}
