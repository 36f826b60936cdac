"""The one command line, ``wsgicore`` (also ``python -m wsgidrivers``; ``python -m
wsgidrivers.simple_server`` and ``python -m wsgidrivers.asyncio`` are the same with their driver as
the default).

Its rooms, one purpose each: ``_values`` (the syntax of addresses, sizes, seconds), ``_options`` (the
parser and the ``WSGICORE_*`` defaults), ``_build`` (options -> the validated Config and Settings),
``_appspec`` (loading the application), ``_tls``, ``_listen`` (the listening sockets), ``_plan`` (what a
driver's runner gets), ``_drivers`` (which runner), ``_banner``, ``_reload``, ``_main``. The drivers'
runners are ``simple_server._run`` and ``asyncio._run``, imported only when chosen.
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
