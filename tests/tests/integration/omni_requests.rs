//! What the Omni client puts on the wire: method, path, headers and query encoding, for
//! every operation, checked against a local httpmock server.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use omni_sdk::types::{AiJobState, GetJobStatusResponseStatus};
use omni_sdk::{Client, ClientInfo, DEFAULT_USER_AGENT, Error, ErrorExt};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "omni-test-token-3f9a";

fn client(base_url: &str) -> Client {
    Client::builder()
        .base_url(base_url)
        .bearer_token(TOKEN)
        .build()
        .unwrap()
}

/// The headers every Omni request must carry, and the ones it must not.
fn common_headers(when: httpmock::When) -> httpmock::When {
    when.method(GET)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header_count("^authorization$", ".*", 1)
        .header("user-agent", DEFAULT_USER_AGENT)
        .header("accept", "application/json")
        .header_missing("api-version")
}

/// Records the raw (still percent-encoded) query of every request the mock sees.
fn record_raw_query(
    seen: &Arc<Mutex<Vec<Option<String>>>>,
) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    let seen = Arc::clone(seen);
    move |req: &HttpMockRequest| {
        seen.lock()
            .unwrap()
            .push(req.uri().query().map(str::to_owned));
        true
    }
}

fn ai_job_body(id: Uuid, state: &str) -> serde_json::Value {
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
        "updatedAt": "2025-01-15T10:00:00.000Z"
    })
}

#[test]
fn default_user_agent_is_crate_name_and_version() {
    let version = DEFAULT_USER_AGENT
        .strip_prefix("omni-sdk/")
        .unwrap_or_else(|| panic!("{DEFAULT_USER_AGENT}"));
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(parts.len(), 3, "{DEFAULT_USER_AGENT}");
    assert!(
        parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "{DEFAULT_USER_AGENT}"
    );
}

#[tokio::test]
async fn get_job_status_request_is_exact() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mock = server
        .mock_async(|when, then| {
            common_headers(when)
                .path(format!("/v1/jobs/{job_id}/status"))
                .is_true(record_raw_query(&seen));
            then.status(200).json_body(json!({
                "job_type": "refresh_schema",
                "job_id": job_id,
                "status": "RUNNING"
            }));
        })
        .await;

    let response = client(&server.base_url())
        .get_job_status()
        .job_id(job_id)
        .send()
        .await
        .unwrap();

    mock.assert_async().await;
    assert!(
        seen.lock().unwrap().iter().all(Option::is_none),
        "no query expected: {seen:?}"
    );
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.job_id, Some(job_id));
    assert_eq!(response.status, Some(GetJobStatusResponseStatus::Running));
    assert_eq!(response.job_type.as_deref(), Some("refresh_schema"));
}

#[tokio::test]
async fn get_job_status_keeps_statuses_the_spec_does_not_list() {
    let server = MockServer::start_async().await;
    let ids = [Uuid::new_v4(), Uuid::new_v4()];
    for (id, status) in ids.iter().zip(["IN_PROGRESS", "QUEUED_FOR_RETRY"]) {
        server
            .mock_async(|when, then| {
                when.method(GET).path(format!("/v1/jobs/{id}/status"));
                then.status(200)
                    .json_body(json!({"job_id": id, "status": status}));
            })
            .await;
    }
    let client = client(&server.base_url());
    let in_progress = client.get_job_status().job_id(ids[0]).send().await.unwrap();
    assert_eq!(
        in_progress.status,
        Some(GetJobStatusResponseStatus::InProgress)
    );
    let unknown = client.get_job_status().job_id(ids[1]).send().await.unwrap();
    assert_eq!(
        unknown.status,
        Some(GetJobStatusResponseStatus::Unknown(
            "QUEUED_FOR_RETRY".into()
        ))
    );
}

#[tokio::test]
async fn get_ai_job_request_is_exact() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mock = server
        .mock_async(|when, then| {
            common_headers(when)
                .path(format!("/v1/ai/jobs/{job_id}"))
                .is_true(record_raw_query(&seen));
            then.status(200).json_body(ai_job_body(job_id, "EXECUTING"));
        })
        .await;

    let job = client(&server.base_url())
        .get_ai_job()
        .job_id(job_id)
        .send()
        .await
        .unwrap()
        .into_inner();

    mock.assert_async().await;
    assert!(
        seen.lock().unwrap().iter().all(Option::is_none),
        "no query expected: {seen:?}"
    );
    assert_eq!(job.id, job_id);
    assert_eq!(job.state, AiJobState::Executing);
    assert_eq!(job.branch_id, None);
}

