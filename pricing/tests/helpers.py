"""Helpers of pricing's tests (not tests): the stored token, a free port."""

import socket

from pricing.models import OffersAccessToken


def stored_token() -> OffersAccessToken | None:
    return OffersAccessToken.objects.filter(pk=OffersAccessToken.SINGLETON_PK).first()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
