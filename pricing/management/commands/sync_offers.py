"""Sync offers now, in this process, with a progress bar: all products or one."""

import uuid

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pricing import services
from pricing.services import SyncStatus
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
        counts = dict.fromkeys(SyncStatus, 0)
        failures = []
        with tqdm(
            plan.product_ids, unit="product", disable=verbosity == 0, file=self.stderr._out
        ) as progress:
            for product_id in progress:
                outcome = services.offers_sync(product_id=product_id, run_id=plan.run.pk)
                counts[outcome.status] += 1
                if outcome.status == SyncStatus.FAILED:
                    failures.append((product_id, outcome.error))
                progress.set_postfix(failed=counts[SyncStatus.FAILED], refresh=False)
        summary = (
            f"Synced {counts[SyncStatus.SYNCED]} of {len(plan.product_ids)} products; "
            f"{counts[SyncStatus.FAILED]} failed, {counts[SyncStatus.SKIPPED]} skipped "
            f"(sync run {plan.run.pk})."
        )
        for product_id, error in failures:
            self.stderr.write(f"  {product_id}: {error}")
        style = self.style.ERROR if failures else self.style.SUCCESS
        self.stdout.write(style(summary))
        if failures and len(failures) == len(plan.product_ids):
            raise CommandError("Every sync failed; is the Offers service reachable?")
