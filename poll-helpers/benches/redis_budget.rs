//! P7: the rate budget held in Redis (`RateBudget::redis`, feature `redis`), against a real
//! `redis-server` that this bench starts on a free loopback port and stops itself.
//!
//! Three measurements, each with the in-process `RateBudget::new` as its baseline in the
//! same run (a ratio, because the machine is shared and noisy):
//! 1. **latency**: the wall time of one `acquire()` through Redis (one `EVALSHA` of the
//!    GCRA script on loopback) and of one in-process `acquire()`, p50 / p99 over
//!    interleaved batches (order alternating), with a limit that never binds
//!    (10,000,000 per second);
//! 2. **throughput**: acquires per second from 1, 8 and 64 concurrent tokio tasks sharing
//!    one budget handle, and from 8 and 64 tasks over 8 separate handles (8 separate
//!    `RateBudget::redis` calls, one connection each: what 8 processes do), same
//!    non-binding limit; Redis and in-process runs alternate, the median of the rounds is
//!    reported;
//! 3. **fleet pacing**: 8 processes (this binary re-executed with `--child fleet ...`),
//!    each with one `RateBudget::redis(url, "bench", 60, 60 s)` (Omni's real limit) and
//!    constant demand from 4 tasks, for `--fleet-secs` (default 300); every child prints
//!    the wall-clock time (`SystemTime`, µs) of each admission; the parent merges them
//!    and reports the largest count in any sliding window of 60 s (every window starting
//!    at an admission; must be ≤ the limit), the total over limit × minutes (≥ 0.85 when
//!    there is demand: the GCRA sustains 0.9 plus its initial burst) and the share of
//!    each process.
//!
//! Every figure checks that the admissions really went through Redis: the server's
//! `INFO commandstats` must count at least one successful script call per admission (the
//! budget silently falls back to a local one when Redis is away, which would make the
//! figures those of the fallback).
//!
//! `cargo bench -p poll-helpers --features redis --bench redis_budget` (about 6 minutes;
//! `-- --fleet-secs N` shortens the fleet run, `--fleet-secs 0` skips it). The markdown
//! tables are printed and, when `BENCH_REPORT_DIR` is set, written to
//! `$BENCH_REPORT_DIR/redis.md`. Without `--bench` (`cargo test --benches`): tiny sizes, and
//! a 4 s fleet run against 60 per 2 s, a few seconds in all.
//!
//! Needs `redis-server` on the `PATH` (Debian: `apt-get install redis-server`); without it
//! the bench stops with that message. Only 127.0.0.1 is used; every loop is bounded in
//! count and time, and a Redis that dies or hangs ends the bench with an error (never a
//! hang).
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use poll_helpers::RateBudget;

/// The limit that never binds here: 10,000,000 per second (a burst of 1,000,000, then
/// 9,000,000 per second; nothing below reaches either).
const ROOMY_LIMIT: u32 = 10_000_000;
const ROOMY_PER: Duration = Duration::from_secs(1);

/// Latency: acquires per side in one batch (sides alternate batch by batch).
const LATENCY_BATCH: usize = 100;
/// Latency: the measurement stops after this long even if batches remain.
const LATENCY_TIME_LIMIT: Duration = Duration::from_secs(120);
/// Any batch of acquires, or any throughput run, that takes longer than its share plus
/// this ends the bench with an error (Redis hung).
const STALL: Duration = Duration::from_secs(10);
/// Throughput: acquires one task may take in one run at most (bounds the loop by count).
const MAX_ACQUIRES_PER_TASK: u64 = 50_000_000;
/// Fleet: processes and the tasks of constant demand in each.
const FLEET_PROCESSES: usize = 8;
const FLEET_TASKS: usize = 4;
/// Fleet: admissions one child may record at most (bounds its loop by count).
const FLEET_MAX_ADMISSIONS: u64 = 10_000_000;

type Res<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------
// The Redis server
// ---------------------------------------------------------------------------------------

