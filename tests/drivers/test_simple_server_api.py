"""The wsgiref.simple_server compatibility surface and its hook points (subclassing)."""

from __future__ import annotations

import http.server
import io
import socket
import socketserver
import sys
import wsgiref.simple_server
from io import BufferedReader, BytesIO
from typing import Any

import pytest

from support.servers import serve_in_thread, serving
from wsgicore import Config
from wsgidrivers import simple_server
from wsgidrivers.simple_server import (
    ServerHandler,
    ThreadingWSGIServer,
    WSGIRequestHandler,
    WSGIServer,
    make_server,
)

from .helpers import connect, hello_app, read_until_close, request


def test_names() -> None:
    for name in wsgiref.simple_server.__all__:
        assert name in simple_server.__all__
    for name in ("ServerHandler", "ThreadingWSGIServer", "server_version", "sys_version",
                 "software_version", "demo_app"):
        assert hasattr(simple_server, name)
    assert simple_server.software_version == (
        f"{simple_server.server_version} {simple_server.sys_version}"
    )
    assert issubclass(WSGIServer, http.server.HTTPServer)
    assert issubclass(WSGIRequestHandler, http.server.BaseHTTPRequestHandler)
    assert issubclass(ThreadingWSGIServer, socketserver.ThreadingMixIn)
    assert WSGIServer.allow_reuse_address
    assert ThreadingWSGIServer.keep_alive
    assert not WSGIServer.keep_alive


def test_server_attributes() -> None:
    calls = []

    class Server(WSGIServer):
        def setup_environ(self) -> None:
            calls.append("setup_environ")
            super().setup_environ()

    with make_server("127.0.0.1", 0, hello_app, Server) as server:
        assert calls == ["setup_environ"]  # from server_bind()
        assert server.get_app() is hello_app
        assert server.application is hello_app
        server.set_app(simple_server.demo_app)
        assert server.get_app() is simple_server.demo_app
        assert server.base_environ["GATEWAY_INTERFACE"] == "CGI/1.1"
        assert server.base_environ["SERVER_PORT"] == str(server.server_port)
        assert server.timeout is None


def test_handle_request_honours_timeout() -> None:
    timed_out = []

    class Server(WSGIServer):
        timeout = 0.05

        def handle_timeout(self) -> None:
            timed_out.append(True)

    with make_server("127.0.0.1", 0, hello_app, Server) as server:
        server.handle_request()
    assert timed_out == [True]


def test_get_environ_override_reaches_the_app() -> None:
    seen = {}
    from_handler: dict[str, Any] = {}

    class Handler(WSGIRequestHandler):
        def get_environ(self) -> dict[str, Any]:
            environ = super().get_environ()
            from_handler.update(environ)
            environ["myapp.added"] = "by the handler"
            environ["REMOTE_USER"] = "alice"
            return environ

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return hello_app(environ, start_response)

    with serve_in_thread(app, handler_class=Handler) as address:
        assert request(address)[0] == 200
    assert seen["myapp.added"] == "by the handler"
    assert seen["REMOTE_USER"] == "alice"
    assert seen["REQUEST_METHOD"] == "GET"
    assert "wsgi.input" in seen
    # RFC 3875 §4.1.9: REMOTE_HOST is the address when no lookup is done (wsgiref sets "").
    assert from_handler["REMOTE_HOST"] == from_handler["REMOTE_ADDR"] == "127.0.0.1"


def test_base_environ_keys_reach_the_app() -> None:
    seen = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return hello_app(environ, start_response)

    server = make_server("127.0.0.1", 0, app)
    server.base_environ["myserver.flag"] = True
    with serving(server) as address:
        request(address)
    assert seen["myserver.flag"] is True


