//! The query endpoints on the wire: every answer form Omni has published, read line by line
//! as it arrives, and the two forms of the `query/wait` job-id parameter.
//!
//! - The seeds (docs site): `GET /v1/query/wait?job_ids=["a","b"]`, answered by one flat
//!   JSON object (one job's result, `remaining_job_ids`, boolean `timed_out`).
//! - Omni's CLI document: the same request, answered by `{"results": [...]}`, one flat
//!   object per finished job.
//! - Omni's 2026-07-22 document: `jobIds=a,b`, answered by a `text/ndjson` stream of job
//!   lines and a footer (`remaining_job_ids`, `timed_out` as a string).
//!
//! A job counts as finished only when a line or object names it with its result, an
//! explicit status that is not a known running one, or an error: an answer that says
//! nothing about a job leaves it pending.

use std::time::Duration;

use omni_sdk::types::WaitForQueryResponse;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::FetchError;
use crate::sdk_error::fetch_error;

/// How `query/wait` is asked for its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobIdsForm {
    /// The seeds': `job_ids=["a","b"]` (one JSON array).
    JsonArray,
    /// The 2026-07-22 document's: `jobIds=a,b`.
    Comma,
}

/// Statuses Omni reports for a job that has not finished (the seeds name `PLANNED`).
const RUNNING: [&str; 7] = [
    "PLANNED",
    "PENDING",
    "QUEUED",
    "RUNNING",
    "IN_PROGRESS",
    "EXECUTING",
    "SUBMITTED",
];

/// Splits a body into JSON objects as its lines arrive: NDJSON (declared by the
/// `Content-Type`, or recognised because its first line is a whole JSON object), or one
/// JSON document, read whole.
#[derive(Debug)]
pub(crate) struct Lines {
    buf: Vec<u8>,
    declared_ndjson: bool,
    document: bool,
    objects_seen: usize,
}

/// Whether a `Content-Type` declares newline-delimited JSON.
pub(crate) fn is_ndjson(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ["ndjson", "jsonl", "json-seq", "jsonlines"]
            .iter()
            .any(|kind| ct.contains(kind))
    })
}

impl Lines {
    pub(crate) fn new(content_type: Option<&str>) -> Self {
        Lines {
            buf: Vec::new(),
            declared_ndjson: is_ndjson(content_type),
            document: false,
            objects_seen: 0,
        }
    }

    /// The objects of the lines completed by `chunk`.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Map<String, Value>>, String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        if self.document {
            return Ok(out);
        }
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf[..end].to_vec();
            match self.line(&line)? {
                Some(LineRead::Object(object)) => {
                    self.buf.drain(..=end);
                    out.push(object);
                }
                Some(LineRead::Document) => {
                    self.document = true;
                    return Ok(out);
                }
                None => {
                    self.buf.drain(..=end);
                }
            }
        }
        Ok(out)
    }

    /// The objects of what is left once the body ended.
    pub(crate) fn finish(mut self) -> Result<Vec<Map<String, Value>>, String> {
        let rest = std::mem::take(&mut self.buf);
        if self.document {
            return match serde_json::from_slice::<Value>(&rest) {
                Ok(Value::Object(object)) => Ok(vec![object]),
                Ok(Value::Array(items)) => Ok(items
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Object(o) => Some(o),
                        _ => None,
                    })
                    .collect()),
                Ok(other) => Err(format!("a JSON {} instead of an object", kind(&other))),
                Err(e) => Err(format!("neither one JSON document nor NDJSON lines: {e}")),
            };
        }
        match self.line(&rest)? {
            Some(LineRead::Object(object)) => Ok(vec![object]),
            Some(LineRead::Document) => {
                Err("a line that is not a JSON object at the end of the answer".into())
            }
            None => Ok(Vec::new()),
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<Option<LineRead>, String> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => {
                self.objects_seen += 1;
                Ok(Some(LineRead::Object(object)))
            }
            Ok(Value::Array(_)) if self.objects_seen == 0 && !self.declared_ndjson => {
                Ok(Some(LineRead::Document))
            }
            Ok(other) => Err(format!(
                "line {} of the answer is a JSON {} instead of an object",
                self.objects_seen + 1,
                kind(&other)
            )),
            Err(_) if self.objects_seen == 0 && !self.declared_ndjson => {
                Ok(Some(LineRead::Document))
            }
            Err(e) => Err(format!(
                "line {} of the NDJSON answer is not JSON: {e}",
                self.objects_seen + 1
            )),
        }
    }
}

