//! Automatic retries of safe requests: [`RetryPolicy`], and [`without_retries`] for code
//! that runs its own retry loop.

use std::future::Future;
use std::time::Duration;

use reqwest::Method;

/// The response header the runtime adds when a request was sent more than once: how many
/// times it was sent (read it with [`ErrorExt::attempts`](crate::ErrorExt::attempts)).
pub const ATTEMPTS_HEADER: &str = "x-sdk-attempts";

/// Which requests a client sends again by itself, how often and how long it waits in
/// between. Set it with [`ClientBuilder::retry_policy`](crate::ClientBuilder::retry_policy).
///
/// Why: a 503 from a load balancer or a 429 with `Retry-After` is the server saying "try
/// again"; every caller writing that loop (and getting the method rules wrong) is what a
/// client should spare them. The default retries only requests that are safe to send twice:
///
/// | method | 429, 502, 503, 504, connection error | anything else |
/// |---|---|---|
/// | GET, HEAD, OPTIONS | retried (at most 3 attempts) | not retried |
/// | PUT, DELETE | retried only with [`idempotent_writes(true)`](Self::idempotent_writes) | not retried |
/// | POST, PATCH (and other methods) | never | never |
///
/// A wait honours the server's `Retry-After` (seconds, HTTP-date) or `retry-after-ms`, and is
/// otherwise an exponential backoff with jitter. All attempts together stay within the
/// request's own timeout (the operation's, else the client's): a `Retry-After` (or backoff)
/// that would end after it stops the retries at once, and the last answer is returned. A
/// body that cannot be copied (a stream) is sent once. Each retry is logged by `tracing`
/// (target `sdk_runtime::retry`, level WARN). When the answer that is returned came after
/// retries, it carries the [`ATTEMPTS_HEADER`].
///
/// ```
/// use std::time::Duration;
/// use sdk_runtime::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .idempotent_writes(true)
///     .backoff(Duration::from_millis(100), Duration::from_secs(2));
/// assert!(policy.retries_method(&reqwest::Method::PUT));
/// assert!(!policy.retries_method(&reqwest::Method::POST));
/// assert!(!RetryPolicy::none().retries_method(&reqwest::Method::GET));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    idempotent_writes: bool,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// GET, HEAD and OPTIONS, at most 3 attempts, backoff from 200 ms up to 5 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            idempotent_writes: false,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Never retries: every request is sent once (a 401 with a
    /// [credential provider](crate::ClientBuilder::credential_provider) is still sent again
    /// once with a fresh credential).
    ///
    /// ```
    /// let policy = sdk_runtime::RetryPolicy::none();
    /// assert_eq!(policy.attempts(), 1);
    /// ```
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            idempotent_writes: false,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Sends a request at most `attempts` times in all (0 is taken as 1).
    ///
    /// ```
    /// assert_eq!(sdk_runtime::RetryPolicy::default().max_attempts(0).attempts(), 1);
    /// ```
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = if attempts == 0 { 1 } else { attempts };
        self
    }

    /// Also retries PUT and DELETE. Off by default: they are idempotent by HTTP's
    /// definition, but not every API implements them so.
    ///
    /// ```
    /// let policy = sdk_runtime::RetryPolicy::default().idempotent_writes(true);
    /// assert!(policy.retries_method(&reqwest::Method::DELETE));
    /// ```
    pub const fn idempotent_writes(mut self, retry: bool) -> Self {
        self.idempotent_writes = retry;
        self
    }

    /// The backoff when the server gives no `Retry-After`: `initial` before the first
    /// retry, doubling each time up to `max`, each wait drawn at random between half of it
    /// and all of it (so that clients that failed together do not retry together).
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = sdk_runtime::RetryPolicy::default()
    ///     .backoff(Duration::from_millis(50), Duration::from_secs(1));
    /// # let _ = policy;
    /// ```
    pub const fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// The most times a request is sent.
    ///
    /// ```
    /// assert_eq!(sdk_runtime::RetryPolicy::default().attempts(), 3);
    /// ```
    pub const fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether requests of this method are retried at all.
    ///
    /// ```
    /// let policy = sdk_runtime::RetryPolicy::default();
    /// assert!(policy.retries_method(&reqwest::Method::HEAD));
    /// assert!(!policy.retries_method(&reqwest::Method::PATCH));
    /// ```
    pub fn retries_method(&self, method: &Method) -> bool {
        if self.max_attempts <= 1 {
            return false;
        }
        match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => true,
            Method::PUT | Method::DELETE => self.idempotent_writes,
            _ => false,
        }
    }

    /// Whether an answer with this status is worth another attempt: 429, 502, 503, 504.
    ///
    /// ```
    /// assert!(sdk_runtime::RetryPolicy::retries_status(503));
    /// assert!(!sdk_runtime::RetryPolicy::retries_status(500));
    /// ```
    pub const fn retries_status(status: u16) -> bool {
        matches!(status, 429 | 502 | 503 | 504)
    }

    /// The jittered backoff before retry number `retry` (1 for the first retry).
    pub(crate) fn backoff_for(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let full = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        // Uniform in [full/2, full].
        let half = full / 2;
        half + half.mul_f64(random_unit())
    }
}