def test_log_message_override_silences_the_access_log(capsys: pytest.CaptureFixture[str]) -> None:
    class Silent(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serve_in_thread(hello_app, handler_class=Silent) as address:
        assert request(address)[3] == b"Hello, world!"
    assert capsys.readouterr().err == ""


def test_access_log_format(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_thread(hello_app) as address:
        request(address, path="/p?q=1")
    line = capsys.readouterr().err.strip()
    assert line.startswith("127.0.0.1 - - [")
    assert line.endswith('] "GET /p?q=1 HTTP/1.1" 200 13')


def test_access_log_escapes_control_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
    handler.client_address = ("127.0.0.1", 1)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    handler.log_message('"%s" %s', "GET /\x1b[31m\n\\ HTTP/1.1", 200)
    assert stream.getvalue().endswith('] "GET /\\x1b[31m\\x0a\\\\ HTTP/1.1" 200\n')


def test_access_log_of_a_raw_non_ascii_target() -> None:
    # In memory (as CPython's tests drive handlers): an rfile/wfile pair, no socket; the wsgiref
    # profile lets raw bytes >= 0x80 through, and the C1 control U+0085 is escaped in the log.
    class Server(WSGIServer):
        config = Config.wsgiref_compatible()

    out, err = run_in_memory(b"GET /\x85\xe9 HTTP/1.0\n\n", server_class=Server)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert err.endswith('"GET /\\x85\xe9 HTTP/1.0" 200 13\n')


def test_get_stderr_override_gets_wsgi_errors_and_tracebacks() -> None:
    stream = io.StringIO()
    seen = {}

    class Handler(WSGIRequestHandler):
        def get_stderr(self) -> Any:
            return stream

        def log_message(self, format: str, *args: Any) -> None:
            pass

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["errors"] = environ["wsgi.errors"]
        raise KeyError("from the app")

    with serve_in_thread(app, handler_class=Handler) as address:
        assert request(address)[0] == 500
    assert seen["errors"] is stream
    assert "KeyError: 'from the app'" in stream.getvalue()


def test_replaced_sys_stderr_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.errors"].write("app wrote this\n")
        raise ValueError("boom")

    with serve_in_thread(app) as address:
        assert request(address)[0] == 500
    text = stream.getvalue()
    assert "app wrote this" in text
    assert "ValueError: boom" in text
    assert '"GET / HTTP/1.1" 500' in text


def test_handle_error_override_sees_handler_failures() -> None:
    failures = []

    class Server(WSGIServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            failures.append(sys.exc_info()[1])

    class Handler(WSGIRequestHandler):
        def get_environ(self) -> dict[str, Any]:
            raise LookupError("handler bug")

    server = make_server("127.0.0.1", 0, hello_app, Server, Handler)
    with serving(server) as address:
        with pytest.raises((ConnectionError, OSError)):
            request(address)
        server.RequestHandlerClass = WSGIRequestHandler  # the server goes on
        assert request(address)[0] == 200
    assert len(failures) == 1
    assert isinstance(failures[0], LookupError)


def test_server_handler_log_exception_override() -> None:
    reported = []

    class Runner(ServerHandler):
        def log_exception(self, exc_info: Any) -> None:
            reported.append(exc_info[0])

    class Handler(WSGIRequestHandler):
        server_handler_class = Runner

        def log_message(self, format: str, *args: Any) -> None:
            pass

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise IndexError

    with serve_in_thread(app, handler_class=Handler) as address:
        assert request(address)[0] == 500
    assert reported == [IndexError]


def run_in_memory(data: bytes, handler_class: type[WSGIRequestHandler] = WSGIRequestHandler,
                  app: Any = hello_app, server_class: type[WSGIServer] = WSGIServer
                  ) -> tuple[bytes, str]:
    """Drive a handler with in-memory files, as CPython's test_wsgiref does (no socket)."""

    class Server(server_class):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            socketserver.BaseServer.__init__(self, ("", 80), handler_class)
            self.server_name, self.server_port = "", 80
            self.setup_environ()

    class Handler(handler_class):  # type: ignore[valid-type,misc]
        def setup(self) -> None:
            self.connection = self.request
            self.rfile, self.wfile = self.connection

        def finish(self) -> None:
            pass

    server = Server()
    server.RequestHandlerClass = Handler
    server.set_app(app)
    out = BytesIO()
    saved, sys.stderr = sys.stderr, io.StringIO()
    try:
        server.finish_request((BufferedReader(BytesIO(data)), out), ("127.0.0.1", 8888))
        err = sys.stderr.getvalue()
    finally:
        sys.stderr = saved
    return out.getvalue(), err


def test_in_memory_handler_strict_by_default() -> None:
    # The default config is strict: bare LF is refused (the wsgiref profile accepts it).
    out, err = run_in_memory(b"GET / HTTP/1.0\n\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    out, err = run_in_memory(b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert out.endswith(b"Hello, world!")
    assert err.endswith('"GET / HTTP/1.0" 200 13\n')


def test_rfile_and_wfile_are_made_only_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # The channel reads and writes the socket itself while rfile/wfile would be the socket's own
    # files: making them for every connection was a tenth of the cost of a short connection.
    made: list[str] = []
    real = socket.socket.makefile

    def spy(self: socket.socket, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        made.append(mode)
        return real(self, mode, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "makefile", spy)
    with serve_in_thread(hello_app) as address, connect(address) as sock:  # a client without files
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert read_until_close(sock).startswith(b"HTTP/1.1 200 OK\r\n")
    assert made == []


def test_a_subclass_that_wraps_rfile_in_setup_is_read_through() -> None:
    reads: list[int] = []

    class Counting(io.RawIOBase):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            data = self.inner.read1(len(buffer))
            reads.append(len(data))
            buffer[: len(data)] = data
            return len(data)

    class Handler(WSGIRequestHandler):
        def setup(self) -> None:
            super().setup()
            self.rfile = Counting(self.rfile)  # made on first use, then replaced

        def log_message(self, format: str, *args: Any) -> None:
            pass

    def reading_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    with serve_in_thread(reading_app, handler_class=Handler) as address:
        status, _, _, body = request(address, "POST", body=b"x" * 1000)
    assert (status, body) == (200, b"x" * 1000)
    assert sum(reads) > 1000  # the head and the body came through the wrapper


def test_a_subclass_may_write_through_wfile() -> None:
    class Handler(WSGIRequestHandler):
        def handle(self) -> None:  # a plain BaseHTTPRequestHandler use of wfile
            self.wfile.write(b"HTTP/1.0 204 No Content\r\n\r\n")

    with serve_in_thread(hello_app, handler_class=Handler) as address, connect(address) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert read_until_close(sock) == b"HTTP/1.0 204 No Content\r\n\r\n"


def test_public_classes_say_they_live_in_simple_server() -> None:
    # They are defined in private modules; reprs, docs and pickles name the public one.
    for cls in (WSGIServer, WSGIRequestHandler, simple_server.ServerHandler,
                simple_server.ThreadingWSGIServer):
        assert cls.__module__ == "wsgidrivers.simple_server"
        assert getattr(simple_server, cls.__name__) is cls
