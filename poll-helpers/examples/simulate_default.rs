//! How many requests the default policy spends on a job that takes 60 s, and how late it
//! notices: a fake job on virtual time (no network), averaged over seeds.
//!
//! ```sh
//! cargo run -p poll-helpers --example simulate_default
//! ```

use std::time::Duration;

use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot};
use tokio::time::Instant;

#[derive(Clone, Debug)]
struct FakeJob {
    done: bool,
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

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let job_duration = Duration::from_secs(60);
    let runs = 1000u64;
    let (mut requests, mut latencies) = (Vec::new(), Vec::new());
    for seed in 0..runs {
        let start = Instant::now();
        let mut calls = 0u32;
        let result = Poller::new(PollPolicy::default().seed(seed), || {
            calls += 1;
            let done = start.elapsed() >= job_duration;
            async move { Ok::<_, FetchError>(FakeJob { done }) }
        })
        .job_id("simulated-60s-job")
        .await;
        if result.is_err() {
            eprintln!("seed {seed}: the wait did not succeed");
            std::process::exit(1);
        }
        requests.push(f64::from(calls));
        latencies.push((start.elapsed() - job_duration).as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!("default PollPolicy, one 60 s job, {runs} seeds (virtual time):");
    println!(
        "  requests per wait: mean {:.2}, min {}, max {}",
        mean(&requests),
        requests.iter().copied().fold(f64::MAX, f64::min),
        requests.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "  detection latency: mean {:.2} s, p50 {:.2} s, p95 {:.2} s, max {:.2} s",
        mean(&latencies),
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
}
