//! Start-and-wait workflows for Omni: one call that starts a job and waits for its result.
//! Re-exported from [`crate::omni`], where the module documentation explains them.

use std::sync::{Arc, Mutex};

use omni_sdk::ErrorExt;
use omni_sdk::types::{
    AiJob, AiJobResultResponse, AiJobState, AiJobSubmitBody, AiJobSubmitResponse,
    DashboardsDownloadBody, GetJobStatusResponse, ModelsRefreshResponse,
    ModelsRefreshResponseStatus,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

use crate::error::{FetchError, FetchErrorKind};
use crate::omni::query::wire::{error_answer, send_raw};
use crate::omni::{MIN_POLL_INTERVAL, floor_warning, job_status_error, shared_budget};
use crate::policy::PollPolicy;
use crate::poller::Poller;
use crate::sdk_error::fetch_error;
use crate::snapshot::{Phase, Snapshot};

type SdkError = omni_sdk::Error<omni_sdk::types::ApiError>;

/// How a failed start request is reported. The request is not idempotent (a retry after a
/// timeout or a 5xx could start a second job), so every failure is permanent, except a 429:
/// a rejected request started nothing and is retried after `Retry-After`.
pub(crate) fn start_error(what: &str, e: &SdkError) -> FetchError {
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
pub(crate) fn parse_job_id(what: &str, id: &str) -> Result<Uuid, FetchError> {
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
/// breaks while the file is being copied, or no byte arrives for the client's stream idle
/// timeout ([`ClientBuilder::stream_idle_timeout`](sdk_runtime::ClientBuilder::stream_idle_timeout),
/// 60 s by default), the wait ends with a `Request` error saying how many bytes were
/// written: `writer` cannot be rewound, so the copy is not retried. The client's total
/// timeout does not apply to the file: a download that keeps arriving is never cut off.
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
            let inner = omni_sdk::ClientInfo::inner(client);
            let idle = inner.stream_idle_timeout();
            let url = format!(
                "{}/v1/dashboards/{}/download/{}",
                omni_sdk::ClientInfo::baseurl(client),
                progenitor_client::encode_path(&identifier),
                progenitor_client::encode_path(&job_id.to_string()),
            );
            let request = omni_sdk::ClientInfo::client(client)
                .get(url)
                .build()
                .map_err(|e| FetchError::permanent(format!("building the download request: {e}")))?;
            // No total timeout: the file may take long to arrive; each chunk must come
            // within the client's stream idle timeout.
            let file = send_raw(client, request, "dashboards_download_file", idle).await?;
            match file.status().as_u16() {
                200 => {}
                202 => return Ok(lock(&state).clone()),
                410 => {
                    let e = error_answer(file).await;
                    let mut download = lock(&state);
                    download.failure = Some(format!(
                        "the download job failed (HTTP 410): {}",
                        e.message()
                    ));
                    return Ok(download.clone());
                }
                status if status >= 400 => {
                    let e = error_answer(file).await;
                    return Err(fetch_error(&e, e.message(), e.retry_after()));
                }
                status => {
                    return Err(FetchError::transient(format!(
                        "the download file endpoint answered HTTP {status}, neither 200 nor 202"
                    )));
                }
            }
            let content_type = file
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut file = file;
            let mut writer = writer.lock().await;
            let mut written: u64 = 0;
            let broken = |written: u64, what: String| {
                FetchError::permanent(format!(
                    "the download of job {job_id} broke off after {written} bytes were written: {what} (not retried: the writer cannot be rewound; start a new download)"
                ))
            };
            loop {
                let chunk = match tokio::time::timeout(idle, file.chunk()).await {
                    Ok(Ok(Some(chunk))) => chunk,
                    Ok(Ok(None)) => break,
                    Ok(Err(e)) => return Err(broken(written, e.without_url().to_string())),
                    Err(_) => {
                        return Err(broken(
                            written,
                            format!("no data for {idle:?} (the client's stream idle timeout)"),
                        ));
                    }
                };
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
