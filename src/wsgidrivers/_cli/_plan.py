"""What a driver's runner is handed: everything decided, validated and bound; nothing left to parse."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from wsgidrivers._common.settings import Settings
from wsgidrivers._common.types import WSGIApplication

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """Serve ``app`` on ``sockets`` (bound and listening) until SIGINT or SIGTERM.

    ``threads``: the threading driver's most connections at once, the asyncio driver's worker pool
    (None: the driver's default). ``ssl``: TLS on every socket. ``grace``: seconds requests in
    progress get at shutdown (asyncio).
    """

    app: WSGIApplication
    sockets: tuple[socket.socket, ...]
    settings: Settings
    threaded: bool
    threads: int | None
    ssl: ssl.SSLContext | None
    access_log: bool
    grace: float
