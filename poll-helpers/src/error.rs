//! What can go wrong: [`FetchError`] for one poll, [`PollError`] for a whole wait.

use std::fmt;
use std::time::Duration;

use crate::policy::PolicyError;

/// How a failed poll is treated.
///
/// ```
/// use poll_helpers::FetchErrorKind;
/// assert_ne!(FetchErrorKind::Transient, FetchErrorKind::Permanent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// Worth retrying: 429, 500, 502, 503, 504, connection, reset and timeout errors, a
    /// body that is not valid JSON.
    Transient,
    /// Retrying cannot help: 400, 401, 403, 422 and other 4xx. Ends the wait.
    Permanent,
    /// 404: pending during the policy's `not_found_grace`, permanent after it.
    NotFound,
}

/// Why one poll failed: what a fetch closure returns. Adapters build it from the SDK
/// errors; [`FetchError::from_status`] classifies an HTTP status for your own fetches.
///
/// ```
/// use std::time::Duration;
/// use poll_helpers::{FetchError, FetchErrorKind};
///
/// let e = FetchError::from_status(429, "slow down").with_retry_after(Some(Duration::from_secs(3)));
/// assert_eq!(e.kind, FetchErrorKind::Transient);
/// assert_eq!(e.to_string(), "HTTP 429: slow down");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    /// Whether to retry.
    pub kind: FetchErrorKind,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// How long the server asked us to wait.
    pub retry_after: Option<Duration>,
    /// What failed, in words (the server's message when it sent one, and its request id).
    pub message: String,
    /// The request id the server sent with the failed answer, if any (see
    /// `sdk_runtime::REQUEST_ID_HEADERS`); [`FetchError::with_request_id`] sets it.
    pub request_id: Option<String>,
}

