//! Start-and-wait workflows for Omni: one call that starts a job and waits for its result.
//! Re-exported from [`crate::omni`], where the module documentation explains them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use omni_sdk::ErrorExt;
use omni_sdk::types::{
    AiJob, AiJobResultResponse, AiJobState, AiJobSubmitBody, AiJobSubmitResponse,
    DashboardsDownloadBody, GetJobStatusResponse, ModelsRefreshResponse,
    ModelsRefreshResponseStatus, QueryRunBody, WaitForQueryResponse,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

use crate::error::{FetchError, FetchErrorKind};
use crate::omni::{
    MIN_POLL_INTERVAL, QueryResult, floor_warning, job_status_error, long_poll, shared_budget,
};
use crate::policy::PollPolicy;
use crate::poller::Poller;
use crate::sdk_error::fetch_error;
use crate::snapshot::{Phase, Snapshot};

type SdkError = omni_sdk::Error<omni_sdk::types::ApiError>;

/// How a failed start request is reported. The request is not idempotent (a retry after a
/// timeout or a 5xx could start a second job), so every failure is permanent, except a 429:
/// a rejected request started nothing and is retried after `Retry-After`.
fn start_error(what: &str, e: &SdkError) -> FetchError {
    let error = fetch_error(e, e.message(), e.retry_after());
    if error.status == Some(429) {
        return error;
    }
    let retry_note = match error.kind {
        FetchErrorKind::Transient => {
            " (not retried: a second start request could start a second job)"
        }
        _ => "",
    };
    FetchError {
        kind: FetchErrorKind::Permanent,
        message: format!("starting the {what} failed: {}{retry_note}", error.message),
        ..error
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Parses a job id Omni sent as a string; a malformed one ends the wait (there is nothing
/// to poll), with the id in the message so that the job can still be found.
fn parse_job_id(what: &str, id: &str) -> Result<Uuid, FetchError> {
    id.parse().map_err(|_| {
        FetchError::permanent(format!(
            "Omni started the {what} but answered a job id that is not a UUID: {id:?}"
        ))
    })
}

// -----------------------------------------------------------------------------------------
// Schema refresh
// -----------------------------------------------------------------------------------------

/// A schema refresh started by [`refresh_schema`]: the start response, then the latest
/// status.
///
/// ```
/// # fn show(r: &poll_helpers::omni::SchemaRefresh) {
/// println!("job {} of model {}: {:?}", r.job_id, r.model_id, r.status);
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SchemaRefresh {
    /// The refresh job: persist it to resume with [`crate::omni::wait_for_job`].
    pub job_id: Uuid,
    /// The model being refreshed.
    pub model_id: Uuid,
    /// What the start request answered (`running`, or `completed`/`failed` when the
    /// refresh finished synchronously).
    pub started: ModelsRefreshResponse,
    /// The latest `GET /v1/jobs/{jobId}/status`, once polled.
    pub status: Option<GetJobStatusResponse>,
}

impl Snapshot for SchemaRefresh {
    /// The latest status's phase (see [`GetJobStatusResponse`]'s); before the first poll,
    /// the start response's: `completed` succeeded, `failed` failed, anything else pending.
    fn phase(&self) -> Phase {
        if let Some(status) = &self.status {
            return status.phase();
        }
        match &self.started.status {
            ModelsRefreshResponseStatus::Completed => Phase::Succeeded,
            ModelsRefreshResponseStatus::Failed => {
                Phase::Failed("schema refresh reported failed when started".into())
            }
            ModelsRefreshResponseStatus::Unknown(s) => match s.to_ascii_uppercase().as_str() {
                "COMPLETED" | "COMPLETE" => Phase::Succeeded,
                "FAILED" => Phase::Failed(format!("schema refresh reported {s} when started")),
                _ => Phase::Pending,
            },
            ModelsRefreshResponseStatus::Running => Phase::Pending,
        }
    }
}

/// Starts a schema refresh of `model_id` (`POST /v1/models/{modelId}/refresh`) and waits
/// for it through the job-status endpoint.
///
/// `branch_id` is required by Omni when branch-based schema refresh is enabled for the
/// model. The first event carries the job id as soon as the job exists. The start request
/// is sent once: a timeout or 5xx on it ends the wait with [`crate::PollError::Request`]
/// (a retry could start a second refresh); only a 429 is retried.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use poll_helpers::omni;
/// let client = omni_sdk::Client::from_env()?;
/// let model_id = "123e4567-e89b-12d3-a456-426614174000".parse()?;
/// let refresh = omni::refresh_schema(&client, model_id, None, &omni::default_policy()).await?;
/// println!("refresh {} done", refresh.job_id);
/// # Ok(()) }
/// ```
pub fn refresh_schema<'a>(
    client: &'a omni_sdk::Client,
    model_id: Uuid,
    branch_id: Option<Uuid>,
    policy: &PollPolicy,
) -> Poller<'a, SchemaRefresh> {
    floor_warning(policy);
    let state: Arc<Mutex<Option<SchemaRefresh>>> = Arc::new(Mutex::new(None));
    Poller::new(policy.clone(), move || {
        let state = Arc::clone(&state);
        async move {
            let current = lock(&state).clone();
            let Some(mut refresh) = current else {
                let mut request = client.models_refresh().model_id(model_id);
                if let Some(branch) = branch_id {
                    request = request.branch_id(branch);
                }
                let started = request
                    .send()
                    .await
                    .map_err(|e| start_error("schema refresh", &e))?
                    .into_inner();
                let job_id = parse_job_id("schema refresh", &started.job_id)?;
                let refresh = SchemaRefresh {
                    job_id,
                    model_id,
                    started,
                    status: None,
                };
                *lock(&state) = Some(refresh.clone());
                return Ok(refresh);
            };
            let status = client
                .get_job_status()
                .job_id(refresh.job_id)
                .send()
                .await
                .map_err(|e| job_status_error(&e))?
                .into_inner();
            refresh.status = Some(status);
            *lock(&state) = Some(refresh.clone());
            Ok(refresh)
        }
    })
    .job_id(format!("refresh of model {model_id}"))
    .kind("omni schema refresh")
    .min_interval(MIN_POLL_INTERVAL)
    .rate_budget(shared_budget(client))
}

// -----------------------------------------------------------------------------------------
// Query run
// -----------------------------------------------------------------------------------------

/// A query run started by [`run_query`]: one [`QueryResult`] per query job, finished or
/// not, in the order Omni named them (queries completed synchronously first).
///
/// ```
/// # fn show(run: &poll_helpers::omni::QueryRun) {
/// for r in &run.results {
///     println!("{}: finished {}", r.job_id, r.is_finished());
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct QueryRun {
    /// Every query of the run. A query completed synchronously whose result does not name
    /// its job has the nil UUID as `job_id`.
    pub results: Vec<QueryResult>,
    /// Whether the start request has been answered (the results are then complete).
    pub started: bool,
}

impl QueryRun {
    /// The ids of the query jobs still running.
    ///
    /// ```
    /// let run = poll_helpers::omni::QueryRun::default();
    /// assert!(run.pending_job_ids().is_empty());
    /// ```
    pub fn pending_job_ids(&self) -> Vec<Uuid> {
        self.results
            .iter()
            .filter(|r| !r.is_finished())
            .map(|r| r.job_id)
            .collect()
    }
}

impl Snapshot for QueryRun {
    /// Failed when a finished query reports a failure status; succeeded when every query
    /// finished; otherwise pending and re-asked at once (the long poll is the wait).
    fn phase(&self) -> Phase {
        if let Some(reason) = self.results.iter().find_map(QueryResult::failure) {
            return Phase::Failed(reason);
        }
        if self.started && self.results.iter().all(QueryResult::is_finished) {
            Phase::Succeeded
        } else {
            Phase::Pending
        }
    }

    fn progress(&self) -> Option<f64> {
        let total = self.results.len();
        (total > 0)
            .then(|| self.results.iter().filter(|r| r.is_finished()).count() as f64 / total as f64)
    }

    fn poll_again_after(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

/// One synchronously completed query of a run (an item of `completedQueries`).
fn completed_query(value: serde_json::Value) -> Result<QueryResult, FetchError> {
    let response: WaitForQueryResponse = serde_json::from_value(value).map_err(|e| {
        FetchError::permanent(format!(
            "a completed query of the run is not a query result: {e}"
        ))
    })?;
    Ok(QueryResult {
        job_id: response.job_id.unwrap_or_default(),
        response: Some(response),
    })
}

fn pending_query(id: Uuid) -> QueryResult {
    QueryResult {
        job_id: id,
        response: None,
    }
}

/// Runs a query (`POST /v1/query/run`) and waits for every query job it starts.
///
/// Queries that complete within Omni's synchronous window come back in the first event;
/// the others (the response's `jobIds`, or the `remaining_job_ids` of a 408 timeout
/// answer) are waited for through the `/v1/query/wait` long poll, as in
/// [`crate::omni::wait_for_queries`]. The start request is sent once: a timeout or 5xx on
/// it ends the wait with [`crate::PollError::Request`]; only a 429 is retried. With the
/// `arrow` feature of `omni-sdk`, each result decodes with
/// `omni_sdk::arrow::decode_result`.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use poll_helpers::omni;
/// let client = omni_sdk::Client::from_env()?;
/// let body = omni_sdk::types::QueryRunBody::builder()
///     .query(serde_json::json!({"modelId": "...", "table": "order_items", "fields": ["order_items.count"]}));
/// let run = omni::run_query(&client, body.try_into()?, &omni::default_policy()).await?;
/// for r in &run.results {
///     println!("{}: {} bytes of base64 Arrow", r.job_id, r.result_base64().map_or(0, str::len));
/// }
/// # Ok(()) }
/// ```
pub fn run_query<'a>(
    client: &'a omni_sdk::Client,
    body: QueryRunBody,
    policy: &PollPolicy,
) -> Poller<'a, QueryRun> {
    floor_warning(policy);
    let state = Arc::new(Mutex::new(QueryRun::default()));
    let body = Arc::new(body);
    Poller::new(policy.clone(), move || {
        let state = Arc::clone(&state);
        let body = Arc::clone(&body);
        async move {
            let started = lock(&state).started;
            if !started {
                let run = start_query_run(client, &body).await?;
                *lock(&state) = run.clone();
                return Ok(run);
            }
            let pending = lock(&state).pending_job_ids();
            if pending.is_empty() {
                return Ok(lock(&state).clone());
            }
            let response = long_poll(client, &pending).await?;
            let mut run = lock(&state);
            let mut map = run
                .results
                .iter()
                .filter(|r| !r.is_finished())
                .map(|r| (r.job_id, r.clone()))
                .collect();
            crate::omni::merge(&mut map, &pending, response);
            for r in &mut run.results {
                if let Some(updated) = map.get(&r.job_id)
                    && !r.is_finished()
                {
                    *r = updated.clone();
                }
            }
            Ok(run.clone())
        }
    })
    .job_id("query run")
    .kind("omni query run")
    .min_interval(MIN_POLL_INTERVAL)
    .rate_budget(shared_budget(client))
}

/// What a `POST /v1/query/run` answer says: the finished queries (in the flat shape of
/// `WaitForQueryResponse`) and the job ids still to wait for.
#[derive(Debug, Default)]
struct RunAnswer {
    completed: Vec<serde_json::Value>,
    pending: Vec<String>,
}

/// Reads the two forms Omni has published for the query/run answer: one JSON object
/// `{completedQueries, jobIds}` (the CLI's document) or the `text/ndjson` stream of the
/// 2026-07-22 document — a `jobs_submitted` header, one line per finished job (`job_id`,
/// `status`, base64 Arrow `result` or `error_message`), a footer whose
/// `remaining_job_ids` are still running. Submitted jobs that no line reports on stay
/// pending.
fn read_run_answer(body: &[u8]) -> Result<RunAnswer, FetchError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        FetchError::permanent(format!(
            "the query run's answer is neither a JSON object nor NDJSON lines: {e}"
        ))
    };
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
        && !(map.contains_key("jobs_submitted") || map.contains_key("remaining_job_ids"))
        && !map.contains_key("job_id")
    {
        let completed = match map.get("completedQueries") {
            Some(serde_json::Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let pending = match map.get("jobIds") {
            Some(serde_json::Value::Array(ids)) => ids.iter().map(id_text).collect(),
            _ => Vec::new(),
        };
        return Ok(RunAnswer { completed, pending });
    }
    let text = std::str::from_utf8(body).map_err(|e| unreadable(&e))?;
    let mut answer = RunAnswer::default();
    let mut submitted: Vec<String> = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| unreadable(&e))?;
        if let Some(jobs) = value.get("jobs_submitted").and_then(|j| j.as_object()) {
            submitted.extend(jobs.keys().cloned());
        } else if let Some(remaining) = value.get("remaining_job_ids").and_then(|r| r.as_array()) {
            answer.pending.extend(remaining.iter().map(id_text));
        } else if let Some(job_id) = value.get("job_id") {
            reported.push(id_text(job_id));
            let mut flat = serde_json::Map::new();
            flat.insert("job_id".into(), job_id.clone());
            for key in ["status", "result"] {
                if let Some(v) = value.get(key) {
                    flat.insert(key.into(), v.clone());
                }
            }
            let error = value
                .get("error_message")
                .and_then(|e| e.as_str())
                .map(str::to_owned)
                .or_else(|| {
                    value
                        .get("error")
                        .filter(|e| !e.is_null())
                        .map(|e| e.to_string())
                });
            if let Some(error) = error {
                flat.insert("error".into(), serde_json::Value::String(error));
            }
            answer.completed.push(serde_json::Value::Object(flat));
        }
    }
    for id in submitted {
        if !reported.contains(&id) && !answer.pending.contains(&id) {
            answer.pending.push(id);
        }
    }
    Ok(answer)
}

