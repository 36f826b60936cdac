"""Apps wrapped in wsgiref.validate.validator run cleanly on the core (warnings are errors)."""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import WSGIWarning, validator

import pytest
from core_support import WSGIApp, final_responses, run_connection

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
TEXT = [("Content-Type", "text/plain")]


def get_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [*TEXT, ("Content-Length", "5")])
    return [b"hello"]


def post_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    stream = environ["wsgi.input"]
    parts = []
    while chunk := stream.read(4):
        parts.append(chunk)
    line_reader = b"".join(parts)
    start_response("200 OK", TEXT)
    return [b"got:" + line_reader]


def lines_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    stream = environ["wsgi.input"]
    first = stream.readline()
    rest = stream.readlines()
    start_response("200 OK", TEXT)
    return [b"got:" + first + b"".join(rest)]


def write_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    write = start_response("200 OK", TEXT)
    write(b"written;")
    return [b"returned"]


def generator_app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", TEXT)
    yield b"gen"
    yield b""
    yield b"erated"


def bytesio_file_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", TEXT)
    return environ["wsgi.file_wrapper"](io.BytesIO(b"from a BytesIO"), 4)  # type: ignore[no-any-return]


def make_tempfile_app(path: Path) -> WSGIApp:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return environ["wsgi.file_wrapper"](path.open("rb"))  # type: ignore[no-any-return]

    return app


GET = b"GET /v?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
HEAD = b"HEAD /v HTTP/1.1\r\nHost: example.com\r\n\r\n"
POST = b"POST /v HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello\nworld"
CHUNKED = (
    b"POST /v HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"6\r\nhello\n\r\n5;x=1\r\nworld\r\n0\r\n\r\n"
)
FILE_TEXT = b"0123456789" * 10_000

CASES: list[tuple[str, WSGIApp, bytes, str, bytes]] = [
    ("get", get_app, GET, "GET", b"hello"),
    ("head", get_app, HEAD, "HEAD", b""),
    ("post-body", post_app, POST, "GET", b"got:hello\nworld"),
    ("chunked-upload", post_app, CHUNKED, "GET", b"got:hello\nworld"),
    ("chunked-readline", lines_app, CHUNKED, "GET", b"got:hello\nworld"),
    ("write", write_app, GET, "GET", b"written;returned"),
    ("generator", generator_app, GET, "GET", b"generated"),
    ("generator-head", generator_app, HEAD, "HEAD", b""),
    ("file-wrapper-bytesio", bytesio_file_app, GET, "GET", b"from a BytesIO"),
]


def _run_validated(app: WSGIApp, request: bytes, **kw: Any) -> tuple[bytes, str]:
    from wsgicore import Config
    from wsgidrivers.memory import exchange

    errors = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        out = exchange(
            validator(app), request, config=Config(clock=None), errors=errors, **kw
        )
    return out, errors.getvalue()


@pytest.mark.parametrize(
    ("app", "request_bytes", "method", "body"),
    [pytest.param(a, r, m, b, id=i) for i, a, r, m, b in CASES],
)
def test_validator_passes(app: WSGIApp, request_bytes: bytes, method: str, body: bytes) -> None:
    out, errors = _run_validated(app, request_bytes + request_bytes)
    assert errors == "", errors
    responses = final_responses(out, [method, method])
    assert [r.status for r in responses] == [200, 200]
    assert [r.body for r in responses] == [body, body]


def test_validator_passes_real_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "payload.bin"
        path.write_bytes(FILE_TEXT)
        out, errors = _run_validated(make_tempfile_app(path), GET)
    assert errors == ""
    (response,) = final_responses(out)
    assert response.status == 200
    assert response.body == FILE_TEXT


def test_file_wrapper_with_sendfile_real_file() -> None:
    """A real file goes through the driver's sendfile(file, offset, count); a BytesIO does not."""
    calls: list[tuple[int, int]] = []
    out = bytearray()

    def sendfile(file: Any, offset: int, count: int) -> int:
        calls.append((offset, count))
        file.seek(offset)
        data = file.read(count)
        out.extend(data)
        return len(data)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "payload.bin"
        path.write_bytes(FILE_TEXT)
        handle = path.open("rb")
        handle.seek(5)  # PEP 3333: the wrapper sends from the current position

        def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", TEXT)
            return environ["wsgi.file_wrapper"](handle)  # type: ignore[no-any-return]

        from wsgicore import Connection, RequestReceived

        conn = Connection(None, peer=("127.0.0.1", 1), sockname=("127.0.0.1", 2))
        conn.receive_data(GET)
        event = conn.next_event()
        assert isinstance(event, RequestReceived)
        event.environ["wsgi.input"] = conn.input_stream(lambda size: b"")
        event.environ["wsgi.errors"] = io.StringIO()
        info = conn.run_app(app, event.environ, out.extend, sendfile=sendfile)
        assert handle.closed  # the wrapper's close() closes the file
    assert calls
    assert calls[0][0] == 5
    (response,) = final_responses(bytes(out))
    assert response.body == FILE_TEXT[5:]
    assert info.body_bytes == len(FILE_TEXT) - 5
    assert info.status == 200

    # Without fileno() the wrapper is iterated, never handed to sendfile.
    calls.clear()
    run = run_connection(bytesio_file_app, GET)
    assert calls == []
    assert final_responses(run.output)[0].body == b"from a BytesIO"
