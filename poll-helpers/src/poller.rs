//! The paced poll loop: [`Poller`], its events and its end.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use tokio::time::Instant;
use tracing::Instrument;

use crate::budget::{Likelihood, RateBudget, Request};
use crate::error::{FetchError, FetchErrorKind, PollError};
use crate::learn::Plan;
use crate::policy::{PollPolicy, SplitMix64, process_seed};
use crate::progress::ProgressEstimate;
use crate::snapshot::{Phase, Snapshot};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type FetchFn<'a, T> = Box<dyn FnMut() -> BoxFuture<'a, Result<T, FetchError>> + Send + 'a>;

/// A `Retry-After` shorter than this is raised to it.
const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How much before the deadline the last poll is sent, so that its request has time to
/// complete before it is cut off. Never more than a tenth of the whole deadline.
const LAST_POLL_MARGIN: Duration = Duration::from_secs(1);

/// One poll, as the event stream reports it.
///
/// ```
/// # use poll_helpers::{PollEvent, Snapshot, Phase};
/// # #[derive(Clone, Debug)] struct S; impl Snapshot for S { fn phase(&self) -> Phase { Phase::Pending } }
/// fn log(e: &PollEvent<S>) {
///     match &e.outcome {
///         Ok(s) => println!("#{} after {:?}: {:?}, next in {:?}", e.attempt, e.elapsed, s.phase(), e.next_delay),
///         Err(err) => println!("#{} failed: {err}", e.attempt),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollEvent<T> {
    /// 1 for the first request.
    pub attempt: u32,
    /// Time since the wait started, when the response (or error) arrived.
    pub elapsed: Duration,
    /// What this poll returned.
    pub outcome: Result<T, FetchError>,
    /// When the next poll is due, or `None` if this was the last one.
    pub next_delay: Option<Duration>,
}

/// Waits for one job: polls `fetch` on the policy's schedule until the snapshot reaches a
/// terminal [`Phase`], a permanent error, the deadline or `max_attempts`.
///
/// Two ways to use it, both lazy (nothing is sent before the first `.await`/poll) and both
/// with at most one request in flight:
/// - `.await` it (it is [`IntoFuture`]) for the final snapshot or a [`PollError`];
/// - [`into_stream`](Self::into_stream) for one [`PollEvent`] per request, to show
///   progress or persist the job's state, paced by the policy rather than by the consumer.
///
/// Dropping either stops polling at once and cancels nothing on the server: a wait can be
/// resumed later from the job id alone.
///
/// ```
/// use std::time::Duration;
/// use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot};
///
/// #[derive(Clone, Debug)]
/// struct Job(u32);
/// impl Snapshot for Job {
///     fn phase(&self) -> Phase {
///         if self.0 >= 3 { Phase::Succeeded } else { Phase::Pending }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut n = 0;
/// let policy = PollPolicy::default().min_delay(Duration::from_millis(1)).max_delay(Duration::from_millis(5));
/// let job = Poller::new(policy, move || {
///     n += 1;
///     let snapshot = Job(n);
///     async move { Ok::<_, FetchError>(snapshot) }
/// })
/// .job_id("job-1")
/// .await?;
/// assert_eq!(job.0, 3);
/// # Ok(()) }
/// ```
pub struct Poller<'a, T> {
    policy: PollPolicy,
    fetch: FetchFn<'a, T>,
    job: String,
    kind: &'static str,
    budget: Option<RateBudget>,
    floor: Duration,
}

impl<T> std::fmt::Debug for Poller<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("job", &self.job)
            .field("kind", &self.kind)
            .field("policy", &self.policy)
            .field("budget", &self.budget)
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