fn id_text(v: &serde_json::Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

async fn start_query_run(
    client: &omni_sdk::Client,
    body: &QueryRunBody,
) -> Result<QueryRun, FetchError> {
    let mut results = Vec::new();
    let pending_ids: Vec<String> = match client.query_run().body(body.clone()).send().await {
        Ok(response) => {
            let mut stream = response.into_inner();
            let mut body = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    FetchError::transient(format!(
                        "reading the query run's answer failed (the run started; not retried): {e}"
                    ))
                })?;
                body.extend_from_slice(&chunk);
            }
            let answer = read_run_answer(&body)?;
            for value in answer.completed {
                results.push(completed_query(value)?);
            }
            answer.pending
        }
        // The documented timeout: the run goes on, and `remaining_job_ids` names its jobs.
        Err(omni_sdk::Error::ErrorResponse(rv)) if rv.status().as_u16() == 408 => {
            let ids = rv.extra.get("remaining_job_ids").and_then(|v| v.as_array());
            match ids {
                Some(ids) => ids.iter().map(id_text).collect(),
                None => {
                    return Err(FetchError {
                        kind: FetchErrorKind::Permanent,
                        status: Some(408),
                        retry_after: None,
                        message: format!(
                            "the query run timed out and Omni named no remaining job to wait for (server said: {})",
                            rv.text().unwrap_or_default()
                        ),
                        request_id: None,
                    }
                    .with_request_id(sdk_runtime::request_id(rv.headers())));
                }
            }
        }
        Err(e) => return Err(start_error("query run", &e)),
    };
    for id in pending_ids {
        let id = parse_job_id("query run", &id)?;
        if !results.iter().any(|r| r.job_id == id) {
            results.push(pending_query(id));
        }
    }
    Ok(QueryRun {
        results,
        started: true,
    })
}

