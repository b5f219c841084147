//! Extreme durations through the public API: any `Duration` a caller can pass to a
//! [`PollPolicy`] or a [`DurationModel`] either is refused by `validate()` or gives a wait
//! that ends sensibly; nothing panics. On tokio's virtual clock, with a scripted fetch.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use poll_helpers::{
    DurationModel, FetchError, Phase, PolicyError, PollError, PollPolicy, Poller, RateBudget,
    Snapshot,
};
use proptest::prelude::*;
use tokio::time::Instant;

/// A job that is pending for `pending` polls (reporting `progress` if given, growing),
/// then done.
#[derive(Clone, Debug)]
struct Job {
    n: u32,
    pending: u32,
    progress: bool,
}

impl Snapshot for Job {
    fn phase(&self) -> Phase {
        if self.n > self.pending {
            Phase::Succeeded
        } else {
            Phase::Pending
        }
    }
    fn progress(&self) -> Option<f64> {
        self.progress
            .then(|| f64::from(self.n) / f64::from(self.pending + 1))
    }
}

/// How a wait went: its outcome, the `next_delay` of each event, when each poll was sent.
type Ran = (
    Result<(), PollError<Job>>,
    Vec<Option<Duration>>,
    Vec<Duration>,
);

/// Runs one wait for a job pending for `pending` polls on a paused clock.
fn run(policy: PollPolicy, pending: u32, progress: bool) -> Ran {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let t0 = Instant::now();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&sent);
        let mut n = 0;
        let mut stream = Poller::new(policy, move || {
            n += 1;
            log.lock().unwrap().push(Instant::now() - t0);
            let job = Job {
                n,
                pending,
                progress,
            };
            async move { Ok::<_, FetchError>(job) }
        })
        .job_id("extreme")
        .into_stream();
        let mut delays = Vec::new();
        let mut outcome = Ok(());
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => delays.push(event.next_delay),
                Err(e) => outcome = Err(e),
            }
        }
        let sent = sent.lock().unwrap().clone();
        (outcome, delays, sent)
    })
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::MAX),
        Just(Duration::MAX - Duration::from_nanos(1)),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::from_secs(u64::MAX / 2)),
        (0u64..120_000).prop_map(Duration::from_millis),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn policy() -> impl Strategy<Value = PollPolicy> {
    (
        (duration(), duration(), duration(), duration()),
        (duration(), duration(), duration()),
        prop_oneof![Just(1.0), Just(1.5), Just(1e300), 1.0f64..100.0],
        0.0f64..=1.0,
        any::<bool>(),
    )
        .prop_map(
            |((min, max, initial, deadline), (progress_max, latency, grace), m, jitter, aware)| {
                PollPolicy::default()
                    .min_delay(min)
                    .max_delay(max)
                    .initial_delay(initial)
                    .deadline(deadline)
                    .progress_max_delay(progress_max)
                    .max_detection_latency(latency)
                    .not_found_grace(grace)
                    .multiplier(m)
                    .jitter(jitter)
                    .progress_aware(aware)
                    .seed(7)
            },
        )
}

