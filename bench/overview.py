"""Benchmark: the overview of a large catalogue (HTML size, queries, time) in every sort order.

    .venv/bin/python bench/overview.py                     # 1,000 products, a month each
    .venv/bin/python bench/overview.py --products 200 --days 7
    .venv/bin/python bench/overview.py --explain           # and where the SQL time goes

Works in its own throwaway database (a SQLite file under var/, or with --database-url a new
database on that PostgreSQL server), deleted at the end. It writes one user with --products
products, each with --days of snapshots a minute apart (pricing.testing.minute_snapshots) and
then one last sync of a few current offers per product (pricing.sync.offers_store_many, the
sync's own store), whose prices and stock differ from product to product so that every sort
order means something. Then it asks for the overview as its owner through Django's test
client (the whole view: middleware, selectors, templates; no network): every sort order of
the table, ascending and descending, on the first and a middle page; a search; and the HTMX
requests the page makes (the table swapped by a header link, the search box and a pager link,
the summary cards refreshed). Per request it prints the HTML size, the rows in the table, the
SQL queries, and the median SQL time and total time of --repeat requests; then each time as a
ratio to the name-sorted first page's, measured in the same run. Exit status 1 if a page takes
more than 15 queries (issue 16's budget).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import statistics
import sys
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from _setup import (  # bench/ is on sys.path
    ROOT,
    QueryCounter,
    add_database_argument,
    setup_django,
    throwaway_database,
)

QUERY_BUDGET = 15  # issue 16: ≤ 15 queries (and ≤ 100 ms, which a benchmark reports only)
PAGE_SIZE = 25  # dashboard.views.PAGE_SIZE
# Names are "<brand> <kind> <number>": a search for one kind finds a tenth of the catalogue.
KINDS = ("Kettle", "Toaster", "Blender", "Mixer", "Grinder", "Juicer", "Fryer", "Steamer")
KINDS += ("Scale", "Press")
BRANDS = ("Acme", "Bosk", "Corvo", "Delta", "Elmo", "Fjord", "Gala", "Hanse")
SEARCH = "kettle"
ROW = re.compile(r'<tr id="product-')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/overview.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--products", type=int, default=1000, help="products of the user (default: %(default)s)"
    )
    parser.add_argument(
        "--days",
        type=int,
        default=30,
        help="days of minute snapshots per product (default: %(default)s)",
    )
    parser.add_argument(
        "--offers",
        type=int,
        default=6,
        help="at most this many current offers per product, from 1 (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="requests per page; the median is printed (default: %(default)s)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also print which project functions spend each page's SQL time, and the plan "
        "of the slowest statements (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on "
        "SQLite)",
    )
    add_database_argument(parser)
    args = parser.parse_args(argv)
    if min(args.products, args.days, args.offers, args.repeat) < 1:
        parser.error("--products, --days, --offers and --repeat must be >= 1")
    return args


# --- The catalogue -------------------------------------------------------------------------------


def write_catalogue(*, products: int, days: int, offers: int):
    """The owner (they can sign in) and their products: registered, `days` of minute
    snapshots each, then one sync of 1 to `offers` current offers, the latest snapshot."""
    from django.db import connection
    from django.utils import timezone
    from tqdm import tqdm

    from accounts.models import User
    from pricing.models import ProductTracking, RegistrationState, SyncRun
    from pricing.offers_client.parsing import OfferData
    from pricing.sync import offers_store_many
    from pricing.testing import minute_snapshots
    from products.models import Product

    rng = random.Random(16)  # the same catalogue in every run
    owner = User.objects.create_user(email="bench@example.com", password=None)
    # bulk_create sends no post_save: nothing is registered, no task reaches a queue, and
    # pricing's tracking rows are written here.
    catalogue = Product.objects.bulk_create(
        Product(
            owner=owner,
            name=f"{BRANDS[k % len(BRANDS)]} {KINDS[k % len(KINDS)]} {k:04d}",
            description=f"A {KINDS[k % len(KINDS)].lower()} watched by the overview benchmark.",
            # Reference prices around the offers' level (~100): ranks, indexes and some offers
            # below the MAP; every fifth product has none (undefined figures sort last).
            my_price=None if k % 5 == 0 else 90 + k % 30,
            map_price=None if k % 5 == 0 else 85 + k % 10,
        )
        for k in range(products)
    )
    began = timezone.now()
    ProductTracking.objects.bulk_create(
        ProductTracking(
            product=product,
            registration_state=RegistrationState.REGISTERED,
            registered_at=began - timedelta(days=days),
        )
        for product in catalogue
    )

    # The history ends a minute before `began`; the last sync comes when it is written (minutes
    # later: a gap, as after a short outage).
    count = days * 24 * 60
    start = began.replace(second=0, microsecond=0) - timedelta(minutes=count)
    written = time.perf_counter()
    for product in tqdm(catalogue, desc="minute snapshots", unit="product"):
        minute_snapshots(product, start=start, count=count)
    seconds = time.perf_counter() - written
    print(
        f"Wrote {products * count:,} minute snapshots in {seconds:.0f} s "
        f"({products * count / seconds:,.0f} rows/s, "
        f"{seconds / products * 1000:.0f} ms a product).",
        file=sys.stderr,
    )

    # The latest sync: prices around 100 (the history's level) and stock that differ from
    # product to product, some out of stock (no weighted mean: undefined figures sort last).
    at = timezone.now()
    answers = {}
    for product in catalogue:
        level = rng.randint(80, 120)
        answers[product.pk] = (
            [
                OfferData(
                    id=uuid.uuid4(),
                    price=level + rng.randint(-15, 15),
                    items_in_stock=rng.choice((0, rng.randint(1, 40), rng.randint(1, 40))),
                )
                for _ in range(rng.randint(1, offers))
            ],
            at,
        )
    ids = list(answers)
    for first in tqdm(range(0, len(ids), 200), desc="last sync", unit="batch", leave=False):
        offers_store_many({pk: answers[pk] for pk in ids[first : first + 200]})
    SyncRun.objects.create(
        started_at=at - timedelta(seconds=5),
        finished_at=at,
        products_total=products,
        products_synced=products,
        lease_expires_at=at + timedelta(minutes=5),
        is_planned=False,
    )
    if connection.vendor == "postgresql":
        # What autovacuum does to a table after such an insert: statistics for the planner,
        # and the visibility map that lets index-only scans skip the heap.
        print("VACUUM ANALYZE …", file=sys.stderr)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return owner


# --- Requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    label: str
    query: str  # the query string, without "?"
    target: str | None = None  # the HX-Target of an HTMX request; None for a whole page

    @property
    def headers(self) -> dict[str, str]:
        if self.target is None:
            return {}
        return {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": self.target}


def requests(products: int) -> list[Request]:
    """The requests measured: the first one (the default page) is the base of the ratios."""
    from dashboard.overview import SORTS

    middle = max(1, math.ceil(products / PAGE_SIZE) // 2)
    result = []
    for key in SORTS:
        for sort in (key, f"-{key}"):
            params = {} if sort == "name" else {"sort": sort}
            result.append(Request(f"sort={sort}", urlencode(params)))
            paged = urlencode(params | {"page": middle})
            result.append(Request(f"sort={sort}&page={middle}", paged))
    search = urlencode({"q": SEARCH})
    result += [
        Request(f"q={SEARCH}", search),
        Request(f"q={SEARCH}&sort=-change", urlencode({"q": SEARCH, "sort": "-change"})),
        # What the page's hx-get attributes ask: a header link, the search box and a pager link
        # swap #product-table; the cards refresh themselves after a change.
        Request("htmx table sort=-mean", urlencode({"sort": "-mean"}), "product-table"),
        Request(f"htmx table q={SEARCH}", search, "product-table"),
        Request(f"htmx table page={middle}", urlencode({"page": middle}), "product-table"),
        Request("htmx summary-cards", "", "summary-cards"),
        # The "What moved" panel, as the page loads it once it is up, and as a window's link
        # draws the page with it; its links: the table filtered by a movement.
        Request("htmx what-moved 24h", urlencode({"within": "24h"}), "what-moved"),
        Request("htmx what-moved 30d", urlencode({"within": "30d"}), "what-moved"),
        Request("within=30d", urlencode({"within": "30d"})),
        Request("moved=drops&within=7d", urlencode({"moved": "drops", "within": "7d"})),
        Request("moved=new-lows&within=30d", urlencode({"moved": "new-lows", "within": "30d"})),
    ]
    return result


@dataclass
class Statement:
    sql: str
    params: object
    ms: float
    origin: str  # the project function that sent it: "path:line function"

    @property
    def function(self) -> str:
        return self.origin.rsplit(" ", 1)[-1]


@dataclass
class QueryLog:
    """Every statement of a request, timed; with `origins`, also the project function that
    sent it (a walk up the stack: slower, for --explain's extra request only)."""

    origins: bool = False
    statements: list[Statement] = field(default_factory=list)

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - began) * 1000
            origin = _origin() if self.origins else ""
            self.statements.append(Statement(sql, params, ms, origin))

    @property
    def ms(self) -> float:
        return sum(statement.ms for statement in self.statements)


