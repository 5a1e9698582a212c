"""Benchmark: what alerts cost the sync, and what a back-test costs.

    .venv/bin/python bench/alerts.py --database-url postgres://postgres@127.0.0.1:5432/postgres

Works in its own throwaway database (a SQLite file under var/, or a fresh PostgreSQL database on
the server given by --database-url), deleted at the end. Two measures:

1. The evaluation in the sync's store: N products (1,000 by default) stored in batches of
   OFFERS_SYNC_BATCH_SIZE with pricing.sync.offers_store_many, as a sync's batches store them,
   for several rounds of changing prices; once without rules, once with 5 rules on every product
   (a threshold, a move within 24 h, back in stock, a new offer, a 30-day low). Printed: time
   per 1,000 products per round, SQL statements per batch, the ratio, and the firings made.
2. The back-test of four rules over 30 days of minute history (43,200 snapshots) of one
   product, each repeated: the time one takes, as a user editing a rule waits for it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from _setup import (  # bench/ is on sys.path
    QueryCounter,
    add_database_argument,
    setup_django,
    throwaway_database,
)

RULES = [
    {"kind": "price_below", "figure": "cheapest", "threshold": 96},
    {
        "kind": "price_move",
        "figure": "mean",
        "direction": "either",
        "change_percent": 2,
        "window": "24h",
    },
    {"kind": "back_in_stock"},
    {"kind": "offer_appeared"},
    {"kind": "new_low", "lookback_days": 30},
]
BACKTESTS = {
    "cheapest below 103": {"kind": "price_below", "figure": "cheapest", "threshold": 103},
    "… with debounce 3, cooldown 60 min": {
        "kind": "price_below",
        "figure": "cheapest",
        "threshold": 103,
        "debounce": 3,
        "cooldown_minutes": 60,
    },
    "mean moves 3 % within 1 h": {
        "kind": "price_move",
        "figure": "mean",
        "direction": "either",
        "change_percent": 3,
        "window": "1h",
    },
    "lowest in 30 days": {"kind": "new_low", "lookback_days": 30},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/alerts.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1000, help="default: %(default)s")
    parser.add_argument("--rounds", type=int, default=5, help="stores per product and pass")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each back-test")
    add_database_argument(parser)
    return parser.parse_args(argv)


def answers_of(products, round_number: int, start: datetime):
    """Each product's answer at a round: three offers whose prices and stock move."""
    from pricing.offers_client import OfferData

    at = start + timedelta(minutes=round_number)
    answers = {}
    for index, product in enumerate(products):
        base = 95 + (index + round_number) % 7
        offers = [
            OfferData(uuid.UUID(int=index * 10 + n + 1), base + n * 3, (round_number + n) % 4)
            for n in range(3)
        ]
        if (index + round_number) % 5 == 0:
            offers.append(OfferData(uuid.uuid4(), base + 20, 1))  # a new offer
        answers[product.pk] = (offers, at)
    return answers


class EvaluationTimer:
    """Times pricing.alerts.evaluation.alerts_evaluate inside the store (wrapped where the
    sync calls it): the evaluation's own cost, apart from the rest of the store's."""

    def __init__(self) -> None:
        from pricing import sync

        self.seconds, self._evaluate = 0.0, sync.alerts_evaluate
        sync.alerts_evaluate = self._timed

    def _timed(self, **kwargs):
        began = time.perf_counter()
        try:
            return self._evaluate(**kwargs)
        finally:
            self.seconds += time.perf_counter() - began

    def stop(self) -> None:
        from pricing import sync

        sync.alerts_evaluate = self._evaluate


def store_rounds(products, rounds: int, start: datetime) -> tuple[float, float, float]:
    """Store `rounds` rounds in batches: seconds per round (the whole store), of which
    evaluating alerts, and statements per batch."""
    from django.conf import settings
    from django.db import transaction

    from pricing.sync import offers_store_many

    size = settings.OFFERS_SYNC_BATCH_SIZE
    counter, timer, seconds, batches = QueryCounter(), EvaluationTimer(), 0.0, 0
    for round_number in range(1, rounds + 1):
        answers = answers_of(products, round_number, start)
        items = list(answers.items())
        began = time.perf_counter()
        with counter.counting():
            for offset in range(0, len(items), size):
                with transaction.atomic():
                    offers_store_many(dict(items[offset : offset + size]))
                batches += 1
        seconds += time.perf_counter() - began
    timer.stop()
    return seconds / rounds, timer.seconds / rounds, counter.count / batches


def evaluation(args) -> None:
    from django.db import connection
    from tqdm import tqdm

    from accounts.models import User
    from pricing.models import AlertFiring
    from pricing.services import alert_rule_create
    from pricing.sync import offers_store_many
    from products.services import product_create

    owners = [
        User.objects.create_user(email=f"bench{n}@example.com", password="x") for n in range(10)
    ]
    start = datetime(2026, 3, 2, tzinfo=UTC)
    passes = {}
    for label, with_rules in (("without rules", False), ("5 rules a product", True)):
        products = [
            product_create(owner=owners[n % len(owners)], name=f"{label} {n}")
            for n in tqdm(range(args.products), desc=f"products ({label})", file=sys.stderr)
        ]
        offers_store_many(answers_of(products, 0, start))  # the first sync: nothing to compare
        if with_rules:
            for product in tqdm(products, desc="rules", file=sys.stderr):
                for spec in RULES:
                    alert_rule_create(owner=product.owner, product_id=product.pk, spec=spec)
        passes[label] = store_rounds(products, args.rounds, start)
    print(
        f"\n1. The store of {args.products:,} products, {args.rounds} rounds ({connection.vendor})"
    )
    for label, (seconds, evaluating, queries) in passes.items():
        print(
            f"   {label:<20} {seconds / args.products * 1e6:7.0f} ms per 1,000 products, of "
            f"which evaluating alerts {evaluating / args.products * 1e6:5.0f} ms; "
            f"{queries:4.1f} statements a batch"
        )
    (plain, _, plain_queries), (ruled, evaluating, ruled_queries) = passes.values()
    print(
        f"   with rules the store takes {ruled / plain:.2f}× as long; the evaluation is "
        f"{evaluating / ruled:.0%} of it ({args.products * len(RULES):,} rules), "
        f"{ruled_queries - plain_queries:+.1f} statements a batch; "
        f"{AlertFiring.objects.count():,} firings made"
    )


def backtests(args) -> None:
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from pricing.selectors import alert_backtest
    from pricing.testing import minute_snapshots
    from products.services import product_create

    owner = User.objects.create_user(email="backtest@example.com", password="x")
    product = product_create(owner=owner, name="A month of minutes")
    now = timezone.now().replace(second=0, microsecond=0)
    count = 30 * 24 * 60
    minute_snapshots(product, start=now - timedelta(minutes=count - 1), count=count)
    print(
        f"\n2. Back-tests over 30 days of minute history ({count:,} snapshots, "
        f"{connection.vendor}), {args.repeat} runs each"
    )
    for label, spec in BACKTESTS.items():
        times, result = [], None
        for _ in range(args.repeat):
            began = time.perf_counter()
            result = alert_backtest(owner=owner, product_id=product.pk, spec=spec, now=now)
            times.append(time.perf_counter() - began)
        print(
            f"   {label:<36} median {statistics.median(times) * 1000:6.0f} ms, "
            f"fired {result.fired:,} times over {result.syncs:,} syncs"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with throwaway_database(args.database_url, prefix="bench_alerts") as database_url:
        setup_django(database_url=database_url)
        evaluation(args)
        backtests(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
