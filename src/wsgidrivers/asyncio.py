"""An asyncio driver for :mod:`wsgicore`: one event loop for the sockets, a bounded thread pool for the apps.

Thousands of idle keep-alive connections cost one :class:`asyncio.Protocol` object each and no thread;
a WSGI application runs in a :class:`concurrent.futures.ThreadPoolExecutor` of ``max_workers`` threads,
so at most ``max_workers`` requests are inside applications at any time.

Ownership of the :class:`wsgicore.Connection` (which is not thread-safe) moves between two threads and is
never shared:

* While no application runs, the **event loop** owns it: ``data_received`` feeds it, ``next_event`` parses,
  error responses are written straight to the transport.
* From the moment a ``RequestReceived`` is handed to a worker until the worker is done, the **worker**
  owns it. The loop only appends received bytes to a per-connection queue (and pauses reading when that
  queue is full); the worker's ``fetch()`` pops them (waiting on a condition, never polling). The worker's
  ``send()`` appends bytes to an outgoing list and wakes the loop with ``call_soon_threadsafe``; it waits on
  the same condition while the transport is above its high-water mark (``pause_writing``) or the list is
  full, so a slow reader stalls the application instead of growing a buffer.
* The worker's last act is to post "done" through the same outgoing list, so the loop sees it after every
  byte of the response; the loop then feeds the queued bytes back into the Connection and owns it again
  (pipelined requests are answered in order this way).

Public names: :func:`serve`, :func:`create_server`, :func:`shutdown`, :class:`Service` (the protocol
factory, for ``loop.create_server(service, ...)``), :class:`ServerThread` (the driver on a loop of its own
in a background thread), :func:`format_access_line`, :func:`main` (``python -m wsgidrivers.asyncio``).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib
import itertools
import math
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import IO, Any, Final
from wsgiref.simple_server import demo_app

from wsgicore import (
    NEED_DATA,
    PAUSED,
    Config,
    Connection,
    ConnectionClosed,
    RemoteProtocolError,
    RequestReceived,
    ResponseInfo,
)

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "ServerThread",
    "Service",
    "create_server",
    "format_access_line",
    "format_log_line",
    "main",
    "serve",
    "shutdown",
]

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
AccessLog = Callable[[str], None]

#: ThreadPoolExecutor's own default: enough threads for apps that wait on I/O, bounded on big machines.
DEFAULT_MAX_WORKERS: Final = min(32, (os.cpu_count() or 1) + 4)

# Request bytes queued for a running app before the loop stops reading the socket (and where it
# starts again). Bounds the memory a fast uploader or a pipelining flood can make us hold.
_IN_HIGH: Final = 256 * 1024
_IN_LOW: Final = 64 * 1024
# Response bytes handed over by a worker but not yet written to the transport. Together with the
# transport's own high-water mark (64 KiB) this bounds what a slow reader can make us buffer.
_OUT_HIGH: Final = 64 * 1024
# A native sendfile is done in pieces so that a stalled reader is noticed within ``timeout``.
_SENDFILE_PIECE: Final = 1024 * 1024

# Connection states (loop thread only).
_IDLE: Final = 0  # between requests, nothing received: idle timeout
_HEAD: Final = 1  # part of a request head received: head deadline
_APP: Final = 2  # a worker owns the Connection
_CLOSING: Final = 3  # response sent, FIN sent, waiting for the client's FIN (or a deadline)
_CLOSED: Final = 4

_NOTHING: Final[Any] = object()


# --------------------------------------------------------------------------------------------------
# Access log: wsgiref's format, ``addr - - [date] "REQUEST LINE" status size``
# --------------------------------------------------------------------------------------------------

_MONTHS: Final = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# As http.server (3.11+): control characters in logged text are escaped so a request cannot forge
# log lines or terminal escapes.
_CONTROL_CHARS: Final = {
    c: f"\\x{c:02x}" for c in itertools.chain(range(0x20), range(0x7F, 0xA0))
} | {ord("\\"): "\\\\"}
_log_lock = threading.Lock()


def format_log_line(addr: str, message: str, when: float | None = None) -> str:
    """``addr - - [date] message`` plus a newline, as ``http.server``'s ``log_message`` writes it:
    local time, control characters in ``message`` escaped."""
    t = time.localtime(time.time() if when is None else when)
    date = (f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon]:3s}/{t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
    return f"{addr} - - [{date}] {message.translate(_CONTROL_CHARS)}\n"


def format_access_line(
    addr: str, request_line: str, status: int | str, size: int | str, when: float | None = None
) -> str:
    """One access-log line, newline included, exactly as ``wsgiref.simple_server`` writes it.

    ``127.0.0.1 - - [24/Nov/2025 04:05:06] "GET / HTTP/1.1" 200 12``: local time, body size in bytes
    (``-`` when unknown).
    """
    return format_log_line(addr, f'"{request_line}" {status} {size}', when)


def _request_line(environ: dict[str, Any]) -> str:
    """The request line as received, for the log (wsgiref logs ``requestline``)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not isinstance(raw, str):
        raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if query:
            raw = f"{raw}?{query}"
    return f"{environ.get('REQUEST_METHOD', '-')} {raw} {environ.get('SERVER_PROTOCOL', '-')}"


