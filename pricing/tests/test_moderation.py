"""Staff moderate products in the admin (suspend with a reason, unsuspend, register again, sync
now), and a suspended product or a deactivated owner's products are neither registered nor
synced until staff lift it."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from accounts.services import user_deactivate, user_reactivate
from pricing import tasks
from pricing.models import ProductTracking, RegistrationState, SyncRun
from pricing.services import (
    RegistrationRequestOutcome,
    SyncRequestOutcome,
    product_registration_request,
    product_sync_request,
    products_due_for_registration,
)
from pricing.status import SyncState, sync_state_filter, sync_status
from products.models import Product
from products.services import product_create, product_suspend, product_unsuspend

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:products_product_changelist"


def act(staff_client, action: str, products, **data):
    return staff_client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [p.pk for p in products], **data},
        follow=True,
    )


def audit_messages(product) -> list[str]:
    entries = LogEntry.objects.filter(object_id=str(product.pk)).order_by("action_time", "pk")
    return [entry.change_message for entry in entries]


# --- Actions --------------------------------------------------------------------------------------


def test_suspend_asks_for_the_reason_the_owner_will_see(staff_client, make_product):
    product = make_product("Fake watch", [(100, 1)])
    page = act(staff_client, "suspend", [product]).content.decode()
    assert "Suspend products" in page and "Shown to the owner" in page and "Fake watch" in page
    product.refresh_from_db()
    assert not product.is_suspended
    page = act(staff_client, "suspend", [product], reason="").content.decode()
    assert "This field is required" in page
    product.refresh_from_db()
    assert not product.is_suspended


def test_suspend_and_unsuspend_through_the_services_with_an_audit(
    staff_client, staff, make_product
):
    product, other = make_product("Fake watch", [(100, 1)]), make_product("Kettle", [(5, 1)])

    page = act(staff_client, "suspend", [product], reason=" Counterfeit brand ").content.decode()

    assert "Suspended 1 product(s)" in page
    product.refresh_from_db()
    other.refresh_from_db()
    assert product.is_suspended and product.suspension_reason == "Counterfeit brand"
    assert not other.is_suspended
    act(staff_client, "unsuspend", [product, other])
    product.refresh_from_db()
    assert not product.is_suspended and product.suspension_reason == ""
    assert audit_messages(product) == ["Suspended. Reason: Counterfeit brand", "Unsuspended."]
    assert audit_messages(other) == []  # it was not suspended: nothing was done to it
    assert LogEntry.objects.filter(object_id=str(product.pk)).first().user == staff
    page = staff_client.get(
        reverse("admin:products_product_change", args=[product.pk])
    ).content.decode()
    assert "Suspended. Reason: Counterfeit brand" in page and staff.email in page


def test_register_again_queues_a_registration_that_syncs(
    staff_client, make_product, set_tracking, offers_simulator, huey_immediate
):
    product = make_product("Kettle")
    set_tracking(product, registration_state="failed", registration_error="422: bad name")

    page = act(staff_client, "register_again", [product]).content.decode()

    assert "Registration requested for 1 product(s)" in page
    tracking = ProductTracking.objects.get(pk=product.pk)
    assert tracking.registration_state == RegistrationState.REGISTERED
    assert tracking.last_synced_at is not None  # synced at once
    assert audit_messages(product) == ["Registration requested."]
    # Rate-limited per product, whoever asks.
    set_tracking(product, registration_state="failed")
    page = act(staff_client, "register_again", [product]).content.decode()
    assert "Not queued, asked for moments ago: “Kettle”" in page
    assert audit_messages(product) == ["Registration requested."]


def test_sync_now_queues_syncs_and_says_which_were_not(
    staff_client, make_product, offers_simulator, huey_immediate
):
    registered = product_create(owner=make_product().owner, name="Registered")
    assert tasks.services.product_register(product_id=registered.pk).registered
    pending = make_product("Pending")
    suspended = product_suspend(product=make_product("Banned", [(1, 1)]), reason="x")

    page = act(staff_client, "sync_now", [registered, pending, suspended]).content.decode()

    assert "Sync requested for 1 product(s)" in page
    assert "Not queued, not registered: “Pending”" in page
    assert "Not queued, suspended: “Banned”" in page
    assert ProductTracking.objects.get(pk=registered.pk).last_synced_at is not None
    assert audit_messages(registered) == ["Sync requested."]
    assert audit_messages(pending) == audit_messages(suspended) == []


def test_products_are_changed_by_actions_only(staff_client, make_product, user):
    product = make_product("Kettle")
    url = reverse("admin:products_product_change", args=[product.pk])
    page = staff_client.get(url).content.decode()
    assert 'name="_save"' not in page and 'name="is_suspended"' not in page
    staff_client.post(url, {"name": "Renamed", "is_suspended": "on", "owner": user.pk})
    product.refresh_from_db()
    assert product.name == "Kettle" and not product.is_suspended
    assert staff_client.get(reverse("admin:products_product_add")).status_code == 403


# --- Filters, search, columns -------------------------------------------------------------------


def listed(staff_client, **params) -> set[str]:
    """The names of the products the change list shows."""
    page = staff_client.get(reverse(CHANGELIST), params).content.decode()
    return set(re.findall(r'class="field-name"><a href="[^"]*">([^<]+)</a>', page))


def listed_page(staff_client, **params) -> str:
    return staff_client.get(reverse(CHANGELIST), params).content.decode()


@pytest.fixture
def catalogue(make_product, set_tracking, other_user):
    synced = make_product("Synced", [(100, 2), (300, 1)])
    failing = make_product("Failing", [(100, 1)], owner=other_user)
    set_tracking(failing, sync_failures=3, last_sync_error="503 from the service")
    failed = make_product("Unregistrable")
    set_tracking(failed, registration_state="failed", registration_error="422")
    banned = product_suspend(product=make_product("Banned", [(5, 1)]), reason="Counterfeit")
    return {"synced": synced, "failing": failing, "failed": failed, "banned": banned}


@pytest.mark.parametrize(
    "params, shown",
    [
        ({"state": "synced"}, {"Synced"}),
        ({"state": "failing"}, {"Failing"}),
        ({"state": "registration_failed"}, {"Unregistrable"}),
        ({"state": "suspended"}, {"Banned"}),
        ({"tracking__registration_state__exact": "failed"}, {"Unregistrable"}),
        ({"is_suspended__exact": "1"}, {"Banned"}),
        ({"q": "regist"}, {"Unregistrable"}),
        ({"q": "bob@example"}, {"Failing"}),
    ],
)
def test_filters_and_search(staff_client, catalogue, params, shown):
    assert listed(staff_client) == {"Synced", "Failing", "Unregistrable", "Banned"}
    assert listed(staff_client, **params) == shown


def test_filter_by_owner(staff_client, catalogue, other_user):
    assert listed(staff_client, owner__id__exact=other_user.pk) == {"Failing"}


def test_filter_by_owners_deactivated(staff_client, catalogue, other_user):
    user_deactivate(user=other_user)
    assert listed(staff_client, owner_active="no") == {"Failing"}


def test_search_by_id(staff_client, catalogue):
    assert listed(staff_client, q=str(catalogue["banned"].pk)) == {"Banned"}


def test_columns_show_mean_price_offers_last_sync_and_failures(
    staff_client, catalogue, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        page = listed_page(staff_client, q="Synced")
    assert 'class="field-mean_price">200.00 ' in page
    assert 'class="field-current_offers">2<' in page
    assert 'class="field-sync_state">Synced<' in page
    page = listed_page(staff_client, q="Failing")
    assert 'class="field-sync_failures">3<' in page


def test_the_product_page_shows_its_current_offers(staff_client, catalogue):
    url = reverse("admin:products_product_change", args=[catalogue["synced"].pk])
    page = staff_client.get(url).content.decode()
    assert "current offers" in page.lower() and "300" in page


# --- The filter agrees with the state every interface shows --------------------------------------


def test_sync_state_filter_agrees_with_sync_status(make_product, set_tracking, user):
    now = timezone.now()
    make_product("synced", [(1, 1)])
    make_product("stale", [(1, 1)], synced_ago=timedelta(hours=1))
    failing = make_product("failing after success", [(1, 1)])
    set_tracking(failing, sync_failures=1, last_sync_error="timeout")
    never = make_product("failing from the start")
    set_tracking(never, registration_state="registered", last_sync_error="timeout")
    awaiting = make_product("awaiting")
    set_tracking(awaiting, registration_state="registered")
    make_product("registering")
    failed = make_product("failed")
    set_tracking(failed, registration_state="failed")
    product_suspend(product=make_product("suspended", [(1, 1)]), reason="x")
    Product.objects.bulk_create([Product(owner=user, name="untracked")])

    products = list(Product.objects.select_related("tracking"))
    seen = set()
    for state in SyncState:
        expected = {p.name for p in products if sync_status(p, now=now).state is state}
        filtered = set(
            Product.objects.filter(sync_state_filter(state, now=now)).values_list("name", flat=True)
        )
        assert filtered == expected, state
        assert expected, f"no product in {state}: the test misses a case"
        seen |= filtered
    assert seen == {p.name for p in products}


# --- Suspended products and deactivated owners are left alone -------------------------------------


@pytest.fixture
def registered(user, offers_simulator):
    products = [product_create(owner=user, name=f"P{i}") for i in range(2)]
    for product in products:
        assert tasks.services.product_register(product_id=product.pk).registered
    return products


def test_a_deactivated_owners_products_are_not_synced_until_reactivated(
    registered, user, huey_immediate
):
    user_deactivate(user=user)
    tasks.sync_run_task()
    assert SyncRun.objects.get().products_total == 0
    assert not ProductTracking.objects.filter(last_synced_at__isnull=False).exists()
    assert tasks.services.offers_sync(product_id=registered[0].pk).result == "skipped"

    user_reactivate(user=user)
    SyncRun.objects.all().delete()
    tasks.sync_run_task()
    assert SyncRun.objects.get().products_synced == 2


def test_a_deactivated_owners_products_are_not_registered_until_reactivated(
    user, offers_simulator, huey_immediate
):
    product = product_create(owner=user, name="New")
    user_deactivate(user=user)
    assert not tasks.services.product_register(product_id=product.pk).registered
    assert products_due_for_registration() == []
    assert offers_simulator.stats().get("register", {}) == {}

    user_reactivate(user=user)
    assert products_due_for_registration() == [product.pk]
    tasks.sync_run_task()  # the run retries due registrations
    assert ProductTracking.objects.get(pk=product.pk).is_registered


def test_an_unsuspended_product_is_synced_by_the_next_run(registered, huey_immediate):
    product_suspend(product=registered[0], reason="Review")
    tasks.sync_run_task()
    assert SyncRun.objects.get().products_total == 1
    product_unsuspend(product=registered[0])
    SyncRun.objects.all().delete()
    tasks.sync_run_task()
    assert SyncRun.objects.get().products_total == 2


def test_requests_for_a_deactivated_owners_product_are_refused(registered, user):
    user_deactivate(user=user)
    product = Product.objects.get(pk=registered[0].pk)
    assert product_sync_request(product=product).outcome is SyncRequestOutcome.OWNER_INACTIVE
    outcome = product_registration_request(product=product).outcome
    assert outcome is RegistrationRequestOutcome.OWNER_INACTIVE


def test_a_suspension_needs_a_reason(make_product):
    with pytest.raises(ValueError, match="reason"):
        product_suspend(product=make_product(), reason="  ")


def test_active_products_and_active_tracking_agree(make_product, other_user):
    make_product("Mine")
    product_suspend(product=make_product("Banned"), reason="x")
    make_product("Theirs", owner=other_user)
    user_deactivate(user=other_user)
    assert set(Product.objects.active().values_list("pk", flat=True)) == set(
        ProductTracking.objects.active().values_list("pk", flat=True)
    )
    assert list(Product.objects.active().values_list("name", flat=True)) == ["Mine"]
