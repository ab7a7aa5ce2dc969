#!/usr/bin/env bash
# Proves that the deterministic simulation (tests/it/dst/) can see: re-introduces, one at a
# time, each defect kept as a patch under tests/mutations/ (defects the guarantees issue fixed,
# written against today's code), runs the simulation's budget on it, and prints a table: which
# seed caught it, after how many seeds, with which breach. A mutant nobody catches is a hole in
# the simulation, and the script exits 1.
#
#   scripts/mutants.sh                 # every patch, the CI budget (SIM_SEEDS, default 2000)
#   SIM_SEEDS=500 scripts/mutants.sh tests/mutations/m07-*.patch
#
# The patches are applied to a scratch worktree of HEAD (target/mutants/tree; committed code
# only), built into a target directory of its own (target/mutants/target: the first run builds
# the dependencies once, ~10 min on 2 cores); each mutant then rebuilds only the crates it touches
# (1-3 min). Not the checkout's target directory: cargo names a workspace's crates by their path
# inside the workspace, so a mutant built there would be taken for the checkout's own code by
# the checkout's next build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seeds=${SIM_SEEDS:-2000}
tree=$root/target/mutants/tree
logs=$root/target/mutants/logs
mkdir -p "$logs"
if [ $# -gt 0 ]; then patches=("$@"); else patches=(tests/mutations/*.patch); fi

git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
git worktree prune
git worktree add -q --detach "$tree" HEAD
trap 'git -C "$root" worktree remove --force "$tree" 2>/dev/null || true' EXIT
export CARGO_TARGET_DIR=$root/target/mutants/target

# One simulation run in the tree as it is now (every world: folder, cloud, Lambda): prints
# "caught <world> <seed> <position> <breach>" or "clean".
simulate() {
  local log=$1
  if (cd "$tree" && SIM_SEEDS=$seeds cargo test -q --locked --test it -- dst::every >"$log" 2>&1); then
    echo clean
    return
  fi
  local line
  line=$(grep -m1 '^dst: seed [0-9]* breaks' "$log" || true)
  if [ -z "$line" ]; then
    echo "broken (the build or the test failed otherwise: $log)"
    return
  fi
  local seed position breach
  seed=$(sed -E 's/^dst: seed ([0-9]+) .*/\1/' <<<"$line")
  position=$(sed -E 's/.*seed number ([0-9]+) of the run.*/\1/' <<<"$line")
  breach=$(grep -A1 -m1 '^dst: seed [0-9]* breaks' "$log" | tail -1 | sed -E 's/^ +//' | cut -c1-110)
  local world=folder
  if grep -m1 '^replay: ' "$log" | grep -q every_cloud_seed; then world=cloud; fi
  if grep -m1 '^replay: ' "$log" | grep -q every_lambda_seed; then world=lambda; fi
  echo "caught $world $seed $position $breach"
}

echo "baseline (no mutation), $seeds seeds ..."
base=$(simulate "$logs/baseline.log")
if [ "$base" != clean ]; then
  echo "the unmutated code fails the simulation: $base" >&2
  exit 2
fi

printf '\n| mutation | world | caught by seed | seeds run until caught | first breach |\n|---|---|---|---|---|\n' >"$logs/table.md"
missed=0
for patch in "${patches[@]}"; do
  name=$(basename "$patch" .patch)
  git -C "$tree" checkout -q -- .
  git -C "$tree" apply "$root/$patch"
  echo "$name ..."
  result=$(simulate "$logs/$name.log")
  case $result in
    caught*)
      read -r _ world seed position breach <<<"$result"
      echo "| $name | $world | $seed | $position | $breach |" >>"$logs/table.md"
      ;;
    *)
      missed=$((missed + 1))
      echo "| $name | - | NOT CAUGHT in $seeds seeds | - | $result |" >>"$logs/table.md"
      ;;
  esac
done
git -C "$tree" checkout -q -- .
cat "$logs/table.md"
echo "(logs: $logs)"
[ "$missed" -eq 0 ]
