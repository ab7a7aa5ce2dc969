#!/usr/bin/env bash
# Benchmarks the cloud worker (`canvas-sis run`, issue 5) against the Python pipeline that today's
# cron scripts amount to (scripts/bench/py_worker.py: boto3 download, zipfile, requests POST, poll;
# and its `--lean` form, issue 19's reference: each GET streamed into its zip entry at level 6),
# on the same ~200 MiB folder batch, with moto (S3 → EventBridge → SQS FIFO) and the Canvas
# simulator on loopback. One run prints, against the Python baseline measured in the same run:
#   - one batch end to end (process start → exit), BENCH_ROUNDS rounds (default 3) in which each
#     pipeline runs once on the same bytes, the order rotating from round to round (round 1:
#     canvas-sis, lean, python; round 2: lean, python, canvas-sis; …): each run's wall time and
#     peak RSS, the medians, the size of the zip each posted, and from the medians the ratios
#     against the targets (≥ 3x faster, ≤ 1/5 of the memory) and against the lean worker;
#   - idle: VmRSS after 5 s on an empty queue (target ≤ 20 MiB), and exit within 5 s of SIGTERM;
#   - start → first SQS ReceiveMessage, seen by a TCP proxy in front of moto, median of 5
#     (target ≤ 150 ms).
# Canvas's processing is left out for both pipelines: the simulator models every row (minutes for
# 3 million), so the helper forces each import to `imported` once uploaded (finish_imports).
#
# Usage: scripts/bench_worker.sh [SIZE]         (default: 200M)
# Env:   CANVAS_SIS_BIN  the binary to measure (default: the worker as the image ships it,
#                        `cargo build --release --locked --no-default-features --features aws`
#                        with the Dockerfile's RUSTFLAGS, in target/image:
#                        target/image/release/canvas-sis); it also runs `validate`
#        CANVAS_SIM_BIN  the binary that runs the simulator (default: the default release build,
#                        target/release/canvas-sis)
#        BENCH_ROUNDS    rounds of the end-to-end batch (default 3; 1 for a single run each)
#        BENCH_KEEP=1    keep the work dir (data, logs, /usr/bin/time outputs)
#
# Needs python3 ≥ 3.11 (the pinned moto[server] and boto3 of tests/python/requirements.txt go into
# .venv, as scripts/test.sh does) and GNU time (installed with apt-get when running as root).
# If the binary has no `run` subcommand yet, only the Python side is measured, and it says so.
# A manual benchmark: not part of CI.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
size=${1:-200M}
rounds=${BENCH_ROUNDS:-3}
runs_first_receive=5

