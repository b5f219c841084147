//! Sharing a server's rate limit between pollers: [`RateBudget`], and who gets its
//! requests when there are not enough for everyone.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A request budget shared by any number of pollers: together they never send more than
/// `limit` requests in any window of length `per`.
///
/// Why not a plain token bucket with burst = `limit`: it lets almost twice the limit
/// through one of the server's fixed windows (a full burst at the end of one window, a
/// refilled one at the start of the next). This budget is a GCRA with a burst of
/// `b = max(1, limit / 10)` and one more request every `per / (limit − b)`, so any window
/// of length `per` holds at most `b + (limit − b) = limit` requests, while the sustained
/// rate stays at 90 % of the limit (a larger burst would cost sustained rate: with
/// `b = limit / 2` only half the limit gets through per window in steady state).
///
/// After a 429, the whole budget cools down until the server's `Retry-After`, not only the
/// poller that received it.
///
/// # Who gets the next request
///
/// When more requests wait than the budget lets through, each admission goes, in order:
/// 1. to the **first poll** (or plain [`acquire`](Self::acquire)) that has waited
///    longest: first polls are served in arrival order, and no wait polls a second time
///    while a wait that has not polled yet is queued. A [`Poller`](crate::Poller) with
///    learned durations holds its first poll back (it is not queued yet) until its job
///    is at least as likely to have finished as that of every later poll queued (by the
///    measure of point 3), or until the last slot before its deadline: first polls then
///    come when they are worth an admission, not at a fixed time that would take
///    admissions from likelier waits or ask for more than the budget allows;
/// 2. to a later poll that has waited more than **twice its fair share** (the queue's
///    length when it arrived times the budget's interval: what strict round-robin would
///    have made it wait), the most overdue first;
/// 3. otherwise to the later poll whose job is **most likely to have finished** since its
///    last poll (by the wait's learned durations or progress estimate; see
///    [`PollPolicy::learn_durations`](crate::PollPolicy::learn_durations)), ties in
///    arrival order.
///
/// A [`Poller`](crate::Poller) whose poll cannot be admitted before its deadline (its
/// place in the queue already says so) ends at once with
/// [`PollError::DeadlineExceeded`](crate::PollError::DeadlineExceeded), whose reason starts
/// with "the rate budget had no room before the deadline", instead of waiting for it.
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
    limit: u32,
    per: Duration,
    /// Time between two admissions in steady state.
    interval: Duration,
    /// How far ahead of its theoretical arrival time a request may go (the burst).
    tolerance: Duration,
    state: Mutex<State>,
}

/// Everything that changes, under one lock: the GCRA, the cool-down and the queue.
struct State {
    /// The GCRA's theoretical arrival time of the next request.
    tat: Instant,
    cool_until: Option<Instant>,
    next_seq: u64,
    queue: Vec<Entry>,
}

/// How likely a wait's job is to have finished by a given instant, since its last poll.
pub(crate) type Likelihood = Box<dyn Fn(Instant) -> f64 + Send + Sync>;

/// What a caller of the budget asks for.
pub(crate) struct Request {
    /// A wait's first poll, or a plain `acquire` (served in arrival order, first).
    pub(crate) first: bool,
    /// For a later poll: how likely its job is to have finished (0.0..=1.0).
    pub(crate) likelihood: Option<Likelihood>,
    /// For a first poll that may be held back: it joins the queue (and is served in
    /// arrival order with the other first polls) once its likelihood is at least every
    /// queued later poll's, and at this instant at the latest. `None`: at once.
    pub(crate) ripe_by: Option<Instant>,
}

struct Entry {
    seq: u64,
    first: bool,
    /// When a later poll is overdue: twice its fair share after it was queued.
    due: Instant,
    likelihood: Option<Likelihood>,
    ripe_by: Option<Instant>,
    notify: Arc<Notify>,
}

/// Why a request was not admitted: the queue says it cannot be before the caller's
/// deadline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoRoom {
    /// Requests served before this one at the earliest (first polls queued ahead).
    pub(crate) ahead: usize,
    /// The earliest this request could be admitted, from now.
    pub(crate) earliest_in: Duration,
    /// Time left before the deadline.
    pub(crate) left: Duration,
}

