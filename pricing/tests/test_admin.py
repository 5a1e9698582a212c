import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from pricing.models import Offer, ProductSnapshot
from pricing.offers_client import OfferData

pytestmark = pytest.mark.django_db


@pytest.fixture
def product_with_history(product, make_sync_run):
    now = timezone.now()
    Offer.objects.create(
        product=product,
        offer_id=uuid.uuid4(),
        price=100,
        items_in_stock=2,
        first_seen_at=now,
        last_seen_at=now,
    )
    ProductSnapshot.objects.create(
        product=product,
        taken_at=now,
        offer_count=1,
        total_stock=2,
        min_price=100,
        max_price=100,
        mean_price=100,
        median_price=100,
        weighted_mean_price=100,
    )
    make_sync_run(started_at=now, finished_at=now, products_total=1, products_synced=1)
    return product


def test_admin_pages_list_products_offers_snapshots_and_runs(staff_client, product_with_history):
    for name in ["products_product", "pricing_offer", "pricing_productsnapshot", "pricing_syncrun"]:
        response = staff_client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name
    page = staff_client.get(reverse("admin:products_product_changelist")).content.decode()
    assert product_with_history.name in page


def test_product_change_page_shows_current_offers(staff_client, product_with_history):
    url = reverse("admin:products_product_change", args=[product_with_history.pk])
    page = staff_client.get(url).content.decode()
    assert "current offers" in page.lower()
    assert "100" in page


def test_data_from_the_service_is_read_only(staff_client, product_with_history):
    offer = Offer.objects.get()
    assert staff_client.get(reverse("admin:pricing_offer_add")).status_code == 403
    response = staff_client.post(
        reverse("admin:pricing_offer_change", args=[offer.pk]), {"price": 1}
    )
    assert response.status_code == 403
    offer.refresh_from_db()
    assert offer.price == 100


def test_staff_see_alert_rules_and_firings_read_only(staff_client, product_with_history):
    from pricing.models import AlertFiring, AlertRule
    from pricing.services import alert_rule_create, offers_store

    alert_rule_create(
        owner=product_with_history.owner,
        product_id=product_with_history.pk,
        spec={"kind": "price_below", "figure": "cheapest", "threshold": 95},
    )
    offers_store(
        product=product_with_history,
        offers=[OfferData(uuid.uuid4(), 90, 1)],
        at=timezone.now(),
    )
    firing = AlertFiring.objects.get()
    for name in ["pricing_alertrule", "pricing_alertfiring"]:
        assert staff_client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    page = staff_client.get(reverse("admin:pricing_alertfiring_change", args=[firing.pk]))
    assert page.status_code == 200 and "below 95" in page.content.decode()
    rule = AlertRule.objects.get()
    response = staff_client.post(
        reverse("admin:pricing_alertrule_change", args=[rule.pk]), {"threshold": 1}
    )
    assert response.status_code == 403
