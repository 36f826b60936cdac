"""Everything this package takes from the drivers, in one place.

The drivers' layout may change again: when a name moves, re-point it here and nowhere else. Used:
the public classes of ``wsgidrivers.simple_server`` and ``wsgidrivers.asyncio``, the asyncio
Service's hooks for subclasses (``begin_request``/``end_request``, ``executor=``,
``serve_waiting_on_shutdown``), its worker pool (``WorkerPool``: with it a worker may serve a busy
connection's next request itself), its listener set-up and accept step (``prepare_listener``,
``accept_nowait``, ``ACCEPT_BURST``, ``connect_accepted``), the drivers' one settings object
(``wsgidrivers._common.settings``: ``Settings``, the names of its fields, ``is_loopback``), and the
blocking driver's socket options that accepted sockets inherit (``KERNEL_TIMEOUTS``,
``set_kernel_timeout``).
"""

from __future__ import annotations

from wsgidrivers._common.listening import (
    INHERITS_NONBLOCK,
    KERNEL_TIMEOUTS,
    AcceptPause,
    accept_burst,
    accept_nowait,
    inherit_options,
    is_transient,
    prepare_listener,
)
from wsgidrivers._common.settings import SETTING_NAMES, Settings, is_loopback
from wsgidrivers.asyncio import Service
from wsgidrivers.asyncio._listener import connect_accepted
from wsgidrivers.asyncio._pool import WorkerPool
from wsgidrivers.simple_server import ServerHandler, ThreadingWSGIServer, WSGIRequestHandler

__all__ = ["INHERITS_NONBLOCK", "KERNEL_TIMEOUTS", "SETTING_NAMES", "AcceptPause", "ServerHandler",
           "Service", "Settings", "ThreadingWSGIServer", "WSGIRequestHandler", "WorkerPool",
           "accept_burst", "accept_nowait", "connect_accepted", "inherit_options", "is_loopback",
           "is_transient", "prepare_listener"]
