//! Schedule simulator: how many requests each polling schedule spends per job, and how
//! late it notices that a job finished, on virtual time (no sockets, no sleeping).
//!
//! `cargo bench -p poll-helpers --bench schedules` (add `-- --jobs N` for a quicker run)
//! writes `target/schedules.md` (also printed) and `target/schedules.svg`.
//!
//! # Job mixes (durations from the start of the wait, 20,000 jobs each, seeded)
//!
//! - **schema refresh**: lognormal, median 20 s, σ = 0.6 (Box–Muller normal);
//! - **AI**: uniform 5–90 s;
//! - **Retailgrid import**: uniform 1–30 min, progress = elapsed / duration at each poll;
//! - **Retailgrid import, integer %**: the same jobs, progress reported as Retailgrid
//!   does, `floor(100 × elapsed / duration)` percent, at most 99 until done.
//!
//! # Schedules (all poll first at t = 0)
//!
//! - **fixed 2 s** (Omni's tip) and **fixed 5 s**;
//! - **AWS waiter**: Smithy's waiter delay, `uniform(min, min(max, min × 2^(n−1)))`, 2 s
//!   min, 120 s max;
//! - **Google LRO**: 1 s doubling to 60 s, no jitter;
//! - **ours**, driven through the real `Poller` under paused tokio time with a fake fetch,
//!   from what each adapter gives by default: `omni::default_policy()` for the Omni mixes
//!   (with the adapters' 1 s floor) and `retailgrid::default_policy()` for the Retailgrid
//!   ones. "ours: default" is that policy as the adapter runs it: for Omni, with the
//!   learned durations the adapters attach (a model starting from `omni::prior()` that
//!   learns from every job of the run, as the process-wide model does); "default, cold
//!   prior" gives every job a fresh model with the prior only (a one-job `jobwait`).
//!   Also the plain backoff (`progress_aware(false)`), and `learn_durations` with a
//!   model per mix and `max_detection_latency` 5 s, or left at its default
//!   (`max_delay`).
//! - **saturated** (`schedules/saturated.rs`): one 60/min key, jobs arriving faster than
//!   it can poll them at their own pace, against round-robin.
//!
//! Jobs run one after another, each wait recording into the model; the first 50 jobs of
//! each run are a warm-up, left out of every row. Detection latency is the time from the
//! job finishing to the poll that sees it done.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use plotters::prelude::*;
use poll_helpers::{
    DurationModel, FetchError, Phase, PollPolicy, Poller, Snapshot, omni, retailgrid,
};

#[path = "schedules/saturated.rs"]
mod saturated;
use tokio::time::Instant;

const JOBS: usize = 20_000;
const WARM_UP: usize = 50;

// ---------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------

/// SplitMix64, as in poll-helpers.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal by Box–Muller (one of the pair).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

// ---------------------------------------------------------------------------------------
// Mixes
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Progress {
    None,
    Exact,
    Percent,
}

#[derive(Clone, Copy, Debug)]
struct Mix {
    name: &'static str,
    seed: u64,
    progress: Progress,
    retailgrid: bool,
}

const MIXES: [Mix; 4] = [
    Mix {
        name: "schema refresh",
        seed: 1,
        progress: Progress::None,
        retailgrid: false,
    },
    Mix {
        name: "AI",
        seed: 2,
        progress: Progress::None,
        retailgrid: false,
    },
    Mix {
        name: "Retailgrid import",
        seed: 3,
        progress: Progress::Exact,
        retailgrid: true,
    },
    Mix {
        name: "Retailgrid import, integer %",
        seed: 3,
        progress: Progress::Percent,
        retailgrid: true,
    },
];

impl Mix {
    fn durations(&self, jobs: usize) -> Vec<f64> {
        let mut rng = Rng(self.seed);
        (0..jobs)
            .map(|_| match self.name {
                "schema refresh" => rng.lognormal(20.0, 0.6),
                "AI" => rng.uniform(5.0, 90.0),
                _ => rng.uniform(60.0, 1800.0),
            })
            .collect()
    }

    fn base_policy(&self) -> PollPolicy {
        // What a user of each adapter gets by default.
        let base = if self.retailgrid {
            retailgrid::default_policy()
        } else {
            omni::default_policy()
        };
        base.seed(0x5eed)
    }

