"""``wsgi.input``: a read-only stream over one request's body (PEP 3333 "Input and Error Streams")."""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["MIN_FETCH", "UNKNOWN_SIZE", "InputStream"]

#: What a reader is said to want when it does not know (a line, the whole rest).
UNKNOWN_SIZE = 65536

#: The fewest bytes ``pull(n)`` is asked for: a reader of a few bytes at a time must not cost
#: a system call each (io.BufferedReader's buffer is 8 KiB for the same reason). Not when a read of
#: at least this much is being completed: then exactly what it lacks, so that the next read of
#: that size gets a piece of its own (handed over without a copy) instead of joining the rest of
#: this one's piece with a new one, and so on for every read of the body.
MIN_FETCH = 8192


class InputStream:
    """The body of one request, de-chunked. Reads return ``b""`` at the end of the body and never
    consume bytes past it, so a pipelined request behind it stays intact.

    ``pull(wanted)`` is the connection's: it returns the next piece of body (fetching from the
    network through the driver's callable when needed; ``wanted`` is how many bytes to ask for: what
    the reader is waiting for, at least :data:`MIN_FETCH` unless a large read is being completed),
    ``b""`` at the end, or raises :class:`wsgicore.RequestBodyError` (an ``OSError``)
    for a body cut short or badly framed.
    """

    __slots__ = ("_buffer", "_eof", "_pos", "_pull")

    def __init__(self, pull: Callable[[int], bytes]) -> None:
        self._pull = pull
        # Bytes pulled but not yet returned are self._buffer[self._pos:]: an offset, so that taking
        # a small read from a large piece never copies the rest of the piece.
        self._buffer = b""
        self._pos = 0
        self._eof = False

    def _more(self, wanted: int = UNKNOWN_SIZE) -> bytes:
        if self._eof:
            return b""
        piece = self._pull(wanted)
        if not piece:
            self._eof = True
        return piece

    def _take_rest(self) -> bytes:
        rest = self._buffer[self._pos :] if self._pos else self._buffer
        self._buffer = b""
        self._pos = 0
        return rest

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when ``size`` is negative or None); ``b""`` at the end."""
        if size is None or size < 0:
            pieces = [self._take_rest()]
            while piece := self._more():
                pieces.append(piece)
            return b"".join(pieces)
        pos = self._pos
        available = len(self._buffer) - pos
        if available >= size:
            end = pos + size
            self._pos = end
            if pos == 0 and end == len(self._buffer):
                data = self._buffer  # the whole piece: no copy
                self._buffer = b""
                self._pos = 0
                return data
            return self._buffer[pos:end]
        if available == 0:
            # _more() inline: once per read of a large body.
            if self._eof:
                return b""
            piece = self._pull(size if size > MIN_FETCH else MIN_FETCH)
            if len(piece) == size:
                return piece  # the common case of a large read: no copy at all
            if not piece:
                self._eof = True
                return piece
            if len(piece) > size:
                self._buffer = piece
                self._pos = size
                return piece[:size]
            pieces = [piece]
            have = len(piece)
        else:
            pieces = [self._take_rest()]
            have = available
        while have < size:
            lacking = size - have
            piece = self._more(lacking if size >= MIN_FETCH or lacking > MIN_FETCH else MIN_FETCH)
            if not piece:
                break
            pieces.append(piece)
            have += len(piece)
        data = b"".join(pieces)
        if len(data) > size:
            self._buffer = data
            self._pos = size
            return data[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """One line, with its b"\\n", or at most ``size`` bytes of it; ``b""`` at the end.

        Cost is linear in the bytes returned: the rest of a piece stays where it is (an offset
        moves), so ``readline(100)`` over a 1 MB piece copies 100 bytes per call, not the rest.
        """
        limit = -1 if size is None else size
        if limit == 0:
            return b""
        buffer = self._buffer
        pos = self._pos
        stop = len(buffer) if limit < 0 else min(len(buffer), pos + limit)
        newline = buffer.find(b"\n", pos, stop)
        if newline >= 0:
            self._pos = newline + 1
            return buffer[pos : newline + 1]
        if stop - pos == limit:
            self._pos = stop
            return buffer[pos:stop]
        # The line goes on past this piece: fewer than ``limit`` bytes are left in it.
        pieces = [self._take_rest()]
        have = len(pieces[0])
        while piece := self._more():
            wanted = len(piece) if limit < 0 else limit - have
            newline = piece.find(b"\n", 0, wanted)
            if newline >= 0 or len(piece) > wanted:
                cut = newline + 1 if newline >= 0 else wanted
                self._buffer = piece
                self._pos = cut
                pieces.append(piece[:cut])
                break
            pieces.append(piece)
            have += len(piece)
            if have == limit:
                break
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

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
