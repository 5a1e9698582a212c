"""The backup drill (deploy/pg_backup.py) on a database the tests fill through the project's own
code: `check` restores an identical copy and drops it; `dump`, `restore` and `compare` do the
same step by step, and `compare` does fail on a changed row, a moved sequence and a missing row;
`restore` never touches a database that exists; expected errors are one line, exit code 2.

PostgreSQL only (pg_dump and pg_restore); CI runs the suite on it. The script runs as operators
run it, in a child process, so the data is committed (transaction=True): pg_dump must see it.
"""

import os
import subprocess
import sys
import uuid
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone
from psycopg2 import sql

from conftest import database_url_of

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "pg_backup.py"

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="pg_dump and pg_restore need PostgreSQL (CI runs the suite on it)",
    ),
    pytest.mark.django_db(transaction=True),
]


def pg_backup(*args, **env: str) -> subprocess.CompletedProcess:
    """Run the script as an operator does; env adds environment variables."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def output(result: subprocess.CompletedProcess) -> str:
    return f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"


def url_with_name(name: str) -> str:
    """A URL for another database on the test database's server."""
    return urlsplit(database_url_of(connection))._replace(path=f"/{name}").geturl()


def maintenance_run(statement: sql.Composable) -> None:
    with closing(psycopg2.connect(url_with_name("postgres"))) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)


def database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)", [name])
        return cursor.fetchone()[0]


