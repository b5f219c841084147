//! The examples of the vendored specs (and hand-written Retailgrid documents) deserialise
//! into the generated types and re-serialise into equivalent JSON; unknown enum values and
//! unknown fields are kept or accepted.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use omni_sdk::types::{
    AiJob, AiJobState, ApiError, GetJobStatusResponse, GetJobStatusResponseStatus,
    WaitForQueryResponse,
};
use retailgrid_sdk::types::JobStatusResponse;
use sdk_tests::{assert_json_equivalent, effective_spec, load_spec};
use serde_json::{Value, json};

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One example of a response: `(operationId, status, example name, value)`.
type Example = (String, String, String, Value);

/// Every `responses.<status>.content.application/json.examples.*.value` of the spec, for
/// the statuses `status_filter` accepts.
fn response_examples(spec: &Value, status_filter: impl Fn(&str) -> bool) -> Vec<Example> {
    let mut out = Vec::new();
    let paths = spec["paths"].as_object().expect("spec has paths");
    for (path, item) in paths {
        for method in HTTP_METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let op_id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_owned();
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            for (status, response) in responses {
                if !status_filter(status) {
                    continue;
                }
                let Some(examples) = response
                    .pointer("/content/application~1json/examples")
                    .and_then(Value::as_object)
                else {
                    continue;
                };
                for (name, example) in examples {
                    let value = example
                        .get("value")
                        .unwrap_or_else(|| panic!("{op_id} {status} example {name} has no value"))
                        .clone();
                    out.push((op_id.clone(), status.clone(), name.clone(), value));
                }
            }
        }
    }
    out
}

/// Deserialises `$value` into `$ty`, re-serialises it, checks the result is equivalent to
/// `$value` (see `sdk_tests::json_equivalent`) and returns the typed value. A macro rather
/// than a generic function so that this crate needs no direct `serde` dependency.
macro_rules! round_trip {
    ($ty:ty, $what:expr, $value:expr) => {{
        let what: &str = &$what;
        let value: &Value = $value;
        let typed: $ty = serde_json::from_value(value.clone()).unwrap_or_else(|e| {
            panic!("{what}: does not deserialise into {}: {e}\n{value}", stringify!($ty))
        });
        let back = serde_json::to_value(&typed).unwrap();
        if let Err(difference) = sdk_tests::json_equivalent(value, &back) {
            panic!(
                "{what}: round trip changed the document: {difference}\n original: {value}\n     back: {back}"
            );
        }
        typed
    }};
}

