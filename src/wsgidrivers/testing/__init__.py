"""Testing WSGI applications through wsgicore: an in-memory client, live servers, a pytest plugin.

- :class:`Client`: requests as real bytes through the core's parser, in memory; strict responses.
- :func:`start_live_server` (:mod:`wsgidrivers.testing.live`): a real server on a loopback port 0,
  in a thread, ready when it returns, stopped in milliseconds.
- :mod:`wsgidrivers.testing.plugin`: the pytest fixtures ``wsgi_client``, ``live_server`` and
  ``live_server_session`` (registered through the ``pytest11`` entry point).
- :mod:`wsgidrivers.testing.strategies`: hypothesis strategies for valid and hostile requests
  (imported on its own: it needs hypothesis).

This lives on the drivers' side because live servers need sockets and threads, which the core may
never import. See docs/testing.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth import AuthRequest
    from .client import Client, TooManyRedirects
    from .cookies import Cookie, CookieJar
    from .forms import encode_multipart
    from .headers import Headers
    from .live import LiveServer, LiveServerError, start_live_server
    from .request import Request, build_request
    from .response import (
        HTTPError,
        MalformedResponse,
        ParsedResponse,
        Response,
        parse_response,
        parse_responses,
    )

# Imported on first use (PEP 562): the pytest plugin, a submodule, is loaded by every pytest run in
# an environment where wsgicore is installed, and must not pay for asyncio and the servers there.
_HOMES = {
    "AuthRequest": "auth",
    "Client": "client", "TooManyRedirects": "client",
    "Cookie": "cookies", "CookieJar": "cookies",
    "Headers": "headers",
    "LiveServer": "live", "LiveServerError": "live", "start_live_server": "live",
    "Request": "request", "build_request": "request", "encode_multipart": "forms",
    "HTTPError": "response", "MalformedResponse": "response", "ParsedResponse": "response",
    "Response": "response", "parse_response": "response", "parse_responses": "response",
}

__all__ = [
    "AuthRequest",
    "Client",
    "Cookie",
    "CookieJar",
    "HTTPError",
    "Headers",
    "LiveServer",
    "LiveServerError",
    "MalformedResponse",
    "ParsedResponse",
    "Request",
    "Response",
    "TooManyRedirects",
    "build_request",
    "encode_multipart",
    "parse_response",
    "parse_responses",
    "start_live_server",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
