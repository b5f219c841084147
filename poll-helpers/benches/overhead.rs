//! P1: what one poll through `poll_helpers` costs on top of the bare generated request.
//!
//! Both sides send `GET /v1/jobs/{id}/status` to the same minimal axum server on
//! `127.0.0.1` (its own thread and runtime), which answers `COMPLETED` at once, through
//! the same `omni_sdk::Client`:
//!
//! - `bare_send`: `client.get_job_status().job_id(id).send().await`;
//! - `wait_for_job`: `poll_helpers::omni::wait_for_job(&client, id, &policy).await`, which
//!   sees `COMPLETED` on its first poll: one request, the policy check, the span, the
//!   classification and the `debug!`/`info!` events, formatted by a `tracing_subscriber::fmt`
//!   subscriber at DEBUG that writes to `std::io::sink`.
//!
//! Two measurements, in one run:
//! 1. criterion (`one_poll/bare_send`, `one_poll/wait_for_job`): mean time per call with
//!    its 95 % confidence interval; and `diagnostics/sleep_until_now`, what a tokio
//!    `sleep_until` of a deadline already reached costs (the poller awaits one before its
//!    first poll);
//! 2. a paired, interleaved measurement: rounds of `BATCH` calls of each side (bare,
//!    `wait_for_job`, `wait_for_job` with tracing off through a scoped no-op dispatcher,
//!    and `sleep_until(Instant::now())` followed by the bare request — the poller's
//!    request path without its bookkeeping), order rotating, so that load from other processes hits every side alike. Wall time
//!    and CPU time of the whole process (`/proc/self/task/*/schedstat`; the server's share
//!    is the same on every side) per call; the mean of the per-round differences to bare
//!    with a 95 % confidence interval, and the ratio.
//!
//! Omni's default budget (60 requests per minute per key) would cap the loop at one call
//! per second: `wait_for_job` runs with a budget attached (its acquire path is measured)
//! whose limit no loop here reaches, [`roomy`].
//!
//! `cargo bench -p poll-helpers --bench overhead`. The markdown table is printed and, when
//! `BENCH_REPORT_DIR` is set, written to `$BENCH_REPORT_DIR/overhead.md`. Without `--bench`
//! (`cargo test --benches`) each side runs once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use criterion::Criterion;
use poll_helpers::omni;
use uuid::Uuid;

/// Calls per side in one round of the paired measurement.
const BATCH: u32 = 50;
/// Rounds of the paired measurement.
const ROUNDS: usize = 250;
/// The paired measurement stops after this long even if rounds remain.
const PAIRED_TIME_LIMIT: Duration = Duration::from_secs(75);
/// Target: at most this much more per poll than the bare request.
const TARGET_US: f64 = 5.0;

const BODY: &str = r#"{"jobId":"4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf","jobType":"SCHEMA_REFRESH","status":"COMPLETED"}"#;

/// Starts the server on its own thread (current-thread runtime) and returns its address.
/// A budget attached as Omni's is, but roomy enough never to make a call wait (shared by
/// every call, as the per-key budget is).
fn roomy() -> poll_helpers::RateBudget {
    static BUDGET: std::sync::OnceLock<poll_helpers::RateBudget> = std::sync::OnceLock::new();
    BUDGET
        .get_or_init(|| poll_helpers::RateBudget::new(u32::MAX, Duration::from_secs(1)))
        .clone()
}

fn start_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = listener.local_addr().expect("local address");
    std::thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new().route(
                    "/v1/jobs/{job_id}/status",
                    get(|| async { ([(header::CONTENT_TYPE, "application/json")], BODY) }),
                );
                axum::serve(listener, app).await.expect("serve");
            });
        })
        .expect("server thread");
    addr
}

/// Criterion's output directory, found as criterion finds it.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("criterion"))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// Mean and its 95 % confidence interval (ns) from criterion's `estimates.json`.
fn criterion_mean(group: &str, bench: &str) -> Option<(f64, f64, f64)> {
    let path = criterion_dir()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let mean = &json["mean"];
    Some((
        mean["point_estimate"].as_f64()?,
        mean["confidence_interval"]["lower_bound"].as_f64()?,
        mean["confidence_interval"]["upper_bound"].as_f64()?,
    ))
}

/// Mean, and the half-width of its 95 % confidence interval (normal approximation; the
/// sample has hundreds of rounds).
fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, 1.96 * (var / n).sqrt())
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU time used so far by every thread of this process (client and server), in ns, from
/// `/proc/self/task/*/schedstat`.
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

