"""What both worker classes share: booting from gunicorn's cfg, the heartbeat, waking the loop, and
their seat on the load board (see _board)."""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import threading
import time
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from gunicorn.http.wsgi import WSGIErrorsWrapper
from gunicorn.sock import ssl_context
from gunicorn.workers.base import Worker

from ._board import HAND_BACK_INTERVAL, LIVE_BEATS, BoardSeat, LoadBoard
from ._cycle import RequestCycle
from ._heartbeat import InFlight
from ._settings import WorkerSettings, worker_settings

__all__ = ["CoreWorker", "listening_socket"]


def _cpus() -> int:
    """The CPUs this process may run on. With one, workers cannot run at once: spreading the
    connections over them gains nothing and costs each its cache (see _board)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


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
    #: This worker's place on the load board (None: it serves without one, see _board).
    seat: BoardSeat | None = None
    #: The master's board: made with the first worker object, inherited by every worker forked after.
    _board: ClassVar[LoadBoard | None] = None
    _board_failed: ClassVar[bool] = False
    _hand_back_due_at = 0.0  # monotonic time of the next look at the board for a hand-back

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # In the master, before the fork (gunicorn's contract): the worker's slot on the board.
        super().__init__(*args, **kwargs)
        self.board_slot = self._reserve_slot()
        #: Held while one of this worker's connections is being handed back (one at a time).
        self._handing_back = threading.Lock()

    def _reserve_slot(self) -> int | None:
        if getattr(self.cfg, "reuse_port", False):
            # gunicorn 27 gives each worker a socket of its own with --reuse-port: a connection a
            # worker declined would wait in that worker's own queue, where no sibling can take it.
            return None
        if CoreWorker._board is None and not CoreWorker._board_failed:
            try:
                CoreWorker._board = LoadBoard()
            except (OSError, ValueError):
                CoreWorker._board_failed = True
        board = CoreWorker._board
        if board is None:
            return None
        slot = board.reserve(self)
        if slot is None:
            self.log.warning("wsgidrivers.gunicorn: more than %d workers at once; this one serves "
                             "without the load board (its accepts are not balanced)", board.slots)
        return slot

    def init_process(self) -> None:
        # After fork, before gunicorn's own init (which ends by calling run()). A worker that cannot
        # boot exits with WORKER_BOOT_ERROR: the arbiter then stops instead of respawning it forever.
        try:
            self.prepare()
        except Exception:
            self.log.exception("wsgidrivers.gunicorn: invalid settings, the worker cannot boot")
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        try:
            super().init_process()
        finally:
            # Also on SIGQUIT's SystemExit: the slot stops counting at once (after a SIGKILL its
            # siblings find it stale, or the process gone).
            if self.seat is not None:
                self.seat.leave()

    def prepare(self) -> None:
        """This package's part of the worker's set-up, from ``cfg``: its settings, TLS context and
        request cycle (a ``ValueError`` for invalid settings). gunicorn's part (signals, the wake-up
        pipe, the app) follows in ``init_process``."""
        self.settings = worker_settings(self.cfg)
        self.tls = ssl_context(self.cfg) if self.cfg.is_ssl else None
        self.inflight = InFlight()
        self.cycle = RequestCycle(self, self.inflight, self.wake)
        board, slot = CoreWorker._board, getattr(self, "board_slot", None)
        if board is not None and slot is not None and _cpus() > 1:
            self.seat = board.seat(slot, os.getpid(), LIVE_BEATS * self.settings.heartbeat)

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
            if self.seat is not None:
                self.seat.renew()  # a stuck worker's slot goes stale: nobody declines for it

    def hand_back_due(self, open_connections: int, keep_alive: bool) -> bool:
        """At a request's start (any thread): whether to answer it with ``Connection: close`` so
        that its client reconnects to a sibling holding fewer connections (see _board). One
        connection at a time: True holds the turn until :meth:`hand_back_done`."""
        seat = self.seat
        if seat is None or not keep_alive:
            return False
        now = time.monotonic()
        if now < self._hand_back_due_at or not self._handing_back.acquire(blocking=False):
            return False
        # A look at the board at most every HAND_BACK_INTERVAL: not a cost of every request.
        self._hand_back_due_at = now + HAND_BACK_INTERVAL
        if seat.hand_back_due(open_connections):
            return True
        self._handing_back.release()
        return False

    def hand_back_done(self) -> None:
        """The handed-back request's response is sent: the next may be handed back."""
        self._handing_back.release()

    def parent_changed(self) -> bool:
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            return True
        return False
