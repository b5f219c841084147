//! The poll loop's schedule, on tokio's virtual clock (`start_paused`): no sockets, no
//! real sleeping. Every fetch records `Instant::now()` when it is called, so each test
//! asserts the schedule actually followed, not only what the events claim.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use poll_helpers::{
    FetchError, FetchErrorKind, Phase, PolicyError, PollError, PollEvent, PollPolicy, Poller,
    RateBudget, Snapshot,
};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------
// A fake job and a scripted fetch
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Snap {
    Pending,
    Done,
    Failed(String),
}

impl Snapshot for Snap {
    fn phase(&self) -> Phase {
        match self {
            Snap::Pending => Phase::Pending,
            Snap::Done => Phase::Succeeded,
            Snap::Failed(reason) => Phase::Failed(reason.clone()),
        }
    }
}

/// What the n-th fetch does.
#[derive(Clone, Debug)]
enum Step {
    Ok(Snap),
    Err(FetchError),
    /// A request that never answers.
    Hang,
}

use Step::Hang;

fn pending() -> Step {
    Step::Ok(Snap::Pending)
}

fn done() -> Step {
    Step::Ok(Snap::Done)
}

fn status(code: u16) -> Step {
    Step::Err(FetchError::from_status(code, format!("server said {code}")))
}

fn status_retry_after(code: u16, retry_after: Duration) -> Step {
    Step::Err(
        FetchError::from_status(code, format!("server said {code}"))
            .with_retry_after(Some(retry_after)),
    )
}

/// The instants at which a fetch was called.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Instant>>>);

impl Calls {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Call times relative to `t0`.
    fn offsets(&self, t0: Instant) -> Vec<Duration> {
        self.0.lock().unwrap().iter().map(|t| *t - t0).collect()
    }

