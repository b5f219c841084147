//! Pagination streams (`.stream()` on the builders of cursor-paginated list operations),
//! against a local httpmock server answering Omni's page shape: `records` and
//! `pageInfo: {nextCursor, hasNextPage, pageSize, totalRecords}`.

use futures_util::StreamExt;
use httpmock::prelude::*;
use omni_sdk::{Client, Error, ErrorExt};
use serde_json::{Value, json};
use uuid::Uuid;

fn client(base_url: &str) -> Client {
    Client::builder()
        .base_url(base_url)
        .bearer_token("omni-test-token-pages")
        // The error test counts requests: no automatic retry of the 503.
        .retry_policy(omni_sdk::RetryPolicy::none())
        .build()
        .unwrap()
}

fn users(emails: &[&str]) -> Value {
    emails
        .iter()
        .map(|e| json!({"email": e, "user_attributes": {}, "user_id": Uuid::new_v4()}))
        .collect()
}

fn page(emails: &[&str], next: Option<&str>) -> Value {
    json!({
        "records": users(emails),
        "pageInfo": {"nextCursor": next, "hasNextPage": next.is_some(), "pageSize": 2, "totalRecords": 5},
    })
}

#[tokio::test]
async fn three_pages_are_followed_with_the_other_parameters_kept() {
    let server = MockServer::start_async().await;
    // Each page is answered only to the request that carries its cursor and the filter.
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/users/email-only")
                .query_param("email", "a@x.test")
                .query_param_missing("cursor");
            then.status(200)
                .json_body(page(&["1@x", "2@x"], Some("c2")));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/users/email-only")
                .query_param("email", "a@x.test")
                .query_param("cursor", "c2");
            then.status(200)
                .json_body(page(&["3@x", "4@x"], Some("c3")));
        })
        .await;
    let third = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/users/email-only")
                .query_param("email", "a@x.test")
                .query_param("cursor", "c3");
            then.status(200).json_body(page(&["5@x"], None));
        })
        .await;
    let client = client(&server.base_url());
    let emails: Vec<String> = client
        .users_list_email_only()
        .email("a@x.test")
        .stream()
        .map(|user| user.unwrap().email)
        .collect()
        .await;
    assert_eq!(emails, ["1@x", "2@x", "3@x", "4@x", "5@x"]);
    first.assert_async().await;
    second.assert_async().await;
    third.assert_async().await;
}

#[tokio::test]
async fn an_error_on_page_two_is_the_streams_item_and_ends_it() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/users/email-only")
                .query_param_missing("cursor");
            then.status(200)
                .json_body(page(&["1@x", "2@x"], Some("c2")));
        })
        .await;
    let failing = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/users/email-only")
                .query_param("cursor", "c2");
            then.status(503)
                .header("retry-after", "7")
                .json_body(json!({"error": "maintenance"}));
        })
        .await;
    let client = client(&server.base_url());
    let items: Vec<Result<_, Error<_>>> = client.users_list_email_only().stream().collect().await;
    assert_eq!(items.len(), 3, "two records, then the error, then nothing");
    assert_eq!(items[1].as_ref().unwrap().email, "2@x");
    let error = items[2].as_ref().unwrap_err();
    assert_eq!(error.http_status(), Some(503));
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(7)));
    assert!(error.message().contains("maintenance"), "{error}");
    // Ended: the failing page was asked for once, and nothing after it.
    failing.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_empty_first_page_ends_at_once() {
    let server = MockServer::start_async().await;
    let only = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/users/email-only");
            // An empty cursor with hasNextPage true: there is no page to ask for.
            then.status(200).json_body(json!({
                "records": [],
                "pageInfo": {"nextCursor": "", "hasNextPage": true, "pageSize": 2, "totalRecords": 0},
            }));
        })
        .await;
    let client = client(&server.base_url());
    let items: Vec<_> = client.users_list_email_only().stream().collect().await;
    assert!(items.is_empty());
    only.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_server_that_repeats_the_cursor_does_not_loop_forever() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/users/email-only");
            then.status(200).json_body(page(&["same@x"], Some("again")));
        })
        .await;
    let client = client(&server.base_url());
    let items: Vec<_> = client.users_list_email_only().stream().collect().await;
    // The first page, the page for "again" (which answers "again"), then the error.
    assert_eq!(items.len(), 3);
    let error = items[2].as_ref().unwrap_err();
    assert!(error.to_string().contains("again"), "{error}");
}

#[tokio::test]
async fn records_named_otherwise_by_the_overlay_stream_too() {
    // documentsAccessList calls its records `principals` (x-sdk-pagination in the overlay).
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/documents/doc-1/access-list");
            then.status(200).json_body(json!({
                "principals": [],
                "pageInfo": {"nextCursor": null, "hasNextPage": false, "pageSize": 20, "totalRecords": 0},
            }));
        })
        .await;
    let client = client(&server.base_url());
    let items: Vec<_> = client
        .documents_access_list()
        .identifier("doc-1")
        .stream()
        .collect()
        .await;
    assert!(items.is_empty(), "{items:?}");
    mock.assert_async().await;
}
