#!/usr/bin/env bash
# Fails when any Canvas token value the tests use appears in FILE (the kept output of a test run):
# the token must never reach a log, an error or a report, whatever the test.
#
#   scripts/check_token_leaks.sh FILE
#
# The values are read from the test sources, so a new test token is checked without editing this
# file: the simulator token specs of tests/it/common/mod.rs ("name:TOKEN[:perms]") and the
# `*_TOKEN = "..."` constants of tests/python. Values shorter than 6 characters are skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="${1:?usage: check_token_leaks.sh FILE}"
[ -f "$file" ] || { echo "check_token_leaks.sh: no such file: $file" >&2; exit 2; }

tokens() {
    grep -ohE '"[a-z]+:[A-Za-z0-9_.-]+(:[a-z_,]*)?"' "$ROOT/tests/it/common/mod.rs" | tr -d '"' | cut -d: -f2
    grep -ohE '^[A-Z_]*TOKEN *= *"[^"]+"' "$ROOT"/tests/python/*.py | sed -E 's/.*"([^"]+)"/\1/'
}

mapfile -t values < <(tokens | awk 'length($0) >= 6' | sort -u)
[ "${#values[@]}" -gt 0 ] || { echo "check_token_leaks.sh: found no token values in the test sources" >&2; exit 2; }
leaked=0
for v in "${values[@]}"; do
    if grep -qF -- "$v" "$file"; then
        echo "TOKEN LEAK: a test token ($(printf '%s' "$v" | head -c 3)...) appears in $file:" >&2
        grep -nF -- "$v" "$file" | head -5 | sed -E "s/$(printf '%s' "$v" | sed 's/[.[\*^$/]/\\&/g')/<token>/g" >&2
        leaked=1
    fi
done
[ "$leaked" -eq 0 ] && echo "no test token in $file (${#values[@]} values checked)"
exit "$leaked"
