#!/usr/bin/env bash
# The test command: rustfmt and clippy, every Rust test, the black-box Python suite against the
# built simulator, the local cloud stack end to end, and the static checks of everything that
# deploys it.
#
#   scripts/test.sh            # from anywhere inside the repository
#
# Needs only cargo, python3 (3.11) and curl (and Debian's chromium, which it installs as root). Creates .venv (git-ignored) on first use and installs
# tests/python/requirements.txt into it (exact pins, moto[server] among them: the cloud worker's
# tests start it); later runs reuse it and only re-install when
# the requirements file changed. If curl is missing it is installed with apt-get when running as
# root (as CI does), otherwise the script stops and says so. Any failure fails the script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/tests/python/requirements.txt"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CANVAS_SIS_BIN="${CANVAS_SIS_BIN:-$TARGET_DIR/debug/canvas-sis}"
# The cloud worker's tests start this moto server (pinned in tests/python/requirements.txt).
export CANVAS_SIS_MOTO="$VENV/bin/moto_server"

# The whole output (cargo test and pytest) is kept here and checked at the end: no token value
# used by the tests may appear in it (scripts/check_token_leaks.sh).
OUTPUT_LOG="${TEST_OUTPUT_LOG:-$TARGET_DIR/test-output.log}"
mkdir -p "$(dirname "$OUTPUT_LOG")"
exec > >(tee "$OUTPUT_LOG") 2>&1

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nscripts/test.sh: %s\n' "$*" >&2; exit 1; }

declare -a SUMMARY=()
trap 'status=$?; if [ "$status" -ne 0 ]; then printf "\n==> FAILED (exit %s) after: %s\n" "$status" "${SUMMARY[*]:-nothing}" >&2; fi' EXIT

ensure_curl() {
    command -v curl >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "curl is missing: installing it with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
        command -v curl >/dev/null 2>&1 || die "apt-get ran but curl is still missing"
    else
        die "curl is required by the tests (the Canvas guides' upload forms); install it and re-run"
    fi
}

# The status page's browser tests (tests/python/test_status_page.py) drive Debian's Chromium,
# never a browser a test tool downloads. Installed with apt-get when running as root (as CI does).
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "chromium is missing: installing Debian's package with apt-get (the status page's browser tests)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        [ -x /usr/bin/chromium ] || die "apt-get ran but /usr/bin/chromium is still missing"
    else
        die "Chromium is required by the status page's browser tests: install Debian's chromium package and re-run"
    fi
}

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)'; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    local python stamp
    if [ ! -x "$VENV/bin/python" ]; then
        python="$(find_python)" || die "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
        step "creating .venv with $python ($("$python" --version 2>&1))"
        "$python" -m venv "$VENV"
    fi
    stamp="$VENV/.requirements.sha256"
    if [ ! -f "$stamp" ] || ! sha256sum --check --status "$stamp" 2>/dev/null; then
        step "installing tests/python/requirements.txt into .venv"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            --requirement "$REQUIREMENTS"
        sha256sum "$REQUIREMENTS" >"$stamp"
    fi
}

ensure_curl
ensure_chromium
ensure_venv
[ -x "$CANVAS_SIS_MOTO" ] || die "moto_server is missing from .venv after installing the requirements"
SUMMARY+=("setup ok")

# Static checks of the Rust code first: they are the quickest to fail. clippy comes with rustup's
# default profile; without it the script stops and says how to get it.
step "cargo fmt --all -- --check"
cargo fmt --all -- --check
SUMMARY+=("fmt ok")

step "cargo clippy --locked --workspace --all-targets -- -D warnings"
cargo clippy --version >/dev/null 2>&1 || die "cargo clippy is missing: rustup component add clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
SUMMARY+=("clippy ok")

# The worker image and the Lambda zip are built without the simulator (the default feature
# `sim`); nothing else builds that way, so check it here or it rots unseen. clippy rather than
# `cargo check`: about the same cost (it re-checks only the few crates whose features differ,
# then the binary), and code that only the simulator's commands still use fails as dead code
# instead of passing with a warning.
step "cargo clippy --locked --no-default-features --features aws --lib --bins -- -D warnings (the worker, without the simulator)"
cargo clippy --locked --no-default-features --features aws --lib --bins -- -D warnings
SUMMARY+=("worker clippy ok")

# `cargo demo` (the README's first command) builds without AWS; check that build the same way.
# The demo itself runs once the tests have passed, below.
step "cargo clippy --locked --no-default-features --features sim --lib --bins -- -D warnings (the demo, without AWS)"
cargo clippy --locked --no-default-features --features sim --lib --bins -- -D warnings
SUMMARY+=("demo clippy ok")

step "cargo build --locked"
cargo build --locked
SUMMARY+=("cargo build ok")

# The simulation's mutation patches (docs/simulation.md) must keep applying to the code they
# re-break; scripts/mutants.sh runs them (too long for every change).
step "git apply --check tests/mutations/*.patch"
for patch in "$ROOT"/tests/mutations/*.patch; do
  git -C "$ROOT" apply --check "$patch"
done
SUMMARY+=("mutation patches apply")

# Includes the deterministic simulation's CI budget (tests/it/dst/: 2,000 seeds).
step "cargo test --locked --workspace --all-targets"
cargo test --locked --workspace --all-targets
SUMMARY+=("cargo test ok")

step "pytest tests/python (simulator and status page: $CANVAS_SIS_BIN; screenshots in target/screenshots)"
[ -x "$CANVAS_SIS_BIN" ] || die "the simulator binary $CANVAS_SIS_BIN was not built"
# Exit 5 (no tests collected) is a failure too: set -e takes every non-zero code.
"$VENV/bin/python" -m pytest "$ROOT/tests/python"
SUMMARY+=("pytest ok")

step "deploy/local/run.sh (the laptop stack: moto + simulator + run --until-empty)"
CANVAS_SIS_BIN="$CANVAS_SIS_BIN" bash "$ROOT/deploy/local/run.sh"
SUMMARY+=("local stack ok")

step "scripts/static_checks.sh (Dockerfile, chart, Kubernetes, Terraform, deploy JSON)"
bash "$ROOT/scripts/static_checks.sh"
SUMMARY+=("static checks ok")

# Last of the cargo steps: the demo's build (no feature `aws`) takes the place of
# target/debug/canvas-sis, which the steps above run as the full build.
# Its output is kept apart: it tells the user the simulator's public default token
# (`sim-token`), which the tests use too, so the token check below would flag it.
step "cargo demo (the README's first command, built without AWS)"
DEMO_LOG="$TARGET_DIR/demo-output.log"
cargo demo >"$DEMO_LOG" 2>&1 || { tail -40 "$DEMO_LOG"; die "cargo demo failed (whole output: $DEMO_LOG)"; }
grep -q "What the simulated Canvas now holds" "$DEMO_LOG" \
    || { tail -40 "$DEMO_LOG"; die "cargo demo did not import the example institution ($DEMO_LOG)"; }
SUMMARY+=("demo ok")

step "no test token in the output ($OUTPUT_LOG)"
"$ROOT/scripts/check_token_leaks.sh" "$OUTPUT_LOG"
SUMMARY+=("token check ok")

printf '\n==> all tests passed: %s\n' "${SUMMARY[*]}"