impl std::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the rate budget had no room before the deadline: {} request(s) queued ahead of \
             this poll, the earliest slot for it is in {:.1} s and {:.1} s are left",
            self.ahead,
            self.earliest_in.as_secs_f64(),
            self.left.as_secs_f64()
        )
    }
}

impl std::fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateBudget")
            .field("limit", &self.inner.limit)
            .field("per", &self.inner.per)
            .finish_non_exhaustive()
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
        let interval = interval.max(Duration::from_nanos(1));
        Self {
            inner: Arc::new(Inner {
                limit,
                per,
                interval,
                tolerance: interval.saturating_mul(burst - 1),
                state: Mutex::new(State {
                    tat: Instant::now(),
                    cool_until: None,
                    next_seq: 0,
                    queue: Vec::new(),
                }),
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

    /// The time between two admissions when the budget is saturated: `per / (limit − b)`
    /// with the burst `b = max(1, limit / 10)`.
    ///
    /// ```
    /// // Omni's 60 per minute: a burst of 6, then one request every 60 s / 54.
    /// let budget = poll_helpers::RateBudget::per_minute(60);
    /// assert_eq!(budget.interval(), std::time::Duration::from_secs(60) / 54);
    /// ```
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// How many requests are waiting for this budget now.
    ///
    /// ```
    /// assert_eq!(poll_helpers::RateBudget::per_minute(60).queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Waits until one request may be sent, and takes it. Cancel-safe: dropping the future
    /// takes nothing. Served in arrival order with the first polls of waits (see
    /// [who gets the next request](Self#who-gets-the-next-request)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let budget = poll_helpers::RateBudget::new(10, std::time::Duration::from_secs(1));
    /// budget.acquire().await; // at once: the budget is fresh
    /// # }
    /// ```
    pub async fn acquire(&self) {
        let request = Request {
            first: true,
            likelihood: None,
            ripe_by: None,
        };
        // Without a deadline there is always room.
        let _ = self.acquire_before(None, request).await;
    }

    /// Waits for the budget's admission of `request`; `Err` at once when its place in
    /// the queue shows it cannot be admitted before `deadline`, or at the deadline.
    pub(crate) async fn acquire_before(
        &self,
        deadline: Option<Instant>,
        request: Request,
    ) -> Result<(), NoRoom> {
        let notify = Arc::new(Notify::new());
        let seq = {
            let mut state = self.lock();
            let now = Instant::now();
            if let Some(deadline) = deadline {
                // First polls queued ahead are served before this one, whatever it is.
                let ahead = state
                    .queue
                    .iter()
                    .filter(|e| e.first && e.ripe_by.is_none_or(|at| at <= now))
                    .count();
                let earliest = self.next_free(&state, now)
                    + self
                        .inner
                        .interval
                        .saturating_mul(u32::try_from(ahead).unwrap_or(u32::MAX));
                if earliest > deadline {
                    return Err(NoRoom {
                        ahead,
                        earliest_in: earliest.saturating_duration_since(now),
                        left: deadline.saturating_duration_since(now),
                    });
                }
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            // Round-robin would serve it after everything queued now.
            let share = self
                .inner
                .interval
                .saturating_mul(u32::try_from(state.queue.len() + 1).unwrap_or(u32::MAX));
            state.queue.push(Entry {
                seq,
                first: request.first,
                due: crate::poller::far_add(now, share.saturating_mul(2)),
                likelihood: request.likelihood,
                ripe_by: request.ripe_by,
                notify: Arc::clone(&notify),
            });
            seq
        };
        let mut queued = Queued { budget: self, seq };
        let wait = async {
            loop {
                match self.try_take(seq) {
                    Step::Taken => {
                        queued.seq = u64::MAX;
                        return;
                    }
                    Step::SleepUntil(at) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(at) => {}
                            () = notify.notified() => {}
                        }
                    }
                    Step::Wait => notify.notified().await,
                }
            }
        };
        match deadline {
            None => {
                wait.await;
                Ok(())
            }
            Some(deadline) => match tokio::time::timeout_at(deadline, wait).await {
                Ok(()) => Ok(()),
                Err(_) => Err(NoRoom {
                    ahead: 0,
                    earliest_in: Duration::ZERO,
                    left: Duration::ZERO,
                }),
            },
        }
        // `queued` is dropped here: a request still queued (cut off) leaves the queue.
    }

    /// One decision for the queued request `seq`, under the lock.
    fn try_take(&self, seq: u64) -> Step {
        let mut state = self.lock();
        let now = Instant::now();
        let Some(chosen) = choose(&state.queue, now, self.inner.interval) else {
            return Step::Wait;
        };
        if chosen != seq {
            // The turn is someone else's: make sure they know.
            if let Some(e) = state.queue.iter().find(|e| e.seq == chosen) {
                e.notify.notify_one();
            }
            return Step::Wait;
        }
        let free = self.next_free(&state, now);
        if free > now {
            return Step::SleepUntil(free);
        }
        state.tat = state.tat.max(now) + self.inner.interval;
        state.queue.retain(|e| e.seq != seq);
        if let Some(next) = choose(&state.queue, now, self.inner.interval)
            && let Some(e) = state.queue.iter().find(|e| e.seq == next)
        {
            e.notify.notify_one();
        }
        Step::Taken
    }

    /// The earliest instant a request may be sent: the GCRA's and the cool-down's.
    fn next_free(&self, state: &State, now: Instant) -> Instant {
        let gcra = state
            .tat
            .checked_sub(self.inner.tolerance)
            .unwrap_or(now)
            .max(now);
        match state.cool_until {
            Some(until) if until > gcra => until,
            _ => gcra,
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
        let mut state = self.lock();
        match state.cool_until {
            Some(existing) if existing >= until => {}
            _ => state.cool_until = Some(until),
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

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent: a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

enum Step {
    Taken,
    SleepUntil(Instant),
    Wait,
}

/// Whose turn it is at `now` (see the type's documentation), by `seq`.
fn choose(queue: &[Entry], now: Instant, interval: Duration) -> Option<u64> {
    let index = |e: &Entry| {
        let p = e.likelihood.as_ref().map_or(0.0, |f| f(now));
        if p.is_finite() { p.max(0.0) } else { 0.0 }
    };
    let best_later = queue
        .iter()
        .filter(|e| !e.first)
        .map(index)
        .fold(f64::NEG_INFINITY, f64::max);
    let ripe = |e: &Entry| e.ripe_by.is_none_or(|at| at <= now) || index(e) >= best_later;
    if let Some(e) = queue
        .iter()
        .filter(|e| e.first && ripe(e))
        .min_by_key(|e| e.seq)
    {
        return Some(e.seq);
    }
    // Earliest due first as soon as waiting longer would make some request miss its due
    // date: the i-th due (1-based) needs i admissions before it.
    let mut dues: Vec<(Instant, u64)> = queue
        .iter()
        .filter(|e| !e.first)
        .map(|e| (e.due, e.seq))
        .collect();
    dues.sort_unstable();
    let urgent = dues.iter().enumerate().any(|(i, (due, _))| {
        let before = interval.saturating_mul(u32::try_from(i + 1).unwrap_or(u32::MAX));
        due.checked_sub(before).is_none_or(|latest| latest <= now)
    });
    if urgent {
        return dues.first().map(|(_, seq)| *seq);
    }
    let mut best: Option<(f64, u64)> = None;
    for e in queue.iter().filter(|e| !e.first) {
        let p = index(e);
        match best {
            Some((bp, bseq)) if bp > p || (bp == p && bseq < e.seq) => {}
            _ => best = Some((p, e.seq)),
        }
    }
    best.map(|(_, seq)| seq)
}

/// A request in the queue; leaving (taken or dropped) passes the turn on.
struct Queued<'a> {
    budget: &'a RateBudget,
    seq: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.seq == u64::MAX {
            return;
        }
        let mut state = self.budget.lock();
        state.queue.retain(|e| e.seq != self.seq);
        if let Some(next) = choose(&state.queue, Instant::now(), self.budget.inner.interval)
            && let Some(e) = state.queue.iter().find(|e| e.seq == next)
        {
            e.notify.notify_one();
        }
    }
}
