"""The request handler classes of :mod:`wsgidrivers.simple_server` (import them from there): one
connection's event loop over the core, its byte I/O and its logging.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, TextIO

from wsgicore import (
    IDLE_DEADLINE,
    Close,
    Connection,
    Problem,
    Receive,
    RequestReceived,
    ResponseInfo,
)
from wsgidrivers._common.accesslog import (
    log_date,
    log_line,
    not_completed_message,
    request_parts,
    write_stderr,
)
from wsgidrivers._common.listening import KERNEL_TIMEOUTS
from wsgidrivers._common.types import ExcInfo, StartResponse, WSGIApplication

from ._server import WSGIServer, server_version
from ._socketio import READ_SIZE, SocketIO

__all__ = ["ServerHandler", "WSGIRequestHandler"]


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
                 channel: SocketIO, use_sendfile: bool = False) -> None:
        # The request handler passes all four positionally (keyword arguments to a class cost a
        # dict per call on CPython 3.11): an override of __init__ must accept them so.
        self.request_handler = request_handler
        self.connection = connection
        self.channel = channel
        self.use_sendfile = use_sendfile
        self.status: int | None = None
        self.bytes_sent = 0
        # Every write of the response, with the server's I/O timeout: the channel's own callable,
        # made once per connection (no method of ours between the core and the socket).
        self._send = channel.sender(request_handler.server.io_timeout)
        # The callables each run hands the core, bound once (a bound method is an object per use).
        self._fetch: Callable[[int], bytes] = self.fetch
        self._on_problem: Callable[[Problem], None] = self.log_problem
        self._sendfile_hook = self._sendfile if use_sendfile else None

    def run(self, application: WSGIApplication, environ: dict[str, Any]) -> ResponseInfo:
        """Call ``application`` and send its response; the core sets ``wsgi.input`` (reading through
        :meth:`fetch`) and ``wsgi.errors`` (the request handler's ``get_stderr()``). An ``OSError``
        means the client is gone (or stopped reading for ``io_timeout``); the app's iterable has
        been closed then."""
        info = self.connection.run_app(
            application, environ, self._send,
            fetch=self._fetch, errors=self.request_handler.get_stderr(),
            sendfile_with_head=self._sendfile_hook, on_problem=self._on_problem,
        )
        self.status = info.status
        self.bytes_sent = info.body_bytes
        return info

    def drop_links(self) -> None:
        """The connection has ended: drop the bound methods kept for its requests (each refers
        back to this object, a reference cycle only a garbage collection would free)."""
        self._fetch = self._on_problem = _ended
        self._sendfile_hook = None

    def _sendfile(self, file: Any, offset: int, count: int | None, head: bytes = b"") -> int:
        """Send a ``wsgi.file_wrapper`` body after its response ``head`` (``run_app``'s
        ``sendfile_with_head``): with ``sendfile()`` or by copying it in blocks, as the server's
        ``use_sendfile`` says for this client; the head goes with the file's first bytes."""
        request_handler = self.request_handler
        timeout = request_handler.server.io_timeout
        if count is not None and not request_handler.server.sendfile_for(
                request_handler.client_address):
            return self.channel.copy_file(file, offset, count, timeout, head)
        return self.channel.sendfile(file, offset, count, timeout, head)

    def fetch(self, size: int = READ_SIZE) -> bytes:
        """The next bytes of the request for ``wsgi.input`` (``b""`` at EOF): at most ``size``, the
        number the application is waiting for (capped at ``READ_SIZE``), so that pieces arrive the
        size it reads them and the core hands them over without copies.

        An ``OSError`` here (client gone, or silent for ``io_timeout``) is the core's to handle: it
        answers 408 to a timeout (nothing to a reset), reports one line without a traceback through
        :meth:`log_problem` and ends the connection after the response.
        """
        # The core has sent a pending "100 Continue" before it asks (RFC 9110 §10.1.1).
        channel = self.channel
        return channel.recv(self.request_handler.server.io_timeout if channel.has_socket else None,
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

    When a subclass (or test) replaces ``self.rfile``/``self.wfile``, all I/O goes through them;
    otherwise they are made only if used and the socket is read and written directly (the same
    bytes, fewer layers). Methods that may be overridden:
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
    _plain_handler: ServerHandler | None = None  # the connection's ServerHandler, when not subclassed
    _use_sendfile = False
    _plain_environ = False

    def setup(self) -> None:
        """StreamRequestHandler's setup, except that ``rfile``/``wfile`` are made when first used:
        while they are the socket's own files the channel reads and writes the socket itself, and
        making two file objects per connection for nothing costs time on every connection."""
        self.connection = self.request
        if self.timeout is not None:
            self.connection.settimeout(self.timeout)
        # With kernel timeouts, TCP_NODELAY was set on the listening socket and inherited at accept().
        if (self.disable_nagle_algorithm and self.server.inherited_timeouts[0] == -1.0
                and not self.server.is_unix):
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
        (without ``wsgi.input``/``wsgi.errors``, added afterwards). A dict made for this request."""
        # The core made it from base_environ (given to the connection, read when it opened) under
        # its own keys: no copy and no merge per request.
        return self._request_environ

    def get_stderr(self) -> TextIO:
        """Where ``wsgi.errors`` and error reports go; looked up at each use."""
        return sys.stderr

    def address_string(self) -> str:
        """The client's address for the log; ``-`` on a Unix socket (no address)."""
        address = self.client_address
        return str(address[0]) if isinstance(address, tuple) and address else "-"

    def log_date_time_string(self) -> str:
        """The access log's date (http.server's format), formatted once per second."""
        return log_date()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """http.server's: ``"<request line>" <status> <size>`` through :meth:`log_message`, without
        its HTTPStatus check for the plain int status every request gives."""
        if type(code) is not int and isinstance(code, HTTPStatus):
            code = code.value
        self.log_message('"%s" %s %s', self.requestline, str(code), str(size))

    def log_message(self, format: str, *args: Any) -> None:
        """Write ``addr - - [date] message`` to ``sys.stderr``, control characters escaped."""
        write_stderr(log_line(self.address_string(), self.log_date_time_string(), format % args))

    def handle(self) -> None:
        """Serve the connection: one request (more with keep-alive), each to completion."""
        self.close_connection = True
        self.requestline = self.command = self.path = self.request_version = ""
        self._plain_handler = None  # made for this connection's first request
        # get_environ() not overridden: it returns the core's environ as it is (see _run).
        self._plain_environ = type(self).get_environ is WSGIRequestHandler.get_environ
        sock = self.connection if isinstance(self.connection, socket.socket) else None
        # Unless a subclass replaced them, rfile/wfile are the socket's own files (wfile unbuffered):
        # then the channel may use the socket directly. Not over TLS: when a kernel timeout passes,
        # ssl reads the EAGAIN as the peer's EOF (b""); its own timeouts (settimeout) report it.
        own_files = self._own_files()
        direct = (own_files and sock is not None and KERNEL_TIMEOUTS
                  and not isinstance(sock, ssl.SSLSocket))
        channel = SocketIO(None if direct else self.rfile, None if direct else self.wfile, sock,
                          direct=direct,
                          kernel_timeouts=self.server.inherited_timeouts)
        # Decided once per connection, as ``direct`` is: sendfile() needs the socket's own files.
        self._use_sendfile = channel.has_socket and own_files
        unix = self.server.is_unix  # no addresses: peer and sockname None, as in every driver
        connection = Connection(self.server.connection_config(),
                                peer=None if unix else self.client_address,
                                sockname=None if unix else self._local_address(sock),
                                environ=self.server.base_environ)
        # An orderly end gets a lingering close (RFC 9112 §9.6), finished by the server's lingerer
        # between connections, when the core says input may still arrive (``Close.linger``). A
        # timed-out or broken connection is closed at once.
        try:
            close = self._serve(connection, channel)
        finally:
            # The connection's objects refer to each other (this handler and its ServerHandler, the
            # bound methods that one keeps to make none per request, the channel's sender): without
            # those links they go when the connection ends, not at a later garbage collection.
            if self._plain_handler is not None:
                self._plain_handler.drop_links()
                self._plain_handler = None
            channel.drop_links()
        if close is not None and sock is not None:
            if close.linger:
                self.server.close_later(sock)
            else:
                self.server.close_at_once(sock)

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

    def _serve(self, connection: Connection, channel: SocketIO) -> Close | None:
        """The connection's loop over the core's ``next_action()``. Returns the core's ``Close``
        once it was sent (an orderly end), None when the connection timed out or broke (close at
        once)."""
        server = self.server
        timed = channel.has_socket
        deadline = 0.0  # when the running head deadline passes (the core says when one starts)
        # A kept-alive connection waits with the same timeout each time: once the socket has it,
        # its own recv() is called (no SocketIO layer per request).
        direct_recv = channel.direct_recv
        while True:
            action = connection.next_action()
            # Exact types (the core makes no subclass of them): no isinstance() call per action.
            if type(action) is RequestReceived:
                if not self._run(connection, channel, action.environ):
                    return None
            elif type(action) is Receive:
                if action.send and not self._send_final(channel, action.send):
                    return None
                idle = action.deadline is IDLE_DEADLINE
                if idle:
                    if server.stopping:
                        return None  # between requests while the server stops: nothing is lost
                    timeout = server.keep_alive_timeout
                elif action.starts:
                    # Most heads arrive whole in one read and never wait: no clock call for them.
                    timeout = server.head_timeout
                    deadline = time.monotonic() + timeout
                else:
                    timeout = deadline - time.monotonic()
                try:
                    if timeout <= 0:
                        raise TimeoutError
                    if direct_recv is not None and timeout == channel.recv_timeout:
                        try:
                            data = direct_recv(READ_SIZE)
                        except BlockingIOError:  # EAGAIN: SO_RCVTIMEO passed (as channel.recv says)
                            raise TimeoutError from None
                    else:
                        data = channel.recv(timeout if timed else None)
                except TimeoutError:
                    if not idle:
                        self.log_error("request head not received within %s s; closing",
                                       server.head_timeout)
                    self._send_final(channel, connection.time_out())
                    return None
                except OSError:
                    return None
                connection.receive_data(data)
            else:
                if not isinstance(action, Close):  # not reached: next_action() gives these three
                    raise TypeError(f"next_action() gave {action!r}")
                if action.error is not None:
                    self.log_error("code %s, message %s", action.error.status_code or "-",
                                   action.error.reason)
                return action if self._send_final(channel, action.send) else None

    def _send_final(self, channel: SocketIO, data: bytes) -> bool:
        try:
            channel.send(data, self.server.io_timeout)
        except OSError:
            return False
        return True

    def _run(self, connection: Connection, channel: SocketIO, core_environ: dict[str, Any]) -> bool:
        """Run the app for one request and log it. False if the client went away."""
        self._request_environ = core_environ
        if self.server.stopping:
            connection.close_after_response()
        # The access log's request line, rebuilt from the core's parse (never parsed here): the
        # core's own keys and types, unless a get_environ() override may have changed them.
        if self._plain_environ:
            environ = core_environ
            command = environ["REQUEST_METHOD"]
            path = environ["REQUEST_URI"]
            version = environ["SERVER_PROTOCOL"]
        else:
            environ = self.get_environ()
            command = environ.get("REQUEST_METHOD")
            path = environ.get("REQUEST_URI")
            version = environ.get("SERVER_PROTOCOL")
            if not (type(command) is str and type(path) is str and path and type(version) is str):
                command, path, version = request_parts(environ)
        self.command, self.path, self.request_version = command, path, version
        self.requestline = f"{command} {path} {version}"
        handler = self._plain_handler
        if handler is None:
            handler = self.server_handler_class(self, connection, channel, self._use_sendfile)
            if type(handler) is ServerHandler:
                # It holds nothing of one request between runs (only what the connection's
                # requests share), so the connection keeps it: a class call fewer per request.
                # A subclass's gets made per request, as wsgiref's handlers are.
                self._plain_handler = handler
        try:
            if handler is self._plain_handler:
                # ServerHandler.run, not overridden (the class is exact), without its call.
                info = connection.run_app(
                    self.server.get_app() or _no_app, environ, handler._send, fetch=handler._fetch,
                    errors=self.get_stderr(), sendfile_with_head=handler._sendfile_hook,
                    on_problem=handler._on_problem,
                )
                handler.status = info.status
                handler.bytes_sent = info.body_bytes
            else:
                info = handler.run(self.server.get_app() or _no_app, environ)
        except OSError as exc:
            connection.send_failed()
            self.log_error("%s", not_completed_message(self.requestline, exc))
            return False
        self.log_request(info.status, info.body_bytes)
        return True


def _ended(*args: Any) -> Any:
    raise OSError("the connection has ended")


def _no_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("no application: call set_app() (or pass one to make_server())")
