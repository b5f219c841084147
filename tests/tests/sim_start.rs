//! The job simulator's Omni start endpoints and their companions (`sdk_tests::sim`),
//! driven with raw HTTP requests in real time.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use sdk_tests::sim::{
    DEFAULT_OMNI_TOKEN, Fault, JobScript, QueryRun, RunningAnswer, SimConfig, Simulator,
    download_file,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sleeps until `at` after `start` (tolerates being late).
async fn sleep_until(start: Instant, at: Duration) {
    tokio::time::sleep((start + at).saturating_duration_since(Instant::now())).await;
}

/// Raw requests to the simulator's Omni API.
struct Omni {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Omni {
    fn new(sim: &Simulator) -> Self {
        Self::with_token(sim, Some(DEFAULT_OMNI_TOKEN))
    }

    fn with_token(sim: &Simulator, token: Option<&str>) -> Self {
        Omni {
            http: reqwest::Client::new(),
            base: sim.omni_base_url(),
            token: token.map(str::to_owned),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), HTTP {status}: {text:?}"));
        (status, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    /// A POST with this raw body and no content type.
    async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::POST, path).body(body)).await
    }
}

fn uuid_of(value: &Value) -> Uuid {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .unwrap()
}

fn error(status: u16, detail: &str) -> (u16, Value) {
    (status, json!({"detail": detail, "status": status}))
}

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

// ---------------------------------------------------------------- AI jobs