impl<'a, T> Poller<'a, T>
where
    T: Snapshot + Clone + Send + 'a,
{
    /// A poller that calls `fetch` for each poll.
    ///
    /// ```
    /// # use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot};
    /// # #[derive(Clone, Debug)] struct Done; impl Snapshot for Done { fn phase(&self) -> Phase { Phase::Succeeded } }
    /// let poller = Poller::new(PollPolicy::default(), || async { Ok::<_, FetchError>(Done) });
    /// ```
    pub fn new<F, Fut>(policy: PollPolicy, mut fetch: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, FetchError>> + Send + 'a,
    {
        Self {
            policy,
            fetch: Box::new(move || Box::pin(fetch())),
            job: String::from("(unnamed)"),
            kind: "job",
            budget: None,
            floor: Duration::ZERO,
        }
    }

    /// Names the job in errors and logs, and mixes it into the jitter seed.
    ///
    /// ```
    /// # use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot};
    /// # #[derive(Clone, Debug)] struct Done; impl Snapshot for Done { fn phase(&self) -> Phase { Phase::Succeeded } }
    /// let poller = Poller::new(PollPolicy::default(), || async { Ok::<_, FetchError>(Done) })
    ///     .job_id("4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf");
    /// ```
    pub fn job_id(mut self, job: impl Into<String>) -> Self {
        self.job = job.into();
        self
    }

    /// Names the kind of job in logs (`tracing` span field `kind`).
    ///
    /// ```
    /// # use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot};
    /// # #[derive(Clone, Debug)] struct Done; impl Snapshot for Done { fn phase(&self) -> Phase { Phase::Succeeded } }
    /// let poller = Poller::new(PollPolicy::default(), || async { Ok::<_, FetchError>(Done) })
    ///     .kind("export");
    /// ```
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// Draws every request from `budget`, shared with other pollers.
    ///
    /// ```
    /// # use poll_helpers::{FetchError, Phase, PollPolicy, Poller, RateBudget, Snapshot};
    /// # #[derive(Clone, Debug)] struct Done; impl Snapshot for Done { fn phase(&self) -> Phase { Phase::Succeeded } }
    /// let budget = RateBudget::per_minute(60);
    /// let poller = Poller::new(PollPolicy::default(), || async { Ok::<_, FetchError>(Done) })
    ///     .rate_budget(budget.clone());
    /// ```
    pub fn rate_budget(mut self, budget: RateBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Draws from no rate budget: undoes [`rate_budget`](Self::rate_budget), including
    /// the per-credential budget the Omni adapters attach by default (for a caller that
    /// paces requests some other way).
    ///
    /// ```
    /// # use poll_helpers::{FetchError, Phase, PollPolicy, Poller, RateBudget, Snapshot};
    /// # #[derive(Clone, Debug)] struct Done; impl Snapshot for Done { fn phase(&self) -> Phase { Phase::Succeeded } }
    /// let poller = Poller::new(PollPolicy::default(), || async { Ok::<_, FetchError>(Done) })
    ///     .rate_budget(RateBudget::per_minute(60))
    ///     .without_rate_budget();
    /// ```
    pub fn without_rate_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// Never polls more often than once per `floor`, whatever the policy says (the Omni
    /// adapters set 1 s, Omni's documented limit per job).
    ///
    /// ```
    /// # use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot};
    /// # #[derive(Clone, Debug)] struct Done; impl Snapshot for Done { fn phase(&self) -> Phase { Phase::Succeeded } }
    /// let poller = Poller::new(PollPolicy::default(), || async { Ok::<_, FetchError>(Done) })
    ///     .min_interval(std::time::Duration::from_secs(1));
    /// ```
    pub fn min_interval(mut self, floor: Duration) -> Self {
        self.floor = floor;
        self
    }

    /// One event per request, ending after the item that carries the final snapshot
    /// (`next_delay: None`) or a [`PollError`].
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// # use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot};
    /// # #[derive(Clone, Debug)] struct Done; impl Snapshot for Done { fn phase(&self) -> Phase { Phase::Succeeded } }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut events = Poller::new(PollPolicy::default(), || async { Ok::<_, FetchError>(Done) }).into_stream();
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         Ok(e) => println!("attempt {} -> next in {:?}", e.attempt, e.next_delay),
    ///         Err(e) => eprintln!("{e}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn into_stream(
        self,
    ) -> impl Stream<Item = Result<PollEvent<T>, PollError<T>>> + Unpin + Send + 'a {
        let span = tracing::info_span!("poll", kind = self.kind, job = %self.job);
        let state = State::new(self);
        Box::pin(futures_util::stream::unfold(state, move |mut state| {
            let span = span.clone();
            async move {
                let item = state.step().await?;
                Some((item, state))
            }
            .instrument(span)
        }))
    }
}

