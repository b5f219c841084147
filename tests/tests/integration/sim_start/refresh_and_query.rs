//! Schema refresh and query run start endpoints.

use super::*;

// ---------------------------------------------------------------- schema refresh

#[tokio::test]
async fn model_refresh_starts_a_schema_refresh_job() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let model = Uuid::new_v4();
    sim.script_next_refresh(JobScript::succeed_after(ms(150)));
    let start = Instant::now();

    let (status, body) = omni
        .post(&format!("/v1/models/{model}/refresh"), json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    let job = uuid_of(&body["jobId"]);
    assert_eq!(
        body,
        json!({"jobId": job, "modelId": model, "status": "running"})
    );
    assert_eq!(sim.started_jobs(), [job]);

    let status_path = format!("/v1/jobs/{job}/status");
    let (status, body) = omni.get(&status_path).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"job_type": "refresh_schema", "job_id": job, "status": "RUNNING"})
        )
    );
    sleep_until(start, ms(200)).await;
    let (_, body) = omni.get(&status_path).await;
    assert_eq!(body["status"], "COMPLETED");

    // Unscripted: the default script, still running right after the start; a branch id
    // is accepted for a model that does not need one.
    let (status, body) = omni
        .post(
            &format!("/v1/models/{model}/refresh?branch_id={}", Uuid::new_v4()),
            json!(null),
        )
        .await;
    assert_eq!((status, &body["status"]), (200, &json!("running")));
    let second = uuid_of(&body["jobId"]);
    assert_ne!(second, job);
    assert_eq!(sim.started_jobs(), [job, second]);
}

#[tokio::test]
async fn zero_duration_refresh_answers_synchronously() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let model = Uuid::new_v4();
    sim.script_next_refresh(JobScript::succeed_after(Duration::ZERO));
    sim.script_next_refresh(JobScript::fail_after(Duration::ZERO, "no connection"));

    let path = format!("/v1/models/{model}/refresh");
    let (status, completed) = omni.post(&path, json!(null)).await;
    assert_eq!((status, &completed["status"]), (200, &json!("completed")));
    let (status, failed) = omni.post(&path, json!(null)).await;
    assert_eq!((status, &failed["status"]), (200, &json!("failed")));

    let (_, body) = omni
        .get(&format!("/v1/jobs/{}/status", uuid_of(&completed["jobId"])))
        .await;
    assert_eq!(body["status"], "COMPLETED");
    let (_, body) = omni
        .get(&format!("/v1/jobs/{}/status", uuid_of(&failed["jobId"])))
        .await;
    assert_eq!(body["status"], "FAILED");
}

#[tokio::test]
async fn model_refresh_errors() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let model = Uuid::new_v4();
    sim.require_branch(model);
    sim.script_next_refresh(JobScript::fail_after(Duration::ZERO, "boom"));

    assert_eq!(
        omni.post("/v1/models/not-a-uuid/refresh", json!(null))
            .await,
        error(400, "Bad Request: modelId: Invalid uuid")
    );
    let path = format!("/v1/models/{model}/refresh");
    assert_eq!(
        omni.post(&path, json!(null)).await,
        error(
            400,
            "branch_id is required when branch-based schema refresh is enabled"
        )
    );
    assert_eq!(
        omni.post(&format!("{path}?branch_id=main"), json!(null))
            .await,
        error(400, "Bad Request: branch_id: Invalid uuid")
    );
    // GET is not the method of this path.
    let response = omni
        .request(reqwest::Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert!(
        sim.started_jobs().is_empty(),
        "rejected requests start nothing"
    );

    // The queued script was not used up by the rejected requests.
    let (status, body) = omni
        .post(&format!("{path}?branch_id={}", Uuid::new_v4()), json!(null))
        .await;
    assert_eq!((status, &body["status"]), (200, &json!("failed")), "{body}");
}

// ---------------------------------------------------------------- query run

const QUERY: &str = r#"{"query": {"modelId": "770e8400-e29b-41d4-a716-446655440002", "table": "order_items", "fields": ["order_items.id"]}}"#;

fn query_body() -> Value {
    serde_json::from_str(QUERY).unwrap()
}

