"""``wsgi.file_wrapper`` (PEP 3333 "Optional Platform-Specific File Handling")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["FileWrapper"]

DEFAULT_BLOCK_SIZE = 65536


class FileWrapper:
    """Iterates a file-like object in blocks; ``close()`` closes the file.

    The connection recognises it: when the driver passed a ``sendfile`` callable and the file has a
    ``fileno()``, the body is sent with ``sendfile`` instead of being read into memory block by block.
    """

    __slots__ = ("block_size", "filelike")

    def __init__(self, filelike: Any, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        size = self.block_size
        while True:
            block = read(size)
            if not block:
                return
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()