def _origin() -> str:
    """The innermost frame of the project's code (not Django's, not the benchmark's)."""
    bench = Path(__file__).resolve().parent
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename).resolve()
        ours = path.is_relative_to(ROOT) and not path.is_relative_to(bench)
        if ours and ".venv" not in path.parts:
            return f"{path.relative_to(ROOT)}:{frame.lineno} {frame.name}"
    return "?"


def measure(client, page: str, requests: list[Request], *, repeat: int, explain: bool) -> dict:
    """Each request `repeat` times, in rounds (every request once, then again), so that
    whatever else the machine does falls on all of them alike."""
    from django.db import connection

    seconds = {request.label: [] for request in requests}
    sql_ms = {request.label: [] for request in requests}
    rows = {}
    for _ in range(repeat):
        for request in requests:
            url = f"{page}?{request.query}" if request.query else page
            counter, log = QueryCounter(), QueryLog()
            with connection.execute_wrapper(counter), connection.execute_wrapper(log):
                began = time.perf_counter()
                response = client.get(url, **request.headers)
                seconds[request.label].append(time.perf_counter() - began)
            sql_ms[request.label].append(log.ms)
            if response.status_code != 200:
                raise SystemExit(f"{url} ({request.label}) answered {response.status_code}")
            rows[request.label] = {
                "bytes": len(response.content),
                "rows": len(ROW.findall(response.content.decode())),
                "queries": counter.count,
                "statements": [],
            }
    for request in requests:
        row = rows[request.label]
        row["ms"] = statistics.median(seconds[request.label]) * 1000
        row["sql_ms"] = statistics.median(sql_ms[request.label])
        if explain:  # one more request, each statement with the function that sent it
            log = QueryLog(origins=True)
            url = f"{page}?{request.query}" if request.query else page
            with connection.execute_wrapper(log):
                client.get(url, **request.headers)
            row["statements"] = log.statements
    return rows


