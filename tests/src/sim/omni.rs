//! Omni's endpoints: job status, AI jobs, model refresh, query run and long poll, dashboard downloads.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The job with this path id, or the error answer of the API.
pub(crate) fn omni_job(shared: &Shared, id: &str) -> Result<Arc<Job>, (StatusCode, &'static str)> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err((StatusCode::BAD_REQUEST, "Bad Request: jobId: Invalid uuid"));
    };
    shared
        .lock()
        .jobs
        .get(&id)
        .filter(|job| job.kind != JobKind::Retailgrid)
        .cloned()
        .ok_or((StatusCode::NOT_FOUND, "Job not found"))
}

pub(crate) fn schema_refresh_status(shared: &Shared, id: &str) -> Response {
    match omni_job(shared, id) {
        Ok(job)
            if job.kind == JobKind::SchemaRefresh && job.schema_job_type() == "refresh_schema" =>
        {
            json_response(StatusCode::OK, &job.schema_refresh_body(Instant::now()))
        }
        Ok(_) => Api::Omni.error(
            StatusCode::FORBIDDEN,
            "Job type not supported for status checks",
        ),
        Err((status, message)) => Api::Omni.error(status, message),
    }
}

pub(crate) fn ai_job(shared: &Shared, id: &str) -> Response {
    match omni_job(shared, id) {
        Ok(job) if job.kind == JobKind::Ai => {
            let cancelled = shared.lock().cancelled.get(&job.id).copied();
            json_response(StatusCode::OK, &job.ai_body(Instant::now(), cancelled))
        }
        Ok(_) => Api::Omni.error(StatusCode::NOT_FOUND, "Job not found"),
        Err((status, message)) => Api::Omni.error(status, message),
    }
}

/// An error answer of a start endpoint or companion, in the `{"detail", "status"}` shape
/// ([`detail_error`]); small, unlike a `Response`.
#[derive(Debug)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) detail: String,
}

impl Reject {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Reject {
            status,
            detail: detail.into(),
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub(crate) fn into_response(self) -> Response {
        detail_error(self.status, &self.detail)
    }
}

/// The request body as a JSON object, or the 400 answer.
pub(crate) fn json_object(body: Option<&[u8]>) -> Result<serde_json::Map<String, Value>, Reject> {
    match body.map(serde_json::from_slice::<Value>) {
        Some(Ok(Value::Object(fields))) => Ok(fields),
        _ => Err(Reject::bad_request(
            "Bad Request: body must be a JSON object",
        )),
    }
}

/// A body field that must be present (not `null`).
pub(crate) fn required<'a>(
    fields: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a Value, Reject> {
    fields
        .get(key)
        .filter(|value| !value.is_null())
        .ok_or_else(|| Reject::bad_request(format!("Bad Request: {key}: Required")))
}

/// A body field holding a UUID string, if present (`null` counts as absent).
pub(crate) fn optional_uuid(
    fields: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<Uuid>, Reject> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => uuid_field(value, key).map(Some),
    }
}

pub(crate) fn uuid_field(value: &Value, key: &str) -> Result<Uuid, Reject> {
    value
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| Reject::bad_request(format!("Bad Request: {key}: Invalid uuid")))
}

/// `POST /v1/models/{modelId}/refresh`.
pub(crate) fn model_refresh(
    shared: &Shared,
    model: &str,
    query: Option<&str>,
) -> Result<Response, Reject> {
    let model_id = Uuid::parse_str(model)
        .map_err(|_| Reject::bad_request("Bad Request: modelId: Invalid uuid"))?;
    let branch = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(key, _)| key == "branch_id")
        .map(|(_, value)| value.into_owned());
    if let Some(branch) = &branch {
        Uuid::parse_str(branch)
            .map_err(|_| Reject::bad_request("Bad Request: branch_id: Invalid uuid"))?;
    }
    let job = {
        let mut state = shared.lock();
        if branch.is_none() && state.branch_required.contains(&model_id) {
            return Err(Reject::bad_request(
                "branch_id is required when branch-based schema refresh is enabled",
            ));
        }
        let script = state
            .next_refresh
            .pop_front()
            .unwrap_or_else(default_started_script);
        state.start(new_job(JobKind::SchemaRefresh, script, Origin::Added))
    };
    // Only a zero-duration script is over when it starts: Omni's synchronous case.
    let status = match (job.phase(job.added), &job.script.outcome) {
        (Phase::Done, Outcome::Succeed) => "completed",
        (Phase::Done, _) => "failed",
        _ => "running",
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"jobId": job.id, "modelId": model_id, "status": status}),
    ))
}

