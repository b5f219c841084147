//! Learned durations by default: one process-wide [`DurationModel`] per kind of Omni job,
//! starting from a cold-start prior.

use std::sync::OnceLock;
use std::time::Duration;

use crate::learn::DurationModel;
use crate::policy::PollPolicy;

/// The kinds of Omni job the adapters learn durations for, each in its own model.
///
/// ```
/// use poll_helpers::omni::{JobKind, duration_model};
/// assert_ne!(duration_model(JobKind::SchemaRefresh), duration_model(JobKind::Ai));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobKind {
    /// Schema refreshes ([`wait_for_job`](crate::omni::wait_for_job)).
    SchemaRefresh,
    /// AI jobs ([`wait_for_ai_job`](crate::omni::wait_for_ai_job)).
    Ai,
}

/// How many durations the prior holds: a few more than the warm-up, so that it shapes
/// the first plans and is pushed out after a few hundred real waits.
const PRIOR_POINTS: u32 = 32;
/// The prior's range: Omni documents no durations; a job may finish within a second and
/// may take up to the default deadline (15 min).
const PRIOR_RANGE_SECS: (f64, f64) = (1.0, 900.0);

/// The cold-start prior: durations spread log-uniformly over 1 s – 15 min (as many
/// short jobs between 1 and 10 s as between 1 and 10 min). Broad on purpose: it knows
/// nothing of a given account's jobs, only Omni's time scale.
///
/// ```
/// let prior = poll_helpers::omni::prior();
/// assert!(prior.first() < prior.last());
/// ```
pub fn prior() -> Vec<Duration> {
    let (lo, hi) = PRIOR_RANGE_SECS;
    (0..PRIOR_POINTS)
        .map(|i| {
            let q = (f64::from(i) + 0.5) / f64::from(PRIOR_POINTS);
            Duration::from_secs_f64(lo * (hi / lo).powf(q))
        })
        .collect()
}

/// The process-wide duration model of `kind`, which the Omni adapters attach to a
/// policy that has none (see [`PollPolicy::default_learning`]). It starts from
/// [`prior`] and learns from every wait of that kind in this process.
///
/// ```
/// use poll_helpers::omni::{JobKind, duration_model};
/// let model = duration_model(JobKind::SchemaRefresh);
/// assert!(model.is_warm()); // from the prior
/// assert_eq!(model, duration_model(JobKind::SchemaRefresh)); // one per kind
/// ```
pub fn duration_model(kind: JobKind) -> DurationModel {
    static REFRESH: OnceLock<DurationModel> = OnceLock::new();
    static AI: OnceLock<DurationModel> = OnceLock::new();
    let cell = match kind {
        JobKind::SchemaRefresh => &REFRESH,
        JobKind::Ai => &AI,
    };
    cell.get_or_init(|| DurationModel::with_prior(prior()))
        .clone()
}

/// `policy` with the process-wide model of `kind` attached, when it has none, allows
/// default learning, is not seeded and polls on Omni's time scale.
pub(crate) fn with_default_learning(policy: &PollPolicy, kind: JobKind) -> PollPolicy {
    let applies = policy.learn.is_none()
        && policy.default_learning
        && policy.seed.is_none()
        && policy.max_delay >= Duration::from_secs(1);
    if applies {
        policy.clone().learn_durations(duration_model(kind))
    } else {
        policy.clone()
    }
}
