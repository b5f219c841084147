//! Omni jobs: wait for one that exists — schema refreshes ([`wait_for_job`]), AI jobs
//! ([`wait_for_ai_job`]), query jobs ([`wait_for_queries`]) — or start one and wait for its
//! result in one call: [`refresh_schema`], [`run_query`], [`ask_ai`] (and
//! [`cancel_ai_job`]), [`download_dashboard`].
//!
//! The start request of a workflow is a non-idempotent POST: it is sent once, and a timeout
//! or 5xx on it ends the wait with [`PollError::Request`](crate::PollError::Request), since
//! a retry could start a second job (a 429 started nothing and is retried). The first event
//! carries the new job's id, so that a caller can persist it and resume later with the
//! plain adapter.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//! use poll_helpers::omni;
//!
//! let client = omni_sdk::Client::from_env()?;
//! let model_id = "123e4567-e89b-12d3-a456-426614174000".parse()?;
//! let mut events = omni::refresh_schema(&client, model_id, None, &omni::default_policy()).into_stream();
//! while let Some(event) = events.next().await {
//!     if let Ok(refresh) = event?.outcome {
//!         println!("job {} ({:?})", refresh.job_id, refresh.status.map(|s| s.status));
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Every adapter and workflow here draws from [`shared_budget`], one 60-requests-per-minute
//! budget per credential, unless given another one or none.
//!
//! Omni asks clients to poll a job at most once per second (2–5 s typical): every adapter
//! here enforces a 1 s floor between polls even if the policy asks for less, and warns
//! once when it does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use omni_sdk::ErrorExt;
use omni_sdk::types::{AiJob, AiJobState, GetJobStatusResponse, GetJobStatusResponseStatus};
use uuid::Uuid;

use crate::error::FetchError;
use crate::policy::PollPolicy;
use crate::poller::Poller;
use crate::sdk_error::fetch_error;
use crate::snapshot::{Phase, Snapshot};

mod budget;
mod learned;
mod query;
mod workflows;

pub use query::{QueryResult, QueryRun, run_query, wait_for_queries};
pub use workflows::{
    AiAnswer, Download, SchemaRefresh, ask_ai, cancel_ai_job, download_dashboard, refresh_schema,
};

pub use budget::{RATE_LIMIT_PER_MINUTE, set_shared_budget, shared_budget};
pub use learned::{JobKind, duration_model, prior};

/// Omni's floor: never more than one request per second per job.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The request timeout of one `/v1/query/wait` long poll: longer than the server's own
/// wait, so that the client never cuts it short (the SDK gives that operation the same
/// timeout).
///
/// ```
/// assert_eq!(poll_helpers::omni::long_poll_timeout().as_secs(), 120);
/// ```
pub const fn long_poll_timeout() -> Duration {
    Duration::from_secs(120)
}

/// How long [`run_query`] waits for the answer of `POST /v1/query/run` (headers and the
/// whole body, stream included) unless the client sets a timeout for the `query_run`
/// operation: 130 s. Omni holds the request while the queries run and documents no limit,
/// so the client's total timeout (60 s by default) would cut a run short.
///
/// Set another with
/// [`ClientBuilder::operation_timeout`](sdk_runtime::ClientBuilder::operation_timeout):
///
/// ```
/// use std::time::Duration;
/// assert_eq!(poll_helpers::omni::QUERY_RUN_TIMEOUT, Duration::from_secs(130));
/// let client = omni_sdk::Client::builder()
///     .base_url("https://acme.omniapp.co/api")
///     .bearer_token("t")
///     .operation_timeout("query_run", Duration::from_secs(300))
///     .build()?;
/// # Ok::<(), omni_sdk::ConfigError>(())
/// ```
pub const QUERY_RUN_TIMEOUT: Duration = Duration::from_secs(130);

