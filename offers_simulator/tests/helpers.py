"""Small HTTP helpers shared by the simulator's tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests

from offers_simulator.testing import SimulatorProcess


def get_token(session: requests.Session, simulator: SimulatorProcess) -> str:
    response = session.post(
        f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token}, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def register(
    session: requests.Session,
    simulator: SimulatorProcess,
    token: str | None,
    product_id: str,
    **overrides: Any,
) -> requests.Response:
    headers = {} if token is None else {"Bearer": token}
    body = {"id": product_id, "name": "Kettle", "description": "Boils water.", **overrides}
    return session.post(
        f"{simulator.base_url}/products/register", headers=headers, json=body, timeout=5
    )


def get_offers(
    session: requests.Session, simulator: SimulatorProcess, token: str | None, product_id: str
) -> requests.Response:
    headers = {} if token is None else {"Bearer": token}
    return session.get(
        f"{simulator.base_url}/products/{product_id}/offers", headers=headers, timeout=5
    )


def _is_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_offer_list(data: object) -> bool:
    """True if ``data`` is the documented offers answer."""
    return isinstance(data, list) and all(
        isinstance(offer, dict)
        and _is_uuid(offer.get("id"))
        and _is_int(offer.get("price"))
        and _is_int(offer.get("items_in_stock"))
        for offer in data
    )


def documented_body(endpoint: str, body: bytes) -> bool:
    """True if ``body`` parses as JSON of the documented success shape of ``endpoint``."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    if endpoint == "offers":
        return is_offer_list(data)
    if endpoint == "auth":
        return isinstance(data, dict) and isinstance(data.get("access_token"), str)
    return isinstance(data, dict) and _is_uuid(data.get("id"))
