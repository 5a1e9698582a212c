"""The simulator conforms to the Offers service's published OpenAPI document (schemathesis).

Schemathesis generates valid and invalid requests from ``offers_simulator/openapi.json`` (a
verbatim copy of the published document) and checks every answer: documented status, content
type and body schema, no 5xx, invalid data rejected, valid data accepted.

Generated header values are never valid tokens, so ``_Driver`` rewrites some cases before they
are sent: a real refresh or access token, a registered product id. Others go out as generated
(or without the header), so that every documented status of every operation is reached;
``test_every_documented_status_is_reached`` checks that it was.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis

from offers_simulator.testing import SimulatorProcess, run_simulator
from offers_simulator.tests.helpers import get_token, register

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "openapi.json"
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 40, "deterministic": True},
        "checks": {
            # A valid /auth request is refused with 400 while the last access token is valid:
            # documented behaviour, not a rejection of the data.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404", "409"]}
        },
    }
)
schema = schemathesis.openapi.from_path(SCHEMA_PATH, config=CONFIG)


def _documented_statuses() -> dict[str, set[int]]:
    document = json.loads(SCHEMA_PATH.read_text())
    return {
        f"{method.upper()} {path}": {int(status) for status in operation["responses"]}
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


class _Driver:
    """Gives generated cases real credentials and data, some of the time, and records answers."""

    def __init__(self, simulator: SimulatorProcess, session: requests.Session) -> None:
        self.simulator = simulator
        self.session = session
        self.access_token = get_token(session, simulator)
        self.product_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
        assert register(session, simulator, self.access_token, self.product_id).status_code == 201
        self.seen: dict[str, set[int]] = defaultdict(set)
        self._turns = itertools.count()

    def prepare(self, case: schemathesis.Case) -> None:
        turn = next(self._turns)
        if "Bearer" not in case.headers:
            return  # sent without the header: 422 on /auth, 401 elsewhere
        if case.path == "/api/v1/auth":
            if turn % 3 == 1:
                self.simulator.expire_tokens()  # so that this one gets a 201
            if turn % 3 != 0:
                case.headers["Bearer"] = self.simulator.refresh_token
            return
        if turn % 4 != 0:
            case.headers["Bearer"] = self.access_token
        if case.path.endswith("/offers") and turn % 2 == 1:
            case.path_parameters["product_id"] = self.product_id
        if case.path.endswith("/register") and turn % 5 == 2 and isinstance(case.body, dict):
            case.body["id"] = self.product_id  # already registered: 409

    def record(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        self.seen[f"{case.method.upper()} {case.path}"].add(response.status_code)
        if case.path == "/api/v1/auth" and response.status_code == 201:
            self.access_token = json.loads(response.content)["access_token"]


@pytest.fixture(scope="module")
def driver() -> Iterator[_Driver]:
    with run_simulator("--tick", "1") as simulator, requests.Session() as session:
        yield _Driver(simulator, session)


@schema.parametrize()
def test_simulator_conforms_to_the_published_document(case, driver):
    driver.prepare(case)
    response = case.call(base_url=driver.simulator.root_url, session=driver.session)
    driver.record(case, response)
    case.validate_response(response)


def test_every_documented_status_is_reached(driver):
    if not driver.seen:
        pytest.skip("runs after the conformance test, which did not run")
    for operation, statuses in _documented_statuses().items():
        assert statuses <= driver.seen[operation], operation
