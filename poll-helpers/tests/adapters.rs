//! The Omni and Retailgrid adapters against local httpmock servers, in real time with
//! millisecond policies. Answers change from one poll to the next by stacking mocks: the
//! server serves the first registered mock that matches and is not used up
//! (`up_to_n_times`), so `[running ×1, completed]` is "RUNNING, then COMPLETED".
//!
//! Omni adapters never poll a job more than once per second, so each extra Omni poll
//! costs about a second; those tests stay at two or three polls.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use httpmock::prelude::*;
use httpmock::{Mock, Then, When};
use omni_sdk::types::{AiJobState, GetJobStatusResponseStatus};
use poll_helpers::omni::{self, QueryResult};
use poll_helpers::retailgrid::{self, StatusSets};
use poll_helpers::{PollError, PollPolicy, RateBudget, Snapshot};
use serde_json::{Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn omni_client(server: &MockServer) -> omni_sdk::Client {
    omni_sdk::Client::builder()
        .base_url(server.base_url())
        .bearer_token("t")
        .build()
        .unwrap()
}

fn retailgrid_client(server: &MockServer) -> retailgrid_sdk::Client {
    retailgrid_sdk::Client::builder()
        .base_url(server.base_url())
        .build()
        .unwrap()
}

/// 10 ms growing to 50 ms, 5 s deadline: fast enough that only the Omni floor and
/// `Retry-After` make a test wait.
fn quick() -> PollPolicy {
    PollPolicy::default()
        .min_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(50))
        .deadline(Duration::from_secs(5))
        .seed(1)
}

/// Registers a mock answering GET `path`, limited to `times` answers when given.
async fn answer<'a>(
    server: &'a MockServer,
    path: &str,
    times: Option<usize>,
    respond: impl FnOnce(Then) -> Then,
) -> Mock<'a> {
    answer_when(server, times, |when| when.method(GET).path(path), respond).await
}

async fn answer_when<'a>(
    server: &'a MockServer,
    times: Option<usize>,
    matching: impl FnOnce(When) -> When,
    respond: impl FnOnce(Then) -> Then,
) -> Mock<'a> {
    let mock = server
        .mock_async(|when, then| {
            matching(when);
            respond(then);
        })
        .await;
    if let Some(n) = times {
        mock.up_to_n_times_async(n).await;
    }
    mock
}

/// Records the arrival time of every request the server receives. Must be registered
/// before any other mock: it is asked first and never matches.
async fn record_arrivals(server: &MockServer) -> Arc<Mutex<Vec<Instant>>> {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&arrivals);
    server
        .mock_async(move |when, then| {
            when.is_true(move |_: &HttpMockRequest| {
                log.lock().unwrap().push(Instant::now());
                false
            });
            then.status(599);
        })
        .await;
    arrivals
}

fn gaps(arrivals: &Mutex<Vec<Instant>>) -> Vec<Duration> {
    let times = arrivals.lock().unwrap();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

fn status_path(id: Uuid) -> String {
    format!("/v1/jobs/{id}/status")
}

fn omni_status(id: Uuid, status: &str) -> Value {
    json!({"job_id": id, "job_type": "refresh_schema", "status": status})
}

fn ai_path(id: Uuid) -> String {
    format!("/v1/ai/jobs/{id}")
}

fn ai_job(id: Uuid, state: &str) -> Value {
    json!({
        "id": id,
        "state": state,
        "prompt": "What are the top 5 products by revenue?",
        "conversationId": "660e8400-e29b-41d4-a716-446655440001",
        "modelId": "770e8400-e29b-41d4-a716-446655440002",
        "branchId": null,
        "organizationId": "880e8400-e29b-41d4-a716-446655440003",
        "userId": "990e8400-e29b-41d4-a716-446655440004",
        "topicName": null,
        "omniChatUrl": "https://my-org.omni.co/chat/660e8400-e29b-41d4-a716-446655440001",
        "createdAt": "2025-01-15T10:00:00.000Z",
        "updatedAt": "2025-01-15T10:00:05.000Z"
    })
}

fn rg_path(id: Uuid) -> String {
    format!("/v1/jobs/{id}")
}

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

/// The `job_ids` query value Omni expects: one JSON array.
fn json_ids(ids: &[Uuid]) -> String {
    serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>()).unwrap()
}

