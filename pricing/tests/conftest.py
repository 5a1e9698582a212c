import uuid

import pytest

from pricing.models import RegistrationState
from pricing.offers_client import OffersClient
from products.services import product_create


@pytest.fixture
def product(user):
    return product_create(owner=user, name="Espresso machine", description="Stainless steel")


@pytest.fixture
def registered_product(product, offers_simulator):
    """A product the simulator knows, registered through our own service."""
    from pricing.services import product_register

    assert product_register(product_id=product.pk).registered
    product.refresh_from_db()
    assert product.tracking.registration_state == RegistrationState.REGISTERED
    return product


@pytest.fixture
def make_client(offers_simulator):
    """OffersClient with the settings the fixture set, no backoff, and any overrides."""
    clients: list[OffersClient] = []

    def make(**overrides) -> OffersClient:
        client = OffersClient(**{"backoff": 0.0, **overrides})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def product_id(db, make_client) -> uuid.UUID:
    """A product registered with the simulator (this costs one auth and one register request)."""
    new_id = uuid.uuid4()
    assert make_client().register_product(product_id=new_id, name="Kettle", description="Hot.")
    return new_id


@pytest.fixture
def products(user):
    """50 products (created with their tracking rows, as product_create does; not registered)."""
    return [product_create(owner=user, name=f"Product {i:02}") for i in range(50)]
