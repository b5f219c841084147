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
//!
//! With [`SimConfig::query_dialect`] set to [`QueryDialect::Ndjson`], both endpoints follow
//! Omni's 2026-07-22 document instead: see [`QueryDialect::Ndjson`].

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

mod faults;
mod job;
mod omni;
mod record;
mod results;
mod retailgrid;
mod routes;
mod script;
mod stream;

pub use self::{faults::*, record::*, results::*, script::*, stream::QueryDialect};
#[allow(clippy::wildcard_imports)]
use self::{job::*, omni::*, retailgrid::*, routes::*, stream::*};

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
    /// Which of Omni's query contracts `query/wait` and `query/run` answer: the seeds'
    /// JSON (the default) or the 2026-07-22 document's NDJSON stream ([`QueryDialect`]).
    pub query_dialect: QueryDialect,
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
            query_dialect: QueryDialect::Json,
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
            .field("query_dialect", &self.query_dialect)
            .finish()
    }
}

/// A fixed rate-limit window.
#[derive(Debug, Default)]
pub(crate) struct Window {
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
pub(crate) struct Mutable {
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
pub(crate) fn new_job(kind: JobKind, script: JobScript, origin: Origin) -> Job {
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
pub(crate) fn default_started_script() -> JobScript {
    JobScript::succeed_after(DEFAULT_STARTED_JOB_DURATION)
}

/// State shared by the server task and the [`Simulator`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
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

    /// An Omni client for this simulator, with the configured token and no automatic
    /// retries (each call a test makes is one request the simulator answers and records).
    pub fn omni_client(&self) -> Result<omni_sdk::Client, omni_sdk::ConfigError> {
        omni_sdk::Client::builder()
            .base_url(self.omni_base_url())
            .retry_policy(omni_sdk::RetryPolicy::none())
            .bearer_token(self.shared.config.omni_token.clone())
            .build()
    }

    /// A Retailgrid client for this simulator, with the configured token if any and no
    /// automatic retries.
    pub fn retailgrid_client(&self) -> Result<retailgrid_sdk::Client, retailgrid_sdk::ConfigError> {
        let builder = retailgrid_sdk::Client::builder()
            .base_url(self.retailgrid_base_url())
            .retry_policy(retailgrid_sdk::RetryPolicy::none());
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
