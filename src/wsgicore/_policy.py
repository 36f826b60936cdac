"""The request-cycle rules every driver applies, decided once here so that drivers only move bytes.

A driver keeps time and runs threads; the core says which deadline applies (:func:`Connection.deadline`),
what to send when it passes (``Connection.time_out()``), and with which :class:`Config` a
connection is served (:func:`serving_config`).
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from typing import Any, Final

from ._config import Config
from ._version import __version__

__all__ = ["HEAD_DEADLINE", "IDLE_DEADLINE", "SERVER_SOFTWARE", "serving_config"]

#: The ``Server`` header (and ``SERVER_SOFTWARE``) of a driver given no Config, built like
#: wsgiref's ``software_version`` (``WSGIServer/0.2 CPython/3.11.7``).
SERVER_SOFTWARE: Final = (
    f"wsgicore/{__version__} {platform.python_implementation()}/{sys.version.split()[0]}"
)

#: The deadline that applies while a connection waits for a request: ``HEAD_DEADLINE`` (the request head
#: must arrive whole by then: the first request, counted from the accept, and any request whose
#: first byte arrived) or ``IDLE_DEADLINE`` (a kept-alive connection between requests, nothing received).
HEAD_DEADLINE: Final = "head"
IDLE_DEADLINE: Final = "idle"


def serving_config(
    config: Config | None,
    *,
    clock: Callable[[], float],
    keep_alive: bool,
    multithread: bool,
    secure: bool = False,
) -> Config:
    """The Config a driver serves its connections with: the one rule for every driver.

    - ``config`` None: the drivers' default, ``Date`` from ``clock`` (RFC 9110 §6.6.1: an origin
      server with a clock sends Date) and ``Server: SERVER_SOFTWARE``. A given ``config`` is used as
      it is: ``clock=None`` means no ``Date``, ``server_software=None`` no ``Server``, from every
      driver alike.
    - Persistent connections only when both the config and the driver allow them (RFC 9112 §9.3).
    - ``wsgi.multithread`` true when the driver may run requests in several threads (PEP 3333).
    - ``wsgi.url_scheme`` ``https`` over TLS, unless the config chose a scheme of its own.
    """
    base = config if config is not None else Config(clock=clock, server_software=SERVER_SOFTWARE)
    changes: dict[str, Any] = {}
    if base.keep_alive and not keep_alive:
        changes["keep_alive"] = False
    if multithread and not base.multithread:
        changes["multithread"] = True
    if secure and base.url_scheme == "http":
        changes["url_scheme"] = "https"
    return base.replace(**changes) if changes else base