#[test]
fn omni_success_examples_round_trip_through_generated_types() {
    let spec = effective_spec("omni-sdk");
    let examples = response_examples(&spec, |status| status == "200");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (op_id, _, name, value) in &examples {
        let what = format!("{op_id} example {name}");
        match op_id.as_str() {
            "getJobStatus" => {
                let status = round_trip!(GetJobStatusResponse, what, value);
                // Every documented example uses a named status, not `Unknown`.
                let s = status.status.expect("examples carry a status");
                assert!(
                    !s.is_unknown(),
                    "{what}: status {s:?} is not a named variant"
                );
            }
            "waitForQuery" => {
                let _ = round_trip!(WaitForQueryResponse, what, value);
            }
            "getAiJob" => {
                let job = round_trip!(AiJob, what, value);
                assert!(!job.state.is_unknown(), "{what}: state {:?}", job.state);
            }
            other => panic!("no generated type mapped for operation {other}: extend this test"),
        }
        *counts.entry(op_id.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> =
        [("getAiJob", 1), ("getJobStatus", 3), ("waitForQuery", 2)].into();
    assert_eq!(counts, expected, "examples found per operation");
    assert_eq!(examples.len(), 6);
}

#[test]
fn omni_example_values_are_read_into_the_right_fields() {
    let spec = effective_spec("omni-sdk");
    let examples = response_examples(&spec, |status| status == "200");
    let find = |op: &str, name: &str| {
        examples
            .iter()
            .find(|(o, _, n, _)| o == op && n == name)
            .map(|(_, _, _, v)| v.clone())
            .unwrap_or_else(|| panic!("example {op}/{name} not found"))
    };

    let failed: GetJobStatusResponse =
        serde_json::from_value(find("getJobStatus", "failed")).unwrap();
    assert_eq!(failed.status, Some(GetJobStatusResponseStatus::Failed));
    assert_eq!(failed.job_type.as_deref(), Some("refresh_schema"));
    assert_eq!(
        failed.job_id.unwrap().to_string(),
        "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf"
    );

    let timed_out: WaitForQueryResponse =
        serde_json::from_value(find("waitForQuery", "timedOut")).unwrap();
    assert_eq!(timed_out.timed_out, Some(true));
    assert_eq!(timed_out.remaining_job_ids.len(), 2);
    let completed: WaitForQueryResponse =
        serde_json::from_value(find("waitForQuery", "completedJob")).unwrap();
    assert_eq!(completed.status.as_deref(), Some("COMPLETE"));
    assert_eq!(completed.summary["total_rows"], json!(10));

    let queued: AiJob = serde_json::from_value(find("getAiJob", "queued")).unwrap();
    assert_eq!(queued.state, AiJobState::Queued);
    assert_eq!(queued.branch_id, None);
    assert_eq!(queued.topic_name, None);
    assert!(queued.model_id.is_some());
    assert_eq!(queued.created_at.to_rfc3339(), "2025-01-15T10:00:00+00:00");
}

#[test]
fn omni_error_examples_deserialise_into_api_error() {
    let spec = effective_spec("omni-sdk");
    let examples = response_examples(&spec, |status| {
        status.starts_with('4') || status.starts_with('5')
    });
    assert_eq!(examples.len(), 3, "error examples found: {examples:?}");
    for (op_id, status, name, value) in &examples {
        let what = format!("{op_id} {status} example {name}");
        let error = round_trip!(ApiError, what, value);
        let detail = value["detail"]
            .as_str()
            .expect("examples use {detail, status}");
        assert_eq!(error.text().as_deref(), Some(detail), "{what}");
    }
}

#[test]
fn every_documented_enum_value_is_a_named_variant() {
    let spec = effective_spec("omni-sdk");
    let job_status = spec.pointer(
        "/paths/~1v1~1jobs~1{jobId}~1status/get/responses/200/content/application~1json/schema/properties/status/enum",
    );
    let job_status = job_status
        .and_then(Value::as_array)
        .expect("job status enum");
    // The docs list RUNNING, COMPLETED, FAILED; the overlay adds the full document's
    // IN_PROGRESS.
    let values: Vec<&str> = job_status.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(values, ["RUNNING", "COMPLETED", "FAILED", "IN_PROGRESS"]);
    for value in values {
        let parsed: GetJobStatusResponseStatus = serde_json::from_value(json!(value)).unwrap();
        assert!(!parsed.is_unknown(), "{value} should be a named variant");
        assert_eq!(parsed.as_str(), value);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json!(value));
    }

    let states = spec
        .pointer("/components/schemas/AiJob/properties/state/enum")
        .and_then(Value::as_array)
        .expect("AiJob state enum");
    assert_eq!(states.len(), 6);
    for value in states {
        let value = value.as_str().unwrap();
        let parsed: AiJobState = serde_json::from_value(json!(value)).unwrap();
        assert!(!parsed.is_unknown(), "{value} should be a named variant");
        assert_eq!(parsed.as_str(), value);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json!(value));
    }
}

