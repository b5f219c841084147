//! P2: many concurrent waits in one process — memory, idle CPU, request rate, detection.
//!
//! `cargo bench -p poll-helpers --bench scale` runs each scenario in a child process of
//! this binary (so that each has its own peak RSS) against a server in another child
//! process (so that the server's memory and CPU are not counted):
//!
//! | scenario | what |
//! | --- | --- |
//! | `real 1000`, `real 10000` (three runs) | that many `poll_helpers::omni::wait_for_job` waits, started over the first 2 s (jobs are submitted over time), one shared `omni_sdk::Client` (pooled HTTP/1 connections), real time |
//! | `real 10000 burst` | the same 10,000 waits all started in the same instant: worst case for connections |
//! | `virtual 10000`, `virtual 100000` | `Poller`s with the same policy and floor over a fake fetcher (no HTTP), on tokio's paused clock |
//! | `real-1000-budget-90s`, `virtual-1000-budget-90s` | 1,000 waits with Omni's default budget on (one 60/min budget for the key), 90 s deadline |
//! | `virtual-1000-budget` | Omni's contract: 1,000 waits on one key at 60/min, a 30 min deadline (enough for all), on the paused clock, the fake server answering 429 beyond 60 requests in 60 s |
//!
//! The other rows run without the budget (`without_rate_budget`): the engine alone.
//!
//! Jobs complete 5–30 s after submission (seeded, uniform). The server is stateless: a
//! job's completion time (Unix ms) is carried in the high 64 bits of its UUID, and it
//! answers `RUNNING` before it and `COMPLETED` from it on.
//!
//! Policy: first poll at once, then 4 s growing ×1.5 to 8 s, 20 % jitter, 90 s deadline,
//! Omni's 1 s floor (the adapter's), seeded. Each real run lasts about 40 s.
//!
//! Measured in each child: RSS before the waits start (after the client, the runtime, the
//! bookkeeping and one warm-up request), then the peak (`VmHWM`, reset at the baseline
//! through `/proc/self/clear_refs`; and the largest sampled `VmRSS`); CPU of the whole
//! process (`/proc/self/task/*/schedstat`, ns) over a window where no poll is due (after
//! every first poll was answered, before the earliest second poll); requests (one per
//! poll event), their mean and peak (1 s) rate; open file descriptors (≈ sockets); and
//! that every job is seen `COMPLETED`, with the delay from its completion to its
//! detection.
//!
//! The markdown table is printed and, when `BENCH_REPORT_DIR` is set, written to
//! `$BENCH_REPORT_DIR/scale.md`. Without `--bench` (`cargo test --benches`) only a
//! 1,000-wait virtual run is done, in-process.
//!
//! One scenario alone: `cargo bench -p poll-helpers --bench scale -- --only real-10000`
//! (names: `real-1000`, `real-10000`, `real-10000-burst`, `virtual-10000`,
//! `virtual-100000`).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use poll_helpers::{FetchError, Phase, PollPolicy, Poller, Snapshot, omni};
use tokio::time::Instant;
use uuid::Uuid;

/// Seed of the job mix and of the policy's jitter.
const SEED: u64 = 0x5ca1e;
/// Waits start spread over this window (the non-burst scenarios).
const STAGGER: Duration = Duration::from_secs(2);
/// Jobs complete this long after submission, uniformly.
const DURATION_MIN_MS: u64 = 5_000;
const DURATION_MAX_MS: u64 = 30_000;
/// The deadline of the Omni-contract row: 1,000 waits at 60/min need at least 1,000 / 54
/// per minute ≈ 18.5 min of budget; 30 min leaves room for the jobs' own durations.
const BUDGET_DEADLINE_S: u64 = 30 * 60;
/// Hard bound on one child's run.
const CHILD_TIME_LIMIT: Duration = Duration::from_secs(150);
/// Targets (10,000 real waits).
const TARGET_RSS_MB: f64 = 30.0;
const TARGET_IDLE_CPU_PCT: f64 = 5.0;

fn policy() -> PollPolicy {
    PollPolicy::default()
        .min_delay(Duration::from_secs(4))
        .max_delay(Duration::from_secs(8))
        .multiplier(1.5)
        .jitter(0.2)
        .deadline(Duration::from_secs(90))
        .seed(SEED)
}

