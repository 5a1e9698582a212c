"""End to end with a real `run_huey` consumer (Redis in CI, SQLite locally) and the simulator."""

import pytest
from django.utils import timezone

from offers_simulator.testing import run_simulator
from pricing.models import ProductSnapshot
from pricing.tasks import schedule_sync_runs
from products.models import Product
from products.services import product_create

pytestmark = pytest.mark.slow

FAST = {"OFFERS_RETRIES": "1", "OFFERS_RETRY_BACKOFF": "0.1", "OFFERS_READ_TIMEOUT": "3"}


def registered_and_synced(product_id):
    # Not "with offers": about one simulated product in ten starts with none, and a sync that
    # finds none is a success too (it stores an empty snapshot).
    product = Product.objects.get(pk=product_id)
    return product.tracking.is_registered and product.tracking.last_synced_at is not None


def test_a_created_product_is_registered_and_its_offers_arrive(
    user, offers_simulator, huey_consumer, wait_until
):
    huey_consumer(**FAST)
    product = product_create(owner=user, name="Kettle")  # commits: transactional database
    wait_until(
        lambda: registered_and_synced(product.pk),
        timeout=30,
        message=lambda: f"product registered and synced by the consumer\n{huey_consumer.logs()}",
    )
    assert offers_simulator.stats()["register"] == {"201": 1}
    assert ProductSnapshot.objects.filter(product=product).exists()


def test_a_restarted_simulator_that_forgot_everything_heals_within_two_intervals(
    user, huey_consumer, wait_until, settings
):
    interval = 2.0
    with run_simulator("--tick", "1") as simulator:
        port = simulator.root_url.rsplit(":", 1)[1]
        settings.OFFERS_BASE_URL = simulator.base_url
        settings.OFFERS_REFRESH_TOKEN = simulator.refresh_token
        huey_consumer(OFFERS_SYNC_INTERVAL=str(interval), **FAST)
        schedule_sync_runs()  # what the scheduler does each minute, now rather than at :00
        product = product_create(owner=user, name="Kettle")
        wait_until(
            lambda: registered_and_synced(product.pk), timeout=30, message=huey_consumer.logs()
        )
        # History accumulates every interval.
        wait_until(
            lambda: ProductSnapshot.objects.filter(product=product).count() >= 3,
            timeout=6 * interval,
            message=huey_consumer.logs(),
        )

    # Restarted on the same port without its state: registrations and tokens are gone.
    with run_simulator("--tick", "1", "--port", port) as restarted:
        restarted_at = timezone.now()
        wait_until(
            lambda: ProductSnapshot.objects.filter(
                product=product, taken_at__gt=restarted_at
            ).exists(),
            timeout=2 * interval + 3,  # two intervals, plus the calls' own time
            message=lambda: f"a successful sync after the restart\n{huey_consumer.logs()}",
        )
        stats = restarted.stats()
        assert stats["offers"].get("404") == 1  # it had forgotten the product...
        assert stats["register"] == {"201": 1}  # ...which was registered again
        product.refresh_from_db()
        assert product.tracking.is_registered
        assert product.tracking.sync_failures == 0
