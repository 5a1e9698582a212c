import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pricing.offers_client import OfferData
from pricing.services import offers_store
from products.services import product_create


@pytest.fixture
def make_product(user):
    """make_product(name, prices=[(price, stock), ...], owner=...) with one sync stored."""

    def make(name="Product", prices=(), *, owner=None, synced_ago=timedelta(minutes=1), **kw):
        product = product_create(owner=owner or user, name=name, **kw)
        if prices:
            product.registration_state = product.RegistrationState.REGISTERED
            product.save(update_fields=["registration_state"])
            offers_store(
                product=product,
                offers=[OfferData(uuid.uuid4(), price, stock) for price, stock in prices],
                at=timezone.now() - synced_ago,
            )
            product.refresh_from_db()
        return product

    return make


HTMX = {"HX-Request": "true"}
