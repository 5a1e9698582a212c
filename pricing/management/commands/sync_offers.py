"""Sync offers now, in this process, with a progress bar: all products or one."""

import uuid

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pricing import services
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
        if product is not None:
            if not Product.objects.filter(pk=product).exists():
                raise CommandError(f"There is no product with the id {product}.")
            product_ids = [product]
        else:
            product_ids = None
        plan = services.sync_run_start(product_ids=product_ids)
        if plan is None:
            raise CommandError(
                "Another sync run is in progress (the worker's, or another sync_offers). "
                "Try again when it has finished."
            )
        if not plan.product_ids:
            self.stdout.write(
                "Nothing to sync: no active registered product"
                + (f" with the id {product}." if product else ".")
            )
            return
        counts = dict.fromkeys(SyncResult, 0)
        failures = []
        with tqdm(
            plan.product_ids, unit="product", disable=verbosity == 0, file=self.stderr._out
        ) as progress:
            for product_id in progress:
                outcome = self._sync(product_id, run_id=plan.run.pk)
                counts[outcome.result] += 1
                if outcome.result in (SyncResult.FAILED, SyncResult.NEEDS_REGISTRATION):
                    failures.append((product_id, outcome.error))
                progress.set_postfix(failed=len(failures), refresh=False)
        summary = (
            f"Synced {counts[SyncResult.SYNCED]} of {len(plan.product_ids)} products; "
            f"{len(failures)} failed, {counts[SyncResult.SKIPPED]} skipped "
            f"(sync run {plan.run.pk})."
        )
        for product_id, error in failures:
            self.stderr.write(f"  {product_id}: {error}")
        style = self.style.ERROR if failures else self.style.SUCCESS
        self.stdout.write(style(summary))
        if failures and len(failures) == len(plan.product_ids):
            raise CommandError("Every sync failed; is the Offers service reachable?")

    def _sync(self, product_id, *, run_id: int) -> services.SyncOutcome:
        """Sync one product; one the service forgot is registered again and synced at once,
        here, as the worker's tasks would (its outcome in the run stays the first sync's)."""
        outcome = services.offers_sync(product_id=product_id, run_id=run_id)
        if outcome.result is not SyncResult.NEEDS_REGISTRATION:
            return outcome
        registration = services.product_register(product_id=product_id)
        if not registration.registered:
            return services.SyncOutcome(
                SyncResult.FAILED, error=f"Registering again failed: {registration.error}"
            )
        return services.offers_sync(product_id=product_id)