#[tokio::test]
async fn ai_job_submit_status_and_result() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let model = Uuid::new_v4();
    sim.script_next_ai_job(
        JobScript::succeed_after(ms(300))
            .with_queued_for(ms(100))
            .with_result_summary("Jeans sell best."),
    );
    let start = Instant::now();

    let (status, body) = omni
        .post(
            "/v1/ai/jobs",
            json!({"modelId": model, "prompt": "Best sellers?", "topicName": "products"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let job = uuid_of(&body["jobId"]);
    let conversation = uuid_of(&body["conversationId"]);
    assert_eq!(
        body,
        json!({
            "conversationId": conversation,
            "jobId": job,
            "omniChatUrl": format!("https://sim.omniapp.co/chat/{conversation}"),
        })
    );
    assert_eq!(sim.started_jobs(), [job]);

    let (status, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(status, 200);
    assert_eq!(ai["state"], "QUEUED");
    assert_eq!(ai["prompt"], "Best sellers?");
    assert_eq!(ai["modelId"], json!(model));
    assert_eq!(ai["topicName"], "products");
    assert_eq!(ai["conversationId"], json!(conversation));
    assert_eq!(ai["omniChatUrl"], body["omniChatUrl"]);

    let result_path = format!("/v1/ai/jobs/{job}/result");
    assert_eq!(
        omni.get(&result_path).await,
        error(404, &format!("Job {job} is not complete (state QUEUED)"))
    );
    sleep_until(start, ms(150)).await;
    assert_eq!(
        omni.get(&result_path).await,
        error(404, &format!("Job {job} is not complete (state EXECUTING)"))
    );

    sleep_until(start, ms(350)).await;
    let (status, result) = omni.get(&result_path).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["resultSummary"], "Jeans sell best.");
    assert_eq!(result["message"], "Jeans sell best.");
    assert_eq!(result["topic"], "products");
    assert_eq!(result["omniChatUrl"], body["omniChatUrl"]);
    let actions = result["actions"].as_array().unwrap();
    let query = actions
        .iter()
        .find(|a| a["type"] == "generate_query")
        .expect("a query action");
    let query_result = &query["result"];
    assert_eq!(query_result["status"], "success");
    assert_eq!(query_result["hasResults"], true);
    assert_eq!(query_result["csvResultWasTruncated"], false);
    assert_eq!(query_result["totalRowCount"], 4);
    assert!(query_result["query"].is_object());
    assert!(query_result["queryName"].is_string());
    let csv = query_result["csvResult"].as_str().unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("order_items.id,products.name,"), "{csv}");
    for action in actions {
        assert!(action["message"].is_string() && action["timestamp"].is_string());
    }
    let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(ai["state"], "COMPLETE");
    assert_eq!(ai["resultSummary"], result["resultSummary"]);
}

#[tokio::test]
async fn ai_job_errors() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let model = Uuid::new_v4();

    for (body, detail) in [
        (json!({"prompt": "hi"}), "Bad Request: modelId: Required"),
        (
            json!({"modelId": "m-1", "prompt": "hi"}),
            "Bad Request: modelId: Invalid uuid",
        ),
        (json!({"modelId": model}), "Bad Request: prompt: Required"),
        (
            json!({"modelId": model, "prompt": ""}),
            "Bad Request: prompt: String must contain at least 1 character(s)",
        ),
        (
            json!({"modelId": model, "prompt": "hi", "conversationId": "c"}),
            "Bad Request: conversationId: Invalid uuid",
        ),
    ] {
        assert_eq!(
            omni.post("/v1/ai/jobs", body.clone()).await,
            error(400, detail),
            "{body}"
        );
    }
    assert_eq!(
        omni.post_raw("/v1/ai/jobs", "{not json").await,
        error(400, "Bad Request: body must be a JSON object")
    );
    assert!(sim.started_jobs().is_empty());

    // One active job per conversation.
    sim.script_next_ai_job(JobScript::succeed_after(ms(300)));
    let conversation = Uuid::new_v4();
    let submit = json!({"modelId": model, "prompt": "hi", "conversationId": conversation});
    let (status, body) = omni.post("/v1/ai/jobs", submit.clone()).await;
    assert_eq!(
        (status, &body["conversationId"]),
        (201, &json!(conversation))
    );
    assert_eq!(
        omni.post("/v1/ai/jobs", submit).await,
        error(409, "An active job already exists for this conversation")
    );

    let unknown = Uuid::new_v4();
    assert_eq!(
        omni.get(&format!("/v1/ai/jobs/{unknown}/result")).await,
        error(404, "Job not found")
    );
    assert_eq!(
        omni.post(&format!("/v1/ai/jobs/{unknown}/cancel"), json!(null))
            .await,
        error(404, "Job not found")
    );
    // Not an AI job.
    let refresh = sim.add_schema_refresh(JobScript::succeed_after(ms(10)));
    assert_eq!(
        omni.post(&format!("/v1/ai/jobs/{refresh}/cancel"), json!(null))
            .await,
        error(404, "Job not found")
    );
    assert_eq!(
        omni.get("/v1/ai/jobs/nope/result").await,
        error(400, "Bad Request: jobId: Invalid uuid")
    );
    assert_eq!(
        omni.post("/v1/ai/jobs/nope/cancel", json!(null)).await,
        error(400, "Bad Request: jobId: Invalid uuid")
    );
    let (status, _) = omni.get(&format!("/v1/ai/jobs/{unknown}/cancel")).await;
    assert_eq!(status, 405);
    let (status, _) = omni.get("/v1/ai/jobs").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn cancel_makes_the_job_cancelled_for_good() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_ai_job(JobScript::succeed_after(ms(300)).with_queued_for(ms(50)));
    let start = Instant::now();
    let (_, body) = omni
        .post(
            "/v1/ai/jobs",
            json!({"modelId": Uuid::new_v4(), "prompt": "hi"}),
        )
        .await;
    let job = uuid_of(&body["jobId"]);

    sleep_until(start, ms(100)).await;
    let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(ai["state"], "EXECUTING");
    let cancel_path = format!("/v1/ai/jobs/{job}/cancel");
    assert_eq!(
        omni.post(&cancel_path, json!(null)).await,
        (200, json!({"jobId": job, "state": "CANCELLED"}))
    );
    let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(ai["state"], "CANCELLED");
    assert!(ai["cancelledAt"].is_string() && ai["executionStartedAt"].is_string());
    assert_eq!(ai["cancelledBy"], ai["userId"]);
    assert!(ai.get("progress").is_none() && ai.get("resultSummary").is_none());

    // Long after the script would have completed: still cancelled.
    sleep_until(start, ms(400)).await;
    let (_, later) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(later["state"], "CANCELLED");
    assert_eq!(later["cancelledAt"], ai["cancelledAt"]);
    assert_eq!(
        omni.get(&format!("/v1/ai/jobs/{job}/result")).await,
        error(404, &format!("Job {job} is not complete (state CANCELLED)"))
    );
    // Idempotent, as Omni documents: 200 with the current state.
    assert_eq!(
        omni.post(&cancel_path, json!(null)).await,
        (200, json!({"jobId": job, "state": "CANCELLED"}))
    );
}

