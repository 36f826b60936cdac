"""The request-cycle policy the core decides for every driver: the serving Config (Date/Server
defaults, keep-alive, multithread, https), which deadline applies, and ``run_app`` filling
``wsgi.input``/``wsgi.errors`` and flushing a pending ``100 Continue`` itself."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from wsgicore import (
    HEAD_DEADLINE,
    IDLE_DEADLINE,
    NEED_DATA,
    SERVER_SOFTWARE,
    Config,
    Connection,
    RequestReceived,
    __version__,
    serving_config,
)

PLAIN = Config(clock=None, server_software=None)
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def _clock() -> float:
    return 0.0


def _hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


# -- serving_config ------------------------------------------------------------------------------

def test_no_config_gives_the_drivers_default() -> None:
    config = serving_config(None, clock=_clock, keep_alive=True, multithread=False)
    assert config.clock is _clock
    assert config.server_software == SERVER_SOFTWARE
    assert SERVER_SOFTWARE.startswith(f"wsgicore/{__version__} ")


def test_a_config_given_for_a_limit_keeps_the_drivers_server_header() -> None:
    # A Config given to set a limit changed Server from SERVER_SOFTWARE to "wsgicore/<version>".
    given = serving_config(Config(max_body_bytes=10), clock=_clock, keep_alive=True, multithread=False)
    assert given.server_software == SERVER_SOFTWARE
    assert Config().server_software == SERVER_SOFTWARE  # the core alone says the same
    assert serving_config(Config(server_software=None), clock=_clock, keep_alive=True,
                          multithread=False).server_software is None


def test_a_config_given_for_a_limit_keeps_the_drivers_clock() -> None:
    # Issue 24 item 5: Config.clock defaults to "driver", which every driver fills with its clock
    # (RFC 9110 §6.6.1); only an explicit clock=None turns Date off.
    given = Config(max_body_bytes=10)
    assert given.clock == "driver"
    served = serving_config(given, clock=_clock, keep_alive=True, multithread=False)
    assert served.clock is _clock
    assert served.max_body_bytes == 10
    off = Config(max_body_bytes=10, clock=None)
    assert serving_config(off, clock=_clock, keep_alive=True, multithread=False) is off
    own = Config(clock=time.time)
    assert serving_config(own, clock=_clock, keep_alive=True, multithread=False) is own


def test_the_core_alone_reads_no_clock() -> None:
    # The core never reads a clock of its own: "driver" with no driver to fill it sends no Date.
    conn = Connection(Config(max_body_bytes=10))
    conn.receive_data(GET)
    request = conn.next_action()
    assert isinstance(request, RequestReceived)
    out: list[bytes] = []
    conn.run_app(_hello, request.environ, out.append)
    assert b"Date:" not in b"".join(out)
    with pytest.raises(ValueError, match="clock"):
        Config(clock="wall")  # type: ignore[arg-type]


@pytest.mark.parametrize(("config_keep_alive", "driver_keep_alive", "expected"),
                         [(True, True, True), (True, False, False), (False, True, False)])
def test_keep_alive_needs_both(config_keep_alive: bool, driver_keep_alive: bool,
                               expected: bool) -> None:
    config = Config(keep_alive=config_keep_alive)
    served = serving_config(config, clock=_clock, keep_alive=driver_keep_alive, multithread=False)
    assert served.keep_alive is expected


def test_multithread_and_https() -> None:
    served = serving_config(Config(), clock=_clock, keep_alive=True, multithread=True, secure=True)
    assert (served.multithread, served.url_scheme) == (True, "https")
    # Behind a TLS-terminating proxy the config says https; a plain socket does not undo it.
    own = serving_config(Config(url_scheme="https"), clock=_clock, keep_alive=True,
                         multithread=False, secure=False)
    assert own.url_scheme == "https"


# -- Connection.deadline and time_out() -----------------------------------------------------------

def test_the_first_request_waits_under_the_head_deadline() -> None:
    conn = Connection(PLAIN)
    assert conn.deadline == HEAD_DEADLINE
    assert conn.time_out() == b""  # nothing arrived: close silently


def test_between_requests_the_idle_deadline_then_the_head_one() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(GET)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    conn.run_app(_hello, event.environ, lambda data: None, fetch=lambda n: b"")
    assert conn.deadline == IDLE_DEADLINE
    assert conn.next_event() is NEED_DATA
    assert conn.deadline == IDLE_DEADLINE
    conn.receive_data(b"GET / HT")
    assert conn.next_event() is NEED_DATA
    assert conn.deadline == HEAD_DEADLINE
    assert conn.time_out().startswith(b"HTTP/1.1 408 Request Timeout\r\n")


# -- run_app(fetch=, errors=) ----------------------------------------------------------------------

def test_run_app_fills_wsgi_input_and_errors() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab")
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    assert "wsgi.input" not in event.environ
    errors = io.StringIO()
    asked: list[int] = []
    seen: dict[str, Any] = {}

    def fetch(size: int) -> bytes:
        asked.append(size)
        return b"cdef"

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen["errors"] = environ["wsgi.errors"]
        body = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [body]

    out: list[bytes] = []
    conn.run_app(app, event.environ, out.append, fetch=fetch, errors=errors)
    assert seen["errors"] is errors
    assert asked == [4]  # fetch(n): the rest of the Content-Length body
    assert b"".join(out).endswith(b"\r\n\r\nabcdef")


def test_run_app_sends_a_pending_100_continue_before_it_fetches() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 3\r\n\r\n")
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    wire: list[bytes] = []

    def fetch(size: int) -> bytes:
        wire.append(b"<fetch>")
        return b"abc"

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [body]

    conn.run_app(app, event.environ, wire.append, fetch=fetch, errors=io.StringIO())
    assert wire[0] == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the client is waited for
    assert wire[1] == b"<fetch>"
    assert b"".join(wire[2:]).endswith(b"abc")
    assert conn.data_to_send() == b""


def test_without_fetch_the_drivers_own_keys_stay() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(GET)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    stream = conn.input_stream(lambda n: b"")
    errors = io.StringIO()
    environ = event.environ | {"wsgi.input": stream, "wsgi.errors": errors}
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.extend((environ["wsgi.input"], environ["wsgi.errors"]))
        return _hello(environ, start_response)

    conn.run_app(app, environ, lambda data: None)
    assert seen == [stream, errors]
