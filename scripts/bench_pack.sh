#!/usr/bin/env bash
# Benchmarks canvas-sis packing against Info-ZIP `zip -6`, `pigz -6 -p N` (deflate on every core:
# the limit for the same work) and Python `zipfile` (level 6) on generated SIS CSVs. Per size, it
# runs BENCH_ROUNDS rounds (default 3) in which every tool runs once on the same files, the order
# rotating from round to round, and prints each run's wall time and peak RSS, then one table of
# the medians: wall time, CPU time, output size, peak RSS, and from the medians the ratios issue
# 19 asks of the real command. The row "validate+pack" is `canvas-sis pack` as users run it (the
# zip is written while the batch is validated), to compare against `zip -6` and pigz, which do not
# validate.
#
# Usage: scripts/bench_pack.sh [SIZE...]          (default: 100M 1G)
# Env:   BENCH_DIR       where inputs and outputs go (default: a fresh dir under ${TMPDIR:-/tmp})
#        BENCH_ROUNDS    rounds per size (default 3; 1 for a single run of each tool)
#        PACK_ARGS       extra options for pack_bench, e.g. "--threads 2 --level 6"
#        CANVAS_SIS_BIN  the canvas-sis binary (validate+pack), and
#        PACK_BENCH_BIN  the pack_bench example (the pack engine alone): both set, nothing is
#                        built; otherwise both come from `cargo build --release`
#
# Every tool reads the same files, after a warm-up read, so all read from the page cache.
set -euo pipefail

cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100M 1G)
rounds=${BENCH_ROUNDS:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer, not '$rounds'" >&2; exit 1; }

need() {
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get install -y zip pigz time >/dev/null
        else
            echo "missing $1: install Debian packages zip, pigz and time" >&2
            exit 1
        fi
    fi
}
need zip
need pigz
need /usr/bin/time
need python3

if [ -n "${CANVAS_SIS_BIN:-}" ] && [ -n "${PACK_BENCH_BIN:-}" ]; then
    pack_bin=$PACK_BENCH_BIN
    cli_bin=$CANVAS_SIS_BIN
else
    cargo build --release --example pack_bench --bin canvas-sis >&2
    pack_bin=target/release/examples/pack_bench
    cli_bin=target/release/canvas-sis
fi
[ -x "$pack_bin" ] || { echo "no executable pack_bench at $pack_bin" >&2; exit 1; }
[ -x "$cli_bin" ] || { echo "no executable canvas-sis at $cli_bin" >&2; exit 1; }
cores=$(nproc)
work="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/canvas-sis-bench.XXXXXX")}"
mkdir -p "$work"
echo "work dir: $work; cores: $(nproc)" >&2

# run OUT CMD...: runs CMD under /usr/bin/time -v; prints "cpu_s wall_s rss_kib bytes".
# CPU seconds (user + system) are reported too: on a shared machine wall time depends on load.
run() {
    local out=$1
    shift
    rm -f "$out"
    /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" || {
        cat "$work/stderr.txt" >&2
        exit 1
    }
    local wall rss cpu
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt" |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    echo "$cpu $wall $rss $(stat -c %s "$out")"
}

# The tools, in the table's order; `tool I` runs the I-th (0-based) on $data.
read -r -a pack_args <<<"${PACK_ARGS:-}"
tools=("zip -6" "pigz -6 -p $cores" "canvas-sis pack" "python zipfile -6" "validate+pack")
tool() {
    case $1 in
        0) run "$work/zip6.zip" bash -c "cd '$data' && zip -6 -q -r '$work/zip6.zip' ." ;;
        1) run "$work/pigz.gz" bash -c "cat '$data'/*.csv | pigz -6 -p $cores > '$work/pigz.gz'" ;;
        2) run "$work/pack.zip" "$pack_bin" "$data" "$work/pack.zip" "${pack_args[@]}" ;;
        3) run "$work/py.zip" python3 scripts/bench/py_zip.py "$data" "$work/py.zip" ;;
        4) run "$work/cli.zip" "$cli_bin" pack "$data" -o "$work/cli.zip" ;;
    esac
}

