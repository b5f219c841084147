//! P6: decoding a ~50 MB base64 Arrow IPC query result.
//!
//! Three paths over the same payload (6 columns — Int64, nullable Float64, Utf8,
//! Timestamp(ms), Boolean, Int32 — in 64Ki-row batches, written by arrow's `FileWriter`:
//! ~37 MB of IPC, ~50 MB of base64):
//!
//! - `decode_result`: `omni_sdk::arrow::decode_result(&payload)`;
//! - `naive`: the `base64` crate's `STANDARD.decode` into a `Vec<u8>`, then
//!   `arrow_ipc::reader::FileReader` over a `Cursor` of it;
//! - `filereader_only`: `FileReader` over bytes already decoded (no base64 at all), for
//!   scale.
//!
//! Time: criterion (`decode_50mb/*`; `diagnostics/*` time two parts of the work alone), plus a paired, interleaved measurement of
//! `decode_result` against `naive` (per-round ratio, so that load from other processes
//! hits both alike). Peak memory: each path runs in a child process of this binary
//! (`--peak <path> <payload file>`), which loads the payload, resets its peak RSS
//! (`/proc/self/clear_refs`), runs the path once keeping the batches, and reports
//! `VmHWM` − baseline; three runs per path, median reported.
//!
//! `cargo bench -p omni-sdk --features arrow --bench arrow`. The markdown table is printed
//! and, when `BENCH_REPORT_DIR` is set, written to `$BENCH_REPORT_DIR/arrow.md`. Without
//! `--bench` (`cargo test --benches`) each path runs once on a small payload.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, Throughput};

/// Rows per batch, and batches: 11 × 64Ki rows ≈ 37 MB of IPC, ≈ 49 MB of base64.
const BATCH_ROWS: usize = 65_536;
const BATCHES: usize = 11;
/// Paired rounds (each: one call of each side).
const PAIRED_ROUNDS: usize = 15;
const PEAK_RUNS: usize = 3;

const PATHS: [&str; 3] = ["decode_result", "naive", "filereader_only"];

/// One batch of `BATCH_ROWS` rows, the `b`-th.
fn make_batch(b: usize, next: &mut impl FnMut() -> u64) -> RecordBatch {
    let base = (b * BATCH_ROWS) as i64;
    let ids: Vec<i64> = (0..BATCH_ROWS as i64).map(|i| base + i).collect();
    let values: Vec<Option<f64>> = (0..BATCH_ROWS)
        .map(|i| (i % 17 != 0).then(|| (next() % 1_000_000) as f64 / 100.0))
        .collect();
    let names: Vec<String> = (0..BATCH_ROWS)
        .map(|_| {
            let r = next();
            format!(
                "product-{:x}-{}",
                r % 0xff_ffff,
                "x".repeat((r % 9) as usize)
            )
        })
        .collect();
    let ts: Vec<i64> = (0..BATCH_ROWS as i64)
        .map(|i| 1_700_000_000_000 + (base + i) * 1_000)
        .collect();
    let flags: Vec<bool> = (0..BATCH_ROWS).map(|_| next().is_multiple_of(3)).collect();
    let cats: Vec<i32> = (0..BATCH_ROWS).map(|_| (next() % 50) as i32).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("revenue", Arc::new(Float64Array::from(values)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
        (
            "created_at",
            Arc::new(TimestampMillisecondArray::from(ts)) as ArrayRef,
        ),
        ("in_stock", Arc::new(BooleanArray::from(flags)) as ArrayRef),
        ("category", Arc::new(Int32Array::from(cats)) as ArrayRef),
    ])
    .expect("batch")
}

/// The query result: a base64 IPC file of `batches` × `BATCH_ROWS` rows, and the IPC size.
fn build_payload(batches: usize) -> (usize, String) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let first = make_batch(0, &mut next);
    let mut ipc = Vec::new();
    {
        let mut writer = FileWriter::try_new(&mut ipc, &first.schema()).expect("writer");
        writer.write(&first).expect("write batch");
        for b in 1..batches {
            writer
                .write(&make_batch(b, &mut next))
                .expect("write batch");
        }
        writer.finish().expect("finish");
    }
    (ipc.len(), STANDARD.encode(&ipc))
}

fn decode_result(payload: &str) -> Vec<RecordBatch> {
    omni_sdk::arrow::decode_result(payload).expect("decode_result")
}

