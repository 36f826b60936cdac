"""``wsgi.input`` completes a large read with exactly what it lacks, so that the reads after it
get pieces of their own from ``fetch(n)`` (handed over as they came, no copy): a head read that
took almost a whole read's worth of body must not shift every later read (a join per read).
Small reads still ask for at least ``MIN_FETCH`` (no system call per few bytes)."""

from __future__ import annotations

import io

from core_support import PEER, SOCKNAME

from wsgicore import Connection, RequestReceived
from wsgicore._connection import MIN_FETCH

READ = 65536


class Source:
    """``fetch(n)``: the next ``n`` bytes of ``data``, as one new bytes object (as ``recv(n)``
    does when that much has arrived); records each ``n`` and keeps what it handed out."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)
        self.asked: list[int] = []
        self.handed: list[bytes] = []

    def fetch(self, size: int) -> bytes:
        self.asked.append(size)
        piece = self._file.read(size)
        self.handed.append(piece)
        return piece


def _stream(body: bytes, buffered: int) -> tuple[io.RawIOBase, Source]:
    """A Content-Length request whose head arrived with the first ``buffered`` body bytes."""
    head = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body)
    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(head + body[:buffered])
    assert isinstance(conn.next_event(), RequestReceived)
    source = Source(body[buffered:])
    return conn.input_stream(source.fetch), source  # type: ignore[return-value]


def test_a_large_read_lacking_a_few_bytes_asks_for_those_only() -> None:
    body = bytes(range(256)) * (4 * READ // 256)
    stream, source = _stream(body, READ - 166)  # a 64 KiB head read: 166 bytes of head in it
    assert stream.read(READ) == body[:READ]
    assert source.asked == [166]  # not MIN_FETCH: no bytes of the next read are taken
    for start in range(READ, len(body), READ):
        piece = stream.read(READ)
        assert piece == body[start : start + READ]
        assert piece is source.handed[-1]  # the fetched piece itself: not joined, not sliced
    assert source.asked == [166, READ, READ, READ]
    assert stream.read(READ) == b""


def test_small_reads_still_ask_for_min_fetch() -> None:
    body = b"abcdefgh" * 4096  # 32 KiB
    stream, source = _stream(body, 3)
    assert stream.read(10) == body[:10]  # 3 were buffered: 7 lacking, MIN_FETCH asked
    assert source.asked == [MIN_FETCH]
    assert stream.read(100) == body[10:110]  # from what that fetch brought
    assert source.asked == [MIN_FETCH]
    out = [body[:110]]
    while piece := stream.read(100):
        out.append(piece)
    assert b"".join(out) == body
    # Each at least MIN_FETCH, but the last, capped at what was left of the body.
    assert all(n >= MIN_FETCH for n in source.asked[:-1])
    assert sum(source.asked) == len(body) - 3
