//! Waiting on Retailgrid jobs (bulk upserts, CSV imports): [`wait_for_job`].
//!
//! Retailgrid's spec leaves `status` a free string, so statuses are classified
//! case-insensitively with documented default sets ([`StatusSets`]), which you can
//! override.

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

/// Which `status` strings end a wait, compared case-insensitively. Anything else is
/// pending (and logged once at warn if it is not in `pending` either).
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

impl Snapshot for Job {
    /// A failure status takes its reason from `error_message`; a success status with an
    /// `error_message` (row errors in a bulk import) is still a success.
    fn phase(&self) -> Phase {
        if self.sets.is_success(&self.job.status) {
            Phase::Succeeded
        } else if self.sets.is_failure(&self.job.status) {
            Phase::Failed(
                self.job
                    .error_message
                    .clone()
                    .unwrap_or_else(|| format!("job ended with status {:?}", self.job.status)),
            )
        } else {
            Phase::Pending
        }
    }

    /// `progress` (0–100) as a fraction.
    fn progress(&self) -> Option<f64> {
        self.job
            .progress
            .map(|p| (p as f64 / 100.0).clamp(0.0, 1.0))
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
    let warned = Arc::new(AtomicBool::new(false));
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
            if !sets.is_known(&job.status) && !warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(%job_id, status = %job.status, "unknown Retailgrid job status; treating it as pending");
            }
            Ok(Job { job, sets })
        }
    })
    .job_id(job_id.to_string())
    .kind("retailgrid")
}