def execute_in(url: str, statement: str, params=()) -> list[tuple]:
    """Run one statement in another database, committed; its rows, if any."""
    with closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def scratch_database():
    """scratch_database(suffix) -> the URL of a database named after the test database (so
    parallel runs do not collide), not created; dropped before (left by an interrupted run) and
    after the test, whoever created it."""
    names = []

    def drop(name: str) -> None:
        maintenance_run(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def url_of(suffix: str) -> str:
        name = f"{connection.settings_dict['NAME']}_{suffix}"
        drop(name)
        names.append(name)
        return url_with_name(name)

    yield url_of
    for name in names:
        drop(name)


@pytest.fixture
def catalogue(user, other_user, staff, store_offers, set_tracking, minute_history):
    """A catalogue as the app writes it: three users (one staff), products, synced offers
    (with changes, a sold-out offer and its return), three hours of history, an API token,
    a suspended product."""
    from rest_framework.authtoken.models import Token

    from products.services import product_create, product_suspend

    now = timezone.now()
    lamp = product_create(owner=user, name="Stolní lampička – mosaz", description="Lamp, 'E27'")
    kettle = product_create(owner=user, name="Kettle 1.7 l", description="Steel\nwith a filter")
    chair = product_create(owner=other_user, name="Chair", description="")
    product_create(owner=other_user, name="Not yet registered")
    for product in (lamp, kettle, chair):
        set_tracking(product, registration_state="registered")

    minute_history(kettle, start=now - timedelta(hours=4), count=3 * 60)
    # Three syncs: prices change, offer c sells out (stock gone from the answer), then returns.
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    answers = {
        50: [(a, 1200, 3), (b, 1350, 1), (c, 990, 0)],
        30: [(a, 1150, 2), (b, 1350, 1)],
        10: [(a, 1150, 2), (b, 1400, 5), (c, 980, 4)],
    }
    for minutes_ago, offers in answers.items():
        for product in (lamp, kettle):
            store_offers(product, offers, at=now - timedelta(minutes=minutes_ago))
    store_offers(chair, [(4500, 1), (4700, 2)], at=now - timedelta(minutes=5))
    product_suspend(product=chair, reason="Counterfeit listing")
    Token.objects.create(user=user)
    return {"lamp": lamp, "kettle": kettle, "chair": chair}


def test_check_restores_an_identical_copy_and_drops_it(catalogue, scratch_database):
    from pricing.models import Offer, ProductSnapshot

    url = database_url_of(connection)
    copy_name = connection.settings_dict["NAME"] + "_restore_check"
    scratch_database("restore_check")  # dropped afterwards, should the script leave it

    result = pg_backup("check", url)

    assert result.returncode == 0, output(result)
    snapshots = ProductSnapshot.objects.count()
    assert snapshots > 3 * 60
    assert f"public.pricing_productsnapshot: {snapshots:,} rows, identical" in result.stdout
    assert f"public.pricing_offer: {Offer.objects.count():,} rows, identical" in result.stdout
    assert "public.authtoken_token: 1 row, identical" in result.stdout
    assert "Restore check of" in result.stdout and "identical:" in result.stdout
    assert f"Dropped {copy_name}." in result.stdout
    assert not database_exists(copy_name)


def test_compare_finds_a_changed_row_a_moved_sequence_and_a_missing_row(
    catalogue, scratch_database, tmp_path
):
    """The drill step by step, then proof that the comparison can fail."""
    from pricing.models import Offer, OfferObservation

    source, copy = database_url_of(connection), scratch_database("copy")
    dump = tmp_path / "catalogue.dump"
    assert pg_backup("dump", source, dump).returncode == 0
    assert dump.stat().st_size > 0
    restored = pg_backup("restore", dump, copy)
    assert restored.returncode == 0, output(restored)
    compared = pg_backup("compare", source, copy)
    assert compared.returncode == 0, output(compared)
    assert "identical:" in compared.stdout

    offer = Offer.objects.filter(product=catalogue["lamp"]).order_by("pk").last()
    execute_in(copy, "UPDATE pricing_offer SET price = price + 1 WHERE id = %s", [offer.pk])
    compared = pg_backup("compare", source, copy)
    assert compared.returncode == 1, output(compared)
    assert (
        f"public.pricing_offer: row id={offer.pk} differs: price '{offer.price}' in A, "
        f"'{offer.price + 1}' in B"
    ) in compared.stdout
    execute_in(copy, "UPDATE pricing_offer SET price = price - 1 WHERE id = %s", [offer.pk])

    # A restored sequence behind its table's rows would make the next insert collide.
    sequence = "pricing_offer_id_seq"
    [(last_value, is_called)] = execute_in(copy, f"SELECT last_value, is_called FROM {sequence}")
    execute_in(copy, "SELECT setval(%s, 1)", [sequence])
    compared = pg_backup("compare", source, copy)
    assert compared.returncode == 1, output(compared)
    assert f"sequence public.{sequence}: last value {last_value} in A, last value 1 in B" in (
        compared.stdout
    )
    execute_in(copy, "SELECT setval(%s, %s, %s)", [sequence, last_value, is_called])

    observation = OfferObservation.objects.order_by("pk")[1]
    execute_in(copy, "DELETE FROM pricing_offerobservation WHERE id = %s", [observation.pk])
    compared = pg_backup("compare", source, copy)
    assert compared.returncode == 1, output(compared)
    assert (
        f"public.pricing_offerobservation: row id={observation.pk} is missing from B"
        in compared.stdout
    )
    assert "DIFFERENT: 1 difference(s)" in compared.stdout  # the others were put back


def test_restore_refuses_an_existing_database_and_leaves_it_untouched(scratch_database, tmp_path):
    source, existing = database_url_of(connection), scratch_database("existing")
    dump = tmp_path / "empty.dump"
    assert pg_backup("dump", source, dump).returncode == 0
    name = urlsplit(existing).path.lstrip("/")
    maintenance_run(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    execute_in(
        existing, "CREATE TABLE live_data (note text); INSERT INTO live_data VALUES ('keep')"
    )

    result = pg_backup("restore", dump, existing)

    assert result.returncode == 2, output(result)
    assert result.stderr.count("\n") == 1 and "already exists" in result.stderr
    assert execute_in(existing, "SELECT note FROM live_data") == [("keep",)]
    assert execute_in(existing, "SELECT to_regclass('public.pricing_offer')") == [(None,)]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("compare", "{url}", "postgres://postgres@127.0.0.1:1/nothing"), {}, "cannot connect"),
        (("dump", "{url}", "{tmp}/x.dump"), {"PG_BIN": "/nonexistent"}, "pg_dump not found"),
        (("restore", "{tmp}/missing.dump", "{url}_never"), {}, "no such file"),
    ],
    ids=["connection-refused", "no-pg_dump", "no-dump-file"],
)
def test_expected_errors_are_one_line_and_exit_code_2(args, env, message, tmp_path):
    url = database_url_of(connection)
    args = [arg.format(url=url, tmp=tmp_path) for arg in args]

    result = pg_backup(*args, **env)

    assert result.returncode == 2, output(result)
    assert result.stderr.count("\n") == 1 and message in result.stderr, output(result)
    assert not list(tmp_path.iterdir())  # no dump, not even a partial one