/// A `redis-server` of this bench only: a free loopback port, no persistence, killed on
/// drop.
///
/// Why not the test crate's spawner: `sdk-tests` depends on `poll-helpers`; as a
/// dev-dependency of `poll-helpers` it would build a second copy of `poll-helpers`, and
/// its `RateBudget` would be another type than the one this bench measures. A few lines
/// of `std::process` here are simpler than a shared crate for them.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Res<Self> {
        let mut last = String::new();
        // A port found free may be taken before redis binds it: a few tries.
        for _ in 0..5 {
            let port = free_port()?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        "redis-server is not installed (Debian: apt-get install redis-server); \
                         this benchmark needs a real one"
                            .to_owned()
                    } else {
                        format!("cannot start redis-server: {e}")
                    }
                })?;
            let mut server = Self { child, port };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last = format!("redis-server on port {port} exited at once ({status})");
                    break;
                }
                if command(port, &["PING"]).is_ok_and(|r| r == "PONG") {
                    return Ok(server);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if last.is_empty() {
                last = format!("redis-server on port {port} did not answer PING within 5 s");
            }
            drop(server);
        }
        Err(last)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Successful script calls (`EVALSHA` and `EVAL`) so far: one per decision of the
    /// budget (admitted or "ask again in").
    fn script_calls(&self) -> Res<u64> {
        let info = command(self.port, &["INFO", "commandstats"])?;
        let mut total = 0;
        for line in info.lines() {
            let Some(stats) = line
                .strip_prefix("cmdstat_evalsha:")
                .or_else(|| line.strip_prefix("cmdstat_eval:"))
            else {
                continue;
            };
            let field = |name: &str| -> u64 {
                stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            total += field("calls")
                .saturating_sub(field("rejected_calls"))
                .saturating_sub(field("failed_calls"));
        }
        Ok(total)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Res<u16> {
    for _ in 0..20 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("local address: {e}"))?
            .port();
        // Never the default port: another Redis may live there.
        if port != 6379 {
            return Ok(port);
        }
    }
    Err("no free loopback port".into())
}

/// One command to the server on `port` (a minimal RESP client, 2 s timeouts): the reply
/// as text (simple string, integer or bulk string), an error reply as `Err`.
fn command(port: u16, args: &[&str]) -> Res<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect to redis at {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("redis at {addr}: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(io)?;
    let line = line.trim_end();
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(format!("redis at {addr}: {rest}")),
        "$" => {
            let len: usize = rest
                .parse()
                .map_err(|_| format!("redis at {addr}: bad reply {line:?}"))?;
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body).map_err(io)?;
            body.truncate(len);
            String::from_utf8(body).map_err(|_| format!("redis at {addr}: reply is not UTF-8"))
        }
        _ => Err(format!("redis at {addr}: unexpected reply {line:?}")),
    }
}

// ---------------------------------------------------------------------------------------
// 1. Latency of one acquire
// ---------------------------------------------------------------------------------------

struct Latencies {
    redis: Vec<Duration>,
    local: Vec<Duration>,
}

/// `batches` batches of `LATENCY_BATCH` acquires per side, sides alternating (the order
/// swaps each round), each acquire timed alone.
async fn latency(redis: &RateBudget, local: &RateBudget, batches: usize) -> Res<Latencies> {
    // Warm-up: the first Redis acquire connects and loads the script.
    for b in [redis, local] {
        timed_batch(b, 200, &mut Vec::new()).await?;
    }
    let mut out = Latencies {
        redis: Vec::with_capacity(batches * LATENCY_BATCH),
        local: Vec::with_capacity(batches * LATENCY_BATCH),
    };
    let started = Instant::now();
    for round in 0..batches {
        if started.elapsed() > LATENCY_TIME_LIMIT {
            eprintln!("redis_budget: latency stopped after {round} rounds (time limit)");
            break;
        }
        if round % 2 == 0 {
            timed_batch(redis, LATENCY_BATCH, &mut out.redis).await?;
            timed_batch(local, LATENCY_BATCH, &mut out.local).await?;
        } else {
            timed_batch(local, LATENCY_BATCH, &mut out.local).await?;
            timed_batch(redis, LATENCY_BATCH, &mut out.redis).await?;
        }
    }
    Ok(out)
}

async fn timed_batch(budget: &RateBudget, n: usize, into: &mut Vec<Duration>) -> Res<()> {
    let run = async {
        for _ in 0..n {
            let t = Instant::now();
            budget.acquire().await;
            into.push(t.elapsed());
        }
    };
    tokio::time::timeout(STALL, run)
        .await
        .map_err(|_| format!("{n} acquires took more than {} s", STALL.as_secs()))
}

