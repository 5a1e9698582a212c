"""The served log: every answer to ``GET /api/v1/products/{id}/offers``, in order.

For tests that compare what the simulator served with what a client stored
(``GET /_control/served``). An entry is a tuple, recorded once the answer has been written to the
socket (or, for the ``down`` fault, just before the connection is closed unanswered), so recording
costs little under the simulator's lock; it becomes JSON only when read. The
log keeps the newest ``capacity`` entries in a ring and counts the ones it dropped. Sequence
numbers start at 1 after each clear (the reset action) and have no gaps, so a reader that sees a
gap knows entries were dropped.

Nothing here is thread-safe; the simulator calls it under its state lock.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from offers_simulator.reply import OffersSummary

DEFAULT_CAPACITY = 200_000  # some 320 bytes each: about 65 MB when full
MAX_PAGE = 10_000

_NO_OFFERS = dict.fromkeys(OffersSummary._fields)


class Served(NamedTuple):
    """One answer to ``GET .../offers``."""

    seq: int
    product_id: str  # the path segment as asked (unquoted), not canonicalised
    status: int  # 0: nothing was answered, the connection was closed (the ``down`` fault)
    received_at: float  # UNIX time, when the request had been parsed
    sent_at: float  # UNIX time, right after the answer was written (or failed to be)
    delay: float  # seconds of injected latency and hang
    malformed: str | None  # the malformed variant sent instead of the body
    write_failed: bool  # writing the answer raised (broken pipe, reset)
    # write_failed, or the client had closed its end before the answer (a timed-out client: the
    # kernel takes the write all the same). A client that half-closes after its request counts
    # too; HTTP clients do not do that.
    client_gone: bool
    offers: OffersSummary | None  # 200 answers that were not malformed

    def as_dict(self) -> dict[str, Any]:
        data = self._asdict()
        offers = data.pop("offers")
        data.update(_NO_OFFERS if offers is None else offers._asdict())
        return data


class ServedLog:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self.clear()

    def clear(self) -> None:
        # A ring: entry ``seq`` sits at index (seq - 1) % capacity once it is full.
        self._ring: list[Served] = []
        self._next_seq = 1
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def last_seq(self) -> int:
        """The newest entry's seq (0 if none since the clear)."""
        return self._next_seq - 1

    @property
    def first_seq(self) -> int:
        """The oldest kept entry's seq (``last_seq + 1`` if none is kept)."""
        return self._next_seq - len(self._ring)

    def append(self, entry: Served) -> None:
        """Records an answer under the next seq (whatever ``entry.seq`` says)."""
        seq = self._next_seq
        self._next_seq += 1
        if len(self._ring) < self.capacity:
            self._ring.append(Served(seq, *entry[1:]))
        elif self.capacity:
            self._ring[(seq - 1) % self.capacity] = Served(seq, *entry[1:])
            self.dropped += 1
        else:
            self.dropped += 1

    def page(self, after: int, limit: int) -> list[Served]:
        """Up to ``limit`` entries with ``seq > after``, oldest first."""
        start = max(after + 1, self.first_seq)
        stop = min(self._next_seq, start + max(0, limit))
        if start >= stop:
            return []
        begin = (start - 1) % self.capacity
        end = begin + (stop - start)
        if end <= len(self._ring):
            return self._ring[begin:end]
        return self._ring[begin:] + self._ring[: end - len(self._ring)]