#[test]
fn unknown_job_status_is_kept_verbatim() {
    let original = json!({
        "job_type": "refresh_schema",
        "job_id": "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf",
        "status": "QUEUED_FOR_RETRY"
    });
    let parsed = round_trip!(GetJobStatusResponse, "unknown job status", &original);
    let status = parsed.status.clone().unwrap();
    assert_eq!(
        status,
        GetJobStatusResponseStatus::Unknown("QUEUED_FOR_RETRY".to_owned())
    );
    assert!(status.is_unknown());
    assert_eq!(status.as_str(), "QUEUED_FOR_RETRY");
    assert_eq!(status.to_string(), "QUEUED_FOR_RETRY");
    assert_eq!(
        serde_json::to_value(&parsed).unwrap()["status"],
        json!("QUEUED_FOR_RETRY")
    );
}

#[test]
fn unknown_ai_job_state_is_kept_verbatim() {
    let original = json!({
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "state": "PAUSED",
        "prompt": "What are the top 5 products by revenue?",
        "conversationId": "660e8400-e29b-41d4-a716-446655440001",
        "modelId": null,
        "branchId": null,
        "organizationId": "880e8400-e29b-41d4-a716-446655440003",
        "userId": "990e8400-e29b-41d4-a716-446655440004",
        "topicName": "order_items",
        "omniChatUrl": "https://my-org.omni.co/chat/660e8400-e29b-41d4-a716-446655440001",
        "progress": {"iteration": 2, "message": "Running query", "updatedAt": "2025-01-15T10:00:08.000Z"},
        "createdAt": "2025-01-15T10:00:00.000Z",
        "executionStartedAt": "2025-01-15T10:00:05.000Z",
        "updatedAt": "2025-01-15T10:00:08.000Z"
    });
    let job = round_trip!(AiJob, "unknown AI job state", &original);
    assert_eq!(job.state, AiJobState::Unknown("PAUSED".to_owned()));
    assert!(job.state.is_unknown());
    assert_eq!(job.state.as_str(), "PAUSED");
    assert_eq!(
        serde_json::to_value(&job).unwrap()["state"],
        json!("PAUSED")
    );
    let progress = job.progress.unwrap();
    assert_eq!(progress.iteration, 2);
    assert_eq!(progress.message, "Running query");
}

#[test]
fn failed_and_cancelled_ai_jobs_round_trip() {
    let failed = json!({
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "state": "FAILED",
        "prompt": "p",
        "conversationId": "660e8400-e29b-41d4-a716-446655440001",
        "modelId": "770e8400-e29b-41d4-a716-446655440002",
        "branchId": "aa0e8400-e29b-41d4-a716-446655440005",
        "organizationId": "880e8400-e29b-41d4-a716-446655440003",
        "userId": "990e8400-e29b-41d4-a716-446655440004",
        "topicName": null,
        "omniChatUrl": "https://my-org.omni.co/chat/1",
        "progress": null,
        "error": {"code": "QUERY_EXECUTION_ERROR", "message": "Column 'revenue' not found", "detail": "timeout"},
        "createdAt": "2025-01-15T10:00:00.000Z",
        "executionStartedAt": "2025-01-15T10:00:05.250Z",
        "completedAt": "2025-01-15T10:01:30.000Z",
        "updatedAt": "2025-01-15T10:01:30.000Z"
    });
    let job = round_trip!(AiJob, "failed AI job", &failed);
    assert_eq!(job.state, AiJobState::Failed);
    let error = job.error.unwrap();
    assert_eq!(error.code.as_deref(), Some("QUERY_EXECUTION_ERROR"));
    assert_eq!(error.message, "Column 'revenue' not found");
    assert_eq!(
        job.execution_started_at.unwrap().timestamp_subsec_millis(),
        250
    );

    let cancelled = json!({
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "state": "CANCELLED",
        "prompt": "p",
        "conversationId": "660e8400-e29b-41d4-a716-446655440001",
        "modelId": null,
        "branchId": null,
        "organizationId": "880e8400-e29b-41d4-a716-446655440003",
        "userId": "990e8400-e29b-41d4-a716-446655440004",
        "topicName": null,
        "omniChatUrl": "https://my-org.omni.co/chat/1",
        "createdAt": "2025-01-15T10:00:00.000Z",
        "cancelledAt": "2025-01-15T10:00:12.000Z",
        "cancelledBy": "990e8400-e29b-41d4-a716-446655440004",
        "updatedAt": "2025-01-15T10:00:12.000Z"
    });
    let job = round_trip!(AiJob, "cancelled AI job", &cancelled);
    assert_eq!(job.state, AiJobState::Cancelled);
    assert!(job.cancelled_at.is_some() && job.cancelled_by.is_some());
}

