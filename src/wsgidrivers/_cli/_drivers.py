"""The drivers the command line can serve with, and where each one's runner lives.

A runner is ``run(plan: Plan) -> None`` in the driver's own package: it serves ``plan.app`` on the
listening sockets until SIGINT or SIGTERM. It is imported only when chosen, so
``python -m wsgidrivers.asyncio`` loads nothing of ``simple_server`` and the reverse.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ._plan import Plan

__all__ = ["DEFAULT_DRIVER", "DRIVERS", "Driver", "runner"]


@dataclass(frozen=True)
class Driver:
    module: str
    summary: str  # for the help and the banner


DRIVERS: Final = {
    "simple": Driver("wsgidrivers.simple_server._run",
                     "wsgidrivers.simple_server.WSGIServer: one connection at a time, keep-alive "
                     "off (wsgiref's behaviour; a slow client makes the others wait)"),
    "threading": Driver("wsgidrivers.simple_server._run",
                        "wsgidrivers.simple_server.ThreadingWSGIServer: a thread per connection, "
                        "keep-alive on"),
    "asyncio": Driver("wsgidrivers.asyncio._run",
                      "wsgidrivers.asyncio: connections on one event loop, the app in a pool of "
                      "--threads threads; idle keep-alive connections cost no thread"),
}
#: A browser opens several connections and keeps them alive; with one connection at a time each
#: asset waits for the previous one's connection to go idle and close. Threads serve them at once,
#: with the least cost per request (README's benchmarks).
DEFAULT_DRIVER: Final = "threading"


def runner(name: str) -> Callable[[Plan], None]:
    """The ``run`` function of driver ``name``."""
    run: Callable[[Plan], None] = importlib.import_module(DRIVERS[name].module).run
    return run
