"""Benchmark: our sync (pricing.services.offers_sync) against a naive baseline.

    .venv/bin/python bench/sync.py --products 1000 --latency-ms 20

Starts its own Offers simulator and works in its own throwaway database (a SQLite file under
var/, or a fresh PostgreSQL database on the server given by --database-url), migrated here and
deleted at the end: the development database is never touched. It registers N products with the
simulator, then syncs every product once with our service and once with the naive baseline,
one product after another, each pass starting from empty offer tables and asking the same
simulator the same questions. The simulator runs with a one-hour tick, so both passes get the
same answers; before quoting a ratio the benchmark checks that both left the same current offers
(and the same snapshot figures) for every product, and it refuses to print one if they differ.

Printed per pass: products per second (wall clock, HTTP included) and SQL queries per product
(every statement the pass sent, leases and the shared token row included); then the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from _setup import (  # bench/ is on sys.path
    QueryCounter,
    add_database_argument,
    setup_django,
    throwaway_database,
)

# (product id) → frozenset of (offer id, price, stock): what a pass left as current offers.
CurrentOffers = dict[uuid.UUID, frozenset[tuple[uuid.UUID, int, int]]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/sync.py",
        description=__doc__.split("\n\n")[0],
        epilog="Needs nothing running: the simulator and the database are its own.",
    )
    parser.add_argument(
        "--products", type=int, default=1000, help="products to sync (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="latency the simulator adds to every API request (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also run our sync with this many threads, as an extra pass (default: 1, none)",
    )
    add_database_argument(parser)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="syncs of every product per pass: the first finds every offer new, the later ones "
        "get the same answers again, as a periodic sync mostly does (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the simulator's world (default: 0)"
    )
    args = parser.parse_args(argv)
    if min(args.products, args.workers, args.rounds) < 1 or args.latency_ms < 0:
        parser.error("--products, --workers and --rounds must be >= 1, --latency-ms >= 0")
    return args


# --- Measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    seconds: float
    queries: int
    offer_requests: int  # GET offers answered by the simulator: the same HTTP work each pass


@dataclass(frozen=True, slots=True)
class PassResult:
    name: str
    products: int
    rounds: list[Round]
    current: CurrentOffers
    snapshots: dict[uuid.UUID, tuple]

    def per_second(self, rounds: list[Round] | None = None) -> float:
        rounds = self.rounds if rounds is None else rounds
        return self.products * len(rounds) / sum(r.seconds for r in rounds)

    def queries_per_product(self, rounds: list[Round] | None = None) -> float:
        rounds = self.rounds if rounds is None else rounds
        return sum(r.queries for r in rounds) / (self.products * len(rounds))


def run_pass(
    name: str,
    sync_one: Callable[[uuid.UUID], None],
    product_ids: list[uuid.UUID],
    simulator,
    *,
    rounds: int,
    workers: int = 1,
) -> PassResult:
    """Empty the offer tables, sync every product `rounds` times with `sync_one`, and record
    what it left."""
    from django.db import connections
    from tqdm import tqdm

    reset_offer_tables()
    results = []
    for number in range(1, rounds + 1):
        counter = QueryCounter()
        before = offers_answered(simulator)

        def work(product_id: uuid.UUID, counter: QueryCounter = counter) -> None:
            try:
                with counter.counting():
                    sync_one(product_id)
            finally:
                if workers > 1:
                    connections.close_all()  # this thread's connection

        label = f"{name}, round {number}/{rounds}"
        started = time.perf_counter()
        with tqdm(total=len(product_ids), desc=label, unit="product", leave=False) as bar:
            if workers == 1:
                for product_id in product_ids:
                    work(product_id)
                    bar.update()
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for _ in pool.map(work, product_ids):
                        bar.update()
        seconds = time.perf_counter() - started
        results.append(Round(seconds, counter.count, offers_answered(simulator) - before))
    return PassResult(
        name=name,
        products=len(product_ids),
        rounds=results,
        current=current_offers(),
        snapshots=snapshot_figures(),
    )


def offers_answered(simulator) -> int:
    return sum(simulator.stats()["offers"].values())


def reset_offer_tables() -> None:
    """Every pass starts from the same state: registered products, no offers, no history, no
    lease rows (their first claim costs an INSERT). The shared access-token row stays: the
    service refuses a second token while one is valid."""
    from pricing.models import Lease, Offer, OfferObservation, ProductSnapshot, ProductTracking

    Lease.objects.all().delete()
    OfferObservation.objects.all().delete()
    Offer.objects.all().delete()
    ProductSnapshot.objects.all().delete()
    ProductTracking.objects.update(last_synced_at=None, last_sync_error="", sync_failures=0)


def current_offers() -> CurrentOffers:
    from pricing.models import Offer
    from products.models import Product

    found: dict[uuid.UUID, set] = {pk: set() for pk in Product.objects.values_list("pk", flat=True)}
    rows = Offer.objects.current().values_list("product_id", "offer_id", "price", "items_in_stock")
    for product_id, offer_id, price, stock in rows:
        found[product_id].add((offer_id, price, stock))
    return {pk: frozenset(offers) for pk, offers in found.items()}


def snapshot_figures() -> dict[uuid.UUID, tuple]:
    """Each product's snapshots' figures (a product synced once has exactly one)."""
    from pricing.models import ProductSnapshot

    figures: dict[uuid.UUID, list] = {}
    fields = ["offer_count", "total_stock", "min_price", "max_price", "mean_price", "median_price"]
    for product_id, *values in ProductSnapshot.objects.values_list("product_id", *fields):
        figures.setdefault(product_id, []).append(tuple(values))
    return {pk: tuple(sorted(rows, key=repr)) for pk, rows in figures.items()}


# --- The two syncs -------------------------------------------------------------------------------


def ours(product_id: uuid.UUID) -> None:
    from pricing.services import SyncResult, offers_sync

    outcome = offers_sync(product_id=product_id)
    if outcome.result != SyncResult.SYNCED:
        raise RuntimeError(f"our sync of {product_id} did not succeed: {outcome}")


def naive(product_id: uuid.UUID) -> None:
    """The baseline: what a first attempt looks like. One product at a time, every offer
    deleted and created again, one save() per row, an observation for every offer whether or
    not it changed, and the snapshot computed from rows loaded back. It does get one
    transaction per product (without one it would pay a commit per row, which would flatter
    our ratio) and uses the same HTTP client as ours, so the difference is the database work."""
    from django.db import transaction
    from django.utils import timezone

    from pricing.models import Offer, OfferObservation, ProductSnapshot, ProductTracking
    from pricing.offers_client import get_offers_client
    from pricing.statistics import offer_statistics
    from products.models import Product

    product = Product.objects.get(pk=product_id)
    answer = get_offers_client().get_offers(product_id=product.pk)
    now = timezone.now()
    with transaction.atomic():
        for old in Offer.objects.filter(product=product):
            old.delete()
        for data in answer:
            offer = Offer(
                product=product,
                offer_id=data.id,
                price=data.price,
                items_in_stock=data.items_in_stock,
                is_current=True,
                first_seen_at=now,
                last_seen_at=now,
            )
            offer.save()
            OfferObservation(
                offer=offer,
                product=product,
                observed_at=now,
                price=data.price,
                items_in_stock=data.items_in_stock,
            ).save()
        rows = list(Offer.objects.filter(product=product))
        stats = offer_statistics((row.price, row.items_in_stock) for row in rows)
        ProductSnapshot(product=product, taken_at=now, **asdict(stats)).save()
        ProductTracking.objects.filter(pk=product.pk).update(last_synced_at=now)


# --- Setup and report ----------------------------------------------------------------------------


def register_products(count: int) -> list[uuid.UUID]:
    """Create `count` products and register them with the simulator (not measured).

    bulk_create sends no post_save, so no registration task reaches any Huey queue (pricing's
    tracking rows are written here); the registrations go through our service, eight at a
    time to save waiting on latency.
    """
    from django.db import connections
    from tqdm import tqdm

    from accounts.models import User
    from pricing.models import ProductTracking
    from pricing.services import product_register
    from products.models import Product

    owner = User.objects.create_user(email="bench@example.com", password=None)
    products = Product.objects.bulk_create(
        Product(owner=owner, name=f"Bench product {i:05}") for i in range(count)
    )
    ProductTracking.objects.bulk_create(ProductTracking(product=product) for product in products)
    ids = [product.pk for product in products]

    def register(product_id: uuid.UUID) -> bool:
        try:
            return product_register(product_id=product_id).registered
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        registered = list(
            tqdm(pool.map(register, ids), total=count, desc="registering", leave=False)
        )
    if not all(registered):
        raise SystemExit(f"{registered.count(False)} products could not be registered")
    return ids


def differences(reference: PassResult, other: PassResult) -> list[str]:
    problems = []
    for pk, offers in reference.current.items():
        if other.current.get(pk) != offers:
            problems.append(f"product {pk}: current offers differ")
    for pk, figures in reference.snapshots.items():
        if other.snapshots.get(pk) != figures:
            problems.append(f"product {pk}: snapshot figures differ")
    if len(reference.snapshots) != len(other.snapshots):
        problems.append("a pass left snapshots for a different set of products")
    return problems


def report(args: argparse.Namespace, database: str, results: list[PassResult]) -> int:
    print(
        f"\n{args.products:,} products, simulator latency {args.latency_ms:g} ms, {database}.\n"
        f"Each pass starts from empty offer tables and syncs every product {args.rounds} "
        "time(s): round 1 finds every offer new, later rounds get the same answers again.\n"
    )
    header = f"{'pass':<26}{'round':>7}{'products/s':>12}{'queries/product':>17}"
    print(header + f"{'seconds':>9}{'GET offers':>12}")
    for result in results:
        for number, round_ in enumerate(result.rounds, 1):
            print(
                f"{result.name:<26}{number:>7}{result.per_second([round_]):>12.1f}"
                f"{result.queries_per_product([round_]):>17.1f}{round_.seconds:>9.1f}"
                f"{round_.offer_requests:>12}"
            )
    reference = results[0]
    failed = False
    for result in results[1:]:
        problems = differences(reference, result)
        if problems:
            failed = True
            print(f"\n{result.name} left different results from {reference.name}:")
            for problem in problems[:10]:
                print(f"  {problem}")
            if len(problems) > 10:
                print(f"  … and {len(problems) - 10} more")
    if failed:
        print("\nNo ratio: the passes did not store the same offers.")
        return 1
    offers = sum(len(o) for o in reference.current.values())
    print(
        f"\nEvery pass left the same {offers:,} current offers and the same snapshot figures "
        f"for all {args.products:,} products."
    )
    ours_pass, naive_pass = results[0], results[1]
    print("Ours vs naive, both sequential (ours/naive products per second; naive/ours queries):")
    spans = [("round 1", slice(0, 1))]
    if args.rounds > 1:
        spans += [("later rounds", slice(1, None)), ("all rounds", slice(None))]
    for label, span in spans:
        mine, theirs = ours_pass.rounds[span], naive_pass.rounds[span]
        speed = ours_pass.per_second(mine) / naive_pass.per_second(theirs)
        queries = naive_pass.queries_per_product(theirs) / ours_pass.queries_per_product(mine)
        print(f"  {label:<13} {speed:5.2f}× the products per second, {queries:5.2f}× fewer queries")
    if len(results) > 2:
        # What the deployment does: one sync task per product, as many at once as consumers.
        threaded = results[2]
        speed = threaded.per_second(threaded.rounds) / naive_pass.per_second(naive_pass.rounds)
        print(f"{threaded.name} vs the sequential naive baseline, all rounds:")
        print(f"  {'all rounds':<13} {speed:5.2f}× the products per second")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from offers_simulator.testing import run_simulator

    refresh_token = f"bench-{uuid.uuid4().hex}"
    simulator_args = ["--latency-ms", f"{args.latency_ms:g}", "--tick", "3600"]
    simulator_args += ["--seed", str(args.seed)]
    with (
        run_simulator(*simulator_args, refresh_token=refresh_token) as simulator,
        throwaway_database(args.database_url, prefix="bench_sync") as database_url,
    ):
        setup_django(
            database_url=database_url,
            offers_url=simulator.base_url,
            refresh_token=refresh_token,
        )
        from django.db import connection

        database = f"{connection.vendor} ({connection.settings_dict['NAME']}, deleted afterwards)"
        print(f"Registering {args.products:,} products with the simulator …", file=sys.stderr)
        ids = register_products(args.products)
        results = [
            run_pass("ours (offers_sync)", ours, ids, simulator, rounds=args.rounds),
            run_pass("naive baseline", naive, ids, simulator, rounds=args.rounds),
        ]
        if args.workers > 1:
            results.append(
                run_pass(
                    f"ours, {args.workers} threads",
                    ours,
                    ids,
                    simulator,
                    rounds=args.rounds,
                    workers=args.workers,
                )
            )
        return report(args, database, results)


if __name__ == "__main__":
    sys.exit(main())
