"""The server classes of :mod:`wsgidrivers.simple_server` (import them from there): the listening
socket, accepting connections in bursts, lingering closes, and the settings every connection uses.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import HTTPServer
from typing import Any

from wsgicore import SERVER_SOFTWARE, Config, __version__
from wsgidrivers._common.accesslog import format_log_line, write_stderr
from wsgidrivers._common.connthreads import SPARE_DELAY, AcceptingThreads
from wsgidrivers._common.listening import (
    ACCEPT_BURST,
    KERNEL_TIMEOUTS,
    AcceptPause,
    inherit_options,
    is_transient,
    set_connection_options,
    set_defer_accept,
)
from wsgidrivers._common.settings import (
    CONNECTION_THREADS,
    IDLE_THREAD_TIMEOUT,
    SETTING_NAMES,
    Settings,
    connection_config,
    driver_defaults,
    is_loopback,
    loopback_receive_buffer,
)
from wsgidrivers._common.types import WSGIApplication

from ._linger import Lingerer

__all__ = ["LINGER_QUIET", "ThreadingWSGIServer", "WSGIServer", "server_version",
           "software_version", "sys_version"]

#: Identifies this server (wsgiref: "WSGIServer/0.2"); the ``Server`` header is software_version.
server_version = f"wsgicore/{__version__}"
#: The ``Server`` header of every driver given no Config (the core's ``SERVER_SOFTWARE``).
software_version = SERVER_SOFTWARE
sys_version = software_version.removeprefix(server_version + " ")

#: Seconds without input after which a lingering close stops early: a client that is still
#: uploading keeps data coming (its window is full); one that is just slow to close costs this.
LINGER_QUIET = 0.25

#: The settings' defaults (each written once, in wsgidrivers._common.settings), as class attributes.
_SIMPLE = driver_defaults("simple")
_THREADING = driver_defaults("threading")


#: socketserver.BaseServer's private shutdown() handshake (its names, mangled): the threading
#: server's own serve_forever() keeps it, so that shutdown() works unchanged.
_SHUTDOWN_REQUEST = "_BaseServer__shutdown_request"
_IS_SHUT_DOWN = "_BaseServer__is_shut_down"


def _host_of(client_address: Any) -> str:
    return str(client_address[0]) if isinstance(client_address, tuple) and client_address else ""


class WSGIServer(HTTPServer):
    """A blocking HTTP server for one WSGI application, serving one connection at a time.

    An :class:`http.server.HTTPServer`, so ``serve_forever()``, ``handle_request()``,
    ``shutdown()``, ``server_close()``, ``timeout``, ``handle_error()`` and the context manager
    behave as documented there. Methods that may be overridden: ``server_bind``, ``setup_environ``,
    ``handle_error``, ``report``, and everything socketserver lists.

    When accept() fails for want of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM) the server pauses
    accepting (``wsgidrivers._common.listening.AcceptPause``, the rule of every driver), says so once
    through :meth:`report`, and retries until a descriptor is free again: never a busy loop.
    """

    application: WSGIApplication | None = None
    base_environ: dict[str, Any]

    #: listen() backlog. socketserver's 5 makes the kernel drop the SYNs of a sixth client that
    #: connects while one is being served, and the client retries only after 1 s (then 2 s, ...).
    request_queue_size = 128

    # The settings (wsgidrivers._common.settings.Settings, where each default is written once and
    # explained): a subclass overrides them as class attributes, make_server(settings=...) or
    # make_server(name=value) sets them for one server, settings() reads them back as one object.

    #: The core's limits and policies; a subclass (or make_server's ``config=``) sets its own.
    #: The default is every driver's (the core's rule): Date, and Server: software_version.
    config: Config | None = connection_config(_SIMPLE.config, keep_alive=True, multithread=False,
                                              stream_chunked_body=_SIMPLE.stream_chunked_body)
    #: Persistent connections (RFC 9112 §9.3). Off: one request per connection, as wsgiref.
    keep_alive: bool = _SIMPLE.keep_alive
    #: Deadline in seconds for a whole request head. A slow or stalled client (half a request)
    #: cannot hold a single-threaded server longer than this.
    head_timeout: float = _SIMPLE.head_timeout
    #: Seconds one read of the request body or one write of the response may wait.
    io_timeout: float = _SIMPLE.io_timeout
    #: Seconds an idle kept-alive connection waits for its next request.
    keep_alive_timeout: float = _SIMPLE.keep_alive_timeout
    #: Seconds, and bytes, of input discarded at most by a lingering close (RFC 9112 §9.6).
    linger_timeout: float = _SIMPLE.linger_timeout
    linger_bytes: int = _SIMPLE.linger_bytes
    #: How a ``wsgi.file_wrapper`` body of a real file is sent: ``True``: ``sendfile()`` (zero copy);
    #: ``False``: read and sent in blocks of up to 1 MiB; ``None``: ``sendfile()`` except to loopback
    #: clients (over loopback zero copy saves nothing and costs the client more).
    use_sendfile: bool | None = _SIMPLE.use_sendfile
    #: SO_RCVBUF in bytes for connections from loopback clients (None: never set): a new
    #: connection's upload then needs no window updates; remote clients keep the kernel's
    #: autotuning, which a fixed SO_RCVBUF would switch off.
    receive_buffer: int | None = _SIMPLE.receive_buffer
    #: Chunked request bodies go to the application as they arrive (``wsgi.input_terminated``, no
    #: ``CONTENT_LENGTH``) instead of being read whole first (memory, then a temporary file) and
    #: given a ``CONTENT_LENGTH``: for apps that read to the end of ``wsgi.input``.
    stream_chunked_body: bool = _SIMPLE.stream_chunked_body

    _effective: tuple[Config | None, bool, bool, Config] | None = None
    #: Set by make_server(): the settings were given as one validated Settings (see use_settings).
    _settings_given = False
    #: The (receive, send) timeouts accepted sockets inherit from the listening socket; -1: none.
    inherited_timeouts: tuple[float | None, float | None] = (-1.0, -1.0)
    #: Set by shutdown()/server_close(): kept-alive connections end after their current response.
    stopping: bool = False
    _accept_burst = 1  # connections accepted per readiness report (see serve_forever)
    _check_inherited = False  # see adopt_socket
    _accepted = 0  # counted by get_request(): tells a burst when nobody else is waiting

    #: TLS (an ``ssl.SSLContext`` for the server side): each accepted connection is wrapped without
    #: any I/O, and its handshake happens at its first read, in the thread that serves it, within
    #: ``head_timeout``: a client that never completes it cannot hold up the accepting thread.
    #: ``wsgi.url_scheme`` is then ``https``.
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, server_address: tuple[Any, ...] | str,
                 RequestHandlerClass: Callable[..., socketserver.BaseRequestHandler],
                 bind_and_activate: bool = True) -> None:
        if isinstance(server_address, str):
            self.address_family = socket.AF_UNIX  # a path: a Unix socket
        # Only an IPv6 literal contains ':'; picking the family from it needs no DNS lookup.
        elif ":" in str(server_address[0]) and self.address_family == socket.AF_INET:
            self.address_family = socket.AF_INET6
        self._linger_requests: set[socket.socket] = set()
        self._close_at_once: set[socket.socket] = set()
        # Made now, not at the first close: its descriptors belong to the server's lifetime.
        self._lingerer: Lingerer | None = Lingerer(LINGER_QUIET)
        self._accept_pause = AcceptPause(self.report)
        if not self._settings_given:
            self.settings()  # refuse a bad setting (a subclass's) before binding
        address: Any = server_address  # socketserver's annotation knows no Unix path
        super().__init__(address, RequestHandlerClass, bind_and_activate)

    def server_bind(self) -> None:
        """Bind the socket, record ``server_name``/``server_port``, then call ``setup_environ()``.

        Unlike http.server, ``server_name`` is the bound address, not ``socket.getfqdn()`` of it: a
        reverse DNS lookup can stall start-up for seconds. ``SERVER_NAME`` in each environ is the
        connection's local address anyway.
        """
        if self.address_family == socket.AF_INET6 and str(self.server_address[0]) in ("::", ""):
            # "::" means every address, IPv4 too (RFC 3493 §5.3), whatever the OS's default for
            # IPV6_V6ONLY is: the same as the asyncio driver.
            with contextlib.suppress(OSError, AttributeError):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)
        self._bound()

    def adopt_socket(self, sock: socket.socket) -> None:
        """Serve ``sock``, a socket already bound (and perhaps listening) by the caller, instead of
        binding one: a server made with ``bind_and_activate=False`` (``make_server(sock=...)``)."""
        self.socket.close()
        self.socket = sock
        self.address_family = sock.family
        self.server_address = sock.getsockname()
        self._bound()
        self.server_activate()  # listen() again only sets the backlog
        # Connections that completed their handshake before _bound() set the options on the
        # listening socket did not inherit them (Linux copies them at that moment). accept() takes
        # connections in that order, so checking accepted ones until one has them finds exactly those.
        self._check_inherited = KERNEL_TIMEOUTS and not self.is_unix

    def _inherit(self, request: socket.socket) -> None:
        """Give ``request`` the options the listening socket passes on, if it missed them."""
        if any(request.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)):
            self._check_inherited = False  # from here on, every connection has them
            return
        set_connection_options(request, head_timeout=self.head_timeout, io_timeout=self.io_timeout)

    def _bound(self) -> None:
        """What follows the bind: options accepted sockets inherit, the name, ``base_environ``."""
        unix = self.address_family == getattr(socket, "AF_UNIX", None)
        # Accepted TCP sockets inherit these (Linux): no per-connection system calls for them.
        # A Unix socket's accept() inherits none: its connections get the timeouts one by one.
        inherited = inherit_options(self.socket, head_timeout=self.head_timeout,
                                    io_timeout=self.io_timeout)
        # (-1, -1): unknown, each connection sets its own.
        self.inherited_timeouts = inherited if inherited is not None else (-1.0, -1.0)
        if unix:  # the path; a Unix socket has no port (each connection's environ says localhost)
            path = self.server_address
            self.server_name = path.decode() if isinstance(path, bytes) else str(path)
            self.server_port = 0
        else:
            host, port = self.server_address[:2]
            self.server_name = host.decode("ascii") if isinstance(host, bytes) else str(host)
            self.server_port = int(port)
        self.setup_environ()

    @property
    def is_unix(self) -> bool:
        """Whether this server listens on a Unix socket (its connections have no addresses)."""
        return self.address_family == getattr(socket, "AF_UNIX", None)

    def get_request(self) -> tuple[Any, Any]:
        request, client_address = super().get_request()
        self._accepted += 1
        if self._check_inherited:
            with contextlib.suppress(OSError):  # a connection already reset: its handler will see
                self._inherit(request)
        size = self.receive_buffer_for(client_address)
        if size is not None:
            with contextlib.suppress(OSError):  # a buffer is an optimisation, never a failure
                request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True,
                                                       do_handshake_on_connect=False)
            except OSError:
                request.close()
                raise
        return request, client_address

    def receive_buffer_for(self, client_address: Any) -> int | None:
        """The SO_RCVBUF to set on a connection from ``client_address`` (see ``receive_buffer``):
        loopback clients only; None leaves the kernel's own sizing (autotuning)."""
        return loopback_receive_buffer(self.receive_buffer, _host_of(client_address))

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        # While it runs, the listening descriptor is O_NONBLOCK (Linux, which does not pass the flag
        # on to accepted sockets, accept(2)): a burst of accepts ends with EAGAIN when nobody else
        # is waiting. The socket object keeps reporting blocking mode, and the flag is cleared on
        # the way out, so handle_request(), get_request() and socket.accept() wait as before.
        burst = ACCEPT_BURST if sys.platform == "linux" else 1
        if burst > 1:
            try:
                os.set_blocking(self.socket.fileno(), False)
            except (OSError, ValueError):
                burst = 1
        self._accept_burst = burst
        try:
            super().serve_forever(poll_interval)
        finally:
            self._accept_burst = 1
            if burst > 1:
                with contextlib.suppress(OSError, ValueError):  # closed meanwhile: nothing to undo
                    os.set_blocking(self.socket.fileno(), True)

    def _handle_request_noblock(self) -> None:
        # socketserver's, with two changes. serve_forever() serves every connection already
        # waiting before it polls again (handle_request() keeps its contract of one per call).
        # And a failed accept() is not dropped in silence: at a resource limit (EMFILE...) the
        # listener stays readable, so returning at once made serve_forever() a busy loop.
        for _ in range(self._accept_burst):
            accepted = self._accepted
            try:
                request, client_address = self.get_request()
            except (BlockingIOError, InterruptedError):
                return  # nobody else was waiting
            except OSError as exc:
                if is_transient(exc):
                    continue  # that connection is gone; the next may be there
                self._accept_pause.failed(exc)
                self._pause_accepting()
                return
            self._accept_pause.accepted()
            self._serve_accepted(request, client_address)
            if self._accepted == accepted or self.stopping:
                return  # a subclass's get_request counts nothing: one per wake-up

    def _serve_accepted(self, request: Any, client_address: Any) -> None:
        """socketserver's handling of an accepted connection (one place for both servers):
        verify it, process it; an error is logged and closes that connection only, anything
        else (SystemExit, KeyboardInterrupt) closes it and goes on up."""
        if not self.verify_request(request, client_address):
            self.shutdown_request(request)
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)
        except BaseException:
            self.shutdown_request(request)
            raise

    def _pause_accepting(self) -> None:
        """Wait before the next accept() (see AcceptPause): the listener stays readable."""
        if not self.stopping:
            time.sleep(self._accept_pause.delay)

    def report(self, message: str) -> None:
        """Write a line about the server itself (an accept() pause, say) to ``sys.stderr``, in the
        access log's format; override to send it elsewhere."""
        write_stderr(format_log_line("-", f"wsgidrivers.simple_server: {message}"))

    def setup_environ(self) -> None:
        """Set ``base_environ``: server-wide keys every request's environ starts from.

        Only keys the core does not set survive (the core's environ wins); a subclass adds its own
        here. wsgiref's ``CONTENT_LENGTH`` placeholder (``""``) is left out: the core omits what the
        request does not carry (PEP 3333 allows either); ``REMOTE_HOST`` is the core's, the client's
        address (RFC 3875 §4.1.9, no lookup), where wsgiref puts ``""``.
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
        input can arrive any more (see :attr:`wsgicore.Connection.can_close_at_once`). It is shut
        down for sending then, and closed by the lingerer soon after (``Lingerer.close_soon``)."""
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
            # Nothing unread and nothing more to come: no lingering, but the close itself is left
            # to the lingerer's pass after next (see Lingerer.close_soon).
            self._close_at_once.discard(request)
            if lingerer is None or not lingerer.close_soon(request):
                self.close_request(request)
            return
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Called by ``serve_forever()`` on each turn of its loop (at least every ``poll_interval``):
        finish lingering closes without waiting."""
        super().service_actions()
        if self._lingerer is not None:
            self._lingerer.service()

    def sendfile_for(self, client_address: Any) -> bool:
        """Whether ``wsgi.file_wrapper`` bodies go to this client with ``sendfile()`` (see
        ``use_sendfile``)."""
        if self.use_sendfile is not None:
            return self.use_sendfile
        return not is_loopback(_host_of(client_address))

    def get_app(self) -> WSGIApplication | None:
        return self.application

    def set_app(self, application: WSGIApplication | None) -> None:
        self.application = application

    def settings(self) -> Settings:
        """This server's settings (its attributes), validated: a bad one is a ``ValueError``
        naming it (a ``config`` that is not a Config, a ``TypeError``)."""
        return Settings(**{name: getattr(self, name) for name in SETTING_NAMES})

    def use_settings(self, settings: Settings) -> None:
        """Serve with ``settings`` (validated already): each becomes this server's attribute.
        Called before ``__init__`` binds (``make_server`` does), so the listening socket's options
        come from them and the attributes are not validated again."""
        for name in SETTING_NAMES:
            setattr(self, name, getattr(settings, name))
        self._settings_given = True

    def connection_config(self) -> Config:
        """The Config each connection uses: ``config`` with this server's policy applied by the
        core's rule (``wsgicore.serving_config``): keep-alive only when both ``keep_alive`` and
        ``config.keep_alive`` allow it; ``wsgi.multithread`` when requests run in threads."""
        config = self.config
        keep_alive = self.keep_alive
        stream = self.stream_chunked_body
        threaded = isinstance(self, socketserver.ThreadingMixIn)
        cached = self._effective
        if cached is not None and cached[0] is config and cached[1] == keep_alive and cached[2] == stream:
            return cached[3]  # computed once per server and config, not per connection
        effective = connection_config(config, keep_alive=keep_alive, multithread=threaded,
                                      secure=self.ssl_context is not None, stream_chunked_body=stream)
        self._effective = (config, keep_alive, stream, effective)
        return effective


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """A :class:`WSGIServer` that serves each connection in a thread of its own, with keep-alive on.

    On Linux, ``serve_forever()`` serves through a pool of connection threads that accept their
    own connections (``wsgidrivers._common.connthreads``): each idle thread waits on the listener,
    a new connection wakes one of them, which accepts it and serves it; no thread is started per
    connection. When the last idle thread takes a connection and no busy one comes back within
    ``spare_thread_delay``, another is started (up to ``max_threads``), so a slow or stalled client
    holds up only its own thread, and threads idle for ``idle_thread_timeout`` leave. The
    socketserver hooks keep their meaning: ``get_request``, ``verify_request`` and
    ``process_request`` are called for each connection, in the thread that accepted it, and
    ``process_request`` runs ``process_request_thread`` there (an override that starts threads of
    its own may still do so; with none of the three overridden, the pool thread does what their
    calls come to without making them); ``daemon_threads`` is the threads' daemon flag;
    ``server_close()`` with ``block_on_close`` waits for the connections being served (idle
    threads leave at once). Elsewhere, and for ``handle_request()``, socketserver's thread per
    connection.
    """

    daemon_threads = True
    keep_alive = _THREADING.keep_alive
    #: The most connections served at once, each in its own thread (None: no limit). With that many
    #: open, the next one waits in the listen backlog until one ends (a kept-alive idle connection
    #: ends after ``keep_alive_timeout``), so memory and threads stay bounded.
    max_threads: int | None = CONNECTION_THREADS
    #: Seconds a connection thread stays idle before it ends (while another one waits).
    idle_thread_timeout: float = IDLE_THREAD_TIMEOUT
    #: Seconds every connection thread may be busy, none coming back, before another one is started
    #: (0: at once). A connection arriving then waits that long at most for a thread; short
    #: connections meanwhile reuse the threads there are instead of adding threads that contend
    #: for the GIL (``wsgidrivers._common.connthreads``).
    spare_thread_delay: float = SPARE_DELAY
    #: With the pool (Linux), accept a TCP connection once its request has arrived (see
    #: ``wsgidrivers._common.listening.set_defer_accept``): the thread woken reads it without
    #: waiting, fewer context switches per new connection. Off by default: the kernel then holds a
    #: silent connection for up to about a second before the accept, which ``head_timeout``
    #: (counted from the accept) does not see.
    defer_accept: bool = False
    _slots: threading.BoundedSemaphore | None = None
    _acceptors: AcceptingThreads[tuple[Any, Any]] | None = None
    _plain_hooks = False  # see _hooks_are_plain (set as serve_forever() starts the pool)

    def __init__(self, server_address: tuple[Any, ...] | str,
                 RequestHandlerClass: Callable[..., socketserver.BaseRequestHandler],
                 bind_and_activate: bool = True) -> None:
        limit = self.max_threads
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ValueError(f"max_threads must be None or an int >= 1, not {limit!r}")
        if limit is not None:
            self._slots = threading.BoundedSemaphore(limit)
        self._holding: set[Any] = set()  # connections holding one of the _slots
        self._local = threading.local()  # .server: set in the pool's threads (see process_request)
        self._stop_serving = threading.Event()
        self._pool_threads: list[threading.Thread] = []  # of earlier serve_forever() runs
        super().__init__(server_address, RequestHandlerClass, bind_and_activate)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until ``shutdown()``: on Linux through the accepting threads (see the class), the
        calling thread only running ``service_actions()`` every ``poll_interval`` seconds."""
        try:
            os.set_blocking(self.socket.fileno(), False)  # the threads' accept() never waits
        except (OSError, ValueError):
            super().serve_forever(poll_interval)
            return
        self._plain_hooks = self._hooks_are_plain()  # before any thread serves
        acceptors: AcceptingThreads[tuple[Any, Any]] = AcceptingThreads(
            self.socket, self._take, self._serve_taken, limit=self.max_threads,
            idle_timeout=self.idle_thread_timeout, daemon=self.daemon_threads,
            name="wsgicore-connection", started=self._pool_thread_started,
            spare_delay=self.spare_thread_delay)
        if not acceptors.start():
            acceptors.close()
            with contextlib.suppress(OSError, ValueError):
                os.set_blocking(self.socket.fileno(), True)
            super().serve_forever(poll_interval)
            return
        # socketserver's shutdown() handshake (BaseServer's private flags, so that its shutdown()
        # and the context manager work unchanged): shutdown() sets the request and waits for the
        # event this sets on the way out.
        is_shut_down: threading.Event = getattr(self, _IS_SHUT_DOWN)
        is_shut_down.clear()
        self._stop_serving.clear()  # an earlier run's wake-up (the flag says whether this run stops)
        try:
            self._acceptors = acceptors
            if self.defer_accept:
                set_defer_accept(self.socket)
            while not getattr(self, _SHUTDOWN_REQUEST):
                self._stop_serving.wait(poll_interval)
                self.service_actions()
        finally:
            acceptors.stop()
            self._pool_threads = [t for t in self._pool_threads if t.is_alive()] + acceptors.threads()
            self._acceptors = None
            with contextlib.suppress(OSError, ValueError):  # closed meanwhile: nothing to undo
                os.set_blocking(self.socket.fileno(), True)
            setattr(self, _SHUTDOWN_REQUEST, False)
            is_shut_down.set()

    def _pool_thread_started(self) -> None:
        self._local.server = self

    def _take(self) -> tuple[Any, Any] | None:
        """One connection for a pool thread, or None (taken by another thread, or failed)."""
        try:
            taken = self.get_request()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if not is_transient(exc):
                self._accept_pause.failed(exc)
                self._pause_accepting()  # EMFILE...: the listener stays readable
            return None
        self._accept_pause.accepted()
        return taken

    def _serve_taken(self, taken: tuple[Any, Any]) -> None:
        """socketserver's handling of an accepted connection, in the pool thread that took it."""
        if not self._plain_hooks:
            self._serve_accepted(*taken)
            return
        # verify_request, process_request and process_request_thread are socketserver's and ours
        # (see _hooks_are_plain): what their calls come to in a pool thread, without the four calls
        # (and a thread-local look-up) per connection.
        request, client_address = taken
        try:
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
        except Exception:  # from shutdown_request: as _serve_accepted would
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def _hooks_are_plain(self) -> bool:
        """Whether nobody overrides the hooks between an accepted connection and finish_request
        (a subclass's method, or one set on this server): then _serve_taken calls none of them."""
        cls = type(self)
        return (all(getattr(cls, name) is plain for name, plain in _PLAIN_HOOKS.items())
                and not any(name in vars(self) for name in _PLAIN_HOOKS))

    def shutdown(self) -> None:
        # The request first, then the wake-up: serve_forever() notices at once, not after
        # poll_interval (socketserver's shutdown() sets the same flag again, and waits).
        setattr(self, _SHUTDOWN_REQUEST, True)
        self._stop_serving.set()
        super().shutdown()

    def server_close(self) -> None:
        acceptors = self._acceptors
        if acceptors is not None:  # closed under a running serve_forever(): stop accepting first
            acceptors.stop()
        super().server_close()
        if self.block_on_close:
            current = threading.current_thread()
            for thread in self._pool_threads + (acceptors.threads() if acceptors is not None else []):
                if thread is not current:
                    thread.join()

    def process_request(self, request: Any, client_address: Any) -> None:
        if getattr(self._local, "server", None) is self:
            # A pool thread that accepted this connection serves it (see the class).
            self.process_request_thread(request, client_address)
            return
        slots = self._slots
        if slots is not None:
            # Wait for a free thread, in turns, so that shutdown() is not held up by a full house.
            while not slots.acquire(timeout=0.25):
                if self.stopping:
                    self.shutdown_request(request)
                    return
            self._holding.add(request)  # its thread gives the slot back (not another's thread)
        try:
            super().process_request(request, client_address)
        except BaseException:
            if slots is not None:
                self._holding.discard(request)
                slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if request in self._holding:
                self._holding.discard(request)
                if self._slots is not None:
                    self._slots.release()


#: The hooks ThreadingWSGIServer._serve_taken may skip, as defined here (compared by identity: a
#: method patched onto the class later is an override too).
_PLAIN_HOOKS: dict[str, Any] = {
    "verify_request": socketserver.BaseServer.verify_request,
    "process_request": ThreadingWSGIServer.process_request,
    "process_request_thread": ThreadingWSGIServer.process_request_thread,
}