/// The policy the Omni adapters are tuned for: first poll at once, then 2 s growing ×1.5
/// to 15 s (Omni suggests 2–5 s; a refresh often takes minutes), 20 % jitter, a 15 min
/// deadline, 10 s grace for a job not visible yet.
///
/// Unseeded, [`wait_for_job`] and [`wait_for_ai_job`] add learned durations to it
/// ([`duration_model`]): polls then follow a plan that sees all but a few jobs within
/// 15 s (`max_delay`) of finishing with fewer requests, and the first poll comes about
/// 15 s after the start rather than at once (with the cold prior; a warm model places
/// it where jobs start finishing). `.default_learning(false)` or a seed keeps the
/// schedule above.
///
/// ```
/// let policy = poll_helpers::omni::default_policy();
/// assert_eq!(policy.get_deadline().as_secs(), 900);
/// ```
pub fn default_policy() -> PollPolicy {
    PollPolicy::default()
        .min_delay(Duration::from_secs(2))
        .max_delay(Duration::from_secs(15))
}

pub(crate) fn floor_warning(policy: &PollPolicy) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if policy.min_delay < MIN_POLL_INTERVAL && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            min_delay = ?policy.min_delay,
            "Omni allows at most one poll per second per job; polling every 1 s instead"
        );
    }
}

fn warn_unknown_once(warned: &AtomicBool, what: &str, value: &str, job: Uuid) {
    if !warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(%job, value, "unknown {what}; treating it as pending");
    }
}

impl Snapshot for GetJobStatusResponse {
    /// RUNNING and IN_PROGRESS (the two Omni documents disagree) are pending, COMPLETED
    /// succeeded, FAILED failed; the lower-case forms of the refresh response too. Any
    /// other value is pending.
    fn phase(&self) -> Phase {
        match &self.status {
            Some(GetJobStatusResponseStatus::Completed) => Phase::Succeeded,
            Some(GetJobStatusResponseStatus::Failed) => Phase::Failed(format!(
                "{} job reported FAILED",
                self.job_type.as_deref().unwrap_or("schema refresh")
            )),
            Some(GetJobStatusResponseStatus::Unknown(s)) => match s.to_ascii_uppercase().as_str() {
                "COMPLETED" | "COMPLETE" => Phase::Succeeded,
                "FAILED" => Phase::Failed(format!("job reported {s}")),
                _ => Phase::Pending,
            },
            _ => Phase::Pending,
        }
    }
}

fn job_status_known(job: &GetJobStatusResponse) -> bool {
    match &job.status {
        Some(GetJobStatusResponseStatus::Unknown(s)) => {
            matches!(
                s.to_ascii_uppercase().as_str(),
                "RUNNING" | "IN_PROGRESS" | "COMPLETED" | "COMPLETE" | "FAILED"
            )
        }
        Some(_) => true,
        None => false,
    }
}

/// Waits for a schema refresh job (`GET /v1/jobs/{jobId}/status`).
///
/// That endpoint only tracks schema refresh jobs: an answer saying the job type is not
/// supported (docs: 403 "Job type not supported for status checks"; Omni's full document:
/// 400 "Unsupported job type") ends the wait with a `Request` error saying so. Any other
/// 403 is a permission error (the token needs read permission on the connection).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = omni_sdk::Client::from_env()?;
/// let job_id = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf".parse()?;
/// let policy = poll_helpers::omni::default_policy();
/// let job = poll_helpers::omni::wait_for_job(&client, job_id, &policy).await?;
/// assert_eq!(job.status, Some(omni_sdk::types::GetJobStatusResponseStatus::Completed));
/// # Ok(()) }
/// ```
pub fn wait_for_job<'a>(
    client: &'a omni_sdk::Client,
    job_id: Uuid,
    policy: &PollPolicy,
) -> Poller<'a, GetJobStatusResponse> {
    floor_warning(policy);
    let policy = &learned::with_default_learning(policy, JobKind::SchemaRefresh);
    let warned = Arc::new(AtomicBool::new(false));
    Poller::new(policy.clone(), move || {
        let warned = Arc::clone(&warned);
        async move {
            let job = client
                .get_job_status()
                .job_id(job_id)
                .send()
                .await
                .map_err(|e| job_status_error(&e))?
                .into_inner();
            if !job_status_known(&job) {
                let value = job.status.as_ref().map_or("(missing)", |s| s.as_str());
                warn_unknown_once(&warned, "schema refresh status", value, job_id);
            }
            Ok(job)
        }
    })
    .job_id(job_id.to_string())
    .kind("omni schema refresh")
    .min_interval(MIN_POLL_INTERVAL)
    .rate_budget(shared_budget(client))
}

