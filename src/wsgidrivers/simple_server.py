"""A drop-in replacement for :mod:`wsgiref.simple_server`, built on :mod:`wsgicore`.

Change ``from wsgiref.simple_server import make_server`` to
``from wsgidrivers.simple_server import make_server``: the names, the classes' hook points
(``get_environ``, ``get_stderr``, ``log_message``, ``handle_error``, ...) and the blocking
one-connection-at-a-time behaviour stay; HTTP parsing, the environ and the response are the core's
(correct HTTP/1.1, strict limits), and every wait is bounded by a timeout.

This module only accepts, reads, writes, closes and times out; it never parses HTTP.

Settings (class attributes of :class:`WSGIServer`, also keyword arguments of :func:`make_server`;
the README's table has the reasons for each default):

- ``config``: the core's :class:`wsgicore.Config` (limits, leniency, ``Server``/``Date``).
- ``keep_alive`` (False; True in ThreadingWSGIServer): keep connections open between requests.
- ``head_timeout`` (10 s): deadline for a whole request head; then the connection is closed.
- ``io_timeout`` (30 s): how long one body read or one response write may wait.
- ``keep_alive_timeout`` (5 s): how long an idle kept-alive connection waits for a request.
- ``linger_timeout`` (2 s) / ``linger_bytes`` (1 MiB): lingering close after the last response.
- ``receive_buffer`` (256 KiB): SO_RCVBUF of accepted sockets (None: the OS default).
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import socketserver
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO
from typing import Any, TextIO

from wsgicore import (
    NEED_DATA,
    Config,
    Connection,
    ConnectionClosed,
    Problem,
    RemoteProtocolError,
    RequestReceived,
    ResponseInfo,
    __version__,
)

from . import _settings
from ._accesslog import log_line, not_completed_message, request_parts, write_stderr
from ._linger import Lingerer
from ._socketio import KERNEL_TIMEOUTS, READ_SIZE, Channel, set_kernel_timeout
from ._types import ExcInfo, StartResponse, WSGIApplication

__all__ = [
    "ServerHandler",
    "ThreadingWSGIServer",
    "WSGIRequestHandler",
    "WSGIServer",
    "demo_app",
    "make_server",
]

#: Identifies this server (wsgiref: "WSGIServer/0.2"); the ``Server`` header is software_version.
server_version = f"wsgicore/{__version__}"
sys_version = f"{platform.python_implementation()}/{sys.version.split()[0]}"
software_version = f"{server_version} {sys_version}"

#: Seconds without input after which a lingering close stops early: a client that is still
#: uploading keeps data coming (its window is full); one that is just slow to close costs this.
LINGER_QUIET = 0.25

#: Connections ``serve_forever()`` accepts per wake-up when several are waiting (Linux): a burst of
#: new connections then costs one poll() in all instead of one each (measured: -4 µs per connection).
ACCEPT_BURST = 16


class WSGIServer(HTTPServer):
    """A blocking HTTP server for one WSGI application, serving one connection at a time.

    An :class:`http.server.HTTPServer`, so ``serve_forever()``, ``handle_request()``,
    ``shutdown()``, ``server_close()``, ``timeout``, ``handle_error()`` and the context manager
    behave as documented there. Methods that may be overridden: ``server_bind``, ``setup_environ``,
    ``handle_error``, and everything socketserver lists.
    """

    application: WSGIApplication | None = None
    base_environ: dict[str, Any]

    #: listen() backlog. socketserver's 5 makes the kernel drop the SYNs of a sixth client that
    #: connects while one is being served, and the client retries only after 1 s (then 2 s, ...).
    request_queue_size = 128

    #: The core's limits and policies; a subclass (or make_server's ``config=``) sets its own.
    config: Config = Config(clock=time.time, server_software=software_version)
    #: Persistent connections (RFC 9112 §9.3). Off: one request per connection, as wsgiref.
    keep_alive: bool = False
    #: Deadline in seconds for a whole request head. A slow or stalled client (half a request)
    #: cannot hold a single-threaded server longer than this.
    head_timeout: float = _settings.HEAD_TIMEOUT
    #: Seconds one read of the request body or one write of the response may wait.
    io_timeout: float = _settings.IO_TIMEOUT
    #: Seconds an idle kept-alive connection waits for its next request.
    keep_alive_timeout: float = _settings.KEEP_ALIVE_TIMEOUT
    #: Seconds, and bytes, of input discarded at most by a lingering close (RFC 9112 §9.6).
    linger_timeout: float = _settings.LINGER_TIMEOUT
    linger_bytes: int = _settings.LINGER_BYTES
    #: SO_RCVBUF in bytes for accepted sockets (set on the listening socket, which passes it on);
    #: None: the OS default. Large enough that an upload on a new connection does not wait for
    #: window updates every 128 KiB (Linux's initial receive window).
    receive_buffer: int | None = _settings.RECEIVE_BUFFER

    _effective: tuple[Config, bool, bool, Config] | None = None
    #: The (receive, send) timeouts accepted sockets inherit from the listening socket; -1: none.
    inherited_timeouts: tuple[float | None, float | None] = (-1.0, -1.0)
    #: Set by shutdown()/server_close(): kept-alive connections end after their current response.
    stopping: bool = False
    _accept_burst = 1  # connections accepted per readiness report (see server_activate)
    _accepted = 0  # counted by get_request(): tells a burst when nobody else is waiting
    _serving_forever = False

    def __init__(self, server_address: tuple[Any, ...],
                 RequestHandlerClass: Callable[..., socketserver.BaseRequestHandler],
                 bind_and_activate: bool = True) -> None:
        # Only an IPv6 literal contains ':'; picking the family from it needs no DNS lookup.
        if ":" in str(server_address[0]) and self.address_family == socket.AF_INET:
            self.address_family = socket.AF_INET6
        self._linger_requests: set[socket.socket] = set()
        self._close_at_once: set[socket.socket] = set()
        # Made now, not at the first close: its descriptors belong to the server's lifetime.
        self._lingerer: Lingerer | None = Lingerer(LINGER_QUIET)
        super().__init__(server_address, RequestHandlerClass, bind_and_activate)

    def server_bind(self) -> None:
        """Bind the socket, record ``server_name``/``server_port``, then call ``setup_environ()``.

        Unlike http.server, ``server_name`` is the bound address, not ``socket.getfqdn()`` of it: a
        reverse DNS lookup can stall start-up for seconds. ``SERVER_NAME`` in each environ is the
        connection's local address anyway.
        """
        socketserver.TCPServer.server_bind(self)
        if self.receive_buffer is not None:
            # Before listen(): the window scale offered in the handshake depends on it.
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        if KERNEL_TIMEOUTS:
            # Accepted sockets inherit these (Linux): no per-connection system calls for them.
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            set_kernel_timeout(self.socket, socket.SO_RCVTIMEO, self.head_timeout)
            set_kernel_timeout(self.socket, socket.SO_SNDTIMEO, self.io_timeout)
            self.inherited_timeouts = (self.head_timeout, self.io_timeout)
        host, port = self.server_address[:2]
        self.server_name = host.decode("ascii") if isinstance(host, bytes) else str(host)
        self.server_port = int(port)
        self.setup_environ()

    def server_activate(self) -> None:
        super().server_activate()
        if ACCEPT_BURST > 1 and sys.platform == "linux":
            # O_NONBLOCK on the descriptor only: accept() fails with EAGAIN when nobody is waiting,
            # while the socket object still reports blocking mode (handle_request() reads its
            # timeout). Linux does not pass O_NONBLOCK on to accepted sockets (accept(2)).
            os.set_blocking(self.socket.fileno(), False)
            self._accept_burst = ACCEPT_BURST

    def get_request(self) -> tuple[Any, Any]:
        request = super().get_request()
        self._accepted += 1
        return request

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving_forever = True
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving_forever = False

    def _handle_request_noblock(self) -> None:
        # serve_forever() serves every connection already waiting before it polls again;
        # handle_request() keeps its contract of one request per call.
        burst = self._accept_burst if self._serving_forever else 1
        for _ in range(burst):
            accepted = self._accepted
            super()._handle_request_noblock()  # type: ignore[misc]
            if self._accepted == accepted or self.stopping:
                return  # nobody else was waiting (or a subclass's get_request counts nothing)

    def setup_environ(self) -> None:
        """Set ``base_environ``: server-wide keys every request's environ starts from.

        Only keys the core does not set survive (the core's environ wins); a subclass adds its own
        here. wsgiref's ``REMOTE_HOST``/``CONTENT_LENGTH`` placeholders (``""``) are left out: the
        core omits what the request does not carry (PEP 3333 allows either).
        """
        self.base_environ = {
            "SERVER_NAME": self.server_name,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PORT": str(self.server_port),
            "SCRIPT_NAME": "",
        }

    def shutdown(self) -> None:
        """Stop ``serve_forever()`` (from another thread) and wait; connections being served end
        after their current response instead of waiting for another request."""
        self.stopping = True
        super().shutdown()

    def server_close(self) -> None:
        self.stopping = True
        super().server_close()
        if self._lingerer is not None:
            self._lingerer.close()
            self._lingerer = None

    def close_later(self, request: socket.socket) -> None:
        """Ask for a lingering close of ``request`` once its handler has finished."""
        self._linger_requests.add(request)

    def close_at_once(self, request: socket.socket) -> None:
        """Ask for ``request`` to be closed without lingering once its handler has finished: no
        input can arrive any more (see :attr:`wsgicore.Connection.can_close_at_once`)."""
        self._close_at_once.add(request)

    def shutdown_request(self, request: Any) -> None:
        """Hand a connection that asked for it to the lingerer; close the others at once."""
        lingerer = self._lingerer
        if lingerer is not None:
            lingerer.service()  # finish earlier lingering closes first: a handle_request() loop
        if request in self._linger_requests:
            self._linger_requests.discard(request)
            if lingerer is not None and lingerer.add(request, self.linger_timeout, self.linger_bytes):
                return  # the lingerer closes it
        if request in self._close_at_once:
            # Nothing unread and nothing more to come: close() alone sends our FIN (socketserver's
            # shutdown(SHUT_WR) before it would be one more system call).
            self._close_at_once.discard(request)
            self.close_request(request)
            return
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Called by ``serve_forever()`` on each turn of its loop (at least every ``poll_interval``):
        finish lingering closes without waiting."""
        super().service_actions()
        if self._lingerer is not None:
            self._lingerer.service()

    def get_app(self) -> WSGIApplication | None:
        return self.application

    def set_app(self, application: WSGIApplication | None) -> None:
        self.application = application

    def connection_config(self) -> Config:
        """The Config each connection uses: ``config`` with this server's policy applied.

        Keep-alive is on only when both ``keep_alive`` and ``config.keep_alive`` are; the
        ``wsgi.multithread`` flag is set when requests run in threads (PEP 3333 requires it true).
        """
        config = self.config
        keep_alive = config.keep_alive and self.keep_alive
        multithread = config.multithread or isinstance(self, socketserver.ThreadingMixIn)
        cached = self._effective
        if cached is not None and cached[:3] == (config, keep_alive, multithread):
            return cached[3]
        effective = config
        if (config.keep_alive, config.multithread) != (keep_alive, multithread):
            effective = config.replace(keep_alive=keep_alive, multithread=multithread)
        self._effective = (config, keep_alive, multithread, effective)
        return effective


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """A :class:`WSGIServer` that serves each connection in its own thread, with keep-alive on."""

    daemon_threads = True
    keep_alive = True


class ServerHandler:
    """Runs the application for one request and reports its problems.

    This is what remains of wsgiref's ``ServerHandler`` when the core implements PEP 3333: the
    response (status line, headers, framing, the 500 after an app error) is the core's, so there is
    no ``start_response``/``write``/``error_body`` to override here. Override ``log_exception`` to
    change how application errors are reported (wsgiref's hook of the same name and role).
    """

    #: Frames printed per traceback (``None``: all), as wsgiref's ``traceback_limit``.
    traceback_limit: int | None = None

    def __init__(self, request_handler: WSGIRequestHandler, connection: Connection,
                 channel: Channel, *, use_sendfile: bool = False) -> None:
        self.request_handler = request_handler
        self.connection = connection
        self.channel = channel
        self.use_sendfile = use_sendfile
        self.status: int | None = None
        self.bytes_sent = 0

    def run(self, application: WSGIApplication, environ: dict[str, Any]) -> ResponseInfo:
        """Call ``application`` and send its response. An ``OSError`` means the client is gone
        (or stopped reading for ``io_timeout``); the app's iterable has been closed then."""
        info = self.connection.run_app(
            application, environ, self._send,
            sendfile=self._sendfile if self.use_sendfile else None,
            on_problem=self.log_problem,
        )
        self.status = info.status
        self.bytes_sent = info.body_bytes
        return info

    def _send(self, data: bytes) -> None:
        self.channel.send(data, self.request_handler.server.io_timeout)

    def _sendfile(self, file: Any, offset: int, count: int | None) -> int:
        return self.channel.sendfile(file, offset, count, self.request_handler.server.io_timeout)

    def fetch(self, size: int = READ_SIZE) -> bytes:
        """The next bytes of the request for ``wsgi.input`` (``b""`` at EOF): at most ``size``, the
        number the application is waiting for (capped at ``READ_SIZE``), so that pieces arrive the
        size it reads them and the core hands them over without copies.

        An ``OSError`` here (client gone, or silent for ``io_timeout``) is the core's to handle: it
        answers 408 to a timeout (nothing to a reset), reports one line without a traceback through
        :meth:`log_problem` and ends the connection after the response.
        """
        # A pending "100 Continue" must go out before we wait for the body (RFC 9110 §10.1.1).
        timeout = self.request_handler.server.io_timeout
        channel = self.channel
        channel.send(self.connection.data_to_send(), timeout)
        return channel.recv(timeout if channel.has_socket else None,
                            size if size < READ_SIZE else READ_SIZE)

    def log_problem(self, problem: Problem) -> None:
        """Report a problem the core found (app exception, wrong body length, ``close()`` error,
        failed body read) to the request handler's ``get_stderr()``."""
        stderr = self.request_handler.get_stderr()
        stderr.write(problem.message.rstrip("\n") + "\n")
        if problem.exc_info is not None:
            self.log_exception(problem.exc_info)
        else:
            stderr.flush()

    def log_exception(self, exc_info: ExcInfo) -> None:
        """Print the traceback to ``get_stderr()``, as wsgiref's ``ServerHandler.log_exception``."""
        stderr = self.request_handler.get_stderr()
        traceback.print_exception(exc_info[0], exc_info[1], exc_info[2],
                                  limit=self.traceback_limit, file=stderr)
        stderr.flush()


class WSGIRequestHandler(BaseHTTPRequestHandler):
    """Serves one connection of a :class:`WSGIServer`.

    All I/O goes through ``self.rfile``/``self.wfile``. Methods that may be overridden:
    ``get_environ`` (keys it adds reach the app), ``get_stderr`` (``wsgi.errors`` and error
    reports), ``log_message``/``log_request``/``log_error`` (the access log), ``address_string``,
    ``setup``/``finish``. ``command``, ``path`` (the raw target), ``request_version`` and
    ``requestline`` describe the current request; ``headers`` is not set (read ``HTTP_*`` keys).
    """

    server: WSGIServer
    server_version = server_version
    #: Our writes are whole responses or body chunks; Nagle's delay would only add latency.
    disable_nagle_algorithm = True
    #: The class running the application for each request.
    server_handler_class: type[ServerHandler] = ServerHandler

    _rfile: Any = None  # the current rfile/wfile; None until first used (see rfile)
    _wfile: Any = None
    _socket_rfile: Any = None  # the socket's own files, once made
    _socket_wfile: Any = None
    _request_environ: dict[str, Any]

    def setup(self) -> None:
        """StreamRequestHandler's setup, except that ``rfile``/``wfile`` are made when first used:
        while they are the socket's own files the channel reads and writes the socket itself, and
        making two file objects per connection for nothing cost 3 µs of a 67 µs connection."""
        self.connection = self.request
        if self.timeout is not None:
            self.connection.settimeout(self.timeout)
        # With kernel timeouts, TCP_NODELAY was set on the listening socket and inherited at accept().
        if self.disable_nagle_algorithm and self.server.inherited_timeouts[0] == -1.0:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)

    @property
    def rfile(self) -> Any:
        """The request's input file (StreamRequestHandler's): made on first use; may be replaced."""
        if self._rfile is None:
            self._rfile = self._socket_rfile = self.connection.makefile("rb", self.rbufsize)
        return self._rfile

    @rfile.setter
    def rfile(self, value: Any) -> None:
        self._rfile = value

    @property
    def wfile(self) -> Any:
        """The response's output file (StreamRequestHandler's): made on first use; may be replaced."""
        if self._wfile is None:
            if self.wbufsize == 0:
                self._wfile = socketserver._SocketWriter(self.connection)  # type: ignore[attr-defined]
            else:
                self._wfile = self.connection.makefile("wb", self.wbufsize)
            self._socket_wfile = self._wfile
        return self._wfile

    @wfile.setter
    def wfile(self, value: Any) -> None:
        self._wfile = value

    def finish(self) -> None:
        # StreamRequestHandler's finish, for the files that were made.
        wfile = self._wfile
        if wfile is not None:
            if not wfile.closed:
                with contextlib.suppress(OSError):  # the client is gone: nothing to deliver
                    wfile.flush()
            wfile.close()
        if self._rfile is not None:
            self._rfile.close()

    def _own_files(self) -> bool:
        """Whether rfile/wfile are (or will be) the socket's own files, with an unbuffered wfile:
        then reading and writing the socket directly is the same I/O."""
        return (self._rfile is self._socket_rfile and self._wfile is self._socket_wfile
                and self.wbufsize == 0)

    def get_environ(self) -> dict[str, Any]:
        """The current request's environ: ``server.base_environ`` overlaid with the core's environ
        (without ``wsgi.input``/``wsgi.errors``, added afterwards). A fresh dict on each call."""
        environ = self.server.base_environ.copy()
        environ.update(self._request_environ)
        return environ

    def get_stderr(self) -> TextIO:
        """Where ``wsgi.errors`` and error reports go; looked up at each use."""
        return sys.stderr

    def log_message(self, format: str, *args: Any) -> None:
        """Write ``addr - - [date] message`` to ``sys.stderr``, control characters escaped."""
        write_stderr(log_line(self.address_string(), self.log_date_time_string(), format % args))

    def handle(self) -> None:
        """Serve the connection: one request (more with keep-alive), each to completion."""
        self.close_connection = True
        self.requestline = self.command = self.path = self.request_version = ""
        sock = self.connection if isinstance(self.connection, socket.socket) else None
        # Unless a subclass replaced them, rfile/wfile are the socket's own files (wfile unbuffered):
        # then the channel may use the socket directly.
        direct = self._own_files() and sock is not None and KERNEL_TIMEOUTS
        channel = Channel(None if direct else self.rfile, None if direct else self.wfile, sock,
                          direct=direct,
                          kernel_timeouts=self.server.inherited_timeouts)
        connection = Connection(self.server.connection_config(), peer=self.client_address,
                                sockname=self._local_address(sock))
        # An orderly end gets a lingering close (RFC 9112 §9.6), finished by the server's lingerer
        # between connections, unless no input can arrive any more (the client closed its side, or
        # said "Connection: close" and all it sent was read). A timed-out or broken connection is
        # closed at once.
        if self._serve(connection, channel) and sock is not None:
            if connection.can_close_at_once:
                self.server.close_at_once(sock)
            else:
                self.server.close_later(sock)

    def _local_address(self, sock: socket.socket | None) -> tuple[Any, ...]:
        # Bound to one address, the server knows its side of every connection: no getsockname().
        if self.server.server_name not in ("", "0.0.0.0", "::"):
            return (self.server.server_name, self.server.server_port)
        if sock is not None:
            try:
                return tuple(sock.getsockname())
            except OSError:
                pass
        return (self.server.server_name, self.server.server_port)

    def _serve(self, connection: Connection, channel: Channel) -> bool:
        """The connection's event loop. True when the connection ends in an orderly way (linger
        before closing); False when it timed out or broke (close at once)."""
        server = self.server
        timed = channel.has_socket
        deadline = time.monotonic() + server.head_timeout
        idle = False  # waiting for the first byte of a request after the first one
        while True:
            try:
                event = connection.next_event()
            except RemoteProtocolError as exc:
                self.log_error("code %s, message %s", exc.status_code or "-", exc.reason)
                return self._send_final(channel, exc.response)
            if event is NEED_DATA:
                if not self._send_final(channel, connection.data_to_send()):
                    return False
                if idle and server.stopping:
                    return False  # between requests while the server stops: nothing is lost
                timeout = server.keep_alive_timeout if idle else deadline - time.monotonic()
                try:
                    if timeout <= 0:
                        raise TimeoutError
                    data = channel.recv(timeout if timed else None)
                except TimeoutError:
                    if not idle:
                        self.log_error("request head not received within %s s; closing",
                                       server.head_timeout)
                        # A 408 if part of a head had arrived (RFC 9110 §15.5.9), else nothing.
                        self._send_final(channel, connection.time_out())
                    return False
                except OSError:
                    return False
                if idle and data:
                    idle = False
                    deadline = time.monotonic() + server.head_timeout
                connection.receive_data(data)
            elif isinstance(event, RequestReceived):
                if not self._run(connection, channel, event.environ):
                    return False
                unparsed, _ = connection.trailing_data
                idle = not unparsed
                deadline = time.monotonic() + server.head_timeout
            elif isinstance(event, ConnectionClosed):
                return self._send_final(channel, connection.data_to_send())
            else:
                # We run the app on RequestReceived and let wsgi.input read the body, so the core
                # has no other event for us; getting one is a driver bug, for handle_error().
                raise RuntimeError(f"unexpected event from wsgicore: {event!r}")

    def _send_final(self, channel: Channel, data: bytes) -> bool:
        try:
            channel.send(data, self.server.io_timeout)
        except OSError:
            return False
        return True

    def _run(self, connection: Connection, channel: Channel, core_environ: dict[str, Any]) -> bool:
        """Run the app for one request and log it. False if the client went away."""
        self._request_environ = core_environ
        if self.server.stopping:
            connection.close_after_response()
        environ = self.get_environ()
        # The access log's request line, rebuilt from the core's parse (never parsed here).
        self.command, self.path, self.request_version = request_parts(environ)
        self.requestline = f"{self.command} {self.path} {self.request_version}"
        handler = self.server_handler_class(
            self, connection, channel,
            use_sendfile=channel.has_socket and self._own_files(),
        )
        environ["wsgi.input"] = connection.input_stream(fetch_up_to=handler.fetch)
        environ["wsgi.errors"] = self.get_stderr()
        try:
            info = handler.run(self.server.get_app() or _no_app, environ)
        except OSError as exc:
            connection.send_failed()
            self.log_error("%s", not_completed_message(self.requestline, exc))
            return False
        self.log_request(info.status, info.body_bytes)
        return True