/// `["a","b"]` as `form_urlencoded` writes it (what `url::Url::query_pairs_mut` emits).
fn encoded_json_array(ids: &[Uuid]) -> String {
    let json = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>()).unwrap();
    json.replace('[', "%5B")
        .replace(']', "%5D")
        .replace('"', "%22")
        .replace(',', "%2C")
}

async fn check_wait_for_query(ids: Vec<Uuid>) {
    let server = MockServer::start_async().await;
    let expected_json = serde_json::to_string(&ids).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mock = server
        .mock_async(|when, then| {
            common_headers(when)
                .path("/v1/query/wait")
                // Decoded value is exactly the JSON array, and there is one job_ids key.
                .query_param("job_ids", expected_json.as_str())
                .query_param_count("^job_ids$", ".*", 1)
                .is_true(record_raw_query(&seen));
            then.status(200).json_body(json!({
                "timed_out": true,
                "remaining_job_ids": ids
            }));
        })
        .await;

    let response = client(&server.base_url())
        .wait_for_query()
        .job_ids(ids.clone())
        .send()
        .await
        .unwrap();

    mock.assert_async().await;
    assert_eq!(response.timed_out, Some(true));
    assert_eq!(response.remaining_job_ids, ids);

    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for raw in seen.iter() {
        let raw = raw.as_deref().expect("a query string");
        let keys: Vec<&str> = raw
            .split('&')
            .map(|pair| pair.split('=').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            ["job_ids"],
            "exactly one job_ids key, nothing else: {raw}"
        );
        assert_eq!(raw, format!("job_ids={}", encoded_json_array(&ids)));
        let decoded: Vec<(String, String)> = url_decode_pairs(raw);
        assert_eq!(decoded.len(), 1);
        let value: Vec<String> = serde_json::from_str(&decoded[0].1).unwrap();
        assert_eq!(value, ids.iter().map(Uuid::to_string).collect::<Vec<_>>());
    }
}

/// `application/x-www-form-urlencoded` decoding of a raw query, by the `url` crate.
fn url_decode_pairs(raw: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://host/?{raw}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn wait_for_query_sends_job_ids_as_one_json_array() {
    check_wait_for_query(vec![
        "a1b2c3d4-e5f6-7890-abcd-ef1234567890".parse().unwrap(),
        "b2c3d4e5-f6a7-8901-bcde-f12345678901".parse().unwrap(),
    ])
    .await;
}

#[tokio::test]
async fn wait_for_query_with_one_job_id_still_sends_an_array() {
    check_wait_for_query(vec![Uuid::new_v4()]).await;
}

#[tokio::test]
async fn wait_for_query_with_many_job_ids_keeps_their_order() {
    check_wait_for_query((0..5).map(|_| Uuid::new_v4()).collect()).await;
}

#[tokio::test]
async fn wait_for_query_with_no_job_ids_sends_an_empty_array() {
    let server = MockServer::start_async().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mock = server
        .mock_async(|when, then| {
            common_headers(when)
                .path("/v1/query/wait")
                .is_true(record_raw_query(&seen));
            then.status(200).json_body(json!({"timed_out": false}));
        })
        .await;
    let result = client(&server.base_url())
        .wait_for_query()
        .job_ids(Vec::<Uuid>::new())
        .send()
        .await;
    mock.assert_async().await;
    assert!(result.is_ok(), "{result:?}");
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for raw in seen.iter() {
        assert_eq!(
            raw.as_deref(),
            Some("job_ids=%5B%5D"),
            "an empty array is still sent"
        );
    }
}

#[tokio::test]
async fn base_url_path_prefix_is_kept() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let mock = server
        .mock_async(|when, then| {
            common_headers(when).path(format!("/api/v1/ai/jobs/{job_id}"));
            then.status(200).json_body(ai_job_body(job_id, "COMPLETE"));
        })
        .await;
    let client = client(&server.url("/api/"));
    assert_eq!(client.baseurl(), server.url("/api"));
    let job = client.get_ai_job().job_id(job_id).send().await.unwrap();
    mock.assert_async().await;
    assert_eq!(job.state, AiJobState::Complete);
}