#[test]
fn retailgrid_spec_has_no_examples_so_documents_are_hand_written() {
    // If Retailgrid starts publishing examples, map them in this file like Omni's.
    let spec = load_spec("retailgrid.yaml");
    assert!(spec["paths"].as_object().is_some_and(|p| !p.is_empty()));
    assert_eq!(response_examples(&spec, |_| true).len(), 0);
}

fn retailgrid_documents() -> Vec<(&'static str, Value)> {
    vec![
        (
            "running, with nulls",
            json!({
                "job_id": "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf",
                "job_type": "bulk_upsert",
                "status": "running",
                "progress": 42,
                "created_at": "2025-03-01T12:00:00.000Z",
                "started_at": "2025-03-01T12:00:01.500Z",
                "completed_at": null,
                "error_message": null,
                "grid_id": "7d3b2c1a-0f9e-4d8c-b7a6-5e4d3c2b1a09",
                "related_grid_fill_job_id": null,
                "grid_items_count": null
            }),
        ),
        (
            "queued, nothing started",
            json!({
                "job_id": "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf",
                "job_type": "csv_import",
                "status": "pending",
                "progress": null,
                "created_at": "2025-03-01T12:00:00.000Z",
                "started_at": null,
                "completed_at": null,
                "error_message": null,
                "grid_id": null,
                "related_grid_fill_job_id": null,
                "grid_items_count": null
            }),
        ),
        (
            "failed, every field set, offset timestamps",
            json!({
                "job_id": "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf",
                "job_type": "bulk_upsert",
                "status": "failed",
                "progress": 100,
                "created_at": "2025-03-01T12:00:00.000Z",
                "started_at": "2025-03-01T13:00:01+01:00",
                "completed_at": "2025-03-01T12:05:00.123Z",
                "error_message": "Row 17: price must be positive",
                "grid_id": "7d3b2c1a-0f9e-4d8c-b7a6-5e4d3c2b1a09",
                "related_grid_fill_job_id": "1b2c3d4e-5f60-4718-9a0b-c1d2e3f4a5b6",
                "grid_items_count": 1200
            }),
        ),
    ]
}

#[test]
fn retailgrid_documents_round_trip() {
    let documents = retailgrid_documents();
    assert_eq!(documents.len(), 3);
    for (name, document) in &documents {
        let _ = round_trip!(JobStatusResponse, name, document);
    }
    let failed: JobStatusResponse = serde_json::from_value(documents[2].1.clone()).unwrap();
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.progress, Some(100));
    assert_eq!(failed.grid_items_count, Some(1200));
    assert_eq!(
        failed.error_message.as_deref(),
        Some("Row 17: price must be positive")
    );
    assert_eq!(
        failed.started_at.unwrap().to_rfc3339(),
        "2025-03-01T12:00:01+00:00"
    );
    assert_eq!(failed.completed_at.unwrap().timestamp_subsec_millis(), 123);
    let queued: JobStatusResponse = serde_json::from_value(documents[1].1.clone()).unwrap();
    assert_eq!(queued.progress, None);
    assert_eq!(queued.started_at, None);
}

#[test]
fn retailgrid_accepts_an_unknown_field() {
    // The published schema says `additionalProperties: false`; the SDK must not.
    let (_, mut document) = retailgrid_documents().remove(0);
    let original = document.clone();
    document["queue_position"] = json!(3);
    document["worker"] = json!({"region": "eu-west-1"});
    let parsed: JobStatusResponse = serde_json::from_value(document)
        .unwrap_or_else(|e| panic!("an extra field is rejected: {e}"));
    assert_eq!(parsed.progress, Some(42));
    // The unknown fields are dropped; everything else survives.
    assert_json_equivalent(&original, &serde_json::to_value(&parsed).unwrap());
}