pub(crate) fn job_status_error(e: &omni_sdk::Error<omni_sdk::types::ApiError>) -> FetchError {
    let error = fetch_error(e, e.message(), e.retry_after());
    let lower = error.message.to_ascii_lowercase();
    match error.status {
        Some(400 | 403)
            if lower.contains("not supported") || lower.contains("unsupported job type") =>
        {
            FetchError {
                message: format!(
                    "this endpoint only tracks schema refresh jobs; the job is of another type (server said: {})",
                    error.message
                ),
                ..error
            }
        }
        Some(403) => FetchError {
            message: format!(
                "permission denied: the token needs read permission on the connection (server said: {})",
                error.message
            ),
            ..error
        },
        _ => error,
    }
}

impl Snapshot for AiJob {
    /// QUEUED, EXECUTING and DELIVERING are pending; COMPLETE succeeded; FAILED (reason
    /// from `error`) and CANCELLED (reason names `cancelledBy`) failed; any other value
    /// pending. Omni's `progress` has no total, so [`Snapshot::progress`] stays `None`:
    /// read `progress.iteration` and `progress.message` from the snapshot instead.
    fn phase(&self) -> Phase {
        match &self.state {
            AiJobState::Complete => Phase::Succeeded,
            AiJobState::Failed => Phase::Failed(match &self.error {
                Some(e) => match &e.code {
                    Some(code) => format!("{} ({code})", e.message),
                    None => e.message.clone(),
                },
                None => "AI job failed without an error message".to_owned(),
            }),
            AiJobState::Cancelled => Phase::Failed(match self.cancelled_by {
                Some(by) => format!("AI job cancelled by user {by}"),
                None => "AI job cancelled".to_owned(),
            }),
            _ => Phase::Pending,
        }
    }
}

/// Waits for an AI job (`GET /v1/ai/jobs/{jobId}`) to reach COMPLETE (the snapshot carries
/// `result_summary`), FAILED or CANCELLED.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = omni_sdk::Client::from_env()?;
/// let job_id = "550e8400-e29b-41d4-a716-446655440000".parse()?;
/// let job = poll_helpers::omni::wait_for_ai_job(&client, job_id, &poll_helpers::omni::default_policy()).await?;
/// println!("{}", job.result_summary.unwrap_or_default());
/// # Ok(()) }
/// ```
pub fn wait_for_ai_job<'a>(
    client: &'a omni_sdk::Client,
    job_id: Uuid,
    policy: &PollPolicy,
) -> Poller<'a, AiJob> {
    floor_warning(policy);
    let policy = &learned::with_default_learning(policy, JobKind::Ai);
    let warned = Arc::new(AtomicBool::new(false));
    Poller::new(policy.clone(), move || {
        let warned = Arc::clone(&warned);
        async move {
            let job = client
                .get_ai_job()
                .job_id(job_id)
                .send()
                .await
                .map_err(|e| fetch_error(&e, e.message(), e.retry_after()))?
                .into_inner();
            if job.state.is_unknown() {
                warn_unknown_once(&warned, "AI job state", job.state.as_str(), job_id);
            }
            Ok(job)
        }
    })
    .job_id(job_id.to_string())
    .kind("omni ai")
    .min_interval(MIN_POLL_INTERVAL)
    .rate_budget(shared_budget(client))
}