    /// Time between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        let times = self.0.lock().unwrap();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

type Fetch = BoxFuture<'static, Result<Snap, FetchError>>;

/// A fetch closure playing `script` (call n gets `script[n-1]`; the last step repeats) and
/// recording each call's instant in `calls`.
fn scripted(calls: &Calls, script: Vec<Step>) -> impl FnMut() -> Fetch + Send + 'static {
    assert!(!script.is_empty());
    let calls = calls.clone();
    move || {
        let n = {
            let mut times = calls.0.lock().unwrap();
            times.push(Instant::now());
            times.len()
        };
        let step = script
            .get(n - 1)
            .unwrap_or(&script[script.len() - 1])
            .clone();
        Box::pin(async move {
            match step {
                Step::Ok(snap) => Ok(snap),
                Step::Err(e) => Err(e),
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A policy without jitter: `min`, then ×`multiplier`, capped at `max`.
fn steady(min: Duration, max: Duration, multiplier: f64) -> PollPolicy {
    PollPolicy::default()
        .min_delay(min)
        .max_delay(max)
        .multiplier(multiplier)
        .jitter(0.0)
}

/// Drains a stream, returning its events and its error (if it ended with one). Panics if
/// anything follows the error.
async fn drain<S>(mut stream: S) -> (Vec<PollEvent<Snap>>, Option<PollError<Snap>>)
where
    S: futures_util::Stream<Item = Result<PollEvent<Snap>, PollError<Snap>>> + Unpin,
{
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(e) => {
                assert!(
                    stream.next().await.is_none(),
                    "the stream must end after its error"
                );
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

// ---------------------------------------------------------------------------------------
// 1. The backoff sequence
// ---------------------------------------------------------------------------------------

/// The `next_delay` of every event, and the gaps between the fetch calls actually made.
async fn schedule_of(policy: PollPolicy, job: &str) -> (Vec<Duration>, Vec<Duration>) {
    let calls = Calls::default();
    let stream = Poller::new(policy, scripted(&calls, vec![pending()]))
        .job_id(job)
        .into_stream();
    let (events, error) = drain(stream).await;
    assert!(
        matches!(error, Some(PollError::AttemptsExhausted { .. })),
        "{error:?}"
    );
    let delays: Vec<Duration> = events.iter().filter_map(|e| e.next_delay).collect();
    let gaps = calls.gaps();
    assert_eq!(delays.len(), gaps.len());
    // The clock wakes on whole milliseconds: a gap is its delay rounded up to one.
    for (delay, gap) in delays.iter().zip(&gaps) {
        assert!(
            *gap >= *delay && *gap - *delay < ms(1),
            "announced {delay:?}, slept {gap:?}"
        );
    }
    (delays, gaps)
}

#[tokio::test(start_paused = true)]
async fn without_jitter_delays_go_min_then_times_multiplier_up_to_max() {
    let policy = steady(secs(1), secs(30), 2.0).max_attempts(8);
    let (delays, gaps) = schedule_of(policy, "job-a").await;
    let expected: Vec<Duration> = [1, 2, 4, 8, 16, 30, 30].map(secs).to_vec();
    assert_eq!(delays, expected);
    assert_eq!(gaps, expected);
}

#[tokio::test(start_paused = true)]
async fn a_seeded_schedule_is_reproducible_and_depends_on_the_job_id() {
    let policy = PollPolicy::default()
        .min_delay(secs(1))
        .max_delay(secs(30))
        .multiplier(2.0)
        .jitter(0.5)
        .seed(42)
        .max_attempts(12);

    let (first, first_gaps) = schedule_of(policy.clone(), "job-a").await;
    let (again, again_gaps) = schedule_of(policy.clone(), "job-a").await;
    assert_eq!(first, again, "same seed and job id: same delays");
    assert_eq!(
        first_gaps, again_gaps,
        "same seed and job id: same schedule"
    );

    let (other_job, _) = schedule_of(policy.clone(), "job-b").await;
    assert_ne!(first, other_job, "another job id must not move in lockstep");
    let (other_seed, _) = schedule_of(policy.seed(43), "job-a").await;
    assert_ne!(first, other_seed, "another seed gives another schedule");

    // Each delay is the growing base moved by at most ±50 %, clamped into [min, max].
    for (i, delay) in first.iter().enumerate() {
        let base = (2f64.powi(i32::try_from(i).unwrap())).min(30.0);
        let (lo, hi) = ((base * 0.5).max(1.0), (base * 1.5).min(30.0));
        let d = delay.as_secs_f64();
        assert!(
            d >= lo - 1e-9 && d <= hi + 1e-9,
            "delay #{i} = {d} s outside [{lo}, {hi}]"
        );
    }
    // Jitter does move the delays off the un-jittered sequence.
    let unjittered: Vec<Duration> = (0..first.len())
        .map(|i| Duration::from_secs_f64(2f64.powi(i32::try_from(i).unwrap()).min(30.0)))
        .collect();
    assert_ne!(first, unjittered);
}

/// The documented generator: SplitMix64 seeded with `seed` XOR FNV-1a(job id), one
/// uniform draw per backoff, `base × (1 + jitter × (2u − 1))` clamped into [min, max].
/// The docs promise seeded schedules are reproducible across crate versions: this pins
/// them.
fn reference_delays(
    seed: u64,
    job: &str,
    min: f64,
    max: f64,
    multiplier: f64,
    jitter: f64,
    n: usize,
) -> Vec<Duration> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut state = seed ^ h;
    let mut next_f64 = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let base = (min * multiplier.powi(i32::try_from(i).unwrap())).min(max);
            let u = next_f64();
            Duration::from_secs_f64((base * (1.0 + jitter * (2.0 * u - 1.0))).clamp(min, max))
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_seeded_schedule_matches_splitmix64_mixed_with_fnv1a_of_the_job_id() {
    let job = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf";
    let policy = PollPolicy::default()
        .min_delay(secs(2))
        .max_delay(secs(30))
        .multiplier(1.5)
        .jitter(0.2)
        .seed(7)
        .max_attempts(16);
    let (delays, _) = schedule_of(policy, job).await;
    assert_eq!(delays, reference_delays(7, job, 2.0, 30.0, 1.5, 0.2, 15));
}

// ---------------------------------------------------------------------------------------
// 2. Jitter bounds
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn ten_thousand_jittered_delays_all_stay_within_min_and_max() {
    let (min, max) = (secs(1), secs(30));
    let policy = PollPolicy::default()
        .min_delay(min)
        .max_delay(max)
        .jitter(1.0)
        .seed(2024)
        .deadline(secs(10_000_000))
        .max_attempts(10_001);
    let calls = Calls::default();
    let stream = Poller::new(policy, scripted(&calls, vec![pending()]))
        .job_id("jitter")
        .into_stream();
    let (events, error) = drain(stream).await;
    assert!(
        matches!(
            error,
            Some(PollError::AttemptsExhausted {
                attempts: 10_001,
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(calls.count(), 10_001);
    let delays: Vec<Duration> = events.iter().filter_map(|e| e.next_delay).collect();
    assert_eq!(delays.len(), 10_000);
    let outside: Vec<&Duration> = delays.iter().filter(|d| **d < min || **d > max).collect();
    assert!(
        outside.is_empty(),
        "delays outside [1 s, 30 s]: {outside:?}"
    );
    // With ±100 % jitter some draws fall below min and some above max (clamped), and most
    // land in between: the draws are really spread.
    let at_min = delays.iter().filter(|d| **d == min).count();
    let at_max = delays.iter().filter(|d| **d == max).count();
    let inside = delays.len() - at_min - at_max;
    assert!(
        at_min > 0 && at_max > 0 && inside > 1000,
        "{at_min} at min, {at_max} at max, {inside} inside"
    );
    // The sleeps follow the announced delays.
    for (delay, gap) in delays.iter().zip(calls.gaps()) {
        assert!(
            gap >= *delay && gap - *delay < ms(1),
            "{delay:?} vs {gap:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. The first poll
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_first_poll_is_at_once_by_default() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let job = Poller::new(PollPolicy::default(), scripted(&calls, vec![done()])).await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), vec![Duration::ZERO]);
    assert_eq!(Instant::now() - t0, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn initial_delay_postpones_the_first_poll() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let policy = PollPolicy::default().initial_delay(secs(5));
    let stream = Poller::new(policy, scripted(&calls, vec![done()])).into_stream();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(calls.offsets(t0), vec![secs(5)]);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].elapsed,
        secs(5),
        "elapsed counts the initial delay"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_is_sent_and_the_clock_does_not_start_before_the_first_poll() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let policy = PollPolicy::default().deadline(secs(10));
    let poller = Poller::new(policy.clone(), scripted(&calls, vec![done()]));
    let mut stream = Poller::new(policy, scripted(&calls, vec![done()])).into_stream();
    tokio::time::sleep(secs(60)).await;
    assert_eq!(calls.count(), 0, "pollers are lazy");

    // Created 60 s ago with a 10 s deadline: the deadline counts from the first poll.
    let event = stream.next().await.unwrap().unwrap();
    assert_eq!(event.elapsed, Duration::ZERO);
    assert_eq!(event.outcome.unwrap(), Snap::Done);
    assert_eq!(poller.await.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), vec![secs(60), secs(60)]);
}

// ---------------------------------------------------------------------------------------
// 4. The deadline
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_last_poll_is_pulled_in_before_the_deadline_and_the_wait_ends_by_it() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let deadline = secs(10);
    let policy = steady(secs(2), secs(2), 1.0).deadline(deadline);
    let result = Poller::new(policy, scripted(&calls, vec![pending()]))
        .job_id("slow")
        .await;
    let ended = Instant::now() - t0;

    let offsets = calls.offsets(t0);
    // Every 2 s, and the one due at 10 s moved earlier instead of landing on/after it.
    assert_eq!(&offsets[..5], &[0, 2, 4, 6, 8].map(secs));
    assert_eq!(offsets.len(), 6, "{offsets:?}");
    let last = offsets[5];
    assert!(
        last > secs(8) && last < deadline,
        "last poll at {last:?}: not pulled in before the {deadline:?} deadline"
    );
    assert!(ended <= deadline, "ended at {ended:?}");

    match result {
        Err(PollError::DeadlineExceeded {
            job,
            attempts,
            elapsed,
            last,
            last_error,
            reason,
        }) => {
            assert_eq!(job, "slow");
            assert_eq!(attempts, 6);
            assert!(elapsed <= deadline, "{elapsed:?}");
            assert_eq!(elapsed, ended);
            assert_eq!(last, Some(Snap::Pending));
            assert!(last_error.is_none(), "{last_error:?}");
            assert!(reason.contains("deadline"), "{reason}");
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn no_poll_lands_after_the_deadline_or_inside_the_floor_whatever_the_shape() {
    for deadline_ms in [1_500, 3_000, 5_000, 7_500, 10_000, 13_000] {
        for floor_ms in [0, 500, 1_000, 1_500, 2_500] {
            for min_s in [1, 2, 3] {
                let deadline = ms(deadline_ms);
                let floor = ms(floor_ms);
                let calls = Calls::default();
                let t0 = Instant::now();
                let policy = PollPolicy::default()
                    .min_delay(secs(min_s))
                    .max_delay(secs(4))
                    .jitter(0.3)
                    .seed(deadline_ms ^ floor_ms)
                    .deadline(deadline);
                let result = Poller::new(policy, scripted(&calls, vec![pending()]))
                    .min_interval(floor)
                    .await;
                let shape = format!("deadline {deadline:?}, floor {floor:?}, min {min_s} s");
                assert!(
                    matches!(result, Err(PollError::DeadlineExceeded { .. })),
                    "{shape}: {result:?}"
                );
                assert!(Instant::now() - t0 <= deadline, "{shape}: ended late");
                let offsets = calls.offsets(t0);
                assert!(
                    offsets.iter().all(|t| *t < deadline),
                    "{shape}: polled at {offsets:?}"
                );
                assert!(
                    calls.gaps().iter().all(|g| *g >= floor),
                    "{shape}: gaps {:?} below the floor",
                    calls.gaps()
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_still_in_flight_at_the_deadline_is_cut_off() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let deadline = secs(10);
    let policy = steady(secs(1), secs(1), 1.0).deadline(deadline);
    let result = Poller::new(policy, scripted(&calls, vec![pending(), pending(), Hang])).await;

    assert_eq!(Instant::now() - t0, deadline, "cut exactly at the deadline");
    assert_eq!(calls.offsets(t0), vec![secs(0), secs(1), secs(2)]);
    match result {
        Err(PollError::DeadlineExceeded {
            attempts,
            elapsed,
            last,
            last_error,
            ..
        }) => {
            assert_eq!(attempts, 3);
            assert_eq!(elapsed, deadline);
            assert_eq!(last, Some(Snap::Pending));
            let e = last_error.expect("the cut-off request is the last error");
            assert_eq!(e.kind, FetchErrorKind::Transient);
            assert!(e.message.contains("cut off"), "{}", e.message);
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_first_request_that_never_answers_ends_at_the_deadline() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let policy = PollPolicy::default().deadline(secs(30));
    let result = Poller::new(policy, scripted(&calls, vec![Hang])).await;
    assert_eq!(Instant::now() - t0, secs(30));
    assert_eq!(calls.count(), 1);
    assert!(
        matches!(
            result,
            Err(PollError::DeadlineExceeded {
                attempts: 1,
                last: None,
                last_error: Some(_),
                ..
            })
        ),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Retry-After
// ---------------------------------------------------------------------------------------

/// A fast policy (100–200 ms) that a `Retry-After` must override.
fn fast() -> PollPolicy {
    steady(ms(100), ms(200), 2.0)
}

#[tokio::test(start_paused = true)]
async fn retry_after_sets_the_next_poll_even_above_the_schedule() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let stream = Poller::new(
        fast(),
        scripted(&calls, vec![status_retry_after(429, secs(3)), done()]),
    )
    .into_stream();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(calls.offsets(t0), vec![secs(0), secs(3)]);
    assert_eq!(events[0].next_delay, Some(secs(3)));
    assert_eq!(events[0].outcome.as_ref().unwrap_err().status, Some(429));
    assert_eq!(events[1].next_delay, None);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_below_one_second_is_raised_to_one_second() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let stream = Poller::new(
        fast(),
        scripted(&calls, vec![status_retry_after(503, ms(200)), done()]),
    )
    .into_stream();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(calls.offsets(t0), vec![secs(0), secs(1)]);
    assert_eq!(events[0].next_delay, Some(secs(1)));

    // Zero too.
    let calls = Calls::default();
    let t0 = Instant::now();
    let job = Poller::new(
        fast(),
        scripted(
            &calls,
            vec![status_retry_after(429, Duration::ZERO), done()],
        ),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), vec![secs(0), secs(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_inside_the_last_margin_is_honoured_when_it_fits() {
    // 4.8 s of 5 s: inside the last-poll margin (0.5 s here), still before the deadline.
    let calls = Calls::default();
    let t0 = Instant::now();
    let job = Poller::new(
        fast().deadline(secs(5)),
        scripted(&calls, vec![status_retry_after(429, ms(4800)), done()]),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), vec![secs(0), ms(4800)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_ends_the_wait_at_once() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let result = Poller::new(
        fast().deadline(secs(5)),
        scripted(&calls, vec![status_retry_after(429, secs(10)), done()]),
    )
    .job_id("busy")
    .await;
    assert_eq!(Instant::now() - t0, Duration::ZERO, "no sleeping");
    assert_eq!(calls.count(), 1);
    match result {
        Err(PollError::DeadlineExceeded {
            job,
            attempts,
            elapsed,
            last,
            last_error,
            reason,
        }) => {
            assert_eq!(job, "busy");
            assert_eq!(attempts, 1);
            assert_eq!(elapsed, Duration::ZERO);
            assert_eq!(last, None);
            assert_eq!(last_error.unwrap().status, Some(429));
            assert!(reason.contains("Retry-After"), "{reason}");
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 6. max_attempts
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn max_attempts_ends_with_attempts_exhausted_after_exactly_that_many_polls() {
    let calls = Calls::default();
    let result = Poller::new(fast().max_attempts(4), scripted(&calls, vec![pending()]))
        .job_id("capped")
        .await;
    assert_eq!(calls.count(), 4);
    match result {
        Err(PollError::AttemptsExhausted {
            job,
            attempts,
            last,
            last_error,
            ..
        }) => {
            assert_eq!(job, "capped");
            assert_eq!(attempts, 4);
            assert_eq!(last, Some(Snap::Pending));
            assert!(last_error.is_none());
        }
        other => panic!("expected AttemptsExhausted, got {other:?}"),
    }

    // Transient errors count as attempts; the last one is reported.
    let calls = Calls::default();
    let result = Poller::new(fast().max_attempts(3), scripted(&calls, vec![status(500)])).await;
    assert_eq!(calls.count(), 3);
    match result {
        Err(PollError::AttemptsExhausted {
            attempts: 3,
            last: None,
            last_error: Some(e),
            ..
        }) => assert_eq!(e.status, Some(500)),
        other => panic!("expected AttemptsExhausted, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn max_attempts_one_polls_once() {
    let calls = Calls::default();
    let result = Poller::new(fast().max_attempts(1), scripted(&calls, vec![pending()])).await;
    assert_eq!(calls.count(), 1);
    assert!(
        matches!(
            result,
            Err(PollError::AttemptsExhausted { attempts: 1, .. })
        ),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Invalid policies
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_invalid_policy_is_refused_before_any_poll() {
    let p = PollPolicy::default;
    type Case = (&'static str, PollPolicy, fn(&PolicyError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "min > max",
            p().min_delay(secs(5)).max_delay(secs(1)),
            |e| {
                *e == PolicyError::MinAboveMax {
                    min: secs(5),
                    max: secs(1),
                }
            },
        ),
        ("multiplier < 1", p().multiplier(0.5), |e| {
            *e == PolicyError::Multiplier(0.5)
        }),
        (
            "multiplier NaN",
            p().multiplier(f64::NAN),
            |e| matches!(e, PolicyError::Multiplier(m) if m.is_nan()),
        ),
        ("multiplier infinite", p().multiplier(f64::INFINITY), |e| {
            matches!(e, PolicyError::Multiplier(_))
        }),
        ("jitter > 1", p().jitter(1.5), |e| {
            *e == PolicyError::Jitter(1.5)
        }),
        ("jitter < 0", p().jitter(-0.1), |e| {
            *e == PolicyError::Jitter(-0.1)
        }),
        (
            "jitter NaN",
            p().jitter(f64::NAN),
            |e| matches!(e, PolicyError::Jitter(j) if j.is_nan()),
        ),
        ("zero deadline", p().deadline(Duration::ZERO), |e| {
            *e == PolicyError::ZeroDeadline
        }),
        ("zero attempts", p().max_attempts(0), |e| {
            *e == PolicyError::ZeroAttempts
        }),
    ];
    for (name, policy, expected) in cases {
        let validated = policy.validate();
        assert!(
            validated.as_ref().is_err_and(expected),
            "{name}: validate() = {validated:?}"
        );

        let calls = Calls::default();
        let t0 = Instant::now();
        let result = Poller::new(policy.clone(), scripted(&calls, vec![done()])).await;
        match &result {
            Err(PollError::InvalidPolicy(e)) => assert!(expected(e), "{name}: {e:?}"),
            other => panic!("{name}: expected InvalidPolicy, got {other:?}"),
        }
        assert_eq!(result.unwrap_err().attempts(), 0);

        let mut stream = Poller::new(policy, scripted(&calls, vec![done()])).into_stream();
        match stream.next().await {
            Some(Err(PollError::InvalidPolicy(e))) => assert!(expected(&e), "{name}: {e:?}"),
            other => panic!("{name}: expected InvalidPolicy first, got {other:?}"),
        }
        assert!(stream.next().await.is_none(), "{name}: stream must end");
        assert_eq!(calls.count(), 0, "{name}: no fetch for an invalid policy");
        assert_eq!(Instant::now(), t0, "{name}: no sleeping");
    }
}

// ---------------------------------------------------------------------------------------
// 8. Permanent errors and not-found grace
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_permanent_error_ends_the_wait_after_one_request() {
    for code in [400, 401, 403, 422] {
        let calls = Calls::default();
        let t0 = Instant::now();
        let result = Poller::new(fast(), scripted(&calls, vec![status(code), done()]))
            .job_id("denied")
            .await;
        assert_eq!(calls.count(), 1, "HTTP {code}");
        assert_eq!(Instant::now(), t0, "HTTP {code}: no sleeping");
        match result {
            Err(PollError::Request {
                job,
                attempts,
                status,
                message,
                last,
                elapsed,
            }) => {
                assert_eq!(job, "denied");
                assert_eq!(attempts, 1);
                assert_eq!(status, Some(code));
                assert_eq!(message, format!("server said {code}"));
                assert_eq!(last, None);
                assert_eq!(elapsed, Duration::ZERO);
            }
            other => panic!("HTTP {code}: expected Request, got {other:?}"),
        }
    }
    // A permanent error without a status too.
    let calls = Calls::default();
    let result = Poller::new(
        fast(),
        scripted(
            &calls,
            vec![Step::Err(FetchError::permanent("bad request"))],
        ),
    )
    .await;
    assert_eq!(calls.count(), 1);
    assert!(
        matches!(&result, Err(PollError::Request { status: None, message, .. }) if message == "bad request"),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn transient_errors_keep_polling_on_the_schedule() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let job = Poller::new(
        steady(secs(1), secs(8), 2.0),
        scripted(
            &calls,
            vec![status(500), status(502), status(503), status(408), done()],
        ),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), [0, 1, 3, 7, 15].map(secs).to_vec());
}

#[tokio::test(start_paused = true)]
async fn not_found_within_the_grace_keeps_polling_then_succeeds() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let policy = steady(secs(1), secs(1), 1.0).not_found_grace(secs(10));
    let job = Poller::new(
        policy,
        scripted(&calls, vec![status(404), status(404), status(404), done()]),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), [0, 1, 2, 3].map(secs).to_vec());
}

#[tokio::test(start_paused = true)]
async fn not_found_after_the_grace_is_a_request_error() {
    let calls = Calls::default();
    let policy = steady(secs(1), secs(1), 1.0).not_found_grace(ms(2500));
    let result = Poller::new(policy, scripted(&calls, vec![status(404)])).await;
    // 404s at 0, 1 and 2 s are "not visible yet"; the one at 3 s is final.
    assert_eq!(calls.count(), 4);
    match result {
        Err(PollError::Request {
            attempts,
            status,
            elapsed,
            last,
            ..
        }) => {
            assert_eq!(attempts, 4);
            assert_eq!(status, Some(404));
            assert_eq!(elapsed, secs(3));
            assert_eq!(last, None);
        }
        other => panic!("expected Request, got {other:?}"),
    }

    // A job seen, then gone: the Request error keeps the last snapshot.
    let calls = Calls::default();
    let policy = steady(secs(1), secs(1), 1.0).not_found_grace(Duration::ZERO);
    let result = Poller::new(policy, scripted(&calls, vec![pending(), status(404)])).await;
    assert_eq!(calls.count(), 2);
    assert!(
        matches!(
            &result,
            Err(PollError::Request {
                attempts: 2,
                status: Some(404),
                last: Some(Snap::Pending),
                ..
            })
        ),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 9. Failure, success and the event stream
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_failure_phase_ends_with_failed_carrying_reason_and_snapshot() {
    let script = vec![
        pending(),
        pending(),
        Step::Ok(Snap::Failed("quota exceeded".into())),
    ];

    let calls = Calls::default();
    let result = Poller::new(fast(), scripted(&calls, script.clone()))
        .job_id("doomed")
        .await;
    assert_eq!(calls.count(), 3);
    match &result {
        Err(PollError::Failed {
            job,
            attempts,
            last,
            reason,
            ..
        }) => {
            assert_eq!(job, "doomed");
            assert_eq!(*attempts, 3);
            assert_eq!(*last, Snap::Failed("quota exceeded".into()));
            assert_eq!(reason, "quota exceeded");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let e = result.unwrap_err();
    assert_eq!(e.last(), Some(&Snap::Failed("quota exceeded".into())));
    assert!(e.to_string().contains("quota exceeded"), "{e}");

    // The stream: one event per attempt, then the error, then nothing.
    let calls = Calls::default();
    let stream = Poller::new(fast(), scripted(&calls, script))
        .job_id("doomed")
        .into_stream();
    let (events, error) = drain(stream).await;
    assert_eq!(
        events.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(events[0].next_delay.is_some() && events[1].next_delay.is_some());
    assert_eq!(events[2].next_delay, None);
    assert_eq!(
        events[2].outcome.as_ref().unwrap(),
        &Snap::Failed("quota exceeded".into())
    );
    assert!(
        matches!(error, Some(PollError::Failed { attempts: 3, .. })),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn on_success_the_last_event_has_no_next_delay_and_the_stream_ends() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let stream = Poller::new(
        steady(secs(1), secs(4), 2.0),
        scripted(&calls, vec![pending(), status(503), pending(), done()]),
    )
    .into_stream();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(events.len(), 4);
    assert_eq!(
        events.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        events.iter().map(|e| e.next_delay).collect::<Vec<_>>(),
        [Some(secs(1)), Some(secs(2)), Some(secs(4)), None]
    );
    assert_eq!(
        events.iter().map(|e| e.elapsed).collect::<Vec<_>>(),
        calls.offsets(t0),
        "elapsed is measured when each answer arrives"
    );
    assert_eq!(events[1].outcome.as_ref().unwrap_err().status, Some(503));
    assert_eq!(events[3].outcome.as_ref().unwrap(), &Snap::Done);
}

// ---------------------------------------------------------------------------------------
// 10. Dropping stops polling
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_stops_polling() {
    let calls = Calls::default();
    let mut stream = Poller::new(
        steady(secs(1), secs(1), 1.0),
        scripted(&calls, vec![pending()]),
    )
    .into_stream();
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(calls.count(), 2);
    drop(stream);
    tokio::time::sleep(secs(3600)).await;
    assert_eq!(calls.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_stops_polling() {
    let calls = Calls::default();
    let poller = Poller::new(
        steady(secs(1), secs(1), 1.0),
        scripted(&calls, vec![pending()]),
    );
    // Polls at 0, 1, 2 s; dropped at 2.5 s.
    let result = tokio::time::timeout(ms(2500), poller.into_future()).await;
    assert!(result.is_err(), "still waiting when dropped");
    assert_eq!(calls.count(), 3);
    tokio::time::sleep(secs(3600)).await;
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_wait_cancels_the_request_in_flight() {
    struct Flag(Arc<Mutex<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = true;
        }
    }
    let dropped = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&dropped);
    let poller = Poller::new(PollPolicy::default(), move || {
        let guard = Flag(Arc::clone(&flag));
        async move {
            let _guard = guard;
            std::future::pending::<Result<Snap, FetchError>>().await
        }
    });
    assert!(
        tokio::time::timeout(secs(5), poller.into_future())
            .await
            .is_err()
    );
    assert!(
        *dropped.lock().unwrap(),
        "the in-flight request was dropped"
    );
}

// ---------------------------------------------------------------------------------------
// 11. min_interval
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn min_interval_is_a_floor_over_a_faster_policy() {
    let calls = Calls::default();
    let stream = Poller::new(fast().max_attempts(5), scripted(&calls, vec![pending()]))
        .min_interval(secs(1))
        .into_stream();
    let (events, error) = drain(stream).await;
    assert!(
        matches!(
            error,
            Some(PollError::AttemptsExhausted { attempts: 5, .. })
        ),
        "{error:?}"
    );
    assert_eq!(calls.gaps(), vec![secs(1); 4]);
    assert!(
        events
            .iter()
            .filter_map(|e| e.next_delay)
            .all(|d| d == secs(1))
    );

    // The floor holds for "poll again at once" snapshots and for errors too.
    #[derive(Clone, Debug)]
    struct Eager;
    impl Snapshot for Eager {
        fn phase(&self) -> Phase {
            Phase::Pending
        }
        fn poll_again_after(&self) -> Option<Duration> {
            Some(Duration::ZERO)
        }
    }
    let times = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&times);
    let mut n = 0;
    let result = Poller::new(fast().max_attempts(4), move || {
        log.lock().unwrap().push(Instant::now());
        n += 1;
        let outcome = if n == 2 {
            Err(FetchError::from_status(500, "oops"))
        } else {
            Ok(Eager)
        };
        async move { outcome }
    })
    .min_interval(secs(1))
    .await;
    assert!(matches!(result, Err(PollError::AttemptsExhausted { .. })));
    let times = times.lock().unwrap();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, vec![secs(1); 3]);
}

#[tokio::test(start_paused = true)]
async fn poll_again_after_overrides_the_backoff() {
    #[derive(Clone, Debug)]
    struct Hinted;
    impl Snapshot for Hinted {
        fn phase(&self) -> Phase {
            Phase::Pending
        }
        fn poll_again_after(&self) -> Option<Duration> {
            Some(ms(250))
        }
    }
    let times = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&times);
    let result = Poller::new(steady(secs(5), secs(30), 2.0).max_attempts(4), move || {
        log.lock().unwrap().push(Instant::now());
        async { Ok::<_, FetchError>(Hinted) }
    })
    .await;
    assert!(matches!(
        result,
        Err(PollError::AttemptsExhausted { attempts: 4, .. })
    ));
    let times = times.lock().unwrap();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, vec![ms(250); 3]);
}

// ---------------------------------------------------------------------------------------
// 12. RateBudget
// ---------------------------------------------------------------------------------------

/// The most instants falling in any window `[t, t + per)` starting at one of them.
fn max_in_any_window(times: &[Instant], per: Duration) -> (usize, Option<Instant>) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut best = (0, None);
    for (i, start) in sorted.iter().enumerate() {
        let n = sorted[i..]
            .iter()
            .take_while(|t| **t < *start + per)
            .count();
        if n > best.0 {
            best = (n, Some(*start));
        }
    }
    best
}

/// `pollers` always-pending pollers with 1 ms delays share `budget` for `run`.
async fn hammer(budget: &RateBudget, pollers: usize, run: Duration) -> Vec<Instant> {
    let calls = Calls::default();
    let waits = (0..pollers).map(|i| {
        Poller::new(
            steady(ms(1), ms(1), 1.0).deadline(run),
            scripted(&calls, vec![pending()]),
        )
        .job_id(format!("job-{i}"))
        .rate_budget(budget.clone())
        .into_future()
    });
    let results = futures_util::future::join_all(waits).await;
    for r in results {
        assert!(
            matches!(r, Err(PollError::DeadlineExceeded { .. })),
            "{r:?}"
        );
    }
    calls.0.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn pollers_sharing_a_budget_never_exceed_its_limit_in_any_window() {
    let per = secs(2);
    let budget = RateBudget::new(10, per);
    let times = hammer(&budget, 4, secs(20)).await;
    let (max, at) = max_in_any_window(&times, per);
    assert!(max <= 10, "{max} requests in the 2 s window from {at:?}");
    // And the budget is used, not starved: about 10 per 2 s over 20 s.
    assert!(
        times.len() >= 45,
        "only {} requests in 20 s with a 10 per 2 s budget",
        times.len()
    );
}

#[tokio::test(start_paused = true)]
async fn budgets_of_any_shape_hold_their_window() {
    for (limit, per) in [
        (1, secs(1)),
        (2, secs(1)),
        (3, secs(1)),
        (6, secs(1)),
        (7, secs(3)),
        (60, secs(60)),
    ] {
        let budget = RateBudget::new(limit, per);
        assert_eq!((budget.limit(), budget.per()), (limit, per));
        let times = hammer(&budget, 3, per * 5).await;
        let (max, at) = max_in_any_window(&times, per);
        let limit = usize::try_from(limit).unwrap();
        assert!(
            max <= limit,
            "{limit} per {per:?}: {max} in the window from {at:?}"
        );
        assert!(
            times.len() >= 5,
            "{limit} per {per:?}: starved ({})",
            times.len()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn cool_down_blocks_every_sharer() {
    let budget = RateBudget::new(100, secs(1));
    let t0 = Instant::now();
    budget.cool_down(secs(5));
    budget.cool_down(secs(1)); // a shorter cool-down does not shorten it
    let calls = Calls::default();
    let waits = (0..3).map(|i| {
        Poller::new(fast(), scripted(&calls, vec![done()]))
            .job_id(format!("job-{i}"))
            .rate_budget(budget.clone())
            .into_future()
    });
    for r in futures_util::future::join_all(waits).await {
        assert_eq!(r.unwrap(), Snap::Done);
    }
    assert_eq!(calls.offsets(t0), vec![secs(5); 3]);

    // acquire() itself waits for the cool-down.
    let t1 = Instant::now();
    budget.cool_down(secs(2));
    budget.acquire().await;
    assert_eq!(Instant::now() - t1, secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_429_retry_after_cools_down_the_whole_budget() {
    let budget = RateBudget::new(100, secs(1));
    let t0 = Instant::now();
    let first = Calls::default();
    let second = Calls::default();
    let a = Poller::new(
        fast(),
        scripted(&first, vec![status_retry_after(429, secs(5)), done()]),
    )
    .job_id("a")
    .rate_budget(budget.clone());
    // The other poller would poll at 0.5 s; the 429 received at 0 s holds it until 5 s.
    let b = Poller::new(
        fast().initial_delay(ms(500)),
        scripted(&second, vec![done()]),
    )
    .job_id("b")
    .rate_budget(budget.clone());
    let (a, b) = tokio::join!(a.into_future(), b.into_future());
    assert_eq!(a.unwrap(), Snap::Done);
    assert_eq!(b.unwrap(), Snap::Done);
    assert_eq!(first.offsets(t0), vec![secs(0), secs(5)]);
    assert_eq!(second.offsets(t0), vec![secs(5)]);
}

#[tokio::test(start_paused = true)]
async fn a_budget_with_no_room_before_the_deadline_ends_the_wait_by_the_deadline() {
    let budget = RateBudget::new(1, secs(60));
    budget.acquire().await; // the only request of this minute
    let calls = Calls::default();
    let t0 = Instant::now();
    let result = Poller::new(fast().deadline(secs(10)), scripted(&calls, vec![done()]))
        .rate_budget(budget)
        .await;
    assert_eq!(calls.count(), 0);
    assert_eq!(Instant::now() - t0, secs(10));
    assert!(
        matches!(
            &result,
            Err(PollError::DeadlineExceeded { attempts: 0, .. })
        ),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Overflow: found while writing these tests
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_huge_deadline_is_accepted_without_panicking() {
    let policy = PollPolicy::default().deadline(Duration::MAX);
    assert!(policy.validate().is_ok());
    let job = Poller::new(policy, || async { Ok::<_, FetchError>(Snap::Done) }).await;
    assert_eq!(job.unwrap(), Snap::Done);
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_with_a_budget_ends_with_deadline_exceeded() {
    let calls = Calls::default();
    let result = Poller::new(
        fast().deadline(secs(60)),
        scripted(
            &calls,
            vec![status_retry_after(429, Duration::from_secs(u64::MAX))],
        ),
    )
    .rate_budget(RateBudget::per_minute(60))
    .await;
    assert!(
        matches!(&result, Err(PollError::DeadlineExceeded { reason, .. }) if reason.contains("Retry-After")),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn cool_down_saturates_instead_of_panicking() {
    let budget = RateBudget::per_minute(60);
    budget.cool_down(Duration::MAX);
    let blocked = tokio::time::timeout(secs(3600), budget.acquire()).await;
    assert!(blocked.is_err(), "still cooling down after an hour");
}
