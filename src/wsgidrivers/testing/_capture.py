"""How live servers report: their log lines to the ``wsgidrivers.testing`` logger, and the app's
exceptions to the :class:`~wsgidrivers.testing.LiveServer` that ran it."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

__all__ = ["LogStream", "Recorder", "logger"]

#: Access lines (INFO) and everything written to ``wsgi.errors`` (ERROR) of live servers.
logger = logging.getLogger("wsgidrivers.testing")
if logger.level == logging.NOTSET:
    # INFO, so that pytest's capture (whose handler takes every level) shows access lines without
    # the user lowering the root logger's level. Set another level on this logger to change it.
    logger.setLevel(logging.INFO)

WSGIApp = Callable[..., Iterable[bytes]]


class _Sink(Protocol):
    """What the recorder reports to (a LiveServer)."""

    def add_thread(self, thread: threading.Thread) -> None: ...

    def record(self, exc: BaseException) -> None: ...


class LogStream(io.TextIOBase):
    """A text stream (``wsgi.errors``) whose text goes to :data:`logger` at ERROR: each write that
    ends a line is one record (the core and the asyncio driver write a report with its traceback in
    one write); text without a newline waits for one, or for flush(). A buffer per thread."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        buffer: list[str] | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = []
        buffer.append(text)
        if text.endswith("\n"):
            self.flush()
        return len(text)

    def flush(self) -> None:
        buffer: list[str] | None = getattr(self._local, "buffer", None)
        if buffer:
            text = "".join(buffer).rstrip("\n")
            buffer.clear()
            if text:
                logger.error("%s", text)


class Recorder:
    """WSGI middleware that records the app's exceptions and the threads that ran it; the
    exceptions propagate unchanged, so the driver answers as it always does."""

    def __init__(self, app: WSGIApp, live: _Sink) -> None:
        self.app = app
        self.live = live

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        live = self.live
        live.add_thread(threading.current_thread())
        try:
            result = self.app(environ, start_response)
        except BaseException as exc:
            live.record(exc)
            raise
        # A list cannot fail while iterated, and a file_wrapper must stay one (it is sent with
        # sendfile, and a one-item list gets a Content-Length): only other iterables are wrapped.
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(result, list | tuple) or (
                isinstance(file_wrapper, type) and isinstance(result, file_wrapper)):
            return result
        return _RecordedIterable(result, live)


class _RecordedIterable:
    def __init__(self, result: Iterable[bytes], live: _Sink) -> None:
        self.result = result
        self.live = live

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.result
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                self.live.record(exc)
            raise

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            try:
                close()
            except BaseException as exc:
                self.live.record(exc)
                raise