# The median of each column, over the runs of each tool: awk with `median(list)`.
median_awk=$(cat scripts/bench/median.awk)

for size in "${sizes[@]}"; do
    data="$work/data-$size"
    if [ ! -f "$data/enrollments.csv" ]; then
        python3 scripts/bench/gen_sis.py "$data" "$size"
    fi
    input=$(du -cb "$data"/*.csv | tail -1 | cut -f1)
    cat "$data"/*.csv >/dev/null # warm the page cache for every tool alike
    # results: one line per run, "TOOL ROUND cpu_s wall_s rss_kib bytes", in the order run;
    # medians: one line per tool in the table's order, "TOOL cpu_s wall_s rss_kib bytes".
    results="$work/results-$size.txt"
    medians="$work/medians-$size.txt"
    : >"$results"
    n=${#tools[@]}
    for ((round = 1; round <= rounds; round++)); do
        for ((k = 0; k < n; k++)); do
            i=$(((round - 1 + k) % n))
            echo "$i $round $(tool "$i")" >>"$results"
        done
    done
    unzip -tq "$work/pack.zip" >&2
    cmp "$work/pack.zip" "$work/cli.zip" >&2 || echo "note: the CLI's zip differs from pack_bench's" >&2
    awk -v n="$n" "$median_awk"'
        { c[$1] = c[$1] " " $3; t[$1] = t[$1] " " $4; r[$1] = r[$1] " " $5; b[$1] = b[$1] " " $6 }
        END { for (i = 0; i < n; i++) print i, median(c[i]), median(t[i]), median(r[i]), median(b[i]) }' \
        "$results" >"$medians"
    echo
    echo "input: $size ($input bytes, 4 CSVs), $cores cores; $rounds round(s), each tool once per round" \
        "on the same files, the order rotating (round 1 in the table's order, each next round starting one tool later)"
    for ((i = 0; i < n; i++)); do
        awk -v i="$i" -v name="${tools[i]}" '
            $1 == i { w = w sprintf(" %.2f", $4); m = m sprintf(" %.1f", $5 / 1024) }
            END { printf "%-18s each run: wall s%s; peak RSS MiB%s\n", name, w, m }' "$results"
    done
    echo "medians of $rounds:"
    awk -v input="$input" -v rounds="$rounds" -v names="$(printf '%s\n' "${tools[@]}")" '
        BEGIN { split(names, n, "\n") }
        { c[NR] = $2; t[NR] = $3; r[NR] = $4; b[NR] = $5 }
        END {
            printf "| %-18s | %7s | %9s | %7s | %13s | %9s | %6s | %8s |\n", "tool", "wall s", "wall vs", "CPU s", "output bytes", "size vs", "in/out", "peak RSS"
            printf "| %-18s | %7s | %9s | %7s | %13s | %9s | %6s | %8s |\n", "", "", "zip -6", "", "", "zip -6", "", "MiB"
            print "|--------------------|---------|-----------|---------|---------------|-----------|--------|----------|"
            for (i = 1; i <= NR; i++)
                printf "| %-18s | %7.2f | %8.2fx | %7.2f | %13d | %8.4fx | %6.2f | %8.1f |\n", n[i], t[i], t[1] / t[i], c[i], b[i], b[i] / b[1], input / b[i], r[i] / 1024
            # Rows: 1 zip -6, 2 pigz, 3 pack_bench, 4 python, 5 validate+pack (the command).
            printf "\ncanvas-sis pack (validation included), medians of %d: %.2fx faster than zip -6 (target >= 3), %.2fx the pigz wall time (target <= 1.3), zip %.4fx the zip -6 size (target <= 1.02), peak RSS %.1f MiB (target <= 48)\n", rounds, t[1] / t[5], t[5] / t[2], b[5] / b[1], r[5] / 1024
        }' "$medians"
done
