//! A stateful simulator of the Omni and Retailgrid job endpoints, for tests and demos.
//!
//! [`Simulator::start`] binds one HTTP server on `127.0.0.1` with a free port and serves
//! both APIs from it, each under its own path prefix:
//!
//! | API | base URL ([`Simulator::omni_base_url`], [`Simulator::retailgrid_base_url`]) | endpoints |
//! | --- | --- | --- |
//! | Omni | `http://127.0.0.1:PORT/omni` | the table below |
//! | Retailgrid | `http://127.0.0.1:PORT/retailgrid` | `GET /v1/jobs/{job_id}` |
//!
//! Omni's paths are those of its published OpenAPI document with `/omni` in place of its
//! `/api` prefix. The start endpoints create jobs (see [Start endpoints](#start-endpoints));
//! every other endpoint reads the jobs of the kind it serves, whether a start endpoint
//! created them or a `Simulator::add_*` method added them:
//!
//! | endpoint | answer | job kind |
//! | --- | --- | --- |
//! | `GET /v1/jobs/{jobId}/status` | 200 `{job_type, job_id, status}` | schema refresh |
//! | `GET /v1/ai/jobs/{jobId}` | 200 the AI job's status | AI |
//! | `GET /v1/query/wait?job_ids=[...]` | see [Long poll](#long-poll-get-v1querywait) | query |
//! | `POST /v1/models/{modelId}/refresh[?branch_id=UUID]` | starts one: 200 `{jobId, modelId, status}` | schema refresh |
//! | `POST /v1/query/run` | starts some: see [Query run](#query-run-post-v1queryrun) | query |
//! | `POST /v1/ai/jobs` | starts one: 201 `{conversationId, jobId, omniChatUrl}` | AI |
//! | `GET /v1/ai/jobs/{jobId}/result` | 200 `{actions, message, omniChatUrl, resultSummary, topic}` once `COMPLETE` | AI |
//! | `POST /v1/ai/jobs/{jobId}/cancel` | 200 `{jobId, state: "CANCELLED"}` | AI |
//! | `POST /v1/dashboards/{identifier}/download` | starts one: 200 `{job_id, message}` | download |
//! | `GET /v1/dashboards/{identifier}/download/{jobId}` | 202 `{"status": "processing"}`, then 200 with the file | download |
//! | `GET /v1/dashboards/{identifier}/download/{jobId}/status` | 200 `{job_id, status}` | download |
//!
//! Jobs are scripted ([`JobScript`]) and their state is a pure function of the **real** time
//! elapsed since they were added, so tests that use the simulator run in real time (sockets
//! and tokio's paused clock do not mix). Faults ([`Fault`]) can be injected, and every
//! request is recorded ([`RecordedRequest`]), rejected ones included.
//!
//! ```
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use sdk_tests::sim::{JobScript, Simulator};
//!
//! let sim = Simulator::start_default().await?;
//! let client = sim.omni_client()?; // base URL and token of the simulator
//! let job = sim.add_schema_refresh(JobScript::succeed_after(Duration::from_millis(300)));
//! let status = client.get_job_status().job_id(job).send().await?;
//! assert_eq!(status.status.as_ref().map(|s| s.as_str()), Some("RUNNING"));
//! tokio::time::sleep(Duration::from_millis(350)).await;
//! let status = client.get_job_status().job_id(job).send().await?;
//! assert_eq!(status.status.as_ref().map(|s| s.as_str()), Some("COMPLETED"));
//! assert_eq!(sim.request_count(), 2);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # How a request is answered
//!
//! In this order; the first step that answers wins, and the request is recorded whatever
//! the answer:
//!
//! 1. A path outside `/omni` and `/retailgrid`: 404 `{"detail":"Not Found"}`.
//! 2. **Authentication.** Omni needs `Authorization: Bearer <SimConfig::omni_token>`
//!    (scheme case-insensitive, exactly one header); otherwise 401
//!    `{"error":"401","message":"Unauthorized"}`. Retailgrid needs
//!    `Bearer <SimConfig::retailgrid_token>` only when that token is set; otherwise 401
//!    `{"detail":"Not authenticated"}` with `WWW-Authenticate: Bearer` (FastAPI's answer).
//! 3. **Rate limit** (see below): 429.
//! 4. **Faults**, in injection order (see [`Fault`]).
//! 5. The endpoint: an unknown path is 404 in the API's error shape; a method other than
//!    the path's one (`POST` for the start endpoints and the AI cancel, `GET` for the
//!    others) is 405 in the API's error shape, with `Allow: <that method>`.
//!
//! The body is read whole (up to 1 MiB) before step 1, whatever the request, so that it is
//! recorded even when it is rejected; a body that cannot be read counts as no body.
//!
//! # Rate limit
//!
//! Fixed windows, counted separately per API (each API accepts exactly one token, so this
//! is "per token"), over requests that passed authentication. A window opens at the first
//! request after the previous window has ended and lasts the configured duration; within it
//! the first `requests` requests are admitted and the rest get 429 with
//! `Retry-After: <whole seconds until the window ends, rounded up, at least 1>` and
//! `{"error":"429","message":"Too Many Requests"}` (Retailgrid: `{"detail":"Too Many
//! Requests"}`). Rejected requests do not count. Omni defaults to 60 requests per 60 s (the
//! documented limit); Retailgrid is unlimited unless [`SimConfig::retailgrid_rate_limit`]
//! is set.
//!
//! # Job timelines
//!
//! A job added with a script of duration `D` is terminal from `D` on. Before that:
//!
//! | job | states |
//! | --- | --- |
//! | schema refresh | `RUNNING` until `D`, then `COMPLETED` (success) or `FAILED` (failure or cancellation) |
//! | AI | `QUEUED` for the queued time (default `D/10`), `EXECUTING` (with `progress`), then for a successful job `DELIVERING` for the delivering time (default the last `D/10`), then `COMPLETE` / `FAILED` / `CANCELLED`; `CANCELLED` for good from the instant `POST .../cancel` accepted (see below) |
//! | query | running until `D`, then `COMPLETE` with a result, `FAILED` or `CANCELLED` (see the long poll) |
//! | download | `PROCESSING` until `D` (the file endpoint answers 202), then `COMPLETED` (200 with the file) or `FAILED` (410; failure or cancellation) |
//! | Retailgrid | `pending` for the queued time (default 0), `running` with `progress` following the [`ProgressCurve`] over the running time, then `completed` (progress 100), `failed` (with `error_message`) or `cancelled` (progress frozen at its last running value) |
//!
//! Timestamps (`createdAt`, `started_at`, ...) are the wall-clock time the job was added
//! plus the offset of each transition, in RFC 3339 with milliseconds (`...T10:00:00.000Z`).
//!
//! # Endpoint errors
//!
//! - Omni `GET /v1/jobs/{jobId}/status` and `GET /v1/ai/jobs/{jobId}`: a path id that is not
//!   a UUID is 400 `{"error":"400","message":"Bad Request: jobId: Invalid uuid"}`; an id of no
//!   Omni job is 404 `{"error":"404","message":"Job not found"}`. The status endpoint answers
//!   403 `{"error":"403","message":"Job type not supported for status checks"}` for AI and
//!   query jobs and for schema refresh jobs scripted with another job type; the AI endpoint
//!   answers 404 for jobs that are not AI jobs.
//! - The start endpoints and their companions answer errors in the `{"detail": "...",
//!   "status": N}` shape of Omni's `ApiError` (documented for the AI endpoints; the others
//!   document no error body), with `Bad Request: <field>: <reason>` details after Omni's
//!   own example (`Bad Request: prompt: Required`). A rejected request starts nothing and
//!   leaves the queued scripts alone.
//!   - Any of them: a body that is not a JSON object, where one is read, is 400 `Bad Request:
//!     body must be a JSON object`; a required field that is absent or `null` is 400
//!     `Bad Request: <field>: Required`.
//!   - `POST /v1/models/{modelId}/refresh`: 400 `Bad Request: modelId: Invalid uuid`,
//!     `Bad Request: branch_id: Invalid uuid`, and for a model of
//!     [`Simulator::require_branch`] without `branch_id`, 400 `branch_id is required when
//!     branch-based schema refresh is enabled`. Every UUID names a model. Omni also refuses a
//!     `branch_id` for a model without branch-based refresh; the simulator accepts it, so
//!     that a client can send one without scripting the model.
//!   - `POST /v1/query/run`: 400 without `query` (any other value is accepted).
//!   - `POST /v1/ai/jobs`: 400 for `modelId` (required, UUID), `prompt` (required, non-empty
//!     string), `branchId` / `conversationId` (UUIDs), `topicName` (string of at most 256
//!     characters); 409 `An active job already exists for this conversation` when
//!     `conversationId` names the conversation of an AI job not yet terminal. The webhook
//!     fields are accepted and ignored.
//!   - `GET /v1/ai/jobs/{jobId}/result` and `POST /v1/ai/jobs/{jobId}/cancel`: 400 `Bad
//!     Request: jobId: Invalid uuid`, 404 `Job not found` for an id of no AI job. As Omni
//!     documents: the result of a job not `COMPLETE` is 404 `Job <id> is not complete
//!     (state <STATE>)` (Omni: "not in COMPLETE state, or result is no longer available");
//!     cancelling is idempotent: a `QUEUED` or `EXECUTING` job becomes `CANCELLED` (Omni
//!     lets an executing job finish its current iteration first; the simulator cancels at
//!     once), and a `DELIVERING` or terminal job is left as it is, the answer being 200 with
//!     its current state either way.
//!   - `POST /v1/dashboards/{identifier}/download`: 400 for `format` (required, one of
//!     `pdf`, `png`, `csv`, `xlsx`, `json`), `filename` (string of 1 to 255 characters), and
//!     for a property `DashboardsDownloadBody` does not have (it allows no others:
//!     `Bad Request: Unrecognized key(s) in object: '<key>'`). The other properties are
//!     accepted unchecked.
//!   - The two download `GET`s: 404 `Download job not found` for a job id that is not a
//!     UUID (Omni's `jobId` is a plain string here), of no download job, or of a download
//!     started for another dashboard (identifiers compared percent-decoded); 410
//!     `Download job failed: <message>` from the file endpoint for a failed job.
//! - Retailgrid `GET /v1/jobs/{job_id}`: a path id that is not a UUID is FastAPI's 422
//!   `{"detail":[{"type":"uuid_parsing","loc":["path","job_id"],"msg":"Input should be a valid
//!   UUID, <reason>","input":..,"ctx":{"error":..}}]}`; an id of no Retailgrid job is 404
//!   `{"detail":"Job not found"}`.
//!
//! # Long poll (`GET /v1/query/wait`)
//!
//! - `job_ids` must appear exactly once and its percent-decoded value must be a non-empty
//!   JSON array of UUID strings; otherwise 400 `{"detail":"job_ids must be a valid JSON array
//!   of UUIDs","status":400}` (absent or empty value: `{"detail":"job_ids parameter is
//!   required","status":400}`). Duplicate ids count once. Other query keys are ignored.
//! - An id that is not a query job of this simulator: 404 `{"detail":"Job with id <id> does
//!   not exist","status":404}` for the first such id in the asked order.
//! - Otherwise the request is held until at least one asked job is finished, or for
//!   [`SimConfig::long_poll_wait`] at most. Then:
//!   - if some are finished, the response answers **the first finished job in the asked
//!     order**: `{job_id, status: "COMPLETE", client_result_id, summary, query, result,
//!     stream_stats, timed_out}` (or `status: "FAILED"` / `"CANCELLED"` with an `error`
//!     message and no result); `remaining_job_ids` lists every *other* asked id, in the
//!     asked order, whether finished or not, and `timed_out` is `true` exactly when that
//!     list is non-empty (so a caller keeps polling with `remaining_job_ids` until
//!     `timed_out` is `false`);
//!   - if none is finished: `{"timed_out": true, "remaining_job_ids": [every asked id]}`.
//! - Answers are not consumed: asking again for a finished job answers it again.
//! - `result` is a base64 Arrow IPC **file** (it starts with `ARROW1`): the table of
//!   [`sample_result_ipc`].
//!
//! # Start endpoints
//!
//! Each start creates jobs that are ordinary jobs of their kind: the status endpoints serve
//! them like the jobs of `Simulator::add_*`, and their state is a pure function of the time
//! since they were started. Their scripts come from first-in-first-out queues, so a test
//! scripts a job before the client starts it:
//!
//! | endpoint | queue | when the queue is empty |
//! | --- | --- | --- |
//! | `POST /v1/models/{modelId}/refresh` | [`Simulator::script_next_refresh`] | succeeds after [`DEFAULT_STARTED_JOB_DURATION`] |
//! | `POST /v1/query/run` | [`Simulator::script_next_query_run`] ([`QueryRun`]) | one query that succeeds after [`DEFAULT_RUN_QUERY_DURATION`] |
//! | `POST /v1/ai/jobs` | [`Simulator::script_next_ai_job`] | succeeds after [`DEFAULT_STARTED_JOB_DURATION`] |
//! | `POST /v1/dashboards/{identifier}/download` | [`Simulator::script_next_download`] | [`DEFAULT_FILE_SIZE`] bytes after [`DEFAULT_STARTED_JOB_DURATION`] |
//!
//! [`Simulator::started_jobs`] lists the ids of the started jobs, including those an answer
//! does not name.
//!
//! - **Schema refresh.** `status` is `running`, except for a script of zero duration,
//!   which is over when it starts: `completed`, or `failed` for a failing or cancelled
//!   script. That is Omni's synchronous case (its enum has all three values).
//! - **AI job.** The status endpoint echoes the submitted `prompt`, `modelId`, `branchId`
//!   and `topicName` (default `order_items`); `conversationId` is the submitted one or a
//!   new one; `omniChatUrl` is `https://sim.omniapp.co/chat/<conversationId>` everywhere.
//!   The result of a `COMPLETE` job has a `generate_query` action whose `result` is the
//!   table of [`sample_result_ipc`] as CSV (`AiJobActionQueryResult`), then a `summarize`
//!   action; `message` and `resultSummary` are the script's result summary (as on the status
//!   endpoint). Cancelling a job that is not terminal (in any state, `DELIVERING` included)
//!   takes effect at once, whatever its script says: from the instant the cancel is
//!   answered the job is `CANCELLED` with that `cancelledAt`, and stays so. (Omni lets an
//!   `EXECUTING` job finish its current iteration first and refuses to cancel a
//!   `DELIVERING` one; a test that needs those cases scripts them with
//!   [`JobScript::cancel_after`] or a short job instead.)
//! - **Download.** The file endpoint answers 202 `{"status": "processing"}` while the job
//!   runs (Omni documents the 202 without a body), then 200 with the `len` bytes of
//!   [`download_file`] (`len` from [`JobScript::with_file_size`]), `Content-Type` by format
//!   (`application/pdf`, `image/png`, `text/csv`,
//!   `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`,
//!   `application/json`) and `Content-Disposition: attachment; filename="<name>.<format>"`,
//!   `<name>` being the requested `filename` (which Omni documents as without extension)
//!   or `dashboard`, with `"`, `\` and characters outside printable ASCII replaced by `_`.
//!   The body is streamed in 64 KiB chunks (chunked transfer encoding, no
//!   `Content-Length`), as Omni says it streams the file, so that a client that copies
//!   chunk by chunk is exercised. The status endpoint is **not in Omni's
//!   document** beyond "Download job status"; the simulator's `{job_id, status:
//!   "PROCESSING" | "COMPLETED" | "FAILED"}` is a guess.
//!
//! # Query run (`POST /v1/query/run`)
//!
//! The run's query jobs are started at once (a [`QueryRun`] has one [`JobScript`] per
//! query), then the request is held until all are finished, or for
//! [`SimConfig::query_run_wait`] at most. The body's fields other than `query` (`planOnly`,
//! `resultType`, `cache`, ...) are ignored. Then:
//!
//! - all finished: 200 `{"completedQueries": [...]}`, one object per query in the run's
//!   order, each the object the long poll answers for that finished job (`job_id`, `status`,
//!   `result`, ...; Omni leaves the items untyped);
//! - some still running, and the run answers [`RunningAnswer::Timeout408`] (the default):
//!   408 `{"detail": "Query timed out", "timed_out": true, "remaining_job_ids": [...]}`,
//!   Omni's `QueryTimeoutResponse`, whose `remaining_job_ids` are documented as the "Job IDs
//!   for queries that have not yet completed". So the answer names the unfinished jobs only,
//!   in the run's order, and **the results of the queries that did finish are lost** to the
//!   client, which never learns their ids (the long poll would still answer them if asked;
//!   tests find them with [`Simulator::started_jobs`]). The simulator follows the document
//!   rather than inventing a field for them, so that a client's handling of a multi-query
//!   timeout is tested against what Omni says it sends;
//! - some still running, and the run answers [`RunningAnswer::JobIds`]: 200
//!   `{"completedQueries": [...finished...], "jobIds": [...unfinished...]}`, both in the
//!   run's order: `QueryRunResponse` with its "Job IDs for queries running asynchronously".
//!
//! A run of no queries answers `{"completedQueries": []}` at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

