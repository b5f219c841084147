//! The job simulator (`sdk_tests::sim`) driven by the real SDK clients, in real time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use omni_sdk::types::{AiJobState, GetJobStatusResponseStatus};
use omni_sdk::{Error, ErrorExt};
use sdk_tests::sim::{
    DEFAULT_OMNI_TOKEN, Fault, JobScript, ProgressCurve, SAMPLE_RESULT_ROWS, SimConfig, Simulator,
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

/// A raw GET to the simulator, for what the SDK cannot send.
async fn raw_get(url: String, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn schema_refresh_is_running_then_completed() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let start = Instant::now();
    let ok = sim.add_schema_refresh(JobScript::succeed_after(ms(300)));
    let failing = sim.add_schema_refresh(JobScript::fail_after(ms(300), "boom"));

    let status = client.get_job_status().job_id(ok).send().await.unwrap();
    assert_eq!(status.status, Some(GetJobStatusResponseStatus::Running));
    assert_eq!(status.job_id, Some(ok));
    assert_eq!(status.job_type.as_deref(), Some("refresh_schema"));

    sleep_until(start, ms(350)).await;
    let status = client.get_job_status().job_id(ok).send().await.unwrap();
    assert_eq!(status.status, Some(GetJobStatusResponseStatus::Completed));
    let status = client
        .get_job_status()
        .job_id(failing)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status, Some(GetJobStatusResponseStatus::Failed));
    sim.shutdown().await;
}

#[tokio::test]
async fn status_endpoint_errors() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let ai = sim.add_ai_job(JobScript::succeed_after(ms(100)));
    let other = sim.add_schema_refresh(JobScript::succeed_after(ms(100)).with_job_type("sync_dbt"));

    for id in [ai, other] {
        let err = client.get_job_status().job_id(id).send().await.unwrap_err();
        assert_eq!(err.http_status(), Some(403));
        assert_eq!(err.message(), "Job type not supported for status checks");
    }
    let err = client
        .get_job_status()
        .job_id(Uuid::new_v4())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404));

    let (status, body) = raw_get(
        format!("{}/v1/jobs/not-a-uuid/status", sim.omni_base_url()),
        Some(DEFAULT_OMNI_TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "400", "message": "Bad Request: jobId: Invalid uuid"})
    );
}

#[tokio::test]
async fn ai_job_moves_through_its_states() {
    let sim = Simulator::start_default().await.unwrap();
    let script = JobScript::succeed_after(ms(600))
        .with_queued_for(ms(100))
        .with_delivering_for(ms(300))
        .with_progress_messages(["Choosing a topic", "Running query"])
        .with_result_summary("42");
    let client = sim.omni_client().unwrap();
    let start = Instant::now();
    let job = sim.add_ai_job(script);

    let queued = client.get_ai_job().job_id(job).send().await.unwrap();
    assert_eq!(queued.state, AiJobState::Queued);
    assert!(queued.progress.is_none() && queued.execution_started_at.is_none());

    sleep_until(start, ms(150)).await;
    let executing = client.get_ai_job().job_id(job).send().await.unwrap();
    assert_eq!(executing.state, AiJobState::Executing);
    let progress = executing
        .progress
        .clone()
        .expect("progress while EXECUTING");
    assert_eq!(progress.iteration, 1);
    assert_eq!(progress.message, "Choosing a topic");
    assert!(executing.execution_started_at.is_some());

    sleep_until(start, ms(250)).await;
    let later = client.get_ai_job().job_id(job).send().await.unwrap();
    assert_eq!(later.state, AiJobState::Executing);
    assert_eq!(later.progress.as_ref().unwrap().iteration, 2);
    assert_eq!(later.progress.as_ref().unwrap().message, "Running query");

    sleep_until(start, ms(400)).await;
    let delivering = client.get_ai_job().job_id(job).send().await.unwrap();
    assert_eq!(delivering.state, AiJobState::Delivering);
    assert!(delivering.progress.is_none() && delivering.result_summary.is_none());

    sleep_until(start, ms(650)).await;
    let done = client.get_ai_job().job_id(job).send().await.unwrap();
    assert_eq!(done.state, AiJobState::Complete);
    assert_eq!(done.result_summary.as_deref(), Some("42"));
    assert!(done.completed_at.is_some() && done.error.is_none());
    assert_eq!(
        (done.completed_at.unwrap() - done.created_at).num_milliseconds(),
        600
    );
    assert_eq!(done.id, job);
    assert_eq!(done.conversation_id, queued.conversation_id);
}

