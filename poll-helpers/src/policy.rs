//! How often to poll and for how long: [`PollPolicy`].

use std::time::Duration;

use crate::learn::{DurationModel, PlanKey};

/// How a wait paces its polls and when it gives up.
///
/// The schedule: the first poll after [`initial_delay`](Self::initial_delay) (default: at
/// once); then backoff delays starting at [`min_delay`](Self::min_delay), growing by
/// [`multiplier`](Self::multiplier) up to [`max_delay`](Self::max_delay), each moved by up
/// to ±[`jitter`](Self::jitter) of itself and clamped back into `[min_delay, max_delay]`.
/// The only delays outside that range are, each on purpose:
/// - `initial_delay`, before the first poll;
/// - a server's `Retry-After` (at least 1 s), which wins over the schedule;
/// - the last poll, moved earlier so that it lands just before the deadline instead of
///   after it (1 s before, or a tenth of the deadline if that is less, so that its request
///   can complete);
/// - Omni's floor: the Omni adapters never poll a job more than once per second;
/// - the informed schedules below: up to [`progress_max_delay`](Self::progress_max_delay)
///   between polls, and a warm duration model may place the first poll later than
///   `initial_delay`.
///
/// The whole wait, sleeps and requests, ends at [`deadline`](Self::deadline); a request
/// in flight then is cut off.
///
/// Two informed schedules can replace the backoff delay while a job is pending (a
/// snapshot's [`poll_again_after`](crate::Snapshot::poll_again_after) still wins over
/// both, and the deadline and floor still apply):
/// - [`progress_aware`](Self::progress_aware) (on by default): when snapshots report a
///   growing [`progress`](crate::Snapshot::progress), the next poll goes near the finish
///   time it predicts;
/// - [`learn_durations`](Self::learn_durations) (off in the engine by default: it needs
///   one [`DurationModel`] per kind of job, and a learning policy's schedule changes as
///   it learns, which a seeded schedule must not; the Omni adapters attach their own
///   per-kind model to an unseeded policy, see
///   [`default_learning`](Self::default_learning)): once the model is warm, polls follow a
///   plan made from how long past jobs took, dense where jobs finish and sparse where
///   they rarely do, within [`max_detection_latency`](Self::max_detection_latency).
///
/// Both are placed without jitter (a job's own estimate already sets it apart from the
/// others), and both keep drawing the jitter of each attempt, so the backoff they fall
/// back to is the one the same seed gives without them.
///
/// Jitter comes from SplitMix64 seeded with [`seed`](Self::seed) mixed with the job id
/// (FNV-1a), so a seeded run is reproducible across crate versions, and pollers sharing a
/// seed but not a job id do not move in lockstep. Without a seed, each process picks one.
///
/// ```
/// use std::time::Duration;
/// use poll_helpers::PollPolicy;
///
/// let policy = PollPolicy::default()
///     .min_delay(Duration::from_secs(2))
///     .max_delay(Duration::from_secs(20))
///     .deadline(Duration::from_secs(600))
///     .seed(7);
/// assert!(policy.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    pub(crate) initial_delay: Duration,
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) multiplier: f64,
    pub(crate) jitter: f64,
    pub(crate) deadline: Duration,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) not_found_grace: Duration,
    pub(crate) seed: Option<u64>,
    pub(crate) progress_aware: bool,
    pub(crate) progress_max_delay: Duration,
    pub(crate) learn: Option<DurationModel>,
    pub(crate) max_detection_latency: Option<Duration>,
    pub(crate) default_learning: bool,
}

impl Default for PollPolicy {
    /// 0 s initial delay, 2 s → 30 s backoff ×1.5 with 20 % jitter, 15 min deadline, no
    /// attempt limit, 10 s grace for a job that is not visible yet; progress-aware
    /// placement on (up to 5 min between polls with a reliable finish estimate); no
    /// duration model.
    fn default() -> Self {
        Self {
            initial_delay: Duration::ZERO,
            min_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
            multiplier: 1.5,
            jitter: 0.2,
            deadline: Duration::from_secs(15 * 60),
            max_attempts: None,
            not_found_grace: Duration::from_secs(10),
            seed: None,
            progress_aware: true,
            progress_max_delay: Duration::from_secs(5 * 60),
            learn: None,
            max_detection_latency: None,
            default_learning: true,
        }
    }
}

