#!/usr/bin/env python3
"""Helper of scripts/bench_worker.sh: data, moto set-up, uploads, and the start → first receive probe.

Subcommands (each prints what the shell needs on stdout, one value a line):
  gen OUT_DIR [SIZE]            valid Canvas SIS CSVs, ~SIZE bytes (default 200M): 60k users, 6k
                                courses, 12k sections, enrollments filling the rest
  setup                         drop bucket, state bucket, FIFO queue sis.fifo, and the route
                                S3 → EventBridge rule (keys ending in /manifest.json) → sis.fifo
                                (group "main"); prints the queue URL
  queue NAME                    another FIFO queue (empty); prints its URL
  upload DIR PREFIX             every CSV of DIR, then PREFIX/manifest.json = {}, to the drop bucket
  wait-message QUEUE_URL        waits (≤ 30 s) until the queue holds a visible message
  depth QUEUE_URL               prints "visible in_flight"
  finish-imports SIM_URL        forever: forces import 1, 2, 3… to `imported` as soon as it is
                                uploaded (see `finish_imports`); token from CANVAS_TOKEN
  last-upload SIM_URL           prints "ID BYTES": the simulator's newest import and the size of
                                the zip uploaded for it (the pipeline just measured)
  first-receive QUEUE_URL RUNS [--kill] -- CMD...
                                puts a TCP proxy between CMD and moto; per run, the time from just
                                before spawning CMD to the first request carrying
                                AmazonSQS.ReceiveMessage; prints each, then the median (ms). CMD
                                must exit 0 by itself, or with --kill is killed after that request

AWS calls go to AWS_ENDPOINT_URL (moto) with the credentials of the environment, like the workers.
"""
import asyncio
import json
import os
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

DROP_BUCKET = "sis-drop"
STATE_BUCKET = "state-bucket"
QUEUE = "sis.fifo"
GROUP = "main"

# --- data -----------------------------------------------------------------------------------------

# The name and course vocabularies of the pack benchmark's generator (scripts/bench/gen_sis.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import gen_sis  # noqa: E402

FIRST, SUBJECTS, TITLES = gen_sis.FIRST, gen_sis.SUBJECTS, gen_sis.TITLES
LAST = [name for name in gen_sis.LAST if "'" not in name]
TERMS = tuple(gen_sis.TERMS)
N_USERS, N_COURSES, SECTIONS_PER_COURSE = 60_000, 6_000, 2


def parse_size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    unit = text[-1].upper()
    return int(float(text[:-1]) * mult[unit]) if unit in mult else int(text)


def write_rows(path, header, rows):
    """Writes header + rows (an iterable of lines) in large chunks; returns the bytes written."""
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        buf = [header]
        for row in rows:
            buf.append(row)
            if len(buf) >= 10_000:
                chunk = "".join(buf)
                f.write(chunk)
                written += len(chunk.encode())
                buf.clear()
        chunk = "".join(buf)
        f.write(chunk)
        written += len(chunk.encode())
    return written


def user_ids():
    return [f"U{1_000_000 + i:07d}" for i in range(N_USERS)]


def users(ids):
    for i, uid in enumerate(ids):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        login = f"{first[0].lower()}{last.lower()}{i:05d}"
        yield f"{uid},{login},{first},{last},{login}@students.example.edu,active\n"


def course_ids():
    return [f"{TERMS[i % 3]}-{SUBJECTS[i % len(SUBJECTS)]}{100 + (i * 37) % 400}-{i:05d}"
            for i in range(N_COURSES)]


def courses(ids):
    for i, cid in enumerate(ids):
        subj, term = SUBJECTS[i % len(SUBJECTS)], TERMS[i % 3]
        title = TITLES[i % len(TITLES)].format(s=subj.title())
        yield f"{cid},{subj} {100 + (i * 37) % 400},{title} ({term}),active\n"


def section_pairs(cids):
    """(section_id, course_id) for every section: SECTIONS_PER_COURSE per course."""
    return [(f"{cid}-S{k + 1:02d}", cid) for cid in cids for k in range(SECTIONS_PER_COURSE)]


def sections(pairs):
    for sid, cid in pairs:
        yield f"{sid},{cid},Section {sid[-2:]} of {cid.split('-')[1]},active\n"


