"""The receive buffer: bytes received and not consumed yet, with a zero-copy side path.

A piece of a ``Content-Length`` body that arrives while nothing else is buffered is kept as the
``bytes`` object it arrived as (``direct``), so ``wsgi.input`` can hand it to the application
without copying it into the buffer and out again. Everything else goes through ``buf``, a bytearray
whose front is dropped with ``del buf[:n]`` (amortized O(1) in CPython).
"""

from __future__ import annotations

from ._errors import LocalProtocolError

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    __slots__ = ("buf", "direct", "eof")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.direct: bytes | None = None
        self.eof = False

    def feed(self, data: bytes, *, direct_ok: bool) -> None:
        """Append ``data``; ``b""`` is EOF. ``direct_ok``: a length-framed body is being read,
        so a piece arriving into an empty buffer may take the side path."""
        if not data:
            self.eof = True
            return
        if self.eof:
            raise LocalProtocolError("receive_data() after EOF")
        if direct_ok and self.direct is None and not self.buf:
            self.direct = bytes(data)  # bytes(bytes) is the same object: no copy
            return
        if self.direct is not None:
            self.buf += self.direct  # keep the order
            self.direct = None
        self.buf += data

    def take_direct(self, limit: int) -> bytes | None:
        """The side-path piece, at most ``limit`` bytes of it (the rest, which belongs to the next
        request, moves into the buffer); None when there is none."""
        direct = self.direct
        if direct is None:
            return None
        self.direct = None
        if len(direct) > limit:
            self.buf += direct[limit:]
            direct = direct[:limit]
        return direct

    @property
    def has_data(self) -> bool:
        return bool(self.buf) or bool(self.direct)

    def snapshot(self) -> bytes:
        """Every unconsumed byte, in order (a copy)."""
        return bytes(self.buf) + (self.direct or b"")