#[tokio::test]
async fn user_agent_can_be_replaced() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1/jobs/{job_id}/status"))
                .header("user-agent", "my-pipeline/1.2")
                .header_count("^user-agent$", ".*", 1);
            then.status(200).json_body(json!({"status": "COMPLETED"}));
        })
        .await;
    let client = Client::builder()
        .base_url(server.base_url())
        .bearer_token(TOKEN)
        .user_agent("my-pipeline/1.2")
        .build()
        .unwrap();
    let status = client.get_job_status().job_id(job_id).send().await.unwrap();
    mock.assert_async().await;
    assert_eq!(status.status, Some(GetJobStatusResponseStatus::Completed));
}

#[tokio::test]
async fn request_timeout_is_applied() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v1/jobs/{job_id}/status"));
            then.status(200)
                .delay(Duration::from_secs(5))
                .json_body(json!({"status": "COMPLETED"}));
        })
        .await;
    let client = Client::builder()
        .base_url(server.base_url())
        .bearer_token(TOKEN)
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .get_job_status()
        .job_id(job_id)
        .send()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, Error::CommunicationError(e) if e.is_timeout()),
        "expected a timeout, got {err:?}"
    );
    assert_eq!(err.http_status(), None);
    assert!(
        err.message().starts_with("request failed"),
        "{}",
        err.message()
    );
}

/// `uploads_create` (`POST /v1/uploads`, a `multipart/form-data` body, generated by xtask's
/// multipart pass) against an axum server that parses the body with `multer`.
mod multipart {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Multipart, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use omni_sdk::{Error, ErrorExt, FilePart};
    use serde_json::json;
    use uuid::Uuid;

    use super::{TOKEN, client};

    /// One part as the server parsed it.
    #[derive(Debug, Clone, PartialEq)]
    struct SeenPart {
        name: String,
        file_name: Option<String>,
        content_type: Option<String>,
        bytes: Vec<u8>,
    }

