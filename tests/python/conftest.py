"""Starts `canvas-sis simulate` as a real process for the suite, and builds the clients that talk to it.

The binary comes from `CANVAS_SIS_BIN` (default `target/debug/canvas-sis`, relative to the
repository root); `scripts/test.sh` builds it first. The simulator listens on `127.0.0.1:0` and its
first stdout line is its base URL. If it cannot start, every test that needs it errors: the suite
fails, it never skips.

Most tests share one session simulator with three tokens (full admin, `manage_sis` only,
`import_sis` only). Tests that need other knobs (slow imports, a short abort hold) start their own
through `sim_factory`, so their queue state cannot leak into the shared account.
"""

from __future__ import annotations

import functools
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time

import pytest
import requests
from canvasapi import Canvas

from sisfeed import SimAdmin

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

ADMIN_TOKEN = "sim-token"
MANAGE_ONLY_TOKEN = "manage-only-secret"
IMPORT_ONLY_TOKEN = "import-only-secret"
SHARED_TOKENS = [
    f"admin:{ADMIN_TOKEN}",
    f"auditor:{MANAGE_ONLY_TOKEN}:manage_sis",
    f"uploader:{IMPORT_ONLY_TOKEN}:import_sis",
]

START_DEADLINE_S = 20.0
STOP_DEADLINE_S = 10.0
HTTP_TIMEOUT_S = 30.0


def simulator_binary() -> pathlib.Path:
    raw = pathlib.Path(os.environ.get("CANVAS_SIS_BIN", "target/debug/canvas-sis"))
    return raw if raw.is_absolute() else REPO_ROOT / raw


class Simulator:
    """One `canvas-sis simulate` process: started, read for its URL, stopped with SIGTERM."""

    def __init__(self, args: list[str], log_path: pathlib.Path):
        self.args = args
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.base_url = ""
        self.extra_stdout: list[str] = []

    def start(self) -> "Simulator":
        binary = simulator_binary()
        if not binary.is_file():
            pytest.fail(f"simulator binary not found at {binary}; build it (scripts/test.sh does)")
        cmd = [str(binary), "simulate", "--listen", "127.0.0.1:0", *self.args]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        lines: queue.Queue[str | None] = queue.Queue()
        # One reader thread owns stdout for the process's whole life: it hands over the first line
        # (the base URL) and keeps draining the rest so the simulator can never block on a full pipe.
        threading.Thread(target=self._read_stdout, args=(lines,), daemon=True).start()
        try:
            first = lines.get(timeout=START_DEADLINE_S)
        except queue.Empty:
            first = None
        if first is None or not first.strip().startswith("http://"):
            self.stop()
            pytest.fail(
                f"`{' '.join(cmd)}` did not print its base URL as first stdout line "
                f"within {START_DEADLINE_S}s (got {first!r}); stderr tail:\n{self.stderr_tail()}"
            )
        self.base_url = first.strip().rstrip("/")
        return self

    def _read_stdout(self, lines: "queue.Queue[str | None]") -> None:
        assert self.proc is not None and self.proc.stdout is not None
        first = True
        for line in self.proc.stdout:
            if first:
                lines.put(line)
                first = False
            else:
                self.extra_stdout.append(line)
        if first:
            lines.put(None)

    def stop(self) -> int | None:
        """SIGTERM, then wait; kill only if it ignores SIGTERM. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_DEADLINE_S)
        self._log.close()
        return self.proc.returncode

    def stderr_tail(self, chars: int = 3000) -> str:
        """The start and the end of stderr: a panic's message is at the start of its backtrace."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as err:
            return f"(no stderr log: {err})"
        if len(text) <= 2 * chars:
            return text
        return f"{text[:chars]}\n[... {len(text) - 2 * chars} chars ...]\n{text[-chars:]}"

    def api(self, path: str) -> str:
        """Absolute URL of an API path such as `/api/v1/accounts/1/sis_imports`."""
        return f"{self.base_url}{path}"

    def canvas(self, token: str = ADMIN_TOKEN) -> Canvas:
        return make_canvas(self.base_url, token)

    def admin(self) -> SimAdmin:
        return SimAdmin(self.base_url)


def make_canvas(base_url: str, token: str) -> Canvas:
    """A canvasapi client whose HTTP calls time out instead of hanging a test forever.

    canvasapi sets no timeout on its `requests.Session`; the only handle on it is the requester's
    private `_session`, so we wrap its `request` method with a default timeout.
    """
    canvas = Canvas(base_url, token)
    session = canvas._Canvas__requester._session  # canvasapi 3.6.0 internals, see docstring
    session.request = functools.partial(session.request, timeout=HTTP_TIMEOUT_S)
    return canvas


@pytest.fixture(scope="session")
def sim(tmp_path_factory) -> Simulator:
    """The shared simulator: default speeds, three tokens."""
    args = [arg for tok in SHARED_TOKENS for arg in ("--token", tok)]
    log = tmp_path_factory.mktemp("sim") / "shared-simulator.stderr.log"
    simulator = Simulator(args, log).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim_factory(tmp_path):
    """Starts extra simulators with their own knobs; all are stopped when the test ends."""
    started: list[Simulator] = []

    def start(*args: str) -> Simulator:
        simulator = Simulator(list(args), tmp_path / f"simulator-{len(started)}.stderr.log")
        started.append(simulator)
        return simulator.start()

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture(scope="session")
def canvas(sim) -> Canvas:
    return sim.canvas(ADMIN_TOKEN)


@pytest.fixture(scope="session")
def account(canvas):
    """Root account 1, "Simulated University", fetched through canvasapi's `Canvas.get_account`."""
    return canvas.get_account(1)


@pytest.fixture(scope="session")
def admin(sim) -> SimAdmin:
    return sim.admin()


@pytest.fixture
def http(sim) -> requests.Session:
    """A plain `requests` session carrying the admin token, for what canvasapi does not expose."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    session.request = functools.partial(session.request, timeout=HTTP_TIMEOUT_S)
    return session


@pytest.fixture
def zip_path(tmp_path):
    """Writes zip bytes to a file in the test's temp dir and returns its path (for canvasapi, curl)."""

    def write(data: bytes, name: str = "feed.zip") -> pathlib.Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


def pytest_runtest_makereport(item, call):
    """Puts the shared simulator's stderr tail under any failing test, where the cause usually is."""
    if call.when == "call" and call.excinfo is not None:
        simulator = item.funcargs.get("sim") if hasattr(item, "funcargs") else None
        if isinstance(simulator, Simulator):
            item.add_report_section("call", "simulator stderr (tail)", simulator.stderr_tail())
