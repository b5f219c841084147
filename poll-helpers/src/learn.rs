//! Learning how long a kind of job takes: [`DurationModel`], and the poll plan a warm
//! model yields.
//!
//! # What the model keeps
//!
//! The last [`capacity`](DurationModel::capacity) finished waits (default
//! [`DurationModel::DEFAULT_CAPACITY`] = 256), each as the interval in which the job
//! finished: after the last poll that saw it pending, at or before the poll that saw it
//! done (or a point, when a progress estimate or [`DurationModel::record`] gives one). Older
//! waits are forgotten, so the model follows a drift, and its memory is bounded: 16 bytes
//! per kept wait, plus one cached plan of at most 4,096 poll times (building it uses a
//! grid of at most 4,096 cells).
//!
//! # How a plan is made
//!
//! The kept intervals, each spread evenly over itself, give a distribution of durations
//! (spreading is cautious: it puts more of a censored wait early than there usually is).
//! From it the plan places polls `max_detection_latency` apart where jobs finish, and
//! skips stretches where they rarely do, spending at most a fixed budget
//! ([`DurationModel::MISS_BUDGET`], 4 % of waits by the model) on jobs detected later
//! than the bound, and never later than 4 times the bound. Several ways of spending that budget are tried (all of it on the first
//! skip, or only where skipping saves the most requests per job missed) and the plan with
//! the fewest expected requests is kept. It is rebuilt when an eighth of the model is new.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// What one kind of job has taken to finish, learned from the waits of this process; the
/// input of [`PollPolicy::learn_durations`](crate::PollPolicy::learn_durations).
///
/// Cheap to clone: clones share one model (an `Arc` inside), so keep one per *kind* of job
/// (schema refreshes, AI jobs, imports…) and give clones of it to every policy that waits
/// on that kind. Mixing kinds in one model makes its plans worse, never wrong: they are
/// made for the mixture.
///
/// Every wait that succeeds records where its job finished; until
/// [`WARM_UP`](Self::WARM_UP) waits are recorded, the policy's backoff is used unchanged.
/// Memory is bounded (see [`capacity`](Self::capacity)): the model keeps the last waits
/// only.
///
/// Two models are equal (`==`) when they are the same shared model.
///
/// ```
/// use std::time::Duration;
/// use poll_helpers::{DurationModel, PollPolicy};
///
/// let refreshes = DurationModel::new();
/// let policy = PollPolicy::default()
///     .learn_durations(refreshes.clone())
///     .max_detection_latency(Duration::from_secs(5));
/// // Every wait made with `policy` (or a clone) teaches `refreshes`.
/// assert!(refreshes.is_empty());
/// # let _ = policy;
/// ```
#[derive(Clone)]
pub struct DurationModel {
    inner: Arc<Mutex<Model>>,
}

/// The shared state behind a [`DurationModel`].
struct Model {
    capacity: usize,
    /// `(lo, hi)` in seconds since the wait started: the job finished in `(lo, hi]`.
    kept: VecDeque<(f64, f64)>,
    /// Waits recorded since the model was made (kept or forgotten).
    observed: u64,
    cached: Option<Cached>,
}

struct Cached {
    key: PlanKey,
    at_observed: u64,
    plan: Arc<Plan>,
}

impl Default for DurationModel {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for DurationModel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for DurationModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.lock();
        f.debug_struct("DurationModel")
            .field("kept", &m.kept.len())
            .field("capacity", &m.capacity)
            .field("observed", &m.observed)
            .finish()
    }
}

impl DurationModel {
    /// How many waits a model keeps by default.
    ///
    /// ```
    /// assert_eq!(poll_helpers::DurationModel::new().capacity(), poll_helpers::DurationModel::DEFAULT_CAPACITY);
    /// ```
    pub const DEFAULT_CAPACITY: usize = 256;

    /// How many waits a model needs before it changes the schedule ("cold start": fewer
    /// than this, and the policy's backoff is used unchanged).
    ///
    /// ```
    /// let model = poll_helpers::DurationModel::new();
    /// for _ in 0..poll_helpers::DurationModel::WARM_UP {
    ///     model.record(std::time::Duration::from_secs(20));
    /// }
    /// assert!(model.is_warm());
    /// ```
    pub const WARM_UP: usize = 20;

    /// The share of waits (by the model) a plan may detect later than the policy's
    /// `max_detection_latency`, in exchange for skipping polls where jobs rarely finish:
    /// the bound holds for at least 96 % of waits, which leaves a margin under a p95 for
    /// the model's own error.
    ///
    /// ```
    /// assert!(poll_helpers::DurationModel::MISS_BUDGET < 0.05);
    /// ```
    pub const MISS_BUDGET: f64 = 0.04;