/// Why a [`PollPolicy`] cannot be used. Reported as `PollError::InvalidPolicy` before any
/// request is sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `min_delay` is greater than `max_delay`.
    #[error("min_delay ({min:?}) is greater than max_delay ({max:?})")]
    MinAboveMax {
        /// The policy's `min_delay`.
        min: Duration,
        /// The policy's `max_delay`.
        max: Duration,
    },
    /// `multiplier` is below 1 (or not a number): delays would shrink.
    #[error("multiplier must be at least 1.0, got {0}")]
    Multiplier(f64),
    /// `jitter` is outside `0.0..=1.0` (or not a number).
    #[error("jitter must be within 0.0..=1.0, got {0}")]
    Jitter(f64),
    /// The deadline is zero: nothing could ever be polled.
    #[error("deadline must be greater than zero")]
    ZeroDeadline,
    /// `max_attempts` is zero: nothing could ever be polled.
    #[error("max_attempts must be at least 1")]
    ZeroAttempts,
    /// `initial_delay` is not before the deadline: the first poll would be sent when the
    /// wait is already over, so no answer could ever be seen.
    #[error(
        "initial_delay ({initial:?}) must be shorter than the deadline ({deadline:?}): \
         no poll could be answered before the wait ends"
    )]
    InitialDelayPastDeadline {
        /// The policy's `initial_delay`.
        initial: Duration,
        /// The policy's deadline.
        deadline: Duration,
    },
}

impl PollPolicy {
    /// Delay before the first poll (default 0: poll at once).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().initial_delay(std::time::Duration::from_secs(5));
    /// ```
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The first backoff delay and the smallest one (default 2 s).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().min_delay(std::time::Duration::from_secs(1));
    /// ```
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The largest backoff delay (default 30 s).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().max_delay(std::time::Duration::from_secs(60));
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Growth factor of successive delays, at least 1.0 (default 1.5).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().multiplier(2.0);
    /// ```
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Fraction by which each delay is randomly moved up or down, in `0.0..=1.0`
    /// (default 0.2).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().jitter(0.0); // no jitter
    /// ```
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// How long the whole wait may take, sleeps and requests (default 15 min).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().deadline(std::time::Duration::from_secs(3600));
    /// ```
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Gives up after this many requests (default: no limit but the deadline).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().max_attempts(10);
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// How long after the wait starts a 404 still means "not visible yet" rather than
    /// "no such job" (default 10 s): a job may not be readable right after it is created.
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().not_found_grace(std::time::Duration::ZERO);
    /// ```
    pub fn not_found_grace(mut self, grace: Duration) -> Self {
        self.not_found_grace = grace;
        self
    }

    /// Seeds the jitter, for reproducible schedules (mixed with the job id).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().seed(42);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Places polls by the job's reported progress (default: on). When snapshots report a
    /// [`progress`](crate::Snapshot::progress) fraction that grows, the rate from an
    /// early point to the latest one predicts the finish time, and the next poll goes
    /// just after it (a few tenths of a second, plus 0.5 % of the time left, to absorb
    /// rounding), within `[min_delay, max_delay]`. Once a prediction has come true (the
    /// next poll found the progress it predicted, within 2 points plus a tenth of the
    /// predicted growth), the estimate is *reliable* and a poll may wait up to
    /// [`progress_max_delay`](Self::progress_max_delay). Past the predicted finish with
    /// the job still pending, delays restart from `min_delay` and grow as the backoff
    /// does. Without progress, before it first grows, or for the rest of the wait once
    /// it goes backwards (or outside `0.0..=1.0`), the backoff schedule is used.
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default().progress_aware(false); // backoff only
    /// ```
    pub fn progress_aware(mut self, on: bool) -> Self {
        self.progress_aware = on;
        self
    }

    /// The longest delay an informed schedule may choose: a reliable progress estimate,
    /// or a warm [`DurationModel`] skipping a stretch where jobs rarely finish (default
    /// 5 min; never less than `max_delay`, and never past the deadline).
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default()
    ///     .progress_max_delay(std::time::Duration::from_secs(600));
    /// ```
    pub fn progress_max_delay(mut self, delay: Duration) -> Self {
        self.progress_max_delay = delay;
        self
    }

