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


@pytest.fixture(params=["socket-io", "bridge-io"])
def start_server(
    request: pytest.FixtureRequest, access_log: LogSink, errors: io.StringIO,
) -> Iterator[Starter]:
    """``with start_server(app, **options) as address:`` runs the driver for the block.

    Every test runs twice: with the workers doing the I/O on the socket (the default on plain TCP)
    and with every byte through the loop (as over TLS, or on another loop's transports)."""
    started: list[ServerThread] = []

    @contextlib.contextmanager
    def start(app: Any, **options: Any) -> Iterator[tuple[str, int]]:
        options.setdefault("access_log", access_log)
        options.setdefault("errors", errors)
        options.setdefault("grace", 2.0)
        options.setdefault("socket_io", request.param == "socket-io")
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
