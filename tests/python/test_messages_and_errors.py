"""Imports that end with messages, and the two errors endpoints that list them.

canvasapi 3.6.0 has no method for `GET /accounts/:id/sis_imports/:id/errors` or
`GET /accounts/:id/sis_import_errors` (its source has neither path). We still page them through
canvasapi's own `PaginatedList` over its Requester, which is what a canvasapi user would write,
and check the raw Link headers with `requests`. Sections (§N) cite `docs/canvas-api.md`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from canvasapi.canvas_object import CanvasObject
from canvasapi.paginated_list import PaginatedList

from sisfeed import (
    Feed,
    csv_text,
    make_zip,
    standard_feed,
    unique_prefix,
    users_only_feed,
    wait_for_import,
    wait_until,
)

MISSING_HEADERS = "Couldn't find Canvas CSV import headers"


@dataclass
class Finished:
    feed: Feed
    sis_import: object
    extra: dict


@pytest.fixture(scope="module")
def warned(account, tmp_path_factory) -> Finished:
    """A good feed plus one enrollment for a user nobody created: it must still import."""
    feed = standard_feed()
    ghost = feed.sis_id("GHOST")
    feed.enrollments.append([feed.sis_id("BIO101"), ghost, "student", "active"])
    ghost_line = 1 + len(feed.enrollments)  # header is line 1, so the last row's line number
    path = tmp_path_factory.mktemp("warned") / "warned.zip"
    path.write_bytes(feed.zip_bytes())
    created = account.create_sis_import(str(path))
    done = wait_for_import(account, created.id)
    return Finished(feed, done, {"ghost": ghost, "ghost_line": ghost_line})


@pytest.fixture(scope="module")
def failed(account, tmp_path_factory) -> Finished:
    """Two good users plus a CSV whose headers match no Canvas type."""
    feed = users_only_feed(2)
    files = feed.files()
    files["mystery.csv"] = csv_text(["colour", "flavour"], [["teal", "mint"]])
    path = tmp_path_factory.mktemp("failed") / "failed.zip"
    path.write_bytes(make_zip(files))
    created = account.create_sis_import(str(path))
    done = wait_for_import(account, created.id)
    return Finished(feed, done, {})


def errors_of(account, path: str, **params) -> list[dict]:
    """Every SisImportError on an errors route, paged by canvasapi's PaginatedList."""
    pages = PaginatedList(
        CanvasObject, account._requester, "GET", path, _root="sis_import_errors", **params
    )
    return [{k: getattr(e, k, None) for k in ("sis_import_id", "file", "message", "row")} for e in pages]


def test_unknown_user_enrollment_ends_imported_with_messages(warned, admin):
    imp = warned.sis_import
    assert imp.workflow_state == "imported_with_messages"
    assert imp.progress == 100  # §3.4: success sets 100
    counts = imp.data["counts"]
    assert counts["warning_count"] == 1
    assert counts["error_count"] == 0
    assert counts["users"] == 3 and counts["courses"] == 2
    # §2: processing_warnings is a list of [file, message] pairs; no failures were recorded.
    warnings = imp.processing_warnings
    assert len(warnings) == 1
    file, message = warnings[0]
    assert file == "enrollments.csv"
    assert warned.extra["ghost"] in message
    assert not getattr(imp, "processing_errors", None)
    # The bad row was skipped, the rest landed (§7.3).
    assert admin.entity("users", warned.feed.sis_id("U1")) is not None
    assert admin.entity("users", warned.extra["ghost"]) is None


def test_headers_matching_no_type_end_failed_with_messages_after_importing_the_rest(failed, admin):
    imp = failed.sis_import
    assert imp.workflow_state == "failed_with_messages"
    assert ["mystery.csv", MISSING_HEADERS] in imp.processing_errors
    counts = imp.data["counts"]
    assert counts["error_count"] == 1
    # §3.1 "Important gotcha": the whole batch fails, yet the other files were imported.
    assert counts["users"] == 2
    for row in failed.feed.users:
        assert admin.entity("users", row[0]) is not None, f"{row[0]} was not imported"


def test_errors_of_one_import_are_listed_with_file_message_and_row(warned, account):
    imp = warned.sis_import
    errors = errors_of(account, f"accounts/1/sis_imports/{imp.id}/errors", per_page=1)
    assert len(errors) == 1
    err = errors[0]
    assert err["sis_import_id"] == imp.id
    assert err["file"] == "enrollments.csv"
    assert warned.extra["ghost"] in err["message"]
    assert err["row"] == warned.extra["ghost_line"]  # §1.9: 1-based, header is row 1


def test_account_errors_page_with_next_and_last_links(warned, failed, sim, http):
    url = sim.api("/api/v1/accounts/1/sis_import_errors")
    resp = http.get(url, params={"per_page": 1})
    assert resp.status_code == 200
    # §1.9 and §6.1: the errors endpoints count their rows, so rel="last" is there.
    assert "next" in resp.links and "last" in resp.links, resp.headers.get("Link")
    seen: list[dict] = []
    pages = 0
    while True:
        pages += 1
        body = resp.json()
        assert len(body["sis_import_errors"]) <= 1
        seen.extend(body["sis_import_errors"])
        if "next" not in resp.links:
            break
        assert pages < 500, "errors pagination never ended"
        resp = http.get(resp.links["next"]["url"])
        assert resp.status_code == 200
    assert pages >= 2
    ids = {e["sis_import_id"] for e in seen}
    assert {warned.sis_import.id, failed.sis_import.id} <= ids
    assert {"sis_import_id", "file", "message", "row"} <= set(seen[0])
    # Newest first (§1.9): the failed import was created after the warned one.
    order = [e["sis_import_id"] for e in seen]
    assert order.index(failed.sis_import.id) < order.index(warned.sis_import.id)


def test_account_errors_can_be_read_through_canvasapi_paging(warned, failed, account):
    errors = errors_of(account, "accounts/1/sis_import_errors", per_page=2)
    mine = [e for e in errors if e["sis_import_id"] in (warned.sis_import.id, failed.sis_import.id)]
    assert {(e["file"], e["sis_import_id"]) for e in mine} == {
        ("enrollments.csv", warned.sis_import.id),
        ("mystery.csv", failed.sis_import.id),
    }


def test_failure_filter_keeps_only_failure_errors(warned, failed, account):
    only_failures = errors_of(account, "accounts/1/sis_import_errors", failure="true")
    ids = {e["sis_import_id"] for e in only_failures}
    assert failed.sis_import.id in ids
    assert warned.sis_import.id not in ids


def test_errors_attachment_appears_after_completion(warned, failed, account):
    for finished in (warned, failed):
        imp = wait_until(
            lambda: account.get_sis_import(finished.sis_import.id),
            lambda i: getattr(i, "errors_attachment", None) is not None,
            f"errors_attachment of import {finished.sis_import.id}",
            deadline_s=30,
        )
        attachment = imp.errors_attachment
        assert attachment["filename"] == f"sis_errors_attachment_{imp.id}.csv"
        assert attachment["content-type"] == "text/csv"


def test_clean_import_has_no_errors_and_no_errors_attachment(account, tmp_path):
    path = tmp_path / "clean.zip"
    path.write_bytes(standard_feed(unique_prefix()).zip_bytes())
    done = wait_for_import(account, account.create_sis_import(str(path)).id)
    assert done.workflow_state == "imported"
    assert errors_of(account, f"accounts/1/sis_imports/{done.id}/errors") == []
    assert getattr(done, "errors_attachment", None) is None