    /// The Omni adapters' floor between polls.
    fn floor(&self) -> Duration {
        if self.retailgrid {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Baselines: pure functions of the poll count
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Baseline {
    Fixed(f64),
    Aws { min: f64, max: f64 },
    Google { initial: f64, max: f64, factor: f64 },
}

impl Baseline {
    fn name(&self) -> String {
        match *self {
            Baseline::Fixed(s) => format!("fixed {s} s"),
            Baseline::Aws { .. } => "AWS waiter (2–120 s, jitter)".into(),
            Baseline::Google { .. } => "Google LRO (1→60 s, ×2)".into(),
        }
    }

    /// The delay after poll `n` (1-based).
    fn delay(&self, n: u32, rng: &mut Rng) -> f64 {
        match *self {
            Baseline::Fixed(s) => s,
            Baseline::Aws { min, max } => {
                let ceiling = (max / min).log2() + 1.0;
                let top = if f64::from(n) > ceiling {
                    max
                } else {
                    (min * 2f64.powi(n as i32 - 1)).min(max)
                };
                rng.uniform(min, top)
            }
            Baseline::Google {
                initial,
                max,
                factor,
            } => (initial * factor.powi(n as i32 - 1)).min(max),
        }
    }

    fn run(&self, durations: &[f64]) -> Vec<Outcome> {
        durations
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                let mut rng = Rng(0xa5a5 ^ i as u64);
                let (mut t, mut n) = (0.0, 1u32);
                while t < d {
                    t += self.delay(n, &mut rng);
                    n += 1;
                }
                Outcome {
                    requests: n,
                    latency: t - d,
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Ours: the real Poller on paused time
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

#[derive(Clone, Copy, Debug)]
struct Outcome {
    requests: u32,
    latency: f64,
}

#[derive(Clone, Copy, Debug)]
enum Ours {
    Default,
    /// The Omni adapters' default with only the cold-start prior (a fresh model per job).
    DefaultCold,
    BackoffOnly,
    Learned(Option<u64>),
}

impl Ours {
    fn name(&self) -> String {
        match self {
            Ours::Default => "ours: default".into(),
            Ours::DefaultCold => "ours: default, cold prior".into(),
            Ours::BackoffOnly => "ours: backoff only".into(),
            Ours::Learned(Some(s)) => format!("ours: learned, ≤{s} s"),
            Ours::Learned(None) => "ours: learned, bound = max_delay".into(),
        }
    }

    fn policy(&self, mix: &Mix) -> PollPolicy {
        let base = mix.base_policy();
        match self {
            // The Omni adapters attach one process-wide model per kind, starting from the
            // prior, to a policy without one (unseeded; the simulator seeds the jitter
            // only to be reproducible, and attaches the same model itself).
            Ours::Default | Ours::DefaultCold if !mix.retailgrid => {
                base.learn_durations(DurationModel::with_prior(omni::prior()))
            }
            Ours::Default | Ours::DefaultCold => base,
            Ours::BackoffOnly => base.progress_aware(false),
            Ours::Learned(bound) => {
                let p = base.learn_durations(DurationModel::new());
                match bound {
                    Some(s) => p.max_detection_latency(Duration::from_secs(*s)),
                    None => p,
                }
            }
        }
    }
}

/// `fresh`: each job gets a fresh model with the prior (never learns across jobs).
fn run_ours(
    mix: &Mix,
    policy: &PollPolicy,
    durations: &[f64],
    fresh: bool,
) -> Result<Vec<Outcome>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut out = Vec::with_capacity(durations.len());
        for (i, &d) in durations.iter().enumerate() {
            let start = Instant::now();
            let kind = mix.progress;
            let policy = if fresh {
                policy
                    .clone()
                    .learn_durations(DurationModel::with_prior(omni::prior()))
            } else {
                policy.clone()
            };
            let poller = Poller::new(policy, move || {
                let t = start.elapsed().as_secs_f64();
                let done = t >= d;
                let progress = match kind {
                    _ if done => None,
                    Progress::None => None,
                    Progress::Exact => Some(t / d),
                    Progress::Percent => Some(((100.0 * t / d).floor()).min(99.0) / 100.0),
                };
                let job = Job { done, progress };
                async move { Ok::<_, FetchError>(job) }
            })
            .job_id(format!("job-{i}"))
            .min_interval(mix.floor());
            let mut events = poller.into_stream();
            let mut last = None;
            while let Some(event) = events.next().await {
                last = Some(event.map_err(|e| format!("job {i} ({d:.1} s): {e}"))?);
            }
            let last = last.ok_or_else(|| format!("job {i}: no poll"))?;
            out.push(Outcome {
                requests: last.attempt,
                latency: last.elapsed.as_secs_f64() - d,
            });
        }
        Ok(out)
    })
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Row {
    mix: &'static str,
    schedule: String,
    requests: f64,
    p50: f64,
    p95: f64,
    p99: f64,
}

fn summarize(mix: &'static str, schedule: String, outcomes: &[Outcome]) -> Row {
    let counted = outcomes.get(WARM_UP..).unwrap_or(&[]);
    let n = counted.len().max(1) as f64;
    let requests = counted.iter().map(|o| f64::from(o.requests)).sum::<f64>() / n;
    let mut lat: Vec<f64> = counted.iter().map(|o| o.latency).collect();
    lat.sort_by(f64::total_cmp);
    let q = |q: f64| {
        let rank = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len().max(1));
        lat.get(rank - 1).copied().unwrap_or(f64::NAN)
    };
    Row {
        mix,
        schedule,
        requests,
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
    }
}

fn find<'r>(rows: &'r [Row], mix: &str, schedule: &str) -> Option<&'r Row> {
    rows.iter().find(|r| r.mix == mix && r.schedule == schedule)
}

fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| mix | schedule | requests/job | × fixed 5 s | p50 latency (s) | p95 latency (s) | p99 latency (s) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let base = find(rows, r.mix, "fixed 5 s").map_or(f64::NAN, |b| b.requests);
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.mix,
            r.schedule,
            r.requests,
            r.requests / base,
            r.p50,
            r.p95,
            r.p99
        );
    }
    s
}

