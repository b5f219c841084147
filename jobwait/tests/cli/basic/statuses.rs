//! Retailgrid answers the simulator does not give, from a local httpmock server: statuses
//! outside the known sets with `completed_at`, and progress outside 0..=100.

use httpmock::prelude::*;
use serde_json::json;

use super::*;

fn rg_job(id: Uuid, status: &str) -> Value {
    json!({
        "job_id": id,
        "job_type": "csv_import",
        "status": status,
        "created_at": "2025-01-15T10:00:00Z"
    })
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body.as_object_mut().unwrap().insert(key.to_owned(), value);
    body
}

fn completed(body: Value) -> Value {
    with(body, "completed_at", json!("2025-01-15T10:05:00Z"))
}

/// Answers GET /v1/jobs/{id} with each body in turn (the last one from then on).
async fn script(server: &MockServer, id: Uuid, bodies: Vec<Value>) {
    let last = bodies.len() - 1;
    for (i, body) in bodies.into_iter().enumerate() {
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("/v1/jobs/{id}"));
                then.status(200).json_body(body);
            })
            .await;
        if i < last {
            mock.up_to_n_times_async(1).await;
        }
    }
}

fn retailgrid(server: &MockServer, ids: &[Uuid], extra: &[&str]) -> Command {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let base_url = server.base_url();
    let mut args = vec!["retailgrid"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--base-url", &base_url]);
    args.extend(FAST);
    args.extend(extra);
    jobwait_cmd(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_statuses_with_completed_at_end_the_wait_by_their_name() {
    let server = MockServer::start_async().await;
    let (partial, aborted) = (Uuid::new_v4(), Uuid::new_v4());
    script(
        &server,
        partial,
        vec![
            rg_job(partial, "running"),
            completed(with(
                rg_job(partial, "partially_imported"),
                "error_message",
                json!("2 rows skipped"),
            )),
        ],
    )
    .await;
    script(
        &server,
        aborted,
        vec![completed(with(
            rg_job(aborted, "Aborted"),
            "error_message",
            json!("stopped by an administrator"),
        ))],
    )
    .await;
    let runs = run_all(vec![
        retailgrid(&server, &[partial], &[]),
        retailgrid(&server, &[aborted], &[]),
        retailgrid(&server, &[partial, aborted], &["--json"]),
    ])
    .await;
    // Quickly, not at the 5 s deadline.
    for run in &runs {
        assert!(run.elapsed < Duration::from_secs(4), "{run}");
    }
    runs[0].assert_code(0);
    assert!(
        runs[0]
            .stdout
            .starts_with(&format!("succeeded: {partial} partially_imported")),
        "{}",
        runs[0]
    );
    let warnings: Vec<&str> = runs[0]
        .stderr
        .lines()
        .filter(|l| l.contains("WARN"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", runs[0]);
    assert!(warnings[0].contains("partially_imported"), "{}", runs[0]);

    runs[1].assert_code(1);
    assert_eq!(
        runs[1].messages(),
        "failed: stopped by an administrator",
        "{}",
        runs[1]
    );

    runs[2].assert_code(1);
    let summary = runs[2].json_lines().pop().unwrap();
    assert_eq!(summary["succeeded"], 1, "{}", runs[2]);
    assert_eq!(summary["failed"], 1, "{}", runs[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_out_of_range_shows_as_raw_progress() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    script(
        &server,
        id,
        vec![
            with(rg_job(id, "running"), "progress", json!(150)),
            with(rg_job(id, "running"), "progress", json!(40)),
            with(rg_job(id, "completed"), "progress", json!(100)),
        ],
    )
    .await;
    let run = run(retailgrid(&server, &[id], &["--json"])).await;
    run.assert_code(0);
    let lines = run.json_lines();
    let polls: Vec<&Value> = lines.iter().filter(|l| l["event"] == "poll").collect();
    assert_eq!(polls.len(), 3, "{run}");
    assert_eq!(polls[0]["progress"], Value::Null, "{run}");
    assert_eq!(polls[0]["raw_progress"], 150, "{run}");
    assert_eq!(polls[1]["progress"], 0.4, "{run}");
    assert!(polls[1].get("raw_progress").is_none(), "{run}");
    let warnings = run
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("150"))
        .count();
    assert_eq!(warnings, 1, "{run}");
}
