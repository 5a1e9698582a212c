from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from pricing.leases import lease, lease_claim, lease_release
from pricing.models import Lease

pytestmark = pytest.mark.django_db


def test_a_held_lease_cannot_be_claimed_again():
    holder = lease_claim(name="x", seconds=60)
    assert holder
    assert lease_claim(name="x", seconds=60) is None


def test_a_released_lease_can_be_claimed():
    holder = lease_claim(name="x", seconds=60)
    lease_release(name="x", holder=holder)
    assert lease_claim(name="x", seconds=60)


def test_a_stale_lease_expires():
    lease_claim(name="x", seconds=60)
    # A worker killed while holding it: its lease runs out.
    Lease.objects.filter(name="x").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert lease_claim(name="x", seconds=60)


def test_releasing_with_the_wrong_holder_does_nothing():
    lease_claim(name="x", seconds=60)
    lease_release(name="x", holder="someone-else")
    assert lease_claim(name="x", seconds=60) is None


def test_the_context_manager_releases():
    with lease("x", seconds=60) as won:
        assert won
        with lease("x", seconds=60) as again:
            assert not again
    with lease("x", seconds=60) as won:
        assert won


@pytest.mark.django_db(transaction=True)
def test_an_early_release_commits_with_the_work_or_is_done_again_on_exit():
    with lease("x", seconds=60) as held:
        with transaction.atomic():
            held.release()
        assert held.released and lease_claim(name="x", seconds=60)
    lease_release(name="x", holder=Lease.objects.get(name="x").holder)

    with lease("x", seconds=60) as held:
        with pytest.raises(RuntimeError), transaction.atomic():
            held.release()
            raise RuntimeError("the work failed after the release")
        assert not held.released and lease_claim(name="x", seconds=60) is None  # still held
    assert lease_claim(name="x", seconds=60)  # released on the way out
