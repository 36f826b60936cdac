"""The serving process's stdout and stderr: a reader that went away never stops the server, or its stop.

``wsgicore ... | head -2``, or a log shipper that died, closes the pipe the banner, the access log and
the shutdown messages are written to. Python then raises ``BrokenPipeError`` wherever a line is
written: in a signal handler (the stop never happened), in a request's thread, at exit. While the
command line runs, ``sys.stdout`` and ``sys.stderr`` are :class:`GuardedStream` objects instead: a
reader that is gone (EPIPE, ECONNRESET, a closed file) ends that stream's output for good, its
descriptor is pointed at ``/dev/null`` (so the interpreter's own last flush, and anything writing to
the descriptor directly, succeeds), and every other write error drops only the line it happened to.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["GuardedStream", "guarded_stdio"]

#: Errors that say the reader is gone for good (a full disk, ENOSPC, may pass: it drops a line only).
_GONE = frozenset({errno.EPIPE, errno.ECONNRESET, errno.EIO, errno.EBADF})


class GuardedStream(io.TextIOBase):
    """A text stream that passes writes on to ``stream`` and never raises for them (see above).

    ``stream`` None (the descriptor was closed before Python started) is a stream already gone.
    """

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self.stream = stream
        self.gone = stream is None

    def write(self, text: str) -> int:
        if not self.gone and self.stream is not None:
            try:
                self.stream.write(text)
            except (OSError, ValueError) as exc:
                self._failed(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone and self.stream is not None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and exc.errno not in _GONE:
            return  # this line is lost; the next may get through
        self.gone = True
        # Whatever the stream still buffers goes to /dev/null when it is flushed (at exit at the
        # latest) instead of failing there again.
        with contextlib.suppress(Exception):
            fd = self.stream.fileno() if self.stream is not None else -1
            if fd >= 0:
                devnull = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(devnull, fd)
                finally:
                    os.close(devnull)

    # What code writing to sys.stdout/sys.stderr may also ask of it.
    def fileno(self) -> int:
        if self.stream is None:
            raise io.UnsupportedOperation("fileno")
        return self.stream.fileno()

    def isatty(self) -> bool:
        try:
            return not self.gone and self.stream is not None and self.stream.isatty()
        except (OSError, ValueError):
            return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.stream, "errors", None)

    def __getattr__(self, name: str) -> Any:  # ``buffer``, ``line_buffering``, ...
        if name == "stream":
            raise AttributeError(name)
        return getattr(self.stream, name)


@contextlib.contextmanager
def guarded_stdio() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` guarded while the block runs; put back afterwards (the
    command line may run inside another program: a test)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = GuardedStream(saved[0])
    sys.stderr = GuardedStream(saved[1])
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = saved
