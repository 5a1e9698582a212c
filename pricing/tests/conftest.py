import pytest

from products.models import Product
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
    assert product.registration_state == Product.RegistrationState.REGISTERED
    return product