#[tokio::test]
async fn cancel_of_a_finished_job_answers_its_state_and_changes_nothing() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let complete = sim.add_ai_job(JobScript::succeed_after(Duration::ZERO));
    let failed = sim.add_ai_job(JobScript::fail_after(Duration::ZERO, "boom"));

    for (job, state) in [(complete, "COMPLETE"), (failed, "FAILED")] {
        assert_eq!(
            omni.post(&format!("/v1/ai/jobs/{job}/cancel"), json!(null))
                .await,
            (200, json!({"jobId": job, "state": state}))
        );
        let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
        assert_eq!(
            ai["state"], state,
            "cancelling a finished job changes nothing"
        );
    }
    // A job added with `add_ai_job` has a result too.
    let (status, result) = omni.get(&format!("/v1/ai/jobs/{complete}/result")).await;
    assert_eq!(status, 200);
    assert!(
        result["resultSummary"]
            .as_str()
            .unwrap()
            .contains("Sunglasses")
    );
}

// ---------------------------------------------------------------- dashboard downloads

#[tokio::test]
async fn download_is_processing_then_streams_the_file() {
    const SIZE: usize = 1024 * 1024;
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_download(JobScript::succeed_after(ms(150)).with_file_size(SIZE));
    let start = Instant::now();

    let (status, body) = omni
        .post(
            "/v1/dashboards/12db1a0a/download",
            json!({"format": "pdf", "filename": "monthly-report", "paperFormat": "a4"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let job = uuid_of(&body["job_id"]);
    assert_eq!(
        body,
        json!({"job_id": job, "message": "Download job started"})
    );
    assert_eq!(sim.started_jobs(), [job]);

    let file_path = format!("/v1/dashboards/12db1a0a/download/{job}");
    let status_path = format!("{file_path}/status");
    assert_eq!(
        omni.get(&file_path).await,
        (202, json!({"status": "processing"}))
    );
    assert_eq!(
        omni.get(&status_path).await,
        (200, json!({"job_id": job, "status": "PROCESSING"}))
    );

    sleep_until(start, ms(200)).await;
    assert_eq!(
        omni.get(&status_path).await,
        (200, json!({"job_id": job, "status": "COMPLETED"}))
    );
    let mut response = omni
        .request(reqwest::Method::GET, &file_path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"monthly-report.pdf\""
    );
    let mut received = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        chunks += 1;
        received.extend_from_slice(&chunk);
    }
    assert!(chunks > 1, "{chunks} chunk(s)");
    assert_eq!(received.len(), SIZE);
    assert!(
        received == download_file(job, "pdf", SIZE),
        "content differs"
    );
    assert!(received.starts_with(b"%PDF-1.7\n"));
    // Another job's file differs.
    assert!(received != download_file(Uuid::new_v4(), "pdf", SIZE));
}

#[tokio::test]
async fn download_formats_and_default_file_name() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    for (format, content_type) in [
        ("pdf", "application/pdf"),
        ("png", "image/png"),
        ("csv", "text/csv"),
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("json", "application/json"),
    ] {
        sim.script_next_download(JobScript::succeed_after(Duration::ZERO).with_file_size(300));
        let (status, body) = omni
            .post(
                "/v1/dashboards/sales/download",
                json!({"format": format, "filename": null}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let job = uuid_of(&body["job_id"]);
        let response = omni
            .request(
                reqwest::Method::GET,
                &format!("/v1/dashboards/sales/download/{job}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{format}");
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(
            response.headers()["content-disposition"],
            format!("attachment; filename=\"dashboard.{format}\"").as_str()
        );
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), download_file(job, format, 300), "{format}");
    }
    // Text formats are text; the json one parses.
    let job = Uuid::new_v4();
    assert!(
        String::from_utf8(download_file(job, "csv", 1000))
            .unwrap()
            .starts_with("row,value\n")
    );
    let json: Value = serde_json::from_slice(&download_file(job, "json", 1000)).unwrap();
    assert_eq!(json["data"].as_str().unwrap().len(), 1000 - 11);
    // The default size.
    let (_, body) = omni
        .post("/v1/dashboards/sales/download", json!({"format": "png"}))
        .await;
    let job = uuid_of(&body["job_id"]);
    tokio::time::sleep(ms(250)).await;
    let bytes = omni
        .request(
            reqwest::Method::GET,
            &format!("/v1/dashboards/sales/download/{job}"),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len(), sdk_tests::sim::DEFAULT_FILE_SIZE);
}

#[tokio::test]
async fn failing_download_answers_gone() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_download(JobScript::fail_after(ms(150), "Renderer crashed"));
    let (_, body) = omni
        .post("/v1/dashboards/12db1a0a/download", json!({"format": "png"}))
        .await;
    let job = uuid_of(&body["job_id"]);
    let file_path = format!("/v1/dashboards/12db1a0a/download/{job}");
    assert_eq!(omni.get(&file_path).await.0, 202);

    tokio::time::sleep(ms(200)).await;
    assert_eq!(
        omni.get(&file_path).await,
        error(410, "Download job failed: Renderer crashed")
    );
    assert_eq!(
        omni.get(&format!("{file_path}/status")).await,
        (200, json!({"job_id": job, "status": "FAILED"}))
    );
}

#[tokio::test]
async fn download_errors() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let start_path = "/v1/dashboards/12db1a0a/download";
    for (body, detail) in [
        (json!({}), "Bad Request: format: Required"),
        (
            json!({"format": "docx"}),
            "Bad Request: format: Invalid enum value. Expected 'pdf' | 'png' | 'csv' | 'xlsx' | 'json'",
        ),
        (
            json!({"format": "pdf", "colour": true}),
            "Bad Request: Unrecognized key(s) in object: 'colour'",
        ),
        (
            json!({"format": "pdf", "filename": ""}),
            "Bad Request: filename: Expected a string of 1 to 255 characters",
        ),
    ] {
        assert_eq!(
            omni.post(start_path, body.clone()).await,
            error(400, detail),
            "{body}"
        );
    }
    assert_eq!(
        omni.post_raw(start_path, "").await,
        error(400, "Bad Request: body must be a JSON object")
    );
    assert!(sim.started_jobs().is_empty());

    let (_, body) = omni.post(start_path, json!({"format": "csv"})).await;
    let job = uuid_of(&body["job_id"]);
    let not_found = error(404, "Download job not found");
    // Another dashboard, an unknown job, a job id that is not a UUID, a job of another kind.
    let ai = sim.add_ai_job(JobScript::succeed_after(ms(10)));
    for path in [
        format!("/v1/dashboards/other/download/{job}"),
        format!("/v1/dashboards/12db1a0a/download/{}", Uuid::new_v4()),
        "/v1/dashboards/12db1a0a/download/latest".to_owned(),
        format!("/v1/dashboards/12db1a0a/download/{ai}"),
    ] {
        assert_eq!(omni.get(&path).await, not_found, "{path}");
        assert_eq!(
            omni.get(&format!("{path}/status")).await,
            not_found,
            "{path}"
        );
    }
    // Method checks.
    let (status, _) = omni.get(start_path).await;
    assert_eq!(status, 405);
    let (status, _) = omni.post(&format!("{start_path}/{job}"), json!(null)).await;
    assert_eq!(status, 405);
}