/// `POST /v1/ai/jobs`.
pub(crate) fn ai_submit(shared: &Shared, body: Option<&[u8]>) -> Result<Response, Reject> {
    let fields = json_object(body)?;
    let model_id = uuid_field(required(&fields, "modelId")?, "modelId")?;
    let prompt = match required(&fields, "prompt")? {
        Value::String(prompt) if prompt.is_empty() => {
            return Err(Reject::bad_request(
                "Bad Request: prompt: String must contain at least 1 character(s)",
            ));
        }
        Value::String(prompt) => prompt.clone(),
        _ => return Err(Reject::bad_request("Bad Request: prompt: Expected string")),
    };
    let branch_id = optional_uuid(&fields, "branchId")?;
    let conversation = optional_uuid(&fields, "conversationId")?;
    let topic = match fields.get("topicName") {
        None | Some(Value::Null) => None,
        Some(Value::String(topic)) if topic.chars().count() <= 256 => Some(topic.clone()),
        Some(Value::String(_)) => {
            return Err(Reject::bad_request(
                "Bad Request: topicName: String must contain at most 256 character(s)",
            ));
        }
        Some(_) => {
            return Err(Reject::bad_request(
                "Bad Request: topicName: Expected string",
            ));
        }
    };
    let job = {
        let mut state = shared.lock();
        let now = Instant::now();
        if let Some(conversation) = conversation {
            let active = state.jobs.values().any(|job| {
                job.kind == JobKind::Ai
                    && job.conversation() == conversation
                    && !is_terminal(job.ai_state(now, state.cancelled.get(&job.id).copied()))
            });
            if active {
                return Err(Reject::new(
                    StatusCode::CONFLICT,
                    "An active job already exists for this conversation",
                ));
            }
        }
        let script = state
            .next_ai
            .pop_front()
            .unwrap_or_else(default_started_script);
        let origin = Origin::Ai {
            prompt,
            model_id,
            branch_id,
            topic,
        };
        let mut job = new_job(JobKind::Ai, script, origin);
        if let Some(conversation) = conversation {
            job.other_ids[0] = conversation;
        }
        state.start(job)
    };
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "conversationId": job.conversation(),
            "jobId": job.id,
            "omniChatUrl": job.chat_url(),
        }),
    ))
}

pub(crate) fn is_terminal(ai_state: &str) -> bool {
    matches!(ai_state, "COMPLETE" | "FAILED" | "CANCELLED")
}

/// The AI job of a path id and when it was cancelled, or the `{detail, status}` answer.
pub(crate) fn ai_job_for(shared: &Shared, id: &str) -> Result<(Arc<Job>, Option<Instant>), Reject> {
    let id =
        Uuid::parse_str(id).map_err(|_| Reject::bad_request("Bad Request: jobId: Invalid uuid"))?;
    let state = shared.lock();
    let job = state
        .jobs
        .get(&id)
        .filter(|job| job.kind == JobKind::Ai)
        .cloned()
        .ok_or_else(|| Reject::new(StatusCode::NOT_FOUND, "Job not found"))?;
    Ok((job, state.cancelled.get(&id).copied()))
}