enum LineRead {
    Object(Map<String, Value>),
    Document,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn id_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

fn ids_of(v: Option<&Value>) -> Vec<Uuid> {
    match v {
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(|id| id_text(id).trim().parse().ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// What one answer object (a flat JSON answer, an item of `results`, a job line) says
/// about the jobs that finished: `(job, final response)` for each. `asked` names the one
/// job a flat answer without `job_id` is about, when only one was asked.
pub(crate) fn finished_jobs(
    object: &Map<String, Value>,
    asked: &[Uuid],
) -> Vec<(Uuid, WaitForQueryResponse)> {
    if let Some(Value::Array(items)) = object.get("results") {
        let only = match (asked, items.len()) {
            ([one], 1) => Some(*one),
            _ => None,
        };
        return items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|item| job_line(item, only))
            .collect();
    }
    let only = match asked {
        [one] => Some(*one),
        _ => None,
    };
    job_line(object, only).into_iter().collect()
}

/// One job's report, when it says the job finished.
fn job_line(
    object: &Map<String, Value>,
    only: Option<Uuid>,
) -> Option<(Uuid, WaitForQueryResponse)> {
    let named = object.get("job_id").map(id_text);
    let id = match &named {
        Some(text) => text.trim().parse().ok()?,
        None => only?,
    };
    // The seeds' flat answer lists the other asked jobs as remaining: a job listed there
    // is still running, whatever else the object says.
    if ids_of(object.get("remaining_job_ids")).contains(&id) {
        return None;
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let status = text("status");
    let result = text("result");
    let error = text("error_message").or_else(|| match object.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| Some(Value::Object(o.clone()).to_string())),
        Some(other) => Some(other.to_string()),
    });
    let error = match (error, text("error_type")) {
        (Some(e), Some(t)) => Some(format!("{e} ({t})")),
        (e, _) => e,
    };
    if let Some(s) = &status
        && result.is_none()
        && error.is_none()
        && RUNNING.contains(&s.to_ascii_uppercase().as_str())
    {
        return None;
    }
    if status.is_none() && result.is_none() && error.is_none() {
        return None;
    }
    let map_of = |key: &str| match object.get(key) {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    let response = WaitForQueryResponse {
        cache_metadata: map_of("cache_metadata"),
        client_result_id: text("client_result_id").and_then(|s| s.parse().ok()),
        error,
        job_id: Some(id),
        query: map_of("query"),
        remaining_job_ids: Vec::new(),
        result,
        results: Vec::new(),
        status,
        stream_stats: object
            .get("stream_stats")
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
        summary: map_of("summary"),
        timed_out: Some(false),
    };
    Some((id, response))
}

/// The job ids an object announces as submitted or still running (`query/run`'s header
/// and footer, the `remaining_job_ids` of a 408).
pub(crate) fn announced_jobs(object: &Map<String, Value>) -> Vec<Uuid> {
    let mut ids = Vec::new();
    if let Some(Value::Object(jobs)) = object.get("jobs_submitted") {
        ids.extend(jobs.keys().filter_map(|k| k.trim().parse::<Uuid>().ok()));
    }
    ids.extend(ids_of(object.get("remaining_job_ids")));
    ids.extend(ids_of(object.get("jobIds")));
    ids
}

/// A request of the query endpoints that failed.
#[derive(Debug)]
pub(crate) enum WaitFailure {
    /// 400 naming the other form of the job-id parameter: ask again in that form.
    OtherForm(JobIdsForm, FetchError),
    Fetch(FetchError),
}

/// Sends `request` through the client's hooks (credentials, the query encoding and the
/// per-operation tables of `operation`) with no total timeout: the answer's headers must
/// come within `headers_within`, and while a streamed body is read, each chunk within
/// `idle`.
pub(crate) async fn send_raw(
    client: &omni_sdk::Client,
    mut request: reqwest::Request,
    operation: &'static str,
    headers_within: Duration,
) -> Result<reqwest::Response, FetchError> {
    let info = OperationInfo {
        operation_id: operation,
    };
    client
        .pre::<sdk_runtime::ApiError>(&mut request, &info)
        .await
        .map_err(|e| FetchError::permanent(format!("preparing the {operation} request: {e}")))?;
    // The body is bounded by the idle timeout of whoever reads it, not by a total.
    *request.timeout_mut() = Some(NO_TOTAL);
    // A query wait is already a retry loop charged to the shared budget, and a shared long
    // poll may run in a task of its own (outside the poller's scope): no client retries.
    let sent = sdk_runtime::retry::without_retries(client.exec(request, &info));
    match tokio::time::timeout(headers_within, sent).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => {
            let e = omni_sdk::Error::<sdk_runtime::ApiError>::CommunicationError(e);
            Err(fetch_error(&e, sdk_runtime::ErrorExt::message(&e), None))
        }
        Err(_) => Err(FetchError::transient(format!(
            "{operation}: no answer within {headers_within:?}"
        ))),
    }
}

/// Stands for "no total timeout" (reqwest's per-request timeout overrides the client's).
pub(crate) const NO_TOTAL: Duration = Duration::from_secs(7 * 24 * 3600);

/// An error answer (4xx/5xx; the `exec` hook made its body a JSON object) as the SDK's
/// error, for its message and `Retry-After`.
pub(crate) async fn error_answer(
    response: reqwest::Response,
) -> omni_sdk::Error<sdk_runtime::ApiError> {
    match omni_sdk::ResponseValue::<sdk_runtime::ApiError>::from_response::<sdk_runtime::ApiError>(
        response,
    )
    .await
    {
        Ok(rv) => omni_sdk::Error::ErrorResponse(rv),
        Err(e) => e,
    }
}

/// Reads a body chunk by chunk, each within `idle`, handing every object to `each` as
/// its line arrives.
pub(crate) async fn read_objects(
    mut response: reqwest::Response,
    idle: Duration,
    what: &str,
    each: &mut (dyn FnMut(Map<String, Value>) + Send),
) -> Result<(), FetchError> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut lines = Lines::new(content_type.as_deref());
    let unreadable = |e: String| FetchError::transient(format!("{what}: unreadable answer: {e}"));
    loop {
        let chunk = match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                return Err(FetchError::transient(format!(
                    "{what}: the answer broke off: {}",
                    e.without_url()
                )));
            }
            Err(_) => {
                return Err(FetchError::transient(format!(
                    "{what}: the answer stalled: no data for {idle:?}"
                )));
            }
        };
        for object in lines.push(&chunk).map_err(unreadable)? {
            each(object);
        }
    }
    for object in lines.finish().map_err(unreadable)? {
        each(object);
    }
    Ok(())
}

