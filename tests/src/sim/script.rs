//! What a scripted job does: its outcome, duration, progress curve, and how a query run answers.

#[allow(clippy::wildcard_imports)]
use super::*;

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
    pub(crate) fn at(self, fraction: f64) -> Option<i64> {
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
pub(crate) enum Outcome {
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
    pub(crate) duration: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) queued_for: Option<Duration>,
    pub(crate) delivering_for: Option<Duration>,
    pub(crate) job_type: Option<String>,
    pub(crate) curve: ProgressCurve,
    pub(crate) messages: Vec<String>,
    pub(crate) result_summary: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_detail: Option<String>,
    pub(crate) file_size: usize,
}

impl JobScript {
    pub(crate) fn new(duration: Duration, outcome: Outcome) -> Self {
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
