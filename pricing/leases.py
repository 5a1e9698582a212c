"""Expiring named leases: cross-process mutual exclusion that survives a killed worker.

A lease is claimed with a conditional UPDATE (or the INSERT of its row), whose row count says
who won. That works the same on SQLite and PostgreSQL, needs no open transaction (so no HTTP
call ever sits inside one), and the expiry means a process that dies holding a lease blocks
the others only until it runs out.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from pricing.models import Lease


def lease_claim(*, name: str, seconds: float) -> str | None:
    """Claim the lease `name` for `seconds`. Returns the holder token, or None if taken."""
    holder = uuid.uuid4().hex
    now = timezone.now()
    expires_at = now + timedelta(seconds=seconds)
    if Lease.objects.filter(name=name, expires_at__lte=now).update(
        holder=holder, expires_at=expires_at
    ):
        return holder
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, expires_at=expires_at)
    except IntegrityError:
        return None  # the row exists and its lease has not expired: someone else holds it
    return holder


def lease_release(*, name: str, holder: str) -> None:
    """Give the lease back early; does nothing if it expired and someone else took it."""
    Lease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now())


@contextmanager
def lease(name: str, *, seconds: float) -> Iterator[bool]:
    """`with lease("x", seconds=60) as won:` — True when claimed (and released afterwards)."""
    holder = lease_claim(name=name, seconds=seconds)
    try:
        yield holder is not None
    finally:
        if holder is not None:
            lease_release(name=name, holder=holder)
