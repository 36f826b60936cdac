"""wsgi.input semantics (PEP 3333 "Input and Error Streams"), through the public Connection API."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest
from core_support import PEER, SOCKNAME, body_error_app, final_responses, run_connection, split_at

BODY = b"first line\nsecond\n\nlast-no-newline"
NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"


def cl_request(body: bytes, path: bytes = b"/up") -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: h\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def chunked_request(body: bytes, sizes: Sequence[int] = (3, 1, 7), ext: bool = True) -> bytes:
    out = bytearray(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    pos = 0
    i = 0
    while pos < len(body):
        size = sizes[i % len(sizes)]
        i += 1
        piece = body[pos : pos + size]
        pos += size
        out += f"{len(piece):X}".encode()
        if ext and i % 2:
            out += b";name=value"
        out += b"\r\n" + piece + b"\r\n"
    out += b"0\r\nX-Trailer: discarded\r\n\r\n"
    return bytes(out)


Reader = Callable[[Any], list[bytes]]


def read_all(stream: Any) -> list[bytes]:
    return [stream.read(), stream.read(), stream.read(5)]


def read_sized(stream: Any) -> list[bytes]:
    return [stream.read(0), stream.read(3), stream.read(4), stream.read(1000), stream.read(5)]


def read_lines(stream: Any) -> list[bytes]:
    return [stream.readline() for _ in range(6)]


def read_line_limited(stream: Any) -> list[bytes]:
    return [stream.readline(4), stream.readline(100), stream.readline(1), stream.readline(),
            stream.readline(3), stream.read(), stream.readline()]


def read_readlines(stream: Any) -> list[bytes]:
    return [*stream.readlines(), stream.read()]


def read_iter(stream: Any) -> list[bytes]:
    return [*iter(stream), stream.readline()]


def expected(reader: Reader, body: bytes) -> list[bytes]:
    return reader(io.BytesIO(body))


READERS: list[Reader] = [read_all, read_sized, read_lines, read_line_limited, read_readlines,
                         read_iter]

REQUESTS = {
    "content-length": cl_request(BODY),
    "chunked": chunked_request(BODY),
    "chunked-one-chunk": chunked_request(BODY, sizes=(len(BODY),), ext=False),
}


def splits(data: bytes) -> dict[str, list[bytes]]:
    return {
        "whole": [data],
        "bytewise": [data[i : i + 1] for i in range(len(data))],
        "head-then-rest": split_at(data, [data.index(b"\r\n\r\n") + 4]),
        "odd": split_at(data, range(7, len(data), 13)),
    }


def run_reader(reader: Reader, pieces: list[bytes]) -> tuple[list[list[bytes]], Any]:
    got: list[list[bytes]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/up":
            got.append(reader(environ["wsgi.input"]))
        start_response("200 OK", [("Content-Length", "0")])
        return []

    return got, run_connection(app, pieces)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__)
@pytest.mark.parametrize("kind", list(REQUESTS))
def test_input_reads_match_bytesio(kind: str, reader: Reader) -> None:
    """Every read pattern returns what the same pattern returns on io.BytesIO(body)."""
    want = expected(reader, BODY)
    for split_name, pieces in splits(REQUESTS[kind] + NEXT).items():
        got, run = run_reader(reader, pieces)
        assert got == [want], split_name
        # Never read past the body: the pipelined request is intact.
        assert [e["PATH_INFO"] for e in run.environs] == ["/up", "/next"], split_name
        assert len(final_responses(run.output)) == 2


def test_readlines_hint_returns_whole_lines_prefix() -> None:
    lines = [b"aaaa\n", b"bbbb\n", b"cc\n", b"d"]
    body = b"".join(lines)
    got: list[Any] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readlines(7)
        got.append((first, stream.read()))
        start_response("200 OK", [])
        return []

    run_connection(app, [cl_request(body)[:60], cl_request(body)[60:]])
    first, rest = got[0]
    assert first, "readlines(hint) returns at least one line"
    assert first == lines[: len(first)]
    assert b"".join(first) + rest == body


def test_read_n_never_short_while_body_continues() -> None:
    """read(n) returns n bytes (not whatever arrived) until the body ends."""
    body = bytes(range(256)) * 4
    data = cl_request(body)
    sizes: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        while chunk := stream.read(100):
            sizes.append(len(chunk))
        start_response("200 OK", [])
        return []

    run_connection(app, [data[i : i + 3] for i in range(0, len(data), 3)])
    assert sizes == [100] * 10 + [24]


def test_no_fetch_when_body_is_absent_or_already_received() -> None:
    """A blocking fetch must not be called when every body byte is already here (or none)."""
    from wsgicore import Connection, RequestReceived

    for data, body in [
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b""),
        (cl_request(b"hello"), b"hello"),
        (chunked_request(b"hello world"), b"hello world"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", b""),
    ]:
        conn = Connection(None, peer=PEER, sockname=SOCKNAME)
        conn.receive_data(data)
        event = conn.next_event()
        assert isinstance(event, RequestReceived)
        fetched: list[int] = []

        def fetch(size: int, fetched: list[int] = fetched) -> bytes:
            fetched.append(1)
            raise AssertionError("fetch called although the body was complete")

        stream = conn.input_stream(fetch)
        assert stream.read() == body
        assert stream.read(10) == b""
        assert stream.readline() == b""
        assert fetched == []


@pytest.mark.parametrize(
    "data",
    [
        cl_request(b"0123456789")[:-4],
        # The tail after the last data byte is 29 bytes (CRLF, last chunk, trailer, CRLF).
        chunked_request(b"0123456789")[:-31],
        chunked_request(b"0123456789", sizes=(10,), ext=False)[:-30],
        cl_request(b"0123456789")[:-10],
    ],
    ids=["content-length", "chunked-mid-chunk", "chunked-last-byte", "content-length-none"],
)
@pytest.mark.parametrize("method", ["read", "read_n", "readline", "iter"])
def test_eof_mid_body_raises_request_body_error(data: bytes, method: str) -> None:
    from wsgicore import RequestBodyError

    caught: list[BaseException] = []
    got: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        try:
            if method == "read":
                got.append(stream.read())
            elif method == "read_n":
                got.append(stream.read(10))
            elif method == "readline":
                got.append(stream.readline())
            else:
                got.extend(stream)
        except OSError as exc:
            caught.append(exc)
            raise
        start_response("200 OK", [])
        return [b"short data accepted"]

    run = run_connection(app, data)
    assert got == [], "short data must never be returned as if it were the whole body"
    assert len(caught) == 1
    assert isinstance(caught[0], RequestBodyError)
    assert isinstance(caught[0], OSError)
    assert caught[0].status_code is None
    # EOF mid-body: nobody is listening any more; nothing is written.
    assert run.output == b""

    from wsgidrivers.memory import exchange

    caught.clear()
    # Streamed (the drivers' stream_chunked_body): the app's own read meets the end of input.
    assert exchange(app, data, stream_chunked_body=True) == b""
    assert len(caught) == 1


def test_partial_line_before_eof_is_returned_then_error() -> None:
    from wsgicore import RequestBodyError

    data = cl_request(b"line\nrest of body")[:-5]
    results: list[Any] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        results.append(stream.readline())
        with pytest.raises(RequestBodyError):
            stream.read()
        results.append("raised")
        start_response("200 OK", [])
        return []

    run_connection(app, data)
    assert results == [b"line\n", "raised"]


@pytest.mark.parametrize(
    "bad_body",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
    ],
    ids=["non-hex", "missing-crlf-after-data", "minus", "space", "bare-lf"],
)
def test_bad_chunk_framing_is_400(bad_body: bytes) -> None:
    from wsgicore import RequestBodyError
    from wsgidrivers.memory import exchange

    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + bad_body
    caught: list[RequestBodyError] = []

    app = body_error_app(caught, b"accepted")

    out = exchange(app, data, stream_chunked_body=True)  # the app's own read meets the fault
    assert len(caught) == 1
    assert caught[0].status_code == 400
    responses = final_responses(out)
    assert len(responses) == 1
    assert responses[0].status == 400
    assert responses[0].connection_close
    assert b"accepted" not in out


def test_chunk_line_too_long_is_400() -> None:
    from wsgicore import Config, RequestBodyError
    from wsgidrivers.memory import exchange

    body = b"5;" + b"x" * 200 + b"\r\nhello\r\n0\r\n\r\n"
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    caught: list[RequestBodyError] = []

    app = body_error_app(caught, b"accepted")

    out = exchange(app, data, config=Config(max_chunk_line=64), stream_chunked_body=True)
    assert [r.status for r in final_responses(out)] == [400]
    assert caught[0].status_code == 400


def _sized_stream(head_and_start: bytes, rest: bytes) -> tuple[Any, list[int]]:
    """A stream whose ``fetch(n)`` records ``n`` and returns the next ``n`` bytes of ``rest``
    as one new bytes object (as ``recv(n)`` does when that much has arrived)."""
    from wsgicore import Connection, RequestReceived

    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(head_and_start)
    assert isinstance(conn.next_event(), RequestReceived)
    asked: list[int] = []
    source = io.BytesIO(rest)

    def fetch(size: int) -> bytes:
        asked.append(size)
        return source.read(size)

    return conn.input_stream(fetch), asked


def test_fetch_n_is_asked_for_what_the_app_waits_for() -> None:
    from wsgicore._connection import MIN_FETCH

    body = bytes(range(256)) * 1024  # 256 KiB
    head = cl_request(body)[: -len(body)]
    stream, asked = _sized_stream(head + body[:100], body[100:])
    first = stream.read(65536)  # 100 bytes were here: 65436 more are asked for, not 65536
    assert asked == [65436]
    assert first == body[:65536]
    second = stream.read(65536)  # aligned now: the fetched piece is handed over as it is
    assert asked[-1] == 65536
    assert second == body[65536:131072]
    assert stream.read(5) == body[131072:131077]  # a small read still asks for MIN_FETCH
    assert asked[-1] == MIN_FETCH
    assert stream.read() == body[131077:]
    # Never past the body's end: the last request is for exactly what is left of it.
    assert sum(asked) == len(body) - 100
    assert all(n <= len(body) for n in asked)


def test_fetch_n_pieces_are_passed_through_without_copies() -> None:
    from wsgicore import Connection, RequestReceived

    body = b"x" * 65536 * 3
    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(cl_request(body)[: -len(body)])
    assert isinstance(conn.next_event(), RequestReceived)
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]  # distinct objects
    handed = iter(pieces)
    stream = conn.input_stream(lambda size: next(handed))
    for piece in pieces:
        assert stream.read(65536) is piece  # not joined, not sliced: the same object


def test_input_stream_takes_one_fetch_of_n() -> None:
    # One shape for body reads: fetch(n); nothing else is accepted.
    from wsgicore import Connection

    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(cl_request(b"abc"))
    conn.next_event()
    with pytest.raises(TypeError):
        conn.input_stream()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        conn.input_stream(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        conn.input_stream(lambda size: b"", fetch_up_to=lambda size: b"")  # type: ignore[call-arg]


def test_fetch_n_for_a_chunked_body_is_a_hint() -> None:
    body = b"0123456789" * 1000
    data = chunked_request(body, sizes=(len(body),), ext=False)
    head_end = data.index(b"\r\n\r\n") + 4
    stream, asked = _sized_stream(data[:head_end], data[head_end:])
    assert stream.read() == body  # the framing bytes come through the same fetch
    assert asked  # and it was asked with sizes (no Content-Length to cap them)
