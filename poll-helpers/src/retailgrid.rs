//! Waiting on Retailgrid jobs (bulk upserts, CSV imports): [`wait_for_job`].
//!
//! Retailgrid's spec leaves `status` a free string, so statuses are classified
//! case-insensitively with documented default sets ([`StatusSets`]), which you can
//! override. A status in none of the sets ends the wait once the job has a
//! `completed_at`: as a failure if its name says so, else as a success (see
//! [`StatusSets`]); without `completed_at`, the job is still pending.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use retailgrid_sdk::ErrorExt;
use retailgrid_sdk::types::JobStatusResponse;
use uuid::Uuid;

use crate::policy::PollPolicy;
use crate::poller::Poller;
use crate::sdk_error::fetch_error;
use crate::snapshot::{Phase, Snapshot};

/// The default policy for Retailgrid jobs: imports may run for an hour, so 2 s growing
/// ×1.5 to 30 s, 20 % jitter, and a 2 h deadline.
///
/// ```
/// assert_eq!(poll_helpers::retailgrid::default_policy().get_deadline().as_secs(), 7200);
/// ```
pub fn default_policy() -> PollPolicy {
    PollPolicy::default().deadline(Duration::from_secs(2 * 60 * 60))
}

/// Which `status` strings end a wait, compared case-insensitively.
///
/// A status in none of the three sets (a status Retailgrid added, such as
/// `completed_with_errors` or `aborted`) is logged once at warn, naming it, and:
/// - with `completed_at` set, ends the wait: as a failure when its name says so (it
///   contains `fail`, `error`, `abort`, `cancel` or `reject`, in any case; the reason is
///   the job's `error_message`), else as a success that keeps `error_message` as row
///   errors, as a known success status does;
/// - without `completed_at`, is pending.
///
/// A status in `pending` is pending even with `completed_at` set.
///
/// ```
/// use poll_helpers::retailgrid::StatusSets;
/// let sets = StatusSets::default().with_success(["imported"]);
/// assert!(sets.is_success("IMPORTED"));
/// assert!(sets.is_success("completed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSets {
    /// Success: completed, succeeded, success, done, finished.
    pub success: BTreeSet<String>,
    /// Failure: failed, error, cancelled, canceled.
    pub failure: BTreeSet<String>,
    /// Known pending statuses (not logged as unknown): pending, queued, running,
    /// in_progress, processing, started.
    pub pending: BTreeSet<String>,
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_ascii_lowercase()).collect()
}

impl Default for StatusSets {
    fn default() -> Self {
        Self {
            success: set(["completed", "succeeded", "success", "done", "finished"]),
            failure: set(["failed", "error", "cancelled", "canceled"]),
            pending: set([
                "pending",
                "queued",
                "running",
                "in_progress",
                "processing",
                "started",
            ]),
        }
    }
}

impl StatusSets {
    /// Adds success statuses.
    ///
    /// ```
    /// let sets = poll_helpers::retailgrid::StatusSets::default().with_success(["ok"]);
    /// assert!(sets.is_success("OK"));
    /// ```
    pub fn with_success<const N: usize>(mut self, statuses: [&str; N]) -> Self {
        self.success.extend(set(statuses));
        self
    }

    /// Adds failure statuses.
    ///
    /// ```
    /// let sets = poll_helpers::retailgrid::StatusSets::default().with_failure(["rejected"]);
    /// assert!(sets.is_failure("Rejected"));
    /// ```
    pub fn with_failure<const N: usize>(mut self, statuses: [&str; N]) -> Self {
        self.failure.extend(set(statuses));
        self
    }

    /// Whether `status` is a success status.
    ///
    /// ```
    /// assert!(poll_helpers::retailgrid::StatusSets::default().is_success("Done"));
    /// ```
    pub fn is_success(&self, status: &str) -> bool {
        self.success.contains(&status.to_ascii_lowercase())
    }

    /// Whether `status` is a failure status.
    ///
    /// ```
    /// assert!(poll_helpers::retailgrid::StatusSets::default().is_failure("CANCELED"));
    /// ```
    pub fn is_failure(&self, status: &str) -> bool {
        self.failure.contains(&status.to_ascii_lowercase())
    }

    fn is_known(&self, status: &str) -> bool {
        let s = status.to_ascii_lowercase();
        self.success.contains(&s) || self.failure.contains(&s) || self.pending.contains(&s)
    }
}

/// Words that make a status outside the sets a failure (once the job has a
/// `completed_at`).
const FAILURE_WORDS: [&str; 5] = ["fail", "error", "abort", "cancel", "reject"];

/// Whether an unknown status names a failure.
fn sounds_like_failure(status: &str) -> bool {
    let s = status.to_ascii_lowercase();
    FAILURE_WORDS.iter().any(|w| s.contains(w))
}

/// A Retailgrid job as one poll saw it, with the status sets that classify it. Derefs to
/// the SDK's [`JobStatusResponse`].
///
/// ```no_run
/// # async fn run(job: poll_helpers::retailgrid::Job) {
/// use poll_helpers::Snapshot;
/// println!("{} {:?} {:?}", job.status, job.progress(), job.error_message);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Job {
    job: JobStatusResponse,
    sets: Arc<StatusSets>,
}