/// The Omni token of [`SimConfig::default`].
pub const DEFAULT_OMNI_TOKEN: &str = "sim-omni-token";

/// The AI `resultSummary` of a completed job whose script sets none.
const DEFAULT_RESULT_SUMMARY: &str =
    "### Top 5 Products by Revenue\n\n1. **Sunglasses** - $678,994\n2. **Jeans** - $475,072";

/// How long [`SimConfig::default`] holds a long poll: 500 ms.
pub const DEFAULT_LONG_POLL_WAIT: Duration = Duration::from_millis(500);

/// How long [`SimConfig::default`] holds a `POST /v1/query/run`: 200 ms.
pub const DEFAULT_QUERY_RUN_WAIT: Duration = Duration::from_millis(200);

/// How long a schema refresh, AI or download job started through its endpoint takes when
/// no script was queued for it (it then succeeds): 200 ms.
pub const DEFAULT_STARTED_JOB_DURATION: Duration = Duration::from_millis(200);

/// How long the one query of a `POST /v1/query/run` takes when no run was queued (it then
/// succeeds): 50 ms, well within [`DEFAULT_QUERY_RUN_WAIT`], so that an unscripted run
/// answers synchronously, as most Omni queries do.
pub const DEFAULT_RUN_QUERY_DURATION: Duration = Duration::from_millis(50);

/// The size of a downloaded file whose script sets none ([`JobScript::with_file_size`]):
/// 64 KiB.
pub const DEFAULT_FILE_SIZE: usize = 64 * 1024;

/// The largest request body read; a longer one is read as unreadable (400 on the
/// endpoints that take a body).
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// `omniChatUrl` is this followed by the conversation id.
const CHAT_URL: &str = "https://sim.omniapp.co/chat/";

/// The sample table of [`sample_result_ipc`] as the CSV of an AI query action.
const SAMPLE_RESULT_CSV: &str = "order_items.id,products.name,order_items.sale_price,\
order_items.returned,order_items.created_at\n\
1001,Sunglasses,89.99,false,2025-01-15T10:00:00.000Z\n\
1002,Jeans,49.5,true,2025-01-15T11:00:00.000Z\n\
1003,,12,,2025-01-15T12:00:00.000Z\n\
1004,Sweater,64.25,false,2025-01-15T13:00:00.000Z\n";

