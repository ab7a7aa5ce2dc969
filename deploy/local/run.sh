#!/usr/bin/env bash
# The cloud worker on a laptop, without AWS or Docker: moto (S3, SQS FIFO, EventBridge) on
# loopback, the Canvas simulator, the same bucket / queue / DLQ / per-tenant EventBridge rules as
# terraform/ (deploy/local/setup_aws.py), then a sample batch (examples/northwind) dropped as a
# folder closed by manifest.json and carried to "Canvas" by `canvas-sis run`.
#
#   deploy/local/run.sh          # end to end: drop, drain (run --until-empty), show status, stop
#   deploy/local/run.sh --keep   # leave moto, the simulator and a long-running `canvas-sis run`
#                                # up until Ctrl-C, and print the environment to drop more batches
#
# Needs cargo (or CANVAS_SIS_BIN=path/to/canvas-sis), python3 (3.11) and curl. moto and boto3
# come from the repository's .venv (scripts/test.sh makes it from tests/python/requirements.txt;
# this script makes it the same way if it is missing). Everything listens on 127.0.0.1 only and
# lives in a temporary directory (LOCAL_STACK_DIR to choose it), removed at the end unless --keep.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KEEP=false
[ "${1:-}" = "--keep" ] && KEEP=true

VENV="${CANVAS_SIS_VENV:-$ROOT/.venv}"
DIR="${LOCAL_STACK_DIR:-$(mktemp -d -t canvas-sis-local.XXXXXX)}"
mkdir -p "$DIR"
TOKEN="local-token"   # the simulator's token; a real token never goes on a command line
TENANT="main"
PREFIX="main/"
DROP="sis-drop"
STATE_URL="s3://sis-state/canvas-sis/"

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndeploy/local/run.sh: %s\n' "$*" >&2; exit 1; }

declare -a PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$KEEP" = false ] && [ -z "${LOCAL_STACK_DIR:-}" ]; then rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local limit="$1" what="$2" i; shift 2
    for ((i = 0; i < limit * 5; i++)); do
        if "$@" > /dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "timed out after ${limit}s waiting for $what (logs in $DIR)"
}

ensure_tools() {
    if [ ! -x "$VENV/bin/moto_server" ]; then
        say "making $VENV with tests/python/requirements.txt (moto, boto3)"
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/tests/python/requirements.txt"
    fi
    if [ -z "${CANVAS_SIS_BIN:-}" ]; then
        say "cargo build --locked"
        (cd "$ROOT" && cargo build --locked --quiet)
        CANVAS_SIS_BIN="$ROOT/target/debug/canvas-sis"
    fi
    [ -x "$CANVAS_SIS_BIN" ] || die "no canvas-sis binary at $CANVAS_SIS_BIN"
    command -v curl > /dev/null || die "curl is required"
}

start_moto() {
    MOTO_PORT="$(free_port)"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$DIR/moto.log" 2>&1 &
    PIDS+=($!)
    export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
    wait_for 30 "moto on $AWS_ENDPOINT_URL" curl -fsS "$AWS_ENDPOINT_URL/moto-api/"
}

start_simulator() {
    "$CANVAS_SIS_BIN" simulate --listen 127.0.0.1:0 --token "admin:$TOKEN" > "$DIR/simulator.out" 2> "$DIR/simulator.log" &
    PIDS+=($!)
    wait_for 30 "the simulator's URL" test -s "$DIR/simulator.out"
    SIM_URL="$(head -n1 "$DIR/simulator.out")"
}

write_config() {
    cat > "$DIR/canvas-sis.toml" <<EOF
# Local stack: one tenant routed by its S3 prefix, as terraform's tenants = { $TENANT = { s3_prefix = "$PREFIX" } }.
[defaults]
canvas_url = "$SIM_URL"
token_env = "LOCAL_CANVAS_TOKEN"

[tenants.$TENANT]
account = "1"
s3_prefix = "$PREFIX"
EOF
}

worker_env() {
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
    export SIS_QUEUE_URL="$QUEUE_URL" SIS_STATE_URL="$STATE_URL" SIS_BUCKET="$DROP"
    export CANVAS_SIS_CONFIG="$DIR/canvas-sis.toml" LOCAL_CANVAS_TOKEN="$TOKEN"
    export SIS_WORK_DIR="$DIR/work" RUST_LOG="${RUST_LOG:-info}"
    mkdir -p "$SIS_WORK_DIR"
}