// -----------------------------------------------------------------------------------------
// AI jobs
// -----------------------------------------------------------------------------------------

/// An AI job started by [`ask_ai`]: the submit response, the latest status, and the result
/// once the job completed.
///
/// ```
/// # fn show(a: &poll_helpers::omni::AiAnswer) {
/// if let Some(result) = &a.result {
///     println!("{}", result.message.as_deref().unwrap_or_default());
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AiAnswer {
    /// `jobId`, `conversationId` and `omniChatUrl`: persist the job id to resume with
    /// [`crate::omni::wait_for_ai_job`] or to [`cancel_ai_job`].
    pub submitted: AiJobSubmitResponse,
    /// The latest `GET /v1/ai/jobs/{jobId}`, once polled.
    pub job: Option<AiJob>,
    /// `GET /v1/ai/jobs/{jobId}/result`, fetched as soon as the job is COMPLETE.
    pub result: Option<AiJobResultResponse>,
}

impl AiAnswer {
    /// The AI job's id.
    ///
    /// ```
    /// # fn show(a: &poll_helpers::omni::AiAnswer) { println!("{}", a.job_id()); }
    /// ```
    pub fn job_id(&self) -> Uuid {
        self.submitted.job_id
    }

    /// The answer as markdown: the result's `message`, else its `resultSummary`, else the
    /// job's `resultSummary`.
    ///
    /// ```
    /// # fn show(a: &poll_helpers::omni::AiAnswer) { println!("{}", a.markdown().unwrap_or("(no answer)")); }
    /// ```
    pub fn markdown(&self) -> Option<&str> {
        let result = self.result.as_ref();
        result
            .and_then(|r| r.message.as_deref())
            .or_else(|| result.and_then(|r| r.result_summary.as_deref()))
            .or_else(|| self.job.as_ref().and_then(|j| j.result_summary.as_deref()))
    }
}

