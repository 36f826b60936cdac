"""The drivers' copy path for ``wsgi.file_wrapper`` files, where ``sendfile()`` is not used
(``use_sendfile=False``, or ``None`` and a loopback client): blocks read at an offset into one
reused buffer, each sent before the next is read. Nothing here knows HTTP or sockets."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

__all__ = ["COPY_BLOCK", "copy_blocks", "read_at", "sized_buffer"]

#: Most bytes read and sent per block: a 1 MiB file costs one read and one send. A driver keeps
#: its buffer (per connection, or per worker thread) sized for the largest file it sent, up to this.
#: Larger blocks cost less server CPU per response than 256 KiB ones (docs/performance.md).
COPY_BLOCK: Final = 1024 * 1024


def read_at(file: Any, buffer: memoryview, offset: int) -> int:
    """Read into ``buffer`` from ``offset`` of ``file``: os.preadv or os.pread where the OS has
    them (the file position stays), else seek and readinto (Windows)."""
    preadv = getattr(os, "preadv", None)
    if preadv is not None:
        return int(preadv(file.fileno(), [buffer], offset))
    pread = getattr(os, "pread", None)
    if pread is not None:
        data = pread(file.fileno(), len(buffer), offset)
        buffer[: len(data)] = data
        return len(data)
    file.seek(offset)
    return int(file.readinto(buffer) or 0)


def sized_buffer(buffer: memoryview | None, count: int) -> memoryview:
    """``buffer`` when it holds a block of a ``count``-byte file, else a new one that does: kept by
    the caller for its next file, so a buffer is allocated once per size, not once per response."""
    size = min(count, COPY_BLOCK)
    if buffer is None or len(buffer) < size:
        buffer = memoryview(bytearray(size))
    return buffer


def copy_blocks(file: Any, offset: int, count: int, buffer: memoryview,
                send: Callable[[memoryview], object], *, head: bytes = b"",
                send_with_head: Callable[[bytes, memoryview], object] | None = None) -> int:
    """Send ``count`` bytes of ``file`` from ``offset`` through ``buffer``, one block at a time;
    ``send`` must return only once all of its block is out (the buffer is then read into again).
    ``head`` (the response head) goes first: with the first block through ``send_with_head(head,
    block)`` (one system call and packet for both), or alone through ``send`` when the file has no
    byte to send. Returns the file's bytes sent: fewer when the file ended early (it shrank; the
    core reports the short body)."""
    sent = 0
    while sent < count:
        n = read_at(file, buffer[: min(count - sent, len(buffer))], offset + sent)
        if n == 0:
            break
        if head and send_with_head is not None:
            send_with_head(head, buffer[:n])
            head = b""
        else:
            if head:
                send(memoryview(head))
                head = b""
            send(buffer[:n])
        sent += n
    if head:
        send(memoryview(head))
    return sent