/// How the simulator behaves. Build it with struct update syntax:
///
/// ```
/// use std::time::Duration;
/// use sdk_tests::sim::SimConfig;
///
/// let config = SimConfig {
///     rate_limit: Some((5, Duration::from_secs(1))),
///     retailgrid_token: Some("rg-token".into()),
///     ..SimConfig::default()
/// };
/// // Tokens never appear in debug output.
/// assert!(!format!("{config:?}").contains("rg-token"));
/// ```
#[derive(Clone)]
pub struct SimConfig {
    /// The token Omni requests must carry as `Authorization: Bearer <token>`.
    /// Default [`DEFAULT_OMNI_TOKEN`].
    pub omni_token: String,
    /// The token Retailgrid requests must carry; `None` (the default) accepts every
    /// request, with or without `Authorization`.
    pub retailgrid_token: Option<String>,
    /// Omni rate limit: `(requests, window)` in fixed windows; `None` for unlimited.
    /// Default `Some((60, 60 s))`, Omni's documented limit.
    pub rate_limit: Option<(u32, Duration)>,
    /// Retailgrid rate limit, same rules; default `None` (unlimited).
    pub retailgrid_rate_limit: Option<(u32, Duration)>,
    /// The longest a `GET /v1/query/wait` is held before answering `timed_out: true`.
    /// Default [`DEFAULT_LONG_POLL_WAIT`].
    pub long_poll_wait: Duration,
    /// The longest a `POST /v1/query/run` is held for its queries to finish before it
    /// answers the unfinished ones as running ([`RunningAnswer`]).
    /// Default [`DEFAULT_QUERY_RUN_WAIT`].
    pub query_run_wait: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            omni_token: DEFAULT_OMNI_TOKEN.to_owned(),
            retailgrid_token: None,
            rate_limit: Some((60, Duration::from_secs(60))),
            retailgrid_rate_limit: None,
            long_poll_wait: DEFAULT_LONG_POLL_WAIT,
            query_run_wait: DEFAULT_QUERY_RUN_WAIT,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("omni_token", &"<redacted>")
            .field(
                "retailgrid_token",
                &self.retailgrid_token.as_ref().map(|_| "<redacted>"),
            )
            .field("rate_limit", &self.rate_limit)
            .field("retailgrid_rate_limit", &self.retailgrid_rate_limit)
            .field("long_poll_wait", &self.long_poll_wait)
            .field("query_run_wait", &self.query_run_wait)
            .finish()
    }
}

/// How Retailgrid's `progress` (0–100) grows over a job's running time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressCurve {
    /// `floor(100 × fraction of the running time elapsed)`, at most 99 until the job
    /// completes (the default).
    #[default]
    Linear,
    /// Jumps in this many equal steps: `floor(fraction × steps) × 100 / steps`.
    Steps(u32),
    /// `null` until the job completes (then 100).
    Null,
}

impl ProgressCurve {
    /// Progress at `fraction` (in `[0, 1)`) of the running time.
    fn at(self, fraction: f64) -> Option<i64> {
        let fraction = fraction.clamp(0.0, 1.0 - f64::EPSILON);
        match self {
            ProgressCurve::Linear => Some(((fraction * 100.0).floor() as i64).min(99)),
            ProgressCurve::Steps(steps) => {
                let steps = i64::from(steps.max(1));
                let step = (fraction * steps as f64).floor() as i64;
                Some((step * 100 / steps).min(99))
            }
            ProgressCurve::Null => None,
        }
    }
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Succeed,
    Fail(String),
    Cancel,
}

/// The script of a simulated job: how long it takes, how it ends, and how it reports
/// progress on the way.
///
/// ```
/// use std::time::Duration;
/// use sdk_tests::sim::{JobScript, ProgressCurve};
///
/// let ms = Duration::from_millis;
/// let ok = JobScript::succeed_after(ms(300));
/// let ai = JobScript::fail_after(ms(400), "Column 'revenue' not found")
///     .with_error_code("QUERY_EXECUTION_ERROR")
///     .with_progress_messages(["Choosing a topic", "Running query"]);
/// let rg = JobScript::succeed_after(ms(500))
///     .with_queued_for(ms(100))
///     .with_progress_curve(ProgressCurve::Steps(4))
///     .with_job_type("csv_import");
/// let cancelled = JobScript::cancel_after(ms(200));
/// ```
#[derive(Debug, Clone)]
pub struct JobScript {
    duration: Duration,
    outcome: Outcome,
    queued_for: Option<Duration>,
    delivering_for: Option<Duration>,
    job_type: Option<String>,
    curve: ProgressCurve,
    messages: Vec<String>,
    result_summary: Option<String>,
    error_code: Option<String>,
    error_detail: Option<String>,
    file_size: usize,
}

impl JobScript {
    fn new(duration: Duration, outcome: Outcome) -> Self {
        JobScript {
            duration,
            outcome,
            queued_for: None,
            delivering_for: None,
            job_type: None,
            curve: ProgressCurve::default(),
            messages: Vec::new(),
            result_summary: None,
            error_code: None,
            error_detail: None,
            file_size: DEFAULT_FILE_SIZE,
        }
    }

    /// A job that succeeds `duration` after it is added.
    pub fn succeed_after(duration: Duration) -> Self {
        Self::new(duration, Outcome::Succeed)
    }

    /// A job that fails `duration` after it is added, with this message (AI `error.message`,
    /// Retailgrid `error_message`, query `error`, download `Download job failed: <message>`;
    /// a schema refresh only says `FAILED`).
    pub fn fail_after(duration: Duration, message: impl Into<String>) -> Self {
        Self::new(duration, Outcome::Fail(message.into()))
    }

    /// A job that is cancelled `duration` after it is added (AI `CANCELLED`, Retailgrid
    /// `cancelled`, query `CANCELLED`, schema refresh and download `FAILED`, the download
    /// with the message `Download was cancelled`).
    pub fn cancel_after(duration: Duration) -> Self {
        Self::new(duration, Outcome::Cancel)
    }

    /// Time spent queued before running, counted within the duration (AI `QUEUED`,
    /// Retailgrid `pending`; defaults: AI a tenth of the duration, others zero).
    pub fn with_queued_for(mut self, queued_for: Duration) -> Self {
        self.queued_for = Some(queued_for);
        self
    }

    /// AI only: time spent `DELIVERING` at the end of a successful job, counted within the
    /// duration (default a tenth of the duration; failed and cancelled jobs never deliver).
    pub fn with_delivering_for(mut self, delivering_for: Duration) -> Self {
        self.delivering_for = Some(delivering_for);
        self
    }

    /// The job type reported: schema refresh `job_type` (default `refresh_schema`; any
    /// other value makes the status endpoint answer 403, as for non-schema-refresh jobs),
    /// Retailgrid `job_type` (default `bulk_upsert`).
    pub fn with_job_type(mut self, job_type: impl Into<String>) -> Self {
        self.job_type = Some(job_type.into());
        self
    }

    /// Retailgrid's progress curve (default [`ProgressCurve::Linear`]).
    pub fn with_progress_curve(mut self, curve: ProgressCurve) -> Self {
        self.curve = curve;
        self
    }

    /// AI progress while `EXECUTING`: one iteration per message, in equal slices of the
    /// executing time; `progress.iteration` counts from 1. Default: three messages.
    pub fn with_progress_messages<I, S>(mut self, messages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.messages = messages.into_iter().map(Into::into).collect();
        self
    }

    /// The AI `resultSummary` of a completed job (default: a short Markdown list).
    pub fn with_result_summary(mut self, summary: impl Into<String>) -> Self {
        self.result_summary = Some(summary.into());
        self
    }

    /// The AI `error.code` of a failed job (default absent).
    pub fn with_error_code(mut self, code: impl Into<String>) -> Self {
        self.error_code = Some(code.into());
        self
    }

    /// The AI `error.detail` of a failed job (default absent).
    pub fn with_error_detail(mut self, detail: impl Into<String>) -> Self {
        self.error_detail = Some(detail.into());
        self
    }

    /// Download only: the size in bytes of the file a successful job serves (default
    /// [`DEFAULT_FILE_SIZE`]); its content is [`download_file`].
    pub fn with_file_size(mut self, len: usize) -> Self {
        self.file_size = len;
        self
    }
}

/// The script of one `POST /v1/query/run`, queued with [`Simulator::script_next_query_run`]:
/// one query job per script, in order, and how the run answers the queries still running
/// when [`SimConfig::query_run_wait`] is over.
///
/// ```
/// use std::time::Duration;
/// use sdk_tests::sim::{JobScript, QueryRun, RunningAnswer};
///
/// let ms = Duration::from_millis;
/// let quick = QueryRun::one(JobScript::succeed_after(ms(20)));
/// assert_eq!(quick.running, RunningAnswer::Timeout408);
/// let mixed = QueryRun::many([JobScript::succeed_after(ms(20)), JobScript::succeed_after(ms(900))])
///     .answering(RunningAnswer::JobIds);
/// assert_eq!(mixed.queries.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct QueryRun {
    /// One query job per script, answered in this order. Empty: the run answers
    /// `{"completedQueries": []}` at once.
    pub queries: Vec<JobScript>,
    /// How queries still running at the end of the hold are answered.
    pub running: RunningAnswer,
}

impl QueryRun {
    /// A run of one query, answering [`RunningAnswer::Timeout408`] if it is still running.
    pub fn one(script: JobScript) -> Self {
        Self::many([script])
    }

    /// A run of these queries, answering [`RunningAnswer::Timeout408`] if some are still
    /// running.
    pub fn many(queries: impl IntoIterator<Item = JobScript>) -> Self {
        QueryRun {
            queries: queries.into_iter().collect(),
            running: RunningAnswer::default(),
        }
    }

    /// How queries still running at the end of the hold are answered.
    pub fn answering(mut self, running: RunningAnswer) -> Self {
        self.running = running;
        self
    }
}

