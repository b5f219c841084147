//! Backoff, jitter, the first poll, the deadline.

use super::*;

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
