# shellcheck shell=bash
# The local stack the worker benchmark runs against, sourced by scripts/bench_worker.sh: the
# pinned Python tooling in .venv, moto (S3 → EventBridge → SQS FIFO, set up by
# scripts/bench_worker.py) and the Canvas simulator, on loopback.
#
# The sourcing script sets `root` (the checkout), `bin` (the canvas-sis binary), `work` (a
# scratch dir), `pids=()` and a `die` function, and traps EXIT to `stack_cleanup`. After
# `stack_start`: `py`, `helper`, `sim`, `queue`, `token`, and the environment `canvas-sis run`
# reads (AWS_ENDPOINT_URL and credentials, SIS_QUEUE_URL, SIS_STATE_URL, CANVAS_BASE_URL,
# CANVAS_TOKEN).

py=$root/.venv/bin/python
helper=$root/scripts/bench_worker.py

# need_package PROGRAM PACKAGE: PROGRAM (a command or a path) is there, or the Debian PACKAGE is
# installed with apt-get when running as root; otherwise stop and say what to install.
need_package() {
    command -v "$1" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        die "missing $1: install the Debian package $2"
    fi
}

# The pinned test tooling (moto[server], boto3, requests), as scripts/test.sh installs it.
ensure_venv() {
    local req=tests/python/requirements.txt stamp=.venv/.requirements.sha256
    if [ ! -x .venv/bin/python ]; then
        python3 -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' ||
            die "python3 ≥ 3.11 is needed to create .venv"
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || ! sha256sum --check --status "$stamp" 2>/dev/null; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
        sha256sum "$req" >"$stamp"
    fi
}

# Stops every process in `pids` (SIGKILL after 5 s: a busy simulator may not stop) and removes
# `work` unless BENCH_KEEP=1.
stack_cleanup() {
    local pid i alive
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for i in $(seq 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "work dir kept: $work" >&2; else rm -rf "$work"; fi
}

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for CHECK WHAT: retries CHECK every 0.1 s for up to 30 s.
wait_for() {
    local i
    for i in $(seq 300); do
        if eval "$1"; then return 0; fi
        sleep 0.1
    done
    die "$2 did not come up within 30 s (logs in $work)"
}

stack_start() {
    local port
    port=$(free_port)
    .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
    pids+=($!)
    wait_for "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" "moto on port $port"
    export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test \
        AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
        AWS_EC2_METADATA_DISABLED=true

    # Canvas's side must end at once, the same for every pipeline measured: the simulator
    # models every row of content (minutes and gigabytes for 3 million rows, whatever
    # --rows-per-second says), so it never starts a job by itself (start delay of a day) and
    # the helper's finisher forces each new import to `imported` within ~20 ms of its creation.
    token=bench-$RANDOM$RANDOM
    "$sim_bin" simulate --listen 127.0.0.1:0 --token "bench:$token" --rows-per-second 1000000000 \
        --no-throttle --max-body-bytes 4294967296 --start-delay-secs 86400 \
        >"$work/sim.out" 2>"$work/sim.log" &
    pids+=($!)
    wait_for "[ -s '$work/sim.out' ]" "the simulator"
    sim=$(head -1 "$work/sim.out")

    queue=$("$py" "$helper" setup)
    export SIS_QUEUE_URL=$queue SIS_STATE_URL=s3://state-bucket/canvas-sis/ \
        CANVAS_BASE_URL=$sim CANVAS_TOKEN=$token
    "$py" "$helper" finish-imports "$sim" 2>"$work/finisher.log" &
    pids+=($!)
}
