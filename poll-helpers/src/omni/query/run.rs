//! [`run_query`]: `POST /v1/query/run`, then the shared long polls for what is still
//! running.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use omni_sdk::ClientInfo;
use omni_sdk::types::{QueryRunBody, WaitForQueryResponse};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::wire::{announced_jobs, error_answer, finished_jobs, read_objects, send_raw};
use super::{QueryResult, failures, lock, long_poll};
use crate::error::{FetchError, FetchErrorKind};
use crate::omni::workflows::start_error;
use crate::omni::{MIN_POLL_INTERVAL, QUERY_RUN_TIMEOUT, floor_warning, shared_budget};
use crate::policy::PollPolicy;
use crate::poller::Poller;
use crate::snapshot::{Phase, Snapshot};

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
    /// Every query of the run that Omni's answer named. A query completed synchronously
    /// whose result does not name its job has the nil UUID as `job_id`.
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
    /// Failed when a finished query is not a success (each such query named, with why);
    /// succeeded when every query finished with its result; otherwise pending and re-asked
    /// at once (the long poll is the wait).
    fn phase(&self) -> Phase {
        if let Some(reason) = failures(self.results.iter()) {
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

/// Runs a query (`POST /v1/query/run`) and waits for every query job it starts.
///
/// The run's answer is read in every form Omni has published: the `text/ndjson` stream of
/// the 2026-07-22 document (a `jobs_submitted` header, one line per finished job, a footer
/// whose `remaining_job_ids` are still running; lines handled as they arrive), the JSON
/// `{completedQueries, jobIds}`, and the 408 whose `remaining_job_ids` are still running.
/// Every job the answer names is kept: the finished ones with their result, the others
/// waited for through the `/v1/query/wait` long poll, shared as in
/// [`crate::omni::wait_for_queries`]. A query that is not a success ends the wait with
/// [`crate::PollError::Failed`] naming each such query and why.
///
/// The start request is sent once: a 5xx on it ends the wait with
/// [`crate::PollError::Request`]; only a 429 is retried. Omni holds the request while the
/// queries run and documents no limit, so it gets its own timeout,
/// [`QUERY_RUN_TIMEOUT`](crate::omni::QUERY_RUN_TIMEOUT) (130 s) unless the client sets
/// one for the `query_run` operation
/// ([`ClientBuilder::operation_timeout`](sdk_runtime::ClientBuilder::operation_timeout)),
/// instead of the client's total timeout. When it runs out, or the stream breaks off,
/// after the answer named the run's jobs, the run has started: the jobs named are waited
/// for. Before that, the wait ends with a `Request` error saying the run may have started.
///
/// Omni's 408 names only the queries still running: a query that finished during the
/// hold is not named and cannot be recovered (a warning says so); the 2026-07-22 stream
/// names every query. With the `arrow` feature of `omni-sdk`, each result decodes with
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
    let budget = shared_budget(client);
    Poller::new(policy.clone(), move || {
        let state = Arc::clone(&state);
        let body = Arc::clone(&body);
        let budget = budget.clone();
        async move {
            let started = lock(&state).started;
            if !started {
                budget.acquire().await;
                let run = start_query_run(client, &body).await?;
                *lock(&state) = run.clone();
                return Ok(run);
            }
            let pending = lock(&state).pending_job_ids();
            if pending.is_empty() {
                return Ok(lock(&state).clone());
            }
            let finished = long_poll(client, &pending).await?;
            let mut run = lock(&state);
            for (id, response) in finished {
                if let Some(r) = run
                    .results
                    .iter_mut()
                    .find(|r| r.job_id == id && !r.is_finished())
                {
                    r.response = Some(response);
                }
            }
            Ok(run.clone())
        }
    })
    .job_id("query run")
    .kind("omni query run")
    .min_interval(MIN_POLL_INTERVAL)
}

/// What the run's answer said so far.
#[derive(Debug, Default)]
struct Heard {
    finished: Vec<(Uuid, WaitForQueryResponse)>,
    announced: Vec<Uuid>,
}

impl Heard {
    fn take(&mut self, object: &Map<String, Value>) {
        if let Some(Value::Array(items)) = object.get("completedQueries") {
            for item in items.iter().filter_map(Value::as_object) {
                // An item that does not name its job is kept under the nil UUID.
                self.finished.extend(finished_jobs(item, &[Uuid::nil()]));
            }
        }
        self.finished.extend(finished_jobs(object, &[]));
        self.announced.extend(announced_jobs(object));
    }

    fn into_run(self) -> QueryRun {
        let mut results: Vec<QueryResult> = Vec::new();
        for (id, response) in self.finished {
            if id.is_nil() || !results.iter().any(|r| r.job_id == id) {
                results.push(QueryResult {
                    job_id: id,
                    response: Some(response),
                });
            }
        }
        for id in self.announced {
            if !results.iter().any(|r| r.job_id == id) {
                results.push(QueryResult {
                    job_id: id,
                    response: None,
                });
            }
        }
        QueryRun {
            results,
            started: true,
        }
    }
}

async fn start_query_run(
    client: &omni_sdk::Client,
    body: &QueryRunBody,
) -> Result<QueryRun, FetchError> {
    let inner = client.inner();
    let timeout = inner
        .operation_timeout("query_run")
        .unwrap_or(QUERY_RUN_TIMEOUT);
    let idle = inner.stream_idle_timeout();
    let give_up = tokio::time::Instant::now() + timeout;
    let request = client
        .client()
        .post(format!("{}/v1/query/run", client.baseurl()))
        .header(
            reqwest::header::ACCEPT,
            "text/ndjson, application/x-ndjson, application/json",
        )
        .json(body)
        .build()
        .map_err(|e| FetchError::permanent(format!("building the query run request: {e}")))?;
    let response = send_raw(client, request, "query_run", timeout)
        .await
        .map_err(|e| {
            FetchError::permanent(format!(
                "starting the query run failed: {} (the run may have started; not retried: a second start request could start a second run)",
                e.message
            ))
        })?;
    let status = response.status().as_u16();
    if status == 408 {
        return timeout_answer(response).await;
    }
    if status >= 400 {
        let error = start_error("query run", &error_answer(response).await);
        // A 429 started nothing: it is retried, and the credential's budget cools down.
        if let (Some(429), Some(wait)) = (error.status, error.retry_after) {
            shared_budget(client).cool_down(wait);
        }
        return Err(error);
    }
    let mut heard = Heard::default();
    let mut each = |object: Map<String, Value>| heard.take(&object);
    let read = tokio::time::timeout_at(
        give_up,
        read_objects(response, idle, "query run", &mut each),
    )
    .await;
    let broke = match read {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.message),
        Err(_) => Some(format!("no complete answer within {timeout:?}")),
    };
    if let Some(why) = broke {
        if heard.announced.is_empty() && heard.finished.is_empty() {
            return Err(FetchError::permanent(format!(
                "the query run's answer failed before it named any job: {why} (the run may have started; not retried)"
            )));
        }
        tracing::warn!(
            reason = %why,
            "the query run's answer ended early; waiting for the jobs it named"
        );
    }
    Ok(heard.into_run())
}

/// The documented 408: the run goes on, and `remaining_job_ids` names its unfinished jobs.
async fn timeout_answer(response: reqwest::Response) -> Result<QueryRun, FetchError> {
    let request_id = sdk_runtime::request_id(response.headers());
    let text = response.text().await.unwrap_or_default();
    let mut heard = Heard::default();
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&text) {
        heard.take(&object);
    }
    if heard.announced.is_empty() {
        return Err(FetchError {
            kind: FetchErrorKind::Permanent,
            status: Some(408),
            retry_after: None,
            message: format!(
                "the query run timed out and Omni named no remaining job to wait for (server said: {})",
                text.trim()
            ),
            request_id: None,
        }
        .with_request_id(request_id));
    }
    tracing::warn!(
        remaining = heard.announced.len(),
        "Omni's 408 names only the queries still running: a query of this run that finished during the hold cannot be recovered"
    );
    Ok(heard.into_run())
}