    /// Learns how long jobs take from the waits made with this policy and its clones, and
    /// once `model` is warm ([`DurationModel::WARM_UP`] waits recorded) polls by a plan
    /// made from it instead of the backoff: every
    /// [`max_detection_latency`](Self::max_detection_latency) where jobs finish, and
    /// skipping stretches where they rarely do (the first poll too, if jobs never finish
    /// that early), such that by the model at most [`DurationModel::MISS_BUDGET`] of
    /// waits see their job later than that bound after it finished, and none later than
    /// 4 times the bound. Gaps stay within
    /// `[min_delay, progress_max_delay]`; past the plan (a job slower than any the model
    /// keeps) the backoff takes over. A progress estimate, when there is one, wins over
    /// the plan.
    ///
    /// Each wait that succeeds records where its job finished (between the last poll that
    /// saw it pending and the one that saw it done, or the progress estimate in between).
    /// Use one model per kind of job.
    ///
    /// ```
    /// use std::time::Duration;
    /// use poll_helpers::{DurationModel, PollPolicy};
    ///
    /// let ai_jobs = DurationModel::new();
    /// let policy = PollPolicy::default()
    ///     .learn_durations(ai_jobs.clone())
    ///     .max_detection_latency(Duration::from_secs(5));
    /// # let _ = policy;
    /// ```
    pub fn learn_durations(mut self, model: DurationModel) -> Self {
        self.learn = Some(model);
        self
    }

    /// Whether an adapter may attach its own [`DurationModel`] when this policy has none
    /// (default: yes). The Omni adapters (`omni::wait_for_job`, `omni::wait_for_ai_job`)
    /// then learn per kind of job in one process-wide model that starts from a cold-start
    /// prior (`omni::duration_model`), unless the policy is
    /// seeded (a seeded schedule must not depend on what else the process waited for) or
    /// polls faster than once a second (the prior is in Omni's seconds-to-minutes range).
    /// `false` keeps the plain backoff.
    ///
    /// ```
    /// let reproducible = poll_helpers::omni::default_policy().default_learning(false);
    /// # let _ = reproducible;
    /// ```
    pub fn default_learning(mut self, on: bool) -> Self {
        self.default_learning = on;
        self
    }

    /// How long after a job finishes its wait may still be polling, for the plans of
    /// [`learn_durations`](Self::learn_durations) (default: `max_delay`). A bound for
    /// all but a few waits ([`DurationModel::MISS_BUDGET`] by the model, which are seen
    /// within 4 times the bound), not a hard one; raised to `min_delay` if below it.
    ///
    /// ```
    /// let p = poll_helpers::PollPolicy::default()
    ///     .max_detection_latency(std::time::Duration::from_secs(5));
    /// ```
    pub fn max_detection_latency(mut self, latency: Duration) -> Self {
        self.max_detection_latency = Some(latency);
        self
    }

    /// The deadline of the whole wait.
    ///
    /// ```
    /// assert_eq!(poll_helpers::PollPolicy::default().get_deadline().as_secs(), 900);
    /// ```
    pub fn get_deadline(&self) -> Duration {
        self.deadline
    }