impl Snapshot for AiAnswer {
    /// Succeeded once the result is fetched; FAILED and CANCELLED failed (see [`AiJob`]'s
    /// phase); anything else pending.
    fn phase(&self) -> Phase {
        if self.result.is_some() {
            return Phase::Succeeded;
        }
        match self.job.as_ref().map(Snapshot::phase) {
            Some(Phase::Failed(reason)) => Phase::Failed(reason),
            _ => Phase::Pending,
        }
    }
}

/// Submits an AI job (`POST /v1/ai/jobs`), waits for a terminal state, and fetches its
/// result (`GET /v1/ai/jobs/{jobId}/result`) in the same poll that sees COMPLETE.
///
/// The first event carries the job id. The submit request is sent once: a timeout or 5xx
/// on it ends the wait with [`crate::PollError::Request`]; only a 429 is retried. Dropping
/// the wait cancels nothing on the server: call [`cancel_ai_job`] for that.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use poll_helpers::omni;
/// let client = omni_sdk::Client::from_env()?;
/// let body = omni_sdk::types::AiJobSubmitBody::builder()
///     .model_id(uuid::Uuid::parse_str("770e8400-e29b-41d4-a716-446655440002")?)
///     .prompt("What are the top 5 products by revenue this quarter?");
/// let answer = omni::ask_ai(&client, body.try_into()?, &omni::default_policy()).await?;
/// println!("{}", answer.markdown().unwrap_or_default());
/// # Ok(()) }
/// ```
pub fn ask_ai<'a>(
    client: &'a omni_sdk::Client,
    body: AiJobSubmitBody,
    policy: &PollPolicy,
) -> Poller<'a, AiAnswer> {
    floor_warning(policy);
    let state: Arc<Mutex<Option<AiAnswer>>> = Arc::new(Mutex::new(None));
    let body = Arc::new(body);
    Poller::new(policy.clone(), move || {
        let state = Arc::clone(&state);
        let body = Arc::clone(&body);
        async move {
            let current = lock(&state).clone();
            let Some(mut answer) = current else {
                let submitted = client
                    .ai_job_submit()
                    .body((*body).clone())
                    .send()
                    .await
                    .map_err(|e| start_error("AI job", &e))?
                    .into_inner();
                let answer = AiAnswer {
                    submitted,
                    job: None,
                    result: None,
                };
                *lock(&state) = Some(answer.clone());
                return Ok(answer);
            };
            let job_id = answer.job_id();
            let job = client
                .get_ai_job()
                .job_id(job_id)
                .send()
                .await
                .map_err(|e| fetch_error(&e, e.message(), e.retry_after()))?
                .into_inner();
            let complete = job.state == AiJobState::Complete;
            answer.job = Some(job);
            // Keep the status even if the result request fails: the next poll retries it.
            *lock(&state) = Some(answer.clone());
            if complete {
                let result = client
                    .ai_job_result()
                    .job_id(job_id)
                    .send()
                    .await
                    .map_err(|e| fetch_error(&e, e.message(), e.retry_after()))?
                    .into_inner();
                answer.result = Some(result);
                *lock(&state) = Some(answer.clone());
            }
            Ok(answer)
        }
    })
    .job_id("AI job")
    .kind("omni ai")
    .min_interval(MIN_POLL_INTERVAL)
    .rate_budget(shared_budget(client))
}

