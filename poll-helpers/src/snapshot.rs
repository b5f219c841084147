//! What one poll returns: [`Snapshot`] and its [`Phase`].

/// Where a job stands, as read from one poll.
///
/// ```
/// use poll_helpers::Phase;
/// let phase = Phase::Failed("quota exceeded".into());
/// assert!(phase.is_terminal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not finished: poll again.
    Pending,
    /// Finished successfully.
    Succeeded,
    /// Finished with a failure (or was cancelled); the text says why.
    Failed(String),
}

impl Phase {
    /// Whether polling should stop.
    ///
    /// ```
    /// assert!(!poll_helpers::Phase::Pending.is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Phase::Pending)
    }
}

/// A job's state as one poll returned it. Adapters implement it for the SDK types; for
/// your own endpoints, implement it for whatever your fetch returns.
///
/// ```
/// use poll_helpers::{Phase, Snapshot};
///
/// #[derive(Clone, Debug)]
/// struct Export { done: u32, total: u32, error: Option<String> }
///
/// impl Snapshot for Export {
///     fn phase(&self) -> Phase {
///         match (&self.error, self.done >= self.total) {
///             (Some(e), _) => Phase::Failed(e.clone()),
///             (None, true) => Phase::Succeeded,
///             (None, false) => Phase::Pending,
///         }
///     }
///     fn progress(&self) -> Option<f64> {
///         (self.total > 0).then(|| f64::from(self.done) / f64::from(self.total))
///     }
/// }
/// assert_eq!(Export { done: 1, total: 4, error: None }.progress(), Some(0.25));
/// ```
pub trait Snapshot {
    /// Whether the job is pending, succeeded or failed.
    fn phase(&self) -> Phase;

    /// Completion as a fraction in `0.0..=1.0`, when the API reports one.
    fn progress(&self) -> Option<f64> {
        None
    }

    /// Overrides the policy's next backoff delay while pending, e.g. `Some(ZERO)` after a
    /// long poll that returned because the server's own wait ran out (the request itself
    /// was the wait). The poller's floor and deadline still apply. Default: `None`.
    fn poll_again_after(&self) -> Option<std::time::Duration> {
        None
    }
}
