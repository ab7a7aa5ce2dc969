"""The simulator as a process: what `canvas-sis simulate` promises on its command line."""

from __future__ import annotations

import re

import requests

from conftest import ADMIN_TOKEN


def test_first_stdout_line_is_a_loopback_base_url_on_the_chosen_port(sim):
    # `--listen 127.0.0.1:0` picks a free port; the first stdout line names it.
    assert re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*", sim.base_url), sim.base_url
    resp = requests.get(f"{sim.base_url}/api/v1/accounts/1/sis_imports",
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert resp.status_code == 200


def test_default_token_is_admin_sim_token_with_both_permissions(sim_factory):
    own = sim_factory()  # no --token: one token `admin:sim-token`
    account = own.canvas("sim-token").get_account(1)
    assert account.id == 1
    assert list(account.get_sis_imports()) == []


def test_sigterm_stops_the_simulator(sim_factory):
    own = sim_factory()
    code = own.stop()
    assert own.proc.poll() is not None, "simulator still running after SIGTERM"
    # A clean stop, or death by the signal itself; never a kill after the grace period.
    assert code in (0, -15), f"simulator exited with {code} on SIGTERM"
