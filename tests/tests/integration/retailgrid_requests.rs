//! What the Retailgrid client puts on the wire, checked against a local httpmock server.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};

use httpmock::prelude::*;
use retailgrid_sdk::{Client, ClientInfo, DEFAULT_USER_AGENT};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "rg-test-token-81c2";

fn job_body(job_id: Uuid) -> serde_json::Value {
    json!({
        "job_id": job_id,
        "job_type": "bulk_upsert",
        "status": "completed",
        "progress": 100,
        "created_at": "2025-03-01T12:00:00.000Z",
        "started_at": "2025-03-01T12:00:01.000Z",
        "completed_at": "2025-03-01T12:05:00.000Z",
        "error_message": null,
        "grid_id": "7d3b2c1a-0f9e-4d8c-b7a6-5e4d3c2b1a09",
        "related_grid_fill_job_id": null,
        "grid_items_count": 1200
    })
}

/// Checks method, path and the headers every Retailgrid request carries, and that there is
/// no query string.
fn common(
    when: httpmock::When,
    path: String,
    seen: &Arc<Mutex<Vec<Option<String>>>>,
) -> httpmock::When {
    let seen = Arc::clone(seen);
    when.method(GET)
        .path(path)
        .header("user-agent", DEFAULT_USER_AGENT)
        .header("accept", "application/json")
        .header_missing("api-version")
        .is_true(move |req: &HttpMockRequest| {
            seen.lock()
                .unwrap()
                .push(req.uri().query().map(str::to_owned));
            true
        })
}

#[test]
fn default_user_agent_is_crate_name_and_version() {
    let version = DEFAULT_USER_AGENT
        .strip_prefix("retailgrid-sdk/")
        .unwrap_or_else(|| panic!("{DEFAULT_USER_AGENT}"));
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(parts.len(), 3, "{DEFAULT_USER_AGENT}");
    assert!(
        parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "{DEFAULT_USER_AGENT}"
    );
}

#[tokio::test]
async fn get_job_without_token_sends_no_authorization() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mock = server
        .mock_async(|when, then| {
            common(when, format!("/v1/jobs/{job_id}"), &seen).header_missing("authorization");
            then.status(200).json_body(job_body(job_id));
        })
        .await;

    let client = Client::builder()
        .base_url(server.base_url())
        .build()
        .unwrap();
    let job = client.get_job().job_id(job_id).send().await.unwrap();

    mock.assert_async().await;
    assert!(
        seen.lock().unwrap().iter().all(Option::is_none),
        "no query expected: {seen:?}"
    );
    assert_eq!(job.status().as_u16(), 200);
    assert_eq!(job.job_id, job_id);
    assert_eq!(job.status, "completed");
    assert_eq!(job.grid_items_count, Some(1200));
    assert_eq!(job.related_grid_fill_job_id, None);
}

#[tokio::test]
async fn get_job_with_token_sends_bearer_authorization() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mock = server
        .mock_async(|when, then| {
            common(when, format!("/v1/jobs/{job_id}"), &seen)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header_count("^authorization$", ".*", 1);
            then.status(200).json_body(job_body(job_id));
        })
        .await;

    let client = Client::builder()
        .base_url(server.base_url())
        .bearer_token(TOKEN)
        .build()
        .unwrap();
    let job = client.get_job().job_id(job_id).send().await.unwrap();

    mock.assert_async().await;
    assert!(
        seen.lock().unwrap().iter().all(Option::is_none),
        "no query expected: {seen:?}"
    );
    assert_eq!(job.job_type, "bulk_upsert");
}

#[tokio::test]
async fn get_job_accepts_fields_the_spec_does_not_list() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let mut body = job_body(job_id);
    body["queue_position"] = json!(7);
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v1/jobs/{job_id}"));
            then.status(200).json_body(body);
        })
        .await;
    let client = Client::builder()
        .base_url(server.base_url())
        .build()
        .unwrap();
    let job = client.get_job().job_id(job_id).send().await.unwrap();
    assert_eq!(job.progress, Some(100));
}

#[tokio::test]
async fn base_url_path_prefix_and_trailing_slash() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mock = server
        .mock_async(|when, then| {
            common(when, format!("/public/v1/jobs/{job_id}"), &seen);
            then.status(200).json_body(job_body(job_id));
        })
        .await;
    let client = Client::builder()
        .base_url(server.url("/public/"))
        .build()
        .unwrap();
    assert_eq!(client.baseurl(), server.url("/public"));
    client.get_job().job_id(job_id).send().await.unwrap();
    mock.assert_async().await;
    assert!(
        seen.lock().unwrap().iter().all(Option::is_none),
        "no query expected: {seen:?}"
    );
}
