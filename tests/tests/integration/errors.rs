//! Error responses: every documented error status of every operation, in the body shapes
//! servers really send, plus empty, HTML, plain-text and undeclared ones, keep their status,
//! message and `Retry-After`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use httpmock::prelude::*;
use omni_sdk::ErrorExt as _;
use serde_json::{Value, json};
use uuid::Uuid;

type OmniResult = Result<(), omni_sdk::Error<omni_sdk::types::ApiError>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    JobStatus,
    AiJob,
    QueryWait,
}

const OPS: [Op; 3] = [Op::JobStatus, Op::AiJob, Op::QueryWait];

impl Op {
    fn operation_id(self) -> &'static str {
        match self {
            Op::JobStatus => "getJobStatus",
            Op::AiJob => "getAiJob",
            Op::QueryWait => "waitForQuery",
        }
    }

    /// The error statuses the task requires us to cover; checked against the spec below.
    fn documented_errors(self) -> &'static [u16] {
        match self {
            Op::JobStatus => &[400, 401, 403, 404, 429],
            Op::AiJob => &[401, 403, 404, 429],
            Op::QueryWait => &[400, 401, 404, 429],
        }
    }

    /// Restricts a mock to this operation for job `id` (each case uses a fresh id, so
    /// mocks on one server never overlap).
    fn matching(self, when: httpmock::When, id: Uuid) -> httpmock::When {
        let when = when.method(GET);
        match self {
            Op::JobStatus => when.path(format!("/v1/jobs/{id}/status")),
            Op::AiJob => when.path(format!("/v1/ai/jobs/{id}")),
            Op::QueryWait => when
                .path("/v1/query/wait")
                .query_param("job_ids", format!("[\"{id}\"]")),
        }
    }

    async fn call(self, client: &omni_sdk::Client, id: Uuid) -> OmniResult {
        match self {
            Op::JobStatus => client.get_job_status().job_id(id).send().await.map(drop),
            Op::AiJob => client.get_ai_job().job_id(id).send().await.map(drop),
            Op::QueryWait => client
                .wait_for_query()
                .job_ids(vec![id])
                .send()
                .await
                .map(drop),
        }
    }
}

/// A client that sends each request once: these tests are about how one answer decodes
/// (automatic retries have their own tests in sdk-runtime).
fn omni_client(server: &MockServer) -> omni_sdk::Client {
    omni_sdk::Client::builder()
        .base_url(server.base_url())
        .retry_policy(omni_sdk::RetryPolicy::none())
        .bearer_token("omni-error-test-token")
        .build()
        .unwrap()
}

/// Serves one response for `op` and returns the client's error (panics on success).
async fn omni_error(
    server: &MockServer,
    op: Op,
    respond: impl FnOnce(httpmock::Then) -> httpmock::Then,
) -> omni_sdk::Error<omni_sdk::types::ApiError> {
    let id = Uuid::new_v4();
    let mock = server
        .mock_async(|when, then| {
            op.matching(when, id);
            respond(then);
        })
        .await;
    let result = op.call(&omni_client(server), id).await;
    mock.assert_async().await;
    result.expect_err("an error status must be an Err")
}

/// The HTTP status of an `ErrorResponse`, or a panic naming the variant it got instead.
fn error_response_status<E: std::fmt::Debug>(err: &omni_sdk::Error<E>) -> u16 {
    match err {
        omni_sdk::Error::ErrorResponse(rv) => rv.status().as_u16(),
        other => panic!("expected Error::ErrorResponse, got {other:?}"),
    }
}

/// The 4xx/5xx statuses a spec documents for an operation.
fn spec_error_statuses(spec: &Value, operation_id: &str) -> Vec<u16> {
    let paths = spec["paths"].as_object().unwrap();
    let op = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .find(|op| op["operationId"] == operation_id)
        .unwrap_or_else(|| panic!("operation {operation_id} not in spec"));
    let mut statuses: Vec<u16> = op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|k| k.parse::<u16>().ok())
        .filter(|s| *s >= 400)
        .collect();
    statuses.sort_unstable();
    statuses
}