fn targets(rows: &[Row]) -> String {
    let mut s = String::new();
    let mut check = |what: String, ok: bool| {
        let _ = writeln!(s, "- {} {what}", if ok { "✅" } else { "❌" });
    };
    let learned5 = Ours::Learned(Some(5)).name();
    for (mix, limit) in [("schema refresh", 0.75), ("AI", 0.85)] {
        if let (Some(r), Some(b)) = (find(rows, mix, &learned5), find(rows, mix, "fixed 5 s")) {
            let ratio = r.requests / b.requests;
            check(
                format!(
                    "{mix}: `{learned5}` at p95 {:.2} s (≤ 5) uses {:.2} requests/job = {ratio:.3}× fixed 5 s ({:.2}) (target ≤ {limit}×)",
                    r.p95, r.requests, b.requests
                ),
                r.p95 <= 5.0 && ratio <= limit,
            );
        }
    }
    if let Some(r) = find(rows, "Retailgrid import", "ours: default") {
        check(
            format!(
                "Retailgrid import (progress): `ours: default` uses {:.2} requests/job (≤ 15) at p95 {:.2} s (≤ 10)",
                r.requests, r.p95
            ),
            r.requests <= 15.0 && r.p95 <= 10.0,
        );
    }
    for (mix, row) in MIXES
        .iter()
        .flat_map(|m| [(m, "ours: default"), (m, "ours: default, cold prior")])
    {
        let Some(ours) = find(rows, mix.name, row) else {
            continue;
        };
        for other in [
            Baseline::Aws {
                min: 2.0,
                max: 120.0,
            },
            Baseline::Google {
                initial: 1.0,
                max: 60.0,
                factor: 2.0,
            },
        ] {
            let Some(b) = find(rows, mix.name, &other.name()) else {
                continue;
            };
            check(
                format!(
                    "{}: `{row}` ({:.2} req, p95 {:.2} s) vs {} ({:.2} req, p95 {:.2} s): {}",
                    mix.name,
                    ours.requests,
                    ours.p95,
                    b.schedule,
                    b.requests,
                    b.p95,
                    if ours.requests < b.requests && ours.p95 < b.p95 {
                        "Pareto-better"
                    } else {
                        "not Pareto-better"
                    }
                ),
                ours.requests < b.requests && ours.p95 < b.p95,
            );
        }
    }
    s
}