#[test]
fn retailgrid_rejects_a_document_missing_a_required_field() {
    // Shows the round trip is not vacuous: required fields are enforced.
    let (_, mut document) = retailgrid_documents().remove(0);
    document.as_object_mut().unwrap().remove("created_at");
    let err = serde_json::from_value::<JobStatusResponse>(document).unwrap_err();
    assert!(err.to_string().contains("created_at"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Schema-level examples of the operations the start-and-wait workflows use
// ---------------------------------------------------------------------------------------

/// Resolves a local `$ref` (`#/components/...`) of `spec`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            let target = spec
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(spec, target)
        }
        None => schema,
    }
}

/// A document assembled from a schema's examples: the schema's own `example`, else an
/// object of its properties' examples (recursively), else a one-item array of its items'.
/// `None` when nothing under the schema has an example.
fn assemble(spec: &Value, schema: &Value) -> Option<Value> {
    let schema = resolve(spec, schema);
    if let Some(example) = schema.get("example") {
        return Some(example.clone());
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let mut object: serde_json::Map<String, Value> = properties
            .iter()
            .filter_map(|(name, property)| Some((name.clone(), assemble(spec, property)?)))
            .collect();
        if object.is_empty() {
            return None;
        }
        // A required property without an example gets the plainest value of its type.
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().expect("required names are strings");
            if !object.contains_key(name) {
                let placeholder = match resolve(spec, &properties[name])["type"].as_str() {
                    Some("string") => json!(""),
                    Some("integer" | "number") => json!(0),
                    Some("boolean") => json!(false),
                    Some("array") => json!([]),
                    _ => json!({}),
                };
                object.insert(name.to_owned(), placeholder);
            }
        }
        return Some(Value::Object(object));
    }
    if let Some(items) = schema.get("items") {
        return assemble(spec, items).map(|item| json!([item]));
    }
    None
}

/// Every field of the assembled `example` is read into the typed value: re-serialised, it
/// holds each of them with an equivalent value.
fn check_assembled<T>(what: &str, example: &Value)
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed: T = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("{what}: {example} does not deserialise: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    for (field, value) in example.as_object().expect("assembled examples are objects") {
        // A `type: number` field is an f64: `1000` comes back as `1000.0`, the same JSON
        // number (only here; elsewhere the comparison is strict on purpose).
        if let (Some(e), Some(a)) = (value.as_f64(), back[field].as_f64())
            && value.is_number()
            && e == a
        {
            continue;
        }
        if let Err(difference) = sdk_tests::json_equivalent(value, &back[field]) {
            panic!(
                "{what}: field {field} changed: {difference}\n example: {example}\n    back: {back}"
            );
        }
    }
}