/// SplitMix64: the seeded job mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// (start offset, duration) in ms of job `i`, for `n` jobs.
fn job_plan(n: usize, stagger: Duration) -> Vec<(u64, u64)> {
    let mut rng = Rng(SEED);
    let stagger_ms = u64::try_from(stagger.as_millis()).unwrap_or(u64::MAX);
    (0..n)
        .map(|_| {
            let offset = rng.below(stagger_ms);
            let duration = DURATION_MIN_MS + rng.below(DURATION_MAX_MS - DURATION_MIN_MS + 1);
            (offset, duration)
        })
        .collect()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A field of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time of every thread of this process, ns (`/proc/self/task/*/schedstat`).
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(20_000) {
        eprintln!("warning: cannot raise the open file limit: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// Server child: `--serve`.

mod runs;
mod server;

use runs::*;
use server::*;

struct Scenario {
    name: &'static str,
    args: Vec<String>,
}

fn scenarios() -> Vec<Scenario> {
    let stagger = STAGGER.as_millis().to_string();
    let real = |n: &str, stagger: &str| {
        vec![
            "real".to_owned(),
            n.to_owned(),
            "PORT".to_owned(),
            stagger.to_owned(),
        ]
    };
    vec![
        Scenario {
            name: "real-1000",
            args: real("1000", &stagger),
        },
        // Three times: its peak RSS depends on how many connections the pool opens, which
        // follows how loaded the machine is.
        Scenario {
            name: "real-10000",
            args: real("10000", &stagger),
        },
        Scenario {
            name: "real-10000",
            args: real("10000", &stagger),
        },
        Scenario {
            name: "real-10000",
            args: real("10000", &stagger),
        },
        Scenario {
            name: "real-10000-burst",
            args: real("10000", "0"),
        },
        // Omni's default budget on (one 60/min budget for the key): with the 90 s deadline
        // of the rows above, and with one long enough for every job (on virtual time).
        Scenario {
            name: "real-1000-budget-90s",
            args: {
                let mut a = real("1000", &stagger);
                a.push("90".into());
                a
            },
        },
        Scenario {
            name: "virtual-1000-budget-90s",
            args: vec![
                "virtual".into(),
                "1000".into(),
                stagger.clone(),
                "90".into(),
            ],
        },
        Scenario {
            name: "virtual-1000-budget",
            args: vec![
                "virtual".into(),
                "1000".into(),
                stagger.clone(),
                BUDGET_DEADLINE_S.to_string(),
            ],
        },
        Scenario {
            name: "virtual-10000",
            args: vec!["virtual".into(), "10000".into(), stagger.clone()],
        },
        Scenario {
            name: "virtual-100000",
            args: vec!["virtual".into(), "100000".into(), stagger.clone()],
        },
    ]
}

fn start_server(exe: &PathBuf) -> (Child, u16) {
    let mut server = Command::new(exe)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server child");
    let stdout = server.stdout.take().expect("server stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("server port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .expect("PORT line");
    (server, port)
}

/// Runs one child to completion (bounded by `CHILD_TIME_LIMIT` + 30 s) and parses its
/// `RESULT` line.
fn run_child(exe: &PathBuf, args: &[String]) -> Option<Report> {
    let mut child = Command::new(exe)
        .arg("--child")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a child");
    let stdout = child.stdout.take().expect("child stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("RESULT ").map(str::to_owned))
    });
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > CHILD_TIME_LIMIT + Duration::from_secs(30) => {
                eprintln!("child {args:?} ran too long; killing it");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => return None,
        }
    }
    let line = reader.join().ok()??;
    Some(
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

fn get(r: &Report, k: &str) -> String {
    r.get(k).cloned().unwrap_or_else(|| "–".into())
}

fn num(r: &Report, k: &str) -> f64 {
    r.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn table(results: &[(&str, Report)]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| scenario | Omni budget (deadline) | waits | wall | requests (per wait) | req/s mean (peak 1 s) | RSS baseline | peak RSS above baseline (per wait) | ratio peak/baseline | open fds peak | idle CPU (window) | CPU per request | detected | zero-poll waits | 429s | detection delay mean / p50 / p99 / max |"
    );
    let _ = writeln!(
        md,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (i, (name, r)) in results.iter().enumerate() {
        let same = results.iter().filter(|(n, _)| n == name).count();
        let name = if same > 1 {
            let k = results[..=i].iter().filter(|(n, _)| n == name).count();
            format!("{name} (run {k}/{same})")
        } else {
            (*name).to_owned()
        };
        let n = num(r, "n");
        let base = num(r, "base_kb");
        let peak = num(r, "hwm_kb").max(num(r, "max_rss_kb"));
        let extra_mb = (peak - base) / 1024.0;
        let wall = if r.get("mode").map(String::as_str) == Some("virtual") {
            format!("{} s ({} s virtual)", get(r, "wall_s"), get(r, "virtual_s"))
        } else {
            format!("{} s", get(r, "wall_s"))
        };
        let idle = match r.get("idle_cpu_pct") {
            Some(p) => format!(
                "{p} % ({} ms, {} requests)",
                get(r, "idle_window_ms"),
                get(r, "idle_requests")
            ),
            None if r.get("mode").map(String::as_str) == Some("real") => {
                "no idle window".to_owned()
            }
            None => "n/a".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {name} | {} | {n} | {wall} | {} ({}) | {} ({}) | {:.1} MB | {:.1} MB ({:.2} KB) | {:.2} | {} | {idle} | {} µs | {} / {n}{} | {} | {} | {} / {} / {} / {} ms |",
            if get(r, "budget") == "true" {
                format!("on, 60/min ({} s)", get(r, "deadline_s"))
            } else {
                format!("off ({} s)", get(r, "deadline_s"))
            },
            get(r, "requests"),
            get(r, "requests_per_wait"),
            get(r, "rps_mean"),
            get(r, "rps_peak_1s"),
            base / 1024.0,
            extra_mb,
            (peak - base) / n,
            peak / base,
            get(r, "max_fds"),
            get(r, "cpu_us_per_request"),
            get(r, "detected"),
            match (num(r, "errors"), num(r, "detected_early")) {
                (e, d) if e == 0.0 && d == 0.0 => String::new(),
                (e, d) => format!(" ({e} errors, {d} early)"),
            },
            get(r, "zero_polls"),
            get(r, "http_429"),
            get(r, "latency_mean_ms"),
            get(r, "latency_p50_ms"),
            get(r, "latency_p99_ms"),
            get(r, "latency_max_ms"),
        );
    }
    let runs: Vec<&Report> = results
        .iter()
        .filter(|(name, _)| *name == "real-10000")
        .map(|(_, r)| r)
        .collect();
    if !runs.is_empty() {
        let mut extra: Vec<f64> = runs
            .iter()
            .map(|r| (num(r, "hwm_kb").max(num(r, "max_rss_kb")) - num(r, "base_kb")) / 1024.0)
            .collect();
        extra.sort_by(f64::total_cmp);
        let median_mb = extra[extra.len() / 2];
        let worst_mb = extra[extra.len() - 1];
        let idle = runs
            .iter()
            .map(|r| num(r, "idle_cpu_pct"))
            .fold(f64::NAN, f64::max);
        let all = runs.iter().all(|r| num(r, "detected") == num(r, "n"));
        let _ = writeln!(
            md,
            "\nTargets (real-10000, {} runs): ≤ {TARGET_RSS_MB} MB extra RSS: **{}** (median {median_mb:.1} MB, worst {worst_mb:.1} MB); ≤ {TARGET_IDLE_CPU_PCT} % of one core while idle: **{}** (worst {}); every job detected: **{}**.",
            runs.len(),
            if worst_mb <= TARGET_RSS_MB {
                "met"
            } else if median_mb <= TARGET_RSS_MB {
                "met on the median, NOT in every run"
            } else {
                "NOT met"
            },
            if idle <= TARGET_IDLE_CPU_PCT {
                "met"
            } else if idle.is_nan() {
                "not measured"
            } else {
                "NOT met"
            },
            if idle.is_nan() {
                "no idle window".to_owned()
            } else {
                format!("{idle:.3} %")
            },
            if all { "yes" } else { "NO" },
        );
    }
    md
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve") => return serve(),
        Some("--child") => {
            let n: usize = args.get(2).and_then(|a| a.parse().ok()).expect("n");
            let report = match args.get(1).map(String::as_str) {
                Some("real") => {
                    let port = args.get(3).and_then(|a| a.parse().ok()).expect("port");
                    let stagger = args.get(4).and_then(|a| a.parse().ok()).expect("stagger");
                    let budget = args.get(5).and_then(|a| a.parse().ok());
                    real(
                        n,
                        port,
                        Duration::from_millis(stagger),
                        budget.map(Duration::from_secs),
                    )
                }
                Some("virtual") => {
                    let stagger = args.get(3).and_then(|a| a.parse().ok()).expect("stagger");
                    let budget = args.get(4).and_then(|a| a.parse().ok());
                    virtual_run(
                        n,
                        Duration::from_millis(stagger),
                        budget.map(Duration::from_secs),
                    )
                }
                other => {
                    eprintln!("unknown child mode {other:?}");
                    std::process::exit(2);
                }
            };
            return print_report(&report);
        }
        _ => {}
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches`: a quick smoke run only.
        let r = virtual_run(1000, STAGGER, None);
        print_report(&r);
        assert_eq!(get(&r, "detected"), "1000");
        return;
    }
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();

    raise_fd_limit();
    let exe = std::env::current_exe().expect("current exe");
    let (mut server, port) = start_server(&exe);
    let mut results = Vec::new();
    for s in scenarios() {
        if only.as_deref().is_some_and(|o| o != s.name) {
            continue;
        }
        let args: Vec<String> = s
            .args
            .iter()
            .map(|a| {
                if a == "PORT" {
                    port.to_string()
                } else {
                    a.clone()
                }
            })
            .collect();
        eprintln!("scale: running {} ...", s.name);
        match run_child(&exe, &args) {
            Some(r) => {
                eprintln!("scale: {} done: {r:?}", s.name);
                results.push((s.name, r));
            }
            None => eprintln!("scale: {} failed", s.name),
        }
    }
    drop(server.stdin.take());
    let _ = server.kill();
    let _ = server.wait();

    let md = table(&results);
    println!("\n{md}");
    if let Some(dir) = std::env::var_os("BENCH_REPORT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("report dir");
        std::fs::write(dir.join("scale.md"), md).expect("write scale.md");
    }
}