/// `GET /v1/ai/jobs/{jobId}/result`.
pub(crate) fn ai_result(shared: &Shared, id: &str) -> Result<Response, Reject> {
    let (job, cancelled) = ai_job_for(shared, id)?;
    match job.ai_state(Instant::now(), cancelled) {
        "COMPLETE" => Ok(json_response(StatusCode::OK, &job.ai_result_body())),
        state => Err(Reject::new(
            StatusCode::NOT_FOUND,
            format!("Job {} is not complete (state {state})", job.id),
        )),
    }
}

/// `POST /v1/ai/jobs/{jobId}/cancel`: idempotent, 200 with the state after the attempt.
pub(crate) fn ai_cancel(shared: &Shared, id: &str) -> Result<Response, Reject> {
    let (job, _) = ai_job_for(shared, id)?;
    let mut state = shared.lock();
    // Read again under this lock: a concurrent cancel may have come first.
    let now = Instant::now();
    let current = job.ai_state(now, state.cancelled.get(&job.id).copied());
    let after = if is_terminal(current) || current == "DELIVERING" {
        current
    } else {
        state.cancelled.insert(job.id, now);
        "CANCELLED"
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"jobId": job.id, "state": after}),
    ))
}

/// `POST /v1/query/run`: see the module documentation.
pub(crate) async fn query_run(shared: &Shared, body: Option<&[u8]>) -> Result<Response, Reject> {
    let fields = json_object(body)?;
    required(&fields, "query")?;
    let stream = shared.config.query_dialect == QueryDialect::Ndjson
        && fields.get("resultType").is_none_or(Value::is_null);
    let (jobs, answer) = {
        let mut state = shared.lock();
        let run = state
            .next_query_run
            .pop_front()
            .unwrap_or_else(|| QueryRun::one(JobScript::succeed_after(DEFAULT_RUN_QUERY_DURATION)));
        let jobs: Vec<Arc<Job>> = run
            .queries
            .into_iter()
            .map(|script| state.start(new_job(JobKind::Query, script, Origin::Added)))
            .collect();
        (jobs, run.running)
    };
    if stream {
        return Ok(ndjson_run(shared, jobs));
    }
    let deadline = later(Instant::now(), shared.config.query_run_wait);
    loop {
        let now = Instant::now();
        let (finished, running): (Vec<&Arc<Job>>, Vec<&Arc<Job>>) =
            jobs.iter().partition(|job| job.finished_at() <= now);
        if running.is_empty() || now >= deadline {
            let completed: Vec<Value> = finished
                .iter()
                .map(|job| job.query_body(&shared.result_base64))
                .collect();
            let running: Vec<Uuid> = running.iter().map(|job| job.id).collect();
            let response = if running.is_empty() {
                json_response(StatusCode::OK, &json!({"completedQueries": completed}))
            } else {
                match answer {
                    RunningAnswer::Timeout408 => json_response(
                        StatusCode::REQUEST_TIMEOUT,
                        &json!({
                            "detail": "Query timed out",
                            "timed_out": true,
                            "remaining_job_ids": running,
                        }),
                    ),
                    RunningAnswer::JobIds => json_response(
                        StatusCode::OK,
                        &json!({"completedQueries": completed, "jobIds": running}),
                    ),
                }
            };
            return Ok(response);
        }
        let next = running.iter().map(|job| job.finished_at()).min();
        tokio::time::sleep_until(next.map_or(deadline, |next| next.min(deadline))).await;
    }
}

/// The properties of `DashboardsDownloadBody` (which allows no others).
pub(crate) const DOWNLOAD_BODY_KEYS: [&str; 16] = [
    "enableFormatting",
    "expandTablesToShowAllRows",
    "filterConfig",
    "format",
    "hideHiddenFields",
    "hideTitle",
    "maxRowLimit",
    "overrideRowLimit",
    "paperFormat",
    "paperOrientation",
    "queryIdentifierMapKey",
    "showContentLink",
    "showFilters",
    "singleColumnLayout",
    "useCache",
    "filename",
];