/// How a `POST /v1/query/run` answers when some of its queries are still running at the end
/// of [`SimConfig::query_run_wait`]. Omni documents both shapes without saying which it
/// picks when, so each run says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunningAnswer {
    /// 408 `{"detail": "Query timed out", "timed_out": true, "remaining_job_ids": [...]}`
    /// naming the unfinished jobs only (the default).
    #[default]
    Timeout408,
    /// 200 `{"completedQueries": [...finished...], "jobIds": [...unfinished...]}`.
    JobIds,
}

/// Which responses a [`Fault`] replaces or slows down.
#[derive(Debug, Clone)]
enum FaultKind {
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    Delay(Duration),
    MalformedBody,
}

/// Which requests a [`Fault`] applies to.
#[derive(Debug, Clone)]
enum FaultScope {
    All,
    PathPrefix(String),
    Job(Uuid),
}

/// A scripted misbehaviour, injected with [`Simulator::inject`].
///
/// A fault applies to every request that passed authentication and the rate limit
/// and is in its scope (default: all requests), as many times as [`Fault::times`] says
/// (default: until [`Simulator::clear_faults`]). Faults are tried in injection order: every
/// matching [`delay`](Fault::delay) is applied (their delays add up), then the first
/// matching [`status`](Fault::status) or [`malformed_body`](Fault::malformed_body) fault
/// answers instead of the endpoint. Each fault applied uses one of its times.
///
/// ```
/// use std::time::Duration;
/// use sdk_tests::sim::Fault;
///
/// let twice_500 = Fault::status(500).times(2);
/// let throttled = Fault::status(429).retry_after(Duration::from_secs(2)).times(1);
/// let slow_wait = Fault::delay(Duration::from_millis(200)).on_path("/omni/v1/query/wait");
/// let garbage = Fault::malformed_body().on_job(uuid::Uuid::nil()).times(1);
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    kind: FaultKind,
    remaining: Option<u32>,
    scope: FaultScope,
}

impl Fault {
    fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            remaining: None,
            scope: FaultScope::All,
        }
    }

    /// Answers with this HTTP status and the API's error body (Omni `{"error": "<status>",
    /// "message": <reason>}`, Retailgrid `{"detail": <reason>}`). A status outside
    /// 100–999 is answered as 500.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status {
            status,
            retry_after: None,
        })
    }

    /// Adds `Retry-After: <whole seconds, rounded up>` to a [`status`](Fault::status)
    /// fault (typically 429 or 503); no effect on other faults.
    pub fn retry_after(mut self, after: Duration) -> Self {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(after);
        }
        self
    }

    /// Holds the request this long, then answers it normally (or with the next fault).
    pub fn delay(delay: Duration) -> Self {
        Self::new(FaultKind::Delay(delay))
    }

    /// Answers 200 with `Content-Type: application/json` and a truncated JSON body.
    pub fn malformed_body() -> Self {
        Self::new(FaultKind::MalformedBody)
    }

    /// Applies to the next `times` matching requests only.
    pub fn times(mut self, times: u32) -> Self {
        self.remaining = Some(times);
        self
    }

    /// Applies only to requests whose path (as received, e.g. `/omni/v1/query/wait`)
    /// starts with `prefix`.
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.scope = FaultScope::PathPrefix(prefix.into());
        self
    }

    /// Applies only to requests naming this job in their path or query (case-insensitive).
    pub fn on_job(mut self, job_id: Uuid) -> Self {
        self.scope = FaultScope::Job(job_id);
        self
    }

    fn matches(&self, path: &str, query: Option<&str>) -> bool {
        if self.remaining == Some(0) {
            return false;
        }
        match &self.scope {
            FaultScope::All => true,
            FaultScope::PathPrefix(prefix) => path.starts_with(prefix.as_str()),
            FaultScope::Job(id) => {
                let id = id.to_string();
                let decoded = query.map(decode).unwrap_or_default();
                [path, &decoded]
                    .iter()
                    .any(|s| s.to_ascii_lowercase().contains(&id))
            }
        }
    }

    fn use_once(&mut self) {
        if let Some(n) = &mut self.remaining {
            *n = n.saturating_sub(1);
        }
    }
}

/// A request the simulator received, as recorded when it arrived.
///
/// The `Authorization` header is recorded as `Bearer <redacted>` (or `<redacted>` for
/// another scheme): the token itself is never stored.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path as received (still percent-encoded), API prefix included, e.g.
    /// `/omni/v1/jobs/<id>/status`.
    pub path: String,
    /// The raw (percent-encoded) query string, without the `?`.
    pub query: Option<String>,
    /// Every header, names lower-case, values lossily decoded as UTF-8, in arrival order;
    /// `authorization` redacted.
    pub headers: Vec<(String, String)>,
    /// The body, as received; empty when there was none, while it is still being read, or
    /// when it could not be read whole (over 1 MiB, or the client went away).
    pub body: Vec<u8>,
    /// Whether the request passed authentication.
    pub authorized: bool,
    /// When it arrived.
    pub at: std::time::Instant,
    /// The status answered; `None` while the request is still being answered (a held long
    /// poll), or if the client went away before the answer.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The percent-decoded query, `+` read as a space.
    pub fn decoded_query(&self) -> Option<String> {
        self.query.as_deref().map(decode)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Which API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Omni,
    Retailgrid,
}

impl Api {
    const OMNI_PREFIX: &str = "/omni";
    const RETAILGRID_PREFIX: &str = "/retailgrid";

    /// The API and the path below its prefix.
    fn of(path: &str) -> Option<(Api, &str)> {
        for (api, prefix) in [
            (Api::Omni, Self::OMNI_PREFIX),
            (Api::Retailgrid, Self::RETAILGRID_PREFIX),
        ] {
            if let Some(rest) = path.strip_prefix(prefix)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Some((api, rest));
            }
        }
        None
    }

    /// An error response in this API's shape.
    fn error(self, status: StatusCode, message: &str) -> Response {
        let body = match self {
            Api::Omni => json!({"error": status.as_u16().to_string(), "message": message}),
            Api::Retailgrid => json!({"detail": message}),
        };
        json_response(status, &body)
    }
}

/// What kind of job an id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    SchemaRefresh,
    Ai,
    Query,
    Download,
    Retailgrid,
}

/// A dashboard download format, `DashboardsDownloadBody.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pdf,
    Png,
    Csv,
    Xlsx,
    Json,
}

impl Format {
    const ALL: [Format; 5] = [
        Format::Pdf,
        Format::Png,
        Format::Csv,
        Format::Xlsx,
        Format::Json,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Png => "png",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Json => "json",
        }
    }

    fn parse(s: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Png => "image/png",
            Format::Csv => "text/csv",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Json => "application/json",
        }
    }
}

/// What the request that started a job asked for; the status and result bodies echo it.
#[derive(Debug, Default)]
enum Origin {
    /// Added with a `Simulator::add_*` method, or started without anything to echo.
    #[default]
    Added,
    /// `POST /v1/ai/jobs`.
    Ai {
        prompt: String,
        model_id: Uuid,
        branch_id: Option<Uuid>,
        topic: Option<String>,
    },
    /// `POST /v1/dashboards/{identifier}/download`.
    Download {
        /// Percent-decoded.
        identifier: String,
        format: Format,
        filename: Option<String>,
    },
}

/// A job: its script and when it was added.
#[derive(Debug)]
struct Job {
    id: Uuid,
    kind: JobKind,
    script: JobScript,
    added: Instant,
    added_wall: DateTime<Utc>,
    /// Secondary ids (conversation, client result, grid): fixed per job.
    other_ids: [Uuid; 2],
    origin: Origin,
}

/// Where a job stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Queued,
    /// Running, with the fraction of the running time elapsed.
    Running(f64),
    /// AI only: delivering the answer.
    Delivering,
    Done,
}

impl Job {
    fn queued_for(&self) -> Duration {
        let default = match self.kind {
            JobKind::Ai => self.script.duration / 10,
            _ => Duration::ZERO,
        };
        self.script
            .queued_for
            .unwrap_or(default)
            .min(self.script.duration)
    }

    /// When running ends (AI: when delivering starts), as an offset from `added`.
    fn running_end(&self) -> Duration {
        let duration = self.script.duration;
        let delivering = if self.kind == JobKind::Ai && self.script.outcome == Outcome::Succeed {
            self.script.delivering_for.unwrap_or(duration / 10)
        } else {
            Duration::ZERO
        };
        duration.saturating_sub(delivering).max(self.queued_for())
    }

    fn finished_at(&self) -> Instant {
        later(self.added, self.script.duration)
    }

    fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.added);
        let (queued, running_end) = (self.queued_for(), self.running_end());
        if elapsed >= self.script.duration {
            Phase::Done
        } else if elapsed < queued {
            Phase::Queued
        } else if elapsed < running_end {
            Phase::Running(fraction(elapsed - queued, running_end - queued))
        } else {
            Phase::Delivering
        }
    }

    /// The wall-clock time `offset` after the job was added, as RFC 3339 with milliseconds.
    fn wall(&self, offset: Duration) -> String {
        let offset = TimeDelta::from_std(offset).unwrap_or(TimeDelta::zero());
        self.added_wall
            .checked_add_signed(offset)
            .unwrap_or(self.added_wall)
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    fn failure(&self) -> Option<&str> {
        match &self.script.outcome {
            Outcome::Fail(message) => Some(message),
            _ => None,
        }
    }

    /// `GET /v1/jobs/{jobId}/status` body.
    fn schema_refresh_body(&self, now: Instant) -> Value {
        let status = match (self.phase(now), &self.script.outcome) {
            (Phase::Done, Outcome::Succeed) => "COMPLETED",
            (Phase::Done, _) => "FAILED",
            _ => "RUNNING",
        };
        json!({"job_type": self.schema_job_type(), "job_id": self.id, "status": status})
    }

    fn schema_job_type(&self) -> &str {
        self.script.job_type.as_deref().unwrap_or("refresh_schema")
    }

    /// The AI conversation id.
    fn conversation(&self) -> Uuid {
        self.other_ids[0]
    }

    fn chat_url(&self) -> String {
        format!("{CHAT_URL}{}", self.conversation())
    }

    /// The AI topic: the one submitted, else the sample's.
    fn topic(&self) -> &str {
        match &self.origin {
            Origin::Ai {
                topic: Some(topic), ..
            } => topic,
            _ => "order_items",
        }
    }

    /// The AI `state` at `now`, given when (if ever) the job was cancelled through the
    /// endpoint.
    fn ai_state(&self, now: Instant, cancelled: Option<Instant>) -> &'static str {
        if cancelled.is_some_and(|at| at <= now) {
            return "CANCELLED";
        }
        match self.phase(now) {
            Phase::Queued => "QUEUED",
            Phase::Running(_) => "EXECUTING",
            Phase::Delivering => "DELIVERING",
            Phase::Done => match self.script.outcome {
                Outcome::Succeed => "COMPLETE",
                Outcome::Fail(_) => "FAILED",
                Outcome::Cancel => "CANCELLED",
            },
        }
    }

    /// `GET /v1/ai/jobs/{jobId}` body at `now`, given when (if ever) the job was cancelled
    /// through `POST /v1/ai/jobs/{jobId}/cancel`: from that instant on it is `CANCELLED`.
    fn ai_body(&self, now: Instant, cancelled: Option<Instant>) -> Value {
        let [conversation, user] = self.other_ids;
        let (prompt, model_id, branch_id) = match &self.origin {
            Origin::Ai {
                prompt,
                model_id,
                branch_id,
                ..
            } => (prompt.as_str(), *model_id, *branch_id),
            _ => (
                "What are the top 5 products by revenue?",
                Uuid::from_u128(0x770e_8400_e29b_41d4_a716_4466_5544_0002),
                None,
            ),
        };
        let mut body = json!({
            "id": self.id,
            "prompt": prompt,
            "conversationId": conversation,
            "modelId": model_id,
            "branchId": branch_id,
            "organizationId": Uuid::from_u128(0x880e_8400_e29b_41d4_a716_4466_5544_0003),
            "userId": user,
            "topicName": self.topic(),
            "omniChatUrl": self.chat_url(),
            "createdAt": self.wall(Duration::ZERO),
        });
        let (queued, running_end, duration) =
            (self.queued_for(), self.running_end(), self.script.duration);
        if let Some(at) = cancelled.filter(|at| *at <= now) {
            let offset = at.saturating_duration_since(self.added);
            if self.phase(at) != Phase::Queued {
                body["executionStartedAt"] = json!(self.wall(queued));
            }
            body["state"] = json!("CANCELLED");
            body["cancelledAt"] = json!(self.wall(offset));
            body["cancelledBy"] = json!(user);
            body["updatedAt"] = json!(self.wall(offset));
            return body;
        }
        let phase = self.phase(now);
        let started = match phase {
            Phase::Queued => false,
            // A job that ends while queued never started executing.
            Phase::Done => queued < duration,
            _ => true,
        };
        if started {
            body["executionStartedAt"] = json!(self.wall(queued));
        }
        let (state, updated) = match phase {
            Phase::Queued => ("QUEUED", Duration::ZERO),
            Phase::Running(fraction) => {
                let messages = self.progress_messages();
                let count = messages.len().max(1);
                let index = ((fraction * count as f64).floor() as usize).min(count - 1);
                let slice = (running_end - queued) / u32::try_from(count).unwrap_or(1);
                let updated = queued + slice * u32::try_from(index).unwrap_or(0);
                body["progress"] = json!({
                    "iteration": index + 1,
                    "message": messages.get(index).map_or("Thinking", String::as_str),
                    "updatedAt": self.wall(updated),
                });
                ("EXECUTING", updated)
            }
            Phase::Delivering => ("DELIVERING", running_end),
            Phase::Done => {
                match &self.script.outcome {
                    Outcome::Succeed => {
                        let summary = self.script.result_summary.as_deref();
                        body["resultSummary"] = json!(summary.unwrap_or(DEFAULT_RESULT_SUMMARY));
                        body["completedAt"] = json!(self.wall(duration));
                    }
                    Outcome::Fail(message) => {
                        let mut error = json!({"message": message});
                        if let Some(code) = &self.script.error_code {
                            error["code"] = json!(code);
                        }
                        if let Some(detail) = &self.script.error_detail {
                            error["detail"] = json!(detail);
                        }
                        body["error"] = error;
                        body["completedAt"] = json!(self.wall(duration));
                    }
                    Outcome::Cancel => {
                        body["cancelledAt"] = json!(self.wall(duration));
                        body["cancelledBy"] = json!(user);
                    }
                }
                let state = match self.script.outcome {
                    Outcome::Succeed => "COMPLETE",
                    Outcome::Fail(_) => "FAILED",
                    Outcome::Cancel => "CANCELLED",
                };
                (state, duration)
            }
        };
        body["state"] = json!(state);
        body["updatedAt"] = json!(self.wall(updated));
        body
    }

    fn progress_messages(&self) -> Vec<String> {
        if self.script.messages.is_empty() {
            [
                "Choosing a topic",
                "Running query: Top products by revenue",
                "Summarizing results",
            ]
            .map(str::to_owned)
            .to_vec()
        } else {
            self.script.messages.clone()
        }
    }

    /// Retailgrid `GET /v1/jobs/{job_id}` body.
    fn retailgrid_body(&self, now: Instant) -> Value {
        let (queued, duration) = (self.queued_for(), self.script.duration);
        let curve = self.script.curve;
        let phase = self.phase(now);
        let (status, progress) = match phase {
            Phase::Queued => ("pending", curve.at(0.0)),
            Phase::Running(fraction) => ("running", curve.at(fraction)),
            Phase::Delivering => ("running", curve.at(1.0)),
            Phase::Done => match self.script.outcome {
                Outcome::Succeed => ("completed", Some(100)),
                Outcome::Fail(_) => ("failed", curve.at(1.0)),
                Outcome::Cancel => ("cancelled", curve.at(1.0)),
            },
        };
        let started = phase != Phase::Queued;
        let done = phase == Phase::Done;
        json!({
            "job_id": self.id,
            "job_type": self.script.job_type.as_deref().unwrap_or("bulk_upsert"),
            "status": status,
            "progress": progress,
            "created_at": self.wall(Duration::ZERO),
            "started_at": started.then(|| self.wall(queued)),
            "completed_at": done.then(|| self.wall(duration)),
            "error_message": if done { self.failure() } else { None },
            "grid_id": self.other_ids[0],
            "related_grid_fill_job_id": null,
            "grid_items_count": null,
        })
    }

    /// The long poll's answer for this (finished) query job.
    fn query_body(&self, result: &str) -> Value {
        let [client_result_id, _] = self.other_ids;
        let execution_ms = u64::try_from(self.script.duration.as_millis()).unwrap_or(u64::MAX);
        match &self.script.outcome {
            Outcome::Succeed => json!({
                "job_id": self.id,
                "status": "COMPLETE",
                "client_result_id": client_result_id,
                "summary": {
                    "sql": "SELECT order_items.id, products.name, order_items.sale_price, \
                            order_items.returned, order_items.created_at FROM order_items \
                            JOIN products ON products.id = order_items.product_id LIMIT 4",
                    "total_rows": SAMPLE_RESULT_ROWS,
                    "execution_time_ms": execution_ms,
                    "fields": SAMPLE_RESULT_FIELDS,
                },
                "query": {
                    "table": "order_items",
                    "fields": SAMPLE_RESULT_FIELDS,
                    "limit": SAMPLE_RESULT_ROWS,
                },
                "result": result,
                "stream_stats": {"server_stream": 1},
                "timed_out": false,
            }),
            Outcome::Fail(message) => json!({
                "job_id": self.id,
                "status": "FAILED",
                "client_result_id": client_result_id,
                "error": message,
                "timed_out": false,
            }),
            Outcome::Cancel => json!({
                "job_id": self.id,
                "status": "CANCELLED",
                "client_result_id": client_result_id,
                "error": "Query was cancelled",
                "timed_out": false,
            }),
        }
    }
}

impl Job {
    /// `GET /v1/ai/jobs/{jobId}/result` body of a complete AI job: one `generate_query`
    /// action answering the table of [`sample_result_ipc`] as CSV, then a `summarize`
    /// action with the result summary.
    fn ai_result_body(&self) -> Value {
        let summary = self
            .script
            .result_summary
            .as_deref()
            .unwrap_or(DEFAULT_RESULT_SUMMARY);
        json!({
            "actions": [
                {
                    "type": "generate_query",
                    "message": "I'll generate a query to list recent order items with their \
                                products.",
                    "timestamp": self.wall(self.queued_for()),
                    "result": {
                        "csvResult": SAMPLE_RESULT_CSV,
                        "csvResultWasTruncated": false,
                        "hasResults": true,
                        "query": {
                            "table": "order_items",
                            "fields": SAMPLE_RESULT_FIELDS,
                            "limit": SAMPLE_RESULT_ROWS,
                        },
                        "queryName": "Recent order items",
                        "status": "success",
                        "totalRowCount": SAMPLE_RESULT_ROWS,
                    },
                },
                {
                    "type": "summarize",
                    "message": summary,
                    "timestamp": self.wall(self.running_end()),
                },
            ],
            "message": summary,
            "omniChatUrl": self.chat_url(),
            "resultSummary": summary,
            "topic": self.topic(),
        })
    }

