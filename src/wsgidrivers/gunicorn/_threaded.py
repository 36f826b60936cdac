"""``ThreadWorker``: gunicorn processes serving with the blocking driver, a thread per connection.

Each listening socket the arbiter hands over gets a ``ThreadingWSGIServer`` of the blocking driver
(its request handler, keep-alive, timeouts and lingering close, unchanged). On Linux the connection
threads accept for themselves: the threading server's pool (``wsgidrivers._common.connthreads``),
each idle thread waiting on the listeners with an exclusive wake-up, so a new connection wakes the
thread that serves it and nobody else (no hand-over from an accepting thread, whose wake-up of a
Python thread while holding the GIL was most of a new connection's cost). The main thread
heartbeats, handles signals and reads the load board (see _board): while a sibling holds fewer
open connections it pauses the pool, and the next connections wake the sibling. Elsewhere the main
thread accepts and hands each connection to a reusable thread (``_pool.ConnectionThreads``).
At most ``--worker-connections`` connections are open at a time, and at most ``--threads``
requests are in the application at once.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from wsgicore import Config, Problem, ResponseInfo
from wsgidrivers._common.connthreads import AcceptingThreads
from wsgidrivers._common.listening import (
    INHERITS_NONBLOCK,
    AcceptPause,
    accept_burst,
    inherit_options,
    is_transient,
)
from wsgidrivers._common.settings import IDLE_THREAD_TIMEOUT, is_loopback
from wsgidrivers.simple_server import ServerHandler, ThreadingWSGIServer, WSGIRequestHandler

from ._base import CoreWorker, listening_socket
from ._board import RECHECK, RESCUE_AFTER
from ._cycle import WSGIApp
from ._poll import Poller
from ._pool import ConnectionThreads, Slots

__all__ = ["ThreadWorker"]

_Taken = tuple["_WorkerServer", Any, Any]

#: Idle connection threads on the listeners at once (see connthreads): two, so that a lone client's
#: next connection finds one waiting while the other finishes the previous connection; not all of
#: them, or the first worker to register would take a whole burst before its board check.
_WAITERS: Final = 2


def _where(client_address: Any) -> str:
    if isinstance(client_address, tuple):
        return f"{client_address[0]}:{client_address[1]}"
    return "a Unix-socket client"


class _WorkerShared:
    """What the servers of one worker (one per listener) share: the open connections and their
    limit, the application slots, the accepting threads (or the listeners' polls), the accept
    pause and the graceful stop."""

    def __init__(self, worker: ThreadWorker) -> None:
        self.worker = worker
        self.log = worker.log
        self.cycle = worker.cycle
        self.tls = worker.tls
        self.app_slots = Slots(worker.settings.threads)
        self.threads = ConnectionThreads()
        self._lock = threading.Lock()
        self.open = 0
        self.limit = worker.settings.connections
        #: The connection threads that accept (Linux), else None: the main loop accepts.
        self.acceptors: AcceptingThreads[_Taken] | None = None
        #: The main loop's poll of the listeners is exclusive (see _poll, accept_burst).
        self.exclusive = False
        #: The main loop's poll of the listeners (without acceptors), for withdraw().
        self.pollers: list[Poller] = []
        self.servers: list[_WorkerServer] = []
        self.withdrawn = False
        #: The worker was full: a connection may wait that no poll will report any more, so the
        #: loop tries accept() (without acceptors).
        self.recheck = False
        #: Graceful stop: each request is answered with "Connection: close". (The servers' own
        #: ``stopping`` would also close a kept-alive connection as soon as it is idle, racing
        #: with a request its client may be sending; this way that request is answered.)
        self.stopping = False
        #: accept() at a resource limit (EMFILE...): the rule of every driver, one pause for the
        #: worker's threads, logged once; the main loop polls no listener until this time.
        self.accept_pause = AcceptPause(lambda line: self.log.warning("%s", line))
        self.paused_until = 0.0
        #: The load board (see _board): a sibling holds fewer open connections, so this worker
        #: polls no listener (its acceptors are paused); the main loop looks again soon
        #: (BoardSeat.next_look).
        self.seat = worker.seat
        self.declining = False

    def publish(self, accepting: int = 0) -> None:
        """Tell the board the open connections (plus ``accepting`` accepted, not yet counted)."""
        seat = self.seat
        if seat is not None:
            seat.publish(self.open + accepting)

    def over_share(self, accepting: int = 0) -> bool:
        """Whether a sibling holds fewer open connections than this worker (see _board)."""
        seat = self.seat
        return seat is not None and seat.over_share(self.open + accepting)

    def accept_failed(self, exc: OSError) -> None:
        """accept() failed otherwise than for one connection: pause accepting (see AcceptPause)."""
        self.accept_pause.failed(exc)
        self.paused_until = time.monotonic() + self.accept_pause.delay

    def opened(self) -> None:
        with self._lock:
            self.open += 1
            self.publish()

    def withdraw(self) -> None:
        """Take this worker off the listeners at once (--max-requests reached, or stopping), from
        any thread: a new connection then wakes another worker. The wake-ups are exclusive: one
        spent on a stopping worker is not repeated for the others, so a stopping worker's thread
        still accepts one it was woken for (see accept_burst, and connthreads' take_when_stopped),
        and this keeps that to the moment before it."""
        self.withdrawn = True
        if self.seat is not None:
            self.seat.set_accepting(False)  # siblings must not leave connections to it
        if self.acceptors is not None:
            self.acceptors.stop()
        for poller in self.pollers:
            for server in self.servers:
                poller.unregister(server.socket)

    def take(self) -> _Taken | None:
        """An accepting thread's connection (see connthreads): the first waiting one, counted
        open; then, if a sibling now holds fewer, the pool pauses and the main loop reads the
        board again soon (the connection the thread was woken for is taken whatever the board
        says: the wake-up may have been this worker's alone)."""
        for server in self.servers:
            accepted = server.accept_one()
            if accepted is not None:
                self.opened()
                acceptors = self.acceptors
                if acceptors is not None and self.over_share():
                    acceptors.pause()
                    self.worker.wake()
                return server, accepted[0], accepted[1]
        return None

    @staticmethod
    def serve_taken(taken: _Taken) -> None:
        server, request, client_address = taken
        server.serve_connection(request, client_address)

    def stop(self) -> None:
        """Graceful stop: see ThreadWorker._stop."""
        self.stopping = True
        self.withdraw()

    def closed(self) -> None:
        with self._lock:
            self.open -= 1
            self.publish()
            was_full = self.open + 1 >= self.limit
            if was_full:
                self.recheck = True
        # Wake the loop only when it waits for this: it stopped polling the listeners (full), or it
        # is stopping. A wake-up per connection cost a pipe write, two reads and a loop turn (with
        # its GIL hand-overs) in the main thread: a large share of a new connection's system calls.
        if was_full or self.stopping or not self.worker.alive:
            self.worker.wake()


class _WorkerServerHandler(ServerHandler):
    """Runs one request under gunicorn's contract (see _cycle), within the ``--threads`` bound."""

    def run(self, application: WSGIApp, environ: dict[str, Any]) -> ResponseInfo:
        handler = self.request_handler
        state: _WorkerShared = handler.server.state  # type: ignore[attr-defined]
        with state.app_slots:
            ticket = state.cycle.begin(environ, handler.client_address)
            if ticket.last:
                state.withdraw()
            # Handed back: a sibling holds fewer connections; the client reconnects (see _board).
            handing_back = state.worker.hand_back_due(state.open, self.connection.keep_alive)
            if ticket.last or state.stopping or handing_back:
                self.connection.close_after_response()  # stopping, or handed back: the last response
            info: ResponseInfo | None = None
            try:
                info = super().run(state.cycle.wrap(ticket, application), environ)
            finally:
                if handing_back:
                    state.worker.hand_back_done()
                state.cycle.end(ticket, environ, info)
        return info

    def log_problem(self, problem: Problem) -> None:
        # Application errors go to gunicorn's error log, with their traceback.
        state: _WorkerShared = self.request_handler.server.state  # type: ignore[attr-defined]
        state.log.error(problem.message.rstrip("\n"), exc_info=problem.exc_info)


class _WorkerHandler(WSGIRequestHandler):
    """The blocking driver's request handler, logging through gunicorn."""

    server_handler_class = _WorkerServerHandler

    def address_string(self) -> str:
        address = self.client_address
        return str(address[0]) if isinstance(address, tuple) else "-"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Nothing: the access log is gunicorn's (_cycle.RequestCycle.end)."""

    def log_message(self, format: str, *args: Any) -> None:
        self.server.state.log.info("%s - %s", self.address_string(), format % args)  # type: ignore[attr-defined]

    def get_stderr(self) -> Any:
        return self.server.state.worker.errors  # type: ignore[attr-defined]


class _UnixWorkerHandler(_WorkerHandler):
    disable_nagle_algorithm = False  # no TCP underneath


class _WorkerServer(ThreadingWSGIServer):
    """The blocking driver's server around one listening socket handed over by the arbiter."""

    _listener_receive_buffer = False  # SO_RCVBUF is set on the listener (see _set_inherited_options)

    def __init__(self, state: _WorkerShared, listener: socket.socket) -> None:
        self.state = state
        settings = state.worker.settings
        # The blocking driver's settings are its server's attributes: set whole, before it binds.
        self.use_settings(settings.driver)
        # The blocking driver has no TLS of its own, so its connection_config() never says https;
        # the worker's listeners may be TLS.
        self._connection_config = settings.serving_config(secure=state.tls is not None)
        self.address_family = listener.family
        # No bind: the arbiter's socket replaces the one socketserver makes.
        handler = _UnixWorkerHandler if listener.family == socket.AF_UNIX else _WorkerHandler
        super().__init__(listener.getsockname(), handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        listener.setblocking(False)  # accepted in bursts until EAGAIN
        address = listener.getsockname()
        if isinstance(address, tuple):
            self.server_name, self.server_port = str(address[0]), int(address[1])
            self._set_inherited_options(listener)
        else:  # a Unix socket: no host or port of its own
            self.server_name, self.server_port = "localhost", 443 if state.tls is not None else 80
        self.setup_environ()
        self.set_app(state.worker.wsgi)

    def _set_inherited_options(self, listener: socket.socket) -> None:
        """Set on the TCP listener the options its accepted sockets inherit (Linux), as the blocking
        driver does for its own listener: TCP_NODELAY, SO_RCVTIMEO (head_timeout), SO_SNDTIMEO
        (io_timeout) and, when every client is local (a loopback listener), SO_RCVBUF. Set per
        connection they were system calls of every new connection. Every worker sets the same
        values on the listener they share. (A Unix socket's accept() inherits none of them: its
        connections keep the per-connection calls.)"""
        inherited = inherit_options(listener, head_timeout=self.head_timeout,
                                    io_timeout=self.io_timeout)
        if inherited is None:
            return
        self.inherited_timeouts = inherited
        # Connections queued before the options were set lack them: get_request() checks the
        # accepted ones until one has them (the blocking driver's adopt_socket rule).
        self._check_inherited = True
        if self.receive_buffer is not None and is_loopback(self.server_name):
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
            self._listener_receive_buffer = True

    def receive_buffer_for(self, client_address: Any) -> int | None:
        if self._listener_receive_buffer:
            return None  # inherited from the listener
        return super().receive_buffer_for(client_address)

    def connection_config(self) -> Config:
        """The Config of every connection: the drivers' rule (see WorkerSettings.serving_config)."""
        return self._connection_config

    def accept_burst(self) -> None:
        """Accept the connections waiting (within --worker-connections), then hand them to their
        threads.

        With at most one connection open (a lone client), one (see ``accept_burst``). The
        listener is level-triggered: connections left waiting are reported again at once. The
        threads are woken once the accepts are done, so that they do not wait for the GIL behind
        them. The first connection is taken whatever the load board says (the wake-up may have
        been this worker's alone); each further one only while no sibling holds fewer
        connections (see _board), so that two workers woken by one burst share it.
        """
        state = self.state
        limit = state.limit
        accepted: list[tuple[Any, Any]] = []
        for _ in range(accept_burst(state.open)):
            if state.open + len(accepted) >= limit:
                break  # full: what waits in the backlog is for the other workers
            if not state.worker.alive and not (state.exclusive and not accepted):
                break  # stopping (but one this loop was woken for alone is taken, see _poll)
            if accepted and state.over_share(len(accepted)):
                state.declining = True  # the main loop stops polling (see ThreadWorker.run)
                break
            try:
                request, client_address = self.get_request()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if is_transient(exc):
                    continue
                state.accept_failed(exc)  # EMFILE and the like: the main loop pauses
                break
            state.accept_pause.accepted()
            if INHERITS_NONBLOCK:
                request.setblocking(True)  # the handler's reads and writes block (with timeouts)
            accepted.append((request, client_address))
            state.publish(len(accepted))
        for request, client_address in accepted:
            self.process_request(request, client_address)

    def accept_one(self) -> tuple[Any, Any] | None:
        """A waiting connection and its peer (None for a Unix-socket client), or None."""
        state = self.state
        try:
            request, client_address = self.get_request()
        except (BlockingIOError, InterruptedError):  # another thread or worker took it
            return None
        except OSError as exc:
            if not is_transient(exc):
                state.accept_failed(exc)
                time.sleep(state.accept_pause.delay)  # EMFILE...: the listener stays readable
            return None
        state.accept_pause.accepted()
        if INHERITS_NONBLOCK:
            request.setblocking(True)
        return request, client_address if isinstance(client_address, tuple) else None

    def process_request(self, request: Any, client_address: Any) -> None:
        # A Unix-socket peer has no address (accept() gives ''): the core takes None for that.
        peer = client_address if isinstance(client_address, tuple) else None
        self.state.opened()
        self.state.threads.submit(self.serve_connection, request, peer)

    def serve_connection(self, request: socket.socket, client_address: Any) -> None:
        """One connection, in a connection thread: TLS handshake, the handler, the close."""
        try:
            tls = self.state.tls
            if tls is not None:
                try:
                    request = self._handshake(tls, request)
                except OSError as exc:  # ssl.SSLError too: not TLS, a bad certificate, gone, slow
                    self.state.log.debug("TLS handshake with %s failed: %s", _where(client_address), exc)
                    return
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            try:
                self.shutdown_request(request)
            finally:
                self.state.closed()

    def _handshake(self, tls: ssl.SSLContext, request: socket.socket) -> socket.socket:
        # In the connection's thread, bounded like a request head: a client that never finishes its
        # handshake costs one thread for head_timeout, not the accept loop.
        request.settimeout(self.head_timeout)
        wrapped = tls.wrap_socket(request, server_side=True)
        wrapped.settimeout(None)
        return wrapped

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.state.log.exception("Error handling the connection from %s", _where(client_address))

    def report(self, message: str) -> None:
        self.state.log.warning("%s", message)


class _ListenerProbe:
    """Whether connections wait on the listeners, without waiting (``poll`` with a zero timeout
    registers no waiter, so it takes no wake-up from anyone)."""

    def __init__(self, servers: list[_WorkerServer]) -> None:
        self._poll = select.poll()
        self._servers = {server.socket.fileno(): server for server in servers}
        for fd in self._servers:
            self._poll.register(fd, select.POLLIN)

    def ready(self) -> list[_WorkerServer]:
        return [self._servers[fd] for fd, _ in self._poll.poll(0) if fd in self._servers]


class _BoardLook:
    """What a main loop reads from the load board at each turn (see _board), the same in both
    loops: whether the worker declines (a sibling holds fewer connections) and whether that is
    new, connections stranded meanwhile (taken with ``rescue``), whether it is listed as a worker
    that accepts, and when to look again."""

    def __init__(self, worker: ThreadWorker, state: _WorkerShared, servers: list[_WorkerServer],
                 rescue: Callable[[_WorkerServer], None]) -> None:
        self._worker = worker
        self._state = state
        self._rescue = rescue
        self._probe = _ListenerProbe(servers) if worker.seat is not None else None
        self._listed = False  # on the board as a worker that accepts
        self._declining = self._fresh = False
        self._stranded_since: float | None = None  # connections waiting while declining: since when

    def read(self, now: float) -> bool:
        """Whether this worker declines now."""
        state = self._state
        declining = state.over_share()
        self._fresh = declining != state.declining
        state.declining = self._declining = declining
        if declining and self._probe is not None:
            self._stranded_since = self._worker.rescue_stranded(
                self._probe, self._stranded_since, now, self._rescue)
        else:
            self._stranded_since = None
        return declining

    def list(self, now: float) -> bool:
        """Whether the worker may take connections (room, not withdrawn, accept() not failing):
        so it is listed on the board, declining or not."""
        state = self._state
        eligible = state.open < state.limit and not state.withdrawn and now >= state.paused_until
        seat = self._worker.seat
        if eligible != self._listed and seat is not None:
            seat.set_accepting(eligible)
            self._listed = eligible
        return eligible

    def timeout(self) -> float:
        """Seconds until the next look: a heartbeat interval unless declining."""
        seat = self._worker.seat
        if not self._declining or seat is None:
            return self._worker.settings.heartbeat
        if self._stranded_since is not None:
            return RECHECK  # connections wait: the sibling may have its share by now
        return seat.next_look(self._fresh)


class ThreadWorker(CoreWorker):
    """gunicorn worker: the blocking driver, one thread per open connection.

    ``gunicorn -k wsgidrivers.gunicorn.ThreadWorker --threads 4 module:app``. ``--threads`` bounds
    the requests in the application at once, ``--worker-connections`` the open connections (each
    holds a thread, also while idle between keep-alive requests, for at most ``--keep-alive``).
    """

    def run(self) -> None:
        state = _WorkerShared(self)
        servers = [_WorkerServer(state, listening_socket(s)) for s in self.sockets]
        state.servers = servers
        poller = Poller()
        poller.register(self.PIPE[0], None)
        try:
            acceptors: AcceptingThreads[_Taken] = AcceptingThreads(
                [server.socket for server in servers], state.take, state.serve_taken,
                limit=state.limit, idle_timeout=IDLE_THREAD_TIMEOUT, daemon=True,
                name="wsgicore-conn", take_when_stopped=True, waiters=_WAITERS)
            if acceptors.start():
                state.acceptors = acceptors
                self._serve_accepting(state, servers, poller, acceptors)
            else:  # no exclusive wake-ups here: the main loop accepts
                acceptors.close()
                self._serve_polling(state, servers, poller)
        finally:
            poller.close()

    def _checks(self, now: float, due: float) -> tuple[bool, float]:
        """The heartbeat and the parent check (a system call) a few times per interval, not on
        every turn: whether to go on, and when to check next."""
        if now < due:
            return True, due
        self.beat()
        return not self.parent_changed(), now + self.settings.heartbeat / 4

    def _serve_accepting(self, state: _WorkerShared, servers: list[_WorkerServer], poller: Poller,
                         acceptors: AcceptingThreads[_Taken]) -> None:
        """The main loop with accepting threads: it reads the board (pausing and resuming the
        threads), rescues stranded connections, keeps the heartbeat and the lingering closes."""
        look = _BoardLook(self, state, servers, self._rescue_one)
        checks_due = 0.0
        while self.alive:
            now = time.monotonic()
            going, checks_due = self._checks(now, checks_due)
            if not going:
                break
            if look.read(now):
                acceptors.pause()
            else:
                acceptors.resume()
            look.list(now)
            if poller.select(look.timeout()):
                self.drain_wakeups()
            for server in servers:
                server.service_actions()
        if self.seat is not None:
            self.seat.set_accepting(False)
        self._stop(state, servers, poller, acceptors.threads)

    @staticmethod
    def _rescue_one(server: _WorkerServer) -> None:
        """A connection nobody took (see _rescue), served in a thread of its own (a rare case:
        the sibling this worker declines for is gone or starved)."""
        accepted = server.accept_one()
        if accepted is None:
            return
        server.state.opened()
        threading.Thread(target=server.serve_connection, args=accepted, name="wsgicore-rescue",
                         daemon=True).start()

    def _serve_polling(self, state: _WorkerShared, servers: list[_WorkerServer],
                       poller: Poller) -> None:
        """The main loop without accepting threads: it polls the listeners, accepts and hands
        each connection to a connection thread."""
        state.pollers = [poller]
        state.exclusive = poller.exclusive
        accepting = False
        look = _BoardLook(self, state, servers, _WorkerServer.accept_burst)
        checks_due = 0.0
        while self.alive:
            now = time.monotonic()
            going, checks_due = self._checks(now, checks_due)
            if not going:
                break
            paused = now < state.paused_until  # accept() failed: not polled meanwhile
            declining = look.read(now)
            # Declining, the worker still counts as one that accepts: a sibling that gets above
            # it leaves the next connections to it (it looks again soon).
            wanted = look.list(now) and not declining
            if wanted != accepting:
                for server in servers:
                    if wanted:
                        poller.register(server.socket, server, shared=True)
                    else:
                        poller.unregister(server.socket)
                accepting = wanted
            if state.recheck and wanted:
                state.recheck = False
                for server in servers:
                    server.accept_burst()
            accepted = False
            # accept() failed: not polled until the pause is over (see AcceptPause)
            timeout = min(self.settings.heartbeat, state.paused_until - now) if paused else look.timeout()
            for ready in poller.select(timeout):
                if ready is None:
                    self.drain_wakeups()
                else:
                    ready.accept_burst()
                    accepted = True
            if not accepted:
                # Lingering closes are finished by each connection's end; this pass is for
                # the quiet times (nothing ends, or nothing arrives for a heartbeat interval).
                for server in servers:
                    server.service_actions()
        if accepting:
            for server in servers:
                poller.unregister(server.socket)
        if self.seat is not None:
            self.seat.set_accepting(False)
        self._stop(state, servers, poller, list)

    def rescue_stranded(self, probe: _ListenerProbe, since: float | None, now: float,
                        take: Callable[[_WorkerServer], None]) -> float | None:
        """While declining: a connection nobody has taken for RESCUE_AFTER seconds (the sibling this
        worker declines for is gone, stopped or starved) is taken here, one per look; returns
        since when connections wait (None: none)."""
        seat = self.seat
        if seat is not None:
            seat.check_favoured()
        ready = probe.ready()
        if not ready:
            return None
        if since is None:
            return now
        if now - since < RESCUE_AFTER:
            return since
        take(ready[0])  # the first unconditionally, no more while declining
        return None

    def _stop(self, state: _WorkerShared, servers: list[_WorkerServer], poller: Poller,
              threads: Callable[[], list[threading.Thread]]) -> None:
        """Graceful stop: accept nothing more; each connection ends after its next response
        (answered with "Connection: close"), or at its keep-alive timeout if idle; wait for them,
        and for the accepting threads to leave (one woken for a connection as the worker stopped
        serves it first), at most --graceful-timeout."""
        state.stop()
        deadline = time.monotonic() + self.settings.graceful_timeout
        while state.open > 0 or any(thread.is_alive() for thread in threads()):
            left = deadline - time.monotonic()
            if left <= 0:
                self.log.warning("Graceful timeout: %d connection(s) still open", state.open)
                break
            self.beat()
            if poller.select(min(left, self.settings.heartbeat)):
                self.drain_wakeups()
            for server in servers:
                server.service_actions()
        for server in servers:
            server.server_close()