#[tokio::test]
async fn ai_job_failure_and_cancellation() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let start = Instant::now();
    let failing = sim.add_ai_job(
        JobScript::fail_after(ms(300), "Column 'revenue' not found")
            .with_error_code("QUERY_EXECUTION_ERROR"),
    );
    let cancelled = sim.add_ai_job(JobScript::cancel_after(ms(300)));

    sleep_until(start, ms(150)).await;
    let running = client.get_ai_job().job_id(failing).send().await.unwrap();
    assert_eq!(running.state, AiJobState::Executing);

    sleep_until(start, ms(350)).await;
    let failed = client.get_ai_job().job_id(failing).send().await.unwrap();
    assert_eq!(failed.state, AiJobState::Failed);
    let error = failed.error.clone().unwrap();
    assert_eq!(error.message, "Column 'revenue' not found");
    assert_eq!(error.code.as_deref(), Some("QUERY_EXECUTION_ERROR"));
    assert!(failed.progress.is_none() && failed.completed_at.is_some());

    let cancelled = client.get_ai_job().job_id(cancelled).send().await.unwrap();
    assert_eq!(cancelled.state, AiJobState::Cancelled);
    assert_eq!(cancelled.cancelled_by, Some(cancelled.user_id));
    assert!(cancelled.cancelled_at.is_some() && cancelled.completed_at.is_none());

    // An AI id is not a schema refresh, and vice versa.
    let schema = sim.add_schema_refresh(JobScript::succeed_after(ms(10)));
    let err = client.get_ai_job().job_id(schema).send().await.unwrap_err();
    assert_eq!(err.http_status(), Some(404));
}

#[tokio::test]
async fn retailgrid_progress_grows_then_completes() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.retailgrid_client().unwrap();
    let start = Instant::now();
    let job = sim.add_retailgrid_job(JobScript::succeed_after(ms(500)));
    let stepped = sim.add_retailgrid_job(
        JobScript::succeed_after(ms(500))
            .with_queued_for(ms(100))
            .with_progress_curve(ProgressCurve::Steps(2))
            .with_job_type("csv_import"),
    );

    let first = client.get_job().job_id(job).send().await.unwrap();
    assert_eq!(first.status, "running");
    assert_eq!(first.job_type, "bulk_upsert");
    assert!(first.started_at.is_some() && first.completed_at.is_none());
    let pending = client.get_job().job_id(stepped).send().await.unwrap();
    assert_eq!(pending.status, "pending");
    assert_eq!(pending.progress, Some(0));
    assert!(pending.started_at.is_none());
    assert_eq!(pending.job_type, "csv_import");

    sleep_until(start, ms(250)).await;
    let middle = client.get_job().job_id(job).send().await.unwrap();
    let progress = middle.progress.unwrap();
    assert!(
        progress > first.progress.unwrap() && (40..=70).contains(&progress),
        "{progress}"
    );
    sleep_until(start, ms(350)).await;
    let stepped_now = client.get_job().job_id(stepped).send().await.unwrap();
    assert_eq!(
        (stepped_now.status.as_str(), stepped_now.progress),
        ("running", Some(50))
    );

    sleep_until(start, ms(550)).await;
    let done = client.get_job().job_id(job).send().await.unwrap();
    assert_eq!(done.status, "completed");
    assert_eq!(done.progress, Some(100));
    assert!(done.completed_at.is_some() && done.error_message.is_none());
}

