//! `--rate-budget-url`: several `jobwait` processes sharing one rate budget through a real
//! `redis-server` (`sdk_tests::redis`), against a simulator that answers 429 past its
//! limit: no 429 while Redis is up, every wait ends when Redis dies mid-run, skewed clocks
//! do not matter, and the URL's password stays out of argv and output.

use sdk_tests::redis::RedisServer;

use super::*;

/// The simulator's Retailgrid limit, and the budget every process is given.
const LIMIT: u32 = 40;
const RATE_LIMIT: &str = "40/1s";

async fn limited_simulator() -> Simulator {
    Simulator::start(SimConfig {
        omni_token: OMNI_TOKEN.to_owned(),
        retailgrid_token: Some(RETAILGRID_TOKEN.to_owned()),
        retailgrid_rate_limit: Some((LIMIT, Duration::from_secs(1))),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// `jobwait retailgrid <ids> --json --rate-limit 40/1s` with the budget URL given by
/// `url_flag` (on the command line) or `url_env` (in JOBWAIT_RATE_BUDGET_URL).
fn fleet_cmd(
    sim: &Simulator,
    ids: &[Uuid],
    url_flag: Option<&str>,
    url_env: Option<&str>,
) -> Command {
    let mut extra = vec!["--json", "--rate-limit", RATE_LIMIT, "--timeout", "60s"];
    if let Some(url) = url_flag {
        extra.extend(["--rate-budget-url", url]);
    }
    let mut cmd = cmd(sim, "retailgrid", ids, &extra);
    if let Some(url) = url_env {
        cmd.env("JOBWAIT_RATE_BUDGET_URL", url);
    }
    cmd
}

/// The most requests the simulator received in any window of 1 s.
fn max_per_second(sim: &Simulator) -> usize {
    let mut at: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
    at.sort();
    (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| t.duration_since(at[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn throttled(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count()
}

/// `processes` × `jobs` Retailgrid jobs that succeed after `after`.
fn add_jobs(sim: &Simulator, processes: usize, jobs: usize, after: Duration) -> Vec<Vec<Uuid>> {
    (0..processes)
        .map(|_| {
            (0..jobs)
                .map(|_| sim.add_retailgrid_job(JobScript::succeed_after(after)))
                .collect()
        })
        .collect()
}

fn assert_all_succeeded(runs: &[Run], jobs: usize) {
    for run in runs {
        run.assert_code(0);
        let lines = run.json_lines();
        assert_eq!(
            lines.last().unwrap()["succeeded"],
            jobs,
            "every job detected:\n{run}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_share_one_budget_without_a_429() {
    let redis = RedisServer::start();
    let sim = limited_simulator().await;
    let batches = add_jobs(&sim, 8, 25, ms(2000));
    let url = redis.url();
    let cmds = batches
        .iter()
        .map(|ids| fleet_cmd(&sim, ids, Some(&url), None))
        .collect();
    let runs = run_all(cmds).await;
    assert_all_succeeded(&runs, 25);
    // Without the shared budget each process would pace itself to 40/s: 8 × 40 against
    // the server's 40.
    let fell_back: Vec<&Run> = runs
        .iter()
        .filter(|r| r.stderr.contains("Redis is unavailable"))
        .collect();
    assert_eq!(
        throttled(&sim),
        0,
        "processes that fell back: {fell_back:#?}"
    );
    let peak = max_per_second(&sim);
    assert!(peak <= LIMIT as usize, "{peak} requests in one second");
    assert!(sim.request_count() >= 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wait_ends_when_redis_dies_mid_run_and_comes_back() {
    let mut redis = RedisServer::start();
    let sim = limited_simulator().await;
    let batches = add_jobs(&sim, 8, 25, ms(6000));
    let url = redis.url();
    let cmds = batches
        .iter()
        .map(|ids| fleet_cmd(&sim, ids, Some(&url), None))
        .collect();
    let fleet = tokio::spawn(run_all(cmds));
    tokio::time::sleep(ms(1500)).await;
    redis.kill();
    tokio::time::sleep(ms(2500)).await;
    redis.restart();
    let runs = tokio::time::timeout(Duration::from_secs(60), fleet)
        .await
        .expect("no process hangs")
        .unwrap();
    assert_all_succeeded(&runs, 25);
    // During the outage each process falls back to 40/8 per second (the default expected
    // sharers, 8 here): together within the limit. Only the switch can overlap the
    // shared budget's last admissions with a fresh local burst (one per process).
    let throttled = throttled(&sim);
    eprintln!(
        "Redis killed for 2.5 s: {throttled} of {} requests answered 429",
        sim.request_count()
    );
    assert!(
        throttled <= 8,
        "{throttled} of {} requests answered 429",
        sim.request_count()
    );
    for run in &runs {
        let warnings = run.stderr.matches("Redis is unavailable").count();
        assert_eq!(warnings, 1, "one warning per outage:\n{run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clocks_do_not_break_the_shared_pacing() {
    let libfaketime = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or_else(|| {
        panic!("libfaketime is not installed: `apt-get install -y faketime` (CI's .ci/run does)")
    });
    let redis = RedisServer::start();
    let sim = limited_simulator().await;
    let batches = add_jobs(&sim, 4, 40, ms(1000));
    let url = redis.url();
    // Clocks an hour ahead, a day behind, and right: the budget uses Redis' clock only.
    let skews = ["+1h", "-1d", "+0", "+10m"];
    let cmds = batches
        .iter()
        .zip(skews)
        .map(|(ids, skew)| {
            let mut cmd = fleet_cmd(&sim, ids, Some(&url), None);
            cmd.env("LD_PRELOAD", libfaketime)
                .env("FAKETIME", skew)
                .env("FAKETIME_DONT_RESET", "1");
            cmd
        })
        .collect();
    let runs = run_all(cmds).await;
    assert_all_succeeded(&runs, 40);
    // The skews took effect: the processes' log timestamps are a day apart.
    let log_day = |run: &Run| {
        run.stderr
            .lines()
            .find(|l| is_log_line(l))
            .map(|l| l.chars().take(10).collect::<String>())
            .unwrap_or_default()
    };
    assert_ne!(log_day(&runs[1]), log_day(&runs[2]), "{}", runs[1]);
    assert_eq!(throttled(&sim), 0, "{}", runs[1]);
    let peak = max_per_second(&sim);
    assert!(peak <= LIMIT as usize, "{peak} requests in one second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_comes_only_from_the_environment_and_is_never_printed() {
    const PASSWORD: &str = "redis-pw-never-printed-41b7";
    let redis = RedisServer::start_with_password(PASSWORD);
    let sim = limited_simulator().await;
    let ids = [sim.add_retailgrid_job(JobScript::succeed_after(ms(300)))];

    // On the command line: refused before any request, without echoing it.
    let refused = run(fleet_cmd(&sim, &ids, Some(&redis.url()), None)).await;
    refused.assert_code(2);
    assert!(
        refused.messages().contains("JOBWAIT_RATE_BUDGET_URL"),
        "{refused}"
    );
    assert_eq!(sim.request_count(), 0);

    // Through the variable: accepted, and used (the budget's key appears).
    let ok = run(fleet_cmd(&sim, &ids, None, Some(&redis.url()))).await;
    ok.assert_code(0);
    assert_eq!(redis.keys("rate-budget:*").len(), 1, "{ok}");

    // A wrong password: Redis refuses, the wait goes on on the local fallback, and the
    // warning shows the URL redacted.
    let wrong = redis.url().replace(PASSWORD, "wrong-pw-also-secret-6c2d");
    let fallback = run(fleet_cmd(&sim, &ids, None, Some(&wrong))).await;
    fallback.assert_code(0);
    assert!(
        fallback.stderr.contains("Redis is unavailable"),
        "{fallback}"
    );
    assert!(fallback.stderr.contains("***"), "{fallback}");
    for run in [&refused, &ok, &fallback] {
        for secret in [PASSWORD, "wrong-pw-also-secret-6c2d"] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{run}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_before_any_request() {
    let sim = limited_simulator().await;
    let ids = [sim.add_retailgrid_job(JobScript::succeed_after(ms(300)))];
    // Retailgrid documents no limit: a shared budget needs one.
    let no_limit = run(cmd(
        &sim,
        "retailgrid",
        &ids,
        &["--rate-budget-url", "redis://127.0.0.1:1/0"],
    ))
    .await;
    no_limit.assert_code(2);
    assert!(no_limit.messages().contains("--rate-limit"), "{no_limit}");
    // Not a Redis URL.
    let not_redis = run(fleet_cmd(&sim, &ids, Some("http://127.0.0.1:1"), None)).await;
    not_redis.assert_code(2);
    assert!(
        not_redis.messages().contains("invalid Redis URL"),
        "{not_redis}"
    );
    assert_eq!(sim.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_value_under_the_key_is_an_error_naming_it_and_the_wait_goes_on() {
    let redis = RedisServer::start();
    let sim = limited_simulator().await;
    let ids = [sim.add_retailgrid_job(JobScript::succeed_after(ms(300)))];
    // jobwait's key for this credential: the client's fingerprint under "retailgrid".
    let client = retailgrid_sdk::Client::builder()
        .base_url(sim.retailgrid_base_url())
        .bearer_token(RETAILGRID_TOKEN)
        .build()
        .unwrap();
    let fingerprint = progenitor_client::ClientInfo::inner(&client).credential_fingerprint();
    let key = format!("rate-budget:{{retailgrid:{fingerprint}}}:tat");
    redis.command(&["SET", &key, "not-a-time"]).unwrap();
    let run = run(fleet_cmd(&sim, &ids, Some(&redis.url()), None)).await;
    run.assert_code(0);
    assert!(run.stderr.contains("ERROR"), "{run}");
    assert!(run.stderr.contains(&key), "the error names the key:\n{run}");
    // Left as found: the budget does not overwrite what is not its own.
    assert_eq!(redis.command(&["GET", &key]).unwrap().trim(), "not-a-time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_urls_are_spoken_over_tls() {
    let redis = RedisServer::start_tls();
    let sim = limited_simulator().await;
    let ids = [sim.add_retailgrid_job(JobScript::succeed_after(ms(300)))];
    let mut cmd = fleet_cmd(&sim, &ids, Some(&redis.url()), None);
    // rustls trusts the system's roots, and the file SSL_CERT_FILE names.
    cmd.env("SSL_CERT_FILE", redis.tls_ca().unwrap());
    let run = run(cmd).await;
    run.assert_code(0);
    assert!(redis.url().starts_with("rediss://"));
    assert!(!run.stderr.contains("Redis is unavailable"), "{run}");
    assert_eq!(redis.keys("rate-budget:*").len(), 1, "{run}");
}
