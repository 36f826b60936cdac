"""``AsyncioWorker``: gunicorn processes serving with the asyncio driver.

The worker's event loop accepts on the arbiter's sockets itself (so it can stop accepting while
``--worker-connections`` are open, and start again) and hands each connection to the driver's
:class:`Service` with ``loop.connect_accepted_socket`` (TLS included). Idle keep-alive connections
cost no thread; applications run in a pool of ``--threads`` daemon threads. The loop admits by the
load board's rule (see _board): it stops accepting while a sibling holds fewer open connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
from typing import Any

from wsgicore import Connection, ResponseInfo
from wsgidrivers._common.listening import (
    AcceptPause,
    accept_burst,
    accept_nowait,
    prepare_listener,
)
from wsgidrivers._common.workerpool import WorkerPool
from wsgidrivers.asyncio import Service

from ._base import CoreWorker, listening_socket
from ._board import RECHECK, RESCUE_AFTER
from ._cycle import Ticket, WSGIApp
from ._poll import Poller
from ._standby import POSTS, ListenerStandby, accept_one

__all__ = ["AsyncioWorker"]


def _peer(environ: dict[str, Any]) -> tuple[str, int] | None:
    address = environ.get("REMOTE_ADDR")
    return (address, int(environ.get("REMOTE_PORT", 0))) if address else None


class _WorkerService(Service):
    """The asyncio driver's Service under gunicorn's per-request contract (see _cycle)."""

    # A reload or a recycled worker must not fail a request a client is sending right then.
    serve_waiting_on_shutdown = True

    def __init__(self, worker: AsyncioWorker, **options: Any) -> None:
        super().__init__(worker.wsgi, **options)
        self.worker = worker
        self._local = threading.local()  # begin_request and end_request run in the same thread

    def begin_request(self, conn: Connection, environ: dict[str, Any]) -> WSGIApp:
        worker = self.worker
        cycle = worker.cycle
        ticket = cycle.begin(environ, _peer(environ))
        self._local.ticket = ticket
        # Handed back: a sibling holds fewer connections; the client reconnects (see _board).
        handing_back = worker.hand_back_due(worker.open_connections(), conn.keep_alive)
        self._local.handing_back = handing_back
        if ticket.last or handing_back:
            conn.close_after_response()  # the worker stops, or the client reconnects, after it
        return cycle.wrap(ticket, self.app)

    def end_request(self, environ: dict[str, Any], outcome: Any) -> None:
        if getattr(self._local, "handing_back", False):
            self._local.handing_back = False
            self.worker.hand_back_done()
        ticket: Ticket | None = getattr(self._local, "ticket", None)
        self._local.ticket = None
        if ticket is not None:
            info = outcome if isinstance(outcome, ResponseInfo) else None
            self.worker.cycle.end(ticket, environ, info)

    def log_access(self, addr: str, request_line: str, status: int | str, size: int | str) -> None:
        """Nothing: the access log is gunicorn's (_cycle.RequestCycle.end)."""

    def connections_changed(self) -> None:
        super().connections_changed()
        self.worker.connection_ended()

    def closed_by_worker(self, proto: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().closed_by_worker(proto, loop)
        self.worker.publish()  # the loop may not hear of it (see watch_closes)


class AsyncioWorker(CoreWorker):
    """gunicorn worker: the asyncio driver on the worker's own event loop.

    ``gunicorn -k wsgidrivers.gunicorn.AsyncioWorker --threads 8 module:app``. ``--threads`` is the
    size of the application thread pool, ``--worker-connections`` bounds the open connections
    (idle ones cost a protocol object, no thread).
    """

    _service: _WorkerService
    _loop: asyncio.AbstractEventLoop
    _woken: asyncio.Event

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        settings = self.settings
        # The Service takes the worker's Settings whole and makes the same Config of them
        # (serving_config, with wsgi.multithread and https over TLS) as WorkerSettings.serving_config.
        # Daemon threads (a thread stuck in an app must not keep the worker process alive); the
        # driver's own pool, so a worker may serve a busy connection's next request, and idle
        # threads may stand by on the listeners.
        pool = WorkerPool(settings.threads, daemon=True)
        self._service = service = _WorkerService(
            self,
            settings=settings.driver,
            max_workers=settings.threads,
            executor=pool,
            access_log=self._driver_log,
            errors=self.errors,
            tls=self.tls is not None,
        )
        self._woken = asyncio.Event()
        self._listeners = [listening_socket(s) for s in self.sockets]
        # The address a connection came to, when its listener is bound to one (no getsockname()).
        self._socknames = {listener: prepare_listener(listener) for listener in self._listeners}
        # Open connections: the service's (served by a worker or with a protocol), and
        self._pending = 0  # accepted, protocol not made yet (the TLS handshake, say)
        self._accepting = False
        #: The load board (see _board): a sibling holds fewer open connections, so the loop does
        #: not accept; it looks again soon (``_recheck``, BoardSeat.next_look).
        self._declining = False
        self._stranded_since: float | None = None
        self._probe: select.poll | None = None
        if self.seat is not None and hasattr(select, "poll"):
            self._probe = select.poll()
            for listener in self._listeners:
                self._probe.register(listener.fileno(), select.POLLIN)
        #: accept() at a resource limit (EMFILE...): the rule of every driver, one pause for the
        #: loop and the stand-by threads, logged once (see _accept).
        self._pause = AcceptPause(lambda line: self.log.warning("%s", line))
        self._paused: asyncio.TimerHandle | None = None
        self._standby, self._poller = self._stand_by_posts()
        loop.add_reader(self.PIPE[0], self._on_wake)
        try:
            self._set_accepting(True)
            if self._standby is not None:
                pool.set_standby(self._standby)  # after _set_accepting: they stand while it accepts
            while self.alive:
                self.beat()
                if self.parent_changed():
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), settings.heartbeat)
                self._woken.clear()
            self._set_accepting(False)
            # Graceful stop: idle connections close now, in-flight requests get --graceful-timeout
            # (their connections close after the response); the heartbeat goes on meanwhile.
            beating = loop.create_task(self._beat_forever())
            try:
                deadline = loop.time() + settings.graceful_timeout
                await self._settle(pool, deadline)
                await service.shutdown(max(deadline - loop.time(), 0.0))
            finally:
                beating.cancel()
        finally:
            self._set_accepting(False)
            loop.remove_reader(self.PIPE[0])
            # The posts' and the poll's descriptors are left to the process's exit: a daemon
            # thread may still be leaving its post.

    async def _settle(self, pool: WorkerPool, deadline: float) -> None:
        """Before the service's shutdown, which waits for its connections only: let every
        connection already accepted become one. A stand-by thread woken for a connection as the
        worker stopped accepts and serves it (the kernel woke that thread alone: the connection
        would wait in the backlog unseen by the other workers), and a connection the loop accepted
        may still be in its TLS handshake (``_pending``)."""
        while (pool.standing or self._pending) and self._loop.time() < deadline:
            await asyncio.sleep(0.001)

    def _stand_by_posts(self) -> tuple[ListenerStandby | None, Poller | None]:
        """Linux, plain sockets: the stand-by posts (see ``_standby``), then the loop's own
        exclusive poll of the listeners, in that order; else (None, None): the loop polls the
        listeners itself and accepts every connection."""
        if self.tls is not None or not self._service.socket_io or not hasattr(select, "poll"):
            return None, None
        standby = ListenerStandby(self._listeners, accept_fresh=self._accept_fresh,
                                  quiet=self._quiet, may_accept=self._may_accept,
                                  declined=self._declined)
        poller = Poller()
        for listener in self._listeners:
            poller.register(listener, listener, shared=True)
        if standby.exclusive and poller.exclusive:
            return standby, poller
        standby.close()
        poller.close()
        return None, None

    async def _beat_forever(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.settings.heartbeat)

    def _on_wake(self) -> None:
        self.drain_wakeups()  # a signal (the handler already ran) or a request count reached
        self._woken.set()

    def _driver_log(self, line: str) -> None:
        # The driver's own lines (bad requests, head timeouts, clients gone): gunicorn's error log.
        self.log.info(line.rstrip("\n"))

    def _set_accepting(self, accepting: bool) -> None:
        if accepting == self._accepting:
            return
        # While full, every close must wake the loop (to accept again); else a connection a
        # worker closes leaves without waking it. (Declining, the loop looks again by itself.)
        self._service.watch_closes = not accepting and not self._declining
        if self._poller is not None:
            if accepting:
                self._loop.add_reader(self._poller.fileno(), self._accept_ready)
            else:
                self._loop.remove_reader(self._poller.fileno())
        else:
            for listener in self._listeners:
                if accepting:
                    self._loop.add_reader(listener.fileno(), self._accept, listener)
                else:
                    self._loop.remove_reader(listener.fileno())
        self._accepting = accepting
        self._list()
        if not accepting and not self.alive and self._standby is not None:
            self._standby.stop()

    def _list(self) -> None:
        """Tell the board whether this worker accepts: declining, it still counts as one that
        does (a sibling that gets above it leaves the next connections to it; see _board)."""
        if self.seat is not None:
            self.seat.set_accepting((self._accepting or self._declining) and self.alive)

    def _accept_ready(self) -> None:
        # The loop's exclusive poll: reached only while no stand-by thread waits (see _standby).
        poller = self._poller
        if poller is not None:
            for listener in poller.select(0):
                self._accept(listener)

    # ---- stand-by threads (any thread) --------------------------------------------------------

    def _quiet(self) -> bool:
        """Whether idle threads should stand by: accepting, and no more connections open than
        posts (under load the loop accepts: one more thread in the GIL's contention costs more
        than it saves, as with the ThreadWorker's standby threads)."""
        return self._accepting and self.alive and len(self._service.connections) <= POSTS

    def _may_accept(self) -> bool:
        # Not full. Stopping is no reason to decline: the kernel woke this thread alone for the
        # connection, and the worker's stop waits for it to be one of the service's (_settle).
        return self._open() < self.settings.connections

    def _declined(self) -> None:
        # A stand-by thread found the worker full: the loop's _accept finds it full too and stops
        # accepting, so that connection_ended() looks for the waiting connection once there is room.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._accept_waiting)

    def _accept_waiting(self) -> None:
        for listener in self._listeners:
            self._accept(listener)

    def _accept_fresh(self, listener: socket.socket) -> tuple[Any, tuple[Any, ...]] | None:
        accepted = accept_one(listener, self._pause)
        if accepted is None:
            return None
        sock, address = accepted
        job = self._service.fresh_job(sock, address, self._socknames.get(listener), self._loop)
        self.publish()
        if job is None:  # stopping meanwhile: the loop's protocol path answers it
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._connect_accepted, sock)
        return job

    def _connect_accepted(self, sock: socket.socket) -> None:
        self._connect(sock)

    def _accept(self, listener: socket.socket, *, rescue: bool = False) -> None:
        limit = self.settings.connections
        for taken in range(accept_burst(self._open())):
            if not self.alive:
                return  # stopping: what waits in the backlog is for the other workers
            if self._open() >= limit:
                self._set_accepting(False)  # resumed by connection_ended()
                # A worker may have closed one just before it could see watch_closes.
                self.connection_ended()
                return
            # Every worker's loop is woken for a new connection (its poll is nested in the loop's,
            # see _standby), so a sibling with fewer connections was told too (see _board).
            if (self.seat is not None and not (rescue and taken == 0)
                    and self.seat.over_share(self._open())):
                self._decline()
                return
            failure: OSError | None = None
            try:
                accepted = accept_nowait(listener)
            except OSError as exc:
                failure = exc
            if failure is not None:
                self._pause_accepting(failure)
                return
            if accepted is None:
                return
            self._pause.accepted()
            sock, address = accepted
            if self.seat is not None:  # counted at once: a sibling in the same burst reads it
                self.seat.publish(self._open() + 1)
            # A worker thread serves what comes with the connection; the loop gets it once it
            # idles (the driver's ``serve_accepted``). TLS: the loop's TLS transport from the start.
            if self.tls is None and self._service.serve_accepted(
                    sock, address, self._socknames.get(listener), loop=self._loop):
                continue
            self._connect(sock)

    def _pause_accepting(self, exc: OSError) -> None:
        """accept() failed for want of a resource (EMFILE...): the listeners stay readable, so
        the loop stops watching them for the pause's delay (or until a connection ends, which
        frees a descriptor: connection_ended)."""
        self._pause.failed(exc)
        self._set_accepting(False)
        if self._paused is None:
            self._paused = self._loop.call_later(self._pause.delay, self._pause_over)

    def _pause_over(self) -> None:
        self._paused = None
        self.connection_ended()

    def _connect(self, sock: socket.socket) -> None:
        # Counted as open until its protocol exists (which then counts itself) or it failed.
        self._pending += 1
        self._service.connect_accepted(sock, loop=self._loop, ssl=self.tls, done=self._connected)

    def _connected(self, _task: asyncio.Task[Any]) -> None:
        self._pending -= 1
        self.connection_ended()

    def _open(self) -> int:
        return len(self._service.connections) + self._pending

    def open_connections(self) -> int:
        """Open connections now (any thread)."""
        return self._open()

    def publish(self) -> None:
        """Tell the board the open connections (any thread)."""
        seat = self.seat
        if seat is not None:
            seat.publish(self._open())

    def _decline(self) -> None:
        """Loop: a sibling holds fewer connections: stop accepting, look again soon."""
        if not self._declining:
            self._declining = True
            self._set_accepting(False)
            self._list()
            self._recheck_later(fresh=True)

    def _recheck_later(self, fresh: bool = False) -> None:
        seat = self.seat
        # Sooner while connections wait: the sibling may have taken its share by now.
        delay = (RECHECK if self._stranded_since is not None or seat is None
                 else seat.next_look(fresh))
        self._loop.call_later(delay, self._recheck)

    def _recheck(self) -> None:
        """Loop, at each look while declining: accept again once no sibling holds fewer; a
        connection nobody has taken for RESCUE_AFTER (the sibling is gone, stopped or starved) is
        taken here, one per look."""
        seat = self.seat
        if seat is None or not self.alive:
            self._declining = False
            return
        seat.check_favoured()
        if not seat.over_share(self._open()):
            self._declining = False
            self._stranded_since = None
            self._service.watch_closes = True  # as when full, until connection_ended() resumes
            self.connection_ended()
            self._list()
            return
        probe = self._probe
        ready = probe.poll(0) if probe is not None else []
        now = self._loop.time()
        if not ready:
            self._stranded_since = None
        elif self._stranded_since is None:
            self._stranded_since = now
        elif now - self._stranded_since >= RESCUE_AFTER:
            self._stranded_since = None
            fd = ready[0][0]
            for listener in self._listeners:
                if listener.fileno() == fd:
                    self._accept(listener, rescue=True)
                    break
        self._recheck_later()

    def connection_ended(self) -> None:
        """Loop thread: a connection ended; accept again if the worker was full."""
        self.publish()
        if (self.alive and not self._accepting and not self._declining
                and self._open() < self.settings.connections):
            self._set_accepting(True)
            # A connection whose wake-up went to a stand-by thread while the worker was full was
            # declined, and the kernel reports it to nobody else: look for waiting ones now.
            self._accept_waiting()