#[tokio::test]
async fn retailgrid_failure_and_errors() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.retailgrid_client().unwrap();
    let job = sim.add_retailgrid_job(JobScript::fail_after(ms(100), "Row 17: invalid SKU"));
    tokio::time::sleep(ms(150)).await;

    let failed = client.get_job().job_id(job).send().await.unwrap();
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.error_message.as_deref(), Some("Row 17: invalid SKU"));
    assert_eq!(failed.progress, Some(99));

    let err = client
        .get_job()
        .job_id(Uuid::new_v4())
        .send()
        .await
        .unwrap_err();
    assert_eq!(retailgrid_sdk::ErrorExt::http_status(&err), Some(404));
    assert_eq!(retailgrid_sdk::ErrorExt::message(&err), "Job not found");

    let (status, body) = raw_get(
        format!("{}/v1/jobs/not-a-uuid", sim.retailgrid_base_url()),
        None,
    )
    .await;
    assert_eq!(status, 422);
    let detail = &body["detail"][0];
    assert_eq!(detail["loc"], json!(["path", "job_id"]));
    assert_eq!(detail["type"], "uuid_parsing");
    assert!(
        detail["msg"]
            .as_str()
            .unwrap()
            .starts_with("Input should be a valid UUID"),
        "{body}"
    );
}

#[tokio::test]
async fn bearer_auth_is_enforced() {
    let sim = Simulator::start(SimConfig {
        retailgrid_token: Some("rg-secret-token".into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let job = sim.add_schema_refresh(JobScript::succeed_after(ms(100)));
    let url = format!("{}/v1/jobs/{job}/status", sim.omni_base_url());

    let (status, body) = raw_get(url.clone(), None).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "401", "message": "Unauthorized"}))
    );
    assert_eq!(sim.request_count(), 1);

    let wrong = omni_sdk::Client::builder()
        .base_url(sim.omni_base_url())
        .bearer_token("wrong-token")
        .build()
        .unwrap();
    let err = wrong.get_job_status().job_id(job).send().await.unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.message(), "Unauthorized");
    assert_eq!(
        sim.request_count(),
        2,
        "the client sent one request per call"
    );

    // Retailgrid with a configured token.
    let rg_job = sim.add_retailgrid_job(JobScript::succeed_after(ms(100)));
    let anonymous = retailgrid_sdk::Client::builder()
        .base_url(sim.retailgrid_base_url())
        .build()
        .unwrap();
    let err = anonymous.get_job().job_id(rg_job).send().await.unwrap_err();
    assert_eq!(retailgrid_sdk::ErrorExt::http_status(&err), Some(401));
    assert_eq!(retailgrid_sdk::ErrorExt::message(&err), "Not authenticated");
    let job = sim
        .retailgrid_client()
        .unwrap()
        .get_job()
        .job_id(rg_job)
        .send()
        .await
        .unwrap();
    assert_eq!(job.job_id, rg_job);

    let requests = sim.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.authorized, r.status))
            .collect::<Vec<_>>(),
        [
            (false, Some(401)),
            (false, Some(401)),
            (false, Some(401)),
            (true, Some(200))
        ]
    );
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer <redacted>")
    );
    let dump = format!("{requests:?}");
    assert!(!dump.contains("wrong-token") && !dump.contains("rg-secret-token"));
}

