"""Real servers on 127.0.0.1 port 0, for tests that talk over loopback sockets.

``running_server(driver, app, config=None, **settings)`` is the driver-neutral entry point: it looks
``driver`` up in :data:`DRIVERS` (name -> starter) and yields ``(host, port)`` while the server runs
in a background thread; leaving the block shuts the server down and waits for it (bounded). A driver
adds itself with ``@register("name")`` on a starter ``(app, config, **settings) -> context manager``.

``serve_in_thread(app, config=..., server_class=..., **settings)`` is the simple_server one;
``serving(server)`` runs an already-made ``WSGIServer`` (for tests that need the object itself).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

# One registry whichever name imported this file ("tests.support.servers" with the repository root
# on sys.path, "support.servers" with tests/): a driver registered under one name must be seen
# under the other.
for _alias in ("tests.support.servers", "support.servers"):
    sys.modules.setdefault(_alias, sys.modules[__name__])

__all__ = ["DRIVERS", "register", "running_server", "serve_in_thread", "serving"]

Starter = Callable[..., contextlib.AbstractContextManager[tuple[str, int]]]

#: Driver name -> starter. Insertion order is the order tests parametrize over.
DRIVERS: dict[str, Starter] = {}

#: Seconds a server gets to stop after shutdown() before the test fails.
STOP_TIMEOUT = 10.0


def register(name: str) -> Callable[[Starter], Starter]:
    """Decorator: make ``starter`` available as ``running_server(name, ...)``."""

    def add(starter: Starter) -> Starter:
        DRIVERS[name] = starter
        return starter

    return add


@contextlib.contextmanager
def running_server(driver: str, app: Any, config: Any = None, **settings: Any
                   ) -> Iterator[tuple[str, int]]:
    """Serve ``app`` with ``driver`` on 127.0.0.1, a free port; yield ``(host, port)``.

    ``settings`` are the driver's own settings (for simple_server: ``keep_alive``,
    ``head_timeout``, ``io_timeout``, ``keep_alive_timeout``, ``linger_timeout``, ``linger_bytes``).
    """
    try:
        starter = DRIVERS[driver]
    except KeyError:
        raise ValueError(f"unknown driver {driver!r}; known: {sorted(DRIVERS)}") from None
    with starter(app, config, **settings) as address:
        yield address


@contextlib.contextmanager
def serving(server: Any, poll_interval: float = 0.02) -> Iterator[tuple[str, int]]:
    """Run ``server.serve_forever()`` in a thread; yield ``(host, port)``; then shut it down,
    join the thread (failing after STOP_TIMEOUT) and close the server."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval},
                              name="serve_forever", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield host, port
    finally:
        server.shutdown()
        thread.join(STOP_TIMEOUT)
        server.server_close()
        if thread.is_alive():
            raise RuntimeError(f"server did not stop within {STOP_TIMEOUT} s")


@contextlib.contextmanager
def serve_in_thread(app: Any, *, config: Any = None, server_class: Any = None,
                    host: str = "127.0.0.1", **settings: Any) -> Iterator[tuple[str, int]]:
    """A ``wsgidrivers.simple_server`` server (``WSGIServer`` unless ``server_class``) for ``app``."""
    from wsgidrivers import simple_server

    server = simple_server.make_server(
        host, 0, app, server_class or simple_server.WSGIServer, config=config, **settings
    )
    with serving(server) as address:
        yield address


@register("simple_server")
def _simple_server(app: Any, config: Any = None, **settings: Any
                   ) -> contextlib.AbstractContextManager[tuple[str, int]]:
    return serve_in_thread(app, config=config, **settings)


@register("simple_server_threading")
def _simple_server_threading(app: Any, config: Any = None, **settings: Any
                             ) -> contextlib.AbstractContextManager[tuple[str, int]]:
    from wsgidrivers.simple_server import ThreadingWSGIServer

    return serve_in_thread(app, config=config, server_class=ThreadingWSGIServer, **settings)


@register("asyncio")
def _asyncio(app: Any, config: Any = None, **settings: Any
             ) -> contextlib.AbstractContextManager[tuple[str, int]]:
    from wsgidrivers.asyncio import ServerThread

    return ServerThread(app, config=config, **settings)


@register("asyncio_bridge_io")
def _asyncio_bridge_io(app: Any, config: Any = None, **settings: Any
                       ) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """The asyncio driver with every byte through the loop (``socket_io=False``), as over TLS."""
    from wsgidrivers.asyncio import ServerThread

    return ServerThread(app, config=config, socket_io=False, **settings)