impl FetchError {
    /// A transient error without a response (connection refused, timeout, bad body).
    ///
    /// ```
    /// let e = poll_helpers::FetchError::transient("connection refused");
    /// assert_eq!(e.status, None);
    /// ```
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: FetchErrorKind::Transient,
            status: None,
            retry_after: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// A permanent error without a response.
    ///
    /// ```
    /// let e = poll_helpers::FetchError::permanent("bad request");
    /// assert_eq!(e.kind, poll_helpers::FetchErrorKind::Permanent);
    /// ```
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: FetchErrorKind::Permanent,
            ..Self::transient(message)
        }
    }

    /// Classifies an HTTP error status: 404 → `NotFound`; 408, 429 and 5xx → `Transient`;
    /// any other status (400, 401, 403, 422, ...) → `Permanent`.
    ///
    /// ```
    /// use poll_helpers::{FetchError, FetchErrorKind};
    /// assert_eq!(FetchError::from_status(404, "").kind, FetchErrorKind::NotFound);
    /// assert_eq!(FetchError::from_status(503, "").kind, FetchErrorKind::Transient);
    /// assert_eq!(FetchError::from_status(401, "").kind, FetchErrorKind::Permanent);
    /// ```
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            404 => FetchErrorKind::NotFound,
            408 | 429 | 500..=599 => FetchErrorKind::Transient,
            _ => FetchErrorKind::Permanent,
        };
        Self {
            kind,
            status: Some(status),
            retry_after: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// Sets the server's `Retry-After`.
    ///
    /// ```
    /// let e = poll_helpers::FetchError::from_status(503, "busy")
    ///     .with_retry_after(Some(std::time::Duration::from_secs(2)));
    /// assert!(e.retry_after.is_some());
    /// ```
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

impl FetchError {
    /// Sets the server's request id and quotes it at the end of the message, so that every
    /// report built from the message ([`PollError`], `jobwait`'s failure line) carries it.
    /// `None` changes nothing.
    ///
    /// ```
    /// let e = poll_helpers::FetchError::from_status(500, "boom").with_request_id(Some("req-1".into()));
    /// assert_eq!(e.request_id.as_deref(), Some("req-1"));
    /// assert_eq!(e.to_string(), "HTTP 500: boom (request id req-1)");
    /// ```
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        if let Some(id) = request_id {
            self.message = format!("{} (request id {id})", self.message);
            self.request_id = Some(id);
        }
        self
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FetchError {}

/// Why a wait ended without the job succeeding. Every variant but `InvalidPolicy` says
/// which job (`job`), after how many requests (`attempts`) and how long (`elapsed`).
///
/// ```
/// use poll_helpers::{PollError, Phase, Snapshot};
/// # #[derive(Clone, Debug)] struct S;
/// # impl Snapshot for S { fn phase(&self) -> Phase { Phase::Pending } }
/// fn explain(e: &PollError<S>) -> String {
///     match e {
///         PollError::Failed { reason, .. } => format!("the job failed: {reason}"),
///         PollError::DeadlineExceeded { reason, .. } => format!("gave up: {reason}"),
///         other => other.to_string(),
///     }
/// }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PollError<T> {
    /// The job reached a failure state (failed or cancelled).
    #[error("job {job} failed after {attempts} poll(s) in {elapsed:.1?}: {reason}")]
    Failed {
        /// The job id(s).
        job: String,
        /// Requests made.
        attempts: u32,
        /// Time since the wait started.
        elapsed: Duration,
        /// The last snapshot, in its failure state.
        last: T,
        /// Why it failed, from the API.
        reason: String,
    },
    /// The deadline passed (or a `Retry-After` pointed past it) before the job finished.
    #[error("gave up waiting for job {job} after {attempts} poll(s) in {elapsed:.1?}: {reason}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    DeadlineExceeded {
        /// The job id(s).
        job: String,
        /// Requests made.
        attempts: u32,
        /// Time since the wait started.
        elapsed: Duration,
        /// The last snapshot received, if any.
        last: Option<T>,
        /// The last failed poll, if the last poll failed.
        last_error: Option<FetchError>,
        /// Why: the deadline itself, or a `Retry-After` past it.
        reason: String,
    },
    /// `max_attempts` requests were made and the job is still not finished.
    #[error("job {job} not finished after {attempts} poll(s) ({elapsed:.1?}), the policy's max_attempts{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    AttemptsExhausted {
        /// The job id(s).
        job: String,
        /// Requests made.
        attempts: u32,
        /// Time since the wait started.
        elapsed: Duration,
        /// The last snapshot received, if any.
        last: Option<T>,
        /// The last failed poll, if the last poll failed.
        last_error: Option<FetchError>,
    },
    /// A request failed in a way retrying cannot fix (401, 403, 404 after the grace, ...).
    #[error("polling job {job} failed{}: {message}", status.map(|s| format!(" with HTTP {s}")).unwrap_or_default())]
    Request {
        /// The job id(s).
        job: String,
        /// Requests made.
        attempts: u32,
        /// Time since the wait started.
        elapsed: Duration,
        /// The HTTP status, if there was a response.
        status: Option<u16>,
        /// What failed: the server's message, or the adapter's explanation.
        message: String,
        /// The last snapshot received, if any (for query waits: the results so far).
        last: Option<T>,
    },
    /// The policy is invalid; no request was sent.
    #[error("invalid poll policy: {0}")]
    InvalidPolicy(#[from] PolicyError),
}

impl<T> PollError<T> {
    /// Requests made before the wait ended (0 for `InvalidPolicy`).
    ///
    /// ```
    /// # use poll_helpers::{PollError, PolicyError};
    /// let e: PollError<()> = PollError::InvalidPolicy(PolicyError::ZeroDeadline);
    /// assert_eq!(e.attempts(), 0);
    /// ```
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Failed { attempts, .. }
            | Self::DeadlineExceeded { attempts, .. }
            | Self::AttemptsExhausted { attempts, .. }
            | Self::Request { attempts, .. } => *attempts,
            Self::InvalidPolicy(_) => 0,
        }
    }

    /// The last snapshot received, if any.
    ///
    /// ```
    /// # use poll_helpers::{PollError, PolicyError};
    /// let e: PollError<u8> = PollError::InvalidPolicy(PolicyError::ZeroDeadline);
    /// assert!(e.last().is_none());
    /// ```
    pub fn last(&self) -> Option<&T> {
        match self {
            Self::Failed { last, .. } => Some(last),
            Self::DeadlineExceeded { last, .. }
            | Self::AttemptsExhausted { last, .. }
            | Self::Request { last, .. } => last.as_ref(),
            Self::InvalidPolicy(_) => None,
        }
    }
}
