#!/usr/bin/env bash
# Benchmarks canvas-sis packing against Info-ZIP `zip -6`, `pigz -6 -p N` (deflate on every core:
# the limit for the same work) and Python `zipfile` (level 6) on generated SIS CSVs, and prints one
# table per size: wall time, output size, peak RSS, then the ratios issue 19 asks of the real
# command. The row "validate+pack" is `canvas-sis pack` as users run it (the zip is written while
# the batch is validated), to compare against `zip -6` and pigz, which do not validate.
#
# Usage: scripts/bench_pack.sh [SIZE...]          (default: 100M 1G)
# Env:   BENCH_DIR  where inputs and outputs go (default: a fresh dir under ${TMPDIR:-/tmp})
#        PACK_ARGS  extra options for pack_bench, e.g. "--threads 2 --level 6"
#
# Every tool reads the same files, after a warm-up read, so all read from the page cache.
set -euo pipefail

cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100M 1G)

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

cargo build --release --example pack_bench --bin canvas-sis >&2
pack_bin=target/release/examples/pack_bench
cli_bin=target/release/canvas-sis
work="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/canvas-sis-bench.XXXXXX")}"
mkdir -p "$work"
echo "work dir: $work; cores: $(nproc)" >&2

# run NAME OUT CMD...: runs CMD under /usr/bin/time -v; prints "NAME cpu_s wall_s rss_kib bytes".
# CPU seconds (user + system) are reported too: on a shared machine wall time depends on load.
run() {
    local name=$1 out=$2
    shift 2
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
    echo "$name $cpu $wall $rss $(stat -c %s "$out")"
}

for size in "${sizes[@]}"; do
    data="$work/data-$size"
    if [ ! -f "$data/enrollments.csv" ]; then
        python3 scripts/bench/gen_sis.py "$data" "$size"
    fi
    input=$(du -cb "$data"/*.csv | tail -1 | cut -f1)
    cat "$data"/*.csv >/dev/null # warm the page cache for every tool alike
    results="$work/results-$size.txt"
    {
        run "zip -6" "$work/zip6.zip" bash -c "cd '$data' && zip -6 -q -r '$work/zip6.zip' ."
        run "pigz -6 -p $(nproc)" "$work/pigz.gz" bash -c "cat '$data'/*.csv | pigz -6 -p $(nproc) > '$work/pigz.gz'"
        # shellcheck disable=SC2086
        run "canvas-sis pack" "$work/pack.zip" "$pack_bin" "$data" "$work/pack.zip" ${PACK_ARGS:-}
        run "python zipfile -6" "$work/py.zip" python3 scripts/bench/py_zip.py "$data" "$work/py.zip"
        run "validate+pack" "$work/cli.zip" "$cli_bin" pack "$data" -o "$work/cli.zip"
    } >"$results"
    unzip -tq "$work/pack.zip" >&2
    cmp "$work/pack.zip" "$work/cli.zip" >&2 || echo "note: the CLI's zip differs from pack_bench's" >&2
    echo
    echo "input: $size ($input bytes, 4 CSVs), $(nproc) cores"
    awk -v input="$input" '
        { name = $1; for (k = 2; k <= NF - 4; k++) name = name " " $k
          c[NR] = $(NF-3); t[NR] = $(NF-2); r[NR] = $(NF-1); b[NR] = $NF; n[NR] = name }
        END {
            printf "| %-18s | %7s | %9s | %7s | %13s | %9s | %6s | %8s |\n", "tool", "wall s", "wall vs", "CPU s", "output bytes", "size vs", "in/out", "peak RSS"
            printf "| %-18s | %7s | %9s | %7s | %13s | %9s | %6s | %8s |\n", "", "", "zip -6", "", "", "zip -6", "", "MiB"
            print "|--------------------|---------|-----------|---------|---------------|-----------|--------|----------|"
            for (i = 1; i <= NR; i++)
                printf "| %-18s | %7.2f | %8.2fx | %7.2f | %13d | %8.4fx | %6.2f | %8.1f |\n", n[i], t[i], t[1] / t[i], c[i], b[i], b[i] / b[1], input / b[i], r[i] / 1024
            # Rows: 1 zip -6, 2 pigz, 3 pack_bench, 4 python, 5 validate+pack (the command).
            printf "\ncanvas-sis pack (validation included): %.2fx faster than zip -6 (target >= 3), %.2fx the pigz wall time (target <= 1.3), zip %.4fx the zip -6 size (target <= 1.02), peak RSS %.1f MiB (target <= 48)\n", t[1] / t[5], t[5] / t[2], b[5] / b[1], r[5] / 1024
        }' "$results"
done