    /// An empty model keeping the last [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) waits.
    ///
    /// ```
    /// let model = poll_helpers::DurationModel::new();
    /// assert!(!model.is_warm());
    /// ```
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty model keeping the last `capacity` waits (at least
    /// [`WARM_UP`](Self::WARM_UP), at most 65,536).
    ///
    /// ```
    /// let model = poll_helpers::DurationModel::with_capacity(1024);
    /// assert_eq!(model.capacity(), 1024);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.clamp(Self::WARM_UP, 1 << 16);
        Self {
            inner: Arc::new(Mutex::new(Model {
                capacity,
                kept: VecDeque::with_capacity(capacity),
                observed: 0,
                cached: None,
            })),
        }
    }

    /// A model that starts warm from a cold-start `prior`: each duration counts as one
    /// kept wait (not in [`observed`](Self::observed)), and real waits push them out as
    /// they are recorded, oldest first. With at least [`WARM_UP`](Self::WARM_UP)
    /// durations, the first wait already follows a plan.
    ///
    /// ```
    /// use std::time::Duration;
    /// let prior = (1..=20).map(|s| Duration::from_secs(5 * s));
    /// let model = poll_helpers::DurationModel::with_prior(prior);
    /// assert!(model.is_warm());
    /// assert_eq!(model.observed(), 0);
    /// ```
    pub fn with_prior(prior: impl IntoIterator<Item = Duration>) -> Self {
        let model = Self::new();
        {
            let mut m = model.lock();
            for d in prior.into_iter().take(m.capacity) {
                let s = d.as_secs_f64();
                m.kept.push_back((s, s));
            }
        }
        model
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        // Nothing here can leave the model half-updated: a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a job that took `duration` from the start of its wait.
    ///
    /// ```
    /// let model = poll_helpers::DurationModel::new();
    /// model.record(std::time::Duration::from_secs(42));
    /// assert_eq!(model.len(), 1);
    /// ```
    pub fn record(&self, duration: Duration) {
        self.record_between(duration, duration);
    }

    /// Records a job known to have finished after `after` and at or before `by` (both
    /// from the start of its wait): the last poll that saw it pending, and the poll that
    /// saw it done. The poller records every successful wait this way.
    ///
    /// ```
    /// use std::time::Duration;
    /// let model = poll_helpers::DurationModel::new();
    /// model.record_between(Duration::from_secs(15), Duration::from_secs(20));
    /// assert_eq!(model.observed(), 1);
    /// ```
    pub fn record_between(&self, after: Duration, by: Duration) {
        let (lo, hi) = (after.as_secs_f64(), by.as_secs_f64());
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let mut m = self.lock();
        if m.kept.len() >= m.capacity {
            m.kept.pop_front();
        }
        m.kept.push_back((lo, hi));
        m.observed += 1;
    }

    /// How many waits the model keeps now (at most [`capacity`](Self::capacity)).
    ///
    /// ```
    /// assert_eq!(poll_helpers::DurationModel::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().kept.len()
    }

