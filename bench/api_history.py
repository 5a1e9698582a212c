"""Benchmark: the API's history endpoint over a long history (status, size, values, time).

    .venv/bin/python bench/api_history.py                     # a year of minute history
    .venv/bin/python bench/api_history.py --database-url postgres://postgres@127.0.0.1:5432/postgres

Works in its own throwaway database (a SQLite file under var/, or with --database-url a new
database on that PostgreSQL server), deleted at the end. It writes the same history as
bench/product_page.py (its write_history: one product, --days of snapshots a minute apart,
--offers offers whose prices change hourly), then asks GET /api/v1/products/{id}/history/ as
its owner, with the owner's API token, through Django's test client (the whole view:
middleware, authentication, throttling, selectors, serializer, JSON renderer; no network) for
the last 24 h (the default period), 7 d, 30 d and the whole history (`from` = the first
snapshot), each with the offers' lines and with offers=false. Per answer it prints the status,
the body's bytes, value_count, the interval `auto` chose, the SQL queries and the median time
of --repeat requests; then each time as a ratio to the 24 h answer's (with the same `offers`),
measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from datetime import timedelta
from urllib.parse import urlencode

from _setup import (  # bench/ is on sys.path
    QueryCounter,
    setup_django,
    throwaway_database,
)
from product_page import parse_history_args, write_history

PERIODS = ("24h", "7d", "30d", "all")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_history_args(argv, prog="bench/api_history.py", doc=__doc__, per="answer")


def answers(first_snapshot) -> list[tuple[str, bool, str]]:
    """(period, offers, query string) of each answer asked for. 24 h is the endpoint's default
    period: no `from`."""
    from django.utils import timezone

    now = timezone.now()
    starts = {
        "24h": None,
        "7d": now - timedelta(days=7),
        "30d": now - timedelta(days=30),
        "all": first_snapshot,
    }
    result = []
    for period in PERIODS:
        for offers in (True, False):
            params = {} if starts[period] is None else {"from": starts[period].isoformat()}
            if not offers:
                params["offers"] = "false"
            result.append((period, offers, urlencode(params)))
    return result


def measure(client, url: str, repeat: int) -> dict:
    from django.db import connection

    counter = QueryCounter()
    seconds = []
    for _ in range(repeat):
        counter.count = 0
        with connection.execute_wrapper(counter):
            began = time.perf_counter()
            response = client.get(url)
            seconds.append(time.perf_counter() - began)
    body = response.json()
    return {
        "status": response.status_code,
        "bytes": len(response.content),
        "values": body.get("value_count"),
        "interval": body.get("interval", "-"),
        "queries": counter.count,
        "ms": statistics.median(seconds) * 1000,
        "body": body,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    # The per-user rate (600/minute by default) would refuse a long run's requests.
    os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")
    # whitenoise looks for collected static files; an API answer needs none.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    with throwaway_database(args.database_url, prefix="bench_api") as database_url:
        setup_django(database_url=database_url)
        from django.db import connection
        from django.test import Client, override_settings
        from django.urls import reverse

        from accounts.services import user_api_token_create
        from pricing.selectors import MAX_TREND_VALUES

        # The throttles' counters in memory, as production keeps them in Redis: the default
        # database cache would add its own queries (and a table migrate does not create).
        memory = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        override_settings(CACHES={"default": memory}).enable()

        owner, product = write_history(days=args.days, offers=args.offers)
        first_snapshot = product.snapshots.earliest("taken_at").taken_at
        client = Client(HTTP_AUTHORIZATION=f"Token {user_api_token_create(user=owner)}")
        endpoint = reverse("api:product-history", kwargs={"product_id": product.pk})
        client.get(endpoint)  # warm up: the first connection, imports

        print(
            f"One product, {args.days} days of minute snapshots, {args.offers} offers changing "
            f"hourly; {connection.vendor}; GET {endpoint.replace(str(product.pk), '{id}')} "
            f"with a token, interval=auto; at most {MAX_TREND_VALUES:,} values; median of "
            f"{args.repeat} requests."
        )
        header = (
            f"{'answer':<20} {'status':>6} {'bytes':>10} {'values':>7} {'interval':>9} "
            f"{'queries':>8} {'ms':>8} {'× 24 h':>7}"
        )
        print(f"\n{header}")
        rows = {}
        for period, offers, query in answers(first_snapshot):
            row = rows[period, offers] = measure(client, f"{endpoint}?{query}", args.repeat)
            label = period + ("" if offers else " offers=false")
            ratio = row["ms"] / rows["24h", offers]["ms"]
            print(
                f"{label:<20} {row['status']:>6} {row['bytes']:>10,} {row['values'] or 0:>7,} "
                f"{row['interval']:>9} {row['queries']:>8} {row['ms']:>8.1f} {ratio:>6.2f}×"
            )
        failed = {key: row for key, row in rows.items() if row["status"] != 200}
        for (period, offers), row in failed.items():
            print(f"{period} offers={offers}: {row['status']} {row['body']}", file=sys.stderr)
        over = [key for key, row in rows.items() if (row["values"] or 0) > MAX_TREND_VALUES]
        if over:
            print(f"Over the cap: {over}", file=sys.stderr)
        if failed or over:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