#[test]
fn covered_statuses_are_the_documented_ones() {
    let spec = sdk_tests::effective_spec("omni-sdk");
    for op in OPS {
        assert_eq!(
            spec_error_statuses(&spec, op.operation_id()),
            op.documented_errors(),
            "{op:?}"
        );
    }
    let spec = sdk_tests::load_spec("retailgrid.yaml");
    assert_eq!(
        spec_error_statuses(&spec, "get_job_v1_jobs__job_id__get"),
        [422]
    );
}

/// Both error body shapes Omni sends, and the text `message()` must return for each.
fn omni_bodies(status: u16) -> [(Value, String); 2] {
    let message = format!("Something went wrong ({status})");
    let detail = format!("Job with id 1 does not exist ({status})");
    [
        (
            json!({"error": status.to_string(), "message": message}),
            message,
        ),
        (json!({"detail": detail, "status": status}), detail),
    ]
}

async fn check_documented_errors(op: Op) {
    let server = MockServer::start_async().await;
    let mut cases = 0;
    for &status in op.documented_errors() {
        for (body, text) in omni_bodies(status) {
            let err = omni_error(&server, op, |then| {
                then.status(status).json_body(body.clone())
            })
            .await;
            let case = format!("{op:?} {status} {body}");
            assert_eq!(error_response_status(&err), status, "{case}");
            assert_eq!(err.http_status(), Some(status), "{case}");
            assert_eq!(err.message(), text, "{case}");
            let omni_sdk::Error::ErrorResponse(rv) = &err else {
                unreachable!()
            };
            if body.get("status").is_some() {
                assert_eq!(rv.status, Some(json!(status)), "{case}");
                assert_eq!(rv.detail, Some(json!(text)), "{case}");
            } else {
                assert_eq!(rv.error, Some(json!(status.to_string())), "{case}");
            }
            assert_eq!(err.retry_after(), None, "{case}");
            cases += 1;
        }
    }
    assert_eq!(cases, op.documented_errors().len() * 2);
}

#[tokio::test]
async fn get_job_status_documented_errors() {
    check_documented_errors(Op::JobStatus).await;
}

#[tokio::test]
async fn get_ai_job_documented_errors() {
    check_documented_errors(Op::AiJob).await;
}

#[tokio::test]
async fn wait_for_query_documented_errors() {
    check_documented_errors(Op::QueryWait).await;
}

#[tokio::test]
async fn message_prefers_message_then_detail_then_error() {
    let server = MockServer::start_async().await;
    let err = omni_error(&server, Op::JobStatus, |then| {
        then.status(403)
            .json_body(json!({"error": "Forbidden", "detail": "d", "message": "Job type not supported for status checks"}))
    })
    .await;
    assert_eq!(err.message(), "Job type not supported for status checks");
    let err = omni_error(&server, Op::JobStatus, |then| {
        then.status(400)
            .json_body(json!({"error": "Bad Request: jobId: Invalid uuid"}))
    })
    .await;
    assert_eq!(err.message(), "Bad Request: jobId: Invalid uuid");
}

#[tokio::test]
async fn empty_429_keeps_status_and_retry_after_on_every_operation() {
    let server = MockServer::start_async().await;
    for op in OPS {
        let err = omni_error(&server, op, |then| {
            then.status(429).header("Retry-After", "7")
        })
        .await;
        assert_eq!(error_response_status(&err), 429, "{op:?}");
        assert_eq!(err.http_status(), Some(429), "{op:?}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{op:?}");
        assert_eq!(err.message(), "Too Many Requests", "{op:?}");
        let headers = err.response_headers().expect("headers of the response");
        assert_eq!(headers.get("retry-after").unwrap(), "7");
    }
}

#[tokio::test]
async fn html_502_keeps_status_and_page_text() {
    let server = MockServer::start_async().await;
    let html = "<html><head><title>502 Bad Gateway</title></head>\
                <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
    for op in OPS {
        let err = omni_error(&server, op, |then| {
            then.status(502)
                .header("content-type", "text/html")
                .body(html)
        })
        .await;
        assert_eq!(error_response_status(&err), 502, "{op:?}");
        assert_eq!(err.http_status(), Some(502));
        assert!(
            err.message().contains("<h1>502 Bad Gateway</h1>"),
            "{}",
            err.message()
        );
        assert_eq!(err.message(), html);
    }
}

