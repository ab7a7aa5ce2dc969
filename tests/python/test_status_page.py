"""The status page in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright loads each page of `canvas-sis serve` over a ledger built by real `canvas-sis watch
--once` runs against the simulator, checks what an administrator reads there, runs the axe-core
accessibility rules on it, and keeps screenshots (light, dark, phone) in `target/screenshots/`.

The ledger's story: two nightly batches of one institution that Canvas imports with a warning
class that grows (one enrollment of an unknown user, then two), a third batch that validation
rejects (a CSV Canvas would not recognise) and so halts the tenant, and a fourth that arrives
while it is halted and parks. A missing Chromium fails the suite: scripts/test.sh installs it.
"""

from __future__ import annotations

import base64
import os
import pathlib
import queue
import subprocess
import threading
import time

import pytest
import requests
from playwright.sync_api import sync_playwright

from conftest import REPO_ROOT, simulator_binary
from sisfeed import csv_text, standard_feed

CHROMIUM = os.environ.get("CANVAS_SIS_CHROMIUM", "/usr/bin/chromium")
# Chromium as root in a sandbox-less container, with nothing that phones home (the machine's
# network is closed; these flags keep Chromium from trying).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "target" / "screenshots"
TOKEN = "page-test-canvas-token-5d1c"
TENANT = "registrar"