    /// Whether no wait is kept.
    ///
    /// ```
    /// assert!(poll_helpers::DurationModel::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.lock().kept.is_empty()
    }

    /// The most waits the model keeps: beyond it, the oldest is forgotten.
    ///
    /// ```
    /// let model = poll_helpers::DurationModel::with_capacity(32);
    /// for _ in 0..1000 {
    ///     model.record(std::time::Duration::from_secs(1));
    /// }
    /// assert_eq!(model.len(), 32);
    /// ```
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// How many waits were ever recorded, kept or forgotten.
    ///
    /// ```
    /// let model = poll_helpers::DurationModel::with_capacity(32);
    /// for _ in 0..100 {
    ///     model.record(std::time::Duration::from_secs(1));
    /// }
    /// assert_eq!(model.observed(), 100);
    /// ```
    pub fn observed(&self) -> u64 {
        self.lock().observed
    }

    /// Whether the model has seen enough waits ([`WARM_UP`](Self::WARM_UP)) to change the
    /// schedule.
    ///
    /// ```
    /// assert!(!poll_helpers::DurationModel::new().is_warm());
    /// ```
    pub fn is_warm(&self) -> bool {
        self.lock().kept.len() >= Self::WARM_UP
    }

    /// The `q`-quantile (`q` in `0.0..=1.0`) of the kept durations, each wait counted at
    /// the middle of its interval; `None` while the model is empty.
    ///
    /// ```
    /// use std::time::Duration;
    /// let model = poll_helpers::DurationModel::new();
    /// for s in 1..=9 {
    ///     model.record(Duration::from_secs(s));
    /// }
    /// assert_eq!(model.quantile(0.5), Some(Duration::from_secs(5)));
    /// ```
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut mids: Vec<f64> = self
            .lock()
            .kept
            .iter()
            .map(|&(lo, hi)| (lo + hi) / 2.0)
            .collect();
        if mids.is_empty() {
            return None;
        }
        mids.sort_by(f64::total_cmp);
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = (q * (mids.len() - 1) as f64).round() as usize;
        let secs = mids.get(rank.min(mids.len() - 1)).copied()?;
        // Saturating: a duration near `Duration::MAX` comes back above it as an f64.
        Some(crate::poller::secs(secs))
    }

    /// The plan for `key`, or `None` while the model is cold. Rebuilt when the key changes
    /// or an eighth of the kept waits is new since the last build.
    pub(crate) fn plan(&self, key: PlanKey) -> Option<Arc<Plan>> {
        let mut m = self.lock();
        let n = m.kept.len();
        if n < Self::WARM_UP {
            return None;
        }
        let refresh = (n as u64 / 8).max(1);
        if let Some(c) = &m.cached
            && c.key == key
            && m.observed < c.at_observed + refresh
        {
            return Some(Arc::clone(&c.plan));
        }
        let (kept, _) = m.kept.as_slices();
        let plan = if kept.len() == n {
            Arc::new(Plan::build(kept, key))
        } else {
            let all: Vec<(f64, f64)> = m.kept.iter().copied().collect();
            Arc::new(Plan::build(&all, key))
        };
        m.cached = Some(Cached {
            key,
            at_observed: m.observed,
            plan: Arc::clone(&plan),
        });
        Some(plan)
    }
}

/// What a plan depends on besides the model, all in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PlanKey {
    /// The detection latency to keep (`max_detection_latency`).
    pub(crate) latency: f64,
    /// The shortest gap between two polls (`min_delay`).
    pub(crate) min_gap: f64,
    /// The longest gap (`progress_max_delay`, at least `latency`).
    pub(crate) max_gap: f64,
    /// The earliest first poll (`initial_delay`).
    pub(crate) start: f64,
}

/// Poll times, in seconds since the wait started, increasing. Past the last one the
/// policy's backoff takes over.
#[derive(Debug)]
pub(crate) struct Plan {
    times: Vec<f64>,
    /// The distribution the plan was made from.
    cdf: Cdf,
}

/// Most grid cells of a plan's distribution, and most polls in a plan: bounds the work
/// and memory of a build whatever the durations.
const MAX_CELLS: usize = 4096;
const MAX_POLLS: usize = 4096;

/// A job detected late is still detected within this many times the latency bound.
const MISSED_LATENCY_FACTOR: f64 = 4.0;

/// What a job detected late costs, in requests, when plans are compared: being late by
/// up to 4 times the bound is worth about 3 more polls at the bound. A skip that saves
/// less than that per job it makes late is not worth the budget.
const MISS_PRICE: f64 = 3.0;

/// Prices of a job detected late, in requests, that the builder tries: 0 spends the
/// budget as early as possible; higher prices keep it for stretches where skipping saves
/// more requests per job missed.
const PRICES: [f64; 8] = [0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0];

impl Plan {
    /// The first poll.
    pub(crate) fn first(&self) -> Option<f64> {
        self.times.first().copied()
    }

    /// The first planned poll after `elapsed`, if any.
    pub(crate) fn next_after(&self, elapsed: f64) -> Option<f64> {
        let i = self.times.partition_point(|&t| t <= elapsed);
        self.times.get(i).copied()
    }

    /// E[(now − D)⁺ | D > last] in seconds, by the model: how long a job pending at
    /// `last` has been finished at `now`, on average; `None` when the model gives no job
    /// a chance to be pending at `last`.
    pub(crate) fn expected_lateness(&self, last: f64, now: f64) -> Option<f64> {
        let base = self.cdf.f(last);
        let survival = 1.0 - base;
        if survival <= 1e-9 || now <= last {
            return if survival <= 1e-9 { None } else { Some(0.0) };
        }
        // The trapezoid rule on the grid (at most MAX_CELLS + 2 points).
        let step = self.cdf.step;
        let mut s = last;
        let mut total = 0.0;
        let mut prev = 0.0;
        while s < now {
            let next = ((s / step).floor() + 1.0) * step;
            let next = next.min(now);
            let value = ((self.cdf.f(next) - base) / survival).clamp(0.0, 1.0);
            total += (prev + value) / 2.0 * (next - s);
            prev = value;
            s = next;
        }
        Some(total)
    }

