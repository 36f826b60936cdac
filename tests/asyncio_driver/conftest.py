"""Fixtures: start the asyncio driver on its own loop in a background thread, on port 0."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wsgidrivers.asyncio import ServerThread


class LogSink:
    """Collects access-log lines from the server's threads."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)


Starter = Callable[..., contextlib.AbstractContextManager[tuple[str, int]]]


@pytest.fixture
def access_log() -> LogSink:
    return LogSink()


@pytest.fixture
def errors() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def start_server(access_log: LogSink, errors: io.StringIO) -> Iterator[Starter]:
    """``with start_server(app, **options) as address:`` runs the driver for the block."""
    started: list[ServerThread] = []

    @contextlib.contextmanager
    def start(app: Any, **options: Any) -> Iterator[tuple[str, int]]:
        options.setdefault("access_log", access_log)
        options.setdefault("errors", errors)
        options.setdefault("grace", 2.0)
        thread = ServerThread(app, **options)
        started.append(thread)
        address = thread.start()
        try:
            yield address
        finally:
            thread.stop()

    yield start
    for thread in started:
        thread.stop(timeout=1.0)
