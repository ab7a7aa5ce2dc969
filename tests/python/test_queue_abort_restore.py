"""The per-account queue, the abort endpoints and restore_states, through canvasapi.

Queue tests start their own simulator (`sim_factory`) with a slow import speed, so that one import
is reliably `importing` while others wait in `created`, and so that the abort hold they trigger
cannot stall the shared simulator's queue. Sections (§N) cite `docs/canvas-api.md`.
"""

from __future__ import annotations

from datetime import datetime

from sisfeed import (
    Feed,
    standard_feed,
    users_only_feed,
    wait_for_import,
    wait_until,
)

# 200 rows at 2 rows/s is 100 s of import: far longer than these tests run, yet each ends by abort.
SLOW_ARGS = ("--rows-per-second", "2")
SLOW_ROWS = 200


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def start_slow_import(account, zip_path):
    """One import that stays `importing` for a long time; returns it once it is running."""
    path = zip_path(users_only_feed(SLOW_ROWS).zip_bytes(), "slow.zip")
    created = account.create_sis_import(str(path))
    return wait_for_import(account, created.id, states={"importing"}, deadline_s=30)


def test_running_lists_only_the_importing_batch_and_abort_all_pending_spares_it(sim_factory, zip_path):
    sim = sim_factory(*SLOW_ARGS)
    account = sim.canvas().get_account(1)
    small = zip_path(standard_feed().zip_bytes(), "small.zip")

    running = start_slow_import(account, zip_path)
    queued = [account.create_sis_import(str(small)) for _ in range(2)]

    # §3.3: one import at a time per account; later ones wait in `created`.
    for q in queued:
        assert account.get_sis_import(q.id).workflow_state == "created"
    # §1.4: only importing/cleanup_batch batches are "running".
    assert [i.id for i in account.get_sis_imports_running()] == [running.id]

    # §1.7: abort_all_pending aborts created batches, sets progress 100, and leaves importing alone.
    assert account.abort_sis_imports_pending() is True
    for q in queued:
        after = account.get_sis_import(q.id)
        assert after.workflow_state == "aborted"
        assert after.progress == 100
    assert account.get_sis_import(running.id).workflow_state == "importing"

    # §1.6: abort of the running one answers the reloaded import, aborted straight away.
    aborted = running.abort()
    assert aborted.id == running.id
    assert aborted.workflow_state == "aborted"
    assert aborted.progress < 100  # §3.4: abort leaves progress where it was
    assert list(account.get_sis_imports_running()) == []
    assert account.get_sis_import(running.id).workflow_state == "aborted"


def test_abort_holds_the_next_pending_import_for_the_abort_hold(sim_factory, zip_path):
    hold_s = 3.0
    sim = sim_factory(*SLOW_ARGS, "--abort-hold-secs", str(hold_s))
    account = sim.canvas().get_account(1)

    running = start_slow_import(account, zip_path)
    waiting = account.create_sis_import(str(zip_path(standard_feed().zip_bytes(), "next.zip")))

    aborted = running.abort()
    assert aborted.workflow_state == "aborted"
    # §1.6: with a batch pending, the next one starts only after the hold (10 min in Canvas).
    assert account.get_sis_import(waiting.id).workflow_state == "created"

    done = wait_for_import(account, waiting.id, deadline_s=hold_s + 30)
    assert done.workflow_state == "imported"
    waited = (parse_time(done.started_at) - parse_time(aborted.updated_at)).total_seconds()
    # Timestamps may be whole seconds: allow one second of rounding below the hold.
    assert waited >= hold_s - 1, f"next import started {waited}s after the abort, hold is {hold_s}s"


def test_restore_states_returns_a_progress_and_rolls_back_the_batch(sim, canvas, account, admin, zip_path):
    feed = standard_feed()
    first = wait_for_import(account, account.create_sis_import(str(zip_path(feed.zip_bytes(), "a.zip"))).id)
    assert first.workflow_state == "imported"
    course_id = feed.sis_id("HIS210")
    course_before = admin.entity("courses", course_id)
    assert course_before is not None and course_before["workflow_state"] != "deleted"

    # A second batch deletes one course.
    deleting = Feed(prefix=feed.prefix, courses=[[course_id, "HIS 210", "Modern European History",
                                                  feed.sis_id("FA25"), "deleted"]])
    second = wait_for_import(
        account, account.create_sis_import(str(zip_path(deleting.zip_bytes(), "b.zip"))).id
    )
    assert second.workflow_state == "imported"
    assert admin.entity("courses", course_id)["workflow_state"] == "deleted"

    # §1.8: restore_states answers a Progress; poll GET /api/v1/progress/:id until it completes.
    progress = second.restore_states()
    assert progress.tag == "sis_batch_state_restore"
    assert progress.context_type == "SisBatch"
    assert progress.context_id == second.id
    assert progress.url == f"{sim.base_url}/api/v1/progress/{progress.id}"
    finished = wait_until(
        lambda: canvas.get_progress(progress.id),
        lambda p: p.workflow_state in ("completed", "failed"),
        f"progress {progress.id} of restore_states",
    )
    assert finished.workflow_state == "completed"
    assert finished.completion == 100

    restored = wait_for_import(account, second.id, states={"restored", "partially_restored"})
    assert restored.workflow_state == "restored"  # a full restore (no *_only flags)
    course_after = admin.entity("courses", course_id)
    assert course_after["workflow_state"] == course_before["workflow_state"]
    # The earlier batch is untouched.
    assert account.get_sis_import(first.id).workflow_state == "imported"
