"""The asyncio driver gives the same outcomes as the blocking driver, on the same inputs.

One table, parametrised over drivers: every hostile request (``tests/hardening/hostile_table.py``)
and every request of the shared corpus is sent to both drivers (the blocking one is
``simple_server_threading``: keep-alive on, like ours) and the outcomes must be equal: the statuses
and bodies of the responses, ``Connection: close``, whether the connection was closed, and what the
application saw. Grading against the table's expectations is ``tests/hardening``'s job (the
"asyncio" driver is registered in ``tests/support/servers.py``, so it runs there too); here the
blocking driver is the reference.

Then app exceptions and client disconnects, parametrised over both drivers, with one expectation.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import socket
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from .aio_support import (
    BodyReader,
    Environ,
    StartResponse,
    StreamingBody,
    connect,
    get,
    read_response,
    wait_closed,
)


def _import(*names: str) -> ModuleType | None:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


servers = _import("tests.support.servers", "support.servers")
hostile = _import("tests.hardening.hostile_table", "hardening.hostile_table")
util = _import("tests.hardening._util", "hardening._util")

#: An access-log line: ``addr - - [date] "request line" status size``.
ACCESS_LINE = re.compile(r'"[^"]*" \d{1,3} (\d+|-)$')

REFERENCE = "simple_server_threading"
DRIVERS = (REFERENCE, "asyncio", "asyncio_bridge_io")

if servers is None or not all(d in getattr(servers, "DRIVERS", {}) for d in DRIVERS):
    pytest.skip("tests/support/servers.py with the simple_server_threading and asyncio drivers "
                "is not available", allow_module_level=True)
if hostile is None or util is None:
    pytest.skip("tests/hardening/hostile_table.py or tests/hardening/_util.py is not available",
                allow_module_level=True)

CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    (f"hostile/{c.name}", c.raw, dict(c.config)) for c in hostile.HOSTILE_CASES
]
# The corpus manifest entries carry their wire bytes under "raw" ([] when the corpus is absent).
CASES += [(f"corpus/{e['kind']}/{e['name']}", e["raw"], {}) for e in util.load_corpus()]


class _Pool:
    """One server per (driver, config overrides) for the whole module."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.servers: dict[str, tuple[tuple[str, int], Any]] = {}

    def get(self, driver: str, overrides: dict[str, Any]) -> tuple[tuple[str, int], Any]:
        key = driver + repr(sorted(overrides.items()))
        if key not in self.servers:
            from wsgicore import Config

            app = util.RecordingApp()
            config = Config(clock=None, **overrides)
            address = self.stack.enter_context(servers.running_server(driver, app, config))
            self.servers[key] = (address, app)
        return self.servers[key]


@pytest.fixture(scope="module")
def pool() -> Iterator[_Pool]:
    pool = _Pool()
    with pool.stack:
        yield pool


def _outcome(pool: _Pool, driver: str, raw: bytes, overrides: dict[str, Any]) -> dict[str, Any]:
    address, app = pool.get(driver, overrides)
    app.reset()
    result = util.send_raw(address, [raw])
    parsed = util.parse_responses(result.data)
    return {
        "responses": [(r.status, r.body, r.closes, r.complete) for r in parsed.responses],
        "unparsed": parsed.rest,
        "closed": result.eof or result.reset,
        "timed_out": result.timed_out,
        "app_calls": app.calls,
        "app_saw": [(s.get("REQUEST_METHOD"), s.get("REQUEST_URI"), s["body"]) for s in app.served],
    }


@pytest.mark.parametrize(("name", "raw", "overrides"), CASES, ids=[c[0] for c in CASES])
def test_same_outcome_as_the_blocking_driver(
    pool: _Pool, name: str, raw: bytes, overrides: dict[str, Any]
) -> None:
    reference = _outcome(pool, REFERENCE, raw, overrides)
    ours = _outcome(pool, "asyncio", raw, overrides)
    assert ours == reference


# ---- app exceptions and client disconnects: one expectation, both drivers ----------------------


def _error_app(environ: Environ, start_response: StartResponse) -> Any:
    path = environ["PATH_INFO"]
    if path == "/raise-before":
        raise RuntimeError("boom before start_response")
    start_response("200 OK", [("Content-Length", "10")])
    if path == "/raise-after":
        return _fails_after_five()
    return [b"0123456789"]


def _fails_after_five() -> Iterator[bytes]:
    yield b"01234"
    raise RuntimeError("boom after the headers")


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_exception_before_start_response_is_a_500_and_the_server_goes_on(driver: str) -> None:
    with servers.running_server(driver, _error_app) as address, connect(address) as sock:
        sock.sendall(b"GET /raise-before HTTP/1.1\r\nHost: t\r\n\r\n")
        f = sock.makefile("rb")
        response = read_response(f)
        assert response.status == 500
        assert response.headers.get("connection") == "close"
        assert f.read() == b""
        with connect(address) as again:
            again.sendall(b"GET /fine HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert read_response(again.makefile("rb")).body == b"0123456789"


def test_exception_after_the_headers_cuts_the_response_and_closes(driver: str) -> None:
    with servers.running_server(driver, _error_app) as address, connect(address) as sock:
        sock.sendall(b"GET /raise-after HTTP/1.1\r\nHost: t\r\n\r\n")
        data, _ = wait_closed(sock)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert body == b"01234"


def test_client_gone_mid_download_closes_the_iterable(driver: str) -> None:
    body = StreamingBody(1 << 30)

    def big(environ: Environ, start_response: StartResponse) -> StreamingBody:
        start_response("200 OK", [("Content-Length", str(body.total))])
        return body

    with servers.running_server(driver, big, io_timeout=5.0) as address:
        with connect(address) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.recv(65536)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
        assert body.closed.wait(10)


def test_client_gone_mid_upload_is_an_oserror_in_the_app(driver: str) -> None:
    reader = BodyReader()
    with servers.running_server(driver, reader) as address:
        with connect(address) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nabc")
            time.sleep(0.05)
        assert reader.done.wait(10)
        assert get(address).status == 200  # and the server goes on
    assert len(reader.errors) == 1


def _body_reading_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read()  # a failed read is left to the server
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def test_stalled_upload_is_the_cores_408_and_one_log_line(
    driver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The driver's read times out; the core answers 408 and reports one line without a traceback
    # (the access line of the 408 aside), and the driver neither adds its own nor a 500.
    capsys.readouterr()
    with servers.running_server(driver, _body_reading_app, io_timeout=0.3) as address:
        with connect(address) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            data, took = wait_closed(sock)
        assert get(address).status == 200
    assert data.startswith(b"HTTP/1.1 408 ")
    assert took < 5.0
    log = capsys.readouterr().err
    assert "Traceback" not in log
    failures = [line for line in log.splitlines() if not ACCESS_LINE.search(line)]
    assert len(failures) == 1, failures
    assert failures[0].startswith("request body error: reading the request body failed: TimeoutError")
    assert re.search(r'"POST / HTTP/1\.1" 408 \d+$', log, re.MULTILINE)
