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

mod omni_jobs;
mod omni_learning;
mod omni_query_dialects;
mod retailgrid_jobs;
