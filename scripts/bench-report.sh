#!/usr/bin/env bash
# Regenerates every figure of BENCHMARKS.md: builds and runs each benchmark, then rewrites
# the tables between the `<!-- bench:NAME:start -->` / `<!-- bench:NAME:end -->` markers
# (the Schedules section is left alone: its table is pasted by hand).
#
#   scripts/bench-report.sh            # everything (about 16 minutes when already built)
#   scripts/bench-report.sh overhead   # only some: machine overhead scale arrow codegen redis schedules
#
# Needs: cargo, git, awk; hyperfine and jq for the codegen timings (`apt-get install -y
# hyperfine jq`; without them that section says so); redis-server for the Redis rate budget
# (`apt-get install -y redis-server`; without it that section is skipped with a message). Only 127.0.0.1 is used. Raw outputs
# land in target/bench-report/ (or $BENCH_REPORT_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export BENCH_REPORT_DIR=${BENCH_REPORT_DIR:-$ROOT/target/bench-report}
OUT=$BENCH_REPORT_DIR
mkdir -p "$OUT"
# The scale bench opens thousands of sockets (it also raises the limit itself).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

ALL=(machine overhead scale arrow codegen redis schedules)
if [ $# -gt 0 ]; then WANT=("$@"); else WANT=("${ALL[@]}"); fi
want() { local w; for w in "${WANT[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

started=$(date +%s)
log() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - started))" >&2; }

# Replaces the lines between the markers of section $1 in BENCHMARKS.md with file $2.
splice() {
    local name=$1 file=$2
    [ -f "$file" ] || { echo "bench-report: no $file; section $name left as it was" >&2; return 0; }
    grep -q "^<!-- bench:$name:start -->\$" BENCHMARKS.md || {
        echo "bench-report: BENCHMARKS.md has no markers for $name" >&2
        return 0
    }
    awk -v start="<!-- bench:$name:start -->" -v end="<!-- bench:$name:end -->" -v file="$file" '
        $0 == start { print; print ""; while ((getline line < file) > 0) print line; print ""; skip = 1; next }
        $0 == end { skip = 0 }
        !skip { print }
    ' BENCHMARKS.md >BENCHMARKS.md.tmp
    mv BENCHMARKS.md.tmp BENCHMARKS.md
}

if want machine; then
    log machine
    {
        echo "| | |"
        echo "| --- | --- |"
        echo "| CPUs (\`nproc\`) | $(nproc) |"
        echo "| CPU model (\`lscpu\`) | $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1) |"
        echo "| memory | $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |"
        echo "| kernel | $(uname -sr) |"
        echo "| rustc | $(rustc -V) |"
        echo "| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |"
        echo "| load average at start (1/5/15 min) | $(cut -d' ' -f1-3 /proc/loadavg) |"
    } >"$OUT/machine.md"
    splice machine "$OUT/machine.md"
fi

# Build first, so that no timed run waits for a compilation.
if want overhead || want scale; then
    log build poll-helpers benches
    cargo bench -p poll-helpers --bench overhead --bench scale --no-run
fi
if want redis && command -v redis-server >/dev/null; then
    log build poll-helpers redis bench
    cargo bench -p poll-helpers --features redis --bench redis_budget --no-run
fi
if want arrow; then
    log build omni-sdk arrow bench
    cargo bench -p omni-sdk --features arrow --bench arrow --no-run
fi

if want overhead; then
    log "P1 overhead"
    rm -f "$OUT/overhead.md"
    cargo bench -p poll-helpers --bench overhead 2>&1 | tee "$OUT/overhead.log"
    splice overhead "$OUT/overhead.md"
fi

if want scale; then
    log "P2 scale"
    rm -f "$OUT/scale.md"
    cargo bench -p poll-helpers --bench scale 2>&1 | tee "$OUT/scale.log"
    splice scale "$OUT/scale.md"
fi

if want arrow; then
    log "P6 arrow"
    rm -f "$OUT/arrow.md"
    cargo bench -p omni-sdk --features arrow --bench arrow 2>&1 | tee "$OUT/arrow.log"
    splice arrow "$OUT/arrow.md"
fi

if want redis; then
    log "P7 Redis rate budget"
    if command -v redis-server >/dev/null; then
        # Starts and stops its own redis-server on a free loopback port; about 6 minutes
        # (the fleet runs 5 of them).
        rm -f "$OUT/redis.md"
        cargo bench -p poll-helpers --features redis --bench redis_budget 2>&1 | tee "$OUT/redis.log"
        splice redis "$OUT/redis.md"
    else
        echo "bench-report: redis-server missing (apt-get install -y redis-server); P7 Redis rate budget skipped" >&2
    fi
fi

if want codegen; then
    log "P5 codegen"
    if command -v hyperfine >/dev/null && command -v jq >/dev/null; then
        # `cargo xtask codegen` (write mode) runs on a scratch copy of the sources
        # (`--root`), never on this checkout; one generated file is made stale before each
        # run so that it is really rewritten.
        scratch=$ROOT/target/bench-codegen/ws
        rm -rf "$scratch"
        mkdir -p "$scratch"
        git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$scratch"
        target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
        cargo build -q -p xtask
        hyperfine --warmup 3 --runs 20 -i --export-json "$OUT/codegen.json" \
            -n 'cargo xtask help (baseline: cargo + process start)' \
            -p true 'cargo xtask help' \
            -n 'cargo xtask codegen --check' \
            -p true 'cargo xtask codegen --check' \
            -n 'cargo xtask codegen (writes, into a scratch copy)' \
            -p "printf '// stale\n' >> '$scratch/omni-sdk/src/generated.rs'" \
            "cargo xtask --root '$scratch' codegen --no-verify" \
            -n 'xtask binary alone: codegen --check' \
            -p true "'$target_dir/debug/xtask' codegen --check" \
            2>&1 | tee "$OUT/codegen.log"
        {
            echo "| command | median | mean ± σ | min – max | runs | ratio to baseline (median) | exit codes |"
            echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
            jq -r '
                (.results[0].median) as $base
                | .results[]
                | "| `\(.command)` | \(.median * 1000 | round) ms | \(.mean * 1000 | round) ± \(.stddev * 1000 | round) ms | \(.min * 1000 | round) – \(.max * 1000 | round) ms | \(.times | length) | \(.median / $base * 100 | round / 100) | \(.exit_codes | unique | map(tostring) | join(",")) |"
            ' "$OUT/codegen.json"
        } >"$OUT/codegen.md"
        splice codegen "$OUT/codegen.md"
    else
        echo "bench-report: hyperfine or jq missing; codegen timings skipped" >&2
    fi
fi

if want schedules; then
    if grep -q '^name = "schedules"' poll-helpers/Cargo.toml; then
        log "schedules"
        cargo bench -p poll-helpers --bench schedules 2>&1 | tee "$OUT/schedules.log"
        echo "bench-report: paste target/schedules.md into the Schedules section by hand" >&2
    else
        echo "bench-report: no schedules bench declared yet; skipped" >&2
    fi
fi

elapsed=$(($(date +%s) - started))
if [ "${#WANT[@]}" -eq "${#ALL[@]}" ]; then
    printf 'Last full run of `scripts/bench-report.sh`: %d min %02d s (builds included, %s UTC).\n' \
        $((elapsed / 60)) $((elapsed % 60)) "$(date -u '+%Y-%m-%d %H:%M')" >"$OUT/runtime.md"
    splice runtime "$OUT/runtime.md"
fi
log "done: BENCHMARKS.md updated"
