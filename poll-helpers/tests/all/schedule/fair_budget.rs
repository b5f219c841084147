//! Who gets a shared budget's requests when there are not enough: first polls in arrival
//! order, nobody polls twice while someone has not polled, no starvation, and an early,
//! clear ending for a wait that cannot get a poll before its deadline.

use super::*;

/// Pending forever; records (job, instant) of every fetch.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(usize, Instant)>>>);

impl Log {
    fn fetch(&self, job: usize) -> impl FnMut() -> Fetch + Send + 'static {
        let log = self.clone();
        move || {
            log.0.lock().unwrap().push((job, Instant::now()));
            Box::pin(async { Ok(Snap::Pending) })
        }
    }

    fn all(&self) -> Vec<(usize, Instant)> {
        self.0.lock().unwrap().clone()
    }
}

/// The instants of a budget's first `n` admissions when it is saturated from its start,
/// relative to its creation.
async fn admissions(limit: u32, per: Duration, n: usize) -> Vec<Duration> {
    let budget = RateBudget::new(limit, per);
    let t0 = Instant::now();
    let mut out = Vec::new();
    for _ in 0..n {
        budget.acquire().await;
        out.push(Instant::now() - t0);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn sixty_waits_on_a_six_per_second_budget_each_get_their_first_poll_in_arrival_order() {
    let reference = admissions(6, secs(1), 60).await;

    let budget = RateBudget::new(6, secs(1));
    let log = Log::default();
    let t0 = Instant::now();
    // Jobs that never finish; each wait asks for a poll every 1-2 s, far more than the
    // budget allows.
    let waits = (0..60).map(|k| {
        Poller::new(
            steady(secs(1), secs(2), 1.5).deadline(secs(30)),
            log.fetch(k),
        )
        .job_id(format!("job-{k}"))
        .rate_budget(budget.clone())
        .into_future()
    });
    let results = futures_util::future::join_all(waits).await;

    let calls = log.all();
    let first60: std::collections::BTreeSet<usize> =
        calls.iter().take(60).map(|(job, _)| *job).collect();
    assert_eq!(
        first60.len(),
        60,
        "the first 60 requests reached {} jobs",
        first60.len()
    );
    for (k, admission) in reference.iter().enumerate() {
        let first = calls
            .iter()
            .find(|(job, _)| *job == k)
            .map(|(_, at)| *at - t0)
            .unwrap_or_else(|| panic!("job {k} was never polled"));
        assert!(
            first <= *admission + secs(1),
            "job {k}: first poll at {first:?}, the budget's admission {k} at {admission:?}"
        );
    }
    for (k, r) in results.iter().enumerate() {
        match r {
            Err(PollError::DeadlineExceeded { attempts, .. }) => {
                assert!(*attempts >= 1, "job {k} ended with zero polls: {r:?}");
            }
            other => panic!("job {k}: {other:?}"),
        }
    }
    // And the budget was used: about 5 per second for 30 s (burst 1, then every 0.2 s).
    assert!(calls.len() >= 140, "{} requests", calls.len());
}

/// A job that reports progress as if it finished at 3 s, and never does: by its progress
/// it is always the likeliest to be done.
#[derive(Clone, Debug)]
struct Stuck(f64);

impl Snapshot for Stuck {
    fn phase(&self) -> Phase {
        Phase::Pending
    }

    fn progress(&self) -> Option<f64> {
        Some(self.0)
    }

    /// Asks for its next poll right away, like the plain waits, so that the gaps between
    /// polls are the budget's doing.
    fn poll_again_after(&self) -> Option<Duration> {
        Some(ms(1))
    }
}

#[tokio::test(start_paused = true)]
async fn likely_jobs_go_first_but_no_wait_waits_more_than_twice_its_fair_share() {
    let budget = RateBudget::new(10, secs(1)); // burst 1, then one every 1/9 s
    let interval = budget.interval();
    let log = Log::default();
    let t0 = Instant::now();
    let policy = steady(ms(1), ms(1), 1.0).deadline(secs(40));
    // 10 "likely" waits (progress says they are overdue) and 10 without any estimate.
    let likely = (0..10).map(|k| {
        let log = log.clone();
        Poller::new(policy.clone(), move || {
            let t = (Instant::now() - t0).as_secs_f64();
            log.0.lock().unwrap().push((k, Instant::now()));
            let p = (t / 3.0).min(0.99);
            Box::pin(async move { Ok::<_, FetchError>(Stuck(p)) }) as BoxFuture<'static, _>
        })
        .job_id(format!("likely-{k}"))
        .rate_budget(budget.clone())
        .into_future()
    });
    let plain = (10..20).map(|k| {
        Poller::new(policy.clone(), log.fetch(k))
            .job_id(format!("plain-{k}"))
            .rate_budget(budget.clone())
            .into_future()
    });
    let (a, b) = tokio::join!(
        futures_util::future::join_all(likely),
        futures_util::future::join_all(plain)
    );
    assert_eq!(a.len() + b.len(), 20);

    let calls = log.all();
    let count =
        |range: std::ops::Range<usize>| calls.iter().filter(|(job, _)| range.contains(job)).count();
    // Likelihood counts: the likely waits get more of the budget...
    assert!(
        count(0..10) > count(10..20),
        "likely {} vs plain {}",
        count(0..10),
        count(10..20)
    );
    // ...but every wait keeps being polled: between two polls of one wait (each asks for
    // its next poll 1 ms after the last), at most twice the round-robin share of 20
    // waits, plus one admission of slack for the request in flight.
    let bound = interval * 2 * 20 + interval * 2;
    for k in 0..20 {
        let times: Vec<Instant> = calls
            .iter()
            .filter(|(job, _)| *job == k)
            .map(|(_, at)| *at)
            .collect();
        assert!(times.len() >= 5, "wait {k} polled {} times", times.len());
        let worst = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            worst <= bound,
            "wait {k} waited {worst:?} (bound {bound:?})"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_cannot_get_a_poll_before_its_deadline_ends_at_once_saying_why() {
    // 60 per minute: a burst of 6, then one every 1.11 s. 100 waits with a 10 s deadline:
    // about 14 can be polled in time; the others learn it when they queue.
    let budget = RateBudget::per_minute(60);
    let log = Log::default();
    let t0 = Instant::now();
    let waits = (0..100).map(|k| {
        let started = Instant::now();
        let wait = Poller::new(
            steady(secs(2), secs(4), 1.5).deadline(secs(10)),
            log.fetch(k),
        )
        .job_id(format!("job-{k}"))
        .rate_budget(budget.clone())
        .into_future();
        async move { (wait.await, Instant::now() - started) }
    });
    let results = futures_util::future::join_all(waits).await;
    let polled: std::collections::BTreeSet<usize> = log.all().iter().map(|(j, _)| *j).collect();
    // Arrival order: the polled ones are the first to arrive.
    assert_eq!(
        polled.iter().copied().collect::<Vec<_>>(),
        (0..polled.len()).collect::<Vec<_>>()
    );
    assert!((12..=16).contains(&polled.len()), "{} polled", polled.len());
    for (k, (r, took)) in results.iter().enumerate() {
        if polled.contains(&k) {
            continue;
        }
        assert_eq!(*took, Duration::ZERO, "job {k} ended after {took:?}");
        assert!(
            matches!(
                r,
                Err(PollError::DeadlineExceeded { attempts: 0, reason, .. })
                    if reason.starts_with("the rate budget had no room before the deadline")
                        && reason.contains("queued ahead")
            ),
            "job {k}: {r:?}"
        );
    }
    assert!(Instant::now() - t0 <= secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_first_poll_held_back_by_its_model_goes_when_it_is_the_likeliest_and_before_the_deadline()
{
    use poll_helpers::DurationModel;
    let budget = RateBudget::new(10, secs(1)); // burst 1, then one every 1/9 s
    let log = Log::default();
    let t0 = Instant::now();
    // 20 plain waits that never finish and ask for a poll every millisecond: the budget
    // is saturated by later polls throughout.
    let plain = (0..20).map(|k| {
        Poller::new(steady(ms(1), ms(1), 1.0).deadline(secs(30)), log.fetch(k))
            .job_id(format!("plain-{k}"))
            .rate_budget(budget.clone())
            .into_future()
    });
    // Two waits whose model says their jobs take 15 s (one also never finishes) and one
    // whose model says 10 min with a 20 s deadline: held back, but not past the deadline.
    let model = |s: u64| {
        let m = DurationModel::new();
        for _ in 0..DurationModel::WARM_UP {
            m.record(secs(s));
        }
        m
    };
    let learned = [(100, 15, 30), (101, 600, 20)].map(|(k, s, deadline)| {
        Poller::new(
            steady(secs(1), secs(5), 1.0)
                .deadline(secs(deadline))
                .max_detection_latency(secs(1))
                .learn_durations(model(s)),
            log.fetch(k),
        )
        .job_id(format!("learned-{k}"))
        .rate_budget(budget.clone())
        .into_future()
    });
    let (_, learned) = tokio::join!(
        futures_util::future::join_all(plain),
        futures_util::future::join_all(learned)
    );
    let calls = log.all();
    let first = |k: usize| {
        calls
            .iter()
            .find(|(job, _)| *job == k)
            .map(|(_, at)| *at - t0)
            .unwrap_or_else(|| panic!("wait {k} was never polled: {learned:?}"))
    };
    // Not before its model says the job may be done; soon after, although 20 later polls
    // are always queued (round-robin would take 20 admissions, 2.2 s, at every turn).
    assert!(
        first(100) >= secs(14) && first(100) <= secs(17),
        "{:?}",
        first(100)
    );
    // Held until the last slot before its 20 s deadline at the latest, then served.
    assert!(first(101) <= secs(20), "{:?}", first(101));
    // The plain waits kept being polled meanwhile.
    for k in 0..20 {
        assert!(calls.iter().filter(|(job, _)| *job == k).count() >= 5);
    }
}