def _stderr_log(line: str) -> None:
    # sys.stderr is looked up per call, so redirection (and pytest's capture) applies.
    with _log_lock:
        sys.stderr.write(line)


# --------------------------------------------------------------------------------------------------
# Service: everything the connections of one server share
# --------------------------------------------------------------------------------------------------


def _driver_config(config: Config | None, *, tls: bool, keep_alive: bool) -> Config:
    base = config if config is not None else Config()
    # PEP 3333: wsgi.multithread must be true when the app may run in several threads at once.
    changes: dict[str, Any] = {"multithread": True}
    if not keep_alive:
        changes["keep_alive"] = False
    if base.clock is None:
        # RFC 9110 §6.6.1: an origin server with a clock MUST send Date.
        changes["clock"] = time.time
    if tls and base.url_scheme == "http":
        changes["url_scheme"] = "https"
    return dataclasses.replace(base, **changes)


class Service:
    """The state shared by every connection of one served application; call it to get a protocol.

    ``loop.create_server(service, host, port)`` works directly. The service owns the worker pool;
    :meth:`shutdown` closes idle connections, lets in-flight requests finish within ``grace`` seconds,
    aborts the rest and shuts the pool down. A service is not reusable after :meth:`shutdown`.

    Settings (the names and defaults of ``wsgidrivers.simple_server``; times in seconds, > 0):

    ====================== ======= ==============================================================
    ``keep_alive``         True    keep connections open between requests (and
                                   ``config.keep_alive`` must allow it too)
    ``keep_alive_timeout`` 5.0     an idle kept-alive connection waits this long for a request
    ``head_timeout``       10.0    deadline for a whole request head, from its first byte (from
                                   the accept for the first request): closed silently after it
    ``io_timeout``         30.0    how long a worker waits for the client to take response bytes
                                   or send more body bytes; then ``send``/``wsgi.input.read``
                                   raise :class:`TimeoutError` and the connection is closed
    ``linger_timeout``     2.0     after the last response the server half-closes and reads until
                                   the client's EOF for at most this long (RFC 9112 §9.6), so a
                                   client still sending gets the response instead of a RST
    ``linger_bytes``       1 MiB   input discarded at most while lingering
    ====================== ======= ==============================================================
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        config: Config | None = None,
        max_workers: int | None = None,
        keep_alive_timeout: float = 5.0,
        head_timeout: float = 10.0,
        io_timeout: float = 30.0,
        linger_timeout: float = 2.0,
        linger_bytes: int = 1024 * 1024,
        keep_alive: bool = True,
        access_log: AccessLog | None = _stderr_log,
        errors: IO[str] | None = None,
        use_sendfile: bool = True,
        tls: bool = False,
    ) -> None:
        workers = DEFAULT_MAX_WORKERS if max_workers is None else max_workers
        if workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {workers!r}")
        for name, value in (
            ("keep_alive_timeout", keep_alive_timeout),
            ("head_timeout", head_timeout),
            ("io_timeout", io_timeout),
            ("linger_timeout", linger_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, not {value!r}")
        if linger_bytes < 0:
            raise ValueError(f"linger_bytes must be >= 0, not {linger_bytes!r}")
        self.app = app
        self.config = _driver_config(config, tls=tls, keep_alive=keep_alive)
        self.max_workers = workers
        self.keep_alive_timeout = keep_alive_timeout
        self.head_timeout = head_timeout
        self.io_timeout = io_timeout
        self.linger_timeout = linger_timeout
        self.linger_bytes = linger_bytes
        self.access_log = access_log
        self.errors = errors
        self.use_sendfile = use_sendfile and not tls
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="wsgi-worker"
        )
        self.closing = False
        self.connections: set[WSGIProtocol] = set()
        self._all_closed: asyncio.Future[None] | None = None

    def __call__(self) -> WSGIProtocol:
        return WSGIProtocol(self)

    @property
    def error_stream(self) -> IO[str]:
        """``wsgi.errors``: the stream given to the service, else the current ``sys.stderr``."""
        return self.errors if self.errors is not None else sys.stderr

    def report(self, message: str) -> None:
        """Write a driver problem (with the current traceback, if any) to the error stream."""
        text = message
        if sys.exc_info()[1] is not None:
            text += "\n" + traceback.format_exc()
        with contextlib.suppress(Exception), _log_lock:
            self.error_stream.write(text if text.endswith("\n") else text + "\n")

    def log(self, addr: str, message: str) -> None:
        """Write ``addr - - [date] message`` to the access log (as ``log_message`` in wsgiref)."""
        log = self.access_log
        if log is not None:
            try:
                log(format_log_line(addr, message))
            except Exception:
                self.report("wsgidrivers.asyncio: access log failed")

    def log_access(self, addr: str, request_line: str, status: int | str, size: int | str) -> None:
        """The access-log line of one response (as ``log_request`` in wsgiref)."""
        self.log(addr, f'"{request_line}" {status} {size}')

    def _added(self, proto: WSGIProtocol) -> None:
        self.connections.add(proto)

    def _removed(self, proto: WSGIProtocol) -> None:
        self.connections.discard(proto)
        waiter = self._all_closed
        if not self.connections and waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Graceful shutdown of the connections (the listening socket is the caller's to close first).

        Idle connections and connections with a partial head are closed now; requests already handed
        to a worker finish (their connection then closes instead of reading the next request) for at
        most ``grace`` seconds; what is left is aborted. Then the worker pool is shut down without
        waiting: a thread stuck inside an application cannot be stopped from outside.
        """
        loop = asyncio.get_running_loop()
        self.closing = True
        for proto in list(self.connections):
            proto.begin_shutdown()
        if self.connections:
            self._all_closed = loop.create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._all_closed), timeout=max(grace, 0.0))
        for proto in list(self.connections):
            proto.abort()
        # Let the aborted transports run connection_lost, which wakes workers blocked in send/fetch.
        for _ in range(3):
            await asyncio.sleep(0)
        self.executor.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------------------------
