//! The saturated scenario: more waits than one Omni key's budget can poll at the pace
//! they ask for, so the budget decides who polls.
//!
//! Mixed Omni jobs (half schema refreshes, half AI jobs, the mixes' distributions) arrive
//! steadily at 0.6 per second for 30 minutes (1,080 jobs) and share one 60-per-minute
//! [`RateBudget`] (a burst of 6, then one request every 60/54 s: 0.9 per second, about
//! 1.5 polls per job). Compared, on virtual time with the same admissions:
//!
//! - **round-robin**: each admission goes to the pending wait polled longest ago (a wait
//!   not polled yet counts from its arrival), never the same job twice within Omni's 1 s;
//! - **ours**: real `Poller`s with `omni::default_policy()` and the Omni adapters' 1 s
//!   floor on the shared budget (first polls in arrival order, later polls by likelihood
//!   of completion, aging bound), with learned durations as the adapters attach them:
//!   *cold* (every wait has only the cold-start prior, as a one-job `jobwait` does) and
//!   *warm* (per-kind models that already learned 256 jobs of each kind, as a
//!   long-running service's have); and, for information, *cold start* (one model per
//!   kind from the prior, learning from the run's jobs as they finish: what one process
//!   running all these waits with the adapters' defaults gets). The deadline is raised to
//!   2 h so that no wait ends before its job is seen.
//!
//! Latency is from the job finishing to the poll that sees it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use poll_helpers::{DurationModel, FetchError, PollPolicy, Poller, RateBudget, omni};
use tokio::time::Instant;

use super::{Job, Rng};

const ARRIVALS_PER_S: f64 = 0.6;
const RUN_S: f64 = 30.0 * 60.0;

/// One job of the scenario: arrival and duration (s), and whether it is an AI job.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    at: f64,
    duration: f64,
    ai: bool,
}

fn draw(rng: &mut Rng, ai: bool) -> f64 {
    if ai {
        rng.uniform(5.0, 90.0)
    } else {
        rng.lognormal(20.0, 0.6)
    }
}

fn arrivals() -> Vec<Arrival> {
    let mut rng = Rng(0x5a7);
    let n = (RUN_S * ARRIVALS_PER_S) as usize;
    (0..n)
        .map(|i| {
            let ai = rng.unit() < 0.5;
            Arrival {
                at: i as f64 / ARRIVALS_PER_S,
                duration: draw(&mut rng, ai),
                ai,
            }
        })
        .collect()
}

/// Mean, p50, p95 of detection latencies, and requests per job.
#[derive(Clone, Debug)]
pub(crate) struct Figures {
    pub(crate) name: String,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) requests: f64,
    pub(crate) jobs: usize,
}

fn figures(name: &str, latencies: &mut [f64], requests: usize) -> Figures {
    latencies.sort_by(f64::total_cmp);
    let n = latencies.len().max(1);
    let q = |q: f64| {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        latencies.get(rank - 1).copied().unwrap_or(f64::NAN)
    };
    Figures {
        name: name.into(),
        mean: latencies.iter().sum::<f64>() / n as f64,
        p50: q(0.5),
        p95: q(0.95),
        requests: requests as f64 / n as f64,
        jobs: latencies.len(),
    }
}

/// Round-robin on the budget's admissions (the same GCRA as `RateBudget::per_minute(60)`).
fn round_robin(jobs: &[Arrival]) -> Figures {
    let interval = 60.0 / 54.0;
    let tolerance = 5.0 * interval; // a burst of 6
    let mut tat = 0.0_f64;
    let mut last_poll: Vec<f64> = jobs.iter().map(|j| j.at).collect();
    let mut pending: Vec<usize> = Vec::new();
    let mut next_arrival = 0usize;
    let mut latencies = Vec::new();
    let mut requests = 0usize;
    let mut t = 0.0_f64;
    loop {
        while next_arrival < jobs.len() && jobs[next_arrival].at <= t {
            pending.push(next_arrival);
            next_arrival += 1;
        }
        // Pending waits that Omni's 1 s floor lets poll now.
        let ready = pending
            .iter()
            .enumerate()
            .filter(|&(_, &j)| last_poll[j] == jobs[j].at || t - last_poll[j] >= 1.0)
            .min_by(|a, b| last_poll[*a.1].total_cmp(&last_poll[*b.1]));
        let admit_at = (tat - tolerance).max(t);
        match ready {
            Some((k, &j)) if admit_at <= t => {
                tat = tat.max(t) + interval;
                requests += 1;
                last_poll[j] = t;
                let done_at = jobs[j].at + jobs[j].duration;
                if t >= done_at {
                    latencies.push(t - done_at);
                    pending.swap_remove(k);
                }
            }
            Some(_) => t = admit_at,
            None if next_arrival < jobs.len() || !pending.is_empty() => {
                let arrival = jobs.get(next_arrival).map_or(f64::INFINITY, |j| j.at);
                let floor = pending
                    .iter()
                    .map(|&j| last_poll[j] + 1.0)
                    .fold(f64::INFINITY, f64::min);
                t = arrival.min(floor).max(t);
            }
            None => break,
        }
    }
    figures(
        "round-robin (longest-unpolled first)",
        &mut latencies,
        requests,
    )
}

/// Which duration models the waits of [`ours`] get.
#[derive(Clone, Copy, PartialEq)]
enum Models {
    /// A fresh prior-only model for every wait.
    Cold,
    /// One model per kind from the prior, shared and learning during the run.
    ColdStart,
    /// One model per kind that already learned 256 jobs.
    Warm,
}

