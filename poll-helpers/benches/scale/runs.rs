//! The measured runs: real waits over HTTP and virtual waits on the paused clock, and
//! what is recorded of them.

use super::*;

/// Per-job results, allocated before the baseline.
pub(crate) struct Record {
    /// ms since t0 of the job's completion (planned).
    pub(crate) due_ms: AtomicU64,
    /// ms since t0 when the wait returned COMPLETED; u64::MAX until then.
    pub(crate) detected_ms: AtomicU64,
    pub(crate) polls: AtomicU32,
    pub(crate) failed: AtomicBool,
}

pub(crate) struct Shared {
    pub(crate) records: Vec<Record>,
    /// Requests per second since t0.
    pub(crate) buckets: Vec<AtomicU32>,
    pub(crate) requests: AtomicU64,
    pub(crate) first_answered: AtomicU64,
    /// µs since t0 of the earliest second poll due.
    pub(crate) min_second_due_us: AtomicU64,
    /// µs since t0 of the last first poll answered.
    pub(crate) last_first_us: AtomicU64,
    pub(crate) first_event_us: AtomicU64,
    pub(crate) last_event_us: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Shared {
    pub(crate) fn new(n: usize) -> Arc<Shared> {
        let shared = Shared {
            records: (0..n)
                .map(|_| Record {
                    due_ms: AtomicU64::new(0),
                    detected_ms: AtomicU64::new(u64::MAX),
                    polls: AtomicU32::new(0),
                    failed: AtomicBool::new(false),
                })
                .collect(),
            buckets: (0..400).map(|_| AtomicU32::new(0)).collect(),
            requests: AtomicU64::new(0),
            first_answered: AtomicU64::new(0),
            min_second_due_us: AtomicU64::new(u64::MAX),
            last_first_us: AtomicU64::new(0),
            first_event_us: AtomicU64::new(u64::MAX),
            last_event_us: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        };
        Arc::new(shared)
    }

    /// Records one poll event of job `i`.
    pub(crate) fn event(
        &self,
        i: usize,
        at: Duration,
        next_delay: Option<Duration>,
        completed: bool,
    ) {
        let us = u64::try_from(at.as_micros()).unwrap_or(u64::MAX);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.first_event_us.fetch_min(us, Ordering::Relaxed);
        self.last_event_us.fetch_max(us, Ordering::Relaxed);
        if let Some(b) = self
            .buckets
            .get(usize::try_from(at.as_secs()).unwrap_or(usize::MAX))
        {
            b.fetch_add(1, Ordering::Relaxed);
        }
        let polls = self.records[i].polls.fetch_add(1, Ordering::Relaxed) + 1;
        if polls == 1 {
            self.last_first_us.fetch_max(us, Ordering::Relaxed);
            if let Some(d) = next_delay {
                let due = us.saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
                self.min_second_due_us.fetch_min(due, Ordering::Relaxed);
            }
            self.first_answered.fetch_add(1, Ordering::Relaxed);
        }
        if completed {
            self.records[i].detected_ms.store(
                u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
    }

    pub(crate) fn end(&self, i: usize, ok: bool) {
        if !ok {
            self.records[i].failed.store(true, Ordering::Relaxed);
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one child reports, as `key=value` pairs on a `RESULT` line.
pub(crate) type Report = BTreeMap<String, String>;

pub(crate) fn put(r: &mut Report, k: &str, v: impl std::fmt::Display) {
    r.insert(k.to_owned(), v.to_string());
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The figures common to both modes, once every wait ended.
pub(crate) fn summarize(r: &mut Report, shared: &Shared, n: usize) {
    let requests = shared.requests.load(Ordering::Relaxed);
    let first = shared.first_event_us.load(Ordering::Relaxed);
    let last = shared.last_event_us.load(Ordering::Relaxed);
    let span_s = last.saturating_sub(first) as f64 / 1e6;
    let peak = shared
        .buckets
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let mut latencies = Vec::with_capacity(n);
    let mut detected = 0usize;
    let mut early = 0usize;
    for rec in &shared.records {
        let d = rec.detected_ms.load(Ordering::Relaxed);
        let due = rec.due_ms.load(Ordering::Relaxed);
        if d != u64::MAX && !rec.failed.load(Ordering::Relaxed) {
            detected += 1;
            if d + 5 < due {
                early += 1;
            }
            latencies.push(d.saturating_sub(due));
        }
    }
    latencies.sort_unstable();
    let zero = shared
        .records
        .iter()
        .filter(|rec| rec.polls.load(Ordering::Relaxed) == 0)
        .count();
    put(r, "zero_polls", zero);
    let mean = latencies.iter().sum::<u64>() as f64 / latencies.len().max(1) as f64;
    put(r, "latency_mean_ms", format!("{mean:.0}"));
    put(r, "requests", requests);
    put(
        r,
        "requests_per_wait",
        format!("{:.2}", requests as f64 / n as f64),
    );
    put(r, "span_s", format!("{span_s:.1}"));
    put(
        r,
        "rps_mean",
        format!("{:.0}", requests as f64 / span_s.max(1e-9)),
    );
    put(r, "rps_peak_1s", peak);
    put(r, "detected", detected);
    put(r, "detected_early", early);
    put(r, "errors", shared.errors.load(Ordering::Relaxed));
    put(r, "latency_p50_ms", percentile(&latencies, 0.5));
    put(r, "latency_p99_ms", percentile(&latencies, 0.99));
    put(r, "latency_max_ms", latencies.last().copied().unwrap_or(0));
}

/// Resets `VmHWM` to the current RSS; returns the baseline RSS (kB).
pub(crate) fn baseline_kb() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_kb("VmRSS")
}

// ---------------------------------------------------------------------------------------
// Real child: `--child real <n> <port> <stagger_ms>`.

/// `budget`: `Some(deadline)` to keep Omni's default budget (one 60/min budget for the
/// key, as `omni::wait_for_job` attaches) with that deadline; `None` for the engine alone
/// (`without_rate_budget`, a server without a limit) with the 90 s deadline.
pub(crate) fn real(n: usize, port: u16, stagger: Duration, budget: Option<Duration>) -> Report {
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let client: &'static omni_sdk::Client = Box::leak(Box::new(
            omni_sdk::Client::builder()
                .base_url(format!("http://127.0.0.1:{port}"))
                .bearer_token("t")
                .build()
                .expect("client"),
        ));
        let shared = Shared::new(n);
        let plan = job_plan(n, stagger);
        // Warm-up: one request (a job due at the epoch: COMPLETED).
        client
            .get_job_status()
            .job_id(Uuid::from_u128(1))
            .send()
            .await
            .expect("warm-up request");

        let cpu_start = process_cpu_ns();
        let base_kb = baseline_kb();
        let t0 = Instant::now();
        let t0_unix = unix_ms();
        let policy = match budget {
            Some(deadline) => policy().deadline(deadline),
            None => policy(),
        };
        for (i, &(offset, duration)) in plan.iter().enumerate() {
            let shared = Arc::clone(&shared);
            let policy = policy.clone();
            shared.records[i]
                .due_ms
                .store(offset + duration, Ordering::Relaxed);
            let due_unix = t0_unix + offset + duration;
            let id = Uuid::from_u128((u128::from(due_unix) << 64) | i as u128);
            tokio::spawn(async move {
                tokio::time::sleep_until(t0 + Duration::from_millis(offset)).await;
                let wait = omni::wait_for_job(client, id, &policy);
                let wait = if budget.is_some() {
                    wait
                } else {
                    wait.without_rate_budget()
                };
                let mut events = wait.into_stream();
                let mut ok = false;
                while let Some(event) = events.next().await {
                    let at = t0.elapsed();
                    match event {
                        Ok(e) => {
                            let completed = e.next_delay.is_none()
                                && e.outcome.as_ref().is_ok_and(|s| {
                                    s.status
                                        == Some(
                                            omni_sdk::types::GetJobStatusResponseStatus::Completed,
                                        )
                                });
                            ok = completed;
                            shared.event(i, at, e.next_delay, completed);
                        }
                        Err(e) => {
                            if budget.is_none() {
                                eprintln!("job {i}: {e}");
                            }
                            break;
                        }
                    }
                }
                shared.end(i, ok);
            });
        }

        let mut r = Report::new();
        let (mut max_rss, mut max_fds) = (base_kb, 0u64);
        let mut idle_done = false;
        let mut tick = 0u64;
        while shared.finished.load(Ordering::Relaxed) < n as u64 && t0.elapsed() < CHILD_TIME_LIMIT
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tick += 1;
            max_rss = max_rss.max(status_kb("VmRSS"));
            if tick.is_multiple_of(5) {
                max_fds = max_fds.max(open_fds());
            }
            if !idle_done && shared.first_answered.load(Ordering::Relaxed) == n as u64 {
                idle_done = true;
                max_fds = max_fds.max(open_fds());
                measure_idle(&mut r, &shared, t0).await;
            }
        }
        let cpu_total = process_cpu_ns() - cpu_start;
        put(&mut r, "mode", "real");
        put(&mut r, "budget", budget.is_some());
        put(&mut r, "deadline_s", policy.get_deadline().as_secs());
        put(&mut r, "n", n);
        put(
            &mut r,
            "wall_s",
            format!("{:.1}", t0.elapsed().as_secs_f64()),
        );
        put(&mut r, "base_kb", base_kb);
        put(&mut r, "hwm_kb", status_kb("VmHWM"));
        put(&mut r, "max_rss_kb", max_rss);
        put(&mut r, "max_fds", max_fds);
        put(
            &mut r,
            "cpu_total_s",
            format!("{:.2}", cpu_total as f64 / 1e9),
        );
        summarize(&mut r, &shared, n);
        put(
            &mut r,
            "cpu_us_per_request",
            format!(
                "{:.1}",
                cpu_total as f64 / 1e3 / shared.requests.load(Ordering::Relaxed).max(1) as f64
            ),
        );
        r
    })
}

/// CPU of the process over the window after every first poll was answered and before the
/// earliest second poll is due, if that window is at least 300 ms long.
pub(crate) async fn measure_idle(r: &mut Report, shared: &Shared, t0: Instant) {
    let last_first = Duration::from_micros(shared.last_first_us.load(Ordering::Relaxed));
    let second = Duration::from_micros(shared.min_second_due_us.load(Ordering::Relaxed));
    let start = last_first.max(t0.elapsed()) + Duration::from_millis(100);
    let end = second.saturating_sub(Duration::from_millis(50));
    if end < start + Duration::from_millis(300) {
        put(r, "idle_window_ms", 0);
        return;
    }
    tokio::time::sleep_until(t0 + start).await;
    let (cpu0, req0, w0) = (
        process_cpu_ns(),
        shared.requests.load(Ordering::Relaxed),
        std::time::Instant::now(),
    );
    tokio::time::sleep_until(t0 + end).await;
    let (cpu1, req1, window) = (
        process_cpu_ns(),
        shared.requests.load(Ordering::Relaxed),
        w0.elapsed(),
    );
    put(r, "idle_window_ms", window.as_millis());
    put(r, "idle_requests", req1 - req0);
    put(
        r,
        "idle_cpu_pct",
        format!(
            "{:.3}",
            (cpu1 - cpu0) as f64 / 1e9 / window.as_secs_f64() * 100.0
        ),
    );
}

// ---------------------------------------------------------------------------------------
// Virtual child: `--child virtual <n>`.

#[derive(Clone, Debug)]
pub(crate) struct FakeJob {
    pub(crate) done: bool,
}

impl Snapshot for FakeJob {
    fn phase(&self) -> Phase {
        if self.done {
            Phase::Succeeded
        } else {
            Phase::Pending
        }
    }
}

/// `budget` as for [`real`]; with a budget, the fake server also enforces Omni's limit
/// (more than 60 requests in the last 60 s: a 429 with `Retry-After`), and counts them.
pub(crate) fn virtual_run(n: usize, stagger: Duration, budget: Option<Duration>) -> Report {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let shared = Shared::new(n);
        let plan = job_plan(n, stagger);
        let cpu_start = process_cpu_ns();
        let wall = std::time::Instant::now();
        let base_kb = baseline_kb();
        let t0 = Instant::now();
        let policy = match budget {
            Some(deadline) => policy().deadline(deadline),
            None => policy(),
        };
        let shared_budget = poll_helpers::RateBudget::per_minute(omni::RATE_LIMIT_PER_MINUTE);
        let limiter = Arc::new(OmniLimit::default());
        for (i, &(offset, duration)) in plan.iter().enumerate() {
            let shared = Arc::clone(&shared);
            let policy = policy.clone();
            let shared_budget = shared_budget.clone();
            let limiter = Arc::clone(&limiter);
            shared.records[i]
                .due_ms
                .store(offset + duration, Ordering::Relaxed);
            let due = t0 + Duration::from_millis(offset + duration);
            tokio::spawn(async move {
                tokio::time::sleep_until(t0 + Duration::from_millis(offset)).await;
                let job = Uuid::from_u128(i as u128).to_string();
                let limited = budget.is_some();
                let poller = Poller::new(policy, move || {
                    let now = Instant::now();
                    let answer = if limited && !limiter.admit(now) {
                        Err(FetchError::from_status(429, "rate limited")
                            .with_retry_after(Some(Duration::from_secs(1))))
                    } else {
                        Ok(FakeJob { done: now >= due })
                    };
                    async move { answer }
                })
                .job_id(job)
                .kind("omni schema refresh")
                .min_interval(omni::MIN_POLL_INTERVAL);
                let poller = if limited {
                    poller.rate_budget(shared_budget)
                } else {
                    poller
                };
                let mut events = poller.into_stream();
                let mut ok = false;
                while let Some(event) = events.next().await {
                    let at = t0.elapsed();
                    match event {
                        Ok(e) => {
                            let completed =
                                e.next_delay.is_none() && e.outcome.as_ref().is_ok_and(|s| s.done);
                            ok = completed;
                            shared.event(i, at, e.next_delay, completed);
                        }
                        Err(_) => break,
                    }
                }
                shared.end(i, ok);
            });
        }
        let mut max_rss = base_kb;
        while shared.finished.load(Ordering::Relaxed) < n as u64
            && wall.elapsed() < CHILD_TIME_LIMIT
        {
            // Virtual seconds: the clock jumps while every task sleeps.
            tokio::time::sleep(Duration::from_millis(500)).await;
            max_rss = max_rss.max(status_kb("VmRSS"));
        }
        let mut r = Report::new();
        put(&mut r, "mode", "virtual");
        put(&mut r, "budget", budget.is_some());
        put(&mut r, "deadline_s", policy.get_deadline().as_secs());
        if budget.is_some() {
            put(&mut r, "http_429", limiter.rejected.load(Ordering::Relaxed));
        }
        put(&mut r, "n", n);
        put(
            &mut r,
            "wall_s",
            format!("{:.2}", wall.elapsed().as_secs_f64()),
        );
        put(
            &mut r,
            "virtual_s",
            format!("{:.1}", t0.elapsed().as_secs_f64()),
        );
        put(&mut r, "base_kb", base_kb);
        put(&mut r, "hwm_kb", status_kb("VmHWM"));
        put(&mut r, "max_rss_kb", max_rss);
        let cpu_total = process_cpu_ns() - cpu_start;
        put(
            &mut r,
            "cpu_total_s",
            format!("{:.2}", cpu_total as f64 / 1e9),
        );
        summarize(&mut r, &shared, n);
        put(
            &mut r,
            "cpu_us_per_request",
            format!(
                "{:.1}",
                cpu_total as f64 / 1e3 / shared.requests.load(Ordering::Relaxed).max(1) as f64
            ),
        );
        r
    })
}

/// Omni's limit as a server enforces it: at most 60 requests in any 60 s.
#[derive(Default)]
pub(crate) struct OmniLimit {
    sent: std::sync::Mutex<std::collections::VecDeque<Instant>>,
    pub(crate) rejected: AtomicU64,
}

impl OmniLimit {
    fn admit(&self, now: Instant) -> bool {
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            sent.pop_front();
        }
        if sent.len() >= omni::RATE_LIMIT_PER_MINUTE as usize {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        sent.push_back(now);
        true
    }
}

pub(crate) fn print_report(r: &Report) {
    let line: Vec<String> = r.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
}

// ---------------------------------------------------------------------------------------
// Orchestrator.
