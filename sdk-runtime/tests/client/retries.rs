//! Automatic retries: which methods, which answers, how long, and how they are reported.

use std::time::{Duration, Instant};

use httpmock::prelude::*;
use reqwest::Method;
use sdk_runtime::{ErrorExt, RetryPolicy};

use crate::demo::{ClientBuilder, Demo, capture_logs, ms};

fn client(server: &MockServer, policy: RetryPolicy) -> Demo {
    ClientBuilder::default()
        .base_url(server.base_url())
        .bearer_token("not-a-real-token")
        .retry_policy(policy)
        .build()
        .unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy::default().backoff(ms(10), ms(40))
}

#[tokio::test]
async fn a_get_is_retried_after_a_503_and_gets_the_200() {
    let server = MockServer::start_async().await;
    let unavailable = server
        .mock_async(|when, then| {
            when.method(GET).path("/thing");
            then.status(503);
        })
        .await;
    // Only once the 503 was answered does the server recover (the backoff is >= 150 ms).
    let recovered = {
        let server = &server;
        let unavailable = &unavailable;
        async move {
            while unavailable.calls_async().await == 0 {
                tokio::time::sleep(ms(5)).await;
            }
            unavailable.delete_async().await;
            server
                .mock_async(|when, then| {
                    when.method(GET).path("/thing");
                    then.status(200).json_body(serde_json::json!({"ok": true}));
                })
                .await
        }
    };
    let demo = client(&server, RetryPolicy::default().backoff(ms(300), ms(300)));
    let (answer, ok) = tokio::join!(demo.send(Method::GET, "/thing", None), recovered);
    let answer = answer.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-sdk-attempts"], "2");
    assert_eq!(ok.calls_async().await, 1);
}

#[tokio::test]
async fn attempts_run_out_after_three_and_are_counted_and_logged() {
    let server = MockServer::start_async().await;
    let unavailable = server
        .mock_async(|when, then| {
            when.method(GET).path("/thing");
            then.status(503).header("x-request-id", "req-503");
        })
        .await;
    let (logs, _guard) = capture_logs();
    let err = client(&server, fast())
        .send(Method::GET, "/thing", None)
        .await
        .unwrap_err();
    assert_eq!(unavailable.calls_async().await, 3);
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(err.attempts(), Some(3));
    assert!(err.to_string().contains("x-sdk-attempts"), "{err}");
    let logs = logs.text();
    assert_eq!(logs.matches("retrying").count(), 2, "{logs}");
    assert!(
        logs.contains("attempt=1") && logs.contains("attempt=2"),
        "{logs}"
    );
}

#[tokio::test]
async fn post_and_patch_are_never_retried_put_and_delete_only_when_asked() {
    let server = MockServer::start_async().await;
    let unavailable = server
        .mock_async(|_, then| {
            then.status(503);
        })
        .await;
    let demo = client(&server, fast().idempotent_writes(true));
    for method in [Method::POST, Method::PATCH] {
        let err = demo
            .send(method.clone(), "/x", Some(serde_json::json!({"a": 1})))
            .await
            .unwrap_err();
        assert_eq!(err.attempts(), None, "{method}");
    }
    assert_eq!(unavailable.calls_async().await, 2);

    let by_default = client(&server, fast());
    for method in [Method::PUT, Method::DELETE] {
        by_default.send(method, "/x", None).await.unwrap_err();
    }
    assert_eq!(unavailable.calls_async().await, 4);

    let err = demo
        .send(Method::PUT, "/x", Some(serde_json::json!({"a": 1})))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), Some(3));
    assert_eq!(unavailable.calls_async().await, 7);
}

#[tokio::test]
async fn other_errors_are_not_retried() {
    let server = MockServer::start_async().await;
    let broken = server
        .mock_async(|_, then| {
            then.status(500);
        })
        .await;
    let err = client(&server, fast())
        .send(Method::GET, "/x", None)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(500));
    assert_eq!(broken.calls_async().await, 1);
}