def _no_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("no application: call set_app() (or pass one to make_server())")


def demo_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer "Hello world!" and the sorted environ, as plain text (wsgiref's demo_app)."""
    out = StringIO()
    print("Hello world!", file=out)
    print(file=out)
    for key, value in sorted(environ.items()):
        print(key, "=", repr(value), file=out)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [out.getvalue().encode("utf-8")]


def make_server(
    host: str,
    port: int,
    app: WSGIApplication,
    server_class: type[WSGIServer] = WSGIServer,
    handler_class: type[BaseHTTPRequestHandler] = WSGIRequestHandler,
    *,
    config: Config | None = None,
    **settings: Any,
) -> WSGIServer:
    """Create a server listening on ``host``:``port`` for ``app`` (wsgiref's signature).

    ``config`` replaces the server class's :class:`wsgicore.Config` for this server; ``settings``
    set the driver settings by name (``keep_alive``, ``head_timeout``, ``io_timeout``,
    ``keep_alive_timeout``, ``linger_timeout``, ``linger_bytes``, ``receive_buffer``).
    """
    for name, value in settings.items():
        if name not in _settings.SETTING_NAMES and name != "receive_buffer":
            raise TypeError(f"make_server() got an unexpected keyword argument {name!r}")
        _settings.check_setting(name, value)
    if not settings:
        server = server_class((host, port), handler_class)
    else:
        # Settings first, then bind and listen (as socketserver's __init__ would): the listening
        # socket's options (receive buffer, kernel timeouts) come from them.
        server = server_class((host, port), handler_class, bind_and_activate=False)
        for name, value in settings.items():
            setattr(server, name, value)
        try:
            server.server_bind()
            server.server_activate()
        except BaseException:
            server.server_close()
            raise
    server.set_app(app)
    if config is not None:
        server.config = config
    return server


if __name__ == "__main__":
    from ._cli import simple_server_main

    raise SystemExit(simple_server_main())