// ---------------------------------------------------------------- cross-cutting

#[tokio::test]
async fn auth_rate_limit_and_faults_apply_to_start_endpoints() {
    let sim = Simulator::start(SimConfig {
        rate_limit: Some((3, Duration::from_secs(1))),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let omni = Omni::new(&sim);
    let path = format!("/v1/models/{}/refresh", Uuid::new_v4());

    assert_eq!(
        Omni::with_token(&sim, None).post(&path, json!(null)).await,
        (401, json!({"error": "401", "message": "Unauthorized"}))
    );
    assert_eq!(
        Omni::with_token(&sim, Some("wrong"))
            .post(&path, json!(null))
            .await
            .0,
        401
    );
    // A fault answers instead of the endpoint: no job.
    sim.inject(Fault::status(503).on_path("/omni/v1/models/").times(1));
    let (status, _) = omni.post(&path, json!(null)).await;
    assert_eq!(status, 503);
    assert!(sim.started_jobs().is_empty());

    for _ in 0..2 {
        assert_eq!(omni.post(&path, json!(null)).await.0, 200);
    }
    let response = omni
        .request(reqwest::Method::POST, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(sim.started_jobs().len(), 2);

    let requests = sim.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.method.as_str(), r.authorized, r.status))
            .collect::<Vec<_>>(),
        [
            ("POST", false, Some(401)),
            ("POST", false, Some(401)),
            ("POST", true, Some(503)),
            ("POST", true, Some(200)),
            ("POST", true, Some(200)),
            ("POST", true, Some(429)),
        ]
    );
}

#[tokio::test]
async fn post_bodies_are_recorded() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let submit = json!({"modelId": Uuid::new_v4(), "prompt": "Top products?"});
    let (status, _) = omni.post("/v1/ai/jobs", submit.clone()).await;
    assert_eq!(status, 201);
    omni.post_raw("/v1/query/run", "not json").await;
    omni.get("/v1/ai/jobs/nope").await;

    let requests = sim.requests();
    assert_eq!(requests[0].body_json(), Some(submit));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[1].body, b"not json");
    assert_eq!(requests[1].body_json(), None);
    assert!(requests[2].body.is_empty());
}
