//! Sharing a server's rate limit between pollers: [`RateBudget`], and who gets its
//! requests when there are not enough for everyone.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[cfg(feature = "redis")]
mod remote;
#[cfg(feature = "redis")]
pub use remote::RateBudgetError;

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
/// # Across processes and machines
///
/// A budget made with `RateBudget::redis` (feature `redis`) is held in Redis: every
/// process on every machine that uses the same Redis, key and credential shares it (see
/// there). The order above still decides who, within each process, gets that process's
/// next admission.
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
    /// Held in Redis, with a local fallback; `None`: this process only.
    #[cfg(feature = "redis")]
    remote: Option<remote::Remote>,
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
    /// Redis said: nothing before then.
    remote_wait_until: Option<Instant>,
    /// The request whose admission is being asked of Redis (at most one per process).
    in_flight: Option<u64>,
    /// The GCRA of the fallback budget used while Redis is away.
    #[cfg(feature = "redis")]
    fallback_tat: Instant,
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
        let mut d = f.debug_struct("RateBudget");
        d.field("limit", &self.inner.limit)
            .field("per", &self.inner.per);
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.inner.remote {
            // The URL is redacted; the key holds a fingerprint, never a token.
            d.field("redis", &remote.server.url())
                .field("key", &remote.keys.tat)
                .field("expected_sharers", &remote.sharers);
        }
        d.finish_non_exhaustive()
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
        let (limit, per) = clamp(limit, per);
        let (interval, tolerance) = gcra(limit, per);
        Self {
            inner: Arc::new(Inner {
                limit,
                per,
                #[cfg(feature = "redis")]
                remote: None,
                interval,
                tolerance,
                state: Mutex::new(State::new()),
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

    /// A budget held in Redis at `url`, shared by every process on every machine that
    /// uses the same Redis, `key` and credential: together they never send more than
    /// `limit` requests in any window of `per` (the same GCRA as [`RateBudget::new`]).
    ///
    /// Why: a rate limit per API key (Omni's 60 per minute) is shared by everything that
    /// holds the key: every CI runner, every replica of a service. A budget in one process
    /// paces that process only; eight runners pacing themselves each to 60 per minute send
    /// 480. Redis is an engine such fleets already run.
    ///
    /// - **Synchronous and lazy**: nothing connects until the first request; `Err` only
    ///   for a URL that is not `redis://`, `rediss://` (TLS, with the system's root
    ///   certificates) or `redis+unix://`.
    /// - **A margin for arrival delays**: requests from different processes reach the
    ///   server with different delays, so the fleet paces as if `per` were 2.5 % longer
    ///   (1.5 s of Omni's minute): at most `limit` in any window of `per` even when the
    ///   last request of a window travels faster than the first; the sustained rate is
    ///   0.878 of the limit instead of 0.9. Limits above 1,000,000 per second are paced
    ///   at that (the script counts whole microseconds).
    /// - **Exact across processes**: each admission is one Lua script that reads the
    ///   theoretical arrival time, decides and writes it back atomically, on the server's
    ///   clock (clients send durations only, so skewed clocks do not matter). A 429's
    ///   [`cool_down`](Self::cool_down) is stored in Redis too, for every sharer.
    /// - **Keys**: `rate-budget:{<key>:<fingerprint>}:tat` and `…:cool`, where the
    ///   fingerprint is the credential's (see [`for_credential`](Self::for_credential);
    ///   the Omni adapters add it through [`omni::set_shared_budget`]) and never the
    ///   token; both keys share a hash tag, for Redis Cluster. Braces in `key` become `_`.
    /// - **Faults**: when Redis is unreachable, slower than 1 s, or holds a foreign value
    ///   under the key, no wait hangs or stops: the budget falls back to a local one at
    ///   `limit / sharers` per `per` (sharers: [`expected_sharers`](Self::expected_sharers),
    ///   default 8), logs one warning per outage (an error per foreign value, naming the
    ///   key), and asks Redis again every 2 s. Why 8 by default: a fleet no larger than
    ///   the assumed count stays within the limit during an outage; a larger one risks
    ///   429s (which still cool its processes down), a smaller one only waits longer.
    ///   Set it to the size of your fleet.
    ///
    /// The URL's password is never logged: messages show it as `***`.
    ///
    /// [`omni::set_shared_budget`]: https://docs.rs/poll-helpers/latest/poll_helpers/omni/fn.set_shared_budget.html
    ///
    /// ```
    /// use std::time::Duration;
    /// use poll_helpers::RateBudget;
    /// // Nothing connects yet: the first acquire does.
    /// let fleet = RateBudget::redis("redis://127.0.0.1:6379", "omni", 60, Duration::from_secs(60))?
    ///     .expected_sharers(4);
    /// assert_eq!(fleet.limit(), 60);
    /// assert!(RateBudget::redis("http://127.0.0.1:6379", "omni", 60, Duration::from_secs(60)).is_err());
    /// # Ok::<(), poll_helpers::RateBudgetError>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(url: &str, key: &str, limit: u32, per: Duration) -> Result<Self, RateBudgetError> {
        let server = remote::Server::open(url)?;
        Ok(Self::held_in(
            server,
            key,
            None,
            limit,
            per,
            remote::DEFAULT_SHARERS,
        ))
    }

    #[cfg(feature = "redis")]
    fn held_in(
        server: Arc<remote::Server>,
        namespace: &str,
        fingerprint: Option<&str>,
        limit: u32,
        per: Duration,
        sharers: u32,
    ) -> Self {
        let (limit, per) = clamp(limit, per);
        // A fleet's requests reach the server with different delays (each process has its
        // own scheduler and network path): a request admitted at the very end of a window
        // and delayed less than that window's first would land inside the server's
        // window. The fleet budget paces as if the window were 2.5 % longer (1.5 s of
        // Omni's minute), which costs 2.2 % of the sustained rate (0.878 of the limit).
        let (interval, tolerance) = gcra(limit, per.saturating_add(per / 40));
        let sharers = sharers.max(1);
        Self {
            inner: Arc::new(Inner {
                limit,
                per,
                remote: Some(remote::Remote {
                    server,
                    namespace: namespace.to_owned(),
                    keys: remote::Keys::new(namespace, fingerprint),
                    fingerprint: fingerprint.map(str::to_owned),
                    sharers,
                    fallback: gcra(limit / sharers, per),
                }),
                interval,
                tolerance,
                state: Mutex::new(State::new()),
            }),
        }
    }

    /// The budget of one credential. For a budget held in Redis (`RateBudget::redis`,
    /// feature `redis`): a budget under the same Redis and key whose Redis keys add
    /// `fingerprint` (pass the client's `credential_fingerprint()`, an HMAC of base URL and
    /// secret that every process computes alike; never the token itself), or `self` when
    /// it already is that credential's. A budget of this process only is returned as is:
    /// you chose what shares it.
    ///
    /// Why: one Redis key per credential, so that two API keys do not share a budget,
    /// while every process holding the same key does.
    ///
    /// ```
    /// use poll_helpers::RateBudget;
    /// let client = omni_sdk::Client::builder()
    ///     .base_url("https://acme.omniapp.co/api")
    ///     .bearer_token("t")
    ///     .build()
    ///     .unwrap();
    /// let fingerprint = progenitor_client::ClientInfo::inner(&client).credential_fingerprint();
    /// let local = RateBudget::per_minute(60);
    /// assert!(local.for_credential(fingerprint).same_budget(&local));
    /// ```
    pub fn for_credential(&self, fingerprint: &str) -> Self {
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.inner.remote
            && remote.fingerprint.as_deref() != Some(fingerprint)
        {
            return Self::held_in(
                Arc::clone(&remote.server),
                &remote.namespace,
                Some(fingerprint),
                self.inner.limit,
                self.inner.per,
                remote.sharers,
            );
        }
        #[cfg(not(feature = "redis"))]
        let _ = fingerprint;
        self.clone()
    }

    /// For a budget held in Redis: how many processes are expected to share its key, so
    /// that each falls back to `limit / sharers` per `per` while Redis is away (at least
    /// one request per `per`). Default 8. Returns a new budget (call it before cloning);
    /// no effect on a budget of this process only.
    ///
    /// ```
    /// let fleet = poll_helpers::RateBudget::redis(
    ///     "redis://127.0.0.1:6379", "omni", 60, std::time::Duration::from_secs(60),
    /// )?
    /// .expected_sharers(3); // three CI runners share the key
    /// # Ok::<(), poll_helpers::RateBudgetError>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn expected_sharers(self, sharers: u32) -> Self {
        match &self.inner.remote {
            Some(remote) => Self::held_in(
                Arc::clone(&remote.server),
                &remote.namespace,
                remote.fingerprint.as_deref(),
                self.inner.limit,
                self.inner.per,
                sharers,
            ),
            None => self,
        }
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
    /// with the burst `b = max(1, limit / 10)`. A budget held in Redis paces as if `per`
    /// were 2.5 % longer (a margin for the different delays of a fleet's requests; see
    /// `RateBudget::redis`).
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
                    #[cfg(feature = "redis")]
                    Step::AskRemote => {
                        if self.ask_remote(seq).await {
                            queued.seq = u64::MAX;
                            return;
                        }
                    }
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
        if state.in_flight.is_some() {
            // Redis is deciding on an earlier turn; its answer wakes the next.
            return Step::Wait;
        }
        let free = self.next_free(&state, now);
        if free > now {
            return Step::SleepUntil(free);
        }
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.inner.remote {
            if remote.server.usable(now) {
                state.in_flight = Some(seq);
                return Step::AskRemote;
            }
            // Redis is away: the fallback budget (a share of the limit) decides.
            let (interval, tolerance) = remote.fallback;
            let allowed = state
                .fallback_tat
                .checked_sub(tolerance)
                .unwrap_or(now)
                .max(now);
            if allowed > now {
                return Step::SleepUntil(allowed);
            }
            state.fallback_tat = state.fallback_tat.max(now) + interval;
        }
        self.take(&mut state, seq, now);
        Step::Taken
    }

    /// Records the admission of `seq` and passes the turn on.
    fn take(&self, state: &mut State, seq: u64, now: Instant) {
        state.tat = state.tat.max(now) + self.inner.interval;
        state.queue.retain(|e| e.seq != seq);
        pass_turn(state, now, self.inner.interval);
    }

    /// Asks Redis to admit `seq` (marked in flight by `try_take`); `true` when admitted.
    /// Otherwise the budget waits as Redis says, or (Redis away) falls back, and the
    /// caller's loop decides again.
    #[cfg(feature = "redis")]
    async fn ask_remote(&self, seq: u64) -> bool {
        let Some(remote) = &self.inner.remote else {
            return false;
        };
        let answer = remote
            .server
            .acquire(&remote.keys, self.inner.interval, self.inner.tolerance)
            .await;
        let mut state = self.lock();
        let now = Instant::now();
        state.in_flight = None;
        match answer {
            remote::Answer::Admitted => {
                self.take(&mut state, seq, now);
                true
            }
            remote::Answer::RetryIn(wait) => {
                state.remote_wait_until = Some(crate::poller::far_add(now, wait));
                pass_turn(&state, now, self.inner.interval);
                false
            }
            remote::Answer::Unavailable => {
                // The fallback's first admission waits one of its intervals: the shared
                // budget may have just admitted a burst, and a fresh local burst on top
                // (in every process at once) is what would make a 429 storm.
                if let Some(remote) = &self.inner.remote {
                    let fresh = crate::poller::far_add(now, remote.fallback.0);
                    state.fallback_tat = state.fallback_tat.max(fresh);
                }
                pass_turn(&state, now, self.inner.interval);
                false
            }
        }
    }

    /// The earliest instant a request may be sent: the GCRA's (this process's, when the
    /// budget is not held in Redis), the cool-down's and the one Redis gave.
    fn next_free(&self, state: &State, now: Instant) -> Instant {
        let mut free = now;
        #[cfg(feature = "redis")]
        let local = self.inner.remote.is_none();
        #[cfg(not(feature = "redis"))]
        let local = true;
        if local {
            free = state
                .tat
                .checked_sub(self.inner.tolerance)
                .unwrap_or(now)
                .max(now);
        }
        for until in [state.cool_until, state.remote_wait_until]
            .into_iter()
            .flatten()
        {
            free = free.max(until);
        }
        free
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
        {
            let mut state = self.lock();
            match state.cool_until {
                Some(existing) if existing >= until => {}
                _ => state.cool_until = Some(until),
            }
        }
        // Every sharer of a Redis budget cools down too (best effort, in the background:
        // this method does not wait for Redis).
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.inner.remote
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let server = Arc::clone(&remote.server);
            let keys = remote.keys.clone();
            runtime.spawn(async move { server.cool_down(&keys, wait).await });
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
    /// Redis decides: ask it (the request is marked in flight).
    #[cfg(feature = "redis")]
    AskRemote,
}

impl State {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            tat: now,
            cool_until: None,
            remote_wait_until: None,
            in_flight: None,
            #[cfg(feature = "redis")]
            fallback_tat: now,
            next_seq: 0,
            queue: Vec::new(),
        }
    }
}