    /// One request as the server saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        authorization: Option<String>,
        content_type: Option<String>,
        content_length: Option<String>,
        parts: Vec<SeenPart>,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    async fn upload(State(log): State<Log>, headers: HeaderMap, mut form: Multipart) -> Response {
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        let mut parts = Vec::new();
        while let Some(field) = form.next_field().await.unwrap() {
            parts.push(SeenPart {
                name: field.name().unwrap_or_default().to_owned(),
                file_name: field.file_name().map(str::to_owned),
                content_type: field.content_type().map(str::to_owned),
                bytes: field.bytes().await.unwrap().to_vec(),
            });
        }
        let text = |name: &str| {
            parts
                .iter()
                .find(|p| p.name == name)
                .map(|p| String::from_utf8(p.bytes.clone()).unwrap())
        };
        let view_name = text("viewName");
        let model_id = text("modelId");
        let file_name = parts
            .iter()
            .find(|p| p.name == "file")
            .and_then(|p| p.file_name.clone());
        log.lock().unwrap().push(Seen {
            authorization: header("authorization"),
            content_type: header("content-type"),
            content_length: header("content-length"),
            parts,
        });
        if view_name.as_deref() == Some("fail") {
            return (StatusCode::BAD_REQUEST, "CSV parsing failed: row 2").into_response();
        }
        let body = json!({
            "fileName": file_name.unwrap_or_default(),
            "id": "3f2a9c1e-0b7d-4e55-9a41-6c2d8e0f1a23",
            "inDbAsTableName": "users_csv",
            "modelId": model_id,
            "rowCount": 2,
            "truncated": false,
            "viewCreated": true,
            "viewName": view_name.unwrap_or_else(|| "users".into()),
        });
        (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response()
    }

    /// The server's base URL and what it saw.
    async fn server() -> (String, Log) {
        let log = Log::default();
        let app = axum::Router::new()
            .route("/v1/uploads", axum::routing::post(upload))
            .with_state(Arc::clone(&log));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), log)
    }

    const CSV: &[u8] = b"id,name\n1,Ada\n2,Grace\n";

    #[tokio::test]
    async fn uploads_create_sends_every_part_with_its_name_file_name_and_type() {
        let (base_url, log) = server().await;
        let model_id = Uuid::new_v4();
        let branch_id = Uuid::new_v4();
        let created = client(&base_url)
            .uploads_create()
            .model_id(model_id)
            .branch_id(branch_id)
            .view_name("people")
            .file(
                FilePart::bytes(CSV)
                    .file_name("users.csv")
                    .content_type("text/csv"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        assert_eq!(created.file_name, "users.csv");
        assert_eq!(created.model_id, model_id);
        assert_eq!(created.view_name, "people");
        assert_eq!(created.row_count, 2);

        let seen = log.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let seen = &seen[0];
        assert_eq!(
            seen.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
        let content_type = seen.content_type.as_deref().unwrap();
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        // Every part has a known length, so the body does too.
        assert!(seen.content_length.is_some(), "{seen:?}");
        let text = |name: &str, value: String| SeenPart {
            name: name.into(),
            file_name: None,
            content_type: None,
            bytes: value.into_bytes(),
        };
        // In property order; unset optional parts (`branchName`) are not sent.
        assert_eq!(
            seen.parts,
            [
                text("branchId", branch_id.to_string()),
                SeenPart {
                    name: "file".into(),
                    file_name: Some("users.csv".into()),
                    content_type: Some("text/csv".into()),
                    bytes: CSV.to_vec(),
                },
                text("modelId", model_id.to_string()),
                text("viewName", "people".into()),
            ]
        );
    }

    #[tokio::test]
    async fn a_streamed_file_of_unknown_length_arrives_whole_with_the_default_type() {
        let (base_url, log) = server().await;
        let chunks: Vec<Result<&'static [u8], std::io::Error>> =
            vec![Ok(b"id,name\n"), Ok(b"1,Ada\n"), Ok(b"2,Grace\n")];
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        client(&base_url)
            .uploads_create()
            .model_id(Uuid::new_v4())
            .file(FilePart::stream(body).file_name("streamed.csv"))
            .send()
            .await
            .unwrap();
        let seen = log.lock().unwrap().clone();
        let file = seen[0].parts.iter().find(|p| p.name == "file").unwrap();
        assert_eq!(file.bytes, CSV);
        assert_eq!(file.file_name.as_deref(), Some("streamed.csv"));
        assert_eq!(
            file.content_type.as_deref(),
            Some("application/octet-stream")
        );
    }

    #[tokio::test]
    async fn a_missing_required_part_fails_before_anything_is_sent() {
        let (base_url, log) = server().await;
        let err = client(&base_url)
            .uploads_create()
            .file(FilePart::bytes(CSV).file_name("users.csv"))
            .send()
            .await
            .unwrap_err();
        let Error::InvalidRequest(message) = &err else {
            panic!("expected InvalidRequest, got {err:?}");
        };
        assert!(message.contains("`modelId`"), "{message}");
        assert!(message.contains(".model_id(..)"), "{message}");
        assert!(
            err.message().starts_with("invalid request: "),
            "{}",
            err.message()
        );
        assert!(log.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_invalid_content_type_fails_before_anything_is_sent() {
        let (base_url, log) = server().await;
        let err = client(&base_url)
            .uploads_create()
            .model_id(Uuid::new_v4())
            .file(FilePart::bytes(CSV).content_type("not a mime type"))
            .send()
            .await
            .unwrap_err();
        let Error::InvalidRequest(message) = &err else {
            panic!("expected InvalidRequest, got {err:?}");
        };
        assert!(
            message.starts_with("file part `file`: invalid content type \"not a mime type\""),
            "{message}"
        );
        assert!(log.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_error_response_keeps_its_status_and_text() {
        let (base_url, log) = server().await;
        let err = client(&base_url)
            .uploads_create()
            .model_id(Uuid::new_v4())
            .view_name("fail")
            .file(FilePart::bytes(CSV).file_name("users.csv"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(400));
        assert_eq!(err.message(), "CSV parsing failed: row 2");
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[test]
    fn file_parts_debug_never_shows_the_content() {
        let part = FilePart::bytes("secret,data\n").file_name("a.csv");
        let debug = format!("{part:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("a.csv") && debug.contains("12"), "{debug}");
    }
}
