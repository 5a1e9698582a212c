"""The parts of the Offers client that need no server: validation of answers (shapes the
simulator does not produce), reading error bodies for messages, and pickling its errors.
"""

import pickle
import uuid
from datetime import UTC, datetime

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from pricing.offers_client import (
    OfferData,
    OffersLockedOut,
    ProductNotRegistered,
    error_detail,
    parse_offers,
)

# --- Validation of answers (shapes the simulator does not produce) --------------------------------

OFFER = {"id": "2b1c4f5e-0d3a-4b8e-9f6a-1c2d3e4f5a6b", "price": 100, "items_in_stock": 3}


@pytest.mark.parametrize(
    "data",
    [
        {"offers": []},
        None,
        "[]",
        [None],
        [[OFFER["id"], 1, 2]],
        [{"price": 1, "items_in_stock": 1}],
        [{**OFFER, "price": True}],
        [{**OFFER, "items_in_stock": False}],
        [{**OFFER, "price": 10.0}],
        [{**OFFER, "price": "10"}],
        [{**OFFER, "price": -1}],
        [{**OFFER, "items_in_stock": -5}],
        [{**OFFER, "price": 2**63}],
        [{**OFFER, "items_in_stock": 2**31}],
        [{**OFFER, "id": "not-a-uuid"}],
        [{**OFFER, "id": "{2b1c4f5e-0d3a-4b8e-9f6a-1c2d3e4f5a6b}"}],
        [{**OFFER, "id": 12345}],
        [OFFER, {**OFFER, "price": 200}],  # the same offer twice
    ],
)
def test_offers_not_in_the_documented_shape_are_refused(data):
    with pytest.raises(ValueError):
        parse_offers(data)


offer_dicts = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.uuids().map(str),
            "price": st.integers(min_value=0, max_value=2**63 - 1),
            "items_in_stock": st.integers(min_value=0, max_value=2**31 - 1),
        },
        optional={"currency": st.text(max_size=3)},  # extra keys are ignored
    ),
    unique_by=lambda offer: offer["id"],
    max_size=12,
)


@given(offer_dicts)
def test_offers_in_the_documented_shape_are_read_exactly(data):
    assert parse_offers(data) == [
        OfferData(id=uuid.UUID(o["id"]), price=o["price"], items_in_stock=o["items_in_stock"])
        for o in data
    ]


def response_with(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, b'{"detail": "Product ID has not been registered"}', "Product ID has not been"),
        (
            422,
            b'{"detail": [{"loc": ["path", "product_id"], "msg": "bad uuid", "type": "x"}]}',
            "path.product_id: bad uuid",
        ),
        (500, b'{"code": "internal_error", "msg": "Something went wrong"}', "internal_error: "),
        (502, b"<html><body>Bad gateway</body></html>", "Bad Gateway"),
        (503, b"", "Service Unavailable"),
        (400, b'{"detail": {"nested": 1}}', "Bad Request"),
        (400, b'{"detail": "line one\\nline two\\u0007"}', "line one line two"),
    ],
)
def test_error_bodies_are_read_defensively_for_messages(status, body, expected):
    assert expected in error_detail(response_with(status, body))


def test_long_error_details_are_shortened():
    detail = error_detail(response_with(400, b'{"detail": "' + b"x" * 5000 + b'"}'))
    assert len(detail) <= 300


# --- Errors ---------------------------------------------------------------------------------------


def test_errors_survive_pickling():
    until = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    locked = pickle.loads(pickle.dumps(OffersLockedOut("locked out", until=until)))
    missing = pickle.loads(
        pickle.dumps(ProductNotRegistered("unknown", product_id=uuid.UUID(int=7)))
    )

    assert (str(locked), locked.until) == ("locked out", until)
    assert (str(missing), missing.product_id) == ("unknown", uuid.UUID(int=7))
