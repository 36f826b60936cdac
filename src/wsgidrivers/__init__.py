"""Drivers for wsgicore: each does the I/O (sockets, threads, timeouts) around ``wsgicore.Connection``
and leaves every HTTP and PEP 3333 decision to the core.

- ``wsgidrivers.memory``: in-memory, for tests and fuzzing.
- ``wsgidrivers.simple_server``: a blocking drop-in for ``wsgiref.simple_server`` (a package).
- ``wsgidrivers.asyncio``: an asyncio server; applications run in a bounded thread pool (a package).
- ``wsgidrivers.gunicorn``: gunicorn worker classes on those two drivers.
- ``wsgidrivers.testing``: a test client, live servers and a pytest plugin on top of them.

``wsgidrivers._common`` holds what the drivers share (settings, listening and accepting, access log,
the command line's plan) and imports none of them, so each driver loads without the others; packages
meet there and through each other's public names, never through private modules. This package names
the drivers the command line (``wsgidrivers._cli``) offers; each registers its runner in
``_common.runners`` when its package is imported, so the command line imports only the one chosen.

Public here: :class:`Settings`, every driver's settings in one frozen, validated object (``settings=``
of every driver, runner and gunicorn worker), and :func:`driver_defaults`, the settings a driver
serves with when given none. Both load on first use: importing this package (the command line and
the pytest plugin do) loads next to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._common.runners import declare

if TYPE_CHECKING:
    from ._common.settings import Settings, driver_defaults

__all__ = ["Settings", "driver_defaults"]

declare("simple", "wsgidrivers.simple_server",
        "wsgidrivers.simple_server.WSGIServer: one connection at a time, keep-alive off (wsgiref's "
        "behaviour; a slow client makes the others wait)")
declare("threading", "wsgidrivers.simple_server",
        "wsgidrivers.simple_server.ThreadingWSGIServer: a thread per connection, keep-alive on")
declare("asyncio", "wsgidrivers.asyncio",
        "wsgidrivers.asyncio: connections on one event loop, the app in a pool of --threads threads; "
        "idle keep-alive connections cost no thread")
del declare


def __getattr__(name: str) -> Any:
    if name in __all__:  # PEP 562: loaded when first asked for, then a plain attribute
        from ._common import settings  # noqa: PLC0415 (on first use: see the docstring)

        value = getattr(settings, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