/// A number in `[0, 1)` that differs from call to call (for jitter; not cryptographic).
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

tokio::task_local! {
    static WITHOUT_RETRIES: ();
}

/// Runs `future` with the client's automatic retries turned off for every request it
/// sends: each request is sent once, whatever the client's [`RetryPolicy`].
///
/// Why: code that is itself a retry loop (a poll that waits for a job, with its own
/// schedule, deadline and rate budget) must not have each of its requests multiplied by
/// the client. `poll-helpers` runs every poll this way.
///
/// ```no_run
/// # async fn f(request: reqwest::Request) -> reqwest::Result<()> {
/// let inner = sdk_runtime::Inner::default();
/// let http = reqwest::Client::new();
/// // Sent once, even if it answers 503.
/// let response = sdk_runtime::retry::without_retries(
///     sdk_runtime::hooks::exec(&inner, &http, request),
/// ).await?;
/// # Ok(()) }
/// ```
pub async fn without_retries<F: Future>(future: F) -> F::Output {
    WITHOUT_RETRIES.scope((), future).await
}

/// Whether the current task is inside [`without_retries`].
pub(crate) fn retries_suppressed() -> bool {
    WITHOUT_RETRIES.try_with(|()| ()).is_ok()
}

/// Whether a transport error means the request did not reach the server or got no
/// answer, so that a safe request may be sent again. A timeout is not one: it spent the
/// request's time budget.
pub(crate) fn is_connection_error(e: &reqwest::Error) -> bool {
    !e.is_timeout() && (e.is_connect() || e.is_request())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let policy =
            RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_millis(300));
        for _ in 0..50 {
            let first = policy.backoff_for(1);
            assert!(
                (Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first),
                "{first:?}"
            );
            let second = policy.backoff_for(2);
            assert!(
                (Duration::from_millis(100)..=Duration::from_millis(200)).contains(&second),
                "{second:?}"
            );
            let capped = policy.backoff_for(30);
            assert!(
                (Duration::from_millis(150)..=Duration::from_millis(300)).contains(&capped),
                "{capped:?}"
            );
        }
    }

    #[test]
    fn only_safe_methods_are_retried_by_default() {
        let policy = RetryPolicy::default();
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(policy.retries_method(&m), "{m}");
        }
        for m in [Method::PUT, Method::DELETE, Method::POST, Method::PATCH] {
            assert!(!policy.retries_method(&m), "{m}");
        }
        let writes = policy.idempotent_writes(true);
        assert!(writes.retries_method(&Method::PUT) && writes.retries_method(&Method::DELETE));
        assert!(!writes.retries_method(&Method::POST) && !writes.retries_method(&Method::PATCH));
        assert!(
            !RetryPolicy::none()
                .idempotent_writes(true)
                .retries_method(&Method::GET)
        );
    }

    #[tokio::test]
    async fn without_retries_is_scoped_to_its_future() {
        assert!(!retries_suppressed());
        assert!(without_retries(async { retries_suppressed() }).await);
        assert!(!retries_suppressed());
    }
}
