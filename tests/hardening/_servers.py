"""Starting a real server on 127.0.0.1 port 0 for the socket tests.

Uses the team's ``tests/support/servers.py`` (``running_server(driver, app, config=None)``) when it is
importable; the hardening tests only go through :func:`serve`, so an API change is fixed here once.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

__all__ = ["DRIVERS", "available", "serve", "skip_reason"]


def _support() -> Any:
    for name in ("tests.support.servers", "support.servers"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_SUPPORT = _support()

#: Driver names for ``running_server``: the support module's list when it has one.
DRIVERS: tuple[str, ...] = tuple(getattr(_SUPPORT, "DRIVERS", ("simple_server",)))


def available() -> bool:
    return _SUPPORT is not None and hasattr(_SUPPORT, "running_server")


def skip_reason() -> str:
    return "the socket driver / tests.support.servers is not available yet"


def _config(overrides: dict[str, Any] | None) -> Any:
    from wsgicore import Config

    fields = dict(overrides or {})
    fields.setdefault("clock", None)
    return Config(**fields)


@contextlib.contextmanager
def serve(
    app: Any,
    overrides: dict[str, Any] | None = None,
    *,
    driver: str | None = None,
    **settings: Any,
) -> Iterator[tuple[str, int]]:
    """Run ``app`` on a fresh server; yield ``(host, port)``. ``overrides`` go to ``wsgicore.Config``;
    ``settings`` to the driver (simple_server: ``keep_alive``, ``head_timeout``, ``io_timeout``,
    ``keep_alive_timeout``, ``linger_timeout``, ``linger_bytes``)."""
    with _SUPPORT.running_server(driver or DRIVERS[0], app, _config(overrides), **settings) as addr:
        yield addr