#[tokio::test]
async fn omni_rate_limit_uses_fixed_windows() {
    let sim = Simulator::start(SimConfig {
        rate_limit: Some((5, Duration::from_secs(1))),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = sim.omni_client().unwrap();
    let job = sim.add_schema_refresh(JobScript::succeed_after(ms(10)));
    for _ in 0..5 {
        client.get_job_status().job_id(job).send().await.unwrap();
    }
    let err = client
        .get_job_status()
        .job_id(job)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(429));
    assert_eq!(err.message(), "Too Many Requests");
    let retry_after = err.retry_after().unwrap();
    assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
    assert_eq!(
        err.response_headers().unwrap()["retry-after"]
            .to_str()
            .unwrap(),
        "1"
    );
    // Retailgrid is unlimited by default.
    let rg = sim.add_retailgrid_job(JobScript::succeed_after(ms(10)));
    let rg_client = sim.retailgrid_client().unwrap();
    for _ in 0..8 {
        rg_client.get_job().job_id(rg).send().await.unwrap();
    }

    tokio::time::sleep(retry_after).await;
    let status = client.get_job_status().job_id(job).send().await.unwrap();
    assert_eq!(status.status, Some(GetJobStatusResponseStatus::Completed));
}

#[tokio::test]
async fn long_poll_answers_a_job_that_finishes_while_held() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let start = Instant::now();
    let job = sim.add_query_job(JobScript::succeed_after(ms(300)));

    let answer = client
        .wait_for_query()
        .job_ids(vec![job])
        .send()
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= ms(250) && elapsed < ms(500), "{elapsed:?}");
    assert_eq!(sim.request_count(), 1, "one held request");
    assert_eq!(answer.timed_out, Some(false));
    assert_eq!(answer.job_id, Some(job));
    assert_eq!(answer.status.as_deref(), Some("COMPLETE"));
    assert!(answer.client_result_id.is_some() && answer.remaining_job_ids.is_empty());
    assert_eq!(answer.summary["total_rows"], json!(SAMPLE_RESULT_ROWS));

    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer.result.as_deref().unwrap())
        .unwrap();
    assert!(bytes.starts_with(b"ARROW1"));
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    assert_eq!(reader.schema().fields().len(), 5);
    let rows: usize = reader.map(|batch| batch.unwrap().num_rows()).sum();
    assert_eq!(rows, SAMPLE_RESULT_ROWS);
}

#[tokio::test]
async fn long_poll_times_out_and_answers_one_job_at_a_time() {
    let sim = Simulator::start(SimConfig {
        long_poll_wait: ms(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = sim.omni_client().unwrap();
    let start = Instant::now();
    let slow = sim.add_query_job(JobScript::succeed_after(Duration::from_secs(5)));
    let quick = sim.add_query_job(JobScript::succeed_after(ms(0)));
    let failed = sim.add_query_job(JobScript::fail_after(ms(0), "Table not found"));

    let answer = client
        .wait_for_query()
        .job_ids(vec![slow])
        .send()
        .await
        .unwrap();
    assert!(start.elapsed() >= ms(290), "{:?}", start.elapsed());
    assert_eq!(answer.timed_out, Some(true));
    assert_eq!(answer.remaining_job_ids, [slow]);
    assert!(answer.job_id.is_none() && answer.result.is_none());

    // The first finished job in the asked order; the others remain.
    let answer = client
        .wait_for_query()
        .job_ids(vec![slow, failed, quick])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.job_id, Some(failed));
    assert_eq!(answer.status.as_deref(), Some("FAILED"));
    assert_eq!(answer.timed_out, Some(true));
    assert_eq!(answer.remaining_job_ids, [slow, quick]);

    let answer = client
        .wait_for_query()
        .job_ids(vec![quick, slow])
        .send()
        .await
        .unwrap();
    assert_eq!((answer.job_id, answer.timed_out), (Some(quick), Some(true)));
    assert_eq!(answer.remaining_job_ids, [slow]);
}

#[tokio::test]
async fn long_poll_rejects_bad_job_ids() {
    let sim = Simulator::start_default().await.unwrap();
    let job = sim.add_query_job(JobScript::succeed_after(ms(0)));
    let base = format!("{}/v1/query/wait", sim.omni_base_url());
    let invalid = json!({"detail": "job_ids must be a valid JSON array of UUIDs", "status": 400});
    for query in [
        format!("job_ids={job}&job_ids={job}"),
        "job_ids=a&job_ids=b".to_owned(),
        "job_ids=not-json".to_owned(),
        "job_ids=%5B%22nope%22%5D".to_owned(),
        "job_ids=%5B%5D".to_owned(),
    ] {
        let (status, body) = raw_get(format!("{base}?{query}"), Some(DEFAULT_OMNI_TOKEN)).await;
        assert_eq!((status, &body), (400, &invalid), "{query}");
    }
    let (status, body) = raw_get(base.clone(), Some(DEFAULT_OMNI_TOKEN)).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "job_ids parameter is required", "status": 400})
        )
    );

    let unknown = Uuid::new_v4();
    let err = sim
        .omni_client()
        .unwrap()
        .wait_for_query()
        .job_ids(vec![job, unknown])
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    assert_eq!(
        err.message(),
        format!("Job with id {unknown} does not exist")
    );
}