def enrollments(uids, pairs, budget):
    """Rows until about `budget` bytes. Row i puts user (j·7919 + s·31) mod N_USERS in section
    s = i mod S, j = i div S: distinct j give distinct users (7919 is prime to N_USERS), so no
    (user, section) pair repeats. The first row of each section is its teacher."""
    n_sec, written, i = len(pairs), 0, 0
    while written < budget:
        s, j = i % n_sec, i // n_sec
        assert j < N_USERS, "the budget needs more users than N_USERS for unique enrollments"
        sid, cid = pairs[s]
        role = "teacher" if j == 0 else "student"
        row = f"{cid},{uids[(j * 7919 + s * 31) % N_USERS]},{role},{sid},active\n"
        written += len(row)
        i += 1
        yield row


def gen(out, size="200M"):
    os.makedirs(out, exist_ok=True)
    total = parse_size(size)
    uids, cids = user_ids(), course_ids()
    pairs = section_pairs(cids)
    used = write_rows(os.path.join(out, "users.csv"),
                      "user_id,login_id,first_name,last_name,email,status\n", users(uids))
    used += write_rows(os.path.join(out, "courses.csv"),
                       "course_id,short_name,long_name,status\n", courses(cids))
    used += write_rows(os.path.join(out, "sections.csv"),
                       "section_id,course_id,name,status\n", sections(pairs))
    header = "course_id,user_id,role,section_id,status\n"
    write_rows(os.path.join(out, "enrollments.csv"), header,
               enrollments(uids, pairs, total - used - len(header)))


# --- moto -----------------------------------------------------------------------------------------

def client(service):
    import boto3  # imported here: `gen` and the probe run without it
    if service == "s3":
        from botocore.config import Config
        return boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
    return boto3.client(service)


def create_fifo(name):
    sqs = client("sqs")
    return sqs.create_queue(QueueName=name, Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "60"})["QueueUrl"]


def setup():
    s3, sqs, events = client("s3"), client("sqs"), client("events")
    for bucket in (DROP_BUCKET, STATE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    url = create_fifo(QUEUE)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=DROP_BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}})
    # Only a manifest closes a folder batch, so only manifests become messages (the CSVs of a
    # batch would otherwise each add a message that the workers acknowledge and skip).
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"],
               "detail": {"bucket": {"name": [DROP_BUCKET]},
                          "object": {"key": [{"suffix": "/manifest.json"}]}}}
    events.put_rule(Name="sis-drop-manifests", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="sis-drop-manifests", Targets=[
        {"Id": "fifo", "Arn": arn, "SqsParameters": {"MessageGroupId": GROUP}}])
    print(url)


def upload(src, prefix):
    s3 = client("s3")
    prefix = prefix.rstrip("/")
    for name in sorted(os.listdir(src)):
        if name.endswith(".csv"):
            s3.upload_file(os.path.join(src, name), DROP_BUCKET, f"{prefix}/{name}")
    s3.put_object(Bucket=DROP_BUCKET, Key=f"{prefix}/manifest.json", Body=b"{}")


def depth(url):
    attrs = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def wait_message(url):
    deadline = time.monotonic() + 30
    while depth(url)[0] < 1:
        if time.monotonic() > deadline:
            sys.exit(f"no message reached {url} within 30 s: is the S3 → EventBridge → SQS route up?")
        time.sleep(0.1)


