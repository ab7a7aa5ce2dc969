"""Who may do what, and on which account: canvasapi's exceptions and the exact Canvas bodies.

canvasapi maps statuses to exceptions (`requester.py`): 401 with `WWW-Authenticate` is
`InvalidAccessToken`, 401 without it `Unauthorized`, 403 `Forbidden`, 404 `ResourceDoesNotExist`,
400 `BadRequest`. The bodies and headers are checked with `requests` against docs/canvas-api.md
§1.1 and §6.3.
"""

from __future__ import annotations

import pytest
import requests
from canvasapi.exceptions import (
    BadRequest,
    Forbidden,
    InvalidAccessToken,
    ResourceDoesNotExist,
    Unauthorized,
)

from conftest import ADMIN_TOKEN, IMPORT_ONLY_TOKEN, MANAGE_ONLY_TOKEN
from sisfeed import standard_feed, wait_for_import

NOT_AUTHORIZED_BODY = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
NOT_FOUND_BODY = {"errors": [{"message": "The specified resource does not exist."}]}


def raw(sim, method: str, path: str, token: str | None = ADMIN_TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, sim.api(path), headers=headers, timeout=30, **kwargs)


def test_token_without_import_sis_cannot_create(sim, zip_path):
    account = sim.canvas(MANAGE_ONLY_TOKEN).get_account(1)
    path = zip_path(standard_feed().zip_bytes())
    with pytest.raises((Unauthorized, Forbidden)):
        account.create_sis_import(str(path))

    # §6.3: an authenticated user lacking the permission; 403 on current Canvas, 401 on older.
    resp = raw(sim, "POST", "/api/v1/accounts/1/sis_imports", MANAGE_ONLY_TOKEN,
               files={"attachment": ("feed.zip", path.read_bytes())})
    assert resp.status_code in (401, 403)
    assert resp.json() == NOT_AUTHORIZED_BODY
    assert "WWW-Authenticate" not in resp.headers


def test_token_with_only_manage_sis_can_still_list_and_show(sim, account, zip_path):
    created = account.create_sis_import(str(zip_path(standard_feed().zip_bytes())))
    auditor = sim.canvas(MANAGE_ONLY_TOKEN).get_account(1)
    assert auditor.get_sis_import(created.id).id == created.id
    assert created.id in [i.id for i in auditor.get_sis_imports()]
    wait_for_import(account, created.id)


def test_restore_states_needs_manage_sis(sim, account, zip_path):
    done = wait_for_import(account, account.create_sis_import(str(zip_path(standard_feed().zip_bytes()))).id)
    uploader = sim.canvas(IMPORT_ONLY_TOKEN).get_account(1)
    mine = uploader.get_sis_import(done.id)  # import_sis may show
    with pytest.raises((Unauthorized, Forbidden)):
        mine.restore_states()
    assert account.get_sis_import(done.id).workflow_state == "imported"


def test_bad_token_is_an_invalid_access_token(sim):
    with pytest.raises(InvalidAccessToken):
        sim.canvas("not-a-real-token").get_account(1)
    resp = raw(sim, "GET", "/api/v1/accounts/1/sis_imports", "not-a-real-token")
    assert resp.status_code == 401
    assert resp.json() == {"errors": [{"message": "Invalid access token."}]}
    assert "WWW-Authenticate" in resp.headers


def test_no_token_is_unauthenticated(sim):
    resp = raw(sim, "GET", "/api/v1/accounts/1/sis_imports", token=None)
    assert resp.status_code == 401
    assert resp.json() == {
        "status": "unauthenticated",
        "errors": [{"message": "user authorization required"}],
    }
    assert resp.headers.get("WWW-Authenticate") == 'Bearer realm="canvas-lms"'


def test_unknown_account_does_not_exist(sim, canvas):
    with pytest.raises(ResourceDoesNotExist):
        canvas.get_account(424242)
    resp = raw(sim, "GET", "/api/v1/accounts/424242/sis_imports")
    assert resp.status_code == 404
    assert resp.json() == NOT_FOUND_BODY


def test_sub_account_cannot_import(sim, canvas, zip_path):
    sub = canvas.get_account(2)
    assert sub.sis_account_id == "SIM_SUB"
    with pytest.raises(BadRequest):
        sub.create_sis_import(str(zip_path(standard_feed().zip_bytes())))
    resp = raw(sim, "GET", "/api/v1/accounts/2/sis_imports")
    assert resp.status_code == 400
    assert resp.json() == {"errors": ["SIS imports can only be executed on root accounts"]}


def test_root_account_without_sis_imports_is_forbidden(sim, canvas, zip_path):
    closed = canvas.get_account(3)
    assert closed.name == "Closed College"
    with pytest.raises(Forbidden):
        closed.create_sis_import(str(zip_path(standard_feed().zip_bytes())))
    resp = raw(sim, "GET", "/api/v1/accounts/3/sis_imports")
    assert resp.status_code == 403
    assert resp.json() == {"errors": ["SIS imports are not enabled for this account"]}


def test_account_checks_come_before_permission_checks(sim):
    # §1.1: the account is loaded and checked before the permission check runs, so a token that
    # lacks import_sis still hears "does not exist" and "root accounts only" first.
    unknown = raw(sim, "POST", "/api/v1/accounts/424242/sis_imports", MANAGE_ONLY_TOKEN,
                  data=b"PK\x05\x06" + bytes(18), params={"import_type": "instructure_csv"})
    assert unknown.status_code == 404
    assert unknown.json() == NOT_FOUND_BODY
    sub = raw(sim, "POST", "/api/v1/accounts/2/sis_imports", MANAGE_ONLY_TOKEN,
              data=b"PK\x05\x06" + bytes(18), params={"import_type": "instructure_csv"})
    assert sub.status_code == 400
    assert sub.json() == {"errors": ["SIS imports can only be executed on root accounts"]}