fn plot(rows: &[Row], path: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Polling schedules: requests per job vs p95 detection latency",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d((1.0f64..2000.0).log_scale(), (0.5f64..200.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("requests per job (log)")
        .y_desc("p95 detection latency, s (log)")
        .draw()?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    // The two Retailgrid mixes share their baselines: the second is drawn smaller, and
    // only its own schedules are labelled.
    let sizes = [5, 5, 7, 4];
    for ((i, mix), (color, size)) in MIXES.iter().enumerate().zip(colors.into_iter().zip(sizes)) {
        let repeat = MIXES[..i]
            .iter()
            .any(|m| m.durations(3) == mix.durations(3));
        let points: Vec<(f64, f64, &str)> = rows
            .iter()
            .filter(|r| r.mix == mix.name)
            .map(|r| (r.requests, r.p95.max(0.5), r.schedule.as_str()))
            .collect();
        // The Pareto frontier of this mix, as a line.
        let mut frontier: Vec<(f64, f64)> = points
            .iter()
            .filter(|(x, y, _)| {
                !points
                    .iter()
                    .any(|(a, b, _)| a <= x && b <= y && (a < x || b < y))
            })
            .map(|&(x, y, _)| (x, y))
            .collect();
        frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(frontier, color.mix(0.4)))?
            .label(mix.name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        chart.draw_series(PointSeries::of_element(
            points.iter().map(|&(x, y, _)| (x, y)),
            size,
            color.filled(),
            &|c, s, st| EmptyElement::at(c) + Circle::new((0, 0), s, st),
        ))?;
        let labelled = points
            .iter()
            .filter(|(_, _, name)| !repeat || name.starts_with("ours"));
        chart.draw_series(labelled.map(|&(x, y, name)| {
            let short = name.trim_start_matches("ours: ");
            Text::new(
                short.to_string(),
                (x, y),
                ("sans-serif", 11).into_font().color(&color),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let mut args = std::env::args().skip(1);
    let mut jobs = JOBS;
    let mut skip_saturated = false;
    while let Some(arg) = args.next() {
        if arg == "--no-saturated" {
            skip_saturated = true;
        }
        if arg == "--jobs"
            && let Some(n) = args.next()
        {
            jobs = n.parse()?;
        }
    }
    let baselines = [
        Baseline::Fixed(2.0),
        Baseline::Fixed(5.0),
        Baseline::Aws {
            min: 2.0,
            max: 120.0,
        },
        Baseline::Google {
            initial: 1.0,
            max: 60.0,
            factor: 2.0,
        },
    ];
    let ours = [
        Ours::Default,
        Ours::DefaultCold,
        Ours::BackoffOnly,
        Ours::Learned(Some(5)),
        Ours::Learned(None),
    ];
    let mut rows = Vec::new();
    for mix in MIXES {
        let durations = mix.durations(jobs);
        for b in baselines {
            rows.push(summarize(mix.name, b.name(), &b.run(&durations)));
        }
        // Each of our runs on its own thread and paused runtime.
        let results: Vec<Result<Row, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ours
                .iter()
                .filter(|o| mix.progress != Progress::None || !matches!(o, Ours::BackoffOnly))
                .filter(|o| !mix.retailgrid || !matches!(o, Ours::DefaultCold))
                .map(|o| {
                    let durations = &durations;
                    scope.spawn(move || {
                        let fresh = matches!(o, Ours::DefaultCold);
                        let outcomes = run_ours(&mix, &o.policy(&mix), durations, fresh)?;
                        Ok(summarize(mix.name, o.name(), &outcomes))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a simulation panicked".into()))
                })
                .collect()
        });
        for r in results {
            rows.push(r?);
        }
    }
    let saturated = if skip_saturated {
        String::new()
    } else {
        saturated::run()?
    };
    let elapsed = started.elapsed();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Schedules replayed on virtual time: {jobs} jobs per mix (the first {WARM_UP} are a warm-up, not counted), seeded. \
         Requests per job include the first poll at t = 0; latency is from the job finishing to the poll that sees it.\n"
    );
    md.push_str(&table(&rows));
    md.push_str("\nTargets:\n\n");
    md.push_str(&targets(&rows));
    if !saturated.is_empty() {
        md.push('\n');
        md.push_str(&saturated);
    }
    md.push_str("\nRegenerate: `cargo bench -p poll-helpers --bench schedules`.\n");
    print!("{md}");
    println!("simulated in {:.1} s", elapsed.as_secs_f64());
    let dir = target_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("schedules.md"), &md)?;
    plot(&rows, &dir.join("schedules.svg"))?;
    println!(
        "wrote {} and {}",
        dir.join("schedules.md").display(),
        dir.join("schedules.svg").display()
    );
    Ok(())
}
