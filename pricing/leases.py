"""Expiring named leases: cross-process mutual exclusion that survives a killed worker.

A lease is claimed with a conditional UPDATE (or the INSERT of its row), whose row count says
who won. That works the same on SQLite and PostgreSQL, needs no open transaction (so no HTTP
call ever sits inside one), and the expiry means a process that dies holding a lease blocks
the others only until it runs out.

Expiry is the database's clock (Now() in the statements), never a process's: workers on
machines whose clocks disagree, or a clock stepped forward, cannot end each other's leases
early. The sync's per-product leases live on the products' tracking rows instead, claimed a
batch at a time and fenced in the store's transaction (pricing.sync).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from pricing.models import Lease


def _expiry(seconds: float):
    return Now() + timedelta(seconds=seconds)


def lease_claim(*, name: str, seconds: float) -> str | None:
    """Claim the lease `name` for `seconds`. Returns the holder token, or None if taken."""
    holder = uuid.uuid4().hex
    if Lease.objects.filter(name=name, expires_at__lte=Now()).update(
        holder=holder, expires_at=_expiry(seconds)
    ):
        return holder
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, expires_at=_expiry(seconds))
    except IntegrityError:
        return None  # the row exists and its lease has not expired: someone else holds it
    return holder


def lease_release(*, name: str, holder: str) -> None:
    """Give the lease back early; does nothing if it expired and someone else took it."""
    Lease.objects.filter(name=name, holder=holder).update(expires_at=Now())


@dataclass(slots=True)
class HeldLease:
    """A claimed lease. `release()` may be called early, inside the transaction that finishes
    the work it guards: the release then commits with that work, one commit instead of two."""

    name: str
    holder: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            lease_release(name=self.name, holder=self.holder)
            # Released once that is committed: a rolled-back release is done again on exit.
            transaction.on_commit(self._committed)

    def _committed(self) -> None:
        self.released = True


@contextmanager
def lease(name: str, *, seconds: float) -> Iterator[HeldLease | None]:
    """`with lease("x", seconds=60) as held:` — a HeldLease when claimed (None when taken),
    released on the way out unless it was released already."""
    holder = lease_claim(name=name, seconds=seconds)
    held = None if holder is None else HeldLease(name, holder)
    try:
        yield held
    finally:
        if held is not None:
            held.release()
