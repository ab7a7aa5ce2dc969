#!/usr/bin/env bash
# Telemetry overhead: runs the pack benchmark's real command (`canvas-sis pack`, validate + pack,
# traced and timed like a batch's stages) with telemetry OFF (OTEL_SDK_DISABLED=true) and ON
# (spans and metrics exported over OTLP/HTTP to a local sink, scripts/bench/otlp_sink.py),
# alternating, and prints the median wall and CPU time of each and the ratio (target: < 3 %).
#
# Usage: scripts/bench_telemetry.sh [SIZE] [RUNS]     (default: 100M 7)
# Env:   BENCH_DIR  where inputs and outputs go (default: a fresh dir under ${TMPDIR:-/tmp})
set -euo pipefail

cd "$(dirname "$0")/.."
size="${1:-100M}"
runs="${2:-7}"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }

cargo build --release --bin canvas-sis >&2
bin=target/release/canvas-sis
work="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/canvas-sis-telemetry.XXXXXX")}"
mkdir -p "$work"
data="$work/data-$size"
[ -f "$data/enrollments.csv" ] || python3 scripts/bench/gen_sis.py "$data" "$size"
cat "$data"/*.csv >/dev/null

python3 scripts/bench/otlp_sink.py >"$work/sink.port" 2>"$work/sink.log" &
sink=$!
trap 'kill "$sink" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
endpoint="http://127.0.0.1:$(cat "$work/sink.port")"

# one MODE: prints "wall_s cpu_s" of one `canvas-sis pack` run.
one() {
    local -a env=(env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_SDK_DISABLED)
    if [ "$1" = on ]; then
        env+=(OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint" OTEL_SERVICE_NAME=canvas-sis-bench)
    else
        env+=(OTEL_SDK_DISABLED=true)
    fi
    rm -f "$work/out.zip"
    "${env[@]}" /usr/bin/time -f "%e %U %S" -o "$work/time.txt" \
        "$bin" pack "$data" -o "$work/out.zip" >/dev/null 2>"$work/stderr.txt"
    awk '{ print $1, $2 + $3 }' "$work/time.txt"
}

one off >/dev/null # warm-up
: >"$work/off.txt"
: >"$work/on.txt"
for _ in $(seq "$runs"); do
    one off >>"$work/off.txt"
    one on >>"$work/on.txt"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
off_wall=$(cut -d' ' -f1 "$work/off.txt" | median)
on_wall=$(cut -d' ' -f1 "$work/on.txt" | median)
off_cpu=$(cut -d' ' -f2 "$work/off.txt" | median)
on_cpu=$(cut -d' ' -f2 "$work/on.txt" | median)
echo
echo "canvas-sis pack, $size input, $runs runs each (alternating), $(nproc) cores; OTLP sink: $(tail -1 "$work/sink.log" 2>/dev/null || echo '?')"
printf '| telemetry | median wall s | median CPU s |\n|---|---|---|\n'
printf '| off (OTEL_SDK_DISABLED=true) | %s | %s |\n' "$off_wall" "$off_cpu"
printf '| on (OTLP to local sink) | %s | %s |\n' "$on_wall" "$on_cpu"
awk -v a="$off_wall" -v b="$on_wall" -v c="$off_cpu" -v d="$on_cpu" \
    'BEGIN { printf "overhead: wall %+.2f %%, CPU %+.2f %% (target < 3 %%)\n", (b / a - 1) * 100, (d / c - 1) * 100 }'