    /// Checks the policy; a poller does this before its first request.
    ///
    /// Any `Duration` is accepted where it makes sense, up to `Duration::MAX` (a deadline
    /// of `Duration::MAX` is no deadline; delays that large saturate instead of
    /// overflowing). Refused: `min_delay` above `max_delay`, a `multiplier` below 1 or not
    /// finite, a `jitter` outside `0.0..=1.0`, a zero deadline, zero `max_attempts`, and
    /// an `initial_delay` that is not before the deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// let bad = poll_helpers::PollPolicy::default()
    ///     .min_delay(Duration::from_secs(10))
    ///     .max_delay(Duration::from_secs(1));
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.min_delay > self.max_delay {
            return Err(PolicyError::MinAboveMax {
                min: self.min_delay,
                max: self.max_delay,
            });
        }
        // Written so that NaN fails too.
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(PolicyError::Multiplier(self.multiplier));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(PolicyError::Jitter(self.jitter));
        }
        if self.deadline.is_zero() {
            return Err(PolicyError::ZeroDeadline);
        }
        if self.max_attempts == Some(0) {
            return Err(PolicyError::ZeroAttempts);
        }
        if self.initial_delay >= self.deadline {
            return Err(PolicyError::InitialDelayPastDeadline {
                initial: self.initial_delay,
                deadline: self.deadline,
            });
        }
        Ok(())
    }

    /// The longest delay of an informed schedule.
    pub(crate) fn informed_max_delay(&self) -> Duration {
        self.progress_max_delay.max(self.max_delay)
    }

    /// What a duration model's plan depends on.
    pub(crate) fn plan_key(&self) -> PlanKey {
        let latency = self
            .max_detection_latency
            .unwrap_or(self.max_delay)
            .max(self.min_delay);
        PlanKey {
            latency: latency.as_secs_f64(),
            min_gap: self.min_delay.as_secs_f64(),
            max_gap: self.informed_max_delay().max(latency).as_secs_f64(),
            start: self.initial_delay.min(self.deadline).as_secs_f64(),
        }
    }

    /// The backoff delay after poll number `attempt` (1-based) given a uniform draw
    /// `u` in `[0, 1)`: `min_delay × multiplier^(attempt-1)`, capped at `max_delay`, moved
    /// by `jitter × (2u − 1)` of itself, clamped into `[min_delay, max_delay]`. Delays
    /// near `Duration::MAX` saturate (the seconds of `Duration::MAX` round up past it as
    /// an `f64`), never panic.
    pub(crate) fn backoff(&self, attempt: u32, u: f64) -> Duration {
        let min = self.min_delay.as_secs_f64();
        let max = self.max_delay.as_secs_f64();
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let base = (min * self.multiplier.powi(exponent)).min(max);
        let jittered = base * (1.0 + self.jitter * (2.0 * u - 1.0));
        let secs = if jittered.is_finite() {
            jittered.clamp(min, max)
        } else {
            max
        };
        // Back into [min_delay, max_delay] exactly: the f64 round trip may leave it.
        crate::poller::secs(secs)
            .min(self.max_delay)
            .max(self.min_delay.min(self.max_delay))
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny PRNG whose output for a seed is fixed
/// forever, which is what makes seeded schedules reproducible across versions.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds with `seed` mixed with the FNV-1a hash of `job`.
    pub(crate) fn new(seed: u64, job: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in job.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self(seed ^ h)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A per-process random seed for unseeded policies (std's `RandomState` is randomly keyed).
pub(crate) fn process_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference values for seed 1234567 (from the published C implementation).
        let mut r = SplitMix64(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        assert_eq!(r.next_u64(), 9817491932198370423);
    }

    #[test]
    fn backoff_grows_then_caps() {
        let p = PollPolicy::default().jitter(0.0);
        let d: Vec<f64> = (1..=10).map(|n| p.backoff(n, 0.5).as_secs_f64()).collect();
        assert!(
            (d[0] - 2.0).abs() < 1e-9 && (d[1] - 3.0).abs() < 1e-9,
            "{d:?}"
        );
        assert!((d[9] - 30.0).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn each_invalid_policy_is_named() {
        let p = PollPolicy::default();
        let s = Duration::from_secs;
        assert!(matches!(
            p.clone().min_delay(s(5)).max_delay(s(1)).validate(),
            Err(PolicyError::MinAboveMax { .. })
        ));
        assert_eq!(
            p.clone().multiplier(0.5).validate(),
            Err(PolicyError::Multiplier(0.5))
        );
        assert!(matches!(
            p.clone().multiplier(f64::NAN).validate(),
            Err(PolicyError::Multiplier(_))
        ));
        assert_eq!(
            p.clone().jitter(1.5).validate(),
            Err(PolicyError::Jitter(1.5))
        );
        assert!(matches!(
            p.clone().jitter(f64::NAN).validate(),
            Err(PolicyError::Jitter(_))
        ));
        assert_eq!(
            p.clone().jitter(-0.1).validate(),
            Err(PolicyError::Jitter(-0.1))
        );
        assert_eq!(
            p.clone().deadline(Duration::ZERO).validate(),
            Err(PolicyError::ZeroDeadline)
        );
        assert_eq!(
            p.clone().max_attempts(0).validate(),
            Err(PolicyError::ZeroAttempts)
        );
        assert_eq!(
            p.clone().initial_delay(s(900)).validate(),
            Err(PolicyError::InitialDelayPastDeadline {
                initial: s(900),
                deadline: s(900)
            })
        );
        assert!(p.validate().is_ok());
    }
}
