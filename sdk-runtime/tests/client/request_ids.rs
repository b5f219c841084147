//! Request ids: read from the answer, shown in `Display`.

use httpmock::prelude::*;
use reqwest::Method;
use sdk_runtime::{ErrorExt, RetryPolicy};

use crate::demo::ClientBuilder;

#[tokio::test]
async fn errors_carry_the_request_id_and_display_it() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/json");
            then.status(404)
                .header("x-request-id", "req-7f3a")
                .json_body(serde_json::json!({"detail": "no such job"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/html");
            then.status(502)
                .header("x-amzn-requestid", "amzn-42")
                .body("<h1>Bad gateway</h1>");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/none");
            then.status(400);
        })
        .await;
    let demo = ClientBuilder::default()
        .base_url(server.base_url())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let err = demo.send(Method::GET, "/json", None).await.unwrap_err();
    assert_eq!(err.request_id().as_deref(), Some("req-7f3a"));
    assert_eq!(err.message(), "no such job");
    assert!(err.to_string().contains("req-7f3a"), "{err}");

    let err = demo.send(Method::GET, "/html", None).await.unwrap_err();
    assert_eq!(err.request_id().as_deref(), Some("amzn-42"));
    assert!(err.to_string().contains("amzn-42"), "{err}");

    let err = demo.send(Method::GET, "/none", None).await.unwrap_err();
    assert_eq!(err.request_id(), None);
}
