#!/usr/bin/env bash
# The demo: one SIS feed into a simulated Canvas, the way Canvas's guide tells a script to do it.
#
#   scripts/demo.sh
#
# Builds canvas-sis, starts `canvas-sis simulate` on a free loopback port, writes a small SIS feed
# (terms, accounts, courses, sections, users, enrollments) into a temp dir, zips it, uploads it with
# curl, polls the import until it ends, prints the SisImport summary and what "Canvas" now holds,
# and stops the simulator. Exits non-zero unless the import succeeded (imported or
# imported_with_messages). Needs cargo, python3 and curl. A later `canvas-sis demo` replaces this.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${CANVAS_SIS_BIN:-$TARGET_DIR/debug/canvas-sis}" # override to demo another build
TOKEN="sim-token" # the simulator's default token (admin:sim-token)
POLL_DEADLINE_S=120

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

for tool in cargo python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/canvas-sis-demo.XXXXXX")"
SIM_PID=""
cleanup() {
    if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -TERM "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

say "building canvas-sis"
(cd "$ROOT" && cargo build --locked --quiet)
[ -x "$BIN" ] || die "build finished but $BIN is missing"

say "starting the Canvas simulator"
"$BIN" simulate --listen 127.0.0.1:0 >"$WORK/sim.stdout" 2>"$WORK/sim.stderr" </dev/null &
SIM_PID=$!
URL=""
for _ in $(seq 1 200); do # up to 20 s for the first stdout line (the base URL)
    URL="$(head -n 1 "$WORK/sim.stdout" 2>/dev/null || true)"
    [ -n "$URL" ] && break
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$URL" ]; then
    cat "$WORK/sim.stderr" >&2 || true
    die "the simulator did not print its base URL"
fi
echo "Canvas simulator at $URL (token: $TOKEN)"

say "writing a sample SIS feed"
FEED="$WORK/feed"
mkdir -p "$FEED"
cat >"$FEED/terms.csv" <<'CSV'
term_id,name,status,start_date,end_date
2025FA,Fall 2025,active,2025-08-25T00:00:00Z,2025-12-19T23:59:59Z
2026SP,Spring 2026,active,2026-01-12T00:00:00Z,2026-05-08T23:59:59Z
CSV
cat >"$FEED/accounts.csv" <<'CSV'
account_id,parent_account_id,name,status
SCI,,College of Science,active
BIO,SCI,Department of Biology,active
HUM,,College of Humanities,active
CSV
cat >"$FEED/courses.csv" <<'CSV'
course_id,short_name,long_name,account_id,term_id,status
BIO101-2025FA,BIO 101,Introduction to Biology,BIO,2025FA,active
BIO240-2025FA,BIO 240,Genetics,BIO,2025FA,active
HIS210-2025FA,HIS 210,Modern European History,HUM,2025FA,active
PHI120-2026SP,PHI 120,Introduction to Ethics,HUM,2026SP,active
CSV
cat >"$FEED/sections.csv" <<'CSV'
section_id,course_id,name,status
BIO101-2025FA-01,BIO101-2025FA,BIO 101 Lecture 01,active
BIO101-2025FA-02,BIO101-2025FA,BIO 101 Lecture 02,active
BIO240-2025FA-01,BIO240-2025FA,BIO 240 Section 01,active
HIS210-2025FA-01,HIS210-2025FA,HIS 210 Section 01,active
PHI120-2026SP-01,PHI120-2026SP,PHI 120 Section 01,active
CSV
cat >"$FEED/users.csv" <<'CSV'
user_id,login_id,first_name,last_name,email,status
F1001,rnakamura,Rei,Nakamura,rei.nakamura@example.edu,active
F1002,dowusu,Daniel,Owusu,daniel.owusu@example.edu,active
F1003,ebrennan,Eileen,Brennan,eileen.brennan@example.edu,active
S2001,aokafor,Amara,Okafor,amara.okafor@example.edu,active
S2002,lchen,Lucas,Chen,lucas.chen@example.edu,active
S2003,mgarcia,María,García,maria.garcia@example.edu,active
S2004,jlindqvist,Johan,Lindqvist,johan.lindqvist@example.edu,active
S2005,psharma,Priya,Sharma,priya.sharma@example.edu,active
S2006,tmoreau,Théo,Moreau,theo.moreau@example.edu,active
CSV
cat >"$FEED/enrollments.csv" <<'CSV'
course_id,section_id,user_id,role,status
BIO101-2025FA,BIO101-2025FA-01,F1001,teacher,active
BIO101-2025FA,BIO101-2025FA-02,F1001,teacher,active
BIO101-2025FA,BIO101-2025FA-01,S2001,student,active
BIO101-2025FA,BIO101-2025FA-01,S2002,student,active
BIO101-2025FA,BIO101-2025FA-02,S2003,student,active
BIO240-2025FA,BIO240-2025FA-01,F1001,teacher,active
BIO240-2025FA,BIO240-2025FA-01,S2004,student,active
BIO240-2025FA,BIO240-2025FA-01,S2005,ta,active
HIS210-2025FA,HIS210-2025FA-01,F1002,teacher,active
HIS210-2025FA,HIS210-2025FA-01,S2002,student,active
HIS210-2025FA,HIS210-2025FA-01,S2006,student,active
PHI120-2026SP,PHI120-2026SP-01,F1003,teacher,active
PHI120-2026SP,PHI120-2026SP-01,S2003,student,active
PHI120-2026SP,PHI120-2026SP-01,S2005,student,active
CSV
(cd "$FEED" && python3 -m zipfile -c "$WORK/sis_feed.zip" \
    terms.csv accounts.csv courses.csv sections.csv users.csv enrollments.csv)
ls -l "$FEED" | tail -n +2
echo "zipped into $WORK/sis_feed.zip ($(wc -c <"$WORK/sis_feed.zip") bytes)"

say "uploading it as Canvas's guide does"
IMPORT_URL="$URL/api/v1/accounts/1/sis_imports"
echo "curl -H 'Authorization: Bearer ...' --data-binary @sis_feed.zip -H 'Content-Type: application/zip' '$IMPORT_URL?import_type=instructure_csv'"
curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" \
    --data-binary @"$WORK/sis_feed.zip" -H 'Content-Type: application/zip' \
    "$IMPORT_URL?import_type=instructure_csv" >"$WORK/created.json" ||
    die "the upload was refused: $(cat "$WORK/created.json" 2>/dev/null)"
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$1)" "$2"; }
IMPORT_ID="$(json "['id']" "$WORK/created.json")"
echo "SIS import $IMPORT_ID: $(json "['workflow_state']" "$WORK/created.json")"