fn naive(payload: &str) -> Vec<RecordBatch> {
    let bytes = STANDARD.decode(payload).expect("base64");
    let reader = FileReader::try_new(Cursor::new(bytes), None).expect("file reader");
    reader.collect::<Result<_, _>>().expect("batches")
}

fn filereader_only(ipc: &[u8]) -> Vec<RecordBatch> {
    let reader = FileReader::try_new(Cursor::new(ipc), None).expect("file reader");
    reader.collect::<Result<_, _>>().expect("batches")
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

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

/// Child: run `path` once over the payload in `file`; print the peak RSS above the
/// baseline (payload loaded, for `filereader_only` already decoded).
fn peak_child(path: &str, file: &Path) {
    let payload = std::fs::read_to_string(file).expect("payload file");
    let decoded = (path == "filereader_only").then(|| STANDARD.decode(&payload).expect("base64"));
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let base = status_kb("VmRSS");
    let batches = match path {
        "decode_result" => decode_result(&payload),
        "naive" => naive(&payload),
        "filereader_only" => filereader_only(decoded.as_deref().expect("decoded")),
        other => {
            eprintln!("unknown path {other}");
            std::process::exit(2);
        }
    };
    let hwm = status_kb("VmHWM");
    let now = status_kb("VmRSS");
    let held: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    println!(
        "PEAK base_kb={base} hwm_kb={hwm} rss_after_kb={now} rows={} held_bytes={held}",
        rows(&batches)
    );
}

fn run_peak(exe: &Path, path: &str, file: &Path) -> Option<(u64, u64)> {
    let out = Command::new(exe)
        .args(["--peak", path])
        .arg(file)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("PEAK "))?;
    let field = |k: &str| -> Option<u64> {
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .find(|(key, _)| *key == k)
            .and_then(|(_, v)| v.parse().ok())
    };
    Some((
        field("hwm_kb")?.saturating_sub(field("base_kb")?),
        field("base_kb")?,
    ))
}

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

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--peak") {
        let path = args.get(1).expect("path");
        let file = args.get(2).expect("payload file");
        return peak_child(path, Path::new(file));
    }
    let bench_mode = args.iter().any(|a| a == "--bench");

    let (ipc_len, payload) = build_payload(if bench_mode { BATCHES } else { 1 });
    let ipc = STANDARD.decode(&payload).expect("base64");
    let expected_rows = rows(&decode_result(&payload));
    assert_eq!(rows(&naive(&payload)), expected_rows);
    assert_eq!(rows(&filereader_only(&ipc)), expected_rows);
    assert_eq!(decode_result(&payload), naive(&payload), "same batches");
    eprintln!(
        "arrow: {expected_rows} rows, {:.1} MB of IPC, {:.1} MB of base64",
        ipc_len as f64 / 1e6,
        payload.len() as f64 / 1e6
    );

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("decode_50mb");
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function("decode_result", |b| b.iter(|| decode_result(&payload)));
        group.bench_function("naive", |b| b.iter(|| naive(&payload)));
        group.bench_function("filereader_only", |b| b.iter(|| filereader_only(&ipc)));
        group.finish();
        // Where decode_result's time goes: its whitespace check (a full scan of the text,
        // before decoding) and the base64 decoding alone.
        let mut group = c.benchmark_group("diagnostics");
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.measurement_time(Duration::from_secs(5));
        group.bench_function("whitespace_scan", |b| {
            b.iter(|| {
                std::hint::black_box(payload.as_bytes())
                    .iter()
                    .any(u8::is_ascii_whitespace)
            });
        });
        group.bench_function("base64_decode_only", |b| {
            b.iter(|| STANDARD.decode(&payload).expect("base64"));
        });
        group.finish();
    }
    c.final_summary();
    if !bench_mode {
        return;
    }

    // Paired: decode_result / naive, per round, alternating order.
    let mut ratios = Vec::new();
    let (mut t_dec, mut t_naive) = (Vec::new(), Vec::new());
    for round in 0..PAIRED_ROUNDS {
        let mut t = [0.0f64; 2];
        for k in 0..2 {
            let which = (round + k) % 2;
            let start = Instant::now();
            let out = if which == 0 {
                decode_result(&payload)
            } else {
                naive(&payload)
            };
            std::hint::black_box(&out);
            drop(out);
            t[which] = start.elapsed().as_secs_f64() * 1e3;
        }
        t_dec.push(t[0]);
        t_naive.push(t[1]);
        ratios.push(t[0] / t[1]);
    }
    let ratio_median = median(&mut ratios.clone());
    let (ratio_lo, ratio_hi) = {
        let mut r = ratios.clone();
        r.sort_by(f64::total_cmp);
        (r[r.len() / 4], r[(3 * r.len()) / 4])
    };

    // Peak memory, one child per run.
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("arrow-bench-payload.b64");
    std::fs::write(&file, &payload).expect("write payload file");
    let exe = std::env::current_exe().expect("current exe");
    let mut peaks = Vec::new();
    for path in PATHS {
        let mut runs: Vec<f64> = (0..PEAK_RUNS)
            .filter_map(|_| run_peak(&exe, path, &file))
            .map(|(extra, _)| extra as f64 / 1024.0)
            .collect();
        let peak = if runs.is_empty() {
            f64::NAN
        } else {
            median(&mut runs)
        };
        let spread = runs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(*x), hi.max(*x))
            });
        peaks.push((path, peak, spread));
    }
    let _ = std::fs::remove_file(&file);

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Payload: {expected_rows} rows × 6 columns, {:.1} MB of Arrow IPC (file format), {:.1} MB of base64.\n",
        ipc_len as f64 / 1e6,
        payload.len() as f64 / 1e6
    );
    let _ = writeln!(
        md,
        "| path | time, criterion mean (95 % CI) | base64 MB/s | time ratio to naive | peak memory above input (median of {PEAK_RUNS}; min–max) | memory ratio to naive |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: |");
    let naive_t = criterion_mean("decode_50mb", "naive");
    let naive_peak = peaks
        .iter()
        .find(|(p, ..)| *p == "naive")
        .map_or(f64::NAN, |x| x.1);
    for (path, peak, (lo, hi)) in &peaks {
        let t = criterion_mean("decode_50mb", path);
        let (time, mbps, ratio) = match (t, naive_t) {
            (Some(t), Some(n)) => (
                format!("{:.1} ms [{:.1}, {:.1}]", t.0 / 1e6, t.1 / 1e6, t.2 / 1e6),
                format!("{:.0}", payload.len() as f64 / (t.0 / 1e9) / 1e6),
                format!("{:.2}", t.0 / n.0),
            ),
            _ => ("–".into(), "–".into(), "–".into()),
        };
        let name = match *path {
            "decode_result" => "`omni_sdk::arrow::decode_result`",
            "naive" => "naive: `base64` → `Vec` → `FileReader`",
            _ => "`FileReader` on decoded bytes (no base64)",
        };
        let _ = writeln!(
            md,
            "| {name} | {time} | {mbps} | {ratio} | {peak:.1} MB ({lo:.1}–{hi:.1}) | {:.2} |",
            peak / naive_peak
        );
    }
    let _ = writeln!(
        md,
        "\nPaired, interleaved ({PAIRED_ROUNDS} rounds): `decode_result` / naive time ratio, median {ratio_median:.3} (interquartile {ratio_lo:.3}–{ratio_hi:.3}); medians {:.1} ms vs {:.1} ms.",
        median(&mut t_dec),
        median(&mut t_naive)
    );
    for (bench, what) in [
        (
            "whitespace_scan",
            "the whitespace check `decode_result` runs over the whole text first",
        ),
        ("base64_decode_only", "`STANDARD.decode` alone"),
    ] {
        if let Some(t) = criterion_mean("diagnostics", bench) {
            let _ = writeln!(
                md,
                "\nDiagnostic, {what}: {:.1} ms [{:.1}, {:.1}].",
                t.0 / 1e6,
                t.1 / 1e6,
                t.2 / 1e6
            );
        }
    }
    let dec_peak = peaks
        .iter()
        .find(|(p, ..)| *p == "decode_result")
        .map_or(f64::NAN, |x| x.1);
    let faster = ratio_median <= 1.0
        && matches!(
            (criterion_mean("decode_50mb", "decode_result"), naive_t),
            (Some(d), Some(n)) if d.0 <= n.0
        );
    let _ = writeln!(
        md,
        "\nTargets: at least as fast as naive: **{}**; less peak memory: **{}** ({dec_peak:.1} MB vs {naive_peak:.1} MB).",
        if faster { "met" } else { "NOT met" },
        if dec_peak < naive_peak {
            "met"
        } else {
            "NOT met"
        },
    );
    println!("\n{md}");
    if let Some(dir) = std::env::var_os("BENCH_REPORT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("report dir");
        std::fs::write(dir.join("arrow.md"), md).expect("write arrow.md");
    }
}
