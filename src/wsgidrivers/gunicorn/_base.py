"""What both worker classes share: booting from gunicorn's cfg, the heartbeat, waking the loop."""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import time
from typing import Any

from gunicorn.arbiter import Arbiter
from gunicorn.http.wsgi import WSGIErrorsWrapper
from gunicorn.sock import ssl_context
from gunicorn.workers.base import Worker

from ._cycle import RequestCycle
from ._heartbeat import InFlight
from ._settings import WorkerSettings, worker_settings

__all__ = ["CoreWorker", "listening_socket"]


def listening_socket(listener: Any) -> Any:
    """The socket object under one of gunicorn's listeners (``TCPSocket``/``UnixSocket`` wrap it)."""
    return getattr(listener, "sock", listener)


class CoreWorker(Worker):  # type: ignore[misc]  # gunicorn is untyped
    """A gunicorn worker whose HTTP is wsgicore's. Subclasses implement ``run()``."""

    settings: WorkerSettings
    tls: ssl.SSLContext | None
    _last_beat = -1e9  # monotonic time of the last notify()
    cycle: RequestCycle
    errors: Any

    def init_process(self) -> None:
        # After fork, before gunicorn's own init (which ends by calling run()). A worker that cannot
        # boot exits with WORKER_BOOT_ERROR: the arbiter then stops instead of respawning it forever.
        try:
            self.prepare()
        except Exception:
            self.log.exception("wsgidrivers.gunicorn: invalid settings, the worker cannot boot")
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        super().init_process()

    def prepare(self) -> None:
        """This package's part of the worker's set-up, from ``cfg``: its settings, TLS context and
        request cycle (a ``ValueError`` for invalid settings). gunicorn's part (signals, the wake-up
        pipe, the app) follows in ``init_process``."""
        self.settings = worker_settings(self.cfg)
        self.tls = ssl_context(self.cfg) if self.cfg.is_ssl else None
        self.inflight = InFlight()
        self.cycle = RequestCycle(self, self.inflight, self.wake)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # wsgi.errors writes to gunicorn's error log streams, as with gunicorn's own workers.
        self.errors = WSGIErrorsWrapper(self.cfg)

    def wake(self) -> None:
        """Wake the main loop (from any thread): the worker's state changed."""
        with contextlib.suppress(OSError):  # full pipe: a wake-up is already pending
            os.write(self.PIPE[1], b".")

    def drain_wakeups(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.PIPE[0], 4096):
                pass

    def beat(self) -> None:
        """``notify()`` the arbiter, unless a request is stuck in the application (see _heartbeat).

        Called on every turn of the worker's loop, which turns once per accept burst under load:
        at most two notifications (each a file-time update) per heartbeat interval are enough.
        """
        now = time.monotonic()
        if now - self._last_beat < self.settings.heartbeat / 2:
            return
        if self.inflight.healthy(self.settings.heartbeat):
            self.notify()
            self._last_beat = now

    def parent_changed(self) -> bool:
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            return True
        return False