die() { echo "bench_worker: $*" >&2; exit 1; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer, not '$rounds'"

# shellcheck source=scripts/bench/stack.sh
. scripts/bench/stack.sh
need_package /usr/bin/time time
ensure_venv
if [ -z "${CANVAS_SIS_BIN:-}" ]; then
    # The worker measured is the one deployed, built as the Dockerfile builds it: no simulator,
    # the image's RUSTFLAGS (in a target dir of its own, so other builds keep their cache).
    image_rustflags=$(sed -n 's/^ENV RUSTFLAGS="\(.*\)"$/\1/p' Dockerfile)
    [ -n "$image_rustflags" ] || die "no ENV RUSTFLAGS line in the Dockerfile"
    RUSTFLAGS=$image_rustflags cargo build --release --locked --no-default-features --features aws \
        --bin canvas-sis --target-dir target/image >&2
    CANVAS_SIS_BIN=$root/target/image/release/canvas-sis
fi
if [ -z "${CANVAS_SIM_BIN:-}" ]; then
    cargo build --release --locked --bin canvas-sis >&2
    CANVAS_SIM_BIN=$root/target/release/canvas-sis
fi
bin=$CANVAS_SIS_BIN
sim_bin=$CANVAS_SIM_BIN
[ -x "$bin" ] || die "no executable at CANVAS_SIS_BIN=$bin"
[ -x "$sim_bin" ] || die "no executable at CANVAS_SIM_BIN=$sim_bin"
has_run=1
"$bin" run --help >/dev/null 2>&1 || has_run=0

work=$(mktemp -d "${TMPDIR:-/tmp}/canvas-sis-bench-worker.XXXXXX")
pids=()
trap stack_cleanup EXIT
trap 'exit 130' INT TERM
echo "work dir: $work; cores: $(nproc); worker: $bin ($(stat -c %s "$bin") bytes); simulator: $sim_bin" >&2

# --- services -------------------------------------------------------------------------------------

stack_start

# --- data -----------------------------------------------------------------------------------------

data=$work/data
"$py" "$helper" gen "$data" "$size"
"$bin" validate "$data" >"$work/validate.txt" 2>&1 || {
    cat "$work/validate.txt" >&2
    die "the generated batch does not pass canvas-sis validate"
}
input=$(du -cb "$data"/*.csv | tail -1 | cut -f1)
echo "data: $size ($input bytes): $(tr '\n' ';' <"$work/validate.txt")" >&2

# --- one batch end to end -------------------------------------------------------------------------

# measure NAME CMD...: runs CMD under /usr/bin/time -v (and a 30-minute timeout), its output
# and time in $work/out-NAME.txt and $work/time-NAME.txt; prints "wall_s rss_kib cpu_s".
measure() {
    local name=$1
    shift
    /usr/bin/time -v -o "$work/time-$name.txt" timeout 1800 "$@" >"$work/out-$name.txt" 2>&1 || {
        cat "$work/out-$name.txt" "$work/time-$name.txt" >&2
        die "$name failed"
    }
    local wall rss cpu
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$work/time-$name.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time-$name.txt" |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-$name.txt")
    echo "$wall $rss $cpu"
}

# batch N: drops folder bench-N (CSVs, then the manifest) and waits for its message. A new folder
# per run: moto's event bodies are otherwise equal, and FIFO content dedup would drop one.
batch() {
    "$py" "$helper" upload "$data" "drop/main/bench-$1"
    "$py" "$helper" wait-message "$queue"
}

# after NAME: the queue must be empty again (the pipeline deleted its message).
after() {
    local depth
    depth=$("$py" "$helper" depth "$queue")
    [ "$depth" = "0 0" ] || die "$1 left the queue at (visible, in flight) = ($depth)"
}

# pipeline NAME: runs the pipeline NAME once on one batch.
pipeline() {
    case $1 in
        canvas-sis) measure "$1-$2" "$bin" run --until-empty --max-batches 1 --poll-secs 0.2 ;;
        python-lean) measure "$1-$2" "$py" scripts/bench/py_worker.py --lean ;;
        python) measure "$1-$2" "$py" scripts/bench/py_worker.py ;;
    esac
}

cat "$data"/*.csv >/dev/null # page cache warm for the uploads
load=$(cut -d' ' -f1-3 /proc/loadavg)
contenders=(python-lean python)
[ "$has_run" = 1 ] && contenders=(canvas-sis python-lean python)
n=${#contenders[@]}
# results: one line per run, "NAME ROUND wall_s rss_kib cpu_s zip_bytes", in the order run.
results=$work/results.txt
: >"$results"
runs=0
for ((round = 1; round <= rounds; round++)); do
    order=""
    for ((k = 0; k < n; k++)); do
        name=${contenders[(round - 1 + k) % n]}
        runs=$((runs + 1))
        batch "$runs"
        line=$(pipeline "$name" "$round")
        after "$name"
        # Every run must have posted one new import: its id is the run's number.
        read -r id zip_bytes < <("$py" "$helper" last-upload "$sim")
        [ "$id" = "$runs" ] || die "$name (round $round) left import $id newest, expected $runs"
        echo "$name $round $line $zip_bytes" >>"$results"
        order="$order $name"
    done
    echo "round $round:$order" >&2
done
if [ "$has_run" = 1 ]; then
    # Where ours spends, for the reader: its validate and pack commands alone, on local files.
    echo "validate $(measure validate "$bin" validate "$data")" >"$work/stages.txt"
    echo "pack $(measure pack "$bin" pack "$data" -o "$work/pack.zip")" >>"$work/stages.txt"
fi

# --- idle -----------------------------------------------------------------------------------------

# idle NAME CMD...: CMD on an empty queue; after 5 s prints "NAME vmrss_kib exit_ms rc".
idle() {
    local name=$1 pid rss t0 rc=0 url
    shift
    url=$("$py" "$helper" queue "idle-$name.fifo")
    SIS_QUEUE_URL=$url "$@" >"$work/idle-$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    sleep 5
    kill -0 "$pid" 2>/dev/null || { cat "$work/idle-$name.log" >&2; die "$name exited while idle"; }
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    t0=$(date +%s%N)
    kill -TERM "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        echo "$name $rss - killed"
        return
    fi
    wait "$pid" || rc=$?
    echo "$name $rss $(( ($(date +%s%N) - t0) / 1000000 )) $rc"
}

idle_results=$work/idle.txt
idle python "$py" scripts/bench/py_worker.py >"$idle_results"
if [ "$has_run" = 1 ]; then
    idle canvas-sis "$bin" run --poll-secs 0.2 >>"$idle_results"
fi

# --- start → first receive ------------------------------------------------------------------------

first_results=$work/first.txt
# The Python baseline never exits on an empty queue: the probe kills it after its first receive.
echo "python $("$py" "$helper" first-receive "$("$py" "$helper" queue probe-python.fifo)" \
    "$runs_first_receive" --kill -- "$py" scripts/bench/py_worker.py | tail -1)" >"$first_results"
if [ "$has_run" = 1 ]; then
    echo "canvas-sis $("$py" "$helper" first-receive "$("$py" "$helper" queue probe-ours.fifo)" \
        "$runs_first_receive" -- "$bin" run --until-empty --poll-secs 0.2 | tail -1)" >>"$first_results"
fi

# --- report ---------------------------------------------------------------------------------------

# The medians of the runs, one line per pipeline in the table's order (python, python-lean,
# canvas-sis): "NAME wall_s rss_kib cpu_s zip_bytes"; and each run's wall time and peak RSS.
median_awk=$(cat "$root"/scripts/bench/median.awk)
medians=$work/medians.txt
awk "$median_awk"'
    { t[$1] = t[$1] " " $3; r[$1] = r[$1] " " $4; c[$1] = c[$1] " " $5; z[$1] = z[$1] " " $6; seen[$1] = 1 }
    END {
        split("python python-lean canvas-sis", order, " ")
        for (i = 1; i <= 3; i++) if (order[i] in seen) {
            k = order[i]
            print k, median(t[k]), median(r[k]), median(c[k]), median(z[k])
        }
    }' "$results" >"$medians"

echo
echo "one folder batch: $size ($input bytes, 4 CSVs) via moto + simulator on loopback"
echo "$(nproc) cores, load average $load before the runs (wall times need a quiet machine; CPU s does not)"
echo "$rounds round(s), each pipeline once per round on the same bytes, the order rotating:" \
    "$(awk '$2 != r { printf "%sround %s:", (r ? "; " : ""), $2; r = $2 } { printf " %s", $1 }' "$results")"
awk '
    { w[$1] = w[$1] sprintf(" %.2f", $3); m[$1] = m[$1] sprintf(" %.1f", $4 / 1024) }
    END { split("python python-lean canvas-sis", order, " ")
          for (i = 1; i <= 3; i++) if (order[i] in w)
              printf "%-11s each run: wall s%s; peak RSS MiB%s\n", order[i], w[order[i]], m[order[i]] }' "$results"
echo "medians of $rounds:"
awk '
    { n[NR] = $1; t[NR] = $2; r[NR] = $3; c[NR] = $4; z[NR] = $5 }
    END {
        printf "| %-11s | %7s | %7s | %8s | %11s | %11s | %11s |\n", "pipeline", "wall s", "CPU s", "peak RSS", "zip bytes", "speed-up", "memory"
        printf "| %-11s | %7s | %7s | %8s | %11s | %11s | %11s |\n", "", "", "", "MiB", "", "python/ours", "ours/python"
        print "|-------------|---------|---------|----------|-------------|-------------|-------------|"
        for (i = 1; i <= NR; i++) {
            su = (i == 1) ? "" : sprintf("%.2fx", t[1] / t[i])
            mem = (i == 1) ? "" : sprintf("%.3f", r[i] / r[1])
            printf "| %-11s | %7.2f | %7.2f | %8.1f | %11d | %11s | %11s |\n", n[i], t[i], c[i], r[i] / 1024, z[i], su, mem
        }
        printf "| %-11s | %7s | %7s | %8s | %11s | %11s | %11s |\n", "target", "", "", "", "", ">= 3x", "<= 0.200"
    }' "$medians"
for ((round = 1; round <= rounds; round++)); do
    for name in python python-lean; do
        sed -n "s/^phases/$name phases (round $round)/p" "$work/out-$name-$round.txt"
    done
done
if [ "$has_run" = 1 ]; then
    awk '{ printf "%s canvas-sis %s alone on local files: %.2f s, peak RSS %.1f MiB", (NR == 1 ? "for scale:" : ";"), $1, $2, $3 / 1024 }
         END { print "" }' "$work/stages.txt"
fi
echo
echo "idle on an empty queue (5 s), then SIGTERM"
awk '
    { printf "| %-10s | idle VmRSS %7.1f MiB | exit after SIGTERM: %s ms, status %s |\n", $1, $2 / 1024, $3, $4 }
    END { print "| target     | canvas-sis <= 20 MiB     | exit within 5000 ms |" }' "$idle_results"
echo
echo "start → first SQS ReceiveMessage (median of $runs_first_receive)"
awk '{ printf "| %-10s | %8.1f ms |\n", $1, $2 } END { print "| target     | <= 150 ms (canvas-sis) |" }' "$first_results"
if [ "$has_run" = 1 ]; then
    echo
    awk -v rounds="$rounds" -v idle="$(awk '$1 == "canvas-sis" {print $2}' "$idle_results")" \
        -v first="$(awk '$1 == "canvas-sis" {print $2}' "$first_results")" '
        { t[$1] = $2; r[$1] = $3; z[$1] = $5 }
        END {
            printf "from the medians of %d run(s) each:\n", rounds
            printf "speed-up %.2fx (target >= 3x): %s\n", t["python"] / t["canvas-sis"], (t["python"] / t["canvas-sis"] >= 3) ? "met" : "MISSED"
            printf "memory %.3f of python (target <= 0.2): %s\n", r["canvas-sis"] / r["python"], (r["canvas-sis"] / r["python"] <= 0.2) ? "met" : "MISSED"
            printf "against the lean Python worker (issue 19: >= 4x, memory bounded): %.2fx faster, %.3f of its memory, zip %.4fx its size\n", t["python-lean"] / t["canvas-sis"], r["canvas-sis"] / r["python-lean"], z["canvas-sis"] / z["python-lean"]
            printf "idle %.1f MiB (target <= 20): %s\n", idle / 1024, (idle / 1024 <= 20) ? "met" : "MISSED"
            printf "first receive %.1f ms (target <= 150): %s\n", first, (first <= 150) ? "met" : "MISSED"
        }' "$medians"
else
    echo
    echo "NOTE: $bin has no \`run\` subcommand yet (issue 5's worker has not landed):" \
        "only the Python baseline was measured. Re-run with a binary that has \`run\`."
fi