impl Job {
    /// The SDK's response.
    ///
    /// ```no_run
    /// # fn f(job: poll_helpers::retailgrid::Job) {
    /// let raw: retailgrid_sdk::types::JobStatusResponse = job.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> JobStatusResponse {
        self.job
    }
}

impl Deref for Job {
    type Target = JobStatusResponse;
    fn deref(&self) -> &JobStatusResponse {
        &self.job
    }
}

impl Job {
    /// Whether the status is in none of the sets and the job has a `completed_at`: a
    /// terminal status the sets do not know.
    fn unknown_but_completed(&self) -> bool {
        self.job.completed_at.is_some() && !self.sets.is_known(&self.job.status)
    }

    fn failure(&self) -> Phase {
        Phase::Failed(
            self.job
                .error_message
                .clone()
                .unwrap_or_else(|| format!("job ended with status {:?}", self.job.status)),
        )
    }

    /// The reported `progress` when it is outside `0..=100` (which
    /// [`progress`](Snapshot::progress) then does not report).
    ///
    /// ```no_run
    /// # fn f(job: poll_helpers::retailgrid::Job) {
    /// if let Some(raw) = job.out_of_range_progress() {
    ///     eprintln!("the server reported progress {raw}");
    /// }
    /// # }
    /// ```
    pub fn out_of_range_progress(&self) -> Option<i64> {
        self.job.progress.filter(|p| !(0..=100).contains(p))
    }
}

impl Snapshot for Job {
    /// A failure status takes its reason from `error_message`; a success status with an
    /// `error_message` (row errors in a bulk import) is still a success. A status in none
    /// of the sets is terminal once `completed_at` is set (see [`StatusSets`]).
    fn phase(&self) -> Phase {
        let status = &self.job.status;
        if self.sets.is_success(status) {
            Phase::Succeeded
        } else if self.sets.is_failure(status) {
            self.failure()
        } else if self.unknown_but_completed() {
            if sounds_like_failure(status) {
                self.failure()
            } else {
                Phase::Succeeded
            }
        } else {
            Phase::Pending
        }
    }

    /// `progress` (0–100) as a fraction; `None` when it is outside `0..=100` (see
    /// [`Job::out_of_range_progress`]).
    fn progress(&self) -> Option<f64> {
        self.job
            .progress
            .filter(|p| (0..=100).contains(p))
            .map(|p| p as f64 / 100.0)
    }
}

/// What one wait has already warned about, so that each warning is logged once.
#[derive(Debug, Default)]
struct Warned {
    unknown_pending: AtomicBool,
    unknown_terminal: AtomicBool,
    progress: AtomicBool,
}

impl Warned {
    fn check(&self, job_id: Uuid, job: &Job) {
        let status = &job.job.status;
        if job.unknown_but_completed() {
            if !self.unknown_terminal.swap(true, Ordering::Relaxed) {
                let outcome = if sounds_like_failure(status) {
                    "a failure"
                } else {
                    "a success"
                };
                tracing::warn!(
                    %job_id,
                    %status,
                    "unknown Retailgrid job status {status:?} with completed_at set; treating it as {outcome}"
                );
            }
        } else if !job.sets.is_known(status) && !self.unknown_pending.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %job_id,
                %status,
                "unknown Retailgrid job status {status:?}; treating it as pending"
            );
        }
        if let Some(raw) = job.out_of_range_progress()
            && !self.progress.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %job_id,
                progress = raw,
                "Retailgrid reported progress {raw}, outside 0..=100; ignoring it"
            );
        }
    }
}

/// Waits for a Retailgrid job with the default [`StatusSets`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = retailgrid_sdk::Client::from_env()?;
/// let job_id = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf".parse()?;
/// let job = poll_helpers::retailgrid::wait_for_job(&client, job_id, &poll_helpers::retailgrid::default_policy()).await?;
/// if let Some(rows) = &job.error_message {
///     eprintln!("imported with row errors: {rows}");
/// }
/// # Ok(()) }
/// ```
pub fn wait_for_job<'a>(
    client: &'a retailgrid_sdk::Client,
    job_id: Uuid,
    policy: &PollPolicy,
) -> Poller<'a, Job> {
    wait_for_job_with(client, job_id, policy, StatusSets::default())
}

/// Waits for a Retailgrid job, classifying statuses with `sets`.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use poll_helpers::retailgrid::{self, StatusSets};
/// let client = retailgrid_sdk::Client::from_env()?;
/// let job_id = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf".parse()?;
/// let sets = StatusSets::default().with_success(["imported"]);
/// let job = retailgrid::wait_for_job_with(&client, job_id, &retailgrid::default_policy(), sets).await?;
/// # Ok(()) }
/// ```
pub fn wait_for_job_with<'a>(
    client: &'a retailgrid_sdk::Client,
    job_id: Uuid,
    policy: &PollPolicy,
    sets: StatusSets,
) -> Poller<'a, Job> {
    let sets = Arc::new(sets);
    let warned = Arc::new(Warned::default());
    Poller::new(policy.clone(), move || {
        let (sets, warned) = (Arc::clone(&sets), Arc::clone(&warned));
        async move {
            let job = client
                .get_job()
                .job_id(job_id)
                .send()
                .await
                .map_err(|e| fetch_error(&e, e.message(), e.retry_after()))?
                .into_inner();
            let job = Job { job, sets };
            warned.check(job_id, &job);
            Ok(job)
        }
    })
    .job_id(job_id.to_string())
    .kind("retailgrid")
}
