//! Sharing a server's rate limit between pollers: [`RateBudget`].

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// A request budget shared by any number of pollers: together they never send more than
/// `limit` requests in any window of length `per`.
///
/// Why not a plain token bucket with burst = `limit`: it lets almost twice the limit
/// through one of the server's fixed windows (a full burst at the end of one window, a
/// refilled one at the start of the next). This budget is a GCRA (`governor`) with a burst
/// of `b = max(1, limit / 10)` and one more request every `per / (limit − b)`, so any
/// window of length `per` holds at most `b + (limit − b) = limit` requests, while the
/// sustained rate stays at 90 % of the limit (a larger burst would cost sustained rate:
/// with `b = limit / 2` only half the limit gets through per window in steady state).
///
/// After a 429, the whole budget cools down until the server's `Retry-After`, not only the
/// poller that received it.
///
/// Time is tokio's: under `tokio::time::pause()` the budget runs on virtual time.
///
/// ```
/// use poll_helpers::RateBudget;
/// // Omni allows 60 requests per minute per API key.
/// let budget = RateBudget::per_minute(60);
/// let shared = budget.clone(); // cheap: both handles draw from one budget
/// assert_eq!(shared.limit(), 60);
/// ```
#[derive(Clone)]
pub struct RateBudget {
    inner: Arc<Inner>,
}

struct Inner {
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>,
    cool_until: Mutex<Option<Instant>>,
    limit: u32,
    per: Duration,
}

impl std::fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateBudget")
            .field("limit", &self.inner.limit)
            .field("per", &self.inner.per)
            .finish_non_exhaustive()
    }
}

/// governor's clock, reading tokio's (pausable) time as nanoseconds since creation.
#[derive(Clone, Debug)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}

impl RateBudget {
    /// At most `limit` requests in any window of length `per`. A `limit` of 0 is taken as
    /// 1, a `per` shorter than 1 ms as 1 ms and one longer than 500 years as 500 years.
    ///
    /// ```
    /// let budget = poll_helpers::RateBudget::new(20, std::time::Duration::from_secs(2));
    /// ```
    pub fn new(limit: u32, per: Duration) -> Self {
        let limit = limit.max(1);
        // governor counts nanoseconds in a u64 (584 years) and panics past it.
        let per = per.clamp(
            Duration::from_millis(1),
            Duration::from_secs(500 * 31_557_600),
        );
        let burst = (limit / 10).max(1);
        let refills = limit - burst;
        // With a refill every `per / refills`, a window of `per` holds `burst + refills`.
        // For limit 1: one request, then one per `per`.
        let interval = if refills == 0 { per } else { per / refills };
        let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst_nz);
        let clock = TokioClock {
            origin: Instant::now(),
        };
        Self {
            inner: Arc::new(Inner {
                limiter: RateLimiter::direct_with_clock(quota, clock),
                cool_until: Mutex::new(None),
                limit,
                per,
            }),
        }
    }

    /// At most `n` requests in any minute.
    ///
    /// ```
    /// let omni = poll_helpers::RateBudget::per_minute(60);
    /// ```
    pub fn per_minute(n: u32) -> Self {
        Self::new(n, Duration::from_secs(60))
    }

    /// The budget's `limit`.
    ///
    /// ```
    /// assert_eq!(poll_helpers::RateBudget::per_minute(60).limit(), 60);
    /// ```
    pub fn limit(&self) -> u32 {
        self.inner.limit
    }

    /// The budget's window.
    ///
    /// ```
    /// assert_eq!(poll_helpers::RateBudget::per_minute(60).per().as_secs(), 60);
    /// ```
    pub fn per(&self) -> Duration {
        self.inner.per
    }

    /// Waits until one request may be sent, and takes it. Cancel-safe: dropping the future
    /// takes nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let budget = poll_helpers::RateBudget::new(10, std::time::Duration::from_secs(1));
    /// budget.acquire().await; // at once: the budget is fresh
    /// # }
    /// ```
    pub async fn acquire(&self) {
        loop {
            let cool = self.cool_until();
            if let Some(until) = cool
                && until > Instant::now()
            {
                tokio::time::sleep_until(until).await;
                continue;
            }
            match self.inner.limiter.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.inner.limiter.clock().now());
                    tokio::time::sleep(wait.max(Duration::from_micros(1))).await;
                }
            }
        }
    }

    /// Stops every poller sharing this budget from sending until `now + wait` (what a 429's
    /// `Retry-After` asks). A shorter cool-down never shortens a longer one.
    ///
    /// ```
    /// let budget = poll_helpers::RateBudget::per_minute(60);
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// budget.cool_down(std::time::Duration::from_secs(5));
    /// # });
    /// ```
    pub fn cool_down(&self, wait: Duration) {
        let until = crate::poller::far_add(Instant::now(), wait);
        if let Ok(mut guard) = self.inner.cool_until.lock() {
            match *guard {
                Some(existing) if existing >= until => {}
                _ => *guard = Some(until),
            }
        }
    }

    /// Whether `self` and `other` are handles on one budget (clones of each other), as
    /// opposed to two budgets with the same numbers.
    ///
    /// ```
    /// use poll_helpers::RateBudget;
    /// let a = RateBudget::per_minute(60);
    /// assert!(a.same_budget(&a.clone()));
    /// assert!(!a.same_budget(&RateBudget::per_minute(60)));
    /// ```
    pub fn same_budget(&self, other: &RateBudget) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn cool_until(&self) -> Option<Instant> {
        self.inner.cool_until.lock().ok().and_then(|g| *g)
    }
}