def finish_imports(sim, token):
    """Forces each new import to `imported` through the simulator's test control, within ~20 ms
    of it being ready to run (`created`: uploaded, whether as a raw body or through the
    pre_attachment flow). The simulator models Canvas's content row by row, which takes minutes
    and gigabytes for a 3-million-row batch whatever --rows-per-second says; the bench measures
    the workers, so Canvas's side must end at once, the same for both. Run the simulator with a
    long --start-delay-secs so it never starts a job by itself. Imports are numbered 1, 2, … in
    creation order; a 404 means "not created yet"."""
    import urllib.error
    import urllib.request

    def call(method, path, body=None):
        req = urllib.request.Request(f"{sim}{path}", method=method, data=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    import_id = 1
    while True:
        found = call("GET", f"/api/v1/accounts/self/sis_imports/{import_id}")
        if found is not None and found["workflow_state"] == "created":
            call("PATCH", f"/__sim/imports/{import_id}", b'{"workflow_state": "imported"}')
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
            print(f"{stamp} import {import_id} forced to imported", file=sys.stderr, flush=True)
            import_id += 1
        elif found is not None and found["workflow_state"] not in ("pre_processing", "initializing"):
            sys.exit(f"import {import_id} is {found['workflow_state']}: expected created")
        else:
            time.sleep(0.02)


def last_upload(sim):
    """The newest import the simulator holds, and the size of the file uploaded for it."""
    import urllib.request

    with urllib.request.urlopen(f"{sim}/__sim/imports", timeout=120) as r:
        imports = json.loads(r.read())["imports"]
    if not imports:
        sys.exit("the simulator holds no import")
    newest = max(imports, key=lambda i: i["id"])
    if not newest["upload"]:
        sys.exit(f"import {newest['id']} has no upload")
    print(newest["id"], newest["upload"]["size"])


# --- start → first receive ------------------------------------------------------------------------

MARK = b"AmazonSQS.ReceiveMessage"


class Probe:
    """A TCP proxy to moto that notes the monotonic time of the first request carrying MARK."""

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.first_receive = None  # asyncio.Future, reset per run
        self.port = None

    async def start(self):
        server = await asyncio.start_server(self.client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def client(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self.pipe(reader, up_writer, watch=True), self.pipe(up_reader, writer))

    async def pipe(self, reader, writer, watch=False):
        tail = b""
        try:
            while data := await reader.read(65536):
                if watch and self.first_receive is not None and not self.first_receive.done():
                    # The mark may straddle two reads: look at the end of the last one too.
                    if MARK in tail + data:
                        self.first_receive.set_result(time.monotonic())
                    tail = data[-len(MARK):]
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def first_receive_runs(queue_url, runs, kill, cmd):
    moto = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    probe = Probe(moto.hostname, moto.port)
    server = await probe.start()
    via = f"http://127.0.0.1:{probe.port}"
    # moto echoes the Host into queue URLs: give the worker one that names the proxy.
    u = urlsplit(queue_url)
    env = dict(os.environ, AWS_ENDPOINT_URL=via,
               SIS_QUEUE_URL=urlunsplit((u.scheme, f"127.0.0.1:{probe.port}", u.path, "", "")))
    times = []
    for n in range(runs):
        probe.first_receive = asyncio.get_running_loop().create_future()
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(*cmd, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        stderr_task = asyncio.ensure_future(proc.stderr.read())
        try:
            t1 = await asyncio.wait_for(asyncio.shield(probe.first_receive), 30)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            sys.stderr.write((await stderr_task).decode(errors="replace")[-4000:])
            sys.exit(f"run {n + 1}: no ReceiveMessage within 30 s")
        if kill:
            proc.kill()
        rc = await asyncio.wait_for(proc.wait(), 60)
        err = await stderr_task
        if rc != 0 and not kill:
            sys.stderr.write(err.decode(errors="replace")[-4000:])
            sys.exit(f"run {n + 1}: the worker exited with {rc}")
        times.append((t1 - t0) * 1000)
        print(f"run {n + 1}: {times[-1]:.1f} ms", file=sys.stderr)
    server.close()
    print(" ".join(f"{t:.1f}" for t in times))
    print(f"{statistics.median(times):.1f}")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "gen":
        gen(*args)
    elif cmd == "setup":
        setup()
    elif cmd == "queue":
        print(create_fifo(args[0]))
    elif cmd == "upload":
        upload(*args)
    elif cmd == "wait-message":
        wait_message(args[0])
    elif cmd == "finish-imports":
        finish_imports(args[0].rstrip("/"), os.environ["CANVAS_TOKEN"])
    elif cmd == "last-upload":
        last_upload(args[0].rstrip("/"))
    elif cmd == "depth":
        print(*depth(args[0]))
    elif cmd == "first-receive":
        kill = args[2] == "--kill"
        rest = args[3:] if kill else args[2:]
        assert rest[:1] == ["--"], "usage: first-receive QUEUE_URL RUNS [--kill] -- CMD..."
        asyncio.run(first_receive_runs(args[0], int(args[1]), kill, rest[1:]))
    else:
        sys.exit(f"unknown subcommand {cmd}; see the module doc")


if __name__ == "__main__":
    main(sys.argv)
