"""Run one server under test in the foreground: ``python -m benchmarks.servers NAME --port PORT``.

Every server is single-threaded (or one worker, one thread), binds 127.0.0.1 only, runs
``benchmarks.apps:app`` and writes no access log (the servers that log by default are silenced,
so that no one pays for a terminal write per request). The parent (``python -m benchmarks``)
starts each one in its own process, pinned to one CPU, and ends it with SIGTERM (then SIGKILL).

Names: wsgicore-close, wsgicore-keepalive, wsgiref, waitress, werkzeug, gunicorn, cheroot, raw,
raw-blocks (downloads only), h11;
the concurrent group (several workers or threads, still pinned to one CPU): wsgicore-threading,
wsgicore-asyncio, uvicorn-a2wsgi, granian (Rust I/O threads, one blocking thread for the app),
gunicorn-threadworker, gunicorn-asyncioworker (our gunicorn workers, -w 2 --threads 4), gunicorn-sync-w2,
gunicorn-gthread (-w 2 --threads 4), waitress-8, cheroot-8.
Each server also stops by itself when the process that started it goes away, or after
``--max-seconds`` (default one hour).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import inspect
import io
import logging
import os
import pstats
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import h11

from benchmarks._common import add_naive_headers
from benchmarks.apps import CHUNK, FILE_SIZE, HELLO, app, data_file

HOST = "127.0.0.1"


class Unavailable(Exception):
    """The server's package (or one of its features) is missing: the contender is skipped."""


# --------------------------------------------------------------------------------------------------
# Our blocking driver


def _wsgicore_server(port: int, *, keep_alive: bool) -> Any:
    try:
        from wsgidrivers import simple_server
    except ImportError as exc:
        raise Unavailable(f"cannot import wsgidrivers.simple_server ({exc})") from exc
    make_server = simple_server.make_server
    params = inspect.signature(make_server).parameters
    takes_settings = "keep_alive" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    kwargs: dict[str, Any] = {}
    handler_cls = getattr(simple_server, "WSGIRequestHandler", None)
    if handler_cls is not None and "handler_class" in params:

        class QuietHandler(handler_cls):  # type: ignore[misc, valid-type]
            def log_message(self, format: str, *args: Any) -> None:
                pass

        kwargs["handler_class"] = QuietHandler
    # The driver's own default Config (Date and Server headers, its limits), as a user gets it.
    if takes_settings:
        kwargs["keep_alive"] = keep_alive
    server = make_server(HOST, port, app, **kwargs)
    if getattr(server, "keep_alive", keep_alive) != keep_alive:
        server.keep_alive = keep_alive
    return server


# --------------------------------------------------------------------------------------------------
# Peers


def _wsgiref_server(port: int) -> Any:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    return make_server(HOST, port, app, handler_class=QuietHandler)


def _run_waitress(port: int) -> None:
    try:
        from waitress.server import create_server  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise Unavailable(f"waitress is not installed ({exc})") from exc
    # With one thread, waitress warns "Task queue depth is 1" whenever a request waits.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # waitress refuses a body of max_request_body_size bytes or more (default exactly 1 GiB, so the
    # 1 GiB upload of the RSS scenario would get a 413): raise it to 2 GiB.
    server = create_server(app, host=HOST, port=port, threads=1, max_request_body_size=2 * 1024**3)
    server.run()


def _werkzeug_server(port: int) -> Any:
    try:
        from werkzeug.serving import make_server
    except ImportError as exc:
        raise Unavailable(f"werkzeug is not installed ({exc})") from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return make_server(HOST, port, app, threaded=False)


def _run_cheroot(port: int) -> None:
    try:
        from cheroot import wsgi
    except ImportError as exc:
        raise Unavailable(f"cheroot is not installed ({exc})") from exc
    server = wsgi.Server((HOST, port), app, numthreads=1, max=1)
    server.safe_start()


#: Set by ``--profile`` for gunicorn: each forked worker writes its own profile to this path plus
#: ``.worker-<pid>`` when it exits (the arbiter's own profile shows only its loop).
WORKER_PROFILE_ENV = "WSGICORE_BENCH_WORKER_PROFILE"