/// Two query job ids in the order the adapter asks for them (sorted).
fn two_ids() -> (Uuid, Uuid) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    if a < b { (a, b) } else { (b, a) }
}

// ---------------------------------------------------------------------------------------
// Omni schema refresh jobs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn omni_job_running_then_completed_at_most_once_per_second() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let id = Uuid::new_v4();
    let running = answer(&server, &status_path(id), Some(1), |t| {
        t.status(200).json_body(omni_status(id, "RUNNING"))
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let job = omni::wait_for_job(&client, id, &quick()).await.unwrap();
    assert_eq!(job.status, Some(GetJobStatusResponseStatus::Completed));
    assert_eq!(job.job_id, Some(id));
    assert_eq!(running.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
    // The policy asks for 10 ms; Omni's floor is 1 s.
    let gaps = gaps(&arrivals);
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0] >= omni::MIN_POLL_INTERVAL, "{gaps:?}");
}

#[tokio::test]
async fn omni_job_pending_then_failed_is_a_failed_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &status_path(id), Some(1), |t| {
        t.status(200).json_body(omni_status(id, "IN_PROGRESS"))
    })
    .await;
    let failed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "FAILED"))
    })
    .await;

    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, id, &quick()).await;
    match result {
        Err(PollError::Failed {
            job,
            attempts,
            last,
            reason,
            ..
        }) => {
            assert_eq!(job, id.to_string());
            assert_eq!(attempts, 2);
            assert_eq!(last.status, Some(GetJobStatusResponseStatus::Failed));
            assert!(reason.contains("FAILED"), "{reason}");
            assert!(reason.contains("refresh_schema"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(failed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_429_with_retry_after_waits_that_long() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let id = Uuid::new_v4();
    let limited = answer(&server, &status_path(id), Some(1), |t| {
        t.status(429)
            .header("Retry-After", "2")
            .json_body(json!({"message": "Too many requests"}))
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let mut events = omni::wait_for_job(&client, id, &quick()).into_stream();
    let first = events.next().await.unwrap().unwrap();
    let error = first.outcome.as_ref().unwrap_err();
    assert_eq!(error.status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(first.next_delay, Some(Duration::from_secs(2)));
    let second = events.next().await.unwrap().unwrap();
    assert_eq!(
        second.outcome.unwrap().status,
        Some(GetJobStatusResponseStatus::Completed)
    );
    assert!(events.next().await.is_none());

    assert_eq!(limited.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
    let gaps = gaps(&arrivals);
    assert!(
        gaps.len() == 1 && gaps[0] >= Duration::from_secs(2),
        "Retry-After: 2 not honoured: {gaps:?}"
    );
}

#[tokio::test]
async fn omni_job_500_is_retried() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let broken = answer(&server, &status_path(id), Some(1), |t| {
        t.status(500).body("<html>Internal Server Error</html>")
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let job = omni::wait_for_job(&client, id, &quick()).await.unwrap();
    assert_eq!(job.status, Some(GetJobStatusResponseStatus::Completed));
    assert_eq!(broken.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_401_fails_fast_with_one_request() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let denied = answer(&server, &status_path(id), None, |t| {
        t.status(401)
            .json_body(json!({"error": "Unauthorized", "message": "Invalid API key"}))
    })
    .await;

    let client = omni_client(&server);
    let started = Instant::now();
    let result = omni::wait_for_job(&client, id, &quick()).await;
    assert!(started.elapsed() < Duration::from_millis(900), "no retry");
    match result {
        Err(PollError::Request {
            attempts,
            status,
            message,
            last,
            ..
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(status, Some(401));
            assert!(message.contains("Invalid API key"), "{message}");
            assert!(last.is_none());
        }
        other => panic!("expected Request, got {other:?}"),
    }
    assert_eq!(denied.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_with_an_unknown_status_keeps_polling_until_the_deadline() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let queued = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "QUEUED_FOR_RETRY"))
    })
    .await;

    let client = omni_client(&server);
    let deadline = Duration::from_secs(3);
    let started = Instant::now();
    let result = omni::wait_for_job(&client, id, &quick().deadline(deadline)).await;
    assert!(started.elapsed() <= deadline, "{:?}", started.elapsed());
    let hits = queued.calls_async().await;
    match result {
        Err(PollError::DeadlineExceeded {
            attempts,
            elapsed,
            last,
            last_error,
            ..
        }) => {
            assert!(attempts >= 2, "polled only {attempts} time(s)");
            assert_eq!(usize::try_from(attempts).unwrap(), hits);
            assert!(elapsed <= deadline);
            assert!(last_error.is_none());
            assert_eq!(
                last.unwrap().status,
                Some(GetJobStatusResponseStatus::Unknown(
                    "QUEUED_FOR_RETRY".into()
                ))
            );
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn omni_job_404_within_the_grace_then_found() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let missing = answer(&server, &status_path(id), Some(1), |t| {
        t.status(404).json_body(json!({"message": "Job not found"}))
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let policy = quick().not_found_grace(Duration::from_secs(4));
    let job = omni::wait_for_job(&client, id, &policy).await.unwrap();
    assert_eq!(job.status, Some(GetJobStatusResponseStatus::Completed));
    assert_eq!(missing.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_404_after_the_grace_is_a_request_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let missing = answer(&server, &status_path(id), None, |t| {
        t.status(404).json_body(json!({"message": "Job not found"}))
    })
    .await;

    let client = omni_client(&server);
    let policy = quick().not_found_grace(Duration::ZERO);
    let result = omni::wait_for_job(&client, id, &policy).await;
    assert!(
        matches!(&result, Err(PollError::Request { status: Some(404), attempts: 1, message, .. }) if message.contains("Job not found")),
        "{result:?}"
    );
    assert_eq!(missing.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_of_another_type_is_a_request_error_explaining_the_endpoint() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let unsupported = answer(&server, &status_path(id), None, |t| {
        t.status(403).json_body(
            json!({"error": "Forbidden", "message": "Job type not supported for status checks"}),
        )
    })
    .await;

    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, id, &quick()).await;
    match result {
        Err(PollError::Request {
            status, message, ..
        }) => {
            assert_eq!(status, Some(403));
            assert!(
                message.contains("only tracks schema refresh jobs"),
                "{message}"
            );
            assert!(
                message.contains("Job type not supported for status checks"),
                "the server's words are kept: {message}"
            );
        }
        other => panic!("expected Request, got {other:?}"),
    }
    assert_eq!(unsupported.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_unsupported_type_as_400_and_plain_403_are_told_apart() {
    let server = MockServer::start_async().await;
    let (other_type, forbidden) = (Uuid::new_v4(), Uuid::new_v4());
    answer(&server, &status_path(other_type), None, |t| {
        t.status(400)
            .json_body(json!({"detail": "Unsupported job type", "status": 400}))
    })
    .await;
    answer(&server, &status_path(forbidden), None, |t| {
        t.status(403)
            .json_body(json!({"error": "Forbidden", "message": "Forbidden"}))
    })
    .await;

    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, other_type, &quick()).await;
    assert!(
        matches!(&result, Err(PollError::Request { status: Some(400), message, .. }) if message.contains("only tracks schema refresh jobs")),
        "{result:?}"
    );
    let result = omni::wait_for_job(&client, forbidden, &quick()).await;
    assert!(
        matches!(&result, Err(PollError::Request { status: Some(403), message, .. })
            if message.contains("permission") && !message.contains("schema refresh")),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Omni AI jobs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn omni_ai_job_queued_then_complete_carries_the_summary() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let queued = answer(&server, &ai_path(id), Some(1), |t| {
        t.status(200).json_body(ai_job(id, "QUEUED"))
    })
    .await;
    let complete = answer(&server, &ai_path(id), None, |t| {
        t.status(200).json_body(with(
            with(
                ai_job(id, "COMPLETE"),
                "resultSummary",
                json!("Top product: Widget ($1.2M)"),
            ),
            "completedAt",
            json!("2025-01-15T10:00:30.000Z"),
        ))
    })
    .await;

    let client = omni_client(&server);
    let job = omni::wait_for_ai_job(&client, id, &quick()).await.unwrap();
    assert_eq!(job.state, AiJobState::Complete);
    assert_eq!(
        job.result_summary.as_deref(),
        Some("Top product: Widget ($1.2M)")
    );
    assert_eq!(queued.calls_async().await, 1);
    assert_eq!(complete.calls_async().await, 1);
}

#[tokio::test]
async fn omni_ai_job_failed_reports_the_error_message() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let failed = answer(&server, &ai_path(id), None, |t| {
        t.status(200).json_body(with(
            ai_job(id, "FAILED"),
            "error",
            json!({"code": "MODEL_UNAVAILABLE", "message": "The model could not be loaded"}),
        ))
    })
    .await;

    let client = omni_client(&server);
    match omni::wait_for_ai_job(&client, id, &quick()).await {
        Err(PollError::Failed {
            attempts,
            reason,
            last,
            ..
        }) => {
            assert_eq!(attempts, 1);
            assert!(reason.contains("The model could not be loaded"), "{reason}");
            assert!(reason.contains("MODEL_UNAVAILABLE"), "{reason}");
            assert_eq!(last.state, AiJobState::Failed);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(failed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_ai_job_cancelled_is_a_failure_naming_who_cancelled() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let by = Uuid::new_v4();
    answer(&server, &ai_path(id), None, |t| {
        t.status(200).json_body(with(
            with(ai_job(id, "CANCELLED"), "cancelledBy", json!(by)),
            "cancelledAt",
            json!("2025-01-15T10:00:10.000Z"),
        ))
    })
    .await;

    let client = omni_client(&server);
    match omni::wait_for_ai_job(&client, id, &quick()).await {
        Err(PollError::Failed { reason, last, .. }) => {
            assert!(reason.contains("cancelled"), "{reason}");
            assert!(reason.contains(&by.to_string()), "{reason}");
            assert_eq!(last.state, AiJobState::Cancelled);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Omni query jobs (/v1/query/wait)
// ---------------------------------------------------------------------------------------

async fn query_wait<'a>(
    server: &'a MockServer,
    ids: &[Uuid],
    times: Option<usize>,
    respond: impl FnOnce(Then) -> Then,
) -> Mock<'a> {
    let ids = json_ids(ids);
    answer_when(
        server,
        times,
        |when| {
            when.method(GET)
                .path("/v1/query/wait")
                .query_param("job_ids", ids)
        },
        respond,
    )
    .await
}

#[tokio::test]
async fn omni_queries_are_collected_over_rounds_of_remaining_job_ids() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let timed_out = query_wait(&server, &[a, b], Some(1), |t| {
        t.status(200)
            .json_body(json!({"timed_out": true, "remaining_job_ids": [a, b]}))
    })
    .await;
    let a_done = query_wait(&server, &[a, b], Some(1), |t| {
        t.status(200).json_body(
            json!({"job_id": a, "status": "COMPLETE", "result": "QVJST1cx", "timed_out": false}),
        )
    })
    .await;
    let b_done = query_wait(&server, &[b], Some(1), |t| {
        t.status(200).json_body(
            json!({"job_id": b, "status": "COMPLETE", "result": "QVJST1cy", "timed_out": false}),
        )
    })
    .await;

    let client = omni_client(&server);
    let mut events = omni::wait_for_queries(&client, &[a, b], &quick()).into_stream();
    let mut progress = Vec::new();
    let mut last: Option<BTreeMap<Uuid, QueryResult>> = None;
    while let Some(event) = events.next().await {
        let snapshot = event.unwrap().outcome.unwrap();
        progress.push(snapshot.progress());
        last = Some(snapshot);
    }
    assert_eq!(progress, [Some(0.0), Some(0.5), Some(1.0)]);
    let results = last.unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[&a].result_base64(), Some("QVJST1cx"));
    assert_eq!(results[&b].result_base64(), Some("QVJST1cy"));
    assert_eq!(results[&a].job_id, a);
    assert!(results.values().all(QueryResult::is_finished));
    assert_eq!(timed_out.calls_async().await, 1);
    assert_eq!(a_done.calls_async().await, 1);
    assert_eq!(b_done.calls_async().await, 1);
}

/// Omni's full document answers `{results: [...]}`: each result is read by its `job_id`,
/// and a job absent from `results` is asked again.
#[tokio::test]
async fn omni_queries_read_the_full_documents_results_shape() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let a_done = query_wait(&server, &[a, b], Some(1), |t| {
        t.status(200).json_body(json!({"results": [
            {"job_id": a, "status": "COMPLETE", "result": "QVJST1cx"}
        ]}))
    })
    .await;
    let b_done = query_wait(&server, &[b], Some(1), |t| {
        t.status(200).json_body(json!({"results": [
            {"job_id": b, "status": "COMPLETE", "result": "QVJST1cy"}
        ]}))
    })
    .await;
    let client = omni_client(&server);
    let results = omni::wait_for_queries(&client, &[a, b], &quick())
        .await
        .unwrap();
    assert_eq!(results[&a].result_base64(), Some("QVJST1cx"));
    assert_eq!(results[&b].result_base64(), Some("QVJST1cy"));
    assert_eq!(a_done.calls_async().await, 1);
    assert_eq!(b_done.calls_async().await, 1);
}

#[tokio::test]
async fn omni_query_404_after_the_grace_keeps_the_results_collected_so_far() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let a_done = query_wait(&server, &[a, b], None, |t| {
        t.status(200).json_body(
            json!({"job_id": a, "status": "COMPLETE", "result": "QVJST1cx", "timed_out": false}),
        )
    })
    .await;
    let b_gone = query_wait(&server, &[b], None, |t| {
        t.status(404)
            .json_body(json!({"detail": "Job not found", "status": 404}))
    })
    .await;

    let client = omni_client(&server);
    let policy = quick().not_found_grace(Duration::ZERO);
    match omni::wait_for_queries(&client, &[a, b], &policy).await {
        Err(PollError::Request {
            attempts,
            status,
            message,
            last,
            ..
        }) => {
            assert_eq!(attempts, 2);
            assert_eq!(status, Some(404));
            assert!(message.contains(&b.to_string()), "{message}");
            assert!(message.contains("Job not found"), "{message}");
            let so_far = last.expect("the results collected before the 404");
            assert_eq!(so_far[&a].result_base64(), Some("QVJST1cx"));
            assert!(!so_far[&b].is_finished());
        }
        other => panic!("expected Request, got {other:?}"),
    }
    assert_eq!(a_done.calls_async().await, 1);
    assert_eq!(b_gone.calls_async().await, 1);
}

#[tokio::test]
async fn omni_query_job_that_failed_is_a_failed_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    query_wait(&server, &[id], None, |t| {
        t.status(200)
            .json_body(json!({"job_id": id, "status": "FAILED", "timed_out": false}))
    })
    .await;

    let client = omni_client(&server);
    match omni::wait_for_queries(&client, &[id], &quick()).await {
        Err(PollError::Failed { reason, last, .. }) => {
            assert!(reason.contains("FAILED"), "{reason}");
            assert!(reason.contains(&id.to_string()), "{reason}");
            assert!(last[&id].is_finished());
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn omni_queries_with_no_ids_finish_without_a_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let client = omni_client(&server);
    let results = omni::wait_for_queries(&client, &[], &quick())
        .await
        .unwrap();
    assert!(results.is_empty());
    assert_eq!(any.calls_async().await, 0);
}

// ---------------------------------------------------------------------------------------
// Retailgrid jobs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn retailgrid_job_running_then_completed() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let running = answer(&server, &rg_path(id), Some(2), |t| {
        t.status(200).json_body(rg_job(id, "running"))
    })
    .await;
    let completed = answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(rg_job(id, "completed"))
    })
    .await;

    let client = retailgrid_client(&server);
    let started = Instant::now();
    let job = retailgrid::wait_for_job(&client, id, &quick())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "no floor for Retailgrid"
    );
    assert_eq!(job.status, "completed");
    assert_eq!(job.job_id, id);
    assert_eq!(job.clone().into_inner().job_type, "csv_import");
    assert_eq!(running.calls_async().await, 2);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn retailgrid_job_failed_reports_its_error_message() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200).json_body(rg_job(id, "processing"))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(with(
            rg_job(id, "FAILED"),
            "error_message",
            json!("row 12: unknown SKU"),
        ))
    })
    .await;

    let client = retailgrid_client(&server);
    match retailgrid::wait_for_job(&client, id, &quick()).await {
        Err(PollError::Failed {
            attempts,
            reason,
            last,
            ..
        }) => {
            assert_eq!(attempts, 2);
            assert_eq!(reason, "row 12: unknown SKU");
            assert_eq!(last.status, "FAILED");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn retailgrid_job_completed_with_an_error_message_is_still_a_success() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(with(
            rg_job(id, "completed"),
            "error_message",
            json!("3 rows skipped"),
        ))
    })
    .await;

    let client = retailgrid_client(&server);
    let job = retailgrid::wait_for_job(&client, id, &quick())
        .await
        .unwrap();
    assert_eq!(job.status, "completed");
    assert_eq!(job.error_message.as_deref(), Some("3 rows skipped"));
}

#[tokio::test]
async fn retailgrid_progress_is_reported_as_a_fraction() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200)
            .json_body(with(rg_job(id, "running"), "progress", json!(40)))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200)
            .json_body(with(rg_job(id, "completed"), "progress", json!(100)))
    })
    .await;

    let client = retailgrid_client(&server);
    let mut events = retailgrid::wait_for_job(&client, id, &quick()).into_stream();
    let mut progress = Vec::new();
    while let Some(event) = events.next().await {
        progress.push(event.unwrap().outcome.unwrap().progress());
    }
    assert_eq!(progress, [Some(0.4), Some(1.0)]);
}

#[tokio::test]
async fn retailgrid_custom_status_sets() {
    let server = MockServer::start_async().await;
    let (imported, rejected) = (Uuid::new_v4(), Uuid::new_v4());
    answer(&server, &rg_path(imported), Some(1), |t| {
        t.status(200).json_body(rg_job(imported, "validating"))
    })
    .await;
    answer(&server, &rg_path(imported), None, |t| {
        t.status(200).json_body(rg_job(imported, "Imported"))
    })
    .await;
    answer(&server, &rg_path(rejected), None, |t| {
        t.status(200).json_body(rg_job(rejected, "REJECTED"))
    })
    .await;

    let client = retailgrid_client(&server);
    let sets = StatusSets::default()
        .with_success(["imported"])
        .with_failure(["rejected"]);
    let job = retailgrid::wait_for_job_with(&client, imported, &quick(), sets.clone())
        .await
        .unwrap();
    assert_eq!(job.status, "Imported");

    match retailgrid::wait_for_job_with(&client, rejected, &quick(), sets).await {
        Err(PollError::Failed { reason, .. }) => {
            assert!(reason.contains("REJECTED"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }

    // Without the custom sets, "Imported" is just pending.
    let result = retailgrid::wait_for_job(&client, imported, &quick().max_attempts(3)).await;
    assert!(
        matches!(
            &result,
            Err(PollError::AttemptsExhausted { attempts: 3, .. })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn retailgrid_429_retry_after_overrides_a_fast_policy() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(429)
            .header("Retry-After", "1")
            .json_body(json!({"detail": "rate limited"}))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(rg_job(id, "completed"))
    })
    .await;

    let client = retailgrid_client(&server);
    let job = retailgrid::wait_for_job(&client, id, &quick())
        .await
        .unwrap();
    assert_eq!(job.status, "completed");
    let gaps = gaps(&arrivals);
    assert!(
        gaps.len() == 1 && gaps[0] >= Duration::from_secs(1),
        "Retry-After: 1 not honoured over a 10 ms policy: {gaps:?}"
    );
}

#[tokio::test]
async fn retailgrid_pollers_sharing_a_budget_stay_within_it() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for id in [a, b] {
        answer(&server, &rg_path(id), None, |t| {
            t.status(200).json_body(rg_job(id, "running"))
        })
        .await;
    }

    let client = retailgrid_client(&server);
    let per = Duration::from_secs(2);
    let budget = RateBudget::new(10, per);
    let policy = quick().deadline(Duration::from_secs(4));
    let (ra, rb) = tokio::join!(
        retailgrid::wait_for_job(&client, a, &policy)
            .rate_budget(budget.clone())
            .into_future(),
        retailgrid::wait_for_job(&client, b, &policy)
            .rate_budget(budget.clone())
            .into_future(),
    );
    for r in [ra, rb] {
        assert!(
            matches!(r, Err(PollError::DeadlineExceeded { .. })),
            "{r:?}"
        );
    }

    let mut times = arrivals.lock().unwrap().clone();
    times.sort();
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|t| **t - *start < per).count();
        assert!(
            in_window <= 10,
            "{in_window} requests within 2 s of request #{i} (of {})",
            times.len()
        );
    }
    // Not starved either: a burst of 5, then one every 400 ms for about 3 s.
    assert!(times.len() >= 10, "only {} requests", times.len());
}

#[tokio::test]
async fn retailgrid_404_after_the_grace_is_a_request_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let missing = answer(&server, &rg_path(id), None, |t| {
        t.status(404).json_body(json!({"detail": "Job not found"}))
    })
    .await;

    let client = retailgrid_client(&server);
    let policy = quick().not_found_grace(Duration::from_millis(100));
    let result = retailgrid::wait_for_job(&client, id, &policy).await;
    let hits = missing.calls_async().await;
    match result {
        Err(PollError::Request {
            attempts,
            status,
            message,
            elapsed,
            ..
        }) => {
            assert!(attempts >= 2, "404s within 100 ms are retried");
            assert_eq!(usize::try_from(attempts).unwrap(), hits);
            assert_eq!(status, Some(404));
            assert_eq!(message, "Job not found");
            assert!(elapsed >= Duration::from_millis(100));
        }
        other => panic!("expected Request, got {other:?}"),
    }
}

