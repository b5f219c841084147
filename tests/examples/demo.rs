//! `jobwait` against the job simulator: no credentials, nothing beyond loopback.
//!
//! ```sh
//! cargo run -p sdk-tests --example demo    # or: cargo xtask demo
//! ```
//!
//! Builds `jobwait` if needed (`$JOBWAIT_BIN` to use another binary), starts the simulator
//! (`sdk_tests::sim`) on a free loopback port, adds jobs of every kind (some succeed, one
//! fails, one is answered 429 twice on the way), runs one `jobwait` per job at the same
//! time, prints what each one prints as it comes, prefixed by its label (`|` stdout, `!`
//! stderr), then a summary: exit code, wall time, and the requests the simulator recorded
//! for each job. Exits 0 when every wait ended as its job was scripted to (the failing job
//! must exit 1), 1 otherwise.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sdk_tests::sim::{Fault, JobScript, ProgressCurve, SimConfig, Simulator};
use uuid::Uuid;

const OMNI_TOKEN: &str = "demo-omni-token";
const RETAILGRID_TOKEN: &str = "demo-retailgrid-token";

/// One `jobwait` run of the demo.
struct Wait {
    label: &'static str,
    subcommand: &'static str,
    jobs: Vec<Uuid>,
    /// Flags after the job ids.
    flags: Vec<String>,
    /// The exit code the job's script calls for.
    expected: i32,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The newest modification time of the files under `path`.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| newest(&entry.ok()?.path()))
        .max()
}

/// `$JOBWAIT_BIN`, else `<target dir>/debug/jobwait`, built first if it is missing or
/// older than its sources.
fn jobwait() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("JOBWAIT_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let root = workspace();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"));
    let bin = target
        .join("debug")
        .join(format!("jobwait{}", std::env::consts::EXE_SUFFIX));
    let sources = [
        "Cargo.toml",
        "jobwait/Cargo.toml",
        "jobwait/src",
        "poll-helpers/Cargo.toml",
        "poll-helpers/src",
        "omni-sdk/Cargo.toml",
        "omni-sdk/build.rs",
        "omni-sdk/src",
        "retailgrid-sdk/Cargo.toml",
        "retailgrid-sdk/src",
    ];
    let stale = match newest(&bin) {
        None => true,
        Some(built) => sources
            .iter()
            .filter_map(|p| newest(&root.join(p)))
            .any(|source| source > built),
    };
    if stale {
        println!("building jobwait: cargo build -p jobwait");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "jobwait"])
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("building jobwait failed ({status})"));
        }
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("no jobwait binary at {}", bin.display()))
    }
}

/// Prints one line of a child's output, prefixed, without interleaving with other lines.
fn say(out: &Mutex<()>, label: &str, mark: char, line: &str) {
    let _guard = out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{label:<16} {mark} {line}");
    let _ = stdout.flush();
}

/// Copies a child's stream to our stdout line by line, as it comes.
fn relay(
    stream: impl Read + Send + 'static,
    out: Arc<Mutex<()>>,
    label: &'static str,
    mark: char,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            // `--json` done lines carry the whole job: keep the demo readable.
            let line = if line.chars().count() > 160 {
                let cut: String = line.chars().take(159).collect();
                format!("{cut}…")
            } else {
                line
            };
            say(&out, label, mark, &line);
        }
    })
}

/// Requests the simulator recorded that name one of `jobs` in their path or query.
fn requests_for(sim: &Simulator, jobs: &[Uuid]) -> usize {
    let ids: Vec<String> = jobs.iter().map(Uuid::to_string).collect();
    sim.requests()
        .iter()
        .filter(|r| {
            let query = r.decoded_query().unwrap_or_default();
            ids.iter()
                .any(|id| r.path.contains(id.as_str()) || query.contains(id.as_str()))
        })
        .count()
}