def _profile_worker(path: str) -> None:
    """Profile this forked gunicorn worker, all its threads, until it exits (``_dump_worker``)."""
    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()
    thread_run = threading.Thread.run

    def run(self: threading.Thread) -> None:  # each thread started from now on, under its own profiler
        profiler = cProfile.Profile()
        with lock:
            profilers.append(profiler)
        profiler.enable()
        try:
            thread_run(self)
        finally:
            profiler.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile()  # replaces the arbiter's profiler, inherited by fork()
    profilers.append(main)
    _WORKER_PROFILES[:] = [path, profilers, lock]
    main.enable()


_WORKER_PROFILES: list[Any] = []


def _dump_worker() -> None:
    if not _WORKER_PROFILES:
        return
    path, profilers, lock = _WORKER_PROFILES
    profilers[0].disable()
    with lock:
        stats = pstats.Stats(profilers[0])
        for profiler in profilers[1:]:
            stats.add(profiler)  # a thread still running is read as it stands
    stats.dump_stats(f"{path}.worker-{os.getpid()}")


def _run_gunicorn(port: int, worker_class: str = "sync", workers: int = 1, threads: int = 1) -> None:
    """gunicorn's arbiter in this process, ``workers`` forked workers of ``worker_class``."""
    try:
        from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise Unavailable(f"gunicorn is not installed ({exc})") from exc
    if worker_class.startswith("wsgidrivers."):
        try:
            import wsgidrivers.gunicorn  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"cannot import wsgidrivers.gunicorn ({exc})") from exc

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings: list[tuple[str, Any]] = [
                ("bind", [f"{HOST}:{port}"]),
                ("workers", workers),
                ("worker_class", worker_class),
                ("threads", threads),
                ("loglevel", "warning"),
                ("accesslog", None),
                ("graceful_timeout", 2),
            ]
            if "control_socket_disable" in self.cfg.settings:
                settings.append(("control_socket_disable", True))  # gunicorn 27: one per user
            profile = os.environ.get(WORKER_PROFILE_ENV)
            if profile:
                settings.append(("post_fork", lambda arbiter, worker: _profile_worker(profile)))
                settings.append(("worker_exit", lambda arbiter, worker: _dump_worker()))
            for key, value in settings:
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Gunicorn().run()


def _run_waitress_threads(port: int, threads: int) -> None:
    try:
        from waitress.server import create_server  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise Unavailable(f"waitress is not installed ({exc})") from exc
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    create_server(app, host=HOST, port=port, threads=threads, max_request_body_size=2 * 1024**3).run()


def _run_cheroot_threads(port: int, threads: int) -> None:
    try:
        from cheroot import wsgi
    except ImportError as exc:
        raise Unavailable(f"cheroot is not installed ({exc})") from exc
    wsgi.Server((HOST, port), app, numthreads=threads, max=threads).safe_start()


# --------------------------------------------------------------------------------------------------
# The pure-Python ceiling: no parsing beyond finding the end of the head and a Content-Length


def _raw_response(body_len: int, close: bool) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "
        + str(body_len).encode("ascii")
        + (b"\r\nConnection: close" if close else b"")
        + b"\r\n\r\n"
    )