/// `POST /v1/dashboards/{identifier}/download`.
pub(crate) fn download_start(
    shared: &Shared,
    dashboard: &str,
    body: Option<&[u8]>,
) -> Result<Response, Reject> {
    const BAD_FORMAT: &str =
        "Bad Request: format: Invalid enum value. Expected 'pdf' | 'png' | 'csv' | 'xlsx' | 'json'";
    let identifier = decode_segment(dashboard);
    if identifier.is_empty() {
        return Err(Reject::new(StatusCode::NOT_FOUND, "Dashboard not found"));
    }
    let fields = json_object(body)?;
    if let Some(key) = fields
        .keys()
        .find(|key| !DOWNLOAD_BODY_KEYS.contains(&key.as_str()))
    {
        return Err(Reject::bad_request(format!(
            "Bad Request: Unrecognized key(s) in object: '{key}'"
        )));
    }
    let format = required(&fields, "format")?
        .as_str()
        .and_then(Format::parse)
        .ok_or_else(|| Reject::bad_request(BAD_FORMAT))?;
    let filename = match fields.get("filename") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if (1..=255).contains(&name.chars().count()) => {
            Some(name.clone())
        }
        Some(_) => {
            return Err(Reject::bad_request(
                "Bad Request: filename: Expected a string of 1 to 255 characters",
            ));
        }
    };
    let job = {
        let mut state = shared.lock();
        let script = state
            .next_download
            .pop_front()
            .unwrap_or_else(default_started_script);
        let origin = Origin::Download {
            identifier,
            format,
            filename,
        };
        state.start(new_job(JobKind::Download, script, origin))
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"job_id": job.id, "message": "Download job started"}),
    ))
}

/// The download job of a path id started for this dashboard, its format and file name,
/// or the 404 answer.
pub(crate) fn download_job_for(
    shared: &Shared,
    dashboard: &str,
    id: &str,
) -> Result<(Arc<Job>, Format, String), Reject> {
    let not_found = || Reject::new(StatusCode::NOT_FOUND, "Download job not found");
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let job = shared.lock().jobs.get(&id).cloned().ok_or_else(not_found)?;
    match &job.origin {
        Origin::Download {
            identifier,
            format,
            filename,
        } if job.kind == JobKind::Download && *identifier == decode_segment(dashboard) => {
            let name = format!(
                "{}.{}",
                filename.as_deref().unwrap_or("dashboard"),
                format.as_str()
            );
            let format = *format;
            Ok((job, format, name))
        }
        _ => Err(not_found()),
    }
}

/// `GET /v1/dashboards/{identifier}/download/{jobId}`.
pub(crate) fn download_file_response(
    shared: &Shared,
    dashboard: &str,
    id: &str,
) -> Result<Response, Reject> {
    let (job, format, name) = download_job_for(shared, dashboard, id)?;
    match job.download_outcome(Instant::now()) {
        Ok(false) => Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"status": "processing"}),
        )),
        Ok(true) => {
            let bytes = download_file(job.id, format.as_str(), job.script.file_size);
            Ok(file_response(bytes, format.content_type(), &name))
        }
        Err(message) => Err(Reject::new(
            StatusCode::GONE,
            format!("Download job failed: {message}"),
        )),
    }
}

/// `GET /v1/dashboards/{identifier}/download/{jobId}/status`.
pub(crate) fn download_status(
    shared: &Shared,
    dashboard: &str,
    id: &str,
) -> Result<Response, Reject> {
    let (job, _, _) = download_job_for(shared, dashboard, id)?;
    let status = match job.download_outcome(Instant::now()) {
        Ok(false) => "PROCESSING",
        Ok(true) => "COMPLETED",
        Err(_) => "FAILED",
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"job_id": job.id, "status": status}),
    ))
}