    /// Where a download stands at `now`: `Ok(false)` processing, `Ok(true)` succeeded,
    /// `Err(message)` failed.
    fn download_outcome(&self, now: Instant) -> Result<bool, String> {
        if self.phase(now) != Phase::Done {
            return Ok(false);
        }
        match &self.script.outcome {
            Outcome::Succeed => Ok(true),
            Outcome::Fail(message) => Err(message.clone()),
            Outcome::Cancel => Err("Download was cancelled".to_owned()),
        }
    }
}

/// `at + after`, capped at about 30 years from `at` instead of overflowing (scripts and
/// configurations may use `Duration::MAX` for "never").
fn later(at: Instant, after: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    at.checked_add(after.min(FAR)).unwrap_or(at)
}

/// `part / whole` in `[0, 1]`; 1 when `whole` is zero.
fn fraction(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        1.0
    } else {
        (part.as_secs_f64() / whole.as_secs_f64()).clamp(0.0, 1.0)
    }
}

/// A fixed rate-limit window.
#[derive(Debug, Default)]
struct Window {
    start: Option<Instant>,
    admitted: u32,
}

impl Window {
    /// Admits a request, or says how long until the window ends.
    fn admit(&mut self, now: Instant, (limit, length): (u32, Duration)) -> Result<(), Duration> {
        let start = match self.start {
            Some(start) if now < later(start, length) => start,
            _ => {
                self.start = Some(now);
                self.admitted = 0;
                now
            }
        };
        if self.admitted < limit {
            self.admitted += 1;
            Ok(())
        } else {
            Err(later(start, length).saturating_duration_since(now))
        }
    }
}

/// Everything that changes while the simulator runs.
#[derive(Debug, Default)]
struct Mutable {
    jobs: HashMap<Uuid, Arc<Job>>,
    /// When AI jobs were cancelled through `POST /v1/ai/jobs/{jobId}/cancel`: jobs are
    /// immutable, so this is the one thing about them that changes.
    cancelled: HashMap<Uuid, Instant>,
    /// Models whose schema refresh needs `branch_id` ([`Simulator::require_branch`]).
    branch_required: HashSet<Uuid>,
    next_refresh: VecDeque<JobScript>,
    next_ai: VecDeque<JobScript>,
    next_download: VecDeque<JobScript>,
    next_query_run: VecDeque<QueryRun>,
    /// The jobs the start endpoints created, in creation order.
    started: Vec<Uuid>,
    faults: Vec<Fault>,
    requests: Vec<RecordedRequest>,
    omni_window: Window,
    retailgrid_window: Window,
}

impl Mutable {
    fn insert(&mut self, job: Job) -> Arc<Job> {
        let job = Arc::new(job);
        self.jobs.insert(job.id, Arc::clone(&job));
        job
    }

    /// Inserts a job a start endpoint created.
    fn start(&mut self, job: Job) -> Arc<Job> {
        self.started.push(job.id);
        self.insert(job)
    }
}

/// A job added now, with fresh ids.
fn new_job(kind: JobKind, script: JobScript, origin: Origin) -> Job {
    Job {
        id: Uuid::new_v4(),
        kind,
        script,
        added: Instant::now(),
        added_wall: Utc::now(),
        other_ids: [Uuid::new_v4(), Uuid::new_v4()],
        origin,
    }
}

/// The script of a started job when none is queued.
fn default_started_script() -> JobScript {
    JobScript::succeed_after(DEFAULT_STARTED_JOB_DURATION)
}

/// State shared by the server task and the [`Simulator`] handle.
#[derive(Debug)]
struct Shared {
    config: SimConfig,
    /// Base64 of [`sample_result_ipc`], computed once.
    result_base64: String,
    state: Mutex<Mutable>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulator (see the [module documentation](self)). Dropping it stops the
/// server in the background; [`Simulator::shutdown`] also waits for it to stop.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1` with a free port. Must be called within a tokio
    /// runtime (with the `rt-multi-thread` or current-thread flavour; not with paused time).
    ///
    /// Fails if no port can be bound or the sample Arrow result cannot be encoded.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let ipc = sample_result_ipc().map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            config,
            result_base64: base64::engine::general_purpose::STANDARD.encode(ipc),
            state: Mutex::new(Mutable::default()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, router).with_graceful_shutdown(async {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            });
            // The only errors are from accepting connections; nothing to report them to.
            let _ = server.await;
        });
        Ok(Simulator {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Starts a simulator with [`SimConfig::default`]: Omni token [`DEFAULT_OMNI_TOKEN`],
    /// no Retailgrid token, 60 Omni requests per minute, 500 ms long polls.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> std::io::Result<()> {
    /// let sim = sdk_tests::sim::Simulator::start_default().await?;
    /// assert!(sim.omni_base_url().starts_with("http://127.0.0.1:"));
    /// assert!(sim.omni_base_url().ends_with("/omni"));
    /// # Ok(()) }
    /// ```
    pub async fn start_default() -> std::io::Result<Simulator> {
        Self::start(SimConfig::default()).await
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing `/`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Omni base URL, `http://127.0.0.1:PORT/omni`.
    pub fn omni_base_url(&self) -> String {
        format!("{}{}", self.base_url(), Api::OMNI_PREFIX)
    }

    /// The Retailgrid base URL, `http://127.0.0.1:PORT/retailgrid`.
    pub fn retailgrid_base_url(&self) -> String {
        format!("{}{}", self.base_url(), Api::RETAILGRID_PREFIX)
    }

    /// An Omni client for this simulator, with the configured token.
    pub fn omni_client(&self) -> Result<omni_sdk::Client, omni_sdk::ConfigError> {
        omni_sdk::Client::builder()
            .base_url(self.omni_base_url())
            .bearer_token(self.shared.config.omni_token.clone())
            .build()
    }

    /// A Retailgrid client for this simulator, with the configured token if any.
    pub fn retailgrid_client(&self) -> Result<retailgrid_sdk::Client, retailgrid_sdk::ConfigError> {
        let builder = retailgrid_sdk::Client::builder().base_url(self.retailgrid_base_url());
        match &self.shared.config.retailgrid_token {
            Some(token) => builder.bearer_token(token.clone()).build(),
            None => builder.build(),
        }
    }

    fn add(&self, kind: JobKind, script: JobScript) -> Uuid {
        let job = new_job(kind, script, Origin::Added);
        self.shared.lock().insert(job).id
    }

    /// Adds an Omni schema refresh job (`GET /v1/jobs/{jobId}/status`); returns its id.
    pub fn add_schema_refresh(&self, script: JobScript) -> Uuid {
        self.add(JobKind::SchemaRefresh, script)
    }

    /// Adds an Omni AI job (`GET /v1/ai/jobs/{jobId}`); returns its id.
    pub fn add_ai_job(&self, script: JobScript) -> Uuid {
        self.add(JobKind::Ai, script)
    }

    /// Adds an Omni query job (`GET /v1/query/wait`); returns its id. A successful one
    /// answers the table of [`sample_result_ipc`].
    pub fn add_query_job(&self, script: JobScript) -> Uuid {
        self.add(JobKind::Query, script)
    }

    /// Adds a Retailgrid job (`GET /v1/jobs/{job_id}`); returns its id.
    pub fn add_retailgrid_job(&self, script: JobScript) -> Uuid {
        self.add(JobKind::Retailgrid, script)
    }

    /// Queues the script of the next job `POST /v1/models/{modelId}/refresh` starts (first
    /// in, first out). With none queued, a refresh succeeds after
    /// [`DEFAULT_STARTED_JOB_DURATION`].
    pub fn script_next_refresh(&self, script: JobScript) {
        self.shared.lock().next_refresh.push_back(script);
    }

    /// Queues the script of the next job `POST /v1/ai/jobs` submits (first in, first out).
    /// With none queued, an AI job succeeds after [`DEFAULT_STARTED_JOB_DURATION`].
    pub fn script_next_ai_job(&self, script: JobScript) {
        self.shared.lock().next_ai.push_back(script);
    }

    /// Queues the script of the next job `POST /v1/dashboards/{identifier}/download`
    /// starts (first in, first out). With none queued, a download of
    /// [`DEFAULT_FILE_SIZE`] bytes succeeds after [`DEFAULT_STARTED_JOB_DURATION`].
    pub fn script_next_download(&self, script: JobScript) {
        self.shared.lock().next_download.push_back(script);
    }

    /// Queues the next `POST /v1/query/run` (first in, first out). With none queued, a run
    /// is one query that succeeds after [`DEFAULT_RUN_QUERY_DURATION`].
    pub fn script_next_query_run(&self, run: QueryRun) {
        self.shared.lock().next_query_run.push_back(run);
    }

    /// Makes `POST /v1/models/{model_id}/refresh` answer 400 when `branch_id` is absent, as
    /// Omni does for a model whose connection has branch-based schema refresh enabled.
    pub fn require_branch(&self, model_id: Uuid) {
        self.shared.lock().branch_required.insert(model_id);
    }

    /// The ids of the jobs the start endpoints created so far, in creation order (a query
    /// run's in query order), including the queries a 408 answer does not name.
    pub fn started_jobs(&self) -> Vec<Uuid> {
        self.shared.lock().started.clone()
    }

    /// Injects a fault; see [`Fault`] for when it applies.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Removes every fault, used up or not.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Forgets the recorded requests (not the rate-limit windows).
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Stops accepting connections and waits up to one second for requests in flight
    /// (a held long poll, for instance), then stops the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Simulator {
    /// Starts a graceful shutdown in the background: no new connections, idle ones closed,
    /// requests in flight answered.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Percent-decodes a query string, reading `+` as a space.
fn decode(query: &str) -> String {
    percent_encoding::percent_decode_str(&query.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-decodes a path segment (`+` stays a `+`).
fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether `headers` carry exactly one `Authorization: Bearer <token>`.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    value.split_once(' ').is_some_and(|(scheme, credentials)| {
        scheme.eq_ignore_ascii_case("bearer") && credentials.trim_start() == token
    })
}

/// The recorded form of a header: `authorization` redacted.
fn recorded_header(name: &HeaderName, value: &HeaderValue) -> (String, String) {
    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
    if *name == header::AUTHORIZATION {
        let redacted = if value
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        {
            "Bearer <redacted>"
        } else {
            "<redacted>"
        };
        return (name.as_str().to_owned(), redacted.to_owned());
    }
    (name.as_str().to_owned(), value)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Whole seconds, rounded up, at least 1.
fn retry_after_secs(after: Duration) -> u64 {
    let secs = after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0));
    secs.max(1)
}

/// The server's only handler: records the request, then answers it.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let api = Api::of(&path);
    let authorized = match api {
        Some((Api::Omni, _)) => bearer_matches(&parts.headers, &shared.config.omni_token),
        Some((Api::Retailgrid, _)) => shared
            .config
            .retailgrid_token
            .as_deref()
            .is_none_or(|token| bearer_matches(&parts.headers, token)),
        None => false,
    };
    let index = {
        let mut state = shared.lock();
        state.requests.push(RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: path.clone(),
            query: query.clone(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| recorded_header(n, v))
                .collect(),
            body: Vec::new(),
            authorized,
            at: arrived.into_std(),
            status: None,
        });
        state.requests.len() - 1
    };
    // Read whatever the request is: the body is recorded even when it is not used.
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY).await.ok();
    if let Some(bytes) = body.as_ref().filter(|bytes| !bytes.is_empty())
        && let Some(recorded) = recorded_mut(&mut shared.lock(), index, arrived, &path)
    {
        recorded.body = bytes.to_vec();
    }
    let response = respond(
        &shared,
        api,
        authorized,
        &parts.method,
        query.as_deref(),
        body.as_deref(),
    )
    .await;
    if let Some(recorded) = recorded_mut(&mut shared.lock(), index, arrived, &path) {
        recorded.status = Some(response.status().as_u16());
    }
    response
}

