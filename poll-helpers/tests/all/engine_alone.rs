//! The engine alone, as a crate made by `cargo xtask add-sdk` uses it: `Poller::new` over
//! a generated client's request, errors classified by `FetchError::from_sdk_error` (the
//! shared runtime's error body), no adapter. Retailgrid's generated client stands in for
//! any generated crate; the Retailgrid adapter is not used.

use std::time::Duration;

use httpmock::prelude::*;
use poll_helpers::{FetchError, FetchErrorKind, Phase, PollError, PollPolicy, Poller, Snapshot};
use serde_json::json;
use uuid::Uuid;

#[derive(Clone, Debug)]
struct Job(retailgrid_sdk::types::JobStatusResponse);

impl Snapshot for Job {
    fn phase(&self) -> Phase {
        match self.0.status.as_str() {
            "completed" => Phase::Succeeded,
            "failed" => Phase::Failed(self.0.error_message.clone().unwrap_or_default()),
            _ => Phase::Pending,
        }
    }
}

fn policy() -> PollPolicy {
    PollPolicy::default()
        .initial_delay(Duration::from_millis(10))
        .min_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(20))
        .deadline(Duration::from_secs(10))
}

fn job(id: Uuid, status: &str) -> serde_json::Value {
    json!({"job_id": id, "job_type": "csv_import", "status": status, "progress": 50,
           "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:01Z"})
}

#[tokio::test]
async fn a_generated_client_is_waited_on_with_the_engine_alone() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let path = format!("/v1/jobs/{id}");
    let unavailable = server
        .mock_async(|when, then| {
            when.method(GET).path(path.clone());
            then.status(503)
                .header("retry-after", "0")
                .body("<h1>down</h1>");
        })
        .await;
    let client = retailgrid_sdk::Client::builder()
        .base_url(server.base_url())
        .build()
        .unwrap();
    let fetch = || async {
        client
            .get_job()
            .job_id(id)
            .send()
            .await
            .map(|r| Job(r.into_inner()))
            .map_err(|e| FetchError::from_sdk_error(&e))
    };
    let waiting = tokio::spawn({
        let base = server.base_url();
        async move {
            let client = retailgrid_sdk::Client::builder()
                .base_url(base)
                .build()
                .unwrap();
            Poller::new(policy(), move || {
                let client = client.clone();
                async move {
                    client
                        .get_job()
                        .job_id(id)
                        .send()
                        .await
                        .map(|r| Job(r.into_inner()))
                        .map_err(|e| FetchError::from_sdk_error(&e))
                }
            })
            .job_id(id.to_string())
            .await
        }
    });
    // The 503 is transient: the wait keeps going until the job completes.
    let first = fetch().await.unwrap_err();
    assert_eq!(first.kind, FetchErrorKind::Transient);
    assert_eq!(first.status, Some(503));
    assert!(first.message.contains("down"), "{first:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    unavailable.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(path.clone());
            then.status(200).json_body(job(id, "completed"));
        })
        .await;
    let done = waiting.await.unwrap().unwrap();
    assert_eq!(done.0.status, "completed");
}

#[tokio::test]
async fn a_404_after_the_grace_is_permanent_with_the_servers_text() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v1/jobs/{id}"));
            then.status(404)
                .json_body(json!({"detail": "Job not found"}));
        })
        .await;
    let client = retailgrid_sdk::Client::builder()
        .base_url(server.base_url())
        .build()
        .unwrap();
    let grace = policy().not_found_grace(Duration::from_millis(50));
    let result = Poller::new(grace, || async {
        client
            .get_job()
            .job_id(id)
            .send()
            .await
            .map(|r| Job(r.into_inner()))
            .map_err(|e| FetchError::from_sdk_error(&e))
    })
    .await;
    match result {
        Err(PollError::Request {
            status, message, ..
        }) => {
            assert_eq!(status, Some(404));
            assert!(message.contains("Job not found"), "{message}");
        }
        other => panic!("expected a request error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wait_sends_one_request_per_poll_whatever_the_clients_retry_policy() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let unavailable = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v1/jobs/{id}"));
            then.status(503).header("retry-after", "0");
        })
        .await;
    // The client's own policy would send every GET up to 5 times.
    let client = retailgrid_sdk::Client::builder()
        .base_url(server.base_url())
        .retry_policy(sdk_runtime::RetryPolicy::default().max_attempts(5))
        .build()
        .unwrap();
    let result = Poller::new(policy().max_attempts(3), || async {
        client
            .get_job()
            .job_id(id)
            .send()
            .await
            .map(|r| Job(r.into_inner()))
            .map_err(|e| FetchError::from_sdk_error(&e))
    })
    .await;
    assert!(
        matches!(
            result,
            Err(PollError::AttemptsExhausted { attempts: 3, .. })
        ),
        "{result:?}"
    );
    assert_eq!(unavailable.calls_async().await, 3);
    // Outside a wait, the same client retries.
    let err = client.get_job().job_id(id).send().await.unwrap_err();
    assert_eq!(sdk_runtime::ErrorExt::attempts(&err), Some(5));
    assert_eq!(unavailable.calls_async().await, 8);
}

#[tokio::test]
async fn the_servers_request_id_is_quoted_in_the_request_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v1/jobs/{id}"));
            then.status(403)
                .header("x-request-id", "req-9b1c")
                .json_body(json!({"detail": "forbidden"}));
        })
        .await;
    let client = retailgrid_sdk::Client::builder()
        .base_url(server.base_url())
        .build()
        .unwrap();
    let fetch = || async {
        client
            .get_job()
            .job_id(id)
            .send()
            .await
            .map(|r| Job(r.into_inner()))
            .map_err(|e| FetchError::from_sdk_error(&e))
    };
    let first = fetch().await.unwrap_err();
    assert_eq!(first.request_id.as_deref(), Some("req-9b1c"));
    match Poller::new(policy(), fetch).await {
        Err(PollError::Request { message, .. }) => {
            assert!(
                message.contains("forbidden (request id req-9b1c)"),
                "{message}"
            );
        }
        other => panic!("expected a request error, got {other:?}"),
    }
}