impl<'a, T> IntoFuture for Poller<'a, T>
where
    T: Snapshot + Clone + Send + 'a,
{
    type Output = Result<T, PollError<T>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut stream = self.into_stream();
            let mut last = None;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(event) => last = Some(event),
                    Err(e) => return Err(e),
                }
            }
            // The stream only ends without an error after a succeeded snapshot.
            match last.map(|e| e.outcome) {
                Some(Ok(snapshot)) => Ok(snapshot),
                _ => Err(PollError::Request {
                    job: String::new(),
                    attempts: 0,
                    elapsed: Duration::ZERO,
                    status: None,
                    message: "poll stream ended without a result".into(),
                    last: None,
                }),
            }
        })
    }
}

/// The loop's state between two stream items.
struct State<'a, T> {
    poller: Poller<'a, T>,
    rng: SplitMix64,
    started: Option<Instant>,
    deadline: Instant,
    next_at: Instant,
    attempt: u32,
    last: Option<T>,
    last_error: Option<FetchError>,
    finished: Option<PollError<T>>,
    done: bool,
    /// What the reported progress says about the finish time.
    progress: ProgressEstimate,
    /// The duration model's plan, when the policy has a warm one.
    plan: Option<Arc<Plan>>,
    /// When the last poll that saw the job pending got its answer (since the start).
    last_pending: Option<Duration>,
}

