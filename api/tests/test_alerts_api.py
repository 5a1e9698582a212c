"""Alerts through the API: rules (create, read, replace, change, delete, back-test), the
firings the sync's evaluation makes, marking them read, and the alert settings. Firings are made
the real way: a rule, then stored syncs (pricing.services.offers_store) that it fires on."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from api.tests.conftest import errors
from products.services import product_suspend

pytestmark = pytest.mark.django_db

ALERTS = reverse("api:alerts")
READ = reverse("api:alerts-read")
SETTINGS = reverse("api:alert-settings")
ROTATE = reverse("api:alert-webhook-secret")
A, B = uuid.UUID(int=1), uuid.UUID(int=2)
BELOW_95 = {"kind": "price_below", "figure": "cheapest", "threshold": 95}
SPEC_FIELDS = {
    "kind",
    "figure",
    "threshold",
    "min_stock",
    "direction",
    "change_percent",
    "change_amount",
    "window",
    "lookback_days",
    "debounce",
    "cooldown_minutes",
    "is_enabled",
}
RULE_FIELDS = SPEC_FIELDS | {
    "id",
    "product",
    "description",
    "noise",
    "is_event",
    "armed",
    "streak",
    "last_fired_at",
    "evaluated_at",
    "created_at",
    "firings",
}


def rules_url(product) -> str:
    return reverse("api:product-alert-rules", kwargs={"product_id": product.pk})


def backtest_url(product) -> str:
    return reverse("api:product-alert-backtest", kwargs={"product_id": product.pk})


def rule_url(rule_id) -> str:
    return reverse("api:alert-rule", kwargs={"rule_id": rule_id})


@pytest.fixture
def sync(store_offers):
    """sync(product, minutes_ago, *offers): one successful sync `minutes_ago`, stored as the
    sync stores it (pricing.services.offers_store), which evaluates the product's rules;
    offers as (id, price, stock)."""

    def store(product, minutes_ago: float, *offers) -> datetime:
        at = timezone.now() - timedelta(minutes=minutes_ago)
        store_offers(product, offers, at=at)
        return at

    return store


@pytest.fixture
def kettle(make_product):
    """A registered product whose cheapest offer is 100 (A), synced an hour ago."""
    return make_product("Kettle", [(A, 100, 5), (B, 200, 5)], synced_ago=timedelta(hours=1))


def without(body: dict, *names: str) -> dict:
    return {name: value for name, value in body.items() if name not in names}


def create(api, product, **spec) -> dict:
    response = api.post(rules_url(product), spec)
    assert response.status_code == 201, response.json()
    return response.json()


# --- Rules -------------------------------------------------------------------------------------


def test_a_new_rule_answers_its_spec_and_state(api, kettle):
    rule = create(api, kettle, **BELOW_95)
    assert set(rule) == RULE_FIELDS
    # evaluated_at: pricing's to define (the last sync that evaluated the rule).
    assert rule | {"id": 0, "created_at": None, "evaluated_at": None} == {
        "id": 0,
        "product": str(kettle.pk),
        "kind": "price_below",
        "figure": "cheapest",
        "threshold": 95,
        "min_stock": None,
        "direction": "",
        "change_percent": None,
        "change_amount": None,
        "window": None,
        "lookback_days": None,
        "debounce": 1,
        "cooldown_minutes": 0,
        "is_enabled": True,
        "description": "Cheapest offer below 95 CZK",
        "noise": "",
        "is_event": False,
        "armed": True,
        "streak": 0,
        "last_fired_at": None,
        "evaluated_at": None,
        "created_at": None,
        "firings": 0,
    }


def test_a_rule_round_trip(api, kettle):
    rule = create(api, kettle, **BELOW_95, debounce=2)
    listed = api.get(rules_url(kettle)).json()
    assert listed["count"] == 1 and listed["results"] == [rule]
    assert api.get(rule_url(rule["id"])).json() == rule

    # PUT takes the answer back with changes (its read-only fields are ignored).
    replaced = api.put(rule_url(rule["id"]), rule | {"threshold": 80, "armed": False})
    assert replaced.status_code == 200, replaced.json()
    assert replaced.json()["threshold"] == 80
    assert replaced.json()["armed"] is True
    assert replaced.json()["description"] == "Cheapest offer below 80 CZK"

    changed = api.patch(rule_url(rule["id"]), {"cooldown_minutes": 120, "is_enabled": False})
    assert changed.status_code == 200, changed.json()
    changes = ("cooldown_minutes", "is_enabled", "noise", "evaluated_at")
    assert without(changed.json(), *changes) == without(replaced.json(), *changes)
    assert (changed.json()["cooldown_minutes"], changed.json()["is_enabled"]) == (120, False)
    assert changed.json()["noise"] == "after 2 syncs in a row, at most every 2 h"

    assert api.delete(rule_url(rule["id"])).status_code == 204
    assert errors(api.get(rule_url(rule["id"]))) == {None: "not_found"}
    assert api.get(rules_url(kettle)).json()["count"] == 0


def test_the_rules_list_pages_in_order_of_creation(api, kettle):
    ids = [create(api, kettle, kind="offer_appeared")["id"] for _ in range(5)]
    page = api.get(rules_url(kettle), {"page_size": 2, "page": 2}).json()
    assert page["count"] == 5
    assert [rule["id"] for rule in page["results"]] == ids[2:4]
    assert errors(api.get(rules_url(kettle), {"page_size": 0})) == {"page_size": "min_value"}
    assert errors(api.get(rules_url(kettle), {"sort": "id"})) == {"sort": "unknown"}


def test_each_kind_takes_its_parameters_and_clears_the_others(api, kettle):
    rule = create(
        api,
        kettle,
        kind="price_move",
        figure="mean",
        direction="down",
        change_percent=12.5,
        window="24h",
        threshold=40,  # not a price_move parameter: cleared
        lookback_days=None,
        min_stock=None,
    )
    assert (rule["threshold"], rule["change_percent"], rule["window"]) == (None, 12.5, "24h")
    assert rule["description"] == "Mean price falls by 12.5 % within 24 hours"
    low = create(api, kettle, kind="new_low", lookback_days=30, figure="", direction="")
    assert (low["lookback_days"], low["figure"]) == (30, "")
    event = create(api, kettle, kind="offer_vanished", cooldown_minutes=30)
    assert event["is_event"] is True and event["noise"] == "at most every 30 min"
    back = create(api, kettle, kind="back_in_stock")
    assert back["armed"] is False  # it waits until the product has been out of stock


VALID_MOVE = {
    "kind": "price_move",
    "figure": "cheapest",
    "direction": "down",
    "change_percent": 10,
    "window": "1h",
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"kind": "required"}),
        ({"kind": "nope"}, {"kind": "invalid_choice"}),
        ({"kind": None}, {"kind": "null"}),
        ({"kind": ["price_below"]}, {"kind": "invalid_choice"}),
        ({"kind": "price_below\x00"}, {"kind": "invalid_choice"}),
        # What a kind needs is pricing's to say (rule_spec_clean), per field.
        ({"kind": "price_below"}, {"figure": "invalid", "threshold": "invalid"}),
        (BELOW_95 | {"threshold": "95"}, {"threshold": "invalid"}),
        (BELOW_95 | {"threshold": 95.5}, {"threshold": "invalid"}),
        (BELOW_95 | {"threshold": True}, {"threshold": "invalid"}),
        (BELOW_95 | {"threshold": 0}, {"threshold": "invalid"}),
        (BELOW_95 | {"threshold": 10**30}, {"threshold": "invalid"}),
        (BELOW_95 | {"figure": "cheapest_in_stock"}, {"min_stock": "invalid"}),
        (BELOW_95 | {"figure": "median"}, {"figure": "invalid_choice"}),
        (VALID_MOVE | {"figure": "cheapest_in_stock"}, {"figure": "invalid"}),
        (VALID_MOVE | {"change_amount": 5}, {"change_percent": "invalid"}),
        (VALID_MOVE | {"change_percent": None}, {"change_percent": "invalid"}),
        (VALID_MOVE | {"change_percent": 0}, {"change_percent": "invalid"}),
        (VALID_MOVE | {"change_percent": "10"}, {"change_percent": "invalid"}),
        (VALID_MOVE | {"change_percent": 10**400}, {"change_percent": "overflow"}),
        (VALID_MOVE | {"window": "2h"}, {"window": "invalid_choice"}),
        (VALID_MOVE | {"window": None}, {"window": "invalid"}),
        (VALID_MOVE | {"direction": "sideways"}, {"direction": "invalid_choice"}),
        ({"kind": "new_low"}, {"lookback_days": "invalid"}),
        ({"kind": "new_low", "lookback_days": 14}, {"lookback_days": "invalid_choice"}),
        ({"kind": "new_low", "lookback_days": "7"}, {"lookback_days": "invalid_choice"}),
        ({"kind": "stock_below", "threshold": -1}, {"threshold": "invalid"}),
        (BELOW_95 | {"debounce": 0}, {"debounce": "invalid"}),
        (BELOW_95 | {"debounce": 61}, {"debounce": "invalid"}),
        (BELOW_95 | {"debounce": None}, {"debounce": "null"}),
        ({"kind": "offer_appeared", "debounce": 2}, {"debounce": "invalid"}),
        (BELOW_95 | {"cooldown_minutes": -1}, {"cooldown_minutes": "invalid"}),
        (BELOW_95 | {"cooldown_minutes": 7 * 24 * 60 + 1}, {"cooldown_minutes": "invalid"}),
        (BELOW_95 | {"is_enabled": "true"}, {"is_enabled": "invalid"}),
        (BELOW_95 | {"is_enabled": 1}, {"is_enabled": "invalid"}),
        (BELOW_95 | {"colour": "red"}, {"colour": "unknown"}),
    ],
)
def test_a_wrong_spec_is_a_400_naming_each_field(api, kettle, body, expected):
    response = api.post(rules_url(kettle), body)
    assert response.status_code == 400
    assert errors(response) == expected
    assert api.get(rules_url(kettle)).json()["count"] == 0


def test_a_wrong_number_in_the_raw_json_is_a_400(api, kettle):
    body = b'{"kind": "price_move", "figure": "cheapest", "direction": "up", "window": "1h", '
    for number in (b"1e400", b"-1e400", b"NaN", b"Infinity"):
        raw = body + b'"change_percent": ' + number + b"}"
        response = api.generic("POST", rules_url(kettle), raw, "application/json")
        assert response.status_code == 400, (number, response.json())


def test_a_product_has_at_most_20_rules(api, kettle):
    for _ in range(20):
        create(api, kettle, kind="offer_appeared")
    response = api.post(rules_url(kettle), {"kind": "offer_appeared"})
    assert response.status_code == 400
    assert errors(response) == {None: "invalid"}
    assert "at most 20 rules" in response.json()["errors"][0]["detail"]


def test_put_needs_every_field_of_the_spec(api, kettle):
    rule = create(api, kettle, **BELOW_95)
    response = api.put(rule_url(rule["id"]), {"kind": "out_of_stock"})
    assert response.status_code == 400
    assert errors(response) == dict.fromkeys(SPEC_FIELDS - {"kind"}, "required")
    assert api.get(rule_url(rule["id"])).json() == rule


def test_patch_merges_the_change_into_the_rule(api, kettle):
    rule = create(api, kettle, **VALID_MOVE, debounce=3)
    url = rule_url(rule["id"])

    # The other parameters stay, so switching percent for amount must clear the percent.
    alone = api.patch(url, {"change_amount": 50})
    assert errors(alone) == {"change_percent": "invalid"}
    switched = api.patch(url, {"change_amount": 50, "change_percent": None})
    assert switched.status_code == 200, switched.json()
    assert switched.json() | {"change_amount": None, "change_percent": 10.0} == rule | {
        "description": switched.json()["description"]
    }
    assert switched.json()["description"] == "Cheapest offer falls by 50 CZK within an hour"

    # A new kind with what it needs: the old kind's parameters are cleared.
    other = api.patch(url, {"kind": "stock_below", "threshold": 3})
    assert other.status_code == 200, other.json()
    body = other.json()
    assert (body["kind"], body["threshold"], body["debounce"]) == ("stock_below", 3, 3)
    assert (body["figure"], body["direction"], body["window"]) == ("", "", None)
    assert body["change_amount"] is None and body["change_percent"] is None

    assert errors(api.patch(url, {"threshold": "many"})) == {"threshold": "invalid"}
    assert errors(api.patch(url, {"armed": True, "streak": 9, "color": 1})) == {"color": "unknown"}
    assert api.patch(url, {}).json() == body


NOT_AN_OBJECT = [b"{bad", b"\xff\xfe", b"[]", b'"kind"', b"42", b"null", b"\x00"]


# No body at all reads as {}: a 400 for POST and PUT (kind is required), no change for PATCH.
@pytest.mark.parametrize(
    ("method", "body"),
    [("post", b""), ("put", b"")]
    + [(method, body) for method in ("post", "put", "patch") for body in NOT_AN_OBJECT],
)
def test_a_body_that_is_no_json_object_is_a_400(api, kettle, method, body):
    rule = create(api, kettle, **BELOW_95)
    path = rules_url(kettle) if method == "post" else rule_url(rule["id"])
    response = api.generic(method.upper(), path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    errors(response)
    assert api.get(rules_url(kettle)).json()["results"] == [rule]


def test_a_suspended_products_rules_are_read_only(api, kettle):
    rule = create(api, kettle, **BELOW_95)
    product_suspend(product=kettle, reason="Counterfeit")
    for response in (
        api.post(rules_url(kettle), BELOW_95),
        api.put(rule_url(rule["id"]), rule),
        api.patch(rule_url(rule["id"]), {"threshold": 1}),
        api.delete(rule_url(rule["id"])),
    ):
        assert response.status_code == 409
        assert "Counterfeit" in response.json()["errors"][0]["detail"]
    assert api.get(rules_url(kettle)).json()["results"] == [rule]
    assert api.get(rule_url(rule["id"])).json() == rule


# --- Isolation ---------------------------------------------------------------------------------


def test_another_users_product_has_no_rules_for_you(api, make_product, other_user):
    theirs = make_product("Theirs", [(100, 1)], owner=other_user)
    for response in (
        api.get(rules_url(theirs)),
        api.post(rules_url(theirs), BELOW_95),
        api.post(backtest_url(theirs), BELOW_95),
    ):
        assert response.status_code == 404
        assert errors(response) == {None: "not_found"}


def test_another_users_rule_is_404_for_every_method(api, other_api, make_product, other_user):
    theirs = make_product("Theirs", [(100, 1)], owner=other_user)
    rule = create(other_api, theirs, **BELOW_95)
    url = rule_url(rule["id"])
    for response in (
        api.get(url),
        api.put(url, rule | {"threshold": 1}),
        api.patch(url, {"threshold": 1}),
        api.delete(url),
    ):
        assert response.status_code == 404
        assert errors(response) == {None: "not_found"}
    assert other_api.get(url).json() == rule


@pytest.mark.parametrize(
    "rule_id", ["abc", "-1", "0", "1.5", "1e3", "+1", "٣", "9" * 19, "9" * 30, "9" * 5000]
)
def test_a_malformed_or_unknown_rule_id_is_404(api, rule_id):
    response = api.get(rule_url(rule_id))
    assert response.status_code == 404
    assert errors(response) == {None: "not_found"}


def test_anonymous_requests_get_401(anon, kettle):
    for method, path in [
        ("get", rules_url(kettle)),
        ("post", rules_url(kettle)),
        ("post", backtest_url(kettle)),
        ("get", rule_url(1)),
        ("patch", rule_url(1)),
        ("get", ALERTS),
        ("post", READ),
        ("get", SETTINGS),
        ("patch", SETTINGS),
        ("post", ROTATE),
    ]:
        assert getattr(anon, method)(path, {}).status_code == 401, (method, path)


# --- Firings -----------------------------------------------------------------------------------


def test_a_rule_fires_at_a_sync_and_the_firing_is_listed(api, kettle, sync):
    rule = create(api, kettle, **BELOW_95)
    sync(kettle, 30, (A, 96, 5), (B, 200, 5))
    sync(kettle, 20, (A, 90, 5), (B, 200, 5))  # fires
    sync(kettle, 10, (A, 80, 5), (B, 200, 5))  # still below: disarmed, no repeat
    body = api.get(ALERTS).json()
    assert body["count"] == 1
    (firing,) = body["results"]
    assert firing | {"id": 0, "fired_at": None} == {
        "id": 0,
        "product": str(kettle.pk),
        "product_name": "Kettle",
        "rule": rule["id"],
        "kind": "price_below",
        "kind_label": "Price falls below",
        "fired_at": None,
        "message": "The cheapest offer is 90 CZK, below 95 CZK.",
        "values": firing["values"],
        "delivery": "sent",
        "delivery_label": "Sent",
        "read_at": None,
        "email_due_at": firing["email_due_at"],
        "email_sent_at": None,
        "webhook_attempts": 0,
        "webhook_delivered": False,
    }
    assert firing["values"]["watched"] == 90 and firing["values"]["threshold"] == 95
    assert firing["values"]["offer_count"] == 2
    state = api.get(rule_url(rule["id"])).json()
    assert state["firings"] == 1 and state["armed"] is False and state["streak"] >= 1
    assert state["last_fired_at"] == firing["fired_at"]
    # The syncs above are stamped in the past, before the rule was made: none evaluated it
    # since (pricing's tests check evaluated_at with syncs after the rule).
    assert state["evaluated_at"] is None


def new_offer_syncs(api, sync, *products_and_minutes_ago) -> None:
    """An offer_appeared rule on each product, then a sync with a new offer at each
    (product, minutes ago): one firing each."""
    for product in {product for product, _ in products_and_minutes_ago}:
        create(api, product, kind="offer_appeared")
    for product, minutes_ago in products_and_minutes_ago:
        sync(product, minutes_ago, (A, 100, 5), (uuid.uuid4(), 300, 1))


def test_the_lists_take_as_many_queries_for_many_items_as_for_one(
    api, kettle, sync, django_assert_max_num_queries
):
    new_offer_syncs(api, sync, (kettle, 50))
    # Measured, not counted: the throttle's cache is in the database on SQLite, in Redis on CI's
    # PostgreSQL run. (A context's captured_queries reads the log, which each request clears.)
    with CaptureQueriesContext(connection) as few:
        api.get(rules_url(kettle))
    few_rules = len(few.captured_queries)
    with CaptureQueriesContext(connection) as few:
        api.get(ALERTS)
    few_firings = len(few.captured_queries)
    for _ in range(4):
        create(api, kettle, kind="offer_vanished")
    for minutes_ago in (40, 30, 20):
        sync(kettle, minutes_ago, (A, 100, 5), (uuid.uuid4(), 300, 1))
    with django_assert_max_num_queries(few_rules):
        assert api.get(rules_url(kettle)).json()["count"] == 5
    with django_assert_max_num_queries(few_firings):
        assert api.get(ALERTS).json()["count"] > 4


def test_the_feed_is_newest_first(api, kettle, sync):
    new_offer_syncs(api, sync, (kettle, 50), (kettle, 40), (kettle, 30))
    feed = api.get(ALERTS).json()
    times = [firing["fired_at"] for firing in feed["results"]]
    assert len(times) == 3 and times == sorted(times, reverse=True)
    first = api.get(ALERTS, {"page_size": 1}).json()
    assert first["count"] == 3 and first["results"][0]["fired_at"] == max(times)


def test_the_feed_filters_by_product_and_unread(api, kettle, make_product, sync):
    toaster = make_product("Toaster", [(A, 100, 5)], synced_ago=timedelta(hours=1))
    new_offer_syncs(api, sync, (kettle, 50), (toaster, 40), (kettle, 30))
    feed = api.get(ALERTS).json()["results"]
    assert sorted(firing["product_name"] for firing in feed) == ["Kettle", "Kettle", "Toaster"]

    kettles = api.get(ALERTS, {"product": str(kettle.pk)}).json()
    assert kettles["count"] == 2
    assert {firing["product"] for firing in kettles["results"]} == {str(kettle.pk)}
    (toasters,) = api.get(ALERTS, {"product": str(toaster.pk)}).json()["results"]
    assert api.post(READ, {"ids": [toasters["id"]]}).json() == {"marked": 1}
    unread = api.get(ALERTS, {"unread": "true"}).json()["results"]
    assert {firing["id"] for firing in unread} == {firing["id"] for firing in kettles["results"]}
    assert api.get(ALERTS, {"unread": "true", "product": str(toaster.pk)}).json()["count"] == 0
    assert api.get(ALERTS, {"unread": "false"}).json()["count"] == 3
    assert api.get(ALERTS, {"product": str(uuid.uuid4())}).json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"product": "not-a-uuid"}, {"product": "invalid"}),
        ({"unread": "maybe"}, {"unread": "invalid"}),
        ({"page_size": "201"}, {"page_size": "max_value"}),
        ({"page": "0"}, {"page": "min_value"}),
        ({"kind": "price_below"}, {"kind": "unknown"}),
    ],
)
def test_a_bad_feed_parameter_is_a_400_naming_it(api, params, expected):
    response = api.get(ALERTS, params)
    assert response.status_code == 400
    assert errors(response) == expected


def test_a_nul_byte_in_the_feeds_query_is_a_400(api):
    response = api.get(f"{ALERTS}?product=%00")
    assert response.status_code == 400
    assert errors(response) == {None: "parse_error"}


def test_a_deleted_rules_firings_stay_in_the_feed(api, kettle, sync):
    rule = create(api, kettle, **BELOW_95)
    sync(kettle, 10, (A, 90, 5))
    api.delete(rule_url(rule["id"]))
    (firing,) = api.get(ALERTS).json()["results"]
    assert firing["rule"] is None and firing["kind"] == "price_below"


def test_firings_over_the_daily_cap_are_listed_as_capped_and_never_unread(api, kettle, sync):
    assert api.patch(SETTINGS, {"daily_cap": 1}).status_code == 200
    # Both yesterday afternoon (UTC, the user's zone): one day, whenever the test runs.
    now = timezone.now()
    yesterday = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)) / timedelta(
        minutes=1
    ) + 600
    new_offer_syncs(api, sync, (kettle, yesterday + 10), (kettle, yesterday))
    feed = sorted(api.get(ALERTS).json()["results"], key=lambda firing: firing["fired_at"])
    assert [firing["delivery"] for firing in feed] == ["sent", "capped"]
    assert feed[0]["read_at"] is None and feed[1]["read_at"] is not None
    assert api.get(ALERTS, {"unread": "true"}).json()["count"] == 1


def test_nobody_sees_or_marks_another_users_firings(api, other_api, make_product, other_user, sync):
    theirs = make_product("Theirs", [(A, 100, 5)], owner=other_user, synced_ago=timedelta(hours=1))
    create(other_api, theirs, **BELOW_95)
    sync(theirs, 10, (A, 90, 5))
    (their_firing,) = other_api.get(ALERTS).json()["results"]

    assert api.get(ALERTS).json()["count"] == 0
    assert api.get(ALERTS, {"product": str(theirs.pk)}).json()["count"] == 0
    assert api.post(READ, {"ids": [their_firing["id"]]}).json() == {"marked": 0}
    assert api.post(READ, {}).json() == {"marked": 0}
    assert other_api.get(ALERTS).json()["results"] == [their_firing]


def test_marking_read_by_id_or_all(api, kettle, sync):
    new_offer_syncs(api, sync, (kettle, 30), (kettle, 20), (kettle, 10))
    ids = [firing["id"] for firing in api.get(ALERTS).json()["results"]]
    assert api.post(READ, {"ids": [ids[0], ids[0], 2**63 - 1]}).json() == {"marked": 1}
    assert api.post(READ, {"ids": [ids[0]]}).json() == {"marked": 0}  # read already
    assert api.post(READ, {"ids": []}).json() == {"marked": 0}
    assert api.post(READ, {}).json() == {"marked": 2}
    assert api.get(ALERTS, {"unread": "true"}).json()["count"] == 0
    assert all(firing["read_at"] for firing in api.get(ALERTS).json()["results"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"ids": "1"}, {"ids": "not_a_list"}),
        ({"ids": None}, {"ids": "null"}),
        ({"ids": ["1"]}, {"ids.0": "invalid"}),
        ({"ids": [1.5]}, {"ids.0": "invalid"}),
        ({"ids": [0]}, {"ids.0": "min_value"}),
        ({"ids": [1, 2**63]}, {"ids.1": "max_value"}),
        ({"ids": list(range(1, 1002))}, {"ids": "max_length"}),
        ({"all": True}, {"all": "unknown"}),
    ],
)
def test_a_wrong_read_request_is_a_400(api, body, expected):
    response = api.post(READ, body)
    assert response.status_code == 400
    assert errors(response) == expected


# --- Back-test ---------------------------------------------------------------------------------


def test_a_backtest_counts_what_the_rule_would_have_fired(api, kettle, sync):
    # The cheapest offer: 100 an hour ago (kettle), then 90, 100, 90, 80, 100.
    for minutes_ago, price in [(50, 90), (40, 100), (30, 90), (20, 80), (10, 100)]:
        sync(kettle, minutes_ago, (A, price, 5), (B, 200, 5))
    response = api.post(backtest_url(kettle), BELOW_95)
    assert response.status_code == 200, response.json()
    result = response.json()
    assert set(result) == {
        *("available", "reason", "since", "until", "syncs", "fired", "held", "capped_days"),
        *("fired_at", "per_day"),
    }
    assert (result["available"], result["reason"]) == (True, "")
    assert (result["syncs"], result["fired"], result["held"], result["capped_days"]) == (6, 2, 0, 0)
    assert len(result["fired_at"]) == 2 and result["fired_at"] == sorted(result["fired_at"])
    assert sum(day["count"] for day in result["per_day"]) == 2
    assert set(result["per_day"][0]) == {"date", "count"}
    assert result["since"] < result["until"]
    # Nothing was saved.
    assert api.get(rules_url(kettle)).json()["count"] == 0


def test_a_backtest_says_when_the_history_cannot_tell(api, kettle, make_product):
    in_stock = BELOW_95 | {"figure": "cheapest_in_stock", "min_stock": 2}
    result = api.post(backtest_url(kettle), in_stock).json()
    assert result["available"] is False and "cannot be back-tested" in result["reason"]
    assert (result["fired"], result["fired_at"]) == (0, [])
    never_synced = make_product("New")
    result = api.post(backtest_url(never_synced), BELOW_95).json()
    assert (result["available"], result["syncs"]) == (False, 0)


def test_a_backtest_of_a_wrong_spec_is_a_400(api, kettle):
    assert errors(api.post(backtest_url(kettle), {"kind": "price_below"})) == {
        "figure": "invalid",
        "threshold": "invalid",
    }
    assert errors(api.post(backtest_url(kettle), BELOW_95 | {"x": 1})) == {"x": "unknown"}
    response = api.generic("POST", backtest_url(kettle), b"{bad", "application/json")
    assert errors(response) == {None: "parse_error"}


def test_a_suspended_product_can_be_backtested(api, kettle):
    product_suspend(product=kettle, reason="Counterfeit")
    assert api.post(backtest_url(kettle), BELOW_95).status_code == 200


# --- Settings ----------------------------------------------------------------------------------

DEFAULTS = {
    "email_mode": "immediate",
    "digest_hour": 8,
    "quiet_start": None,
    "quiet_end": None,
    "daily_cap": 50,
    "webhook_url": "",
    "webhook_secret": "",
}


def test_settings_start_at_the_defaults_and_change_by_patch(api):
    assert api.get(SETTINGS).json() == DEFAULTS
    changes = {"email_mode": "digest", "digest_hour": 0, "quiet_start": 22, "quiet_end": 7}
    response = api.patch(SETTINGS, changes)
    assert response.status_code == 200, response.json()
    assert response.json() == DEFAULTS | changes
    assert api.get(SETTINGS).json() == DEFAULTS | changes
    # The answer can be sent back: its read-only secret is ignored.
    assert api.patch(SETTINGS, api.get(SETTINGS).json()).json() == DEFAULTS | changes


def test_a_webhook_url_gets_a_secret_which_can_be_rotated(api):
    body = api.patch(SETTINGS, {"webhook_url": " https://example.com/hook "}).json()
    assert body["webhook_url"] == "https://example.com/hook"
    secret = body["webhook_secret"]
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert api.patch(SETTINGS, {"daily_cap": 5}).json()["webhook_secret"] == secret
    rotated = api.post(ROTATE)
    assert rotated.status_code == 200
    assert rotated.json()["webhook_secret"] not in ("", secret)
    assert api.get(SETTINGS).json() == rotated.json()
    assert api.patch(SETTINGS, {"webhook_secret": "mine"}).json() == rotated.json()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"email_mode": "sms"}, {"email_mode": "invalid_choice"}),
        ({"digest_hour": 24}, {"digest_hour": "invalid"}),
        ({"digest_hour": -1}, {"digest_hour": "invalid"}),
        ({"digest_hour": "8"}, {"digest_hour": "invalid"}),
        ({"digest_hour": None}, {"digest_hour": "null"}),
        ({"quiet_start": 22}, {"quiet_end": "invalid"}),
        ({"quiet_start": 22, "quiet_end": 10**40}, {"quiet_end": "invalid"}),
        ({"daily_cap": 0}, {"daily_cap": "invalid"}),
        ({"daily_cap": 1001}, {"daily_cap": "invalid"}),
        ({"daily_cap": 2.0}, {"daily_cap": "invalid"}),
        ({"webhook_url": "ftp://example.com/"}, {"webhook_url": "invalid"}),
        ({"webhook_url": "not a url"}, {"webhook_url": "invalid"}),
        ({"webhook_url": "https://a.com/\x00"}, {"webhook_url": "null_characters_not_allowed"}),
        ({"webhook_url": 42}, {"webhook_url": "invalid"}),
        ({"webhook_url": "https://example.com/" + "a" * 2000}, {"webhook_url": "max_length"}),
        ({"sound": "on"}, {"sound": "unknown"}),
    ],
)
def test_wrong_settings_are_a_400_naming_the_field(api, body, expected):
    response = api.patch(SETTINGS, body)
    assert response.status_code == 400
    assert errors(response) == expected
    assert api.get(SETTINGS).json() == DEFAULTS


@pytest.mark.parametrize("body", [b"{bad", b"[]", b"null", b"\x00"])
def test_a_settings_body_that_is_no_json_object_is_a_400(api, body):
    response = api.generic("PATCH", SETTINGS, body, content_type="application/json")
    assert response.status_code == 400
    errors(response)


@pytest.mark.parametrize("host", ["\u200d.com", "ü" * 60 + ".com"])
def test_a_webhook_host_without_a_domain_name_is_a_400(api, settings, host):
    # Where private addresses are refused the host is resolved: these pass URLValidator but have
    # no IDNA form, which the resolver raises as UnicodeError before any lookup.
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = False
    response = api.patch(SETTINGS, {"webhook_url": f"https://{host}/hook"})
    assert response.status_code == 400
    assert errors(response) == {"webhook_url": "invalid"}


def test_settings_are_each_users_own(api, other_api):
    api.patch(SETTINGS, {"daily_cap": 3, "webhook_url": "https://example.com/a"})
    theirs = other_api.get(SETTINGS).json()
    assert theirs == DEFAULTS
    other_api.post(ROTATE)
    assert other_api.get(SETTINGS).json()["webhook_secret"] != ""
    mine = api.get(SETTINGS).json()
    assert mine["daily_cap"] == 3
    assert mine["webhook_secret"] != other_api.get(SETTINGS).json()["webhook_secret"]