/// Cancels an AI job (`POST /v1/ai/jobs/{jobId}/cancel`): for the caller who gives up on
/// an [`ask_ai`] wait (dropping the wait cancels nothing).
///
/// Idempotent, as Omni documents it: the answer's `state` is the job's state after the
/// attempt, `CANCELLED`, or the state of a job that had already ended or is `DELIVERING`
/// (too late to cancel). An executing job stops after its current iteration, so a wait still
/// running sees `CANCELLED` a little later. A 409 means another request changed the job
/// meanwhile: retry the cancel.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = omni_sdk::Client::from_env()?;
/// let job_id = "550e8400-e29b-41d4-a716-446655440000".parse()?;
/// let cancelled = poll_helpers::omni::cancel_ai_job(&client, job_id).await?;
/// println!("{:?}", cancelled.state);
/// # Ok(()) }
/// ```
pub async fn cancel_ai_job(
    client: &omni_sdk::Client,
    job_id: Uuid,
) -> Result<omni_sdk::types::AiJobCancelResponse, SdkError> {
    shared_budget(client).acquire().await;
    client
        .ai_job_cancel()
        .job_id(job_id)
        .send()
        .await
        .map(omni_sdk::ResponseValue::into_inner)
}

// -----------------------------------------------------------------------------------------
// Dashboard downloads
// -----------------------------------------------------------------------------------------