# One connection
# --------------------------------------------------------------------------------------------------


class _SendError(ConnectionError):
    """Marker base: the exception was raised by this driver's ``send`` (client gone or stalled)."""


class ClientDisconnected(_SendError, ConnectionResetError):
    """The client closed the connection (or it broke) while the response was being sent."""


class SendTimeout(_SendError, TimeoutError):
    """The client did not accept response bytes for ``timeout`` seconds."""


def _address(info: Any) -> tuple[Any, ...] | None:
    # TCP gives (host, port[, flowinfo, scope_id]); a Unix socket gives a str (or b"" / "").
    return tuple(info) if isinstance(info, tuple) and len(info) >= 2 else None


class WSGIProtocol(asyncio.Protocol):
    """One client connection. Loop-thread methods and worker-thread methods are marked as such.

    The lock-protected fields (``_cond``) are the only ones both threads touch: the request-body
    queue (``_in*``), the outgoing list (``_out*``, ``_done``) and the flow-control flags.
    """

    def __init__(self, service: Service) -> None:
        self._service = service
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._conn: Connection | None = None
        self._addr = "-"
        self._state = _IDLE
        self._peer_eof = False
        self._close_after_app = False
        self._served = 0  # requests handed to the app on this connection
        self._discarded = 0
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = math.inf
        self._hard_deadline = math.inf
        self._cond = threading.Condition(threading.Lock())
        # Shared under _cond: loop -> worker.
        self._in: deque[bytes] = deque()
        self._in_bytes = 0
        self._in_eof = False
        self._reading_paused = False
        self._resume_scheduled = False
        # Shared under _cond: worker -> loop.
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._flush_scheduled = False
        self._done: Any = _NOTHING
        self._write_paused = False
        self._lost = False

    # ---- asyncio.Protocol (loop thread) ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError(f"WSGIProtocol needs a stream transport, not {transport!r}")
        service = self._service
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        peer = _address(transport.get_extra_info("peername"))
        self._addr = str(peer[0]) if peer is not None else "-"
        self._conn = Connection(
            service.config, peer=peer, sockname=_address(transport.get_extra_info("sockname"))
        )
        service._added(self)
        if service.closing:
            self._state = _CLOSING
            transport.close()
            return
        # The first request gets the head deadline from the accept: a silent client is a slow one.
        self._set_deadline(self._loop.time() + service.head_timeout)

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state == _APP:
            with self._cond:
                self._in.append(data)
                self._in_bytes += len(data)
                self._cond.notify()
                pause = self._in_bytes > _IN_HIGH and not self._reading_paused
                if pause:
                    self._reading_paused = True
            if pause and self._transport is not None:
                self._transport.pause_reading()
        elif state in (_IDLE, _HEAD):
            if state == _IDLE:
                self._state = _HEAD
                self._set_deadline(self._now() + self._service.head_timeout)
            self._require_conn().receive_data(data)
            self._advance()
        elif state == _CLOSING:
            self._discarded += len(data)
            if self._discarded > self._service.linger_bytes and self._transport is not None:
                self._transport.close()

    def eof_received(self) -> bool | None:
        self._peer_eof = True
        state = self._state
        if state == _APP:
            with self._cond:
                self._in_eof = True
                self._cond.notify()
            return True  # keep the write side open: the response is still coming
        if state in (_IDLE, _HEAD):
            self._require_conn().receive_data(b"")
            self._advance()
            return True
        return False  # closing: the transport closes once its buffer is flushed

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with self._cond:
            self._lost = True
            self._cond.notify_all()
        self._service._removed(self)

    def pause_writing(self) -> None:
        with self._cond:
            self._write_paused = True

    def resume_writing(self) -> None:
        with self._cond:
            self._write_paused = False
            self._cond.notify_all()

    @property
    def buffered_bytes(self) -> tuple[int, int]:
        """``(request bytes queued for the app, response bytes not yet given to the transport)``."""
        with self._cond:
            return self._in_bytes, self._out_bytes

    # ---- control from the service (loop thread) --------------------------------------------------

    def begin_shutdown(self) -> None:
        """Close now if no request is in an application (or stop lingering); otherwise close after
        the response of the request in progress."""
        if self._state in (_IDLE, _HEAD):
            self._close(linger=False)
        elif self._state == _APP:
            self._close_after_app = True
        elif self._state == _CLOSING and self._transport is not None:
            self._transport.close()  # stop lingering; what is buffered is still sent

    def abort(self) -> None:
        """Drop the connection now (RST); a worker blocked on it is woken by ``connection_lost``."""
        if self._transport is not None and self._state != _CLOSED:
            self._transport.abort()

    # ---- parsing while the loop owns the Connection (loop thread) ------------------------------

    def _advance(self) -> None:
        """Ask the Connection for events until it needs bytes, hands a request over, or ends."""
        conn = self._require_conn()
        transport = self._require_transport()
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                # The head (or a body being drained) broke HTTP: send the core's ready-made answer.
                self._write(conn.data_to_send() + exc.response)
                # As the blocking driver (and http.server's send_error): a log_error line.
                self._service.log(self._addr, f"code {exc.status_code or '-'}, message {exc.reason}")
                self._close()
                return
            except Exception:
                self._service.report("wsgidrivers.asyncio: Connection.next_event failed")
                transport.abort()
                return
            if event is NEED_DATA:
                self._write(conn.data_to_send())
                return
            if isinstance(event, RequestReceived):
                self._write(conn.data_to_send())
                if self._service.closing:
                    self._close()  # shutting down: no new work, even if already received
                    return
                self._dispatch(event.environ)
                return
            if isinstance(event, ConnectionClosed):
                self._write(conn.data_to_send())
                self._close()
                return
            if event is PAUSED:
                # Only returned to drivers that ask for events before running the app; we never do.
                self._service.report("wsgidrivers.asyncio: unexpected PAUSED from Connection")
                transport.abort()
                return
            # BodyReceived / RequestComplete: body bytes the core discards for us; keep going.

    def _dispatch(self, environ: dict[str, Any]) -> None:
        self._state = _APP
        self._served += 1
        self._deadline = math.inf  # the worker applies `timeout` to its own reads and writes
        try:
            self._service.executor.submit(self._work, environ)
        except RuntimeError:  # the pool is shut down
            self.abort()

    # ---- the worker (worker thread; owns the Connection until it posts "done") ------------------

    def _work(self, environ: dict[str, Any]) -> None:
        service = self._service
        conn = self._require_conn()
        outcome: Any
        try:
            environ["wsgi.input"] = conn.input_stream(self._fetch)
            environ["wsgi.errors"] = service.error_stream
            sendfile = self._sendfile if service.use_sendfile else None
            info = conn.run_app(service.app, environ, self._send, sendfile=sendfile)
            outcome = info
        except BaseException as exc:  # a worker must always hand the connection back
            if isinstance(exc, _SendError):
                what = ("stopped reading" if isinstance(exc, TimeoutError)
                        else f"disconnected ({type(exc).__name__})")
                service.log(self._addr,
                            f'"{_request_line(environ)}" response not completed: client {what}')
            else:
                service.report("wsgidrivers.asyncio: error while running the application")
            with contextlib.suppress(Exception):
                conn.send_failed()
            outcome = exc
        else:
            service.log_access(self._addr, _request_line(environ), info.status, info.body_bytes)
        with self._cond:
            self._done = outcome
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._wake_loop()

    def _wake_loop(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to tell
                loop.call_soon_threadsafe(self._flush)

    def _send(self, data: bytes) -> None:
        """``send`` for ``run_app``: hand bytes to the loop; block while the client is behind."""
        if not data:
            return
        if not isinstance(data, bytes):
            data = bytes(data)  # the core may reuse a buffer it passed as a view
        with self._cond:
            if self._lost or self._write_paused or self._out_bytes >= _OUT_HIGH:
                self._wait_writable()
            self._out.append(data)
            self._out_bytes += len(data)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._wake_loop()

    def _wait_writable(self) -> None:
        # Called with _cond held. The deadline restarts with each send, so any progress resets it.
        deadline = time.monotonic() + self._service.io_timeout
        while True:
            if self._lost:
                raise ClientDisconnected("client disconnected")
            if not self._write_paused and self._out_bytes < _OUT_HIGH:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SendTimeout(f"client took no data for {self._service.io_timeout} s")
            self._cond.wait(remaining)

    def _fetch(self) -> bytes:
        """``fetch`` for ``input_stream``: the next received bytes, b"" at EOF; waits without polling."""
        pending = self._require_conn().data_to_send()  # e.g. 100 Continue, before we wait for the body
        if pending:
            self._send(pending)
        resume = False
        with self._cond:
            if not self._in and not self._in_eof and not self._lost:
                deadline = time.monotonic() + self._service.io_timeout
                while not self._in and not self._in_eof and not self._lost:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._close_after_app = True
                        raise TimeoutError(f"client sent no body bytes for {self._service.io_timeout} s")
                    self._cond.wait(remaining)
            if not self._in:
                return b""  # EOF or connection lost: the core turns a short body into its error
            data = self._in.popleft() if len(self._in) == 1 else b"".join(self._in)
            self._in.clear()
            self._in_bytes = 0
            if self._reading_paused and not self._resume_scheduled:
                self._resume_scheduled = resume = True
        if resume and self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._resume_reading)
        return data

    def _sendfile(self, file: Any, offset: int, count: int | None) -> int:
        """``sendfile`` for ``run_app``: the loop's native sendfile, in pieces, each within ``timeout``."""
        loop = self._loop
        transport = self._transport
        if loop is None or transport is None:
            raise ClientDisconnected("client disconnected")
        sent = 0
        while count is None or sent < count:
            piece = _SENDFILE_PIECE if count is None else min(_SENDFILE_PIECE, count - sent)
            self._send_barrier()
            future = asyncio.run_coroutine_threadsafe(
                loop.sendfile(transport, file, offset + sent, piece), loop
            )
            try:
                n = future.result(self._service.io_timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise SendTimeout(f"client took no data for {self._service.io_timeout} s") from None
            except (ConnectionError, RuntimeError, OSError) as exc:
                raise ClientDisconnected(f"client disconnected: {exc}") from exc
            sent += n
            if n < piece:
                break  # end of file
        return sent

    def _send_barrier(self) -> None:
        with self._cond:
            if self._lost:
                raise ClientDisconnected("client disconnected")

    # ---- back in the loop -----------------------------------------------------------------------

    def _flush(self) -> None:
        """Write what workers handed over; if the worker is done, take the Connection back."""
        with self._cond:
            chunks = self._out
            self._out = []
            self._flush_scheduled = False
            done = self._done
            self._done = _NOTHING
        size = 0
        if chunks:
            size = sum(map(len, chunks))
            self._write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            with self._cond:
                self._out_bytes -= size
                self._cond.notify_all()
        if done is not _NOTHING:
            self._app_finished(done)

    def _app_finished(self, outcome: Any) -> None:
        if self._state == _CLOSED:
            return
        conn = self._require_conn()
        with self._cond:
            queued = list(self._in)
            self._in.clear()
            self._in_bytes = 0
            eof = self._in_eof
            self._in_eof = False
            paused = self._reading_paused
            self._reading_paused = False
        if isinstance(outcome, BaseException):
            self.abort()  # client gone, stalled, or a fault: nothing more to say on this connection
            return
        if not isinstance(outcome, ResponseInfo):
            self.abort()
            return
        for data in queued:
            conn.receive_data(data)
        if eof:
            conn.receive_data(b"")
        if self._close_after_app or self._service.closing:
            self._close()
            return
        self._state = _HEAD if conn.trailing_data[0] else _IDLE
        self._set_deadline(
            self._now()
            + (self._service.head_timeout if self._state == _HEAD else self._service.keep_alive_timeout)
        )
        if paused:
            self._require_transport().resume_reading()
        self._advance()

    def _resume_reading(self) -> None:
        with self._cond:
            self._resume_scheduled = False
            if not self._reading_paused or self._in_bytes > _IN_LOW:
                return
            self._reading_paused = False
        if self._state == _APP and self._transport is not None:
            self._transport.resume_reading()

    # ---- closing and deadlines (loop thread) -----------------------------------------------------

    def _close(self, *, linger: bool = True) -> None:
        """Finish the connection: half-close, discard input until the client's EOF, then close.

        ``linger=False`` when no response was just sent (idle, timed-out head, shutdown): then
        there is nothing for a RST to destroy, and the connection is closed at once.
        """
        if self._state in (_CLOSING, _CLOSED):
            return
        self._state = _CLOSING
        transport = self._require_transport()
        now = self._now()
        # Whatever is still buffered gets io_timeout to leave; then the connection is aborted.
        self._hard_deadline = now + self._service.io_timeout
        self._set_deadline(now + self._service.linger_timeout)
        if not linger or self._peer_eof or not transport.can_write_eof():
            transport.close()
            return
        # RFC 9112 §9.6: close the write side first and read until the client closes, so the
        # response is not destroyed by a RST caused by request bytes we never read.
        transport.write_eof()
        with contextlib.suppress(Exception):
            transport.resume_reading()

    def _now(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else time.monotonic()

    def _set_deadline(self, when: float) -> None:
        # One timer per connection, moved lazily: a later deadline only updates the field and the
        # timer re-arms itself when it fires, so the hot path does not churn the loop's heap.
        self._deadline = when
        timer = self._timer
        loop = self._loop
        if loop is None or math.isinf(when):
            return
        if timer is None or timer.when() > when:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._state == _CLOSED:
            return
        now = self._now()
        if now < self._deadline:
            self._set_deadline(self._deadline)
            return
        transport = self._require_transport()
        if self._state in (_IDLE, _HEAD):
            # Idle keep-alive timeout, or head deadline (slowloris): close without a response.
            if self._state == _HEAD or not self._served:
                self._service.log(self._addr, f"request head not received within "
                                              f"{self._service.head_timeout} s; closing")
            self._close(linger=False)
        elif self._state == _CLOSING:
            if transport.get_write_buffer_size() == 0:
                transport.close()
            elif now >= self._hard_deadline:
                transport.abort()
            else:
                self._set_deadline(min(self._hard_deadline, now + self._service.linger_timeout))

    # ---- helpers ----------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _require_conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("connection_made has not been called")
        return self._conn

    def _require_transport(self) -> asyncio.Transport:
        if self._transport is None:
            raise RuntimeError("connection_made has not been called")
        return self._transport


# --------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------

_SERVICES: weakref.WeakKeyDictionary[asyncio.AbstractServer, Service] = weakref.WeakKeyDictionary()


async def create_server(
    app: WSGIApplication,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    config: Config | None = None,
    max_workers: int | None = None,
    sock: Any = None,
    ssl: Any = None,
    backlog: int = 1024,
    reuse_port: bool | None = None,
    keep_alive_timeout: float = 5.0,
    head_timeout: float = 10.0,
    io_timeout: float = 30.0,
    linger_timeout: float = 2.0,
    linger_bytes: int = 1024 * 1024,
    keep_alive: bool = True,
    access_log: AccessLog | None = _stderr_log,
    errors: IO[str] | None = None,
    use_sendfile: bool = True,
) -> asyncio.Server:
    """Start serving ``app`` on the running loop; return the listening :class:`asyncio.Server`.

    ``sock`` (an already bound socket) replaces ``host``/``port``. ``ssl`` is an
    :class:`ssl.SSLContext`; with it ``wsgi.url_scheme`` is ``https``. The other keywords are
    :class:`Service`'s. Stop it with :func:`shutdown` (``server.close()`` alone stops accepting but
    leaves the open connections and the worker pool alone).
    """
    service = Service(
        app,
        config=config,
        max_workers=max_workers,
        keep_alive_timeout=keep_alive_timeout,
        head_timeout=head_timeout,
        io_timeout=io_timeout,
        linger_timeout=linger_timeout,
        linger_bytes=linger_bytes,
        keep_alive=keep_alive,
        access_log=access_log,
        errors=errors,
        use_sendfile=use_sendfile,
        tls=ssl is not None,
    )
    loop = asyncio.get_running_loop()
    try:
        if sock is not None:
            server = await loop.create_server(service, sock=sock, ssl=ssl, backlog=backlog)
        else:
            server = await loop.create_server(
                service, host, port, ssl=ssl, backlog=backlog, reuse_port=reuse_port
            )
    except BaseException:
        service.executor.shutdown(wait=False)
        raise
    _SERVICES[server] = service
    return server


def service_of(server: asyncio.AbstractServer) -> Service:
    """The :class:`Service` behind a server made by :func:`create_server`."""
    try:
        return _SERVICES[server]
    except KeyError:
        raise ValueError(f"{server!r} was not made by wsgidrivers.asyncio.create_server") from None


async def shutdown(server: asyncio.AbstractServer, grace: float = 10.0) -> None:
    """Stop accepting, close idle connections, let in-flight requests finish within ``grace`` seconds."""
    service = service_of(server)
    server.close()
    await service.shutdown(grace)


async def serve(
    app: WSGIApplication,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    config: Config | None = None,
    max_workers: int | None = None,
    grace: float = 10.0,
    on_ready: Callable[[asyncio.Server], None] | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` until cancelled, then shut down gracefully (see :func:`shutdown`).

    ``options`` are :func:`create_server`'s keywords. ``on_ready(server)`` is called once the socket
    listens (``server.sockets[0].getsockname()`` gives the port when ``port=0``).
    """
    server = await create_server(
        app, host, port, config=config, max_workers=max_workers, **options
    )
    try:
        if on_ready is not None:
            on_ready(server)
        await asyncio.get_running_loop().create_future()  # until cancelled
    finally:
        await shutdown(server, grace)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ServerThread:
    """The asyncio driver on an event loop of its own, in a background thread.

    For tests and for programs that are not asyncio themselves::

        with ServerThread(app, port=0) as (host, port):
            ...  # talk to http://host:port/

    Keywords are :func:`create_server`'s. :meth:`stop` shuts down gracefully within ``grace``.
    """

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        grace: float = 5.0,
        **options: Any,
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._grace = grace
        self._options = options
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="wsgidrivers.asyncio", daemon=True)
        self.address: tuple[str, int] = (host, port)
        self.service: Service | None = None

    def start(self, timeout: float = 10.0) -> tuple[str, int]:
        """Start the thread and wait until the socket listens; return ``(host, port)``."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the asyncio server did not start")
        if self._error is not None:
            raise self._error
        return self.address

    def stop(self, timeout: float | None = None) -> None:
        """Shut down gracefully and join the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_set_done, stop)
        self._thread.join(self._grace + 5.0 if timeout is None else timeout)

    def __enter__(self) -> tuple[str, int]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the thread that called start()
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        server = await create_server(self._app, self._host, self._port, **self._options)
        self.service = service_of(server)
        sockname = server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        self._ready.set()
        try:
            await self._stop
        finally:
            await shutdown(server, self._grace)


# --------------------------------------------------------------------------------------------------
# python -m wsgidrivers.asyncio module:app --host --port --workers
# --------------------------------------------------------------------------------------------------


def import_app(spec: str) -> WSGIApplication:
    """``"package.module:attr.attr"`` -> the object; ``"package.module"`` -> its ``application``."""
    module_name, _, attrs = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for attr in (attrs or "application").split("."):
        obj = getattr(obj, attr)
    if not callable(obj):
        raise TypeError(f"{spec} is not callable")
    app: WSGIApplication = obj
    return app


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wsgidrivers.asyncio",
        description="Serve a WSGI application with wsgicore on an asyncio event loop.",
    )
    p.add_argument("app", nargs="?", help="module:callable (default: wsgiref's demo app)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=None,
                   help=f"threads running the app (default {DEFAULT_MAX_WORKERS})")
    p.add_argument("--keep-alive-timeout", type=float, default=5.0, help="keep-alive idle timeout, s")
    p.add_argument("--head-timeout", type=float, default=10.0, help="request head deadline, s")
    p.add_argument("--io-timeout", type=float, default=30.0, help="client read/write timeout, s")
    p.add_argument("--grace", type=float, default=10.0, help="shutdown grace period, s")
    p.add_argument("--no-access-log", action="store_true", help="do not log requests")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status. SIGINT/SIGTERM shut down gracefully."""
    args = _parser().parse_args(argv)
    app = import_app(args.app) if args.app else demo_app

    async def run() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(signum, task.cancel)

        def ready(server: asyncio.Server) -> None:
            host, port = server.sockets[0].getsockname()[:2]
            print(f"Serving HTTP on {host} port {port} (http://{host}:{port}/) ...", flush=True)

        await serve(
            app,
            args.host,
            args.port,
            max_workers=args.workers,
            grace=args.grace,
            on_ready=ready,
            keep_alive_timeout=args.keep_alive_timeout,
            head_timeout=args.head_timeout,
            io_timeout=args.io_timeout,
            access_log=None if args.no_access_log else _stderr_log,
        )

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
