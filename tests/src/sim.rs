//! A stateful simulator of the Omni and Retailgrid job endpoints, for tests and demos.
//!
//! [`Simulator::start`] binds one HTTP server on `127.0.0.1` with a free port and serves
//! both APIs from it, each under its own path prefix:
//!
//! | API | base URL ([`Simulator::omni_base_url`], [`Simulator::retailgrid_base_url`]) | endpoints |
//! | --- | --- | --- |
//! | Omni | `http://127.0.0.1:PORT/omni` | `GET /v1/jobs/{jobId}/status`, `GET /v1/ai/jobs/{jobId}`, `GET /v1/query/wait` |
//! | Retailgrid | `http://127.0.0.1:PORT/retailgrid` | `GET /v1/jobs/{job_id}` |
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
//! 5. The endpoint: an unknown path is 404 in the API's error shape, a method other than
//!    `GET` is 405.
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
//! | AI | `QUEUED` for the queued time (default `D/10`), `EXECUTING` (with `progress`), then for a successful job `DELIVERING` for the delivering time (default the last `D/10`), then `COMPLETE` / `FAILED` / `CANCELLED` |
//! | query | running until `D`, then `COMPLETE` with a result, `FAILED` or `CANCELLED` (see the long poll) |
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

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
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
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            omni_token: DEFAULT_OMNI_TOKEN.to_owned(),
            retailgrid_token: None,
            rate_limit: Some((60, Duration::from_secs(60))),
            retailgrid_rate_limit: None,
            long_poll_wait: DEFAULT_LONG_POLL_WAIT,
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
        }
    }

    /// A job that succeeds `duration` after it is added.
    pub fn succeed_after(duration: Duration) -> Self {
        Self::new(duration, Outcome::Succeed)
    }

    /// A job that fails `duration` after it is added, with this message (AI `error.message`,
    /// Retailgrid `error_message`, query `error`; a schema refresh only says `FAILED`).
    pub fn fail_after(duration: Duration, message: impl Into<String>) -> Self {
        Self::new(duration, Outcome::Fail(message.into()))
    }

    /// A job that is cancelled `duration` after it is added (AI `CANCELLED`, Retailgrid
    /// `cancelled`, query `CANCELLED`, schema refresh `FAILED`).
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
    Retailgrid,
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

    /// `GET /v1/ai/jobs/{jobId}` body.
    fn ai_body(&self, now: Instant) -> Value {
        let [conversation, user] = self.other_ids;
        let mut body = json!({
            "id": self.id,
            "prompt": "What are the top 5 products by revenue?",
            "conversationId": conversation,
            "modelId": Uuid::from_u128(0x770e_8400_e29b_41d4_a716_4466_5544_0002),
            "branchId": null,
            "organizationId": Uuid::from_u128(0x880e_8400_e29b_41d4_a716_4466_5544_0003),
            "userId": user,
            "topicName": "order_items",
            "omniChatUrl": format!("https://simulator.invalid/chat/{conversation}"),
            "createdAt": self.wall(Duration::ZERO),
        });
        let (queued, running_end, duration) =
            (self.queued_for(), self.running_end(), self.script.duration);
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
    faults: Vec<Fault>,
    requests: Vec<RecordedRequest>,
    omni_window: Window,
    retailgrid_window: Window,
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
        let job = Job {
            id: Uuid::new_v4(),
            kind,
            script,
            added: Instant::now(),
            added_wall: Utc::now(),
            other_ids: [Uuid::new_v4(), Uuid::new_v4()],
        };
        let id = job.id;
        self.shared.lock().jobs.insert(id, Arc::new(job));
        id
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
    let (parts, _body) = request.into_parts();
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
            authorized,
            at: arrived.into_std(),
            status: None,
        });
        state.requests.len() - 1
    };
    let response = respond(&shared, api, authorized, &parts.method, query.as_deref()).await;
    let mut state = shared.lock();
    // `clear_requests` may have run meanwhile: only fill in the entry if it is still ours.
    if let Some(recorded) = state.requests.get_mut(index)
        && recorded.at == arrived.into_std()
        && recorded.path == path
    {
        recorded.status = Some(response.status().as_u16());
    }
    response
}

/// Steps 1–5 of the module documentation.
async fn respond(
    shared: &Shared,
    api: Option<(Api, &str)>,
    authorized: bool,
    method: &Method,
    query: Option<&str>,
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
    let known = matches!(
        (api, segments.as_slice()),
        (
            Api::Omni,
            ["v1", "jobs", _, "status"] | ["v1", "ai", "jobs", _] | ["v1", "query", "wait"],
        ) | (Api::Retailgrid, ["v1", "jobs", _])
    );
    if !known {
        return api.error(StatusCode::NOT_FOUND, "Not Found");
    }
    if method != Method::GET {
        return api.error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    match (api, segments.as_slice()) {
        (Api::Omni, ["v1", "jobs", id, "status"]) => schema_refresh_status(shared, id),
        (Api::Omni, ["v1", "ai", "jobs", id]) => ai_job(shared, id),
        (Api::Omni, _) => wait_for_query(shared, query).await,
        (Api::Retailgrid, ["v1", "jobs", id]) => retailgrid_job(shared, id),
        (Api::Retailgrid, _) => api.error(StatusCode::NOT_FOUND, "Not Found"),
    }
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
            json_response(StatusCode::OK, &job.ai_body(Instant::now()))
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

fn wait_error(status: StatusCode, detail: &str) -> Response {
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
        Err(detail) => return wait_error(StatusCode::BAD_REQUEST, detail),
    };
    let jobs: Vec<Arc<Job>> = {
        let state = shared.lock();
        let mut jobs = Vec::with_capacity(ids.len());
        for id in &ids {
            match state.jobs.get(id).filter(|job| job.kind == JobKind::Query) {
                Some(job) => jobs.push(Arc::clone(job)),
                None => {
                    return wait_error(
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