/// A dashboard download started by [`download_dashboard`].
///
/// ```
/// # fn show(d: &poll_helpers::omni::Download) {
/// println!("job {:?}: {:?} bytes", d.job_id, d.bytes_written);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Download {
    /// The download job, once started.
    pub job_id: Option<Uuid>,
    /// Bytes written to the writer, once the file was received in full.
    pub bytes_written: Option<u64>,
    /// The file's `Content-Type`, once received.
    pub content_type: Option<String>,
    /// Why the download job failed (the file endpoint answered 410 Gone).
    pub failure: Option<String>,
}

impl Snapshot for Download {
    /// Succeeded once the file is written, failed after a 410, otherwise pending.
    fn phase(&self) -> Phase {
        match (&self.failure, self.bytes_written) {
            (Some(reason), _) => Phase::Failed(reason.clone()),
            (None, Some(_)) => Phase::Succeeded,
            (None, None) => Phase::Pending,
        }
    }
}

/// Starts a download of a dashboard (`POST /v1/dashboards/{identifier}/download`), then
/// polls the file endpoint until the file is ready and copies it into `writer` chunk by
/// chunk, never holding the whole file in memory.
///
/// The file endpoint answers 202 while the job runs (the poll goes on), 200 with the
/// file, 410 when the download job failed (the wait ends with
/// [`crate::PollError::Failed`]). The status endpoint has no documented schema, so it is
/// not used. The start request is sent once (only a 429 is retried). If the connection
/// breaks while the file is being copied, the wait ends with a `Request` error saying how
/// many bytes were written: `writer` cannot be rewound, so the copy is not retried.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use poll_helpers::omni;
/// use omni_sdk::types::{DashboardsDownloadBody, DashboardsDownloadBodyFormat};
/// let client = omni_sdk::Client::from_env()?;
/// let body = DashboardsDownloadBody::builder().format(DashboardsDownloadBodyFormat::Pdf);
/// let file = tokio::fs::File::create("dashboard.pdf").await?;
/// let done = omni::download_dashboard(&client, "12db1a0a", body.try_into()?, file, &omni::default_policy()).await?;
/// println!("{} bytes", done.bytes_written.unwrap_or_default());
/// # Ok(()) }
/// ```
pub fn download_dashboard<'a, W>(
    client: &'a omni_sdk::Client,
    identifier: &str,
    body: DashboardsDownloadBody,
    writer: W,
    policy: &PollPolicy,
) -> Poller<'a, Download>
where
    W: AsyncWrite + Unpin + Send + 'a,
{
    floor_warning(policy);
    let identifier: Arc<str> = Arc::from(identifier);
    let label = format!("download of dashboard {identifier}");
    let state = Arc::new(Mutex::new(Download::default()));
    let body = Arc::new(body);
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    Poller::new(policy.clone(), move || {
        let state = Arc::clone(&state);
        let body = Arc::clone(&body);
        let identifier = Arc::clone(&identifier);
        let writer = Arc::clone(&writer);
        async move {
            let job_id = lock(&state).job_id;
            let Some(job_id) = job_id else {
                let started = client
                    .dashboards_download()
                    .identifier(&*identifier)
                    .body((*body).clone())
                    .send()
                    .await
                    .map_err(|e| start_error("dashboard download", &e))?
                    .into_inner();
                let mut download = lock(&state);
                download.job_id = Some(started.job_id);
                return Ok(download.clone());
            };
            let response = client
                .dashboards_download_file()
                .identifier(&*identifier)
                .job_id(job_id.to_string())
                .send()
                .await;
            let file = match response {
                Ok(file) => file,
                Err(omni_sdk::Error::UnexpectedResponse(r)) if r.status().as_u16() == 202 => {
                    return Ok(lock(&state).clone());
                }
                Err(e) if e.http_status() == Some(410) => {
                    let mut download = lock(&state);
                    download.failure = Some(format!(
                        "the download job failed (HTTP 410): {}",
                        e.message()
                    ));
                    return Ok(download.clone());
                }
                Err(e) => return Err(fetch_error(&e, e.message(), e.retry_after())),
            };
            let content_type = file
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut stream = file.into_inner().into_inner();
            let mut writer = writer.lock().await;
            let mut written: u64 = 0;
            let broken = |written: u64, what: String| {
                FetchError::permanent(format!(
                    "the download of job {job_id} broke off after {written} bytes were written: {what} (not retried: the writer cannot be rewound; start a new download)"
                ))
            };
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| broken(written, e.to_string()))?;
                writer
                    .write_all(&chunk)
                    .await
                    .map_err(|e| broken(written, format!("writing failed: {e}")))?;
                written += chunk.len() as u64;
            }
            writer
                .flush()
                .await
                .map_err(|e| broken(written, format!("flushing failed: {e}")))?;
            let mut download = lock(&state);
            download.bytes_written = Some(written);
            download.content_type = content_type;
            Ok(download.clone())
        }
    })
    .job_id(label)
    .kind("omni dashboard download")
    .min_interval(MIN_POLL_INTERVAL)
    .rate_budget(shared_budget(client))
}
