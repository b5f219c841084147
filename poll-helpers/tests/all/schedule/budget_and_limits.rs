//! Dropping a wait, min_interval, RateBudget, and overflow cases.

use super::*;

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
async fn a_budget_with_no_room_before_the_deadline_ends_the_wait_at_once_saying_so() {
    let budget = RateBudget::new(1, secs(60));
    budget.acquire().await; // the only request of this minute
    let calls = Calls::default();
    let t0 = Instant::now();
    let result = Poller::new(fast().deadline(secs(10)), scripted(&calls, vec![done()]))
        .rate_budget(budget)
        .await;
    assert_eq!(calls.count(), 0);
    // Its place in the queue already says no slot comes before the deadline: it ends
    // now rather than at the deadline.
    assert_eq!(Instant::now() - t0, secs(0));
    assert!(
        matches!(
            &result,
            Err(PollError::DeadlineExceeded { attempts: 0, reason, .. })
                if reason.starts_with("the rate budget had no room before the deadline")
                    && reason.contains("60.0 s")
        ),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_budget_that_stays_cold_past_the_deadline_ends_the_wait_by_the_deadline() {
    // The queue looked fine when the wait arrived, but a 429 then cooled the budget
    // down past the deadline: the wait ends at the deadline with the budget's reason.
    let budget = RateBudget::new(1, secs(2));
    budget.acquire().await;
    let calls = Calls::default();
    let t0 = Instant::now();
    let wait = Poller::new(fast().deadline(secs(10)), scripted(&calls, vec![done()]))
        .rate_budget(budget.clone())
        .into_future();
    let cool = async {
        tokio::time::sleep(ms(500)).await;
        budget.cool_down(secs(60));
    };
    let (result, ()) = tokio::join!(wait, cool);
    assert_eq!(calls.count(), 0);
    assert_eq!(Instant::now() - t0, secs(10));
    assert!(
        matches!(
            &result,
            Err(PollError::DeadlineExceeded { attempts: 0, reason, .. })
                if reason == "the rate budget had no room before the deadline"
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