def plan(statement: Statement) -> str:
    """The database's plan of `statement`, run again: EXPLAIN ANALYZE on PostgreSQL."""
    from django.db import connection

    if connection.vendor == "postgresql":
        prefix = "EXPLAIN (ANALYZE, BUFFERS) "
    else:
        prefix = "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + statement.sql, statement.params)
        lines = cursor.fetchall()
    return "\n".join(" | ".join(str(value) for value in line) for line in lines)


def print_explain(rows: dict[str, dict], *, plans: int = 3) -> None:
    """Per page, its SQL time and the functions that spent most of it; then, for the `plans`
    functions that spent most over all pages, the plan of their slowest statement."""
    print(
        "\nWhere each page's SQL time goes (one more request, each statement timed). A query "
        "runs where\nits queryset is evaluated: the page of products that products_ordered "
        "sorts, in overview_rows."
    )
    spent: dict[str, float] = {}
    slowest: dict[str, tuple[str, Statement]] = {}
    for label, row in rows.items():
        by_function: dict[str, float] = {}
        for statement in row["statements"]:
            name = statement.function
            by_function[name] = by_function.get(name, 0.0) + statement.ms
            spent[name] = spent.get(name, 0.0) + statement.ms
            if name not in slowest or slowest[name][1].ms < statement.ms:
                slowest[name] = (label, statement)
        top = sorted(by_function.items(), key=lambda item: -item[1])[:3]
        functions = ", ".join(f"{name} {ms:.1f}" for name, ms in top)
        total = sum(statement.ms for statement in row["statements"])
        print(f"  {label:<28} {total:6.1f} ms: {functions}")
    for name in sorted(spent, key=lambda name: -spent[name])[:plans]:
        label, statement = slowest[name]
        sql = statement.sql if len(statement.sql) <= 400 else statement.sql[:400] + " …"
        print(
            f"\n{statement.origin}: {spent[name]:.1f} ms over all pages; its slowest statement, "
            f"{statement.ms:.1f} ms on {label}:\n{sql}\n"
        )
        print(plan(statement))


