"""The one signal receiver of the project (DESIGN §2): products knows nothing of pricing, so
pricing listens for new products and registers them once their transaction commits."""

from django.db import transaction

from pricing.tasks import register_product_task
from products.models import Product


def register_new_product(sender, instance: Product, created: bool, raw: bool = False, **kwargs):
    if not created or raw:  # raw: loaddata, which must not call out
        return
    product_id = str(instance.pk)
    # After commit: a rolled-back creation must not be registered, and the worker must be able
    # to read the row when the task runs.
    transaction.on_commit(lambda: register_product_task(product_id))
