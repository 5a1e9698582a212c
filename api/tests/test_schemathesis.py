"""Schemathesis against the live schema: no 5xx, and every answer conforms to the schema.

The server is pytest-django's live server on the test database and settings, seeded with a user
who has an API token, products in each state (never synced, with offers and a history,
suspended) and an alert rule that fired, so that the generated requests reach past 401 and 404.
"""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIRequestHandler
from django.utils import timezone

from accounts.services import user_api_token_create
from pricing.services import alert_rule_create
from products.services import product_suspend

# Bounded so that the run takes well under a minute on two cores.
MAX_EXAMPLES = 30
# Samples the schema's ~600 time zones for the run (see there).
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")

# positive_data_acceptance expects a request that the schema allows to be accepted. These
# operations refuse some such requests (400) for reasons no OpenAPI schema can state; any other
# answer still fails the check (the statuses are its defaults and 400).
CONFIG = """
hooks = "%(hooks)s"

[[operations]]
include-operation-id = [
    # The email and password must be an account's.
    "auth_token_create",
    # The email must be free in any case; the password must pass Django's validators (not a
    # common one, not like the email, not all digits).
    "users_create",
    # The same for a new email or password, which needs the right current_password too.
    "users_me_update",
    "users_me_partial_update",
    # `from` must come before `to`; an explicit interval must fit in 5,000 values.
    "products_history_retrieve",
    # The same `from` and `to`, and not with `period`; `from` before now.
    "products_map_violations_list",
    "map_violations_list",
    # `within` only with `moved`.
    "products_list",
    # An alert rule's parameters depend on its kind, and their ranges are pricing's
    # (rule_spec_clean); a product has at most 20 rules.
    "products_alert_rules_create",
    "products_alert_rules_backtest_create",
    "alert_rules_update",
    "alert_rules_partial_update",
    # Hours 0-23, a daily cap of 1 to 1,000, both ends of the quiet hours or neither, an
    # http(s) URL.
    "alert_settings_partial_update",
]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx",
]

# Random ids never name a product: sync the one with offers (202, then 429 while it cools
# down), the only way to reach a sync request's answer.
[[operations]]
include-operation-id = "products_sync_create"
parameters = { product_id = "%(synced_product_id)s" }

# The same for alert rules: the synced product's (its history makes back-tests count), and
# its rule (one firing so far); and for its market figures (its MAP is undercut).
[[operations]]
include-operation-id = [
    "products_alert_rules_list",
    "products_alert_rules_create",
    "products_alert_rules_backtest_create",
    "products_map_violations_list",
    "products_memory_retrieve",
]
parameters = { product_id = "%(synced_product_id)s" }

[[operations]]
include-operation-id = ["alert_rules_retrieve", "alert_rules_update", "alert_rules_partial_update"]
parameters = { rule_id = %(rule_id)s }
"""


@pytest.fixture
def seeded(transactional_db, user, make_product, store_offers, minute_history):
    """The user's API token, the id of their product with offers, a history, a price and a MAP
    some offers are below, and the id of that product's alert rule, which fired once; they own
    products in the other states the API describes too."""
    now = timezone.now()
    make_product("Never synced")
    synced = make_product(
        "Espresso machine",
        [(1290, 3), (1350, 0), (1199, 12)],
        synced_ago=timedelta(minutes=5),
        my_price=1249,
        map_price=1250,
    )
    rule = alert_rule_create(owner=user, product_id=synced.pk, spec={"kind": "offer_vanished"})
    # A second sync (prices changed, offers gone: the rule fires) and two days of history.
    store_offers(synced, [(1250, 4), (1350, 1)], at=now - timedelta(minutes=1))
    minute_history(synced, start=now - timedelta(days=2), count=2 * 24 * 60 - 10)
    make_product("Sold out", [(990, 0)], synced_ago=timedelta(hours=3))
    product_suspend(product=make_product("Suspended", [(500, 1)]), reason="Counterfeit")
    return user_api_token_create(user=user), synced.pk, rule.id


@pytest.mark.slow
def test_api_conforms_to_its_schema(live_server, seeded, tmp_path, monkeypatch):
    # Django's server sends headers and body in two writes: with Nagle's algorithm on, each
    # answer on a kept-alive connection waits ~40 ms for the client's delayed ACK.
    monkeypatch.setattr(WSGIRequestHandler, "disable_nagle_algorithm", True)
    token, synced_product_id, rule_id = seeded
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG % {"hooks": HOOKS, "synced_product_id": synced_product_id, "rule_id": rule_id}
    )
    command = [
        *[sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"],
        f"{live_server.url}/api/v1/schema/",
        *["--header", f"Authorization: Token {token}"],
        # DELETE /auth/token/ revokes the token: every later request would be a 401. PUT and
        # PATCH /users/me/ may change the email, which leaves the token valid; a new password
        # needs current_password, which the run never knows.
        *["--exclude-operation-id", "auth_token_destroy"],
        *["--checks", "all"],
        *["--max-examples", str(MAX_EXAMPLES)],
        # The same generated cases on every run, so that CI is reproducible (the stateful phase
        # still follows the ids the server hands out); it also keeps no database of examples.
        "--generation-deterministic",
        # One request at a time: several workers' requests would interleave differently.
        *["--workers", "1"],
        "--no-color",
    ]
    # In a temporary folder, so that nothing schemathesis writes lands in the repository.
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
    )
    assert run.returncode == 0, f"schemathesis found problems:\n{run.stdout}\n{run.stderr}"
