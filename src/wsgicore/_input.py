"""``wsgi.input``: a read-only stream over one request's body (PEP 3333 "Input and Error Streams")."""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["InputStream"]


class InputStream:
    """The body of one request, de-chunked. Reads return ``b""`` at the end of the body and never
    consume bytes past it, so a pipelined request behind it stays intact.

    ``pull()`` is the connection's: it returns the next piece of body (fetching from the network
    through the driver's callable when needed), ``b""`` at the end, or raises
    :class:`wsgicore.RequestBodyError` (an ``OSError``) for a body cut short or badly framed.
    """

    __slots__ = ("_buffer", "_eof", "_pull")

    def __init__(self, pull: Callable[[], bytes]) -> None:
        self._pull = pull
        self._buffer = b""  # bytes pulled but not yet returned
        self._eof = False

    def _more(self) -> bytes:
        if self._eof:
            return b""
        piece = self._pull()
        if not piece:
            self._eof = True
        return piece

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when ``size`` is negative or None); ``b""`` at the end."""
        if size is None or size < 0:
            pieces = [self._buffer]
            self._buffer = b""
            while piece := self._more():
                pieces.append(piece)
            return b"".join(pieces)
        buffer = self._buffer
        if len(buffer) < size:
            pieces = [buffer] if buffer else []
            have = len(buffer)
            while have < size:
                piece = self._more()
                if not piece:
                    break
                pieces.append(piece)
                have += len(piece)
            buffer = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if len(buffer) <= size:
            self._buffer = b""
            return buffer
        self._buffer = buffer[size:]
        return buffer[:size]

    def readline(self, size: int | None = -1) -> bytes:
        """One line, with its b"\\n", or at most ``size`` bytes of it; ``b""`` at the end."""
        limit = -1 if size is None else size
        if limit == 0:
            return b""
        pieces = [self._buffer]
        searched = 0  # bytes of ``pieces`` already searched for a newline
        total = len(self._buffer)
        while True:
            last = pieces[-1]
            newline = last.find(b"\n")
            if newline >= 0:
                end = searched + newline + 1
                break
            searched = total
            if 0 <= limit <= total:
                end = limit
                break
            piece = self._more()
            if not piece:
                end = total
                break
            pieces.append(piece)
            total += len(piece)
        if 0 <= limit < end:
            end = limit
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._buffer = data[end:]
        return data[:end]

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Lines until the end, or until their total length reaches ``hint`` when it is positive."""
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        """Nothing to release; present because apps and frameworks call it."""
