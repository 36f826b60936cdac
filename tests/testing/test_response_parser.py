"""The client's response parser: every malformed response is refused with a reason; valid ones parse."""

from __future__ import annotations

import pytest

from wsgidrivers.testing import MalformedResponse, parse_response, parse_responses

OK = b"HTTP/1.1 200 OK\r\n"

MALFORMED = [
    # (name, bytes, method, words expected in the message)
    ("empty", b"", "GET", "no response"),
    ("no status line", b"200 OK\r\n\r\n", "GET", "status line"),
    ("HTTP/2 status line", b"HTTP/2 200 OK\r\n\r\n", "GET", "status line"),
    ("two-digit status", b"HTTP/1.1 20 OK\r\n\r\n", "GET", "status line"),
    ("status without SP", b"HTTP/1.1 200\r\n\r\n", "GET", "status line"),
    ("status code below 100", b"HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n", "GET", "status code"),
    ("control byte in reason", b"HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n", "GET", "status line"),
    ("incomplete head", OK + b"Content-Length: 0\r\n", "GET", "incomplete head"),
    ("bare LF", OK + b"Content-Length: 0\n\r\n", "GET", "bare LF"),
    ("bare CR", OK + b"X: a\rY: b\r\nContent-Length: 0\r\n\r\n", "GET", "bare CR"),
    ("obs-fold", OK + b"X: a\r\n b\r\nContent-Length: 0\r\n\r\n", "GET", "folding"),
    ("space before colon", OK + b"X : a\r\nContent-Length: 0\r\n\r\n", "GET", "field line"),
    ("no colon (response splitting)", OK + b"Set-Cookie: a\r\nInjected\r\n\r\n", "GET", "field line"),
    ("NUL in a value", OK + b"X: a\x00b\r\nContent-Length: 0\r\n\r\n", "GET", "field line"),
    ("two Content-Length", OK + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", "GET", "more than one"),
    ("signed Content-Length", OK + b"Content-Length: +1\r\n\r\nx", "GET", "invalid Content-Length"),
    ("non-ASCII digits", OK + "Content-Length: \u0661\r\n\r\nx".encode(), "GET", "invalid Content-Length"),
    ("CL with TE", OK + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET",
     "both Content-Length and Transfer-Encoding"),
    ("TE gzip", OK + b"Transfer-Encoding: gzip\r\n\r\n", "GET", "not 'chunked'"),
    ("TE on HTTP/1.0", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET", "HTTP/1.0"),
    ("length on 204", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "GET", "204"),
    ("TE on 304", b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", "304"),
    ("short body", OK + b"Content-Length: 5\r\n\r\nabc", "GET", "shorter than Content-Length"),
    ("bad chunk size", OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", "GET", "chunk-size"),
    ("chunk size with sign", OK + b"Transfer-Encoding: chunked\r\n\r\n+2\r\nab\r\n0\r\n\r\n", "GET",
     "chunk-size"),
    ("chunk without CRLF", OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabX0\r\n\r\n", "GET",
     "not followed"),
    ("no last chunk", OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", "GET", "incomplete chunked"),
    ("bad trailer", OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n", "GET", "field line"),
    ("only interim", b"HTTP/1.1 100 Continue\r\n\r\n", "GET", "no response"),
]


@pytest.mark.parametrize(("name", "data", "method", "words"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_responses_are_refused_with_the_reason(name: str, data: bytes, method: str,
                                                         words: str) -> None:
    with pytest.raises(MalformedResponse, match=words):
        parse_responses(data, [method])


def test_trailing_bytes_after_the_expected_responses_are_refused() -> None:
    with pytest.raises(MalformedResponse, match="after the last expected response"):
        parse_responses(OK + b"Content-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n", ["GET"])


def test_valid_framings_parse() -> None:
    data = (b"HTTP/1.1 100 Continue\r\n\r\n" + OK + b"Content-Length: 3\r\nX:  padded \r\n\r\nabc"
            + OK + b"Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n"
            + OK + b"Content-Length: 7\r\n\r\n"  # HEAD: no content, whatever the length says
            + b"HTTP/1.1 204 No Content\r\n\r\n"
            + b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"
            + b"HTTP/1.0 200 OK\r\n\r\nuntil the close")
    responses = parse_responses(data, ["POST", "GET", "HEAD", "GET", "GET", "GET"])
    assert [r.status_code for r in responses] == [200, 200, 200, 204, 304, 200]
    assert responses[0].interim == (100,)
    assert responses[0].content == b"abc"
    assert responses[0].headers["x"] == "padded"
    assert responses[1].content == b"abc0123456789"
    assert responses[1].trailers["t"] == "v"
    assert responses[2].content == b""
    assert responses[5].content == b"until the close"
    assert b"".join(r.raw for r in responses) == data


def test_an_open_connection_waits_instead_of_guessing() -> None:
    partial = OK + b"Content-Length: 5\r\n\r\nab"
    assert parse_response(partial, eof=False) is None
    assert parse_response(OK + b"\r\nbody", eof=False) is None  # delimited by the close
    parsed = parse_response(partial + b"cde", eof=False)
    assert parsed is not None
    assert parsed[0].content == b"abcde"