impl<'a, T> State<'a, T>
where
    T: Snapshot + Clone + Send + 'a,
{
    fn new(poller: Poller<'a, T>) -> Self {
        let seed = poller.policy.seed.unwrap_or_else(process_seed);
        let rng = SplitMix64::new(seed, &poller.job);
        let now = Instant::now();
        Self {
            poller,
            rng,
            started: None,
            deadline: now,
            next_at: now,
            attempt: 0,
            last: None,
            last_error: None,
            finished: None,
            done: false,
            progress: ProgressEstimate::default(),
            plan: None,
            last_pending: None,
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    fn job(&self) -> String {
        self.poller.job.clone()
    }

    fn deadline_error(&mut self, reason: String) -> PollError<T> {
        PollError::DeadlineExceeded {
            job: self.job(),
            attempts: self.attempt,
            elapsed: self.elapsed(),
            last: self.last.take(),
            last_error: self.last_error.take(),
            reason,
        }
    }

    /// Produces the next stream item, or `None` when the stream is over.
    async fn step(&mut self) -> Option<Result<PollEvent<T>, PollError<T>>> {
        if self.done {
            return None;
        }
        if let Some(e) = self.finished.take() {
            self.done = true;
            tracing::info!(error = %e, "wait ended");
            return Some(Err(e));
        }
        let started = match self.started {
            Some(s) => s,
            None => {
                // First poll: check the policy before anything is sent, then start the clock.
                if let Err(e) = self.poller.policy.validate() {
                    self.done = true;
                    return Some(Err(PollError::InvalidPolicy(e)));
                }
                let now = Instant::now();
                self.started = Some(now);
                // A deadline of Duration::MAX means "no deadline": saturate far ahead.
                let policy = &self.poller.policy;
                self.deadline = far_add(now, policy.deadline);
                let mut first = policy.initial_delay.min(policy.deadline);
                self.plan = policy
                    .learn
                    .as_ref()
                    .and_then(|m| m.plan(policy.plan_key()));
                if let Some(at) = self.plan.as_ref().and_then(|p| p.first()) {
                    // A warm model may skip the first poll too, if jobs never finish that
                    // early; not past the last slot before the deadline.
                    let margin = LAST_POLL_MARGIN.min(policy.deadline / 10);
                    let last_slot = policy.deadline.saturating_sub(margin);
                    first = first.max(secs(at).min(last_slot));
                }
                self.next_at = far_add(now, first);
                now
            }
        };

        // tokio's timer has millisecond granularity: even `sleep_until(now)` waits for the
        // next tick (~1 ms), which is most of a loopback request. Only sleep when due later.
        if self.next_at > Instant::now() {
            tokio::time::sleep_until(self.next_at).await;
        }
        if let Some(budget) = self.poller.budget.clone() {
            let request = Request {
                first: self.attempt == 0,
                likelihood: Some(self.likelihood(started)),
                ripe_by: self.deferred_until(),
            };
            if let Err(no_room) = budget.acquire_before(Some(self.deadline), request).await {
                self.done = true;
                let reason = if no_room.left.is_zero() {
                    "the rate budget had no room before the deadline".to_string()
                } else {
                    no_room.to_string()
                };
                let e = self.deadline_error(reason);
                return Some(Err(e));
            }
        }

        self.attempt += 1;
        // A poll is a retry loop of its own, charged to the budget: the client sends
        // each of its requests once (no automatic retries of the SDK's runtime).
        let fetch = sdk_runtime::retry::without_retries((self.poller.fetch)());
        let outcome = match tokio::time::timeout_at(self.deadline, fetch).await {
            Ok(outcome) => outcome,
            Err(_) => Err(FetchError::transient("request cut off at the deadline")),
        };
        let now = Instant::now();
        let elapsed = now - started;
        match &outcome {
            Ok(snapshot) => {
                self.last = Some(snapshot.clone());
                self.last_error = None;
            }
            Err(e) => self.last_error = Some(e.clone()),
        }
        let next_delay = match self.classify(&outcome, elapsed) {
            Some((delay, hard)) => {
                let scheduled = self.schedule(now, delay, hard);
                if scheduled.is_none() {
                    let left = self.deadline.saturating_duration_since(now);
                    let reason = if left.is_zero() {
                        format!(
                            "the deadline of {:.1?} passed with the job still pending",
                            self.poller.policy.deadline
                        )
                    } else {
                        format!(
                            "the job is still pending and no further poll fits before the \
                             deadline of {:.1?} ({left:.1?} left)",
                            self.poller.policy.deadline
                        )
                    };
                    self.finished = Some(self.deadline_error(reason));
                }
                scheduled
            }
            None => None,
        };
        tracing::debug!(
            attempt = self.attempt,
            elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            outcome = %describe(&outcome),
            next_delay_ms = next_delay.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            "poll"
        );
        if next_delay.is_none() && self.finished.is_none() {
            tracing::info!(attempts = self.attempt, elapsed = ?elapsed, "job finished");
            self.done = true;
        }
        Some(Ok(PollEvent {
            attempt: self.attempt,
            elapsed,
            outcome,
            next_delay,
        }))
    }

    /// Decides what follows this outcome: `Some((delay, hard))` to poll again (`hard`: a
    /// `Retry-After`, not to be shortened), `None` to stop (with `self.finished` set when
    /// the ending is an error).
    fn classify(
        &mut self,
        outcome: &Result<T, FetchError>,
        elapsed: Duration,
    ) -> Option<(Duration, bool)> {
        let policy = &self.poller.policy;
        let exhausted = policy.max_attempts.is_some_and(|max| self.attempt >= max);
        match outcome {
            Ok(snapshot) => match snapshot.phase() {
                Phase::Succeeded => {
                    self.record_duration(elapsed);
                    None
                }
                Phase::Failed(reason) => {
                    self.finished = Some(PollError::Failed {
                        job: self.job(),
                        attempts: self.attempt,
                        elapsed,
                        last: snapshot.clone(),
                        reason,
                    });
                    None
                }
                Phase::Pending if exhausted => self.exhausted(elapsed),
                Phase::Pending => {
                    self.last_pending = Some(elapsed);
                    if policy.progress_aware {
                        self.progress.observe(elapsed, snapshot.progress());
                    }
                    match snapshot.poll_again_after() {
                        Some(delay) => Some((delay, false)),
                        None => {
                            let u = self.rng.next_f64();
                            Some((self.pending_delay(elapsed, u), false))
                        }
                    }
                }
            },
            Err(e) => {
                let permanent = match e.kind {
                    FetchErrorKind::Permanent => true,
                    FetchErrorKind::NotFound => elapsed >= policy.not_found_grace,
                    FetchErrorKind::Transient => false,
                };
                if permanent {
                    self.finished = Some(PollError::Request {
                        job: self.job(),
                        attempts: self.attempt,
                        elapsed,
                        status: e.status,
                        message: e.message.clone(),
                        last: self.last.clone(),
                    });
                    return None;
                }
                if exhausted {
                    return self.exhausted(elapsed);
                }
                let Some(wait) = e.retry_after else {
                    return Some((policy.backoff(self.attempt, self.rng.next_f64()), false));
                };
                let wait = wait.max(MIN_RETRY_AFTER);
                if e.status == Some(429)
                    && let Some(budget) = &self.poller.budget
                {
                    budget.cool_down(wait);
                }
                let left = self.deadline.saturating_duration_since(Instant::now());
                if wait > left {
                    let reason = format!(
                        "Retry-After of {} s is past the deadline ({:.1} s left)",
                        wait.as_secs_f64().ceil(),
                        left.as_secs_f64()
                    );
                    self.finished = Some(self.deadline_error(reason));
                    return None;
                }
                // Retry-After wins over the schedule; `schedule` still applies the floor.
                Some((wait, true))
            }
        }
    }

    /// The delay before the next poll of a pending job (without `poll_again_after`): a
    /// progress estimate, else the duration model's plan, else the backoff. `u` is this
    /// attempt's jitter draw, taken whichever is used so that the backoff's sequence does
    /// not depend on it.
    fn pending_delay(&mut self, elapsed: Duration, u: f64) -> Duration {
        let policy = &self.poller.policy;
        if policy.progress_aware
            && let Some(delay) = self.progress.delay(elapsed, policy, u)
        {
            return delay;
        }
        let t = elapsed.as_secs_f64();
        if let Some(at) = self.plan.as_ref().and_then(|p| p.next_after(t)) {
            return secs(at - t).max(policy.min_delay);
        }
        policy.backoff(self.attempt, u)
    }

    /// How long a saturated budget may hold this wait's *first* poll back (the request's
    /// `ripe_by`): a wait with a duration model and no usable progress estimate joins the
    /// queue of first polls only once its [`likelihood`](Self::likelihood) (expected
    /// seconds since its job finished) is at least that of every later poll queued, so
    /// that a scarce admission goes to it only when it would have won it anyway; and at
    /// the last slot before the deadline at the latest. First polls are served before any
    /// later poll (arrival order): one asked at a fixed time (the plan's first slot, or
    /// the model's median under saturation) takes admissions from waits more likely to
    /// be done, and asked by every wait it is more than the budget allows. With nothing
    /// else queued it is served at once, as without a budget. `None` (at once) for later
    /// polls and for waits without a model or with a progress estimate.
    fn deferred_until(&self) -> Option<Instant> {
        if self.attempt > 0 || self.plan.is_none() || self.progress.usable() {
            return None;
        }
        let margin = LAST_POLL_MARGIN.min(self.poller.policy.deadline / 10);
        Some(self.deadline.checked_sub(margin).unwrap_or(self.deadline))
    }

    /// What the budget orders later polls by when it is saturated: how long, by what this
    /// wait knows, its job has been finished at a given instant (expected seconds since
    /// it finished, 0 if it surely has not), given that the last poll saw it pending.
    /// It grows with the likelihood of completion and with the time since the last poll:
    /// from the progress estimate when there is one, else the duration model's
    /// distribution, else a scale-free guess (the job as likely to finish in any doubling
    /// of its age), which orders waits about as round-robin does.
    fn likelihood(&self, started: Instant) -> Likelihood {
        let last = self.last_pending.unwrap_or(Duration::ZERO).as_secs_f64();
        let eta = self
            .progress
            .eta
            .filter(|_| self.progress.usable() && self.poller.policy.progress_aware);
        let plan = self.plan.clone();
        Box::new(move |now: Instant| {
            let t = now.saturating_duration_since(started).as_secs_f64();
            if t <= last {
                return 0.0;
            }
            if let Some(eta) = eta {
                return (t - eta.max(last)).max(0.0);
            }
            if let Some(late) = plan.as_ref().and_then(|p| p.expected_lateness(last, t)) {
                return late;
            }
            // ∫ P(done by s | pending at last) ds with P = (s − last) / s.
            if last > 0.0 {
                (t - last) - last * (t / last).ln()
            } else {
                t
            }
        })
    }

    /// Teaches the policy's duration model where this job finished: between the last
    /// poll that saw it pending and now, or at the progress estimate if it falls between.
    fn record_duration(&self, elapsed: Duration) {
        let Some(model) = &self.poller.policy.learn else {
            return;
        };
        let after = self.last_pending.unwrap_or(Duration::ZERO);
        match self.progress.eta {
            Some(eta)
                if self.progress.usable() && eta > after.as_secs_f64() && secs(eta) <= elapsed =>
            {
                model.record(secs(eta));
            }
            _ => model.record_between(after, elapsed),
        }
    }

    fn exhausted(&mut self, elapsed: Duration) -> Option<(Duration, bool)> {
        self.finished = Some(PollError::AttemptsExhausted {
            job: self.job(),
            attempts: self.attempt,
            elapsed,
            last: self.last.take(),
            last_error: self.last_error.take(),
        });
        None
    }

    /// Places the next poll `delay` after `now`. A backoff delay that would fall after
    /// the deadline is pulled in so that the last poll lands just before it (a `hard`
    /// delay, from `Retry-After`, is never shortened). `None` when no poll fits.
    fn schedule(&mut self, now: Instant, delay: Duration, hard: bool) -> Option<Duration> {
        let delay = delay.max(self.poller.floor);
        let left = self.deadline.saturating_duration_since(now);
        let margin = LAST_POLL_MARGIN.min(self.poller.policy.deadline / 10);
        let last_slot = left.saturating_sub(margin);
        let delay = if hard {
            // Never earlier than the server asked; only if it still fits.
            if delay < left { delay } else { return None }
        } else if delay <= last_slot {
            delay
        } else if last_slot.is_zero() {
            // Already within the last margin: one more poll could not complete.
            return None;
        } else {
            // Pull the last poll in to land just before the deadline (not before the floor).
            let last = last_slot.max(self.poller.floor);
            if last < left { last } else { return None }
        };
        self.next_at = now + delay;
        Some(delay)
    }
}

/// A duration from seconds, 0 for negative or NaN, saturating far ahead.
pub(crate) fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(if s > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

/// `at + d`, saturating about 30 years ahead instead of overflowing.
pub(crate) fn far_add(at: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    at.checked_add(d.min(FAR)).unwrap_or(at)
}

fn describe<T: Snapshot>(outcome: &Result<T, FetchError>) -> String {
    match outcome {
        Ok(s) => match s.phase() {
            Phase::Pending => match s.progress() {
                Some(p) => format!("pending ({:.0}%)", p * 100.0),
                None => "pending".into(),
            },
            Phase::Succeeded => "succeeded".into(),
            Phase::Failed(reason) => format!("failed: {reason}"),
        },
        Err(e) => format!("error: {e}"),
    }
}
