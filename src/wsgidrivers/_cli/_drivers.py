"""The drivers the command line can serve with, and where each one's runner lives.

A runner is ``run(plan: Plan) -> None`` in the driver's own package: it serves ``plan.app`` on the
listening sockets until SIGINT or SIGTERM. It is imported only when chosen, so
``python -m wsgidrivers.asyncio`` loads nothing of ``simple_server`` and the reverse.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from wsgidrivers._common.settings import Settings

from ._plan import Plan

__all__ = ["DEFAULT_DRIVER", "DRIVERS", "Driver", "default_settings", "runner"]


@dataclass(frozen=True)
class Driver:
    module: str
    keep_alive: bool  # the driver's own default
    summary: str  # for the help and the banner


DRIVERS: Final = {
    "simple": Driver("wsgidrivers.simple_server._run", False,
                     "wsgidrivers.simple_server.WSGIServer: one connection at a time, keep-alive "
                     "off (wsgiref's behaviour; a slow client makes the others wait)"),
    "threading": Driver("wsgidrivers.simple_server._run", True,
                        "wsgidrivers.simple_server.ThreadingWSGIServer: a thread per connection, "
                        "keep-alive on"),
    "asyncio": Driver("wsgidrivers.asyncio._run", True,
                      "wsgidrivers.asyncio: connections on one event loop, the app in a pool of "
                      "--threads threads; idle keep-alive connections cost no thread"),
}
#: A browser opens several connections and keeps them alive; with one connection at a time each
#: asset waits for the previous one's connection to go idle and close. Threads serve them at once,
#: with the least cost per request (docs/performance.md).
DEFAULT_DRIVER: Final = "threading"


def runner(name: str) -> Callable[[Plan], None]:
    """The ``run`` function of driver ``name``."""
    run: Callable[[Plan], None] = importlib.import_module(DRIVERS[name].module).run
    return run


def default_settings(name: str, **given: Any) -> Settings:
    """Settings from the options given, over the driver's defaults (a bad value: ValueError)."""
    return Settings(**{"keep_alive": DRIVERS[name].keep_alive, **given})
