"""Sync offers now, in this process, with a progress bar: all products or one."""

import uuid
from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pricing import services
from pricing.models import ProductTracking
from pricing.services import SyncResult
from products.models import Product


class Command(BaseCommand):
    help = (
        "Fetch the offers of every active registered product (or of --product ID) from the "
        "Offers service now, in this process, and store them. The worker does this on its own "
        "every OFFERS_SYNC_INTERVAL seconds; this is for operators."
    )

    def add_arguments(self, parser):
        parser.add_argument("--product", type=uuid.UUID, metavar="ID", help="one product's id")

    def handle(self, *args, product=None, verbosity=1, **options):
        if product is not None and not Product.objects.filter(pk=product).exists():
            raise CommandError(f"There is no product with the id {product}.")
        product_ids = None if product is None else [product]
        run = services.sync_run_start()
        if run is None:
            raise CommandError(
                "Another sync run is in progress (the worker's, or another sync_offers). "
                "Try again when it has finished."
            )
        tracked = ProductTracking.objects.active().registered()
        if product_ids is not None:
            tracked = tracked.filter(pk__in=product_ids)
        counts = Counter()
        failures = []
        with tqdm(
            total=tracked.count(), unit="product", disable=verbosity == 0, file=self.stderr._out
        ) as progress:

            def sync(batch: list[uuid.UUID]) -> None:
                # In this process, batch after batch, as the worker's tasks would.
                outcomes = services.offers_sync_batch(product_ids=batch, run_id=run.pk)
                for product_id, outcome in outcomes.items():
                    if outcome.result is SyncResult.NEEDS_REGISTRATION:
                        outcome = self._register_and_sync(product_id)
                    counts[outcome.result] += 1
                    if outcome.result is SyncResult.FAILED:
                        failures.append((product_id, outcome.error))
                progress.update(len(batch))
                progress.set_postfix(failed=len(failures), refresh=False)

            total = services.sync_run_enqueue(run=run, enqueue=sync, product_ids=product_ids)
        if not total:
            self.stdout.write(
                "Nothing to sync: no active registered product"
                + (f" with the id {product}." if product else ".")
            )
            return
        summary = (
            f"Synced {counts[SyncResult.SYNCED]} of {total} products; {len(failures)} failed, "
            f"{counts[SyncResult.SKIPPED]} skipped (sync run {run.pk})."
        )
        for product_id, error in failures:
            self.stderr.write(f"  {product_id}: {error}")
        style = self.style.ERROR if failures else self.style.SUCCESS
        self.stdout.write(style(summary))
        if failures and len(failures) == total:
            raise CommandError("Every sync failed; is the Offers service reachable?")

    def _register_and_sync(self, product_id: uuid.UUID) -> services.SyncOutcome:
        """A product the service forgot is registered again and synced at once, here, as the
        worker's tasks would (its outcome in the run stays the first sync's)."""
        registration = services.product_register(product_id=product_id)
        if not registration.registered:
            return services.SyncOutcome(
                SyncResult.FAILED, error=f"Registering again failed: {registration.error}"
            )
        return services.offers_sync(product_id=product_id)
