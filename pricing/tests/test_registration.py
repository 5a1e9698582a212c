"""Registration with the Offers service, against the simulator over HTTP."""

import pytest
from django.db import transaction

from pricing.models import ProductTracking, RegistrationState
from pricing.services import (
    REGISTRATION_MAX_ATTEMPTS,
    product_register,
    product_register_again,
    products_due_for_registration,
    registration_backoff,
)
from products.models import Product
from products.services import product_create, product_suspend

pytestmark = pytest.mark.django_db

Registration = RegistrationState


def test_201_registers(product, offers_simulator):
    outcome = product_register(product_id=product.pk)
    product.refresh_from_db()
    assert outcome.registered
    assert product.tracking.registration_state == Registration.REGISTERED
    assert product.tracking.registered_at is not None
    assert offers_simulator.stats()["register"] == {"201": 1}


def test_409_means_registered(product, offers_simulator):
    assert product_register(product_id=product.pk).registered
    ProductTracking.objects.filter(pk=product.pk).update(registration_state=Registration.PENDING)
    assert product_register(product_id=product.pk).registered
    product.refresh_from_db()
    assert product.tracking.registration_state == Registration.REGISTERED
    assert offers_simulator.stats()["register"] == {"201": 1, "409": 1}


def test_401_gets_a_new_token_and_registers(product, offers_simulator):
    # Obtain a token through another product, then make the service forget every token.
    assert product_register(product_id=product_create(owner=product.owner, name="a").pk).registered
    offers_simulator.expire_tokens()
    assert product_register(product_id=product.pk).registered
    stats = offers_simulator.stats()
    assert stats["register"].get("401") == 1
    assert stats["auth"] == {"201": 2}


def test_service_down_is_retried_with_backoff_then_registers(product, offers_simulator, settings):
    settings.OFFERS_RETRIES = 0
    offers_simulator.set_faults(error_rate=1.0, error_statuses=[503])
    outcome = product_register(product_id=product.pk)
    product.refresh_from_db()
    assert not outcome.registered
    assert outcome.retry_in == registration_backoff(1)
    assert product.tracking.registration_state == Registration.PENDING
    assert product.tracking.registration_attempts == 1
    error = product.tracking.registration_error
    assert "503" in error or "unavailable" in error
    assert product.tracking.registration_next_attempt_at is not None
    assert products_due_for_registration() == []  # not before its backoff has passed

    offers_simulator.reset()
    ProductTracking.objects.filter(pk=product.pk).update(registration_next_attempt_at=None)
    assert products_due_for_registration() == [product.pk]
    assert product_register(product_id=product.pk).registered
    product.refresh_from_db()
    assert product.tracking.registration_error == ""
    assert product.tracking.registration_state == Registration.REGISTERED


def test_retries_run_out_and_the_product_fails(product, offers_simulator, settings):
    settings.OFFERS_RETRIES = 0
    offers_simulator.set_faults(error_rate=1.0, error_statuses=[503])
    ProductTracking.objects.filter(pk=product.pk).update(
        registration_attempts=REGISTRATION_MAX_ATTEMPTS - 1
    )
    outcome = product_register(product_id=product.pk)
    product.refresh_from_db()
    assert not outcome.registered and outcome.retry_in is None
    assert product.tracking.registration_state == Registration.FAILED


def test_422_fails_with_the_services_message(user, offers_simulator):
    # The service wants a string description; ours is always one, so the 422 has to be forced:
    # a name the simulator refuses would be a fake, so send a product id it cannot parse.
    product = product_create(owner=user, name="P")
    from pricing import offers_client

    client = offers_client.get_offers_client()
    original = client.register_product

    def register_with_a_bad_id(*, product_id, name, description):
        return original(product_id="not-a-uuid", name=name, description=description)

    client.register_product = register_with_a_bad_id
    try:
        outcome = product_register(product_id=product.pk)
    finally:
        client.register_product = original
    product.refresh_from_db()
    assert not outcome.registered and outcome.retry_in is None
    assert product.tracking.registration_state == Registration.FAILED
    assert product.tracking.registration_error


def test_register_again_resets_a_failed_product(product, offers_simulator):
    ProductTracking.objects.filter(pk=product.pk).update(
        registration_state=Registration.FAILED, registration_error="x", registration_attempts=8
    )
    product_register_again(product=product)
    product.refresh_from_db()
    assert product.tracking.registration_state == Registration.PENDING
    assert product.tracking.registration_attempts == 0
    assert product_register(product_id=product.pk).registered


def test_a_suspended_product_is_not_registered(product, offers_simulator):
    product_suspend(product=product, reason="spam")
    assert not product_register(product_id=product.pk).registered
    assert offers_simulator.stats().get("register", {}) == {}


def test_creation_enqueues_registration_after_commit_and_syncs(
    user, offers_simulator, huey_immediate, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = product_create(owner=user, name="Kettle")
        # Tracked from its creation, in its transaction; registered once that commits.
        assert product.tracking.registration_state == Registration.PENDING
        assert offers_simulator.stats().get("register", {}) == {}
    product.refresh_from_db()
    assert product.tracking.registration_state == Registration.REGISTERED
    assert product.tracking.last_synced_at is not None  # synced right after registering
    assert product.snapshots.count() == 1


def test_a_rolled_back_creation_sends_no_registration(
    user, offers_simulator, huey_immediate, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                product_create(owner=user, name="Never")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not Product.objects.exists()
    assert offers_simulator.stats().get("register", {}) == {}