    fn build(kept: &[(f64, f64)], key: PlanKey) -> Plan {
        let cdf = Cdf::new(kept, key.latency);
        let mut best: Option<(f64, Vec<f64>)> = None;
        for price in PRICES {
            let (times, missed) = plan_with_price(&cdf, key, price);
            let cost = cdf.expected_requests(&times) + MISS_PRICE * missed;
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, times));
            }
        }
        Plan {
            times: best.map(|(_, t)| t).unwrap_or_default(),
            cdf,
        }
    }
}

/// The model's distribution of durations on a grid: `at[k]` is P(D ≤ k·step), each kept
/// interval spread evenly over itself (a point is a step).
#[derive(Debug)]
struct Cdf {
    step: f64,
    at: Vec<f64>,
}

impl Cdf {
    fn new(kept: &[(f64, f64)], latency: f64) -> Cdf {
        let horizon = kept
            .iter()
            .map(|&(_, hi)| hi)
            .fold(0.0_f64, f64::max)
            .max(1e-3);
        let step = (latency / 8.0)
            .max(horizon / (MAX_CELLS - 2) as f64)
            .max(1e-3);
        let cells = ((horizon / step).ceil() as usize + 2).min(MAX_CELLS + 2);
        // Mass added at each grid point (`jump`) and per cell along a ramp (`slope`,
        // as a second difference), then summed up.
        let mut jump = vec![0.0; cells + 1];
        let mut slope = vec![0.0; cells + 2];
        let weight = 1.0 / kept.len().max(1) as f64;
        for &(lo, hi) in kept {
            let (a, b) = (lo / step, hi / step);
            if b - a < 1e-9 {
                let k = (a.ceil() as usize).min(cells);
                jump[k] += weight;
                continue;
            }
            // The ramp from a to b rises by `weight`; value at grid point k is
            // weight·clamp((k − a)/(b − a), 0, 1).
            let per = weight / (b - a);
            let ka = (a.floor() as usize + 1).min(cells);
            let kb = (b.floor() as usize + 1).min(cells);
            // At ka the ramp is per·(ka − a); it then grows by `per` each point until kb,
            // where the rest of the weight is reached.
            if ka < kb {
                jump[ka] += per * (ka as f64 - a);
                slope[ka + 1] += per;
                slope[kb] -= per;
                // At kb: total must be `weight`; the ramp reached per·(kb − 1 − a).
                let reached = per * ((kb - 1) as f64 - a);
                jump[kb] += weight - reached;
            } else {
                jump[kb] += weight;
            }
        }
        let mut at = vec![0.0; cells + 1];
        let (mut level, mut rate) = (0.0, 0.0);
        for k in 0..=cells {
            rate += slope[k];
            level += jump[k] + rate;
            at[k] = level.min(1.0);
        }
        if let Some(last) = at.last_mut() {
            *last = 1.0;
        }
        Cdf { step, at }
    }

    /// P(D ≤ t), interpolated between grid points.
    fn f(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return self.at.first().copied().unwrap_or(0.0);
        }
        let x = t / self.step;
        let k = x.floor() as usize;
        match (self.at.get(k), self.at.get(k + 1)) {
            (Some(&a), Some(&b)) => a + (b - a) * (x - k as f64),
            _ => 1.0,
        }
    }

    /// The last grid point at or after `t` before P(D ≤ ·) rises above P(D ≤ t): no job
    /// finishes (by the model) between `t` and it.
    fn first_rise_after(&self, t: f64) -> f64 {
        let base = self.f(t) + 1e-12;
        let mut k = (t.max(0.0) / self.step).ceil() as usize;
        while self.at.get(k + 1).is_some_and(|&v| v <= base) {
            k += 1;
        }
        (k as f64 * self.step).max(t)
    }

    fn horizon(&self) -> f64 {
        (self.at.len().saturating_sub(1)) as f64 * self.step
    }

    /// Requests per job if polls come at `times` (and one more past the plan for the jobs
    /// it does not cover, which the model says are none).
    fn expected_requests(&self, times: &[f64]) -> f64 {
        // The first poll is always sent; each later one if the job was pending at the
        // one before.
        1.0 + times
            .iter()
            .take(times.len().saturating_sub(1))
            .map(|&t| 1.0 - self.f(t))
            .sum::<f64>()
    }
}

