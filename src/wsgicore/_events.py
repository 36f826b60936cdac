"""The events :meth:`wsgicore.Connection.next_event` returns, and its two sentinels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "BodyReceived",
    "ConnectionClosed",
    "Event",
    "RequestComplete",
    "RequestReceived",
    "Sentinel",
]


class Sentinel:
    """A named singleton (``NEED_DATA``, ``PAUSED``); compare with ``is``."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: Feed more bytes with ``receive_data`` before asking again.
NEED_DATA: Final = Sentinel("NEED_DATA")
#: A request is in progress: run the app (``run_app``) before asking for the next request.
PAUSED: Final = Sentinel("PAUSED")


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request head was parsed. ``environ`` holds every PEP 3333 key except ``wsgi.input`` and
    ``wsgi.errors``. It is a fresh dict made for this request: the receiver owns it, completes it and
    hands it to the application (which may change it, as PEP 3333 allows).
    """

    environ: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BodyReceived:
    """A piece of the request body, de-chunked."""

    data: bytes


@dataclass(frozen=True, slots=True)
class RequestComplete:
    """The request body ended. Trailer fields, if any, were discarded (RFC 9112 §7.1.2 allows it)."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """No more requests will come on this connection: send ``data_to_send()``, then close it."""


Event = RequestReceived | BodyReceived | RequestComplete | ConnectionClosed