#[tokio::test]
async fn plain_text_503_keeps_status_and_text() {
    let server = MockServer::start_async().await;
    let err = omni_error(&server, Op::AiJob, |then| {
        then.status(503)
            .header("content-type", "text/plain; charset=utf-8")
            .header("Retry-After", "120")
            .body("upstream connect error or disconnect/reset before headers\n")
    })
    .await;
    assert_eq!(error_response_status(&err), 503);
    assert_eq!(
        err.message(),
        "upstream connect error or disconnect/reset before headers"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn undeclared_500_with_json_body() {
    let server = MockServer::start_async().await;
    for op in OPS {
        let err = omni_error(&server, op, |then| {
            then.status(500).header("x-request-id", "req-42").json_body(
                json!({"error": "Internal Server Error", "message": "database unavailable"}),
            )
        })
        .await;
        assert_eq!(error_response_status(&err), 500, "{op:?}");
        assert_eq!(err.message(), "database unavailable");
        assert_eq!(
            err.response_headers().unwrap().get("x-request-id").unwrap(),
            "req-42"
        );
    }
}

#[tokio::test]
async fn json_body_that_is_not_an_object() {
    let server = MockServer::start_async().await;
    let err = omni_error(&server, Op::QueryWait, |then| {
        then.status(400)
            .json_body(json!("job_ids must be a valid JSON array of UUIDs"))
    })
    .await;
    assert_eq!(error_response_status(&err), 400);
    assert_eq!(err.message(), "job_ids must be a valid JSON array of UUIDs");
    let err = omni_error(&server, Op::QueryWait, |then| {
        then.status(400).json_body(json!(["bad", 1]))
    })
    .await;
    assert_eq!(error_response_status(&err), 400);
    assert_eq!(err.message(), r#"["bad",1]"#);
}

#[tokio::test]
async fn huge_error_page_is_truncated() {
    let server = MockServer::start_async().await;
    let page = format!("<html>{}</html>", "é".repeat(10_000));
    let err = omni_error(&server, Op::JobStatus, |then| {
        then.status(504)
            .header("content-type", "text/html")
            .body(page.clone())
    })
    .await;
    assert_eq!(error_response_status(&err), 504);
    let message = err.message();
    assert!(message.len() <= 2048, "{} bytes", message.len());
    assert!(message.len() >= 2000, "{} bytes", message.len());
    assert!(page.starts_with(&message));
}

#[tokio::test]
async fn retry_after_as_http_date() {
    let server = MockServer::start_async().await;
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(30);
    let http_date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let err = omni_error(&server, Op::JobStatus, |then| {
        then.status(429).header("Retry-After", http_date.as_str())
    })
    .await;
    assert_eq!(err.http_status(), Some(429));
    let wait = err
        .retry_after()
        .expect("an HTTP-date Retry-After is understood");
    assert!(
        wait >= Duration::from_secs(25) && wait <= Duration::from_secs(31),
        "{wait:?} from {http_date}"
    );
}

#[tokio::test]
async fn retry_after_as_a_past_http_date_is_zero() {
    let server = MockServer::start_async().await;
    let err = omni_error(&server, Op::JobStatus, |then| {
        then.status(503)
            .header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")
    })
    .await;
    assert_eq!(err.retry_after(), Some(Duration::ZERO));
}

#[tokio::test]
async fn retry_after_ms() {
    let server = MockServer::start_async().await;
    let err = omni_error(&server, Op::AiJob, |then| {
        then.status(429).header("retry-after-ms", "1500")
    })
    .await;
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
    // retry-after-ms is the more precise of the two and wins.
    let err = omni_error(&server, Op::AiJob, |then| {
        then.status(429)
            .header("retry-after-ms", "1500")
            .header("Retry-After", "2")
    })
    .await;
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn unparsable_retry_after_is_none() {
    let server = MockServer::start_async().await;
    let err = omni_error(&server, Op::JobStatus, |then| {
        then.status(429).header("Retry-After", "soon")
    })
    .await;
    assert_eq!(err.http_status(), Some(429));
    assert_eq!(err.retry_after(), None);
}

#[tokio::test]
async fn connection_refused_has_no_status() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = omni_sdk::Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .bearer_token("t")
        .build()
        .unwrap();
    let err = Op::JobStatus
        .call(&client, Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(
        matches!(err, omni_sdk::Error::CommunicationError(_)),
        "{err:?}"
    );
    assert_eq!(err.http_status(), None);
    assert_eq!(err.retry_after(), None);
    assert!(err.response_headers().is_none());
    assert!(
        err.message().starts_with("request failed: "),
        "{}",
        err.message()
    );
}

// ---------------------------------------------------------------------------------------
// Retailgrid

mod retailgrid {
    use super::*;
    use retailgrid_sdk::types::ValidationError;

    async fn retailgrid_error(
        server: &MockServer,
        respond: impl FnOnce(httpmock::Then) -> httpmock::Then,
    ) -> retailgrid_sdk::Error<retailgrid_sdk::types::ApiError> {
        let id = Uuid::new_v4();
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("/v1/jobs/{id}"));
                respond(then);
            })
            .await;
        let client = retailgrid_sdk::Client::builder()
            .base_url(server.base_url())
            .retry_policy(retailgrid_sdk::RetryPolicy::none())
            .build()
            .unwrap();
        let result = client.get_job().job_id(id).send().await;
        mock.assert_async().await;
        result
            .map(drop)
            .expect_err("an error status must be an Err")
    }

    fn status_of<E: std::fmt::Debug>(err: &retailgrid_sdk::Error<E>) -> u16 {
        match err {
            retailgrid_sdk::Error::ErrorResponse(rv) => rv.status().as_u16(),
            other => panic!("expected Error::ErrorResponse, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn fastapi_422_validation_error() {
        let server = MockServer::start_async().await;
        let body = json!({"detail": [{"loc": ["path", "job_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}]});
        let err = retailgrid_error(&server, |then| then.status(422).json_body(body.clone())).await;
        assert_eq!(status_of(&err), 422);
        assert_eq!(err.http_status(), Some(422));
        // The text of a FastAPI body is its `detail` list, rendered as JSON.
        assert_eq!(err.message(), body["detail"].to_string());
        assert!(err.message().contains("Input should be a valid UUID"));
        let retailgrid_sdk::Error::ErrorResponse(rv) = &err else {
            unreachable!()
        };
        let detail: Vec<ValidationError> =
            serde_json::from_value(rv.detail.clone().unwrap()).unwrap();
        assert_eq!(detail.len(), 1);
        assert_eq!(detail[0].msg, "Input should be a valid UUID");
        assert_eq!(detail[0].type_, "uuid_parsing");
        assert_eq!(
            detail[0]
                .loc
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["path", "job_id"]
        );
    }

    #[tokio::test]
    async fn both_body_shapes() {
        let server = MockServer::start_async().await;
        for status in [401, 404, 422] {
            for (body, text) in omni_bodies(status) {
                let err =
                    retailgrid_error(&server, |then| then.status(status).json_body(body.clone()))
                        .await;
                assert_eq!(status_of(&err), status, "{body}");
                assert_eq!(err.message(), text, "{body}");
            }
        }
        // FastAPI's own 404.
        let err = retailgrid_error(&server, |then| {
            then.status(404).json_body(json!({"detail": "Not Found"}))
        })
        .await;
        assert_eq!(status_of(&err), 404);
        assert_eq!(err.message(), "Not Found");
    }

    #[tokio::test]
    async fn empty_429_html_502_and_retry_after() {
        let server = MockServer::start_async().await;
        let err =
            retailgrid_error(&server, |then| then.status(429).header("Retry-After", "7")).await;
        assert_eq!(status_of(&err), 429);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(err.message(), "Too Many Requests");

        let err = retailgrid_error(&server, |then| {
            then.status(502)
                .header("content-type", "text/html")
                .body("<html><body>Bad Gateway</body></html>")
        })
        .await;
        assert_eq!(status_of(&err), 502);
        assert!(
            err.message().contains("<body>Bad Gateway</body>"),
            "{}",
            err.message()
        );

        let err = retailgrid_error(&server, |then| {
            then.status(503).header("retry-after-ms", "1500").body("")
        })
        .await;
        assert_eq!(status_of(&err), 503);
        assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(err.message(), "Service Unavailable");

        let err = retailgrid_error(&server, |then| {
            then.status(500)
                .json_body(json!({"detail": "Internal Server Error"}))
        })
        .await;
        assert_eq!(status_of(&err), 500);
        assert_eq!(err.message(), "Internal Server Error");
    }
}
