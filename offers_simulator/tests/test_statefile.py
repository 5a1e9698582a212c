"""The --state file: registrations survive a restart."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from offers_simulator.testing import SimulatorError, run_simulator
from offers_simulator.tests.helpers import get_offers, get_token, register


def test_restart_keeps_registrations(tmp_path):
    state = tmp_path / "state" / "offers.json"
    product_id = str(uuid.uuid4())
    with run_simulator("--state", str(state)) as simulator, requests.Session() as http:
        token = get_token(http, simulator)
        assert register(http, simulator, token, product_id, name="Tea").status_code == 201
    assert json.loads(state.read_text())["registrations"] == [
        {"id": product_id, "name": "Tea", "description": "Boils water."}
    ]
    assert [path.name for path in state.parent.iterdir()] == ["offers.json"]  # no temp files

    with run_simulator("--state", str(state)) as simulator, requests.Session() as http:
        assert simulator.state()["registered"] == 1
        token = get_token(http, simulator)
        assert get_offers(http, simulator, token, product_id).status_code == 200
        assert register(http, simulator, token, product_id).status_code == 409
        simulator.forget_registrations()

    with run_simulator("--state", str(state)) as simulator:
        assert simulator.state()["registered"] == 0


def test_unusable_state_file_stops_the_start(tmp_path):
    state = tmp_path / "offers.json"
    state.write_text("{not json")
    with (
        pytest.raises(SimulatorError, match="cannot read state file"),
        run_simulator("--state", str(state)),
    ):
        pass
    assert state.read_text() == "{not json"  # left alone
