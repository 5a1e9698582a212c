from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pricing.models import ProductTracking, SyncRun
from pricing.services import SYNC_RUN_LEASE

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_register_products_registers_the_pending_ones(product, offers_simulator):
    out, err = run("register_products")
    assert "Registered 1 of 1 products." in out
    assert "100%" in err  # the progress bar
    product.refresh_from_db()
    assert product.tracking.is_registered


def test_register_products_failed_retries_failed_ones(product, offers_simulator):
    ProductTracking.objects.filter(pk=product.pk).update(registration_state="failed")
    assert "Nothing to register." in run("register_products")[0]
    assert "Registered 1 of 1" in run("register_products", "--failed")[0]


def test_sync_offers_syncs_all_with_a_summary(registered_product, offers_simulator):
    out, err = run("sync_offers")
    assert "Synced 1 of 1 products; 0 failed, 0 skipped" in out
    assert "100%" in err
    assert SyncRun.objects.get().finished_at is not None
    registered_product.refresh_from_db()
    assert registered_product.tracking.last_synced_at is not None


def test_sync_offers_one_product(registered_product, offers_simulator):
    out, _ = run("sync_offers", "--product", str(registered_product.pk))
    assert "Synced 1 of 1" in out


def test_sync_offers_unknown_product_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no product with the id"):
        run("sync_offers", "--product", "00000000-0000-0000-0000-000000000000")


def test_sync_offers_reports_failures(registered_product, offers_simulator, settings):
    settings.OFFERS_RETRIES = 0
    offers_simulator.set_faults(error_rate=1.0, error_statuses=[503])
    with pytest.raises(CommandError, match="Every sync failed"):
        run("sync_offers")


def test_sync_offers_refuses_while_a_run_is_in_progress(registered_product):
    from pricing.leases import lease_claim

    lease_claim(name=SYNC_RUN_LEASE, seconds=60)
    with pytest.raises(CommandError, match="in progress"):
        run("sync_offers")