#[tokio::test]
async fn retailgrid_body_that_is_not_json_is_retried() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let garbled = answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200)
            .header("content-type", "application/json")
            .body("{\"job_id\": ")
    })
    .await;
    let completed = answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(rg_job(id, "completed"))
    })
    .await;

    let client = retailgrid_client(&server);
    let mut events = retailgrid::wait_for_job(&client, id, &quick()).into_stream();
    let first = events.next().await.unwrap().unwrap();
    let error = first.outcome.unwrap_err();
    assert_eq!(error.kind, poll_helpers::FetchErrorKind::Transient);
    assert!(first.next_delay.is_some());
    let second = events.next().await.unwrap().unwrap();
    assert_eq!(second.outcome.unwrap().status, "completed");
    assert!(events.next().await.is_none());
    assert_eq!(garbled.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn an_unreachable_server_is_retried_until_the_deadline() {
    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = retailgrid_sdk::Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let deadline = Duration::from_millis(500);
    let started = Instant::now();
    let result =
        retailgrid::wait_for_job(&client, Uuid::new_v4(), &quick().deadline(deadline)).await;
    assert!(started.elapsed() < deadline + Duration::from_millis(200));
    match result {
        Err(PollError::DeadlineExceeded {
            attempts,
            last,
            last_error,
            ..
        }) => {
            assert!(attempts >= 2, "connection errors are retried ({attempts})");
            assert!(last.is_none());
            let e = last_error.unwrap();
            assert_eq!(e.kind, poll_helpers::FetchErrorKind::Transient);
            assert_eq!(e.status, None);
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Overflow from a server header: found while writing these tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_huge_retry_after_from_the_server_does_not_panic_a_budgeted_poller() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), None, |t| {
        t.status(429)
            .header("Retry-After", u64::MAX.to_string())
            .json_body(json!({"detail": "rate limited"}))
    })
    .await;
    let client = retailgrid_client(&server);
    let result = retailgrid::wait_for_job(&client, id, &quick())
        .rate_budget(RateBudget::per_minute(60))
        .await;
    assert!(
        matches!(&result, Err(PollError::DeadlineExceeded { reason, .. }) if reason.contains("Retry-After")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_huge_retry_after_ms_from_the_server_does_not_panic() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &status_path(id), None, |t| {
        t.status(429)
            .header("retry-after-ms", "1e30")
            .json_body(json!({"message": "Too many requests"}))
    })
    .await;
    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, id, &quick()).await;
    assert!(
        matches!(&result, Err(PollError::DeadlineExceeded { .. })),
        "{result:?}"
    );
}