#[tokio::test]
async fn query_run_answers_the_queries_that_finish_within_the_hold() {
    // A long hold, so that answering early is told from holding to the end.
    let sim = Simulator::start(SimConfig {
        query_run_wait: ms(1000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let omni = Omni::new(&sim);

    // Unscripted: one quick query.
    let (status, body) = omni.post("/v1/query/run", query_body()).await;
    assert_eq!(status, 200, "{body}");
    let completed = body["completedQueries"].as_array().unwrap();
    assert_eq!(completed.len(), 1);
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let job = uuid_of(&completed[0]["job_id"]);
    assert_eq!(sim.started_jobs(), [job]);
    // The same object the long poll answers for that job.
    let (status, waited) = omni
        .get(&format!("/v1/query/wait?job_ids=[\"{job}\"]"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(completed[0], waited);
    assert_eq!(waited["status"], "COMPLETE");

    // Two queries, a failing one among them, both done within the hold.
    sim.script_next_query_run(QueryRun::many([
        JobScript::succeed_after(ms(30)),
        JobScript::fail_after(ms(60), "Field not found"),
    ]));
    let start = Instant::now();
    let (status, body) = omni.post("/v1/query/run", query_body()).await;
    let elapsed = start.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(elapsed >= ms(60) && elapsed < ms(600), "{elapsed:?}");
    let ids = sim.started_jobs()[1..].to_vec();
    let completed = body["completedQueries"].as_array().unwrap();
    assert_eq!(
        completed
            .iter()
            .map(|q| (uuid_of(&q["job_id"]), q["status"].clone()))
            .collect::<Vec<_>>(),
        [(ids[0], json!("COMPLETE")), (ids[1], json!("FAILED"))]
    );
    assert_eq!(completed[1]["error"], "Field not found");
}

#[tokio::test]
async fn query_run_timeout_names_only_the_remaining_jobs() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_query_run(QueryRun::many([
        JobScript::succeed_after(ms(20)),
        JobScript::succeed_after(ms(500)),
    ]));

    let start = Instant::now();
    let (status, body) = omni.post("/v1/query/run", query_body()).await;
    let elapsed = start.elapsed();
    let [quick, slow] = sim.started_jobs()[..] else {
        panic!("{:?}", sim.started_jobs())
    };
    assert_eq!(
        (status, body),
        (
            408,
            json!({"detail": "Query timed out", "timed_out": true, "remaining_job_ids": [slow]})
        )
    );
    // Held for the default 200 ms, not until the slow query is done.
    assert!(elapsed >= ms(200) && elapsed < ms(500), "{elapsed:?}");
    // The quick one finished but is not named; both are real query jobs.
    let (_, waited) = omni
        .get(&format!("/v1/query/wait?job_ids=[\"{quick}\"]"))
        .await;
    assert_eq!(waited["status"], "COMPLETE");
    let (_, waited) = omni
        .get(&format!("/v1/query/wait?job_ids=[\"{slow}\"]"))
        .await;
    assert_eq!(
        (&waited["job_id"], &waited["status"]),
        (&json!(slow), &json!("COMPLETE"))
    );
}

#[tokio::test]
async fn query_run_can_answer_running_queries_as_job_ids() {
    let sim = Simulator::start(SimConfig {
        query_run_wait: ms(100),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_query_run(
        QueryRun::many([
            JobScript::succeed_after(ms(20)),
            JobScript::succeed_after(ms(400)),
            JobScript::cancel_after(ms(400)),
        ])
        .answering(RunningAnswer::JobIds),
    );

    let start = Instant::now();
    let (status, body) = omni.post("/v1/query/run", query_body()).await;
    let elapsed = start.elapsed();
    assert!(elapsed >= ms(100) && elapsed < ms(400), "{elapsed:?}");
    let ids = sim.started_jobs();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["jobIds"], json!([ids[1], ids[2]]));
    let completed = body["completedQueries"].as_array().unwrap();
    assert_eq!(completed.len(), 1);
    assert_eq!(
        (&completed[0]["job_id"], &completed[0]["status"]),
        (&json!(ids[0]), &json!("COMPLETE"))
    );
}

#[tokio::test]
async fn query_run_rejects_bad_bodies() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_query_run(QueryRun::one(JobScript::fail_after(ms(10), "scripted")));

    assert_eq!(
        omni.post("/v1/query/run", json!({"cache": "normal"})).await,
        error(400, "Bad Request: query: Required")
    );
    assert_eq!(
        omni.post("/v1/query/run", json!({"query": null})).await,
        error(400, "Bad Request: query: Required")
    );
    assert_eq!(
        omni.post_raw("/v1/query/run", "query=1").await,
        error(400, "Bad Request: body must be a JSON object")
    );
    assert_eq!(
        omni.post("/v1/query/run", json!([1])).await,
        error(400, "Bad Request: body must be a JSON object")
    );
    assert!(sim.started_jobs().is_empty());
    // The queued run is still next.
    let (status, body) = omni.post("/v1/query/run", query_body()).await;
    assert_eq!(status, 200);
    assert_eq!(body["completedQueries"][0]["error"], "scripted");
}
