//! The informed schedules, on tokio's virtual clock (`start_paused`) with fake fetchers:
//! progress-aware placement and learned durations (`DurationModel`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use poll_helpers::{
    DurationModel, FetchError, Phase, PollError, PollEvent, PollPolicy, Poller, Snapshot,
};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------
// A fake job
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Job {
    done: bool,
    progress: Option<f64>,
}

impl Snapshot for Job {
    fn phase(&self) -> Phase {
        if self.done {
            Phase::Succeeded
        } else {
            Phase::Pending
        }
    }
    fn progress(&self) -> Option<f64> {
        self.progress
    }
}

/// How a fake job reports progress.
#[derive(Clone)]
enum Report {
    /// No progress field.
    Nothing,
    /// elapsed / duration.
    Linear,
    /// The n-th poll reports `script[n-1]` (the last one repeats).
    Script(Vec<f64>),
}

/// A job finishing `duration` after the wait starts; returns the times of its fetches
/// (since the start).
fn job(
    duration: Duration,
    report: Report,
    calls: &Arc<Mutex<Vec<Duration>>>,
) -> impl FnMut() -> futures_util::future::Ready<Result<Job, FetchError>> + Send + 'static {
    let calls = Arc::clone(calls);
    let start = Instant::now();
    move || {
        let t = start.elapsed();
        let n = {
            let mut c = calls.lock().unwrap();
            c.push(t);
            c.len()
        };
        let done = t >= duration;
        let progress = match &report {
            _ if done => Some(1.0),
            Report::Nothing => None,
            Report::Linear => Some(t.as_secs_f64() / duration.as_secs_f64()),
            Report::Script(s) => Some(*s.get(n - 1).unwrap_or(s.last().unwrap())),
        };
        futures_util::future::ready(Ok(Job { done, progress }))
    }
}

struct Run {
    events: Vec<PollEvent<Job>>,
    error: Option<PollError<Job>>,
    calls: Vec<Duration>,
}

impl Run {
    fn delays(&self) -> Vec<Duration> {
        self.events.iter().filter_map(|e| e.next_delay).collect()
    }

    fn requests(&self) -> usize {
        self.calls.len()
    }

    /// When the poll that saw the job done came, after it finished.
    fn latency(&self, duration: Duration) -> Duration {
        *self.calls.last().unwrap() - duration
    }
}

