"""Fixtures for the simulator's tests: one simulator subprocess per session, reset after each test.

These tests need no Django; they talk to the simulator over HTTP like any client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from offers_simulator.testing import SimulatorProcess, run_simulator
from offers_simulator.tests.helpers import get_token, register


@pytest.fixture(autouse=True)
def _empty_task_queue() -> Iterator[None]:
    """Overrides the root conftest's autouse fixture that empties Huey's queue: these tests
    enqueue nothing and must run without Django (``-p no:django``)."""
    yield


@pytest.fixture(scope="session")
def simulator_process() -> Iterator[SimulatorProcess]:
    # A long tick keeps offers still unless a test shortens it (reset restores it).
    with run_simulator("--tick", "3600", "--seed", "7") as simulator:
        yield simulator


@pytest.fixture
def simulator(simulator_process: SimulatorProcess) -> Iterator[SimulatorProcess]:
    yield simulator_process
    simulator_process.reset()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def token(http: requests.Session, simulator: SimulatorProcess) -> str:
    return get_token(http, simulator)


@pytest.fixture
def product_id(http: requests.Session, simulator: SimulatorProcess, token: str) -> str:
    """A freshly registered product."""
    new_id = str(uuid.uuid4())
    assert register(http, simulator, token, new_id).status_code == 201
    return new_id