#[test]
fn workflow_operations_schema_examples_deserialise_into_their_generated_types() {
    use omni_sdk::types::{
        AiJobCancelResponse, AiJobResultResponse, AiJobSubmitBody, AiJobSubmitResponse,
        DashboardsDownloadBody, DashboardsDownloadResponse, ModelsRefreshResponse, QueryRunBody,
        QueryStreamFooterLine, QueryStreamJobLine,
    };
    let spec = effective_spec("omni-sdk");
    let op = |path: &str, method: &str| spec["paths"][path][method].clone();
    let body = |o: &Value| {
        assemble(
            &spec,
            &o["requestBody"]["content"]["application/json"]["schema"],
        )
        .expect("the body schema has examples")
    };
    let response = |o: &Value, status: &str| {
        assemble(
            &spec,
            &o["responses"][status]["content"]["application/json"]["schema"],
        )
        .unwrap_or_else(|| panic!("the {status} schema has examples"))
    };
    let mut checked = 0;

    let ai_submit = op("/v1/ai/jobs", "post");
    check_assembled::<AiJobSubmitBody>("aiJobSubmit body", &body(&ai_submit));
    check_assembled::<AiJobSubmitResponse>("aiJobSubmit 201", &response(&ai_submit, "201"));
    let ai_result = op("/v1/ai/jobs/{jobId}/result", "get");
    let result = response(&ai_result, "200");
    check_assembled::<AiJobResultResponse>("aiJobResult 200", &result);
    assert_eq!(result["actions"][0]["result"]["status"], json!("success"));
    let ai_cancel = op("/v1/ai/jobs/{jobId}/cancel", "post");
    check_assembled::<AiJobCancelResponse>("aiJobCancel 200", &response(&ai_cancel, "200"));
    let download = op("/v1/dashboards/{identifier}/download", "post");
    check_assembled::<DashboardsDownloadBody>("dashboardsDownload body", &body(&download));
    check_assembled::<DashboardsDownloadResponse>(
        "dashboardsDownload 200",
        &response(&download, "200"),
    );
    let run = op("/v1/query/run", "post");
    check_assembled::<QueryRunBody>("queryRun body", &body(&run));
    // The 200 is an NDJSON stream (read by poll-helpers); its published line types are
    // generated, and their examples read into them.
    let line = |name: &str| {
        assemble(
            &spec,
            &json!({"$ref": format!("#/components/schemas/{name}")}),
        )
        .unwrap_or_else(|| panic!("{name} has examples"))
    };
    check_assembled::<QueryStreamJobLine>("queryRun job line", &line("QueryStreamJobLine"));
    check_assembled::<QueryStreamFooterLine>("queryRun footer", &line("QueryStreamFooterLine"));
    checked += 9;

    // Every error example of these operations reads as the one ApiError, text included.
    for (name, o) in [
        ("aiJobSubmit", &ai_submit),
        ("aiJobResult", &ai_result),
        ("aiJobCancel", &ai_cancel),
        ("queryRun", &run),
    ] {
        for (status, _) in o["responses"].as_object().unwrap() {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let Some(example) = assemble(
                &spec,
                &o["responses"][status]["content"]["application/json"]["schema"],
            ) else {
                continue;
            };
            check_assembled::<ApiError>(&format!("{name} {status}"), &example);
            let error: ApiError = serde_json::from_value(example.clone()).unwrap();
            assert!(error.text().is_some(), "{name} {status}: {example}");
            checked += 1;
        }
    }
    // The 408 of queryRun keeps what it says about the run in ApiError's extra fields.
    let timeout: ApiError = serde_json::from_value(response(&run, "408")).unwrap();
    assert_eq!(timeout.extra["timed_out"], json!(true));

    // Path and query parameter examples parse as the generated setters' types.
    let refresh = op("/v1/models/{modelId}/refresh", "post");
    for parameter in refresh["parameters"].as_array().unwrap() {
        // The ids (the 2026-07-22 document adds a boolean `hard_refresh`).
        if !parameter["name"].as_str().unwrap().ends_with("Id") {
            continue;
        }
        let example = parameter["schema"]["example"].as_str().unwrap();
        example
            .parse::<uuid::Uuid>()
            .unwrap_or_else(|e| panic!("modelsRefresh {}: {example}: {e}", parameter["name"]));
        checked += 1;
    }
    // modelsRefresh documents no response example: a hand-written one per documented
    // status value (the full document's lower-case ones).
    for status in ["running", "completed", "failed"] {
        let doc = json!({"jobId": "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf",
                         "modelId": "123e4567-e89b-12d3-a456-426614174000", "status": status});
        let parsed = round_trip!(
            ModelsRefreshResponse,
            format!("modelsRefresh {status}"),
            &doc
        );
        assert!(!parsed.status.is_unknown(), "{status}");
    }
    assert_eq!(checked, 9 + 14 + 2, "examples checked");
}