#[tokio::test]
async fn injected_faults() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let job = sim.add_schema_refresh(JobScript::succeed_after(ms(10)));

    // 500 twice, then normal.
    sim.inject(Fault::status(500).times(2));
    for _ in 0..2 {
        let err = client
            .get_job_status()
            .job_id(job)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(500));
        assert_eq!(err.message(), "Internal Server Error");
    }
    client.get_job_status().job_id(job).send().await.unwrap();

    // A 429 with Retry-After.
    sim.inject(Fault::status(429).retry_after(ms(2500)).times(1));
    let err = client
        .get_job_status()
        .job_id(job)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));

    // A malformed body.
    sim.inject(Fault::malformed_body().times(1));
    let err = client
        .get_job_status()
        .job_id(job)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponsePayload(..)), "{err:?}");

    // A delay, then the normal answer.
    sim.inject(Fault::delay(ms(200)).times(1));
    let start = Instant::now();
    client.get_job_status().job_id(job).send().await.unwrap();
    assert!(start.elapsed() >= ms(200), "{:?}", start.elapsed());

    // Scoped to one job: the other is untouched.
    let other = sim.add_schema_refresh(JobScript::succeed_after(ms(10)));
    sim.inject(Fault::status(503).on_job(other));
    client.get_job_status().job_id(job).send().await.unwrap();
    let err = client
        .get_job_status()
        .job_id(other)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(503));
    sim.clear_faults();
    client.get_job_status().job_id(other).send().await.unwrap();

    // Scoped to a path.
    let ai = sim.add_ai_job(JobScript::succeed_after(ms(10)));
    sim.inject(Fault::status(502).on_path("/omni/v1/ai/").times(1));
    client.get_job_status().job_id(job).send().await.unwrap();
    let err = client.get_ai_job().job_id(ai).send().await.unwrap_err();
    assert_eq!(err.http_status(), Some(502));

    let statuses: Vec<Option<u16>> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [500, 500, 200, 429, 200, 200, 200, 503, 200, 200, 502]
            .map(Some)
            .to_vec()
    );
}

#[tokio::test]
async fn requests_are_recorded() {
    let sim = Simulator::start_default().await.unwrap();
    let a = sim.add_query_job(JobScript::succeed_after(ms(0)));
    let b = sim.add_query_job(JobScript::succeed_after(ms(0)));
    let rg = sim.add_retailgrid_job(JobScript::succeed_after(ms(0)));
    sim.omni_client()
        .unwrap()
        .wait_for_query()
        .job_ids(vec![a, b])
        .send()
        .await
        .unwrap();
    sim.retailgrid_client()
        .unwrap()
        .get_job()
        .job_id(rg)
        .send()
        .await
        .unwrap();
    let (status, _) = raw_get(format!("{}/elsewhere", sim.base_url()), None).await;
    assert_eq!(status, 404);

    let requests = sim.requests();
    assert_eq!(sim.request_count(), 3);
    let wait = &requests[0];
    assert_eq!(
        (wait.method.as_str(), wait.path.as_str()),
        ("GET", "/omni/v1/query/wait")
    );
    assert_eq!(
        wait.decoded_query(),
        Some(format!(r#"job_ids=["{a}","{b}"]"#))
    );
    assert!(wait.query.as_deref().unwrap().starts_with("job_ids=%5B%22"));
    assert_eq!(wait.header("authorization"), Some("Bearer <redacted>"));
    assert!(wait.header("user-agent").unwrap().starts_with("omni-sdk/"));
    assert_eq!(wait.status, Some(200));
    assert_eq!(requests[1].path, format!("/retailgrid/v1/jobs/{rg}"));
    assert_eq!(requests[1].query, None);
    assert_eq!(requests[2].status, Some(404));
    assert!(requests[0].at <= requests[1].at && requests[1].at <= requests[2].at);

    sim.clear_requests();
    assert_eq!(sim.request_count(), 0);
    sim.shutdown().await;
}