/// One plan: from each poll, skip the stretch that saves the most requests, counting a job
/// detected late as `price` requests, within what is left of the miss budget; then poll
/// `latency` after the stretch.
fn plan_with_price(cdf: &Cdf, key: PlanKey, price: f64) -> (Vec<f64>, f64) {
    let latency = key.latency.max(1e-3);
    let min_gap = key.min_gap.max(0.0);
    let max_gap = key.max_gap.max(latency).max(min_gap);
    let horizon = cdf.horizon();
    let step = cdf.step;
    let mut budget = DurationModel::MISS_BUDGET;
    let mut times = Vec::new();
    // The wait starts with the job pending: a virtual poll at 0, the first real one at
    // `start` or later, with no minimum gap.
    let mut t = 0.0_f64;
    let mut first = true;
    while times.len() < MAX_POLLS {
        let base = cdf.f(t);
        let survival = 1.0 - base;
        // The next poll if the stretch (t, t + h] is skipped.
        let next_for = |h: f64| {
            let gap = (h + latency)
                .max(if first { 0.0 } else { min_gap })
                .min(max_gap);
            if first {
                (t + gap).max(key.start)
            } else {
                t + gap
            }
        };
        // Jobs finishing in (t, next − latency] are detected late, none of them later than
        // MISSED_LATENCY_FACTOR × latency after it finished: the earliest a job may
        // finish after t (within a grid step) bounds the next poll.
        let missed = |next: f64| (cdf.f(next - latency) - base).max(0.0);
        let earliest = cdf.first_rise_after(t);
        let latest_next = earliest + MISSED_LATENCY_FACTOR * latency;
        let gain =
            |next: f64, m: f64| survival * (next - t - latency).max(0.0) / latency - price * m;
        let mut best = next_for(0.0);
        let mut best_gain = gain(best, missed(best));
        let mut h = step;
        while h + latency <= max_gap + 1e-9 {
            let next = next_for(h);
            let m = missed(next);
            if m > budget + 1e-12 || (m > 1e-12 && next > latest_next) {
                break;
            }
            let g = gain(next, m);
            if g >= best_gain {
                best_gain = g;
                best = next;
            }
            if t + h > horizon {
                break;
            }
            h += step;
        }
        budget = (budget - missed(best)).max(0.0);
        times.push(best);
        first = false;
        if best >= horizon || cdf.f(best) >= 1.0 - 1e-12 {
            break;
        }
        t = best;
    }
    (times, DurationModel::MISS_BUDGET - budget)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn key(latency: f64) -> PlanKey {
        PlanKey {
            latency,
            min_gap: 2.0,
            max_gap: 300.0,
            start: 0.0,
        }
    }

    #[test]
    fn the_grid_cdf_spreads_intervals_and_steps_at_points() {
        let cdf = Cdf::new(&[(0.0, 10.0), (20.0, 20.0)], 8.0);
        assert!((cdf.f(5.0) - 0.25).abs() < 1e-9, "{}", cdf.f(5.0));
        assert!((cdf.f(10.0) - 0.5).abs() < 1e-9);
        assert!((cdf.f(19.0) - 0.5).abs() < 1e-9);
        assert!((cdf.f(20.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_not_on_the_grid_is_exact_at_grid_points() {
        let cdf = Cdf::new(&[(0.3, 7.7)], 8.0);
        for t in [1.0, 2.0, 5.0, 7.0] {
            let want = (t - 0.3) / 7.4;
            assert!(
                (cdf.f(t) - want).abs() < 1e-9,
                "{t}: {} vs {want}",
                cdf.f(t)
            );
        }
        assert!((cdf.f(8.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_plan_skips_where_nothing_finishes_and_then_polls_every_latency() {
        // Durations spread evenly over 60..120 s.
        let kept: Vec<(f64, f64)> = (0..200)
            .map(|i| 60.0 + 0.3 * f64::from(i))
            .map(|d| (d, d))
            .collect();
        let plan = Plan::build(&kept, key(5.0));
        let first = plan.first().unwrap();
        assert!(first > 60.0 && first < 70.0, "{:?}", plan.times);
        for w in plan.times.windows(2) {
            assert!(w[1] - w[0] <= 5.0 + 1e-6, "{:?}", plan.times);
        }
        assert!(*plan.times.last().unwrap() >= 119.0);
    }

    #[test]
    fn the_model_forgets_beyond_its_capacity() {
        let m = DurationModel::with_capacity(64);
        for i in 0..10_000 {
            m.record(Duration::from_millis(i));
        }
        assert_eq!(m.len(), 64);
        assert_eq!(m.observed(), 10_000);
    }
}