/// Ours: real pollers on one budget, on paused time.
fn ours(jobs: &[Arrival], mode: Models) -> Result<Figures, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let budget = RateBudget::per_minute(omni::RATE_LIMIT_PER_MINUTE);
        let models = (mode != Models::Cold).then(|| {
            let mut rng = Rng(0x3a2);
            let refresh = DurationModel::with_prior(omni::prior());
            let ai = DurationModel::with_prior(omni::prior());
            let learned = if mode == Models::Warm {
                DurationModel::DEFAULT_CAPACITY
            } else {
                0
            };
            for _ in 0..learned {
                refresh.record(Duration::from_secs_f64(draw(&mut rng, false)));
                ai.record(Duration::from_secs_f64(draw(&mut rng, true)));
            }
            (refresh, ai)
        });
        let base: PollPolicy = omni::default_policy()
            .deadline(Duration::from_secs(2 * 3600))
            .seed(0x5a7);
        let t0 = Instant::now();
        let results = Arc::new(Mutex::new(Vec::<(f64, u32)>::new()));
        let mut handles = Vec::new();
        for (i, job) in jobs.iter().copied().enumerate() {
            let model = match &models {
                Some((refresh, ai)) => {
                    if job.ai {
                        ai.clone()
                    } else {
                        refresh.clone()
                    }
                }
                None => DurationModel::with_prior(omni::prior()),
            };
            let policy = base.clone().learn_durations(model);
            let budget = budget.clone();
            let results = Arc::clone(&results);
            handles.push(tokio::spawn(async move {
                let arrive = t0 + Duration::from_secs_f64(job.at);
                tokio::time::sleep_until(arrive).await;
                let done_at = arrive + Duration::from_secs_f64(job.duration);
                let polls = Arc::new(std::sync::atomic::AtomicU32::new(0));
                let counter = Arc::clone(&polls);
                let wait = Poller::new(policy, move || {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let done = Instant::now() >= done_at;
                    async move {
                        Ok::<_, FetchError>(Job {
                            done,
                            progress: None,
                        })
                    }
                })
                .job_id(format!("job-{i}"))
                .min_interval(omni::MIN_POLL_INTERVAL)
                .rate_budget(budget);
                let outcome = wait.await;
                let polls = polls.load(std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut r) = results.lock()
                    && outcome.is_ok()
                {
                    r.push(((Instant::now() - done_at).as_secs_f64(), polls));
                }
            }));
        }
        for h in handles {
            h.await.map_err(|e| e.to_string())?;
        }
        let r = results.lock().map_err(|e| e.to_string())?.clone();
        if r.len() != jobs.len() {
            return Err(format!("{} of {} waits succeeded", r.len(), jobs.len()));
        }
        let requests = r.iter().map(|(_, p)| *p as usize).sum();
        let mut latencies: Vec<f64> = r.iter().map(|(l, _)| *l).collect();
        let name = match mode {
            Models::Warm => "ours: default, warm (models that learned 256 jobs per kind)",
            Models::Cold => "ours: default, cold (the prior only)",
            Models::ColdStart => {
                "ours: default, cold start (one model per kind from the prior, learning during the run)"
            }
        };
        Ok(figures(name, &mut latencies, requests))
    })
}

/// The scenario's table and targets, as markdown.
pub(crate) fn run() -> Result<String, String> {
    let jobs = arrivals();
    let rr = round_robin(&jobs);
    let (cold, warm, start) = std::thread::scope(|s| {
        let cold = s.spawn(|| ours(&jobs, Models::Cold));
        let warm = s.spawn(|| ours(&jobs, Models::Warm));
        let start = s.spawn(|| ours(&jobs, Models::ColdStart));
        (
            cold.join().unwrap_or_else(|_| Err("panicked".into())),
            warm.join().unwrap_or_else(|_| Err("panicked".into())),
            start.join().unwrap_or_else(|_| Err("panicked".into())),
        )
    });
    let rows = [rr.clone(), cold?, warm?, start?];
    let mut md = format!(
        "Saturated: {} mixed Omni jobs (half schema refreshes, half AI) arriving at {ARRIVALS_PER_S}/s for 30 min on one 60/min key (0.9 admissions/s), virtual time.\n\n\
         | schedule | jobs | requests/job | mean latency (s) | p50 (s) | p95 (s) | mean vs round-robin |\n|---|---:|---:|---:|---:|---:|---:|\n",
        jobs.len()
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:+.1} % |\n",
            r.name,
            r.jobs,
            r.requests,
            r.mean,
            r.p50,
            r.p95,
            (r.mean / rr.mean - 1.0) * 100.0
        ));
    }
    md.push_str("\nTargets (≥ 20 % lower mean latency than round-robin, p95 no worse):\n\n");
    for r in &rows[1..] {
        let ok = r.mean <= 0.8 * rr.mean && r.p95 <= rr.p95;
        md.push_str(&format!(
            "- {} {}: mean {:.2} s vs {:.2} s ({:+.1} %), p95 {:.2} s vs {:.2} s\n",
            if ok { "✅" } else { "❌" },
            r.name,
            r.mean,
            rr.mean,
            (r.mean / rr.mean - 1.0) * 100.0,
            r.p95,
            rr.p95
        ));
    }
    Ok(md)
}
