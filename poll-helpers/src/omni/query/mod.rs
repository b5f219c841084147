//! Query jobs: [`wait_for_queries`] and [`run_query`], their results, the answer forms on
//! the wire (`wire`), and the long polls that concurrent waits on one credential share
//! (`coalesce`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omni_sdk::types::WaitForQueryResponse;
use uuid::Uuid;

use crate::policy::PollPolicy;
use crate::poller::Poller;
use crate::snapshot::{Phase, Snapshot};

use super::{MIN_POLL_INTERVAL, floor_warning};

mod coalesce;
mod run;
pub(crate) mod wire;

pub(crate) use coalesce::long_poll;
pub use run::{QueryRun, run_query};

/// One query job in a [`wait_for_queries`] result: its final response once it finished,
/// `None` while it runs.
///
/// ```
/// let r = poll_helpers::omni::QueryResult { job_id: uuid::Uuid::nil(), response: None };
/// assert!(!r.is_finished());
/// ```
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The query job.
    pub job_id: Uuid,
    /// Omni's response for this job once it finished (`result` holds the base64 Arrow
    /// table; a failed job has `status` and `error`). Whatever form Omni answered in (one
    /// JSON object, `{"results": [...]}`, NDJSON job lines), it is given in this shape.
    pub response: Option<WaitForQueryResponse>,
}

impl QueryResult {
    /// Whether Omni reported this job finished: its result, an error, or a status that is
    /// not a running one arrived. An answer that says nothing about the job leaves it
    /// unfinished.
    ///
    /// ```
    /// let r = poll_helpers::omni::QueryResult { job_id: uuid::Uuid::nil(), response: None };
    /// assert!(!r.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.response.is_some()
    }

    /// The base64 Arrow IPC result, once finished.
    ///
    /// ```
    /// let r = poll_helpers::omni::QueryResult { job_id: uuid::Uuid::nil(), response: None };
    /// assert_eq!(r.result_base64(), None);
    /// ```
    pub fn result_base64(&self) -> Option<&str> {
        self.response.as_ref().and_then(|r| r.result.as_deref())
    }

    /// Why a finished job is not a success, naming it: success is status `COMPLETE` (any
    /// case; a result without any status counts too) with a `result` and no error; any
    /// other status (`ERROR`, `FAILED`, `MISSING`, one never seen), an `error`, or no
    /// result is a failure.
    pub(crate) fn failure(&self) -> Option<String> {
        let response = self.response.as_ref()?;
        let id = self.job_id;
        let status = response.status.as_deref();
        let complete = status.is_none_or(|s| {
            matches!(
                s.trim().to_ascii_uppercase().as_str(),
                "COMPLETE" | "COMPLETED"
            )
        });
        match (status, &response.error) {
            (Some(status), Some(error)) => Some(format!(
                "query job {id} ended with status {status}: {error}"
            )),
            (None, Some(error)) => Some(format!("query job {id} failed: {error}")),
            (Some(status), None) if !complete => {
                Some(format!("query job {id} ended with status {status}"))
            }
            _ if response.result.is_none() => Some(format!(
                "query job {id} finished{} without a result",
                status
                    .map(|s| format!(" with status {s}"))
                    .unwrap_or_default()
            )),
            _ => None,
        }
    }
}

/// The failures among `results`, all named, as one reason.
pub(crate) fn failures<'r>(results: impl Iterator<Item = &'r QueryResult>) -> Option<String> {
    let mut total = 0;
    let reasons: Vec<String> = results
        .inspect(|_| total += 1)
        .filter_map(QueryResult::failure)
        .collect();
    match reasons.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(format!(
            "{} of {total} query jobs failed: {}",
            many.len(),
            many.join("; ")
        )),
    }
}

impl Snapshot for BTreeMap<Uuid, QueryResult> {
    /// Failed when a finished job is not a success (every such job named, with why);
    /// succeeded when every job finished with its result; otherwise pending, and re-asked
    /// at once (the long poll itself was the wait).
    fn phase(&self) -> Phase {
        if let Some(reason) = failures(self.values()) {
            return Phase::Failed(reason);
        }
        if self.values().all(QueryResult::is_finished) {
            Phase::Succeeded
        } else {
            Phase::Pending
        }
    }

    fn progress(&self) -> Option<f64> {
        let total = self.len();
        (total > 0).then(|| self.values().filter(|r| r.is_finished()).count() as f64 / total as f64)
    }

    fn poll_again_after(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

/// Waits for query jobs through the `/v1/query/wait` long poll, collecting each job's
/// result as it finishes and re-asking at once (after Omni's 1 s floor) for the ids still
/// running.
///
/// Every answer form Omni has published is read: the docs' flat JSON object, `{"results":
/// [...]}`, and the `text/ndjson` stream of job lines and footer (lines handled as they
/// arrive). The ids are sent as the docs' `job_ids` JSON array; a server that answers 400
/// asking for `jobIds` is asked with `jobIds=a,b` from then on (remembered per
/// credential). Concurrent query waits on one credential share their long polls: one
/// request carries every pending job id (several when the URL would exceed 8,000 bytes),
/// and each request draws once from [`shared_budget`](crate::omni::shared_budget),
/// whatever budget the returned poller is given.
///
/// The output maps every id to its [`QueryResult`]. A job that ended with another status
/// than `COMPLETE`, with an error, or without a result ends the wait with
/// [`PollError::Failed`](crate::PollError::Failed) naming each such job and why. A 404
/// after the policy's grace ends the wait with a `Request` error whose `last` keeps the
/// results already collected; a deadline does the same through `DeadlineExceeded.last`.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = omni_sdk::Client::from_env()?;
/// let ids = ["a1b2c3d4-e5f6-7890-abcd-ef1234567890".parse()?];
/// let results = poll_helpers::omni::wait_for_queries(&client, &ids, &poll_helpers::omni::default_policy()).await?;
/// for (id, r) in &results {
///     println!("{id}: {} bytes of base64 Arrow", r.result_base64().map_or(0, str::len));
/// }
/// # Ok(()) }
/// ```
pub fn wait_for_queries<'a>(
    client: &'a omni_sdk::Client,
    job_ids: &[Uuid],
    policy: &PollPolicy,
) -> Poller<'a, BTreeMap<Uuid, QueryResult>> {
    floor_warning(policy);
    let collected: BTreeMap<Uuid, QueryResult> = job_ids
        .iter()
        .map(|&job_id| {
            (
                job_id,
                QueryResult {
                    job_id,
                    response: None,
                },
            )
        })
        .collect();
    let label = job_ids
        .iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let collected = Arc::new(Mutex::new(collected));
    Poller::new(policy.clone(), move || {
        let collected = Arc::clone(&collected);
        async move {
            let pending: Vec<Uuid> = lock(&collected)
                .values()
                .filter(|r| !r.is_finished())
                .map(|r| r.job_id)
                .collect();
            if pending.is_empty() {
                return Ok(lock(&collected).clone());
            }
            let finished = long_poll(client, &pending).await?;
            let mut map = lock(&collected);
            record(&mut map, finished);
            Ok(map.clone())
        }
    })
    .job_id(label)
    .kind("omni query")
    .min_interval(MIN_POLL_INTERVAL)
}

/// Records the jobs a long poll reported finished (a job's first report is kept).
pub(crate) fn record(
    map: &mut BTreeMap<Uuid, QueryResult>,
    finished: Vec<(Uuid, WaitForQueryResponse)>,
) {
    for (id, response) in finished {
        if let Some(entry) = map.get_mut(&id)
            && entry.response.is_none()
        {
            entry.response = Some(response);
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave the map half-updated in a way that matters here.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
