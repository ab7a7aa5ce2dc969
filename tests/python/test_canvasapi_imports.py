"""The simulator through canvasapi, a Canvas client nobody here wrote.

If canvasapi can create, show, list and page SIS imports against the simulator exactly as it does
against Canvas, the simulator's wire format (multipart field, JSON shapes, Link headers, status
codes) is at least as right as canvasapi needs it to be. Expected values come from
`docs/canvas-api.md` (cited by section).
"""

from __future__ import annotations

from canvasapi.exceptions import ResourceDoesNotExist

from sisfeed import (
    BASE_COUNT_KEYS,
    header_map,
    standard_feed,
    users_only_feed,
    wait_for_import,
)


def test_get_account_returns_the_simulated_root_account(canvas):
    account = canvas.get_account(1)
    assert account.id == 1
    assert account.name == "Simulated University"
    assert account.sis_account_id == "SIM_ROOT"

    by_sis_id = canvas.get_account("SIM_ROOT", use_sis_id=True)
    assert by_sis_id.id == 1


def test_create_sis_import_uploads_multipart_attachment_and_answers_created(account, admin, zip_path):
    feed = standard_feed()
    path = zip_path(feed.zip_bytes(), "fall-feed.zip")

    created = account.create_sis_import(str(path), import_type="instructure_csv")

    # docs/canvas-api.md §1.2 "Success response": HTTP 200 (canvasapi raises on anything else),
    # state created, progress 0, data holding only the import type, no timestamps yet.
    assert created.workflow_state == "created"
    assert created.progress == 0
    assert created.data == {"import_type": "instructure_csv"}
    assert created.started_at is None
    assert created.ended_at is None
    assert created.skip_deletes is False
    assert created.update_sis_id_if_login_claimed is False
    assert created.batch_mode is None

    # canvasapi sent a multipart body with the file in the form field `attachment`.
    posts = [
        r for r in admin.requests_log()
        if r["method"] == "POST" and r["path"] == "/api/v1/accounts/1/sis_imports"
    ]
    assert posts, "the simulator did not log canvasapi's POST"
    assert header_map(posts[-1])["content-type"].startswith("multipart/form-data")
    assert header_map(posts[-1])["authorization"] == "[redacted]", "the log shows a token was sent, never the token"


def test_import_runs_to_imported_with_counts_and_supplied_batches(account, admin, zip_path):
    feed = standard_feed()
    created = account.create_sis_import(str(zip_path(feed.zip_bytes())))

    done = wait_for_import(account, created.id)

    assert done.workflow_state == "imported"
    assert done.progress == 100
    assert done.started_at is not None and done.ended_at is not None
    counts = done.data["counts"]
    assert BASE_COUNT_KEYS <= set(counts), f"missing count keys: {BASE_COUNT_KEYS - set(counts)}"
    assert counts["terms"] == 1
    assert counts["courses"] == 2
    assert counts["users"] == 3
    assert counts["enrollments"] == 4
    assert counts["accounts"] == 0 and counts["sections"] == 0
    assert counts["error_count"] == 0 and counts["warning_count"] == 0
    # §2: singular importer names in Canvas's processing order (§5.2), not zip order.
    assert done.data["supplied_batches"] == ["term", "course", "user", "enrollment"]
    assert not getattr(done, "processing_warnings", None)
    assert not getattr(done, "processing_errors", None)

    # What "Canvas" holds now: every user of the feed, active.
    for user_row in feed.users:
        user = admin.entity("users", user_row[0])
        assert user is not None, f"user {user_row[0]} is not in the account's content"
        assert user["workflow_state"] != "deleted"
    assert admin.entity("courses", feed.sis_id("BIO101")) is not None


def test_get_sis_import_of_an_unknown_id_raises_resource_does_not_exist(account):
    try:
        account.get_sis_import(987654321)
    except ResourceDoesNotExist:
        return
    raise AssertionError("GET sis_imports/987654321 did not answer 404")


def test_get_sis_imports_pages_across_more_than_ten_imports(sim, account, admin, http, zip_path):
    # canvasapi always adds per_page=100 after the caller's own per_page, and Canvas (Rails) takes
    # the last value of a repeated parameter, so canvasapi reads 100 imports a page whatever we
    # ask. 101 imports make it follow a rel="next" link for real.
    path = zip_path(users_only_feed(1).zip_bytes())
    ids = [account.create_sis_import(str(path)).id for _ in range(101)]
    assert len(set(ids)) == 101

    before = len(admin.requests_log())
    listed = [imp.id for imp in account.get_sis_imports()]
    list_gets = [
        r for r in admin.requests_log()[before:]
        if r["method"] == "GET" and r["path"] == "/api/v1/accounts/1/sis_imports"
    ]
    assert len(list_gets) >= 2, f"canvasapi fetched only {len(list_gets)} page(s)"
    assert set(ids) <= set(listed), "some created imports are missing from the paged list"
    assert len(listed) == len(set(listed)), "an import appeared on two pages"
    # §1.3: newest first.
    positions = [listed.index(i) for i in ids]
    assert positions == sorted(positions, reverse=True)

    # The raw Link header, §1.3 and §6.1: default page size 10, next but never last on this list.
    first = http.get(sim.api("/api/v1/accounts/1/sis_imports"))
    assert first.status_code == 200
    assert len(first.json()["sis_imports"]) == 10
    assert "next" in first.links, f"no rel=next in Link: {first.headers.get('Link')!r}"
    assert "last" not in first.links, "the SIS import list must not carry rel=last"
    assert first.links["next"]["url"].startswith(sim.base_url + "/api/v1/accounts/1/sis_imports")
    second = http.get(first.links["next"]["url"])
    assert second.status_code == 200
    page_one = [i["id"] for i in first.json()["sis_imports"]]
    page_two = [i["id"] for i in second.json()["sis_imports"]]
    assert len(page_two) == 10 and not set(page_one) & set(page_two)
    assert max(page_two) < min(page_one)

    # FIFO per account (§3.3): once the newest is done, every one before it is done too.
    wait_for_import(account, ids[-1], deadline_s=120)
    states = {imp.id: imp.workflow_state for imp in account.get_sis_imports()}
    assert {states[i] for i in ids} == {"imported"}


def test_list_and_show_accept_self_sis_account_id_and_json_suffix(sim, account, http, zip_path):
    created = account.create_sis_import(str(zip_path(standard_feed().zip_bytes())))
    # §1: `self`, `sis_account_id:X` and `.json` suffixes all reach the same root account.
    for path in (
        f"/api/v1/accounts/self/sis_imports/{created.id}",
        f"/api/v1/accounts/sis_account_id:SIM_ROOT/sis_imports/{created.id}",
        f"/api/v1/accounts/1/sis_imports/{created.id}.json",
    ):
        resp = http.get(sim.api(path))
        assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text[:200]}"
        assert resp.json()["id"] == created.id
    listed = http.get(sim.api("/api/v1/accounts/1/sis_imports.json"))
    assert listed.status_code == 200 and "sis_imports" in listed.json()
    wait_for_import(account, created.id)


def test_abort_of_a_finished_import_is_not_found(account, zip_path):
    created = account.create_sis_import(str(zip_path(standard_feed().zip_bytes())))
    done = wait_for_import(account, created.id)
    assert done.workflow_state == "imported"
    # §1.6: only not-yet-finished batches can be found by abort.
    try:
        done.abort()
    except ResourceDoesNotExist:
        pass
    else:
        raise AssertionError("aborting a finished import did not answer 404")
    assert account.get_sis_import(created.id).workflow_state == "imported"