#[tokio::test]
async fn retry_after_is_honoured_in_seconds_and_milliseconds() {
    let server = MockServer::start_async().await;
    let ms_mock = server
        .mock_async(|when, then| {
            when.path("/ms");
            then.status(429).header("retry-after-ms", "300");
        })
        .await;
    let secs_mock = server
        .mock_async(|when, then| {
            when.path("/secs");
            then.status(503).header("retry-after", "1");
        })
        .await;
    // The backoff alone would be 1 ms: only Retry-After explains the waits.
    let demo = client(
        &server,
        RetryPolicy::default().max_attempts(2).backoff(ms(1), ms(1)),
    );

    let started = Instant::now();
    let err = demo.send(Method::GET, "/ms", None).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.attempts(), Some(2));
    assert_eq!(ms_mock.calls_async().await, 2);
    assert!((ms(300)..ms(2000)).contains(&took), "{took:?}");

    let started = Instant::now();
    demo.send(Method::GET, "/secs", None).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(secs_mock.calls_async().await, 2);
    assert!((ms(1000)..ms(3000)).contains(&took), "{took:?}");
}

#[tokio::test]
async fn a_retry_after_past_the_timeout_ends_the_retries_at_once() {
    let server = MockServer::start_async().await;
    let busy = server
        .mock_async(|when, then| {
            when.path("/x");
            then.status(503).header("retry-after", "5");
        })
        .await;
    let demo = ClientBuilder::default()
        .base_url(server.base_url())
        .timeout(ms(800))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert!(started.elapsed() < ms(700), "{:?}", started.elapsed());
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(err.attempts(), None);
    assert_eq!(busy.calls_async().await, 1);

    // The operation's own timeout (1 s) is the budget when it has one: a 2 s wait is past
    // it although the client's timeout (10 s) is not.
    let slow = server
        .mock_async(|when, then| {
            when.path("/slow");
            then.status(503).header("retry-after", "2");
        })
        .await;
    let demo = ClientBuilder::default()
        .base_url(server.base_url())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    demo.send_as("slow", Method::GET, "/slow", None)
        .await
        .unwrap_err();
    assert!(started.elapsed() < ms(1500), "{:?}", started.elapsed());
    assert_eq!(slow.calls_async().await, 1);
}

#[tokio::test]
async fn retry_policy_none_sends_once() {
    let server = MockServer::start_async().await;
    let busy = server
        .mock_async(|_, then| {
            then.status(429);
        })
        .await;
    let err = client(&server, RetryPolicy::none())
        .send(Method::GET, "/x", None)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(429));
    assert_eq!(busy.calls_async().await, 1);
}

#[tokio::test]
async fn without_retries_sends_once_whatever_the_policy() {
    let server = MockServer::start_async().await;
    let busy = server
        .mock_async(|_, then| {
            then.status(503);
        })
        .await;
    let demo = client(&server, fast());
    sdk_runtime::retry::without_retries(demo.send(Method::GET, "/x", None))
        .await
        .unwrap_err();
    assert_eq!(busy.calls_async().await, 1);
    // Outside the scope the policy applies again.
    demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert_eq!(busy.calls_async().await, 4);
}

#[tokio::test]
async fn connection_errors_are_retried_for_gets() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let demo = ClientBuilder::default()
        .base_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(fast())
        .build()
        .unwrap();
    let (logs, _guard) = capture_logs();
    let err = demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert!(
        matches!(err, progenitor_client::Error::CommunicationError(_)),
        "{err}"
    );
    let text = logs.text();
    assert_eq!(
        text.matches("retrying after a connection error").count(),
        2,
        "{text}"
    );

    let (logs, _guard) = capture_logs();
    demo.send(Method::POST, "/x", None).await.unwrap_err();
    let text = logs.text();
    assert!(!text.contains("retrying"), "{text}");
}
