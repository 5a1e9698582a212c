"""Benchmark: our batched sync (pricing.sync.offers_sync_batch) against a naive baseline.

    .venv/bin/python bench/sync.py --products 1000 --latency-ms 0 20 \
        --database-url postgres://postgres@127.0.0.1:5432/postgres

Starts its own Offers simulator and works in its own throwaway database (a SQLite file under
var/, or a fresh PostgreSQL database on the server given by --database-url), migrated here and
deleted at the end: the development database is never touched. It registers N products with the
simulator, then, at each latency, syncs every product with three passes, each starting from
empty offer tables and asking the same simulator the same questions:

- ours, batched: what one consumer's worker thread does with a run's batch tasks, one batch
  after another (OFFERS_SYNC_BATCH_SIZE products a batch, OFFERS_SYNC_CONCURRENCY calls at once);
- the naive baseline: one product after another, every offer deleted and created again;
- ours, one at a time: a batch of one per product, as "Sync now" does (and, in shape, the sync
  before batches: a claim, a call, a store per product).

The simulator runs with a one-hour tick, so every pass gets the same answers; before quoting a
ratio the benchmark checks that all passes left the same current offers (and the same snapshot
figures) for every product, and it refuses to print one if they differ.

Printed per pass: products per second (wall clock, HTTP included) and SQL queries per product
(every statement the pass sent, leases, runs and the shared token row included); then the ratios.
"""

from __future__ import annotations

import argparse
import itertools
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
        nargs="+",
        default=[0.0, 20.0],
        help="latencies the simulator adds to every API request, a set of passes each "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also run our batched sync with this many threads, batches in parallel, as an "
        "extra pass (default: 1, none)",
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
    if min(args.products, args.workers, args.rounds) < 1 or min(args.latency_ms) < 0:
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
    sync: Callable[[list[uuid.UUID]], None],
    product_ids: list[uuid.UUID],
    simulator,
    *,
    rounds: int,
    batch_size: int = 1,
    workers: int = 1,
) -> PassResult:
    """Empty the offer tables, sync every product `rounds` times with `sync`, `batch_size`
    products a call, and record what it left."""
    from django.db import connections
    from tqdm import tqdm

    reset_offer_tables()
    batches = [list(batch) for batch in itertools.batched(product_ids, batch_size)]
    results = []
    for number in range(1, rounds + 1):
        counter = QueryCounter()
        before = offers_answered(simulator)

        def work(batch: list[uuid.UUID], counter: QueryCounter = counter) -> int:
            try:
                with counter.counting():
                    sync(batch)
            finally:
                if workers > 1:
                    connections.close_all()  # this thread's connection
            return len(batch)

        label = f"{name}, round {number}/{rounds}"
        started = time.perf_counter()
        with tqdm(total=len(product_ids), desc=label, unit="product", leave=False) as bar:
            if workers == 1:
                for batch in batches:
                    bar.update(work(batch))
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for done in pool.map(work, batches):
                        bar.update(done)
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


def ours(batch: list[uuid.UUID]) -> None:
    from pricing.services import SyncResult, offers_sync_batch

    for product_id, outcome in offers_sync_batch(product_ids=batch).items():
        if outcome.result != SyncResult.SYNCED:
            raise RuntimeError(f"our sync of {product_id} did not succeed: {outcome}")


def naive(batch: list[uuid.UUID]) -> None:
    for product_id in batch:
        naive_one(product_id)


def naive_one(product_id: uuid.UUID) -> None:
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


def report(args: argparse.Namespace, latency_ms: float, results: list[PassResult]) -> bool:
    """Print one latency's passes and ratios; False (and no ratio) when their results differ."""
    print(f"\nSimulator latency {latency_ms:g} ms:")
    header = f"{'pass':<34}{'round':>7}{'products/s':>12}{'queries/product':>17}"
    print(header + f"{'seconds':>9}{'GET offers':>12}")
    for result in results:
        for number, round_ in enumerate(result.rounds, 1):
            print(
                f"{result.name:<34}{number:>7}{result.per_second([round_]):>12.1f}"
                f"{result.queries_per_product([round_]):>17.2f}{round_.seconds:>9.1f}"
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
        return False
    offers = sum(len(o) for o in reference.current.values())
    print(
        f"Every pass left the same {offers:,} current offers and the same snapshot figures "
        f"for all {args.products:,} products."
    )
    naive_pass = next(result for result in results if result.name == NAIVE)
    print("Against the naive baseline (products per second ×; queries per product ÷):")
    spans = [("round 1", slice(0, 1))]
    if args.rounds > 1:
        spans += [("later rounds", slice(1, None)), ("all rounds", slice(None))]
    for result in results:
        if result is naive_pass:
            continue
        for label, span in spans:
            mine, theirs = result.rounds[span], naive_pass.rounds[span]
            speed = result.per_second(mine) / naive_pass.per_second(theirs)
            queries = naive_pass.queries_per_product(theirs) / result.queries_per_product(mine)
            print(
                f"  {result.name:<34}{label:<13} {speed:6.2f}× the products per second, "
                f"{queries:6.2f}× fewer queries"
            )
    return True


NAIVE = "naive baseline"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from offers_simulator.testing import run_simulator

    refresh_token = f"bench-{uuid.uuid4().hex}"
    simulator_args = ["--tick", "3600", "--seed", str(args.seed)]
    with (
        run_simulator(*simulator_args, refresh_token=refresh_token) as simulator,
        throwaway_database(args.database_url, prefix="bench_sync") as database_url,
    ):
        setup_django(
            database_url=database_url,
            offers_url=simulator.base_url,
            refresh_token=refresh_token,
        )
        from django.conf import settings
        from django.db import connection

        database = f"{connection.vendor} ({connection.settings_dict['NAME']}, deleted afterwards)"
        print(f"Registering {args.products:,} products with the simulator …", file=sys.stderr)
        ids = register_products(args.products)
        size = settings.OFFERS_SYNC_BATCH_SIZE
        print(
            f"\n{args.products:,} products, {database}; batches of {size} "
            f"(OFFERS_SYNC_BATCH_SIZE), {settings.OFFERS_SYNC_CONCURRENCY} calls at once "
            f"(OFFERS_SYNC_CONCURRENCY).\nEach pass starts from empty offer tables and syncs "
            f"every product {args.rounds} time(s): round 1 finds every offer new, later rounds "
            "get the same answers again."
        )
        same = True
        for latency_ms in args.latency_ms:
            simulator.set_faults(latency_ms=latency_ms)
            results = [
                run_pass(
                    "ours, batched", ours, ids, simulator, rounds=args.rounds, batch_size=size
                ),
                run_pass(NAIVE, naive, ids, simulator, rounds=args.rounds),
                run_pass("ours, one at a time", ours, ids, simulator, rounds=args.rounds),
            ]
            if args.workers > 1:
                results.append(
                    run_pass(
                        f"ours, batched, {args.workers} threads",
                        ours,
                        ids,
                        simulator,
                        rounds=args.rounds,
                        batch_size=size,
                        workers=args.workers,
                    )
                )
            same = report(args, latency_ms, results) and same
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