/// `limit` and `per` as the budget uses them: a `limit` of 0 is 1, `per` within 1 ms and
/// 500 years (so that instants and nanosecond counts never overflow).
fn clamp(limit: u32, per: Duration) -> (u32, Duration) {
    (
        limit.max(1),
        per.clamp(
            Duration::from_millis(1),
            Duration::from_secs(500 * 31_557_600),
        ),
    )
}

/// The GCRA's `(interval, tolerance)` for at most `limit` requests in any window of `per`:
/// a burst of `b = max(1, limit / 10)`, then one request every `per / (limit − b)` (see
/// the type's documentation).
fn gcra(limit: u32, per: Duration) -> (Duration, Duration) {
    // A fallback share (`limit / sharers`) can be 0: it is taken as 1 like any limit.
    let limit = limit.max(1);
    let burst = (limit / 10).max(1);
    let refills = limit - burst;
    // With a refill every `per / refills`, a window of `per` holds `burst + refills`.
    // For limit 1: one request, then one per `per`.
    let interval = if refills == 0 { per } else { per / refills };
    let interval = interval.max(Duration::from_nanos(1));
    (interval, interval.saturating_mul(burst - 1))
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
        if state.in_flight == Some(self.seq) {
            // Dropped while Redis decided: whatever it admitted goes unused (the cautious
            // side), and the next turn may ask.
            state.in_flight = None;
        }
        pass_turn(&state, Instant::now(), self.budget.inner.interval);
    }
}

/// Wakes whoever's turn it is now.
fn pass_turn(state: &State, now: Instant, interval: Duration) {
    if let Some(next) = choose(&state.queue, now, interval)
        && let Some(e) = state.queue.iter().find(|e| e.seq == next)
    {
        e.notify.notify_one();
    }
}