def run_watch(root: pathlib.Path, config: pathlib.Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PAGE_TEST_CANVAS_TOKEN=TOKEN, CANVAS_SIS_CONFIG=str(config), NO_COLOR="1")
    return subprocess.run(
        [str(simulator_binary()), "watch", str(root), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def drop(root: pathlib.Path, name: str, files: dict[str, str]) -> None:
    """A finished export: the files, a READY marker, all dated past the quiet period."""
    batch = root / "inbox" / name
    batch.mkdir(parents=True)
    for file, text in files.items():
        (batch / file).write_text(text)
    (batch / "READY").write_text("")
    past = time.time() - 300
    for p in batch.iterdir():
        os.utime(p, (past, past))


class Server:
    """`canvas-sis serve` on a free port; its first stdout line names the page's address."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [str(simulator_binary()), "serve", "--listen", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, NO_COLOR="1"),
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout], daemon=True).start()
        try:
            first = lines.get(timeout=20)
        except queue.Empty:
            self.stop()
            pytest.fail(f"canvas-sis serve printed no address: {self.proc.stderr.read()}")
        assert first.startswith("status page: http://"), first
        self.url = first.split("status page: ", 1)[1].strip().rstrip("/")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory) -> pathlib.Path:
    """A folder-mode directory whose ledger four real `watch --once` passes wrote."""
    from conftest import Simulator

    work = tmp_path_factory.mktemp("page")
    sim = Simulator(["--token", f"registrar-bot:{TOKEN}"], work / "simulator.log").start()
    try:
        root = work / "sis"
        config = work / "canvas-sis.toml"
        config.write_text(
            "[defaults]\n"
            f'canvas_url = "{sim.base_url}"\n'
            'token_env = "PAGE_TEST_CANVAS_TOKEN"\n'
            f"[tenants.{TENANT}]\n"
            "freshness_hours = 12\n"
        )
        feed = standard_feed()
        feed.enrollments.append([feed.sis_id("BIO101"), feed.sis_id("GHOST1"), "student", "active"])
        drop(root, "night-1", feed.files())
        first = run_watch(root, config)
        assert first.returncode == 0, first.stdout + first.stderr
        feed.enrollments.append([feed.sis_id("HIS210"), feed.sis_id("GHOST2"), "student", "active"])
        drop(root, "night-2", feed.files())
        second = run_watch(root, config)
        assert second.returncode == 0, second.stdout + second.stderr
        broken = feed.files()
        broken["mystery.csv"] = csv_text(["colour", "flavour"], [["teal", "mint"]])
        drop(root, "night-3", broken)
        third = run_watch(root, config)
        assert third.returncode != 0, "a rejected batch halts the tenant: watch --once says so"
        drop(root, "night-4", feed.files())
        fourth = run_watch(root, config)
        assert fourth.returncode != 0
        # The token reached no output of the runs (nor, below, any page).
        for r in (first, second, third, fourth):
            assert TOKEN not in r.stdout + r.stderr
        yield root
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def served(ledger_dir):
    """The page as an operator serves it by default: no row samples."""
    server = Server("--dir", str(ledger_dir), "--config", str(ledger_dir.parent / "canvas-sis.toml"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not pathlib.Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is not at {CHROMIUM}: install Debian's chromium (scripts/test.sh does as root)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def accessible(page) -> None:
    """axe-core's rules (WCAG 2 A and AA: labels, contrast, headings, landmarks) find nothing on
    the page's URL. axe is a script: it runs in a page of its own with scripts on (the pages
    under test are read with scripts off, as a reader without JavaScript sees them)."""
    from axe_playwright_python.sync_playwright import Axe

    scheme = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") if page.context.pages else False
    checker = page.context.browser.new_page(color_scheme="dark" if scheme else "light")
    try:
        checker.goto(page.url)
        result = Axe().run(checker)
        assert result.violations_count == 0, result.generate_report()
    finally:
        checker.close()


def batch_links(page) -> list[str]:
    return [a.get_attribute("href") for a in page.locator("table.timeline tbody a").all()]


def test_the_tenants_page_shows_the_halt_its_cause_and_the_command_that_lifts_it(browser, served, ledger_dir):
    page = browser.new_page(java_script_enabled=False)
    response = page.goto(served.url + "/")
    assert response.status == 200
    assert page.title() == "Tenants · canvas-sis"
    card = page.locator("section.card")
    assert card.count() == 1
    text = card.inner_text()
    assert TENANT in text
    assert "halted" in card.locator(".badge").first.inner_text()
    assert "Halted by batch registrar/00000003-" in text and "validation error" in text
    command = card.locator("pre.cmd").inner_text()
    assert command == f"canvas-sis resume --dir {ledger_dir} --tenant {TENANT}"
    assert "fresh" in text and "within 12 h" in text, "the tenant's own freshness target is shown"
    waiting = card.locator("table tbody tr")
    assert waiting.count() == 1 and "parked" in waiting.inner_text()
    assert "00000004" in waiting.inner_text()
    shoot(page, "status-tenants")
    accessible(page)
    assert TOKEN not in page.content()


def test_a_tenants_history_lists_every_batch_with_its_outcome_counts_and_a_chart(browser, served):
    page = browser.new_page(java_script_enabled=False)
    assert page.goto(f"{served.url}/tenants/{TENANT}").status == 200
    rows = page.locator("table.timeline tbody tr")
    assert rows.count() == 4
    outcomes = [rows.nth(i).locator(".badge").inner_text() for i in range(4)]
    assert outcomes[0] == "parked" and outcomes[1] == "rejected", outcomes
    assert outcomes[2].startswith("imported") and outcomes[3].startswith("imported"), outcomes
    # Newest first: night 2 had one enrollment more than night 1.
    second, first = (int(rows.nth(i).locator("td.num").first.inner_text().splitlines()[0]) for i in (2, 3))
    assert second == first + 1
    chart = page.locator("svg.chart")
    assert chart.count() == 1 and chart.locator("rect.bar").count() == 4
    assert "Rows and warnings per batch" in chart.locator("title").first.text_content()
    shoot(page, "status-tenant")
    accessible(page)


def test_a_batch_page_groups_warnings_by_class_and_shows_the_class_growing(browser, served):
    page = browser.new_page(java_script_enabled=False)
    page.goto(f"{served.url}/tenants/{TENANT}")
    night2 = batch_links(page)[2]
    assert page.goto(served.url + night2).status == 200
    messages = page.locator("section[aria-labelledby=h-messages]")
    classes = messages.locator("tbody tr")
    assert classes.count() >= 1, messages.inner_text()
    ghost = classes.first.inner_text()
    # Two unknown users this night, one the night before: one class, counted across batches.
    assert "2" in classes.first.locator("td.num").inner_text()
    assert "1 → 2" in classes.first.locator("td.trend").inner_text(), ghost
    assert "GHOST" not in messages.inner_text(), "no message text without row samples"
    files = page.locator("section[aria-labelledby=h-files] tbody tr")
    assert files.count() == 4
    guard = page.locator("section[aria-labelledby=h-guard]").inner_text()
    assert "Compared with the last successful batch before it" in guard and "+20.0 %" in guard
    assert "canvas-sis undo --dir" in page.locator("section[aria-labelledby=h-next]").inner_text()
    shoot(page, "status-batch")
    accessible(page)


def test_the_rejected_batch_says_why_and_how_to_go_on(browser, served, ledger_dir):
    page = browser.new_page(java_script_enabled=False)
    page.goto(f"{served.url}/tenants/{TENANT}")
    page.goto(served.url + batch_links(page)[1])
    facts = page.locator("dl.facts").first.inner_text()
    assert "rejected" in facts and "halts the tenant until resumed" in facts
    validation = page.locator("section[aria-labelledby=h-validation]").inner_text()
    assert "error" in validation
    commands = page.locator("section[aria-labelledby=h-next] pre.cmd").all_inner_texts()
    assert f"canvas-sis resume --dir {ledger_dir} --tenant {TENANT}" in commands
    accessible(page)


def test_the_pages_follow_a_dark_preference_and_fit_a_phone(browser, served):
    dark = browser.new_page(color_scheme="dark")
    dark.goto(served.url + "/")
    background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background
    shoot(dark, "status-tenants-dark")
    accessible(dark)
    phone = browser.new_page(viewport={"width": 375, "height": 740}, device_scale_factor=2)
    for path in ("/", f"/tenants/{TENANT}"):
        phone.goto(served.url + path)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
    shoot(phone, "status-tenant-phone")


def test_row_samples_show_message_texts_and_serve_the_archive_only_when_enabled(browser, ledger_dir):
    server = Server("--dir", str(ledger_dir), "--page-row-samples")
    try:
        page = browser.new_page()
        page.goto(f"{server.url}/tenants/{TENANT}")
        night2 = batch_links(page)[2]
        page.goto(server.url + night2)
        assert "GHOST2" in page.locator("section[aria-labelledby=h-messages]").inner_text()
        zip_link = page.locator("section[aria-labelledby=h-archive] a", has_text="download").first
        got = requests.get(server.url + zip_link.get_attribute("href"), timeout=10)
        assert got.status_code == 200 and got.content[:2] == b"PK"
    finally:
        server.stop()
    # Without row samples the same download is not there.
    plain = Server("--dir", str(ledger_dir))
    try:
        assert requests.get(f"{plain.url}{night2}/zip", timeout=10).status_code == 404
    finally:
        plain.stop()


def test_a_page_token_keeps_out_readers_without_it_but_not_the_probes(ledger_dir, tmp_path):
    token_file = tmp_path / "page-token"
    token_file.write_text("page-reader-7f3e\n")
    server = Server("--dir", str(ledger_dir), "--page-token-file", str(token_file))
    try:
        refused = requests.get(server.url + "/", timeout=10)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "page-reader-7f3e" not in refused.text
        wrong = requests.get(server.url + "/", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        ok = requests.get(server.url + "/", headers={"Authorization": "Bearer page-reader-7f3e"}, timeout=10)
        assert ok.status_code == 200 and TENANT in ok.text
        assert ok.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in ok.headers["Content-Security-Policy"]
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
    basic = tmp_path / "page-users"
    basic.write_text("registrar:correct horse battery\n")
    server = Server("--dir", str(ledger_dir), "--page-basic-auth-file", str(basic))
    try:
        creds = base64.b64encode(b"registrar:correct horse battery").decode()
        assert requests.get(server.url + "/", timeout=10).status_code == 401
        ok = requests.get(server.url + "/", headers={"Authorization": f"Basic {creds}"}, timeout=10)
        assert ok.status_code == 200
    finally:
        server.stop()
