#!/usr/bin/env bash
# Regenerates link/hot-functions.txt: every function of canvas-sis that the cloud worker executes
# for one folder batch (start, SQS receive, S3 download, ledger writes, validate, pack, upload,
# wait, archive, delete, the last empty receive), as linker symbol names, one per line, sorted.
# build.rs has release links lay these out first and together (`--symbol-ordering-file`), so the
# pages of code a worker touches are few and contiguous: the kernel maps file pages 64 KiB at a
# time around each fault, and scattered hot code made most of .text resident (issue 5's memory).
#
# The run is the benchmark's (scripts/bench/stack.sh: moto + EventBridge + FIFO + simulator on
# loopback), on a small batch under valgrind's callgrind, which lists each function executed.
# Paths that run does not take (TLS to real AWS and Canvas endpoints, Lambda, the listener)
# stay outside the list and cost a few more pages when used. A function renamed or added since
# the last profile is laid out after the list: a stale list costs memory, never correctness.
#
# Usage: scripts/profile_hot_functions.sh      (then rebuild: cargo build --release)
# Needs valgrind (installed with apt-get when running as root) and python3 ≥ 3.11.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
out=link/hot-functions.txt

die() { echo "profile_hot_functions: $*" >&2; exit 1; }

# shellcheck source=scripts/bench/stack.sh
. scripts/bench/stack.sh
need_package valgrind valgrind
ensure_venv
cargo build --release --locked --bin canvas-sis >&2
bin=$root/target/release/canvas-sis
work=$(mktemp -d "${TMPDIR:-/tmp}/canvas-sis-profile.XXXXXX")
pids=()
trap stack_cleanup EXIT
trap 'exit 130' INT TERM
stack_start

# Enough rows of every kind for each validation and packing path; the size does not matter.
"$py" "$helper" gen "$work/data" 12M
"$py" "$helper" upload "$work/data" drop/main/profile
"$py" "$helper" wait-message "$queue"
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    "$bin" run --until-empty --max-batches 1 --poll-secs 0.2 >"$work/run.log" 2>&1 || {
    tail -20 "$work/run.log" >&2
    die "the profiled worker failed"
}
sed 's/\x1b\[[0-9;]*m//g' "$work/run.log" | grep -q 'outcome="imported"' ||
    die "the profiled worker did not import the batch (log: $work/run.log)"

# "Ir (pct)  file:function [object]" for every function with a cost, those of our binary kept.
callgrind_annotate --threshold=100 --inclusive=no "$work/callgrind.out" |
    awk -v obj=" [$bin]" '{
        n = length($0) - length(obj)
        if (n > 0 && substr($0, n + 1) == obj) {
            line = substr($0, 1, n)
            sub(/^ *[0-9,]+ \([ 0-9.]+%\)  [^:]*:/, "", line)
            print line
        }
    }' |
    grep -v -e '^0x' -e '^(below' | LC_ALL=C sort -u >"$out"
echo "$(wc -l <"$out") functions in $out" >&2