/// The `query/wait` request for `ids` in `form`.
pub(crate) fn wait_request(
    client: &omni_sdk::Client,
    ids: &[Uuid],
    form: JobIdsForm,
) -> Result<(reqwest::Request, &'static str), FetchError> {
    let url = format!("{}/v1/query/wait", client.baseurl());
    let builder = client.client().get(url).header(
        reqwest::header::ACCEPT,
        "application/json, text/ndjson, application/x-ndjson",
    );
    let (builder, operation) = match form {
        // The `pre` hook encodes the repeated keys of `wait_for_query` as one JSON array.
        JobIdsForm::JsonArray => {
            let pairs: Vec<(&str, String)> =
                ids.iter().map(|id| ("job_ids", id.to_string())).collect();
            (builder.query(&pairs), "wait_for_query")
        }
        JobIdsForm::Comma => {
            let joined = ids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",");
            (builder.query(&[("jobIds", joined)]), "query_wait")
        }
    };
    let request = builder
        .build()
        .map_err(|e| FetchError::permanent(format!("building the query wait request: {e}")))?;
    Ok((request, operation))
}

/// Whether a 400's message asks for the other form of the job-id parameter.
pub(crate) fn other_form(form: JobIdsForm, error: &FetchError) -> Option<JobIdsForm> {
    if error.status != Some(400) {
        return None;
    }
    match form {
        JobIdsForm::JsonArray if error.message.contains("jobIds") => Some(JobIdsForm::Comma),
        JobIdsForm::Comma if error.message.contains("job_ids") => Some(JobIdsForm::JsonArray),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn objects(content_type: Option<&str>, chunks: &[&str]) -> Vec<Map<String, Value>> {
        let mut lines = Lines::new(content_type);
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(lines.push(chunk.as_bytes()).unwrap());
        }
        out.extend(lines.finish().unwrap());
        out
    }

    #[test]
    fn lines_arrive_as_complete_objects_whatever_the_chunking() {
        let got = objects(None, &["{\"a\":1}\n{\"b\"", ":2}\n", "{\"c\":3}"]);
        assert_eq!(got.len(), 3);
        let pretty = objects(
            Some("application/json"),
            &["{\n  \"a\": 1,\n", "  \"b\": 2\n}\n"],
        );
        assert_eq!(pretty.len(), 1);
        assert_eq!(pretty[0]["b"], 2);
    }

    #[test]
    fn a_broken_ndjson_line_is_an_error() {
        let mut lines = Lines::new(Some("text/ndjson"));
        assert!(lines.push(b"{nope}\n").is_err());
    }

    #[test]
    fn empty_answers_and_running_statuses_finish_nothing() {
        let id = Uuid::new_v4();
        for answer in [
            serde_json::json!({}),
            serde_json::json!({"results": []}),
            serde_json::json!({"timed_out": true, "remaining_job_ids": [id]}),
            serde_json::json!({"job_id": id, "status": "PLANNED"}),
            serde_json::json!({"job_id": id, "status": "COMPLETE", "remaining_job_ids": [id]}),
        ] {
            let object = answer.as_object().unwrap();
            assert!(finished_jobs(object, &[id]).is_empty(), "{answer}");
        }
    }
}
