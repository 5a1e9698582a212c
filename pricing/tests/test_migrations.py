"""The move of pricing's state off Product (pricing.0004, products.0003) keeps every value, on
the database the test runs on (SQLite, or PostgreSQL in CI), both ways."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("products", "0002_registration_backoff_description_validator"),
    ("pricing", "0003_offer_last_seen_index"),
]
AFTER = [
    ("products", "0003_pricing_state_moves_to_pricing"),
    ("pricing", "0004_producttracking"),
]
T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STATES = {
    "pending, retrying": {
        "registration_state": "pending",
        "registration_error": "503 Service Unavailable",
        "registration_attempts": 3,
        "registration_next_attempt_at": T,
    },
    "registered and synced": {
        "registration_state": "registered",
        "registration_attempts": 1,
        "registered_at": T,
        "last_synced_at": T,
    },
    "registered, failing": {
        "registration_state": "registered",
        "registration_attempts": 1,
        "registered_at": T,
        "last_synced_at": T,
        "last_sync_error": "Timed out",
        "last_sync_error_at": T,
        "sync_failures": 4,
    },
    "failed": {
        "registration_state": "failed",
        "registration_error": "422: bad id",
        "registration_attempts": 8,
    },
}
FIELDS = sorted({field for state in STATES.values() for field in state} | {"sync_failures"})


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def state_of(row) -> dict:
    return {field: getattr(row, field) for field in FIELDS}


@pytest.mark.django_db(transaction=True)
def test_every_products_state_moves_to_pricing_and_back():
    try:
        apps = migrate(BEFORE)
        User = apps.get_model("accounts", "User")
        Product = apps.get_model("products", "Product")
        owner = User.objects.create(email="owner@example.com", password="!")
        expected = {}
        for name, state in STATES.items():
            product = Product.objects.create(owner=owner, name=name, **state)
            expected[product.pk] = state_of(product)

        apps = migrate(AFTER)
        Tracking = apps.get_model("pricing", "ProductTracking")
        moved = {row.pk: state_of(row) for row in Tracking.objects.all()}
        assert moved == expected
        assert not any(
            f.name == "registration_state"
            for f in apps.get_model("products", "Product")._meta.fields
        )

        apps = migrate(BEFORE)
        back = {
            row.pk: state_of(row) for row in apps.get_model("products", "Product").objects.all()
        }
        assert back == expected
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_a_history_without_rollups_is_rolled_up_by_0011():
    """A database whose history was never rolled up (0009's step cannot run today's code on
    its schema) gets its roll-ups, market columns included, when 0011 adds those columns."""
    try:
        apps = migrate([("pricing", "0010_alerts")])
        User = apps.get_model("accounts", "User")
        Product = apps.get_model("products", "Product")
        Snapshot = apps.get_model("pricing", "ProductSnapshot")
        owner = User.objects.create(email="owner@example.com", password="!")
        product = Product.objects.create(owner=owner, name="Kettle")
        for minutes, low in ((0, 100), (30, 80), (90, 120)):
            Snapshot.objects.create(
                product=product,
                taken_at=T + timedelta(minutes=minutes),
                offer_count=1,
                total_stock=1,
                min_price=low,
                max_price=low,
                mean_price=low,
                median_price=low,
                weighted_mean_price=low,
            )

        apps = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        rows = apps.get_model("pricing", "SnapshotRollup").objects.filter(span="day")
        [day] = rows.values("snapshots", "min_price", "max_min_price", "held_seconds", "last_min")
        # 100 held 30 minutes, 80 an hour; 120 is the latest.
        assert day == {
            "snapshots": 3,
            "min_price": 80,
            "max_min_price": 120,
            "held_seconds": 5400.0,
            "last_min": 120,
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