def database(connection) -> str:
    """The database, and on PostgreSQL whether JIT compilation is on (it adds tens of ms to
    queries the planner thinks costly)."""
    if connection.vendor != "postgresql":
        return f"SQLite {connection.Database.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('jit')")
        version, jit = cursor.fetchone()
    return f"PostgreSQL {version.split()[0]} (jit {jit})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("SECURE_COOKIES", "false")
    # whitenoise looks for collected static files; the test client asks for none.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    with throwaway_database(args.database_url, prefix="bench_overview") as database_url:
        setup_django(database_url=database_url)
        from django.conf import settings
        from django.db import connection
        from django.test import Client, override_settings
        from django.urls import reverse

        owner = write_catalogue(products=args.products, days=args.days, offers=args.offers)
        # Production serves hashed names from collectstatic's manifest; there is none here.
        plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
        override_settings(STORAGES=settings.STORAGES | {"staticfiles": plain}).enable()
        client = Client()
        client.force_login(owner)
        page = reverse("dashboard:overview")
        client.get(page)  # warm up: template loading, first connection

        print(
            f"One user, {args.products:,} products with {args.days} day{'s' * (args.days != 1)} "
            f"of minute snapshots each and 1–{args.offers} current offers; {database(connection)}; "
            f"{PAGE_SIZE} products a page; median of {args.repeat} requests."
        )
        print(
            f"\n{'page':<28} {'HTML bytes':>10} {'rows':>5} {'queries':>8} {'SQL ms':>7} {'ms':>7}"
        )
        rows = measure(
            client, page, requests(args.products), repeat=args.repeat, explain=args.explain
        )
        for label, row in rows.items():
            print(
                f"{label:<28} {row['bytes']:>10,} {row['rows']:>5} {row['queries']:>8} "
                f"{row['sql_ms']:>7.1f} {row['ms']:>7.1f}"
            )
        base_label = next(iter(rows))
        base = rows[base_label]["ms"]
        print(f"\nTime relative to the first page sorted by name ({base_label}), same run:")
        for label, row in rows.items():
            print(f"  {label:<28} {row['ms'] / base:5.2f}×")
        if args.explain:
            print_explain(rows)
        over = [label for label, row in rows.items() if row["queries"] > QUERY_BUDGET]
        if over:
            print(f"Over {QUERY_BUDGET} queries: {', '.join(over)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