/// Nearest-rank percentile of sorted durations, in µs.
fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

fn mean_us(v: &[Duration]) -> f64 {
    v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len().max(1) as f64 * 1e6
}

// ---------------------------------------------------------------------------------------
// 2. Throughput
// ---------------------------------------------------------------------------------------

/// `waiters` tasks, task `i` on `handles[i % handles.len()]`, acquiring for `run`: the
/// acquires taken and their rate per second.
async fn throughput(handles: &[RateBudget], waiters: usize, run: Duration) -> Res<(u64, f64)> {
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + run;
    let mut tasks = Vec::with_capacity(waiters);
    for i in 0..waiters {
        let budget = handles[i % handles.len()].clone();
        let count = Arc::clone(&count);
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while n < MAX_ACQUIRES_PER_TASK && Instant::now() < end {
                budget.acquire().await;
                n += 1;
            }
            count.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let joined = tokio::time::timeout(run + STALL, async {
        for t in tasks {
            t.await
                .map_err(|e| format!("throughput task failed: {e}"))?;
        }
        Ok::<(), String>(())
    })
    .await;
    let elapsed = start.elapsed();
    match joined {
        Ok(r) => r?,
        Err(_) => {
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
            return Err(format!(
                "throughput run of {waiters} waiters did not end within {} s",
                (run + STALL).as_secs()
            ));
        }
    }
    let n = count.load(Ordering::Relaxed);
    Ok((n, n as f64 / elapsed.as_secs_f64()))
}

struct ThroughputRow {
    label: String,
    redis: f64,
    local: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

// ---------------------------------------------------------------------------------------
// 3. Fleet pacing
// ---------------------------------------------------------------------------------------

struct FleetConfig {
    limit: u32,
    per: Duration,
    secs: u64,
}

/// A child of the fleet: one budget held in Redis, `tasks` tasks acquiring from
/// `start_us` (µs since the epoch) for `secs`, printing `adm <µs since the epoch>` per
/// admission.
fn fleet_child(args: &[String]) -> Res<()> {
    let arg = |i: usize, what: &str| -> Res<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("child: missing {what}"))
    };
    let num = |i: usize, what: &str| -> Res<u64> {
        arg(i, what)?
            .parse()
            .map_err(|_| format!("child: bad {what}"))
    };
    let url = arg(0, "url")?.to_owned();
    let limit = u32::try_from(num(1, "limit")?).map_err(|_| "child: limit too large")?;
    let per = Duration::from_millis(num(2, "per_ms")?);
    let start_us = num(3, "start_us")?;
    let secs = num(4, "secs")?;
    let tasks = num(5, "tasks")?;
    let budget = RateBudget::redis(&url, "bench", limit, per).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("child runtime: {e}"))?;
    rt.block_on(async move {
        let until_start = Duration::from_micros(start_us.saturating_sub(now_us()));
        tokio::time::sleep(until_start.min(Duration::from_secs(30))).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let budget = budget.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..FLEET_MAX_ADMISSIONS {
                    if tokio::time::timeout_at(deadline, budget.acquire())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    println!("adm {}", now_us());
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    });
    println!("done");
    Ok(())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

struct FleetResult {
    /// Admissions per process, µs since the epoch.
    per_process: Vec<Vec<u64>>,
    start_us: u64,
    script_calls: u64,
}

fn run_fleet(server: &RedisServer, cfg: &FleetConfig) -> Res<FleetResult> {
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let calls_before = server.script_calls()?;
    // Every child starts at the same wall-clock instant, 1 s from now (process start-up
    // is not measured).
    let start_us = now_us() + 1_000_000;
    let mut children = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..FLEET_PROCESSES {
        let mut child = Command::new(&exe)
            .arg("--child")
            .arg("fleet")
            .arg(server.url())
            .arg(cfg.limit.to_string())
            .arg(cfg.per.as_millis().to_string())
            .arg(start_us.to_string())
            .arg(cfg.secs.to_string())
            .arg(FLEET_TASKS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn a fleet child: {e}"))?;
        let stdout = child.stdout.take().ok_or("child without stdout")?;
        readers.push(std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stdout).read_to_string(&mut s);
            s
        }));
        children.push(child);
    }
    // Bounded: the children end at their deadline; any still running 30 s later is
    // killed (its reader then sees the end of its output).
    let give_up = Instant::now() + Duration::from_secs(cfg.secs + 31);
    let mut failed = Vec::new();
    for (i, child) in children.iter_mut().enumerate() {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        failed.push(format!("child {i} exited with {status}"));
                    }
                    break;
                }
                Ok(None) if Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failed.push(format!("child {i} did not end in time: killed"));
                    break;
                }
            }
        }
    }
    let mut per_process = Vec::new();
    for (i, r) in readers.into_iter().enumerate() {
        let out = r
            .join()
            .map_err(|_| format!("reader of child {i} failed"))?;
        if !out.lines().any(|l| l == "done") {
            failed.push(format!("child {i} did not finish its run"));
        }
        let times: Vec<u64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("adm ")?.parse().ok())
            .collect();
        per_process.push(times);
    }
    if !failed.is_empty() {
        return Err(format!("fleet run failed: {}", failed.join("; ")));
    }
    let script_calls = server.script_calls()? - calls_before;
    Ok(FleetResult {
        per_process,
        start_us,
        script_calls,
    })
}