/// The recorded request at `index`, if it is still the one that arrived at `arrived` for
/// `path` (`clear_requests` may have run meanwhile).
fn recorded_mut<'a>(
    state: &'a mut Mutable,
    index: usize,
    arrived: Instant,
    path: &str,
) -> Option<&'a mut RecordedRequest> {
    state
        .requests
        .get_mut(index)
        .filter(|recorded| recorded.at == arrived.into_std() && recorded.path == path)
}

/// An endpoint, with its path parameters (as received, still percent-encoded).
#[derive(Debug, Clone, Copy)]
enum Route<'a> {
    RefreshStatus(&'a str),
    ModelRefresh(&'a str),
    AiStatus(&'a str),
    AiSubmit,
    AiResult(&'a str),
    AiCancel(&'a str),
    QueryWait,
    QueryRun,
    DownloadStart(&'a str),
    DownloadFile(&'a str, &'a str),
    DownloadStatus(&'a str, &'a str),
    RetailgridJob(&'a str),
}

impl<'a> Route<'a> {
    /// The endpoint of a path (below the API prefix, split at `/`), if any.
    fn of(api: Api, segments: &[&'a str]) -> Option<Route<'a>> {
        let route = match (api, segments) {
            (Api::Omni, ["v1", "jobs", id, "status"]) => Route::RefreshStatus(id),
            (Api::Omni, ["v1", "models", model, "refresh"]) => Route::ModelRefresh(model),
            (Api::Omni, ["v1", "ai", "jobs"]) => Route::AiSubmit,
            (Api::Omni, ["v1", "ai", "jobs", id]) => Route::AiStatus(id),
            (Api::Omni, ["v1", "ai", "jobs", id, "result"]) => Route::AiResult(id),
            (Api::Omni, ["v1", "ai", "jobs", id, "cancel"]) => Route::AiCancel(id),
            (Api::Omni, ["v1", "query", "wait"]) => Route::QueryWait,
            (Api::Omni, ["v1", "query", "run"]) => Route::QueryRun,
            (Api::Omni, ["v1", "dashboards", dashboard, "download"]) => {
                Route::DownloadStart(dashboard)
            }
            (Api::Omni, ["v1", "dashboards", dashboard, "download", id]) => {
                Route::DownloadFile(dashboard, id)
            }
            (Api::Omni, ["v1", "dashboards", dashboard, "download", id, "status"]) => {
                Route::DownloadStatus(dashboard, id)
            }
            (Api::Retailgrid, ["v1", "jobs", id]) => Route::RetailgridJob(id),
            _ => return None,
        };
        Some(route)
    }

    /// The one method the endpoint answers.
    fn method(self) -> &'static str {
        match self {
            Route::ModelRefresh(_)
            | Route::AiSubmit
            | Route::AiCancel(_)
            | Route::QueryRun
            | Route::DownloadStart(_) => "POST",
            Route::RefreshStatus(_)
            | Route::AiStatus(_)
            | Route::AiResult(_)
            | Route::QueryWait
            | Route::DownloadFile(..)
            | Route::DownloadStatus(..)
            | Route::RetailgridJob(_) => "GET",
        }
    }
}

/// Steps 1–5 of the module documentation.
async fn respond(
    shared: &Shared,
    api: Option<(Api, &str)>,
    authorized: bool,
    method: &Method,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    let Some((api, rest)) = api else {
        return json_response(StatusCode::NOT_FOUND, &json!({"detail": "Not Found"}));
    };
    if !authorized {
        return match api {
            Api::Omni => api.error(StatusCode::UNAUTHORIZED, "Unauthorized"),
            Api::Retailgrid => {
                let mut response = api.error(StatusCode::UNAUTHORIZED, "Not authenticated");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
        };
    }
    let path = format!(
        "{}{rest}",
        match api {
            Api::Omni => Api::OMNI_PREFIX,
            Api::Retailgrid => Api::RETAILGRID_PREFIX,
        }
    );
    let (delay, answer) = {
        let mut state = shared.lock();
        let now = Instant::now();
        let limited = match api {
            Api::Omni => shared
                .config
                .rate_limit
                .map(|limit| state.omni_window.admit(now, limit)),
            Api::Retailgrid => shared
                .config
                .retailgrid_rate_limit
                .map(|limit| state.retailgrid_window.admit(now, limit)),
        };
        if let Some(Err(after)) = limited {
            let mut response = api.error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
            return response;
        }
        take_faults(&mut state.faults, &path, query)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(kind) = answer {
        return fault_response(api, &kind);
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let Some(route) = Route::of(api, &segments) else {
        return api.error(StatusCode::NOT_FOUND, "Not Found");
    };
    if method.as_str() != route.method() {
        let mut response = api.error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(route.method()));
        return response;
    }
    let answer = match route {
        Route::RefreshStatus(id) => Ok(schema_refresh_status(shared, id)),
        Route::ModelRefresh(model) => model_refresh(shared, model, query),
        Route::AiStatus(id) => Ok(ai_job(shared, id)),
        Route::AiSubmit => ai_submit(shared, body),
        Route::AiResult(id) => ai_result(shared, id),
        Route::AiCancel(id) => ai_cancel(shared, id),
        Route::QueryWait => Ok(wait_for_query(shared, query).await),
        Route::QueryRun => query_run(shared, body).await,
        Route::DownloadStart(dashboard) => download_start(shared, dashboard, body),
        Route::DownloadFile(dashboard, id) => download_file_response(shared, dashboard, id),
        Route::DownloadStatus(dashboard, id) => download_status(shared, dashboard, id),
        Route::RetailgridJob(id) => Ok(retailgrid_job(shared, id)),
    };
    answer.unwrap_or_else(Reject::into_response)
}

/// The summed delay of the matching delay faults, and the first matching answering fault.
fn take_faults(
    faults: &mut [Fault],
    path: &str,
    query: Option<&str>,
) -> (Duration, Option<FaultKind>) {
    let mut delay = Duration::ZERO;
    for fault in faults.iter_mut() {
        if let FaultKind::Delay(d) = fault.kind
            && fault.matches(path, query)
        {
            fault.use_once();
            delay = delay.saturating_add(d);
        }
    }
    let answer = faults
        .iter_mut()
        .find(|f| !matches!(f.kind, FaultKind::Delay(_)) && f.matches(path, query))
        .map(|fault| {
            fault.use_once();
            fault.kind.clone()
        });
    (delay, answer)
}

fn fault_response(api: Api, kind: &FaultKind) -> Response {
    match kind {
        FaultKind::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = api.error(status, status.canonical_reason().unwrap_or("Error"));
            if let Some(after) = retry_after {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(*after)),
                );
            }
            response
        }
        FaultKind::MalformedBody => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"job_id": "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf", "status": "RUNN"#,
        )
            .into_response(),
        // Delays never answer; `take_faults` does not return them.
        FaultKind::Delay(_) => {
            api.error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// The job with this path id, or the error answer of the API.
fn omni_job(shared: &Shared, id: &str) -> Result<Arc<Job>, (StatusCode, &'static str)> {
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

fn schema_refresh_status(shared: &Shared, id: &str) -> Response {
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

fn ai_job(shared: &Shared, id: &str) -> Response {
    match omni_job(shared, id) {
        Ok(job) if job.kind == JobKind::Ai => {
            let cancelled = shared.lock().cancelled.get(&job.id).copied();
            json_response(StatusCode::OK, &job.ai_body(Instant::now(), cancelled))
        }
        Ok(_) => Api::Omni.error(StatusCode::NOT_FOUND, "Job not found"),
        Err((status, message)) => Api::Omni.error(status, message),
    }
}

fn retailgrid_job(shared: &Shared, id: &str) -> Response {
    let raw = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    let id = match Uuid::parse_str(&raw) {
        Ok(id) => id,
        Err(e) => {
            // pydantic-core parses UUIDs with the same `uuid` crate, so its reason reads
            // the same.
            let reason = e.to_string();
            let body = json!({"detail": [{
                "type": "uuid_parsing",
                "loc": ["path", "job_id"],
                "msg": format!("Input should be a valid UUID, {reason}"),
                "input": raw,
                "ctx": {"error": reason},
            }]});
            return json_response(StatusCode::UNPROCESSABLE_ENTITY, &body);
        }
    };
    let job = shared
        .lock()
        .jobs
        .get(&id)
        .filter(|job| job.kind == JobKind::Retailgrid)
        .cloned();
    match job {
        Some(job) => json_response(StatusCode::OK, &job.retailgrid_body(Instant::now())),
        None => Api::Retailgrid.error(StatusCode::NOT_FOUND, "Job not found"),
    }
}

/// An error answer of a start endpoint or companion, in the `{"detail", "status"}` shape
/// ([`detail_error`]); small, unlike a `Response`.
#[derive(Debug)]
struct Reject {
    status: StatusCode,
    detail: String,
}

impl Reject {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Reject {
            status,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    fn into_response(self) -> Response {
        detail_error(self.status, &self.detail)
    }
}

/// The request body as a JSON object, or the 400 answer.
fn json_object(body: Option<&[u8]>) -> Result<serde_json::Map<String, Value>, Reject> {
    match body.map(serde_json::from_slice::<Value>) {
        Some(Ok(Value::Object(fields))) => Ok(fields),
        _ => Err(Reject::bad_request(
            "Bad Request: body must be a JSON object",
        )),
    }
}

/// A body field that must be present (not `null`).
fn required<'a>(
    fields: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a Value, Reject> {
    fields
        .get(key)
        .filter(|value| !value.is_null())
        .ok_or_else(|| Reject::bad_request(format!("Bad Request: {key}: Required")))
}

/// A body field holding a UUID string, if present (`null` counts as absent).
fn optional_uuid(
    fields: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<Uuid>, Reject> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => uuid_field(value, key).map(Some),
    }
}

fn uuid_field(value: &Value, key: &str) -> Result<Uuid, Reject> {
    value
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| Reject::bad_request(format!("Bad Request: {key}: Invalid uuid")))
}

/// `POST /v1/models/{modelId}/refresh`.
fn model_refresh(shared: &Shared, model: &str, query: Option<&str>) -> Result<Response, Reject> {
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
fn ai_submit(shared: &Shared, body: Option<&[u8]>) -> Result<Response, Reject> {
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

fn is_terminal(ai_state: &str) -> bool {
    matches!(ai_state, "COMPLETE" | "FAILED" | "CANCELLED")
}

/// The AI job of a path id and when it was cancelled, or the `{detail, status}` answer.
fn ai_job_for(shared: &Shared, id: &str) -> Result<(Arc<Job>, Option<Instant>), Reject> {
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
fn ai_result(shared: &Shared, id: &str) -> Result<Response, Reject> {
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
fn ai_cancel(shared: &Shared, id: &str) -> Result<Response, Reject> {
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
async fn query_run(shared: &Shared, body: Option<&[u8]>) -> Result<Response, Reject> {
    let fields = json_object(body)?;
    required(&fields, "query")?;
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
const DOWNLOAD_BODY_KEYS: [&str; 16] = [
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
fn download_start(
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
fn download_job_for(
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
fn download_file_response(shared: &Shared, dashboard: &str, id: &str) -> Result<Response, Reject> {
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
fn download_status(shared: &Shared, dashboard: &str, id: &str) -> Result<Response, Reject> {
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
fn file_response(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
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
fn file_body(bytes: Vec<u8>) -> Body {
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
fn detail_error(status: StatusCode, detail: &str) -> Response {
    json_response(
        status,
        &json!({"detail": detail, "status": status.as_u16()}),
    )
}

/// The asked job ids, in order without duplicates, or the `detail` of the 400 answer.
fn parse_job_ids(query: Option<&str>) -> Result<Vec<Uuid>, &'static str> {
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

/// `GET /v1/query/wait`: see the module documentation.
async fn wait_for_query(shared: &Shared, query: Option<&str>) -> Response {
    let ids = match parse_job_ids(query) {
        Ok(ids) => ids,
        Err(detail) => return detail_error(StatusCode::BAD_REQUEST, detail),
    };
    let jobs: Vec<Arc<Job>> = {
        let state = shared.lock();
        let mut jobs = Vec::with_capacity(ids.len());
        for id in &ids {
            match state.jobs.get(id).filter(|job| job.kind == JobKind::Query) {
                Some(job) => jobs.push(Arc::clone(job)),
                None => {
                    return detail_error(
                        StatusCode::NOT_FOUND,
                        &format!("Job with id {id} does not exist"),
                    );
                }
            }
        }
        jobs
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

/// The content of a downloaded file: what `GET /v1/dashboards/{identifier}/download/{jobId}`
/// answers for the download job `job_id` in `format`, `len` bytes long (the script's
/// [`JobScript::with_file_size`]).
///
/// The bytes are deterministic, so a test can compare a download with them, and differ
/// from job to job, so a mixed-up download is caught. They start like the format (`%PDF-1.7`
/// for pdf, the PNG signature, a zip header for xlsx, a CSV header, `{"data":"` for json),
/// then filler derived from `job_id`: text (hex digits, with a newline every 64 characters
/// for csv) for csv and json, binary otherwise. A pdf ends with `%%EOF\n` and a json with
/// `"}` when `len` leaves room for them. Any other format gets no prefix and binary
/// filler. Everything is cut at `len`.
///
/// ```
/// let job = uuid::Uuid::new_v4();
/// let pdf = sdk_tests::sim::download_file(job, "pdf", 1000);
/// assert_eq!(pdf.len(), 1000);
/// assert!(pdf.starts_with(b"%PDF-1.7\n") && pdf.ends_with(b"%%EOF\n"));
/// assert_eq!(pdf, sdk_tests::sim::download_file(job, "pdf", 1000));
/// let json = sdk_tests::sim::download_file(job, "json", 100);
/// assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
/// assert_eq!(sdk_tests::sim::download_file(job, "png", 4), b"\x89PNG");
/// ```
pub fn download_file(job_id: Uuid, format: &str, len: usize) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let (prefix, suffix, text): (&[u8], &[u8], bool) = match format {
        "pdf" => (b"%PDF-1.7\n", b"\n%%EOF\n", false),
        "png" => (b"\x89PNG\r\n\x1a\n", b"", false),
        "xlsx" => (b"PK\x03\x04", b"", false),
        "csv" => (b"row,value\n", b"", true),
        "json" => (b"{\"data\":\"", b"\"}", true),
        _ => (b"", b"", false),
    };
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(prefix.get(..len).unwrap_or(prefix));
    let suffix = if len >= prefix.len() + suffix.len() {
        suffix
    } else {
        b""
    };
    let filler = len.saturating_sub(out.len() + suffix.len());
    // splitmix64, seeded with the job id
    let (high, low) = job_id.as_u64_pair();
    let mut state = high ^ low.rotate_left(32);
    let mut word = 0u64;
    for i in 0..filler {
        if i % 8 == 0 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word = z ^ (z >> 31);
        }
        let byte = word.to_le_bytes()[i % 8];
        out.push(match (text, format) {
            (true, "csv") if i % 65 == 64 => b'\n',
            (true, _) => HEX[usize::from(byte & 15)],
            (false, _) => byte,
        });
    }
    out.extend_from_slice(suffix);
    out
}

/// Rows in the table of [`sample_result_ipc`].
pub const SAMPLE_RESULT_ROWS: usize = 4;

/// Column names of the table of [`sample_result_ipc`], in order.
pub const SAMPLE_RESULT_FIELDS: [&str; 5] = [
    "order_items.id",
    "products.name",
    "order_items.sale_price",
    "order_items.returned",
    "order_items.created_at",
];

/// The table every successful query job answers, as an Arrow IPC **file** (starts and
/// ends with `ARROW1`): [`SAMPLE_RESULT_ROWS`] rows of `order_items.id` (Int64),
/// `products.name` (Utf8, one null), `order_items.sale_price` (Float64),
/// `order_items.returned` (Boolean, one null) and `order_items.created_at`
/// (Timestamp(ms, UTC)).
///
/// ```
/// let bytes = sdk_tests::sim::sample_result_ipc()?;
/// assert!(bytes.starts_with(b"ARROW1"));
/// let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)?;
/// let rows: usize = reader.map(|batch| batch.map(|b| b.num_rows())).sum::<Result<_, _>>()?;
/// assert_eq!(rows, sdk_tests::sim::SAMPLE_RESULT_ROWS);
/// # Ok::<(), arrow_schema::ArrowError>(())
/// ```
pub fn sample_result_ipc() -> Result<Vec<u8>, arrow_schema::ArrowError> {
    use arrow_array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMillisecondArray,
    };
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    let schema = Arc::new(Schema::new(vec![
        Field::new(SAMPLE_RESULT_FIELDS[0], DataType::Int64, false),
        Field::new(SAMPLE_RESULT_FIELDS[1], DataType::Utf8, true),
        Field::new(SAMPLE_RESULT_FIELDS[2], DataType::Float64, false),
        Field::new(SAMPLE_RESULT_FIELDS[3], DataType::Boolean, true),
        Field::new(
            SAMPLE_RESULT_FIELDS[4],
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1001, 1002, 1003, 1004])),
        Arc::new(StringArray::from(vec![
            Some("Sunglasses"),
            Some("Jeans"),
            None,
            Some("Sweater"),
        ])),
        Arc::new(Float64Array::from(vec![89.99, 49.5, 12.0, 64.25])),
        Arc::new(BooleanArray::from(vec![
            Some(false),
            Some(true),
            None,
            Some(false),
        ])),
        Arc::new(
            TimestampMillisecondArray::from(vec![
                1_736_935_200_000,
                1_736_938_800_000,
                1_736_942_400_000,
                1_736_946_000_000,
            ])
            .with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut bytes, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}
