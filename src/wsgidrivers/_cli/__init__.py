"""The one command line, ``wsgicore`` (also ``python -m wsgidrivers``; ``python -m
wsgidrivers.simple_server`` and ``python -m wsgidrivers.asyncio`` are the same with their driver as
the default).

Its rooms, one purpose each: ``_values`` (the syntax of addresses, sizes, seconds), ``_options`` (the
parser and the ``WSGICORE_*`` defaults), ``_build`` (options -> the validated Config and Settings, and
the access log), ``_appspec`` (loading the application), ``_tls``, ``_listen`` (the listening sockets),
``_banner``, ``_reload``, ``_streams`` (stdout and stderr that a gone reader cannot break),
``_logging`` (the ``wsgicore`` logger, never the root logger), ``_main``. It names no driver: the
drivers it offers and their runners are found in ``wsgidrivers._common.runners`` (declared by the
``wsgidrivers`` package, registered by each driver's package), and only the chosen driver's package
is imported. The runner gets a ``wsgidrivers._common.runners.Plan``.
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
