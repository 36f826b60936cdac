"""Everything this package takes from the drivers, in one place.

The drivers' layout is being reshaped (issue 11): when a name moves, re-point it here and nowhere else.
Only public names are used, except the asyncio Service's two per-request hooks
(``begin_request``/``end_request``), which exist for this package.
"""

from __future__ import annotations

from wsgidrivers.asyncio import Service
from wsgidrivers.simple_server import ServerHandler, ThreadingWSGIServer, WSGIRequestHandler

__all__ = ["ServerHandler", "Service", "ThreadingWSGIServer", "WSGIRequestHandler"]
