"""The two upload forms of Canvas's SIS import guides, sent by the real `curl`, then polled with curl.

    curl -H "Authorization: Bearer $TOKEN" --data-binary @x.zip -H 'Content-Type: application/zip' \\
         "$URL/api/v1/accounts/1/sis_imports?import_type=instructure_csv"
    curl -H "Authorization: Bearer $TOKEN" -F attachment=@x.zip \\
         "$URL/api/v1/accounts/1/sis_imports?import_type=instructure_csv"

The simulator's request log (`/__sim/requests`) shows what arrived: the bytes must be the zip's
bytes, and the token must not be recorded. Sections (§N) cite `docs/canvas-api.md`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time

import requests

from conftest import ADMIN_TOKEN
from sisfeed import (
    POLL_INTERVAL_S,
    TERMINAL_STATES,
    header_map,
    standard_feed,
)

CURL = shutil.which("curl")


def curl_json(*args: str) -> tuple[int, dict]:
    """Runs curl (no retries, bounded time) and returns (HTTP status, parsed JSON body)."""
    assert CURL, "curl is not installed; scripts/test.sh installs it"
    proc = subprocess.run(
        [CURL, "-sS", "--max-time", "30", "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
         "-w", "\n%{http_code}", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, f"curl failed ({proc.returncode}): {proc.stderr}"
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), json.loads(body)


def curl_poll_until_terminal(url: str, deadline_s: float = 60.0) -> dict:
    end = time.monotonic() + deadline_s
    while True:
        status, body = curl_json(url)
        assert status == 200, f"GET {url}: {status} {body}"
        if body["workflow_state"] in TERMINAL_STATES:
            return body
        assert time.monotonic() < end, f"import still {body['workflow_state']} after {deadline_s}s"
        time.sleep(POLL_INTERVAL_S)


def assert_fresh_import(body: dict) -> None:
    """docs/canvas-api.md §1.2, success response of a create."""
    assert body["workflow_state"] == "created"
    assert body["progress"] == 0
    assert body["data"] == {"import_type": "instructure_csv"}
    assert body["started_at"] is None and body["ended_at"] is None
    assert body["skip_deletes"] is False
    assert body["update_sis_id_if_login_claimed"] is False
    for option in ("batch_mode", "batch_mode_term_id", "override_sis_stickiness",
                   "diffing_data_set_identifier", "change_threshold"):
        assert body[option] is None, f"{option} should be null on a plain create"


def assert_imported_standard_feed(final: dict) -> None:
    assert final["workflow_state"] == "imported"
    counts = final["data"]["counts"]
    assert (counts["terms"], counts["courses"], counts["users"], counts["enrollments"]) == (1, 2, 3, 4)
    assert counts["error_count"] == 0 and counts["warning_count"] == 0
    assert final["data"]["supplied_batches"] == ["term", "course", "user", "enrollment"]


def logged_post(sim, posts_before: int) -> dict:
    log = requests.get(f"{sim.base_url}/__sim/requests", timeout=10).json()
    entries = log["requests"] if isinstance(log, dict) else log
    posts = [e for e in entries if e["method"] == "POST" and e["path"] == "/api/v1/accounts/1/sis_imports"]
    assert len(posts) > posts_before, "the simulator did not log the POST"
    return posts[-1]


def posts_so_far(sim) -> int:
    log = requests.get(f"{sim.base_url}/__sim/requests", timeout=10).json()
    entries = log["requests"] if isinstance(log, dict) else log
    return sum(1 for e in entries if e["method"] == "POST" and e["path"] == "/api/v1/accounts/1/sis_imports")


def test_curl_raw_zip_body(sim, zip_path):
    data = standard_feed().zip_bytes()
    path = zip_path(data)
    before = posts_so_far(sim)

    status, created = curl_json(
        "--data-binary", f"@{path}", "-H", "Content-Type: application/zip",
        sim.api("/api/v1/accounts/1/sis_imports?import_type=instructure_csv"),
    )
    assert status == 200, created
    assert_fresh_import(created)

    entry = logged_post(sim, before)
    assert entry["body_size"] == len(data)
    assert entry["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["query"] in ("import_type=instructure_csv", {"import_type": "instructure_csv"})
    headers = header_map(entry)
    assert headers["content-type"] == "application/zip"
    assert headers["authorization"] == "[redacted]", "the log shows a token was sent, never the token"
    assert ADMIN_TOKEN not in json.dumps(entry)

    final = curl_poll_until_terminal(sim.api(f"/api/v1/accounts/1/sis_imports/{created['id']}"))
    assert_imported_standard_feed(final)


def test_curl_multipart_attachment(sim, zip_path):
    data = standard_feed().zip_bytes()
    path = zip_path(data, "sis_feed.zip")
    before = posts_so_far(sim)

    status, created = curl_json(
        "-F", f"attachment=@{path}",
        sim.api("/api/v1/accounts/1/sis_imports?import_type=instructure_csv"),
    )
    assert status == 200, created
    assert_fresh_import(created)

    entry = logged_post(sim, before)
    assert header_map(entry)["content-type"].startswith("multipart/form-data; boundary=")
    assert entry["body_size"] > len(data)  # the zip plus the multipart framing

    final = curl_poll_until_terminal(sim.api(f"/api/v1/accounts/1/sis_imports/{created['id']}"))
    assert_imported_standard_feed(final)


def test_multipart_without_attachment_field_is_rejected(sim, zip_path):
    path = zip_path(standard_feed().zip_bytes())
    status, body = curl_json("-F", f"file=@{path}", sim.api("/api/v1/accounts/1/sis_imports"))
    # §1.2: multipart without `attachment`.
    assert status == 400
    assert body == {"error": True, "error_message": "Missing attachment"}


def sim_import_count(sim) -> int:
    body = requests.get(f"{sim.base_url}/__sim/imports", timeout=10).json()
    return len(body["imports"] if isinstance(body, dict) else body)


def test_raw_body_with_non_utf8_charset_is_rejected(sim, zip_path):
    path = zip_path(standard_feed().zip_bytes())
    before = sim_import_count(sim)
    status, body = curl_json(
        "--data-binary", f"@{path}", "-H", "Content-Type: text/csv; charset=iso-8859-1",
        sim.api("/api/v1/accounts/1/sis_imports?import_type=instructure_csv"),
    )
    # §1.2: a charset other than UTF-8 is refused and no batch is created.
    assert status == 400
    assert body == {"error": "Invalid content type, UTF-8 required"}
    assert sim_import_count(sim) == before