/// What every wait must satisfy, whatever its policy: refused before any poll when
/// `validate()` refuses it, else it ends with the job done or at the deadline, polls at
/// most once per answer, and never schedules a poll past its deadline.
fn check(policy: &PollPolicy, pending: u32, progress: bool) -> Result<(), TestCaseError> {
    let valid = policy.validate();
    let (outcome, delays, sent) = run(policy.clone(), pending, progress);
    match valid {
        Err(e) => {
            prop_assert!(
                matches!(&outcome, Err(PollError::InvalidPolicy(got)) if *got == e),
                "{outcome:?}"
            );
            prop_assert!(sent.is_empty());
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(()) => {
            match &outcome {
                Ok(()) => prop_assert_eq!(sent.len(), pending as usize + 1),
                Err(PollError::DeadlineExceeded { attempts, .. }) => {
                    prop_assert!((*attempts as usize) <= pending as usize + 1);
                }
                other => prop_assert!(false, "unexpected ending {other:?}"),
            }
            prop_assert!(sent.len() <= pending as usize + 1);
            let deadline = policy.get_deadline();
            for d in delays.iter().flatten() {
                prop_assert!(*d <= deadline, "{d:?} past the deadline {deadline:?}");
            }
            // tokio's timer rounds a sleep up to its next millisecond: a poll scheduled
            // within a deadline of a few nanoseconds may be sent up to 1 ms after it.
            let late = deadline.saturating_add(Duration::from_millis(1));
            for at in &sent {
                prop_assert!(*at <= late, "poll at {at:?}, deadline {deadline:?}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_policy_is_refused_or_waits_without_panicking(
        policy in policy(),
        pending in 0u32..4,
        progress in any::<bool>(),
    ) {
        check(&policy, pending, progress)?;
    }

    #[test]
    fn quantiles_of_any_durations_stay_within_them(
        kept in proptest::collection::vec((duration(), duration()), 1..40),
        q in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1.0), 0.0f64..=1.0],
    ) {
        let model = DurationModel::new();
        for &(a, b) in &kept {
            model.record_between(a, b);
        }
        let got = model.quantile(q).unwrap().as_secs_f64();
        let lo = kept.iter().map(|&(a, b)| a.min(b)).min().unwrap().as_secs_f64();
        let hi = kept.iter().map(|&(a, b)| a.max(b)).max().unwrap().as_secs_f64();
        let slack = 1e-9 * hi.max(1.0);
        prop_assert!(got >= lo - slack && got <= hi + slack, "{got} not in [{lo}, {hi}]");
    }
}

proptest! {
    // A warm model builds a plan for each wait: fewer, slower cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_warm_model_of_any_durations_plans_without_panicking(
        policy in policy(),
        kept in proptest::collection::vec(duration(), DurationModel::WARM_UP..DurationModel::WARM_UP + 4),
        pending in 0u32..3,
    ) {
        let model = DurationModel::new();
        for &d in &kept {
            model.record(d);
        }
        prop_assert!(model.is_warm());
        check(&policy.learn_durations(model), pending, false)?;
    }
}

#[test]
fn delays_of_duration_max_pull_the_last_poll_in_before_the_deadline() {
    // Panicked in Duration::from_secs_f64 (policy.rs) before.
    let deadline = Duration::from_secs(600);
    let policy = PollPolicy::default()
        .min_delay(Duration::MAX)
        .max_delay(Duration::MAX)
        .deadline(deadline);
    let (outcome, delays, sent) = run(policy, 1, false);
    assert!(outcome.is_ok(), "{outcome:?}");
    // The first poll at once; the second, instead of Duration::MAX later, just before the
    // deadline (1 s before it).
    assert_eq!(sent, [Duration::ZERO, Duration::from_secs(599)]);
    assert_eq!(delays, [Some(Duration::from_secs(599)), None]);
}

#[test]
fn a_deadline_of_duration_max_is_no_deadline() {
    let policy = PollPolicy::default()
        .min_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(1))
        .jitter(0.0)
        .deadline(Duration::MAX);
    let (outcome, _, sent) = run(policy, 2, false);
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        sent,
        [
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(2)
        ]
    );
}

#[test]
fn the_quantile_of_duration_max_is_duration_max() {
    // Panicked in Duration::from_secs_f64 (learn.rs) before: Duration::MAX's seconds round
    // up past it as an f64.
    let model = DurationModel::new();
    model.record(Duration::MAX);
    assert_eq!(model.quantile(0.5), Some(Duration::MAX));
    model.record(Duration::from_secs(1));
    assert_eq!(model.quantile(0.0), Some(Duration::from_secs(1)));
    assert_eq!(model.quantile(1.0), Some(Duration::MAX));
}

#[test]
fn an_initial_delay_past_the_deadline_is_refused_with_both_named() {
    let policy = PollPolicy::default()
        .deadline(Duration::from_secs(60))
        .initial_delay(Duration::MAX);
    let e = policy.validate().unwrap_err();
    assert_eq!(
        e,
        PolicyError::InitialDelayPastDeadline {
            initial: Duration::MAX,
            deadline: Duration::from_secs(60),
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("initial_delay") && text.contains("60s"),
        "{text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_rate_budget_of_any_window_admits_without_panicking(
        limit in prop_oneof![Just(0u32), Just(1), Just(u32::MAX), any::<u32>()],
        per in duration(),
    ) {
        // Panicked in governor (a window over 584 years) before.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async move {
            let budget = RateBudget::new(limit, per);
            prop_assert!(budget.limit() >= 1);
            prop_assert!(budget.per() >= Duration::from_millis(1));
            // A fresh budget admits its first request at once.
            let t0 = Instant::now();
            budget.acquire().await;
            prop_assert_eq!(Instant::now(), t0);
            // Later ones within the window, or later: never a panic.
            let _ = tokio::time::timeout(Duration::from_secs(3600), budget.acquire()).await;
            budget.cool_down(per);
            let _ = tokio::time::timeout(Duration::from_secs(1), budget.acquire()).await;
            Ok(())
        })?;
    }
}