/// One comparison of two sides: per-call means of both and the per-round difference.
struct Stat {
    base_us: f64,
    side_us: f64,
    diff_us: f64,
    diff_hw_us: f64,
    diff_median_us: f64,
}

impl Stat {
    fn new(base: &[f64], side: &[f64]) -> Stat {
        let diff: Vec<f64> = side.iter().zip(base).map(|(w, b)| w - b).collect();
        let (diff_us, diff_hw_us) = mean_ci(&diff);
        Stat {
            base_us: mean_ci(base).0,
            side_us: mean_ci(side).0,
            diff_us,
            diff_hw_us,
            diff_median_us: median(&diff),
        }
    }
}

/// The sides of a paired round.
#[derive(Clone, Copy)]
enum Side {
    /// `client.get_job_status().job_id(id).send()`.
    Bare,
    /// `omni::wait_for_job(...)`, tracing on.
    Wait,
    /// The same, tracing off (a scoped no-op dispatcher).
    WaitQuiet,
    /// `sleep_until(Instant::now())`, then the bare request: what the poller does minus
    /// its own bookkeeping.
    SleepThenBare,
}

const SIDES: [Side; 4] = [Side::Bare, Side::Wait, Side::WaitQuiet, Side::SleepThenBare];

/// Per-call wall and CPU times (µs) of each side, one entry per round.
struct Paired {
    rounds: usize,
    wall: [Vec<f64>; 4],
    cpu: [Vec<f64>; 4],
}

