"""SIS feeds built in memory, and the small waiting and inspection helpers the tests share.

Feeds are zips of Canvas SIS CSVs written with Python's own `csv` and `zipfile`, so nothing in the
test data comes from the code under test. Every feed takes a `prefix` that goes into every SIS id:
the tests share one simulator (and its root account 1), and unique ids keep one test's content
from being mistaken for another's.

Waiting is always bounded by a deadline, with a short poll interval; nothing sleeps for a fixed time
hoping the server is done.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import requests

# docs/canvas-api.md §0 and §3.1: the states after which an import never changes again (until a
# restore).
TERMINAL_STATES = frozenset(
    {"imported", "imported_with_messages", "failed", "failed_with_messages", "aborted"}
)
RESTORE_TERMINAL_STATES = frozenset({"restored", "partially_restored"})

# docs/canvas-api.md §2, data.counts: the keys of a 2023-ish Canvas; every one is listed, 0 when
# unused.
BASE_COUNT_KEYS = frozenset(
    {
        "change_sis_ids", "accounts", "terms", "abstract_courses", "courses", "sections",
        "xlists", "users", "logins", "enrollments", "admins", "group_categories", "groups",
        "group_memberships", "grade_publishing_results", "user_observers",
        "error_count", "warning_count",
    }
)

# Short, yet slow enough that a whole run stays far below the throttle's high-water mark (the
# simulator leaks 10 units/s, like Canvas, and every poll costs one).
POLL_INTERVAL_S = 0.25
DEFAULT_DEADLINE_S = 60.0

T = TypeVar("T")


def unique_prefix() -> str:
    """A short id fragment that no other test of this run uses."""
    return uuid.uuid4().hex[:8].upper()


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    """One CSV file: RFC 4180 quoting, `\\n` line ends, UTF-8 without BOM (docs/canvas-api.md §5.1).

    Canvas would drop a byte-order mark, but none is needed.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def make_zip(files: dict[str, str]) -> bytes:
    """A deflated zip holding the given CSV texts, in the given order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text.encode("utf-8"))
    return out.getvalue()


@dataclass
class Feed:
    """A small, valid feed: terms, courses, users and enrollments that reference each other."""

    prefix: str
    terms: list[list[str]] = field(default_factory=list)
    courses: list[list[str]] = field(default_factory=list)
    users: list[list[str]] = field(default_factory=list)
    enrollments: list[list[str]] = field(default_factory=list)

    TERM_HEADER = ["term_id", "name", "status", "start_date", "end_date"]
    COURSE_HEADER = ["course_id", "short_name", "long_name", "term_id", "status"]
    USER_HEADER = ["user_id", "login_id", "first_name", "last_name", "email", "status"]
    ENROLLMENT_HEADER = ["course_id", "user_id", "role", "status"]

    def files(self) -> dict[str, str]:
        """The CSVs that have rows, named as the Canvas docs name them."""
        out: dict[str, str] = {}
        if self.terms:
            out["terms.csv"] = csv_text(self.TERM_HEADER, self.terms)
        if self.courses:
            out["courses.csv"] = csv_text(self.COURSE_HEADER, self.courses)
        if self.users:
            out["users.csv"] = csv_text(self.USER_HEADER, self.users)
        if self.enrollments:
            out["enrollments.csv"] = csv_text(self.ENROLLMENT_HEADER, self.enrollments)
        return out

    def zip_bytes(self) -> bytes:
        return make_zip(self.files())

    def sis_id(self, local: str) -> str:
        return f"{self.prefix}-{local}"


def standard_feed(prefix: str | None = None) -> Feed:
    """1 term, 2 courses, 3 users, 4 enrollments; imports cleanly as `imported`."""
    p = prefix or unique_prefix()
    f = Feed(prefix=p)
    term = f.sis_id("FA25")
    f.terms = [[term, "Fall 2025", "active", "2025-08-25T00:00:00Z", "2025-12-19T23:59:59Z"]]
    f.courses = [
        [f.sis_id("BIO101"), "BIO 101", "Introduction to Biology", term, "active"],
        [f.sis_id("HIS210"), "HIS 210", "Modern European History", term, "active"],
    ]
    f.users = [
        [f.sis_id("U1"), f"{p.lower()}.aokafor", "Amara", "Okafor", "amara.okafor@example.edu", "active"],
        [f.sis_id("U2"), f"{p.lower()}.lchen", "Lucas", "Chen", "lucas.chen@example.edu", "active"],
        [f.sis_id("U3"), f"{p.lower()}.mgarcia", "Maria", "Garcia", "maria.garcia@example.edu", "active"],
    ]
    f.enrollments = [
        [f.sis_id("BIO101"), f.sis_id("U1"), "teacher", "active"],
        [f.sis_id("BIO101"), f.sis_id("U2"), "student", "active"],
        [f.sis_id("HIS210"), f.sis_id("U3"), "student", "active"],
        [f.sis_id("HIS210"), f.sis_id("U2"), "student", "active"],
    ]
    return f


def users_only_feed(count: int, prefix: str | None = None) -> Feed:
    """`count` active users and nothing else: a feed whose size sets how long an import runs."""
    p = prefix or unique_prefix()
    f = Feed(prefix=p)
    f.users = [
        [f.sis_id(f"U{i}"), f"{p.lower()}.user{i}", "Test", f"User{i}", f"user{i}@example.edu", "active"]
        for i in range(count)
    ]
    return f


def wait_until(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> T:
    """Calls `fetch` every POLL_INTERVAL_S until `done(result)`; fails the test at the deadline."""
    end = time.monotonic() + deadline_s
    last = fetch()
    while not done(last):
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}; last seen: {last!r}")
        time.sleep(POLL_INTERVAL_S)
        last = fetch()
    return last


def wait_for_import(account, import_id: int, states=TERMINAL_STATES, deadline_s=DEFAULT_DEADLINE_S):
    """Polls `Account.get_sis_import` (canvasapi) until the import's state is in `states`."""
    return wait_until(
        lambda: account.get_sis_import(import_id),
        lambda imp: imp.workflow_state in states,
        f"SIS import {import_id} to reach one of {sorted(states)}",
        deadline_s,
    )


class SimAdmin:
    """The simulator's test controls under `/__sim/` (no auth)."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def _get(self, path: str):
        resp = self.http.get(f"{self.base_url}{path}", timeout=10)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text[:300]}"
        return resp.json()

    def requests_log(self) -> list[dict]:
        """Every API request the simulator saw, oldest first."""
        body = self._get("/__sim/requests")
        return body["requests"] if isinstance(body, dict) else body

    def content(self, account_id: int = 1) -> dict:
        return self._get(f"/__sim/accounts/{account_id}/content")

    def entity(self, kind: str, sis_id: str, account_id: int = 1) -> dict | None:
        """One entity of `kind` ("users", "courses", ...) by SIS id, or None if Canvas lacks it."""
        for item in self.content(account_id).get(kind, []):
            if item.get("sis_id") == sis_id:
                return item
        return None


def header_map(logged_request: dict) -> dict[str, str]:
    """The headers of a `/__sim/requests` entry as a lower-cased dict (map or list of pairs)."""
    headers = logged_request.get("headers") or {}
    if isinstance(headers, dict):
        items = headers.items()
    else:
        items = [(h[0], h[1]) if isinstance(h, (list, tuple)) else (h["name"], h["value"]) for h in headers]
    return {str(k).lower(): str(v) for k, v in items}
