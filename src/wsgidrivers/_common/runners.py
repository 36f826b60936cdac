"""Where the command line meets the drivers: the :class:`Plan` it hands over, and each driver's runner.

The command line (``wsgidrivers._cli``) names no driver and imports none: the ``wsgidrivers``
package declares the drivers it holds (:func:`declare`: a name, the package, one line for the help),
and a driver's package registers its runner when it is imported (:func:`register`). The command line
imports only the package of the driver chosen (:func:`runner`), so ``python -m wsgidrivers.asyncio``
loads nothing of ``simple_server`` and the reverse, and no package imports another's private modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the wsgidrivers package imports this module: it must load next to nothing
    import socket
    import ssl

    from .accesslog import AccessLog
    from .settings import Settings
    from .types import WSGIApplication

__all__ = ["Declared", "Plan", "Runner", "declare", "declared", "register", "runner"]


@dataclass(frozen=True)
class Plan:
    """Serve ``app`` on ``sockets`` (bound and listening) until SIGINT or SIGTERM: what a driver's
    runner is handed, everything decided, validated and bound, nothing left to parse.

    ``settings``: taken whole (validated once, by whoever made the plan). ``threads``: the threading
    driver's most connections at once, the asyncio driver's worker pool (None: the driver's
    default). ``ssl``: TLS on every socket. ``access_log``: the line for each response (None: none).
    ``grace``: seconds requests in progress get at shutdown (``wsgidrivers._common.shutdown``).
    ``stop_signals``: the signals that stop it (None: SIGINT and SIGTERM).
    """

    app: WSGIApplication
    sockets: tuple[socket.socket, ...]
    settings: Settings
    threaded: bool
    threads: int | None
    ssl: ssl.SSLContext | None
    access_log: AccessLog | None
    grace: float
    stop_signals: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Runner:
    """How one driver serves a :class:`Plan`: ``run(plan)`` until SIGINT or SIGTERM, then stops as
    ``wsgidrivers._common.shutdown`` says, and returns how many requests in progress the stop cut
    off (0: a clean stop); ``describe(plan)`` says how it will serve, for the start-up banner ("a
    thread per connection", "8 app threads")."""

    name: str
    run: Callable[[Plan], int]
    describe: Callable[[Plan], str]


@dataclass(frozen=True)
class Declared:
    """A driver the command line offers: its ``name`` (``--driver``), the ``package`` whose import
    registers its runner, and a ``summary`` for the help."""

    name: str
    package: str
    summary: str


_declared: dict[str, Declared] = {}
_registered: dict[str, Runner] = {}


def declare(name: str, package: str, summary: str) -> None:
    """Offer driver ``name``, whose runner ``package`` registers when imported."""
    _declared[name] = Declared(name, package, summary)


def declared() -> Mapping[str, Declared]:
    """The drivers offered, in the order they were declared."""
    return MappingProxyType(_declared)


def register(runner: Runner) -> None:
    """Called by a driver's package as it loads: ``runner`` serves ``--driver runner.name``."""
    _registered[runner.name] = runner


def runner(name: str) -> Runner:
    """The runner of driver ``name``, importing its package first if needed."""
    found = _registered.get(name)
    if found is None:
        importlib.import_module(_declared[name].package)
        found = _registered.get(name)
        if found is None:
            raise LookupError(f"{_declared[name].package} registered no runner for {name!r}")
    return found
