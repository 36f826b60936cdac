"""A line whose end has not arrived is refused as soon as its verdict is certain, not at the head
timeout: longer than its own limit (414 for the request line, 431 for a field line), or longer than
what is left of ``max_head_bytes`` (431; waitress's functional suite has two tests for it). Fed whole,
byte by byte and at every cut, the status and its reason text are the same, and a line that still
fits is waited for. The trailer section of a chunked body has the same bounds (400 for a line over
``max_header_field``, 431 past what is left of ``max_head_bytes``).
"""

from __future__ import annotations

from typing import Any

import pytest

from wsgicore import NEED_DATA, Config, Connection, RemoteProtocolError, RequestBodyError

REQUEST_LINE = b"GET / HTTP/1.1\r\n"
HOST = b"Host: x\r\n"
SIZE = len(REQUEST_LINE) + len(HOST)  # the head so far, line ends included


def _verdict(pieces: list[bytes], config: Config) -> tuple[int | None, str] | None:
    """(status, reason) of the refusal, or None while the connection still waits for bytes. No EOF
    is ever fed: the verdict must come from the bytes alone."""
    conn = Connection(config)
    for piece in pieces:
        conn.receive_data(piece)
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            return exc.status_code, exc.reason
        if event is not NEED_DATA:
            return 0, type(event).__name__
    return None