drop_sample_batch() {
    local batch="$PREFIX$1/" f
    for f in "$ROOT"/examples/northwind/*.csv; do
        "$VENV/bin/python" -c 'import boto3,sys; boto3.client("s3").upload_file(sys.argv[1], sys.argv[2], sys.argv[3])' \
            "$f" "$DROP" "$batch$(basename "$f")"
    done
    # The manifest closes the folder: it is what the tenant's EventBridge rule matches.
    "$VENV/bin/python" -c 'import boto3,sys; boto3.client("s3").put_object(Bucket=sys.argv[1], Key=sys.argv[2], Body=b"{}")' \
        "$DROP" "${batch}manifest.json"
    echo "s3://$DROP/$batch (6 CSVs + manifest.json)"
}

queue_depth() {
    "$VENV/bin/python" -c 'import boto3,sys; a=boto3.client("sqs").get_queue_attributes(QueueUrl=sys.argv[1], AttributeNames=["ApproximateNumberOfMessages"]); print(a["Attributes"]["ApproximateNumberOfMessages"])' "$QUEUE_URL"
}

queue_has_message() { [ "$(queue_depth)" -ge 1 ]; }

imports_summary() {
    curl -fsS "$SIM_URL/__sim/imports" | "$VENV/bin/python" -c '
import json, sys
imports = json.load(sys.stdin)["imports"]
for i in imports:
    files = [f.get("name") for f in i.get("csv_files", [])]
    print("  import %s: %s, files: %s" % (i.get("id"), i.get("workflow_state"), files))
print("  %d import(s)" % len(imports))
sys.exit(0 if imports and all(i.get("workflow_state") == "imported" for i in imports) else 1)'
}

ensure_tools
say "moto (S3, SQS FIFO, EventBridge) and the Canvas simulator on 127.0.0.1"
start_moto
start_simulator
echo "moto: $AWS_ENDPOINT_URL   simulator: $SIM_URL   files: $DIR"

say "bucket, FIFO queue, FIFO DLQ and the tenant's EventBridge rule (as terraform/ makes them)"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
QUEUE_URL="$("$VENV/bin/python" "$ROOT/deploy/local/setup_aws.py" "$AWS_ENDPOINT_URL" "$DROP" sis-state canvas-sis.fifo "$TENANT=$PREFIX")"
echo "queue: $QUEUE_URL"
write_config
worker_env

if [ "$KEEP" = true ]; then
    say "canvas-sis run (long-running; log: $DIR/worker.log)"
    "$CANVAS_SIS_BIN" run > "$DIR/worker.out" 2> "$DIR/worker.log" &
    PIDS+=($!)
fi

say "dropping a sample batch"
drop_sample_batch "northwind-$(date -u +%Y%m%dT%H%M%SZ)"

if [ "$KEEP" = false ]; then
    wait_for 30 "the batch's message on the queue" queue_has_message
    say "canvas-sis run --until-empty"
    started=$(date +%s)
    rc=0
    "$CANVAS_SIS_BIN" run --until-empty --receive-wait-secs 2 > "$DIR/worker.out" 2> "$DIR/worker.log" || rc=$?
    echo "exit $rc after $(($(date +%s) - started)) s (log: $DIR/worker.log)"
    say "what Canvas (the simulator) received"
    summary_rc=0
    imports_summary || summary_rc=$?
    say "canvas-sis status --state $STATE_URL"
    "$CANVAS_SIS_BIN" status --state "$STATE_URL" || true
    if [ "$rc" -ne 0 ] || [ "$summary_rc" -ne 0 ]; then
        tail -n 30 "$DIR/worker.log" >&2
        die "the batch did not reach 'imported' (worker exit $rc)"
    fi
    say "end to end: the batch went S3 -> EventBridge -> SQS FIFO -> canvas-sis run -> Canvas"
    exit 0
fi

cat <<EOF

The stack is up until Ctrl-C. In another shell:
  export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  aws s3 cp --recursive my-batch/ s3://$DROP/${PREFIX}my-batch/ && echo '{}' | aws s3 cp - s3://$DROP/${PREFIX}my-batch/manifest.json
  $CANVAS_SIS_BIN status --state $STATE_URL
  curl $SIM_URL/__sim/imports
Worker log: $DIR/worker.log
EOF
wait "${PIDS[@]}"
