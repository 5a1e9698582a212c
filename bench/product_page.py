"""Benchmark: the product page over a long history (HTML size, queries, chart values, time).

    .venv/bin/python bench/product_page.py                    # a year of minute history
    .venv/bin/python bench/product_page.py --days 30 --offers 20

Works in its own throwaway database (a SQLite file under var/, or with --database-url a new
database on that PostgreSQL server), deleted at the end. It writes one product with --days of
snapshots a minute apart (a sync every minute, the default interval) and --offers offers seen
over the whole history whose prices change every hour, then asks for the product page as its
owner through Django's test client (the whole view: middleware, selectors, figure, templates;
no network) for each period, without and with one line per offer. Per page it prints the HTML
size, the SQL queries, the values in the chart (what plotly draws: the non-empty y values of
every trace) and the median time of --repeat requests; then each time as a ratio to the 30-day
product's, measured in the same run. The regions the page loads after it (MAP violations, the
long memory) are measured in each of their windows, as htmx asks for them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from datetime import timedelta

from _setup import (  # bench/ is on sys.path
    QueryCounter,
    add_database_argument,
    setup_django,
    throwaway_database,
)

FIGURE = re.compile(r'<script id="price-figure" type="application/json">(.*?)</script>', re.S)
PERIODS = ("24h", "7d", "30d", "90d", "365d", "all")
MAP_WINDOWS = ("24h", "7d", "30d")
MEMORY_WINDOWS = ("24h", "30d", "90d", "365d")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_history_args(argv, prog="bench/product_page.py", doc=__doc__, per="page")


def parse_history_args(argv: list[str] | None, *, prog: str, doc: str, per: str):
    """The options of a benchmark over write_history's product: --days, --offers, --repeat
    (requests per `per`) and the database."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument(
        "--days", type=int, default=365, help="days of minute history (default: %(default)s)"
    )
    parser.add_argument(
        "--offers",
        type=int,
        default=8,
        help="offers seen over the whole history, each changing price hourly "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help=f"requests per {per}; the median is printed (default: %(default)s)",
    )
    add_database_argument(parser)
    args = parser.parse_args(argv)
    if min(args.days, args.repeat) < 1 or args.offers < 0:
        parser.error("--days and --repeat must be >= 1, --offers >= 0")
    return args


def write_history(*, days: int, offers: int, owner=None, now=None):
    """A product (its owner, created unless given, can sign in), its minute snapshots and its
    offers' history, and the roll-ups the sync would have kept of them."""
    from django.utils import timezone
    from tqdm import tqdm

    from accounts.models import User
    from pricing.models import Offer, OfferObservation, ProductTracking
    from pricing.rollups import rollups_rebuild
    from pricing.testing import minute_snapshots
    from products.models import Product

    if owner is None:
        owner = User.objects.create_user(email="bench@example.com", password=None)
    # bulk_create sends no post_save: nothing is registered, no task reaches a queue, and
    # pricing's tracking row is written here.
    # Reference prices among the offers' (1,000..1,090): my price ranks, and the cheapest offer
    # dips below the MAP part of every hour, so the market cards have figures to compute.
    [product] = Product.objects.bulk_create(
        [Product(owner=owner, name=f"{days} days", my_price=1040, map_price=1005)]
    )
    ProductTracking.objects.create(product=product, registration_state="registered")
    now = now or timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(days=days)
    print(f"Writing {days * 24 * 60:,} minute snapshots …", file=sys.stderr)
    minute_snapshots(product, start=start, count=days * 24 * 60)
    hours = days * 24
    for k in tqdm(range(offers), desc="offers", leave=False):
        offer = Offer.objects.create(
            product=product,
            offer_id=uuid.uuid4(),
            price=1000 + k,
            items_in_stock=5,
            is_current=True,
            first_seen_at=start,
            last_seen_at=now - timedelta(minutes=1),
        )
        OfferObservation.objects.bulk_create(
            (
                OfferObservation(
                    offer=offer,
                    product=product,
                    observed_at=start + timedelta(hours=h),
                    price=1000 + k * 10 + h % 13,
                    items_in_stock=5,
                )
                for h in range(hours)
            ),
            batch_size=5000,
        )
    print("Rolling the history up …", file=sys.stderr)
    rollups_rebuild(product_ids=[product.pk])
    ProductTracking.objects.filter(pk=product.pk).update(last_synced_at=now - timedelta(minutes=1))
    return owner, product


# The tables a product's history takes: raw rows, and the roll-ups kept of them.
RAW_TABLES = ("pricing_productsnapshot", "pricing_offerobservation")
ROLLUP_TABLES = ("pricing_snapshotrollup", "pricing_observationrollup")


