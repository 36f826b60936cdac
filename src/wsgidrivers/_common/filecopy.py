"""The drivers' copy path for ``wsgi.file_wrapper`` files, where ``sendfile()`` is not used
(``use_sendfile=False``, or ``None`` and a loopback client): blocks read at an offset into one
reused buffer, each sent before the next is read. Nothing here knows HTTP or sockets."""

from __future__ import annotations

import os
from typing import Any, Final

__all__ = ["COPY_BLOCK", "read_at"]

#: Most bytes read and sent per block: a 1 MiB file costs one read and one send. A driver keeps
#: its buffer (per connection, or per worker thread) sized for the largest file it sent, up to this.
#: Measured (benchmarks.syscalls file-1mib-ka, 3 s x 3 paired with raw): 489-677 server CPU µs per
#: response with 256 KiB blocks, 351-409 with 1 MiB blocks (raw: 236-265).
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