def _ways(data: bytes) -> dict[str, list[list[bytes]]]:
    return {
        "whole": [[data]],
        "bytewise": [[data[i : i + 1] for i in range(len(data))]],
        "cut": [[data[:cut], data[cut:]] for cut in range(1, len(data), max(1, len(data) // 40))],
    }


def _same_everywhere(data: bytes, config: Config) -> tuple[int | None, str] | None:
    verdicts = {
        how: {_verdict(pieces, config) for pieces in ways} for how, ways in _ways(data).items()
    }
    every = set().union(*verdicts.values())
    assert len(every) == 1, verdicts
    return every.pop()


@pytest.mark.parametrize("head_bytes", [200, 1000, 4096])
def test_unfinished_field_line_longer_than_what_is_left_of_the_head_gets_431_at_once(
    head_bytes: int,
) -> None:
    config = Config(max_head_bytes=head_bytes)  # max_header_field stays 8192: only the head limit
    room = head_bytes - SIZE  # bytes a field line may add, its CRLF included
    line = b"X-Long: " + b"a" * (room - 2 - len(b"X-Long: "))
    assert len(line) + 2 == room
    # The longest field line that still fits, and its CR: it may still end well, so it waits.
    assert _same_everywhere(REQUEST_LINE + HOST + line + b"\r", config) is None
    assert _same_everywhere(REQUEST_LINE + HOST + line + b"a", config) is None  # may end in "\n"
    # One byte more can no longer fit whatever follows: 431 at once, whole or byte by byte.
    refused = _same_everywhere(REQUEST_LINE + HOST + line + b"aa", config)
    assert refused == (431, "request head larger than max_head_bytes")
    refused = _same_everywhere(REQUEST_LINE + HOST + b"X-Long: " + b"a" * 100_000, config)
    assert refused == (431, "request head larger than max_head_bytes")
    # The complete line of the same length: the same verdict; the one that fits is served.
    assert _same_everywhere(REQUEST_LINE + HOST + line + b"a\r\n\r\n", config) == refused
    assert _same_everywhere(REQUEST_LINE + HOST + line + b"\r\n\r\n", config) == (0, "RequestReceived")


def test_unfinished_request_line_longer_than_max_request_line_gets_414_at_once() -> None:
    config = Config(max_request_line=100)
    line = b"GET /" + b"a" * (100 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == 100
    assert _same_everywhere(line + b"\r", config) is None
    assert _same_everywhere(line + b"x", config) is None  # 101 bytes: may end in a bare LF
    assert _same_everywhere(line + b"xx", config) == (414, "request line longer than max_request_line")
    assert _same_everywhere(b"GET /" + b"a" * 100_000, config) == (
        414, "request line longer than max_request_line")


def test_unfinished_field_line_longer_than_max_header_field_gets_431_at_once() -> None:
    config = Config(max_header_field=100)
    line = b"X-Long: " + b"a" * (100 - len(b"X-Long: "))
    assert _same_everywhere(REQUEST_LINE + HOST + line + b"\r", config) is None
    assert _same_everywhere(REQUEST_LINE + HOST + line + b"xx", config) == (
        431, "field line longer than max_header_field")


def test_a_lone_cr_that_may_end_a_full_head_is_waited_for() -> None:
    # The head fills max_head_bytes exactly; the next CR may be the blank line's.
    line = b"X: " + b"a" * (300 - SIZE - 2 - 3)
    config = Config(max_head_bytes=300)
    head = REQUEST_LINE + HOST + line + b"\r\n"
    assert len(head) == 300
    assert _same_everywhere(head + b"\r", config) is None
    assert _same_everywhere(head + b"\r\n", config) == (0, "RequestReceived")
    assert _same_everywhere(head + b"Y", config) == (431, "request head larger than max_head_bytes")


@pytest.mark.parametrize("field_limit", [50, 97, 98, 99, 150])
@pytest.mark.parametrize("extra", [0, 1, 2, 3, 60, 200])
@pytest.mark.parametrize("end", [b"", b"\r", b"\r\n", b"\n"])
def test_a_line_over_both_limits_gets_one_reason_however_it_arrives(
    field_limit: int, extra: int, end: bytes
) -> None:
    # The line's own limit and the head size, both broken: the reason names the one its bytes
    # cross first (as they do arriving one at a time), whole, byte by byte and at every cut.
    config = Config(max_header_field=field_limit, max_head_bytes=SIZE + 100)
    line = b"X-Long: " + b"a" * (100 + extra - len(b"X-Long: "))
    _same_everywhere(REQUEST_LINE + HOST + line + end, config)
    _same_everywhere(REQUEST_LINE + HOST + line + end + b"\r\n", config)


def test_a_line_past_the_field_count_is_refused_for_the_count() -> None:
    # The count comes before the head size for a complete line, so an unfinished line past the
    # count is not refused for the head size: the complete line says why, however it arrived.
    config = Config(max_header_count=1, max_head_bytes=SIZE + 50)
    data = REQUEST_LINE + HOST + b"X: " + b"a" * 60 + b"\r\n\r\n"
    assert _same_everywhere(data, config) == (431, "more field lines than max_header_count")


def test_a_request_line_longer_than_the_head_limit_gets_431() -> None:
    # Config's docstring: the request line counts towards max_head_bytes too.
    config = Config(max_request_line=500, max_head_bytes=100)
    line = b"GET /" + b"a" * 200 + b" HTTP/1.1"
    assert _same_everywhere(line, config) == (431, "request head larger than max_head_bytes")
    assert _same_everywhere(line + b"\r\n" + HOST + b"\r\n", config) == (
        431, "request head larger than max_head_bytes")


# ------------------------------------------------------------------ trailer lines (RFC 9112 §7.1.2)

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST_CHUNK = b"5\r\nhello\r\n0\r\n"


def _body_verdict(pieces: list[bytes], config: Config) -> tuple[int | None, str]:
    """(status, reason) of the body read's error; the stream ends (EOF) after the pieces, so a
    line still waited for gives the EOF's status None, and a line refused at once its own."""
    from support.inmemory import run_connection

    seen: list[tuple[int | None, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except RequestBodyError as exc:
            seen.append((exc.status_code, exc.reason))
            raise
        seen.append((0, "body complete"))
        start_response("200 OK", [])
        return [b""]

    run_connection(app, [CHUNKED_HEAD, *pieces], config=config)
    assert len(seen) == 1, seen
    return seen[0]


def _body_same_everywhere(data: bytes, config: Config) -> tuple[int | None, str]:
    verdicts = {_body_verdict(pieces, config) for ways in _ways(data).values() for pieces in ways}
    assert len(verdicts) == 1, verdicts
    return verdicts.pop()


EOF_VERDICT = (None, "connection closed before the chunked body was complete")


@pytest.mark.parametrize("head_bytes", [60, 200, 1000])
def test_unfinished_trailer_line_longer_than_what_is_left_of_the_section_gets_431_at_once(
    head_bytes: int,
) -> None:
    # max_head_bytes bounds the trailer section as it bounds the head; max_header_field (8192)
    # stays above it, so only the section's room can refuse the line.
    config = Config(max_head_bytes=head_bytes)
    first = b"X-A: 1\r\n"
    room = head_bytes - len(first) - 2  # what the second line may hold, its CRLF not counted
    line = b"X-Long: " + b"a" * (room - len(b"X-Long: "))
    assert len(line) == room
    body = LAST_CHUNK + first
    # The longest line that still fits, and its CR (maybe half its CRLF): waited for until EOF.
    assert _body_same_everywhere(body + line + b"\r", config) == EOF_VERDICT
    assert _body_same_everywhere(body + line + b"a", config) == EOF_VERDICT  # may end in "\n"
    # One byte more can no longer fit: refused before the EOF, whole or byte by byte.
    refused = (431, "trailer section too large")
    assert _body_same_everywhere(body + line + b"aa", config) == refused
    assert _body_same_everywhere(body + b"X-Long: " + b"a" * 100_000, config) == refused
    # Complete lines of the same lengths: the same verdicts; the one that fits is read.
    assert _body_same_everywhere(body + line + b"a\r\n\r\n", config) == refused
    assert _body_same_everywhere(body + line + b"\r\n\r\n", config) == (0, "body complete")


def test_unfinished_trailer_line_longer_than_max_header_field_gets_400_at_once() -> None:
    config = Config(max_header_field=100)  # the section's room (max_head_bytes) is far larger
    line = b"X-Long: " + b"a" * (100 - len(b"X-Long: "))
    assert _body_same_everywhere(LAST_CHUNK + line + b"\r", config) == EOF_VERDICT
    too_long = (400, "chunk-size or trailer line too long")
    assert _body_same_everywhere(LAST_CHUNK + line + b"xx", config) == too_long
    assert _body_same_everywhere(LAST_CHUNK + line + b"x\r\n\r\n", config) == too_long


@pytest.mark.parametrize("field_limit", [60, 97, 98, 99, 150])
@pytest.mark.parametrize("extra", [0, 1, 2, 3, 40])
@pytest.mark.parametrize("end", [b"", b"\r", b"\r\n", b"\n", b"\r\n\r\n"])
def test_a_trailer_line_over_both_limits_gets_one_reason_however_it_arrives(
    field_limit: int, extra: int, end: bytes
) -> None:
    # The line's own limit and the section's room (98 here), both broken or nearly: one verdict,
    # naming the limit its bytes cross first, whole, byte by byte and at every cut.
    config = Config(max_header_field=field_limit, max_head_bytes=100)  # the request head: 52
    line = b"X-Long: " + b"a" * (98 + extra - len(b"X-Long: "))
    _body_same_everywhere(LAST_CHUNK + line + end, config)