/// The largest number of admissions in any window `[t, t + per)` with `t` an admission,
/// and the offset of that window's start from `start_us` (µs).
fn max_window(sorted: &[u64], per_us: u64, start_us: u64) -> (usize, u64) {
    let mut best = (0, 0);
    let mut j = 0;
    for (i, &t) in sorted.iter().enumerate() {
        j = j.max(i);
        while j < sorted.len() && sorted[j] < t + per_us {
            j += 1;
        }
        if j - i > best.0 {
            best = (j - i, t.saturating_sub(start_us));
        }
    }
    best
}

// ---------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--child") {
        match args.get(1).map(String::as_str) {
            Some("fleet") => fleet_child(&args[2..]),
            other => Err(format!("unknown child mode {other:?}")),
        }
    } else {
        run(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redis_budget: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Res<()> {
    let bench_mode = args.iter().any(|a| a == "--bench");
    let fleet_secs = match args.iter().position(|a| a == "--fleet-secs") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or("--fleet-secs needs a number of seconds")?,
        None if bench_mode => 300,
        None => 4,
    };
    // Quick mode: 60 per 2 s, so that a 4 s run holds two windows.
    let fleet = FleetConfig {
        limit: 60,
        per: if bench_mode {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(2)
        },
        secs: fleet_secs,
    };
    let latency_batches = if bench_mode { 200 } else { 10 };
    let (tp_rounds, tp_run) = if bench_mode {
        (3, Duration::from_secs(1))
    } else {
        (1, Duration::from_millis(100))
    };

    let load_start = loadavg();
    let date = utc_now();
    let server = RedisServer::start()?;
    let redis_version = command(server.port, &["INFO", "server"])
        .ok()
        .and_then(|i| {
            i.lines()
                .find_map(|l| l.strip_prefix("redis_version:").map(str::to_owned))
        })
        .unwrap_or_else(|| "?".into());
    eprintln!(
        "redis_budget: redis-server {redis_version} on {}",
        server.url()
    );
    let url = server.url();
    let redis = |key: &str| RateBudget::redis(&url, key, ROOMY_LIMIT, ROOMY_PER);
    let err = |e: poll_helpers::RateBudgetError| e.to_string();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;

    // 1. Latency.
    eprintln!("redis_budget: latency ...");
    let calls0 = server.script_calls()?;
    let lat = rt.block_on(latency(
        &redis("lat").map_err(err)?,
        &RateBudget::new(ROOMY_LIMIT, ROOMY_PER),
        latency_batches,
    ))?;
    let calls = server.script_calls()? - calls0;
    through_redis(calls, lat.redis.len() as u64 + 200, "latency")?;
    let mut lr = lat.redis.clone();
    let mut ll = lat.local.clone();
    lr.sort_unstable();
    ll.sort_unstable();

    // 2. Throughput.
    let configs: [(&str, usize, usize); 5] = [
        ("1 waiter, one handle", 1, 1),
        ("8 waiters, one handle", 8, 1),
        ("64 waiters, one handle", 64, 1),
        ("8 waiters, 8 handles (1 each)", 8, 8),
        ("64 waiters, 8 handles (8 each)", 64, 8),
    ];
    let mut tp = Vec::new();
    for (k, (label, waiters, handles)) in configs.into_iter().enumerate() {
        eprintln!("redis_budget: throughput, {label} ...");
        let key = format!("tp{k}");
        // Separate `RateBudget::redis` calls: separate connections, one Redis key (the
        // budget 8 processes would share); in process: separate budgets.
        let remote: Vec<RateBudget> = (0..handles)
            .map(|_| redis(&key))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let local: Vec<RateBudget> = (0..handles)
            .map(|_| RateBudget::new(ROOMY_LIMIT, ROOMY_PER))
            .collect();
        let calls0 = server.script_calls()?;
        let (r, l, n) = rt.block_on(async {
            // Warm-up: every handle connects.
            for b in remote.iter().chain(&local) {
                timed_batch(b, 10, &mut Vec::new()).await?;
            }
            let (mut r, mut l) = (Vec::new(), Vec::new());
            let mut admitted = 10 * handles as u64;
            for round in 0..tp_rounds {
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    if side == 0 {
                        let (n, rate) = throughput(&remote, waiters, tp_run).await?;
                        admitted += n;
                        r.push(rate);
                    } else {
                        l.push(throughput(&local, waiters, tp_run).await?.1);
                    }
                }
            }
            Ok::<_, String>((r, l, admitted))
        })?;
        let calls = server.script_calls()? - calls0;
        through_redis(calls, n, label)?;
        tp.push(ThroughputRow {
            label: label.to_owned(),
            redis: median(r),
            local: median(l),
        });
    }

    // 3. Fleet.
    let fleet_result = if fleet.secs > 0 {
        eprintln!(
            "redis_budget: fleet of {FLEET_PROCESSES} processes, {} per {} s, for {} s ...",
            fleet.limit,
            fleet.per.as_secs(),
            fleet.secs
        );
        let r = run_fleet(&server, &fleet)?;
        let admissions: usize = r.per_process.iter().map(Vec::len).sum();
        through_redis(r.script_calls, admissions as u64, "fleet")?;
        Some(r)
    } else {
        None
    };
    let load_end = loadavg();
    drop(server);

    // Report.
    let mut md = String::new();
    let mut line = |s: String| {
        md.push_str(&s);
        md.push('\n');
    };
    line(format!(
        "Run of {date} UTC ({}), redis-server {redis_version} on 127.0.0.1, tokio multi-thread runtime (2 workers). \
         Load average (1/5/15 min) at start {load_start}, at the end {load_end}.",
        if bench_mode {
            "`--bench`"
        } else {
            "quick mode, tiny sizes"
        }
    ));
    line(String::new());
    line(format!(
        "Latency of one `acquire()`, limit {ROOMY_LIMIT} per second (never binds), {} acquires per side in batches of {LATENCY_BATCH}, sides alternating:",
        lat.redis.len()
    ));
    line(String::new());
    line("| budget | acquires | p50 | p99 | mean | max |".into());
    line("| --- | ---: | ---: | ---: | ---: | ---: |".into());
    for (name, v) in [
        ("`RateBudget::redis` (one `EVALSHA` on loopback)", &lr),
        ("`RateBudget::new` (in process)", &ll),
    ] {
        line(format!(
            "| {name} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
            v.len(),
            percentile_us(v, 0.50),
            percentile_us(v, 0.99),
            mean_us(v),
            v.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
        ));
    }
    line(format!(
        "| ratio Redis / in process | | {:.0} | {:.0} | {:.0} | |",
        percentile_us(&lr, 0.50) / percentile_us(&ll, 0.50),
        percentile_us(&lr, 0.99) / percentile_us(&ll, 0.99),
        mean_us(&lr) / mean_us(&ll)
    ));
    line(String::new());
    line(format!(
        "Throughput, same limit: acquires per second, median of {tp_rounds} run(s) of {} ms per side, sides alternating:",
        tp_run.as_millis()
    ));
    line(String::new());
    line("| waiters (tokio tasks) | `RateBudget::redis` | `RateBudget::new` (in process) | ratio Redis / in process |".into());
    line("| --- | ---: | ---: | ---: |".into());
    for row in &tp {
        line(format!(
            "| {} | {:.0} | {:.0} | {:.4} |",
            row.label,
            row.redis,
            row.local,
            row.redis / row.local
        ));
    }
    if let Some(r) = &fleet_result {
        let per_us = u64::try_from(fleet.per.as_micros()).unwrap_or(u64::MAX);
        let mut all: Vec<u64> = r.per_process.iter().flatten().copied().collect();
        all.sort_unstable();
        let (max_n, at) = max_window(&all, per_us, r.start_us);
        let windows = fleet.secs as f64 / fleet.per.as_secs_f64();
        let total_ratio = all.len() as f64 / (f64::from(fleet.limit) * windows);
        let after_first: usize = all.iter().filter(|&&t| t >= r.start_us + per_us).count();
        let steady = if windows > 1.0 {
            format!(
                "{:.3}",
                after_first as f64 / (f64::from(fleet.limit) * (windows - 1.0))
            )
        } else {
            "–".into()
        };
        let counts: Vec<usize> = r.per_process.iter().map(Vec::len).collect();
        let min = counts.iter().min().copied().unwrap_or(0);
        let max = counts.iter().max().copied().unwrap_or(0);
        let window_name = if fleet.per == Duration::from_secs(60) {
            "minute".to_owned()
        } else {
            format!("{} s", fleet.per.as_secs())
        };
        let windows_run = if fleet.per == Duration::from_secs(60) {
            format!("{windows} minutes")
        } else {
            format!("{windows} windows")
        };
        line(String::new());
        line(format!(
            "Fleet: {FLEET_PROCESSES} processes × {FLEET_TASKS} tasks of constant demand, each process with its own `RateBudget::redis(url, \"bench\", {}, {} s)`, for {} s; admission times from the children's wall clocks:",
            fleet.limit,
            fleet.per.as_secs(),
            fleet.secs
        ));
        line(String::new());
        line(format!(
            "| limit | admissions | max in any sliding {window_name} (ratio to limit) | total / (limit × {windows_run}) | after the first {window_name}, same ratio | per process min / max | Redis script calls per admission |"
        ));
        line("| --- | ---: | ---: | ---: | ---: | ---: | ---: |".into());
        line(format!(
            "| {} per {} s | {} | {max_n} ({:.3}; window from {:.1} s) | {total_ratio:.3} | {steady} | {min} / {max} | {:.2} |",
            fleet.limit,
            fleet.per.as_secs(),
            all.len(),
            max_n as f64 / f64::from(fleet.limit),
            at as f64 / 1e6,
            r.script_calls as f64 / all.len().max(1) as f64
        ));
        line(String::new());
        line(format!(
            "Targets: every sliding {window_name} ≤ 1.0 of the limit: **{}**; total ≥ 0.85 of the limit: **{}**.",
            if max_n <= fleet.limit as usize {
                "met"
            } else {
                "not met"
            },
            if total_ratio >= 0.85 {
                "met"
            } else {
                "not met"
            }
        ));
        line(String::new());
        line(format!(
            "Admissions per process: {}; per fixed {window_name} from the start: {}.",
            counts
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            fixed_windows(&all, r.start_us, per_us, fleet.secs)
        ));
    }
    print!("\n{md}");
    if let Some(dir) = std::env::var_os("BENCH_REPORT_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("report dir: {e}"))?;
        std::fs::write(dir.join("redis.md"), md).map_err(|e| format!("write redis.md: {e}"))?;
    }
    Ok(())
}

/// Counts per consecutive window of `per_us` from `start_us` (the last one may be
/// partial).
fn fixed_windows(sorted: &[u64], start_us: u64, per_us: u64, secs: u64) -> String {
    let n = (secs * 1_000_000).div_ceil(per_us.max(1));
    (0..n)
        .map(|k| {
            let lo = start_us + k * per_us;
            let hi = lo + per_us;
            sorted
                .iter()
                .filter(|&&t| t >= lo && t < hi)
                .count()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errs when Redis decided fewer requests than were admitted: the budget then fell back
/// to its local one for some, and the figures would not be Redis's.
fn through_redis(script_calls: u64, admitted: u64, what: &str) -> Res<()> {
    if script_calls < admitted {
        return Err(format!(
            "{what}: {admitted} admissions but only {script_calls} successful script calls in \
             Redis: the budget fell back to its local one (Redis slow or away); figures void"
        ));
    }
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `YYYY-MM-DD HH:MM` (UTC) of now, without a date crate (days to civil date, H. Hinnant).
fn utc_now() -> String {
    let secs = now_us() / 1_000_000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}