async fn wait(policy: &PollPolicy, id: &str, duration: Duration, report: Report) -> Run {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut stream = Poller::new(policy.clone(), job(duration, report, &calls))
        .job_id(id)
        .into_stream();
    let mut events = Vec::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => error = Some(e),
        }
    }
    let calls = calls.lock().unwrap().clone();
    Run {
        events,
        error,
        calls,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn base() -> PollPolicy {
    PollPolicy::default().seed(11).deadline(secs(2 * 60 * 60))
}

// ---------------------------------------------------------------------------------------
// Progress-aware placement
// ---------------------------------------------------------------------------------------

#[test]
fn progress_aware_is_on_by_default() {
    assert_eq!(
        PollPolicy::default(),
        PollPolicy::default().progress_aware(true)
    );
    assert_ne!(
        PollPolicy::default(),
        PollPolicy::default().progress_aware(false)
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_with_linear_progress_is_seen_soon_after_it_ends_with_few_polls() {
    for minutes in [1, 7, 20, 45] {
        let duration = secs(60 * minutes) + Duration::from_millis(333);
        let smart = wait(&base(), "import", duration, Report::Linear).await;
        assert!(smart.error.is_none(), "{:?}", smart.error);
        let blind = wait(
            &base().progress_aware(false),
            "import",
            duration,
            Report::Linear,
        )
        .await;
        assert!(
            smart.latency(duration) <= secs(2),
            "{minutes} min: seen {:?} late",
            smart.latency(duration)
        );
        // 0 s, ~2 s, then at most max_delay (30 s) until a prediction came true, then
        // 5 min steps to the predicted end.
        let most = 4 + (60 * minutes as usize).div_ceil(300);
        assert!(
            smart.requests() <= most,
            "{minutes} min: {} requests (at most {most}): {:?}",
            smart.requests(),
            smart.calls
        );
        assert!(smart.requests() < blind.requests(), "{minutes} min");
        // No gap beyond progress_max_delay (5 min).
        assert!(
            smart.delays().iter().all(|d| *d <= secs(300)),
            "{:?}",
            smart.delays()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_estimate_waits_no_longer_than_max_delay() {
    // Two readings give a first estimate (an hour away): not confirmed yet.
    let run = wait(&base(), "import", secs(3600), Report::Linear).await;
    let delays = run.delays();
    assert!(
        delays[0] <= secs(3),
        "the first gap is the backoff: {delays:?}"
    );
    assert_eq!(delays[1], secs(30), "{delays:?}");
    assert_eq!(
        delays[2],
        secs(300),
        "confirmed: up to progress_max_delay: {delays:?}"
    );
    // progress_max_delay is honoured.
    let run = wait(
        &base().progress_max_delay(secs(120)),
        "import",
        secs(3600),
        Report::Linear,
    )
    .await;
    assert!(
        run.delays().iter().all(|d| *d <= secs(120)),
        "{:?}",
        run.delays()
    );
}

#[tokio::test(start_paused = true)]
async fn progress_going_backwards_falls_back_to_the_backoff() {
    let script = vec![0.0, 0.1, 0.2, 0.15, 0.5, 0.6, 0.7, 0.8, 0.9];
    let duration = secs(400);
    let smart = wait(&base(), "job-x", duration, Report::Script(script.clone())).await;
    let blind = wait(
        &base().progress_aware(false),
        "job-x",
        duration,
        Report::Script(script),
    )
    .await;
    let (s, b) = (smart.delays(), blind.delays());
    // Before the drop the estimate placed polls; from the reading that went backwards
    // (the 4th poll) on, every delay is the backoff's for that attempt.
    assert_ne!(s[1..3], b[1..3]);
    let from = 3;
    let n = s.len().min(b.len());
    assert!(n > from + 3);
    // Same attempts, same jitter draws: the backoff's delays exactly, until the job ends.
    let backoff = wait(
        &base().max_attempts(u32::try_from(s.len() + 1).unwrap()),
        "job-x",
        secs(100_000),
        Report::Nothing,
    )
    .await
    .delays();
    assert_eq!(s[from..], backoff[from..s.len()]);
}

#[tokio::test(start_paused = true)]
async fn without_progress_the_schedule_is_the_backoff() {
    let on = wait(&base(), "job-y", secs(200), Report::Nothing).await;
    let off = wait(
        &base().progress_aware(false),
        "job-y",
        secs(200),
        Report::Nothing,
    )
    .await;
    assert_eq!(on.delays(), off.delays());
    // Progress that never moves is no estimate either.
    let flat = wait(&base(), "job-y", secs(200), Report::Script(vec![0.4])).await;
    assert_eq!(flat.delays(), off.delays());
}

#[tokio::test(start_paused = true)]
async fn past_the_predicted_end_delays_restart_from_min_delay() {
    // Progress reaches 100 % at 60 s but the job only ends at 200 s.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&calls);
    let start = Instant::now();
    let fetch = move || {
        let t = start.elapsed();
        c.lock().unwrap().push(t);
        let p = (t.as_secs_f64() / 60.0).min(1.0);
        futures_util::future::ready(Ok::<_, FetchError>(Job {
            done: t >= secs(200),
            progress: Some(p),
        }))
    };
    let policy = base().jitter(0.0);
    let mut stream = Poller::new(policy, fetch).job_id("stuck").into_stream();
    let mut delays = Vec::new();
    while let Some(e) = stream.next().await {
        delays.extend(e.unwrap().next_delay);
    }
    let calls = calls.lock().unwrap().clone();
    let past: Vec<Duration> = calls
        .windows(2)
        .filter(|w| w[0] >= secs(60))
        .map(|w| w[1] - w[0])
        .collect();
    // 2, 3, 4.5, 6.75 … as the backoff grows from min_delay.
    assert!(past.len() >= 4, "{calls:?}");
    assert!(past[0] <= Duration::from_millis(2001), "{past:?}");
    assert!(past.windows(2).all(|w| w[1] >= w[0]), "{past:?}");
}

// ---------------------------------------------------------------------------------------
// Learned durations
// ---------------------------------------------------------------------------------------

/// A deterministic spread of durations: uniform on [lo, hi] by a golden-ratio sequence.
fn spread(i: usize, lo: f64, hi: f64) -> Duration {
    let u = (i as f64 * 0.618_033_988_749_895).fract();
    Duration::from_secs_f64(lo + (hi - lo) * u)
}

#[tokio::test(start_paused = true)]
async fn a_cold_model_polls_exactly_like_the_backoff() {
    let model = DurationModel::new();
    let learning = base()
        .learn_durations(model.clone())
        .max_detection_latency(secs(5));
    for i in 0..DurationModel::WARM_UP - 1 {
        let d = spread(i, 5.0, 90.0);
        let id = format!("job-{i}");
        let learned = wait(&learning, &id, d, Report::Nothing).await;
        let plain = wait(&base(), &id, d, Report::Nothing).await;
        assert_eq!(learned.calls, plain.calls, "wait {i}");
        assert_eq!(learned.delays(), plain.delays(), "wait {i}");
    }
    // Every successful wait was recorded.
    assert_eq!(model.len(), DurationModel::WARM_UP - 1);
    assert!(!model.is_warm());
}

#[tokio::test(start_paused = true)]
async fn a_warm_model_spends_fewer_requests_on_a_known_distribution() {
    let model = DurationModel::new();
    let bound = secs(5);
    let learning = base()
        .learn_durations(model.clone())
        .max_detection_latency(bound);
    // Warm up on 300 jobs of 30–60 s (the model keeps the last 256).
    for i in 0..300 {
        wait(
            &learning,
            &format!("warm-{i}"),
            spread(i, 30.0, 60.0),
            Report::Nothing,
        )
        .await;
    }
    assert!(model.is_warm());
    let (mut learned, mut fixed) = (0, 0);
    let mut latencies = Vec::new();
    for i in 300..500 {
        let d = spread(i, 30.0, 60.0);
        let run = wait(&learning, &format!("job-{i}"), d, Report::Nothing).await;
        assert!(run.error.is_none());
        learned += run.requests();
        latencies.push(run.latency(d));
        // Fixed 5 s polling from t = 0: the same latency bound.
        fixed += 1 + (d.as_secs_f64() / 5.0).ceil() as usize;
        // Nothing finishes before 30 s: no poll long before then, the first one included.
        // (A job seen done at the first poll could have ended any time before it: the
        // model spreads it from 0, and late detection is capped at 4× the bound, so the
        // first poll stays within 20 s of the earliest possible end.)
        assert!(run.calls[0] >= secs(15), "job {i}: {:?}", run.calls);
    }
    assert!(
        (learned as f64) < 0.6 * fixed as f64,
        "learned {learned} requests vs fixed 5 s {fixed}"
    );
    latencies.sort();
    let p95 = latencies[latencies.len() * 95 / 100];
    assert!(p95 <= bound, "p95 {p95:?}");
    assert!(
        *latencies.last().unwrap() <= bound * 4,
        "{:?}",
        latencies.last()
    );
    // With the default bound (max_delay) it also beats the plain backoff.
    let lazy_model = DurationModel::new();
    let lazy = base().learn_durations(lazy_model);
    let (mut learned, mut backoff) = (0, 0);
    for i in 0..300 {
        let d = spread(i, 30.0, 60.0);
        let run = wait(&lazy, &format!("job-{i}"), d, Report::Nothing).await;
        if i >= 100 {
            learned += run.requests();
            backoff += wait(&base(), &format!("job-{i}"), d, Report::Nothing)
                .await
                .requests();
        }
    }
    assert!(learned < backoff, "learned {learned} vs backoff {backoff}");
}

#[tokio::test(start_paused = true)]
async fn a_model_clone_shares_what_it_learned() {
    let model = DurationModel::new();
    let a = base().learn_durations(model.clone());
    let b = a.clone();
    wait(&a, "one", secs(10), Report::Nothing).await;
    wait(&b, "two", secs(10), Report::Nothing).await;
    assert_eq!(model.len(), 2);
    assert_eq!(a, b);
    assert_ne!(a, base().learn_durations(DurationModel::new()));
}

#[tokio::test(start_paused = true)]
async fn failed_waits_are_not_recorded() {
    let model = DurationModel::new();
    let policy = base().learn_durations(model.clone());
    let fetch = || futures_util::future::ready(Ok::<_, FetchError>(Failing));
    let err = Poller::new(policy, fetch).await.unwrap_err();
    assert!(matches!(err, PollError::Failed { .. }));
    assert!(model.is_empty());
}

#[derive(Clone, Debug)]
struct Failing;
impl Snapshot for Failing {
    fn phase(&self) -> Phase {
        Phase::Failed("no".into())
    }
}

// ---------------------------------------------------------------------------------------
// Deadline and memory
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn informed_schedules_never_poll_past_the_deadline() {
    let deadline = secs(100);
    // A reliable progress estimate asking for a 5 min wait, with 100 s to go.
    let policy = base().deadline(deadline);
    let run = wait(&policy, "slow", secs(3600), Report::Linear).await;
    assert!(
        matches!(run.error, Some(PollError::DeadlineExceeded { .. })),
        "{:?}",
        run.error
    );
    assert!(run.calls.iter().all(|t| *t < deadline), "{:?}", run.calls);
    assert!(
        *run.calls.last().unwrap() >= secs(90),
        "the last poll is pulled in: {:?}",
        run.calls
    );

    // A warm model whose jobs all take 10–20 min: its plan's first poll is far past a
    // 60 s deadline.
    let model = DurationModel::new();
    for i in 0..100 {
        model.record(spread(i, 600.0, 1200.0));
    }
    let deadline = secs(60);
    let policy = base().learn_durations(model).deadline(deadline);
    let run = wait(&policy, "quick", secs(30), Report::Nothing).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert!(run.calls.iter().all(|t| *t < deadline), "{:?}", run.calls);
    let run = wait(&policy, "slower", secs(3000), Report::Nothing).await;
    assert!(
        matches!(run.error, Some(PollError::DeadlineExceeded { .. })),
        "{:?}",
        run.error
    );
    assert!(run.calls.iter().all(|t| *t < deadline), "{:?}", run.calls);
}

#[test]
fn a_model_keeps_bounded_memory_whatever_it_is_fed() {
    let model = DurationModel::new();
    for i in 0..1_000_000u64 {
        model.record(Duration::from_millis(i % 100_000));
    }
    assert_eq!(model.len(), DurationModel::DEFAULT_CAPACITY);
    assert_eq!(model.observed(), 1_000_000);
    let small = DurationModel::with_capacity(40);
    for i in 0..1_000_000u64 {
        small.record_between(Duration::from_millis(i), Duration::from_millis(i + 5000));
    }
    assert_eq!(small.len(), 40);
    // Its estimates follow the recent waits.
    assert!(small.quantile(0.0).unwrap() > Duration::from_secs(999));
}

#[tokio::test(start_paused = true)]
async fn a_plan_stays_bounded_for_extreme_durations() {
    // Durations from milliseconds to days, with a 1 ms latency bound: the plan is capped
    // (past it the backoff takes over), and the wait still ends.
    let model = DurationModel::new();
    for i in 0..200u32 {
        model.record(Duration::from_secs_f64(
            0.001 * 10f64.powf(f64::from(i) / 25.0),
        ));
    }
    let policy = base()
        .learn_durations(model)
        .min_delay(Duration::from_millis(1))
        .max_detection_latency(Duration::from_millis(1))
        .deadline(secs(60));
    let run = wait(&policy, "x", secs(5), Report::Nothing).await;
    assert!(run.error.is_none(), "{:?}", run.error);
    assert!(run.requests() <= 5_000, "{}", run.requests());
    assert!(
        run.latency(secs(5)) <= secs(30),
        "{:?}",
        run.latency(secs(5))
    );
}