/// A 200 answering a file as an attachment, its body streamed (see the module
/// documentation).
pub(crate) fn file_response(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    // `"` and `\` would end or escape the quoted name, and header values are ASCII.
    let name: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    let mut response = Response::new(file_body(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    response
}

/// The body of a downloaded file.
pub(crate) fn file_body(bytes: Vec<u8>) -> Body {
    // A stream of 64 KiB chunks, so that a client really reads the file piece by piece.
    const CHUNK: usize = 64 * 1024;
    let chunks: Vec<Result<bytes::Bytes, std::convert::Infallible>> = bytes
        .chunks(CHUNK)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

/// An error in the `{"detail": ..., "status": N}` shape: the long poll's, and Omni's
/// `ApiError` of the AI endpoints, used by every start endpoint and companion.
pub(crate) fn detail_error(status: StatusCode, detail: &str) -> Response {
    json_response(
        status,
        &json!({"detail": detail, "status": status.as_u16()}),
    )
}

/// The asked job ids, in order without duplicates, or the `detail` of the 400 answer.
pub(crate) fn parse_job_ids(query: Option<&str>) -> Result<Vec<Uuid>, &'static str> {
    const INVALID: &str = "job_ids must be a valid JSON array of UUIDs";
    let values: Vec<String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "job_ids")
        .map(|(_, value)| value.into_owned())
        .collect();
    let value = match values.as_slice() {
        [] => return Err("job_ids parameter is required"),
        [value] if value.trim().is_empty() => return Err("job_ids parameter is required"),
        [value] => value,
        _ => return Err(INVALID),
    };
    let strings: Vec<String> = serde_json::from_str(value).map_err(|_| INVALID)?;
    if strings.is_empty() {
        return Err(INVALID);
    }
    let mut ids = Vec::with_capacity(strings.len());
    for s in &strings {
        let id = Uuid::parse_str(s).map_err(|_| INVALID)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The query jobs `ids` names, in order, or the first id that is not one. Shared by both
/// dialects of `GET /v1/query/wait`.
pub(crate) fn query_jobs(shared: &Shared, ids: &[Uuid]) -> Result<Vec<Arc<Job>>, Uuid> {
    let state = shared.lock();
    ids.iter()
        .map(|id| {
            state
                .jobs
                .get(id)
                .filter(|job| job.kind == JobKind::Query)
                .map(Arc::clone)
                .ok_or(*id)
        })
        .collect()
}

/// The documented 404 for a job id that names no query job.
pub(crate) fn query_not_found(id: Uuid) -> Response {
    detail_error(
        StatusCode::NOT_FOUND,
        &format!("Job with id {id} does not exist"),
    )
}

/// `GET /v1/query/wait`: see the module documentation.
pub(crate) async fn wait_for_query(shared: &Shared, query: Option<&str>) -> Response {
    if shared.config.query_dialect == QueryDialect::Ndjson {
        return ndjson_wait(shared, query);
    }
    let ids = match parse_job_ids(query) {
        Ok(ids) => ids,
        Err(detail) => return detail_error(StatusCode::BAD_REQUEST, detail),
    };
    let jobs = match query_jobs(shared, &ids) {
        Ok(jobs) => jobs,
        Err(id) => return query_not_found(id),
    };
    let deadline = later(Instant::now(), shared.config.long_poll_wait);
    loop {
        let now = Instant::now();
        if let Some(job) = jobs.iter().find(|job| job.finished_at() <= now) {
            let mut body = job.query_body(&shared.result_base64);
            let remaining: Vec<Uuid> = ids.iter().copied().filter(|id| *id != job.id).collect();
            if !remaining.is_empty() {
                body["remaining_job_ids"] = json!(remaining);
                body["timed_out"] = json!(true);
            }
            return json_response(StatusCode::OK, &body);
        }
        if now >= deadline {
            return json_response(
                StatusCode::OK,
                &json!({"timed_out": true, "remaining_job_ids": ids}),
            );
        }
        let next = jobs.iter().map(|job| job.finished_at()).min();
        tokio::time::sleep_until(next.map_or(deadline, |next| next.min(deadline))).await;
    }
}
