"""The suites' one strict response parser (tests/support/responses.py) refuses what a careful client
must refuse, so the tests built on it can fail."""

from __future__ import annotations

import pytest

from support.responses import MalformedResponse, ResponseParser, final_responses, parse_responses

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n",  # a control byte in a value
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",  # framing twice
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX0\r\n\r\n",  # no CRLF after data
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi",  # cut short
    OK + b"junk",  # bytes after the response
    b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",  # bare LF
])
def test_malformed_streams_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_responses(data)


def test_interim_head_and_chunked_responses() -> None:
    data = (b"HTTP/1.1 100 Continue\r\n\r\n" + OK
            + b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"  # to HEAD: no body follows
            + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=1\r\nhi\r\n0\r\nT: 1\r\n\r\n")
    responses = parse_responses(data, ["GET", "HEAD", "GET"])
    assert [r.status for r in responses] == [100, 200, 200, 200]
    finals = final_responses(data, ["GET", "HEAD", "GET"])
    assert [(f.framing, f.body) for f in finals] == [("length", b"hi"), ("none", b""),
                                                     ("chunked", b"hi")]


def test_an_incomplete_stream_when_allowed() -> None:
    parser = ResponseParser(OK + b"HTTP/1.1 200 OK\r\nContent-Le", allow_incomplete=True)
    assert [r.body for r in parser] == [b"hi"]
    assert parser.rest == b"HTTP/1.1 200 OK\r\nContent-Le"
    cut = final_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", allow_incomplete=True)
    assert (cut[0].body, cut[0].complete) == (b"hi", False)
