"""The one signal receiver of the project (DESIGN §2): products knows nothing of pricing, so
pricing listens for new products, starts tracking them and registers them once their
transaction commits."""

from django.db import transaction

from pricing.models import ProductTracking
from pricing.tasks import register_product_task
from products.models import Product


def track_new_product(sender, instance: Product, created: bool, raw: bool = False, **kwargs):
    if not created:
        return
    # In the product's own transaction (products.services.product_create opens one): a
    # product never exists without the row that says where it stands with the service.
    ProductTracking.objects.create(product=instance)
    if raw:  # loaddata, which must not call out
        return
    product_id = instance.pk
    # After commit: a rolled-back creation must not be registered, and the worker must be able
    # to read the row when the task runs.
    transaction.on_commit(lambda: register_product_task(product_id))