/// Interleaved rounds: `BATCH` calls of each side, in rotating order.
fn paired(rt: &tokio::runtime::Runtime, client: &omni_sdk::Client, id: Uuid) -> Paired {
    let policy = omni::default_policy().seed(1);
    let started = Instant::now();
    let mut wall: [Vec<f64>; 4] = Default::default();
    let mut cpu: [Vec<f64>; 4] = Default::default();
    let quiet = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    for round in 0..ROUNDS {
        if started.elapsed() > PAIRED_TIME_LIMIT {
            break;
        }
        for k in 0..SIDES.len() {
            let which = (round + k) % SIDES.len();
            let side = SIDES[which];
            let batch = async {
                for _ in 0..BATCH {
                    match side {
                        Side::Bare => {
                            let r = client.get_job_status().job_id(id).send().await.unwrap();
                            std::hint::black_box(r);
                        }
                        Side::SleepThenBare => {
                            tokio::time::sleep_until(tokio::time::Instant::now()).await;
                            let r = client.get_job_status().job_id(id).send().await.unwrap();
                            std::hint::black_box(r);
                        }
                        Side::Wait | Side::WaitQuiet => {
                            let r = omni::wait_for_job(client, id, &policy)
                                .rate_budget(roomy())
                                .await
                                .unwrap();
                            std::hint::black_box(r);
                        }
                    }
                }
            };
            let cpu0 = process_cpu_ns();
            let t = Instant::now();
            match side {
                Side::WaitQuiet => tracing::dispatcher::with_default(&quiet, || rt.block_on(batch)),
                _ => rt.block_on(batch),
            }
            wall[which].push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
            cpu[which].push((process_cpu_ns() - cpu0) as f64 / 1e3 / f64::from(BATCH));
        }
    }
    Paired {
        rounds: wall[0].len(),
        wall,
        cpu,
    }
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .init();

    let addr = start_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let client = omni_sdk::Client::builder()
        .base_url(format!("http://{addr}"))
        .bearer_token("t")
        .build()
        .expect("client");
    let id: Uuid = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf"
        .parse()
        .expect("uuid");
    let policy = omni::default_policy().seed(1);

    // Sanity: both sides see COMPLETED in one request.
    rt.block_on(async {
        let bare = client.get_job_status().job_id(id).send().await.unwrap();
        assert_eq!(
            bare.status,
            Some(omni_sdk::types::GetJobStatusResponseStatus::Completed)
        );
        let mut events = omni::wait_for_job(&client, id, &policy)
            .rate_budget(roomy())
            .into_stream();
        let mut n = 0;
        while let Some(e) = futures_util::StreamExt::next(&mut events).await {
            e.unwrap();
            n += 1;
        }
        assert_eq!(n, 1, "wait_for_job must finish after one poll");
    });

    let mut c = Criterion::default()
        .sample_size(100)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("one_poll");
        group.bench_function("bare_send", |b| {
            b.to_async(&rt)
                .iter(|| async { client.get_job_status().job_id(id).send().await.unwrap() });
        });
        group.bench_function("wait_for_job", |b| {
            b.to_async(&rt).iter(|| async {
                omni::wait_for_job(&client, id, &policy)
                    .rate_budget(roomy())
                    .await
                    .unwrap()
            });
        });
        group.finish();
        // Where the time goes: the first poll is due at once, and the poller still awaits
        // `sleep_until(next_at)`; tokio rounds timer deadlines up to the next millisecond.
        let mut group = c.benchmark_group("diagnostics");
        group.measurement_time(Duration::from_secs(4));
        group.bench_function("sleep_until_now", |b| {
            b.to_async(&rt)
                .iter(|| async { tokio::time::sleep_until(tokio::time::Instant::now()).await });
        });
        group.finish();
    }
    c.final_summary();

    if !bench_mode {
        return;
    }

    let p = paired(&rt, &client, id);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| measurement | bare `send()` | `wait_for_job` (1 poll) | difference (95 % CI) | ratio |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: |");
    if let (Some(b), Some(w)) = (
        criterion_mean("one_poll", "bare_send"),
        criterion_mean("one_poll", "wait_for_job"),
    ) {
        // Independent estimates: combine the two half-widths.
        let hw = (((b.2 - b.1) / 2.0).powi(2) + ((w.2 - w.1) / 2.0).powi(2)).sqrt();
        let _ = writeln!(
            md,
            "| criterion mean (95 % CI) | {:.1} µs [{:.1}, {:.1}] | {:.1} µs [{:.1}, {:.1}] | {:+.2} ± {:.2} µs | {:.3} |",
            b.0 / 1e3,
            b.1 / 1e3,
            b.2 / 1e3,
            w.0 / 1e3,
            w.1 / 1e3,
            w.2 / 1e3,
            (w.0 - b.0) / 1e3,
            hw / 1e3,
            w.0 / b.0
        );
    }
    // (label, base side, other side, compared with)
    let comparisons = [
        ("wall", 0, 1, "bare"),
        ("CPU", 0, 1, "bare"),
        ("wall, tracing off", 0, 2, "bare"),
        ("CPU, tracing off", 0, 2, "bare"),
        ("wall", 3, 1, "`sleep_until(now)` + bare"),
        ("CPU", 3, 1, "`sleep_until(now)` + bare"),
    ];
    for (what, base, side, against) in comparisons {
        let data = if what.starts_with("CPU") {
            &p.cpu
        } else {
            &p.wall
        };
        let st = Stat::new(&data[base], &data[side]);
        let side_name = if side == 2 {
            "`wait_for_job`, tracing off"
        } else {
            "`wait_for_job`"
        };
        let _ = writeln!(
            md,
            "| paired {what}: {side_name} vs {against} | {:.1} µs | {:.1} µs | {:+.2} ± {:.2} µs (median {:+.2}) | {:.3} |",
            st.base_us,
            st.side_us,
            st.diff_us,
            st.diff_hw_us,
            st.diff_median_us,
            st.side_us / st.base_us
        );
    }
    if let Some(z) = criterion_mean("diagnostics", "sleep_until_now") {
        let _ = writeln!(
            md,
            "| diagnostic: `tokio::time::sleep_until(Instant::now())` alone (criterion) | | {:.1} µs [{:.1}, {:.1}] | | |",
            z.0 / 1e3,
            z.1 / 1e3,
            z.2 / 1e3
        );
    }
    let _ = writeln!(
        md,
        "\n{} rounds × {BATCH} calls per side; \"base\" is the first side named, \"other\" `wait_for_job`.",
        p.rounds
    );
    for (what, data) in [("latency (wall)", &p.wall), ("CPU", &p.cpu)] {
        let st = Stat::new(&data[0], &data[1]);
        let verdict = if st.diff_us + st.diff_hw_us <= TARGET_US {
            "met (upper bound of the CI within the target)"
        } else if st.diff_us <= TARGET_US {
            "met on the mean, but the CI reaches past it"
        } else {
            "NOT met"
        };
        let own = Stat::new(&data[3], &data[1]);
        let _ = writeln!(
            md,
            "\nTarget ≤ {TARGET_US} µs per poll, {what}: **{verdict}** (vs bare: {:+.2} µs, 95 % CI [{:+.2}, {:+.2}]; of which the poller's own work, vs `sleep_until(now)` + bare: {:+.2} µs [{:+.2}, {:+.2}]).",
            st.diff_us,
            st.diff_us - st.diff_hw_us,
            st.diff_us + st.diff_hw_us,
            own.diff_us,
            own.diff_us - own.diff_hw_us,
            own.diff_us + own.diff_hw_us
        );
    }
    println!("\n{md}");
    if let Some(dir) = std::env::var_os("BENCH_REPORT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("report dir");
        std::fs::write(dir.join("overhead.md"), md).expect("write overhead.md");
    }
}