/// Waits for a process and its output: its exit code (`None` if killed by a signal) and
/// its wall time.
fn waited(
    mut child: Child,
    spawned_at: Instant,
    relays: Vec<std::thread::JoinHandle<()>>,
) -> (Option<i32>, Duration) {
    let status = child.wait();
    let wall = spawned_at.elapsed();
    for relay in relays {
        let _ = relay.join();
    }
    (status.ok().and_then(|s| s.code()), wall)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match demo().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<bool, String> {
    let started = Instant::now();
    // Built before the jobs exist: their clocks start when they are added.
    let bin = jobwait()?;
    let sim = Simulator::start(SimConfig {
        omni_token: OMNI_TOKEN.to_owned(),
        retailgrid_token: Some(RETAILGRID_TOKEN.to_owned()),
        ..SimConfig::default()
    })
    .await
    .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let results_dir = std::env::temp_dir().join(format!("jobwait-demo-{}", std::process::id()));
    let results_arg = results_dir.to_string_lossy().into_owned();

    let refresh = sim.add_schema_refresh(JobScript::succeed_after(ms(1800)));
    let ai = sim.add_ai_job(JobScript::succeed_after(ms(2500)).with_progress_messages([
        "Choosing a topic",
        "Running query: top products by revenue",
        "Summarizing results",
    ]));
    let query_table = sim.add_query_job(JobScript::succeed_after(ms(600)));
    let queries_csv = [
        sim.add_query_job(JobScript::succeed_after(ms(400))),
        sim.add_query_job(JobScript::succeed_after(ms(1400))),
    ];
    let import = sim.add_retailgrid_job(
        JobScript::succeed_after(ms(3000))
            .with_job_type("csv_import")
            .with_progress_curve(ProgressCurve::Steps(5)),
    );
    sim.inject(
        Fault::status(429)
            .retry_after(Duration::from_secs(1))
            .on_job(import)
            .times(2),
    );
    let upsert = sim.add_retailgrid_job(JobScript::fail_after(
        ms(1500),
        "row 17: unknown SKU 'SG-0042'",
    ));

    let omni_policy = ["--min-delay", "1s", "--max-delay", "2s", "--timeout", "20s"];
    let retailgrid_policy = [
        "--min-delay",
        "200ms",
        "--max-delay",
        "1s",
        "--timeout",
        "20s",
    ];
    let strings = |flags: &[&str]| flags.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let waits = vec![
        Wait {
            label: "schema refresh",
            subcommand: "omni-job",
            jobs: vec![refresh],
            flags: strings(&omni_policy),
            expected: 0,
        },
        Wait {
            label: "AI job",
            subcommand: "omni-ai",
            jobs: vec![ai],
            flags: strings(&omni_policy),
            expected: 0,
        },
        Wait {
            label: "query table",
            subcommand: "omni-query",
            jobs: vec![query_table],
            flags: strings(&omni_policy),
            expected: 0,
        },
        Wait {
            label: "queries to CSV",
            subcommand: "omni-query",
            jobs: queries_csv.to_vec(),
            flags: [strings(&omni_policy), strings(&["--output", &results_arg])].concat(),
            expected: 0,
        },
        Wait {
            label: "import (429s)",
            subcommand: "retailgrid",
            jobs: vec![import],
            flags: [strings(&retailgrid_policy), strings(&["--json"])].concat(),
            expected: 0,
        },
        Wait {
            label: "upsert (fails)",
            subcommand: "retailgrid",
            jobs: vec![upsert],
            flags: strings(&retailgrid_policy),
            expected: 1,
        },
    ];

    println!(
        "jobwait demo: {} waits at once against the job simulator at {} (loopback, simulated tokens)",
        waits.len(),
        sim.base_url()
    );
    println!("each line: the wait's label, then `|` for its stdout or `!` for its stderr\n");
    let out = Arc::new(Mutex::new(()));
    // One thread per process waits for it, so that each wall time ends when it exits.
    let mut running: Vec<std::thread::JoinHandle<(Option<i32>, Duration)>> = Vec::new();
    for wait in &waits {
        let base_url = match wait.subcommand {
            "retailgrid" => sim.retailgrid_base_url(),
            _ => sim.omni_base_url(),
        };
        let mut args: Vec<String> = vec![wait.subcommand.to_owned()];
        args.extend(wait.jobs.iter().map(Uuid::to_string));
        args.extend(["--base-url".to_owned(), base_url]);
        args.extend(wait.flags.iter().cloned());
        say(
            &out,
            wait.label,
            '$',
            &format!("jobwait {}", args.join(" ")),
        );
        let mut cmd = Command::new(&bin);
        cmd.args(&args);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("OMNI_")
                || key.starts_with("RETAILGRID_")
                || key == "RUST_LOG"
                || key.to_ascii_lowercase().ends_with("_proxy")
            {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("OMNI_API_TOKEN", OMNI_TOKEN)
            .env("RETAILGRID_API_TOKEN", RETAILGRID_TOKEN)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let mut relays = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            relays.push(relay(stdout, Arc::clone(&out), wait.label, '|'));
        }
        if let Some(stderr) = child.stderr.take() {
            relays.push(relay(stderr, Arc::clone(&out), wait.label, '!'));
        }
        running.push(std::thread::spawn(move || {
            waited(child, spawned_at, relays)
        }));
    }

    // Join them off the runtime's threads: the simulator runs on this runtime.
    let finished = tokio::task::spawn_blocking(move || {
        running
            .into_iter()
            .map(|handle| handle.join().unwrap_or((None, Duration::ZERO)))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| format!("waiting for jobwait failed: {e}"))?;

    println!();
    println!(
        "{:<16}  {:<10}  {:<13}  {:>8}  {:>4}  {:>6}  {:>8}",
        "wait", "subcommand", "job", "expected", "exit", "wall", "requests"
    );
    println!("{}", "-".repeat(16 + 10 + 13 + 8 + 4 + 6 + 8 + 12));
    let mut all_as_scripted = true;
    for (wait, (code, wall)) in waits.iter().zip(&finished) {
        let ok = *code == Some(wait.expected);
        all_as_scripted &= ok;
        let job = match wait.jobs.as_slice() {
            [one] => one.to_string()[..8].to_owned() + "…",
            many => format!("{} jobs", many.len()),
        };
        println!(
            "{:<16}  {:<10}  {:<13}  {:>8}  {:>4}  {:>5.1}s  {:>8}{}",
            wait.label,
            wait.subcommand,
            job,
            wait.expected,
            code.map_or_else(|| "sig".to_owned(), |c| c.to_string()),
            wall.as_secs_f64(),
            requests_for(&sim, &wait.jobs),
            if ok { "" } else { "  <- not as scripted" }
        );
    }
    println!();
    let first_csv = results_dir.join(format!("{}.csv", queries_csv[0]));
    match std::fs::read_to_string(&first_csv) {
        Ok(csv) => {
            println!("{}:", first_csv.display());
            for line in csv.lines() {
                println!("    {line}");
            }
        }
        Err(e) => {
            all_as_scripted = false;
            println!("cannot read {}: {e}", first_csv.display());
        }
    }
    println!(
        "{} requests in all; demo took {:.1}s; {}",
        sim.request_count(),
        started.elapsed().as_secs_f64(),
        if all_as_scripted {
            "every wait ended as scripted"
        } else {
            "SOME WAITS DID NOT END AS SCRIPTED"
        }
    );
    sim.shutdown().await;
    Ok(all_as_scripted)
}
