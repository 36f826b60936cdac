"""Request body framing (RFC 9112 §6, §7.1): a Content-Length reader and a strict chunked reader.

Both take bytes from the front of the connection's receive buffer and leave everything after the body
in it. ``read`` returns a piece of body, ``b""`` when the body has ended, or ``None`` when more bytes are
needed; faults raise :class:`Refusal` (status ``None``: EOF before the end, close silently).
"""

from __future__ import annotations

import re

from . import _abnf
from ._config import Config
from ._errors import Refusal

__all__ = ["BodyReader", "ChunkedReader", "LengthReader"]

_MAX_CHUNK_SIZE_DIGITS = 16  # 2**64; RFC 9112 §7.1 asks recipients to guard against overflow
# A chunk-size line without extensions and without leading zeros beyond the digit bound.
_SIMPLE_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,%d})\r\n" % _MAX_CHUNK_SIZE_DIGITS)


class LengthReader:
    """A body of a declared length (already checked against ``max_body_bytes``)."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def read(self, buf: bytearray, eof: bool) -> bytes | None:
        if self.remaining == 0:
            return b""
        available = len(buf)
        if available == 0:
            if eof:
                raise Refusal(None, "connection closed before the request body was complete")
            return None
        if available <= self.remaining:
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[: self.remaining])
            del buf[: self.remaining]
        self.remaining -= len(data)
        return data


# States of the chunked reader.
_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)
_CR, _LF = 0x0D, 0x0A


class ChunkedReader:
    """RFC 9112 §7.1 chunked coding, strictly: CRLF line ends, chunk-size of hex digits only, chunk-ext
    per the grammar, CRLF right after each chunk's data. Trailer fields are validated like header
    fields and then discarded (RFC 9112 §7.1.2 lets a recipient discard them; WSGI has no trailers).
    """

    __slots__ = ("_config", "_fault", "_left", "_limit", "_limit_name", "_state", "_total",
                 "_trailer_bytes", "_trailer_lines")

    def __init__(self, config: Config) -> None:
        self._config = config
        # The body's bound (413): max_body_bytes, and for a body buffered before the app also
        # max_buffered_body_bytes, whichever is smaller.
        self._limit = config.max_body_bytes
        self._limit_name = "max_body_bytes"
        if config.buffer_chunked_body and (self._limit is None
                                           or config.max_buffered_body_bytes < self._limit):
            self._limit = config.max_buffered_body_bytes
            self._limit_name = "max_buffered_body_bytes"
        self._state = _SIZE
        self._left = 0  # bytes of data left in the current chunk
        self._total = 0  # body bytes so far, for max_body_bytes
        self._trailer_lines = 0
        self._trailer_bytes = 0
        self._fault: Refusal | None = None  # found after data that was returned first

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def read(self, buf: bytearray, eof: bool) -> bytes | None:
        """The data of every chunk already in ``buf``, joined: a body of many small chunks costs
        one call per receive, not one per chunk. A fault found after some data is raised by the
        next call, so the data before it is delivered exactly as when the bytes came one by one."""
        if self._fault is not None:
            raise self._fault
        pieces: list[bytes] = []
        while True:
            if self._state == _SIZE:
                # Whenever the reader is at a size line: also after a chunk the last receive cut
                # in two, or one with an extension, so the rest of the buffer still goes in one step.
                self._whole_chunks(buf, pieces)
            try:
                data = self._read_one(buf, eof if not pieces else False)
            except Refusal as fault:
                if not pieces:
                    raise
                self._fault = fault
                data = None
            if not data:  # None (more input needed), or b"" (the end)
                if pieces:
                    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
                return data
            pieces.append(data)

    def _whole_chunks(self, buf: bytearray, pieces: list[bytes]) -> None:
        """The complete chunks with a bare size line at the front of ``buf``: their data appended to
        ``pieces`` and their bytes removed in one step, not three per chunk (step by step, a body of
        one-byte chunks cost far more per byte than a plain request: docs/performance.md). It
        stops before anything else (a chunk not all here, an extension, the last chunk, a fault,
        the body limit): that is left to :meth:`_read_one`, so every verdict is the same."""
        config = self._config
        line_limit = config.max_chunk_line
        body_limit = self._limit
        total = self._total
        match = _SIMPLE_SIZE_LINE.match
        available = len(buf)
        pos = 0
        while True:
            simple = match(buf, pos)
            if simple is None:
                break
            start = simple.end()
            size = int(simple[1], 16)
            end = start + size  # where the chunk's CRLF must be
            if (size == 0 or end + 2 > available or start - pos - 2 > line_limit
                    or buf[end] != _CR or buf[end + 1] != _LF
                    or (body_limit is not None and total + size > body_limit)):
                break
            pieces.append(bytes(buf[start:end]))
            total += size
            pos = end + 2
        if pos:
            del buf[:pos]
            self._total = total

    def _read_one(self, buf: bytearray, eof: bool) -> bytes | None:
        while True:
            state = self._state
            if state == _DATA:
                if not buf:
                    return self._need(eof)
                if len(buf) <= self._left:
                    data = bytes(buf)
                    buf.clear()
                else:
                    data = bytes(buf[: self._left])
                    del buf[: self._left]
                self._left -= len(data)
                if self._left == 0:
                    self._state = _DATA_END
                return data
            if state == _DONE:
                return b""
            if state == _DATA_END:
                if len(buf) < 2:
                    if bytes(buf[:1]) not in (b"", b"\r"):
                        raise Refusal(400, "chunk data not followed by CRLF")
                    return self._need(eof)
                if buf[:2] != b"\r\n":
                    raise Refusal(400, "chunk data not followed by CRLF")
                del buf[:2]
                self._state = _SIZE
                continue
            if state == _SIZE:
                # The common line, a bare size (RFC 9112 §7.1), matched in place; anything else
                # (extensions, faults, an incomplete line) takes the general path below.
                simple = _SIMPLE_SIZE_LINE.match(buf)
                if simple is not None and simple.end() - 2 <= self._config.max_chunk_line:
                    size = int(simple[1], 16)  # before the del: the match reads from buf
                    del buf[: simple.end()]
                    self._begin_chunk(size)
                    continue
            line = self._take_line(buf, eof)
            if line is None:
                return self._need(eof)
            if state == _SIZE:
                self._start_chunk(line)
            else:
                self._trailer_line(line)

    @staticmethod
    def _need(eof: bool) -> bytes | None:
        if eof:
            raise Refusal(None, "connection closed before the chunked body was complete")
        return None

    def _take_line(self, buf: bytearray, eof: bool) -> bytes | None:
        config = self._config
        limit = config.max_chunk_line if self._state == _SIZE else config.max_header_field
        # The length is judged before the line end, and an incomplete line only when its length is
        # already certain (a CR at its end may be half of the CRLF), so the verdict and its reason
        # never depend on where the bytes were split.
        if self._state == _TRAILER:
            limit = min(limit, self._trailer_room())
        newline = buf.find(b"\n", 0, limit + 2)
        if newline < 0:
            if len(buf) > limit + 1:
                raise self._too_long()
            return None
        crlf = newline > 0 and buf[newline - 1] == _CR
        end = newline - 1 if crlf else newline
        if end > limit:
            raise self._too_long()
        if not crlf:
            raise Refusal(400, "bare LF in chunked framing (RFC 9112 §7.1 requires CRLF)")
        line = bytes(buf[:end])
        del buf[: newline + 1]
        return line

    def _start_chunk(self, line: bytes) -> None:
        match = _abnf.CHUNK_LINE.fullmatch(line)
        if match is None:
            raise Refusal(400, "invalid chunk-size line (RFC 9112 §7.1)")
        digits = match["size"]
        if len(digits.lstrip(b"0")) > _MAX_CHUNK_SIZE_DIGITS:
            raise Refusal(400, "chunk size out of range")
        self._begin_chunk(int(digits, 16))

    def _begin_chunk(self, size: int) -> None:
        self._total += size
        limit = self._limit
        if limit is not None and self._total > limit:
            raise Refusal(413, f"chunked body larger than {self._limit_name}")
        if size == 0:
            self._state = _TRAILER
        else:
            self._left = size
            self._state = _DATA

    def _trailer_room(self) -> int:
        """What is left of ``max_head_bytes`` for the next trailer line, its CRLF counted."""
        return max(self._config.max_head_bytes - self._trailer_bytes - 2, 0)

    def _too_long(self) -> Refusal:
        # A trailer line is bounded by its own limit and by what is left of the trailer section:
        # the reason names whichever its bytes cross first, as in the head.
        if self._state == _TRAILER and self._trailer_room() < self._config.max_header_field:
            return Refusal(431, "trailer section too large")
        return Refusal(400, "chunk-size or trailer line too long")

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._state = _DONE
            return
        config = self._config
        self._trailer_lines += 1
        self._trailer_bytes += len(line) + 2
        if self._trailer_lines > config.max_header_count or self._trailer_bytes > config.max_head_bytes:
            raise Refusal(431, "trailer section too large")
        if _abnf.FIELD_LINE.fullmatch(line) is None:
            raise Refusal(400, "invalid trailer field line")


BodyReader = LengthReader | ChunkedReader
