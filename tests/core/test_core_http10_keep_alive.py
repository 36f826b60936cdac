"""HTTP/1.0 keep-alive (RFC 9112 §9.3, Appendix C.2.2; issue 24 item 2), decided in the core.

An HTTP/1.0 request persists only with the ``keep-alive`` connection option and only while the
response's length is known (a Content-Length, a body the core measures, HEAD, 204/304); the response
then says ``Connection: Keep-Alive``. Otherwise the connection closes after the response, as before.
h11 never keeps a 1.0 connection alive, but the core asks it only to parse single heads: every test
here is also run byte by byte, which sends the heads through h11 (the fast path needs whole heads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from core_support import final_responses, run_connection

from wsgicore import Config, Connection, RequestReceived
from wsgidrivers.memory import MemoryConnection, exchange

PLAIN = Config(clock=None, server_software=None)
KA10 = b"GET /%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"


def _app(body: list[bytes], status: str = "200 OK",
         headers: list[tuple[str, str]] | None = None) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, list(headers or [("Content-Type", "text/plain")]))
        return [piece.replace(b"PATH", environ["PATH_INFO"].encode()) for piece in body]

    return app


def _both_ways(app: Any, raw: bytes, config: Config = PLAIN) -> bytes:
    """The output for ``raw`` sent whole; sent byte by byte it must be the same."""
    whole = run_connection(app, raw, config=config).output
    bytewise = run_connection(app, [raw[i:i + 1] for i in range(len(raw))], config=config).output
    assert whole == bytewise
    return whole


def test_keep_alive_with_a_measured_body_persists_and_says_so() -> None:
    out = _both_ways(_app([b"PATH"]), KA10 % 1 + KA10 % 2)
    responses = final_responses(out)
    assert [r.body for r in responses] == [b"/1", b"/2"]
    for response in responses:
        assert response.get(b"connection") == b"Keep-Alive"
        assert response.get(b"content-length") == b"2"


def test_twenty_five_pipelined_requests_are_answered_in_order() -> None:
    # waitress' functional suite sends 25 pipelined HTTP/1.0 keep-alive requests.
    raw = b"".join(KA10 % i for i in range(25))
    out = _both_ways(_app([b"PATH"]), raw)
    assert [r.body for r in final_responses(out)] == [b"/%d" % i for i in range(25)]
    assert exchange(_app([b"PATH"]), raw, config=PLAIN) == out  # the memory driver agrees


@pytest.mark.parametrize("value", [b"keep-alive", b"Keep-Alive", b"KEEP-ALIVE", b"foo, keep-alive",
                                   b"keep-alive ,\tfoo"])
def test_the_option_is_a_case_insensitive_list_element(value: bytes) -> None:
    raw = b"GET /a HTTP/1.0\r\nConnection: " + value + b"\r\n\r\nGET /b HTTP/1.0\r\n\r\n"
    responses = final_responses(_both_ways(_app([b"PATH"]), raw))
    assert [r.body for r in responses] == [b"/a", b"/b"]
    assert responses[1].connection_close  # the second asked for nothing: it closes


@pytest.mark.parametrize("value", [b"", b"keep-alive-ish", b"close", b"keep-alive, close",
                                   b"keepalive"])
def test_without_the_option_http10_still_closes(value: bytes) -> None:
    head = b"GET /a HTTP/1.0\r\n" + (b"Connection: " + value + b"\r\n" if value else b"") + b"\r\n"
    run = run_connection(_app([b"PATH"]), head + KA10 % 2, config=PLAIN)
    responses = final_responses(run.output)
    assert [r.body for r in responses] == [b"/a"]  # the second request is never parsed
    assert responses[0].connection_close
    assert len(run.environs) == 1


def test_an_unknown_length_closes_even_with_keep_alive() -> None:
    # Two pieces and no Content-Length: an HTTP/1.0 client reads to the close (RFC 9112 §6.3).
    out = _both_ways(_app([b"PATH", b"!"]), KA10 % 1 + KA10 % 2)
    responses = final_responses(out)
    assert [r.body for r in responses] == [b"/1!"]
    assert responses[0].connection_close
    assert responses[0].get(b"content-length") is None


def test_a_declared_length_over_several_pieces_persists() -> None:
    app = _app([b"a", b"b"], headers=[("Content-Type", "text/plain"), ("Content-Length", "2")])
    responses = final_responses(_both_ways(app, KA10 % 1 + KA10 % 2))
    assert [r.body for r in responses] == [b"ab", b"ab"]
    assert responses[0].get(b"connection") == b"Keep-Alive"


@pytest.mark.parametrize(("method", "status"), [(b"HEAD", "200 OK"), (b"GET", "204 No Content"),
                                                 (b"GET", "304 Not Modified")])
def test_bodiless_responses_persist(method: bytes, status: str) -> None:
    # No body follows (RFC 9110 §9.3.2, §6.4.1): the length is known even without a Content-Length.
    app = _app([b"x", b"y"] if method == b"HEAD" else [], status)
    head = method + b" /%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    run = run_connection(app, head % 1 + head % 2, config=PLAIN)
    assert len(run.environs) == 2
    assert run.output.count(b"Connection: Keep-Alive\r\n") == 2
    assert b"Connection: close" not in run.output


def test_a_request_body_is_read_or_drained_and_the_next_request_follows() -> None:
    post = b"POST /p HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello"
    out = _both_ways(_app([b"PATH"]), post + KA10 % 2)  # the app never reads the body
    assert [r.body for r in final_responses(out)] == [b"/p", b"/2"]


def test_a_failing_application_closes() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("boom")

    run = run_connection(app, KA10 % 1 + KA10 % 2, config=PLAIN)
    responses = final_responses(run.output)
    assert [r.status for r in responses] == [500]
    assert responses[0].connection_close


def test_keep_alive_switched_off_by_the_config_or_the_driver_still_closes() -> None:
    run = run_connection(_app([b"PATH"]), KA10 % 1 + KA10 % 2,
                         config=Config(keep_alive=False, clock=None))
    responses = final_responses(run.output)
    assert len(responses) == 1
    assert responses[0].connection_close
    conn = Connection(PLAIN)
    conn.receive_data(KA10 % 1 + KA10 % 2)
    request = conn.next_action()
    assert isinstance(request, RequestReceived)
    assert conn.keep_alive
    conn.close_after_response()  # graceful shutdown: the one switch, as for HTTP/1.1
    out: list[bytes] = []
    conn.run_app(_app([b"PATH"]), request.environ, out.append)
    assert b"Connection: close\r\n" in b"".join(out)
    assert not conn.keep_alive


def test_http11_responses_never_say_keep_alive() -> None:
    out = run_connection(_app([b"PATH"]), b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
                         config=PLAIN).output
    assert b"Connection:" not in out  # HTTP/1.1 persists by default (RFC 9112 §9.3)


def test_the_memory_connection_stays_open_between_http10_requests() -> None:
    memory = MemoryConnection(_app([b"PATH"]), config=PLAIN)
    first = memory.send(KA10 % 1)
    assert first.endswith(b"/1")
    assert not memory.closed
    assert memory.send(KA10 % 2).endswith(b"/2")
    assert not memory.closed
    memory.send(b"GET /3 HTTP/1.0\r\n\r\n")
    assert memory.closed