say "polling until the import ends"
STATE=""
END=$((SECONDS + POLL_DEADLINE_S))
while :; do
    curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" \
        "$IMPORT_URL/$IMPORT_ID" >"$WORK/import.json" || die "polling failed: $(cat "$WORK/import.json")"
    STATE="$(json "['workflow_state']" "$WORK/import.json")"
    echo "  $STATE (progress $(json "['progress']" "$WORK/import.json"))"
    case "$STATE" in
        imported | imported_with_messages | failed | failed_with_messages | aborted) break ;;
    esac
    [ "$SECONDS" -lt "$END" ] || die "the import was still $STATE after ${POLL_DEADLINE_S}s"
    sleep 0.5
done

say "the SIS import"
python3 - "$WORK/import.json" <<'PY'
import json, sys
imp = json.load(open(sys.argv[1]))
data = imp.get("data", {})
print(f"id {imp['id']}  state {imp['workflow_state']}  progress {imp['progress']}")
print(f"started {imp.get('started_at')}  ended {imp.get('ended_at')}")
print("supplied batches:", ", ".join(data.get("supplied_batches", [])) or "-")
counts = {k: v for k, v in data.get("counts", {}).items() if v}
print("counts:", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-")
for kind in ("processing_warnings", "processing_errors"):
    for file, message in imp.get(kind) or []:
        print(f"{kind[11:-1]}: {file}: {message}")
PY

say "what Canvas now holds (GET /__sim/accounts/1/content)"
curl -sS --fail-with-body "$URL/__sim/accounts/1/content" >"$WORK/content.json" ||
    die "could not read the simulator's content"
python3 - "$WORK/content.json" <<'PY'
import json, sys
content = json.load(open(sys.argv[1]))


def label(kind, item):
    if kind == "users":
        name = " ".join(x for x in (item.get("first_name"), item.get("last_name")) if x)
        return f"{name or item.get('name', '')} <{item.get('login_id', '')}>"
    if kind == "enrollments":
        where = item.get("section_id") or item.get("course_id") or "?"
        return f"{item.get('user_id', '?')} in {where} as {item.get('role', '?')}"
    return item.get("long_name") or item.get("name") or ""


for kind, items in content.items():
    if not isinstance(items, list) or not items:
        continue
    print(f"{kind} ({len(items)}):")
    for item in items:
        sis_id = item.get("sis_id") or ("-" if kind != "enrollments" else "")
        print(f"  {sis_id:<18} {item.get('workflow_state', '?'):<8} {label(kind, item)}")
PY

case "$STATE" in
    imported | imported_with_messages) say "demo done: the import ended $STATE" ;;
    *) die "the import ended $STATE" ;;
esac