def _raw_handle(
    conn: socket.socket, fixed: dict[tuple[bytes, bool], bytes], file_fd: int | None = None,
) -> None:
    """Serve one connection: ``fixed`` responses by (path, close); ``/gen/<n>`` in 64 KiB blocks,
    one sendall each; ``/file`` read from ``file_fd`` for each request when given."""
    buf = b""
    block = bytes(range(256)) * (CHUNK // 256)
    scratch = bytearray(CHUNK)
    for _ in range(10_000_000):  # requests on one connection: bounded
        for _ in range(1024):
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            data = conn.recv(65536)
            if not data or len(buf) > 65536:
                return
            buf += data
        else:
            return
        head = buf[:end]
        buf = buf[end + 4 :]
        line_end = head.find(b"\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        parts = request_line.split(b" ")
        path = parts[1] if len(parts) == 3 else b"/"
        lower = head.lower()
        close = b"\r\nconnection: close" in lower or request_line.endswith(b"HTTP/1.0")
        length = 0
        pos = lower.find(b"\r\ncontent-length:")
        if pos >= 0:
            value_end = lower.find(b"\r\n", pos + 2)
            length = int(lower[pos + 17 : value_end if value_end >= 0 else None])
        # Discard the body (the upload scenario): what is buffered, then straight from the socket.
        received = min(len(buf), length)
        buf = buf[received:]
        while received < length:
            n = conn.recv_into(scratch, min(CHUNK, length - received))
            if not n:
                return
            received += n
        response = fixed.get((path, close))
        if response is not None:
            conn.sendall(response)
        elif path == b"/file" and file_fd is not None:
            data = os.pread(file_fd, FILE_SIZE, 0)
            head = _raw_response(len(data), close)
            sent = conn.sendmsg([head, data])  # no copy to join them, one system call
            if sent < len(head) + len(data):
                conn.sendall((head + data)[sent:])
        elif path.startswith(b"/gen/"):
            size = int(path[5:])
            conn.sendall(_raw_response(size, close))
            full, rest = divmod(size, CHUNK)
            for _ in range(full):
                conn.sendall(block)
            if rest:
                conn.sendall(block[:rest])
        else:
            body = str(received).encode("ascii")
            conn.sendall(_raw_response(len(body), close) + body)
        if close:
            return
    return


def _listener(port: int) -> socket.socket:
    """The listening socket of the two minimal servers (raw, h11)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted sockets (Linux). Without it, the 1 MiB file response (one sendall of
    # head + body) stalls on Nagle's algorithm against the client's delayed ACK: 199 req/s in
    # one run where the next round gave 4,400.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((HOST, port))
    listener.listen(1024)
    return listener


def _run_raw(port: int) -> None:
    one_mib = bytes(range(256)) * (FILE_SIZE // 256)
    fixed: dict[tuple[bytes, bool], bytes] = {}
    for close in (False, True):
        fixed[(b"/hello", close)] = _raw_response(len(HELLO), close) + HELLO
        fixed[(b"/file", close)] = _raw_response(FILE_SIZE, close) + one_mib
        fixed[(b"/gen/%d" % FILE_SIZE, close)] = _raw_response(FILE_SIZE, close) + one_mib
    listener = _listener(port)
    while True:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError, ValueError):
            _raw_handle(conn, fixed)


def _run_raw_blocks(port: int) -> None:
    """The raw socket under a WSGI server's constraints: the generator's 16 blocks sent one
    ``sendall`` each (PEP 3333: a server may not hold a block back to join it with the next) and
    the file read for each request (a server cannot keep the app's file in memory)."""
    fixed = {(b"/hello", close): _raw_response(len(HELLO), close) + HELLO for close in (False, True)}
    file_fd = os.open(data_file(), os.O_RDONLY)
    listener = _listener(port)
    while True:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError, ValueError):
            _raw_handle(conn, fixed, file_fd)


# --------------------------------------------------------------------------------------------------
# A minimal h11 WSGI server: h11 parses and serializes, plain code builds the environ


class _H11Input(io.RawIOBase):
    """``wsgi.input`` pulling the body out of h11 events."""

    def __init__(self, conn: h11.Connection, sock: socket.socket) -> None:
        self._conn = conn
        self._sock = sock
        self._buf = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        for _ in range(100_000):
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                self._conn.receive_data(self._sock.recv(65536))
            elif isinstance(event, h11.Data):
                self._buf += event.data
                return
            else:  # EndOfMessage (or anything else): the body is over
                self._done = True
                return

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            chunks = [self._buf]
            self._buf = b""
            while not self._done:
                self._fill()
                chunks.append(self._buf)
                self._buf = b""
            return b"".join(chunks)
        while not self._buf and not self._done:
            self._fill()
        data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def drain(self) -> None:
        while not self._done:
            self._fill()
            self._buf = b""


def _h11_environ(request: h11.Request, peer: Any) -> dict[str, Any]:
    path, _, query = request.target.decode("latin-1").partition("?")
    environ: dict[str, Any] = {
        "SERVER_NAME": HOST,
        "SERVER_PORT": "0",
        "REMOTE_ADDR": str(peer[0]),
        "REMOTE_PORT": str(peer[1]),
        "SCRIPT_NAME": "",
        "REQUEST_METHOD": request.method.decode("ascii"),
        "PATH_INFO": urllib.parse.unquote(path, "latin-1"),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("ascii"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.errors": sys.stderr,
    }
    add_naive_headers(environ, request.headers)
    return environ


def _h11_start_response(started: list[Any]) -> Callable[..., Callable[[bytes], None]]:
    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return lambda data: None

    return start_response


def _h11_handle(sock: socket.socket, peer: Any) -> None:
    conn = h11.Connection(h11.SERVER)
    for _ in range(10_000_000):  # requests on one connection: bounded
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
            continue
        if not isinstance(event, h11.Request):
            return
        environ = _h11_environ(event, peer)
        stream = _H11Input(conn, sock)
        environ["wsgi.input"] = stream
        started: list[Any] = []
        result: Iterable[bytes] = app(environ, _h11_start_response(started))
        try:
            iterator = iter(result)
            first = next(iterator, b"")
            status, headers = started
            head = conn.send(
                h11.Response(
                    status_code=int(status[:3]),
                    headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
                    reason=status[4:].encode("latin-1"),
                )
            )
            # One write for the head and the first chunk: two small writes would meet Nagle's
            # algorithm and the peer's delayed ACK (a 40 ms stall per keep-alive response).
            pending = head or b""
            if first:
                pending += conn.send(h11.Data(data=first)) or b""
            for chunk in iterator:
                if chunk:
                    sock.sendall(pending)
                    pending = conn.send(h11.Data(data=chunk)) or b""
            sock.sendall(pending + (conn.send(h11.EndOfMessage()) or b""))
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        stream.drain()
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return
        conn.start_next_cycle()


def _run_h11(port: int) -> None:
    listener = _listener(port)
    while True:
        sock, peer = listener.accept()
        with sock, contextlib.suppress(OSError, h11.ProtocolError, ValueError):
            _h11_handle(sock, peer)


# --------------------------------------------------------------------------------------------------


def _serve(server: Any) -> None:
    server.serve_forever()


def _wsgicore_threading_server(port: int) -> Any:
    from wsgidrivers.simple_server import ThreadingWSGIServer, WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    return make_server(HOST, port, app, ThreadingWSGIServer, QuietHandler)


def _run_wsgicore_asyncio(port: int) -> None:
    import asyncio

    try:
        from wsgidrivers.asyncio import serve
    except ImportError as exc:
        raise Unavailable(f"cannot import wsgidrivers.asyncio ({exc})") from exc
    asyncio.run(serve(app, HOST, port, max_workers=4, access_log=None))


def _run_uvicorn_a2wsgi(port: int) -> None:
    try:
        import uvicorn  # type: ignore[import-not-found, unused-ignore]
        from a2wsgi import WSGIMiddleware  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise Unavailable(f"uvicorn or a2wsgi is not installed ({exc})") from exc
    uvicorn.run(WSGIMiddleware(app, workers=4), host=HOST, port=port, log_level="error",
                access_log=False, http="h11", loop="asyncio", lifespan="off")


def _run_granian(port: int) -> None:
    """What ``granian --interface wsgi --workers 1 --blocking-threads 1 --runtime-threads 1 --http 1
    --log-level warning --host 127.0.0.1 --port PORT benchmarks.apps:app`` runs: this process is
    granian's supervisor, the app runs in one worker process it starts (pinned with us by taskset)."""
    try:
        from granian.constants import HTTPModes, Interfaces  # type: ignore[import-not-found, unused-ignore]
        from granian.log import LogLevels  # type: ignore[import-not-found, unused-ignore]
        from granian.server import Server  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise Unavailable(f"granian is not installed ({exc})") from exc
    # granian forks its worker: the worker watches this process as this one watches its parent, so
    # that a supervisor killed outright leaves no worker behind.
    supervisor = os.getpid()
    os.register_at_fork(after_in_child=lambda: threading.Thread(
        target=_watchdog, args=(supervisor, time.monotonic() + 3600.0), name="watchdog", daemon=True
    ).start())
    # HTTP/1 only, as every other contender: "auto" would sniff each connection for HTTP/2.
    Server("benchmarks.apps:app", address=HOST, port=port, interface=Interfaces.WSGI, workers=1,
           blocking_threads=1, runtime_threads=1, http=HTTPModes.http1, log_level=LogLevels.warning,
           log_access=False).serve()


RUNNERS: dict[str, Callable[[int], None]] = {
    "wsgicore-close": lambda port: _serve(_wsgicore_server(port, keep_alive=False)),
    "wsgicore-keepalive": lambda port: _serve(_wsgicore_server(port, keep_alive=True)),
    "wsgiref": lambda port: _serve(_wsgiref_server(port)),
    "waitress": _run_waitress,
    "werkzeug": lambda port: _serve(_werkzeug_server(port)),
    "cheroot": _run_cheroot,
    "gunicorn": _run_gunicorn,
    # Several processes or threads (issue 12): 2 workers x 4 threads, and peers with 8 threads.
    "gunicorn-threadworker": lambda port: _run_gunicorn(
        port, "wsgidrivers.gunicorn.ThreadWorker", workers=2, threads=4),
    "gunicorn-asyncioworker": lambda port: _run_gunicorn(
        port, "wsgidrivers.gunicorn.AsyncioWorker", workers=2, threads=4),
    "gunicorn-sync-w2": lambda port: _run_gunicorn(port, "sync", workers=2),
    "gunicorn-gthread": lambda port: _run_gunicorn(port, "gthread", workers=2, threads=4),
    "waitress-8": lambda port: _run_waitress_threads(port, 8),
    "cheroot-8": lambda port: _run_cheroot_threads(port, 8),
    "raw": _run_raw,
    "raw-blocks": _run_raw_blocks,
    "wsgicore-threading": lambda port: _serve(_wsgicore_threading_server(port)),
    "wsgicore-asyncio": _run_wsgicore_asyncio,
    "uvicorn-a2wsgi": _run_uvicorn_a2wsgi,
    "granian": _run_granian,
    "h11": _run_h11,
}

#: Exit status meaning "this contender cannot run here" (the parent skips it with the message).
EXIT_UNAVAILABLE = 3


def server_command(name: str, port: int, profile: str | None = None) -> list[str]:
    """The command line that runs server ``name`` on ``port`` in the foreground (under cProfile,
    written to ``profile`` when it stops, if given; gunicorn's workers write ``profile``
    ``.worker-<pid>`` each)."""
    command = [sys.executable, "-m", "benchmarks.servers", name, "--port", str(port)]
    return [*command, "--profile", profile] if profile else command


def _watchdog(parent: int, deadline: float) -> None:
    """End this server when the process that started it is gone or at ``deadline``: a benchmark
    killed before it could stop its servers leaves nothing running for long."""
    for _ in range(1_000_000):
        time.sleep(0.5)
        if os.getppid() != parent or time.monotonic() > deadline:
            break
    os.kill(os.getpid(), signal.SIGTERM)  # a clean stop (gunicorn stops its worker too)
    time.sleep(10)
    os._exit(1)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.servers")
    parser.add_argument("name", choices=sorted(RUNNERS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", metavar="PATH", help="run under cProfile, dump stats at exit")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this long")
    args = parser.parse_args(argv)
    threading.Thread(
        target=_watchdog,
        args=(os.getppid(), time.monotonic() + args.max_seconds),
        name="watchdog",
        daemon=True,
    ).start()
    # SIGTERM ends the server as Ctrl-C does (the profile is still written). SIGINT alone would not
    # do: a process started in the background by a non-interactive shell inherits it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    profiler = cProfile.Profile() if args.profile else None
    if args.profile:
        os.environ[WORKER_PROFILE_ENV] = args.profile  # for gunicorn's workers (see _run_gunicorn)
    try:
        if profiler is not None:
            profiler.enable()
        RUNNERS[args.name](args.port)
    except Unavailable as exc:
        print(f"{args.name}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        pass
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