def storage() -> dict[str, int]:
    """Bytes per table (rows and indexes), after VACUUM FULL; PostgreSQL only (else {})."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    sizes = {}
    with connection.cursor() as cursor:
        for table in RAW_TABLES + ROLLUP_TABLES:
            cursor.execute(f"VACUUM FULL ANALYZE {table}")
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            sizes[table] = cursor.fetchone()[0]
    return sizes


def chart_values(html: str) -> int:
    match = FIGURE.search(html)
    if not match:
        return 0
    figure = json.loads(match.group(1))
    # The compact figure (dashboard/charts.py): lines carry "y"; the band "low" and "high",
    # which charts.js draws as two values wherever both are defined.
    return sum(
        sum(value is not None for value in trace.get("y", []))
        + 2
        * sum(
            low is not None and high is not None
            for low, high in zip(trace.get("low", []), trace.get("high", []), strict=True)
        )
        for trace in figure["data"]
    )


def measure(client, url: str, repeat: int, *, region: str | None = None) -> dict:
    """The page at `url`, or one region of it as htmx asks for it (HX-Target)."""
    from django.db import connection

    headers = {"HX-Request": "true", "HX-Target": region} if region else {}
    counter = QueryCounter()
    seconds = []
    for _ in range(repeat):
        counter.count = 0
        with connection.execute_wrapper(counter):
            began = time.perf_counter()
            response = client.get(url, headers=headers)
            seconds.append(time.perf_counter() - began)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    html = response.content.decode()
    return {
        "bytes": len(response.content),
        "queries": counter.count,
        "values": chart_values(html),
        "ms": statistics.median(seconds) * 1000,
    }


def measure_pages(client, page: str, repeat: int) -> dict[str, dict]:
    """Each period of the chart, with and without per-offer lines; then the regions the page
    loads once it is up: MAP violations and the long memory, in each of their windows."""
    pages = {
        label: measure(client, f"{page}?{label}", repeat)
        for period in PERIODS
        for label in (f"period={period}", f"period={period}&offers=1")
    }
    regions = {
        **{f"map={window}": "map-violations" for window in MAP_WINDOWS},
        **{f"memory={window}": "price-memory" for window in MEMORY_WINDOWS},
    }
    for label, region in regions.items():
        pages[label] = measure(client, f"{page}?{label}", repeat, region=region)
    return pages


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("SECURE_COOKIES", "false")
    with throwaway_database(args.database_url, prefix="bench_page") as database_url:
        setup_django(database_url=database_url)
        from django.conf import settings
        from django.db import connection
        from django.test import Client, override_settings
        from django.urls import reverse
        from django.utils import timezone

        from pricing.retention import history_prune
        from pricing.selectors import MAX_TREND_VALUES

        now = timezone.now().replace(second=0, microsecond=0)
        owner, product = write_history(days=args.days, offers=args.offers, now=now)
        # Production serves hashed names from collectstatic's manifest; there is none here.
        plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
        override_settings(STORAGES=settings.STORAGES | {"staticfiles": plain}).enable()
        client = Client()
        client.force_login(owner)
        page = reverse("dashboard:product", args=[product.pk])
        client.get(page)  # warm up: template loading, first connection

        print(
            f"{args.days} days of minute snapshots, {args.offers} offers changing hourly; "
            f"{connection.vendor}; the chart's cap is {MAX_TREND_VALUES:,} values; median of "
            f"{args.repeat} requests; currency {settings.PRICE_CURRENCY}.",
            file=sys.stderr,
        )
        columns = {}
        before = storage()
        columns[f"{args.days} d, all raw"] = measure_pages(client, page, args.repeat)
        print(f"Pruning to {settings.HISTORY_RAW_DAYS} days of raw history …", file=sys.stderr)
        while not history_prune(now=now).done:
            pass
        after = storage()
        columns[f"{args.days} d, pruned"] = measure_pages(client, page, args.repeat)
        _, month = write_history(days=30, offers=args.offers, owner=owner, now=now)
        storage()  # vacuumed and analysed like the year's (autovacuum would do it in time)
        month_page = reverse("dashboard:product", args=[month.pk])
        columns["30 d"] = measure_pages(client, month_page, args.repeat)

        print(
            f"\nThe product page: {args.days} days of minute history, all raw and then pruned "
            f"to HISTORY_RAW_DAYS={settings.HISTORY_RAW_DAYS}; a month of it beside; "
            f"{connection.vendor}, median of {args.repeat} requests."
        )
        print("Cells: ms · queries · HTML KB · chart values")
        names = list(columns)
        print(f"\n{'page':<22}" + "".join(f"{name:>30}" for name in names))
        for label in columns[names[0]]:
            cells = []
            for name in names:
                row = columns[name][label]
                cell = (
                    f"{row['ms']:.1f} · {row['queries']} · {row['bytes'] / 1000:.0f} · "
                    f"{row['values']:,}"
                )
                cells.append(f"{cell:>30}")
            print(f"{label:<22}" + "".join(cells))
        print("\nTime relative to the 30-day product's page for the same period, same run:")
        for label in columns["30 d"]:
            base = columns["30 d"][label]["ms"]
            ratios = "  ".join(
                f"{name}: {columns[name][label]['ms'] / base:4.2f}×" for name in names[:2]
            )
            print(f"  {label:<22} {ratios}")
        if before:
            print(f"\nStorage of {args.days} days of history (one product, rows and indexes):")
            for table in RAW_TABLES + ROLLUP_TABLES:
                print(f"  {table:<28} {before[table]:>14,} B  →  {after[table]:>14,} B")
            total_before, total_after = sum(before.values()), sum(after.values())
            raw_only = sum(before[table] for table in RAW_TABLES)
            print(
                f"  {'total':<28} {total_before:>14,} B  →  {total_after:>14,} B  "
                f"(raw only, as before roll-ups: {raw_only:,} B; per product-year after "
                f"pruning: {total_after * 365 / args.days / 1e6:.1f} MB)"
            )
        over = [
            f"{name} {label}"
            for name, rows in columns.items()
            for label, row in rows.items()
            if row["values"] > MAX_TREND_VALUES
        ]
        if over:
            print(f"Over the cap: {', '.join(over)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
