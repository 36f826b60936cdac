"""Shared pytest fixtures for the whole test suite (kept small on purpose)."""

from __future__ import annotations

import io
import signal
import socket
from collections.abc import Iterator
from typing import Any

import pytest

# pytester: the pytest plugin of wsgidrivers.testing is tested by running pytest on small test files.
pytest_plugins = ["pytester"]

# A run started in the background of a non-interactive shell (`cmd &`) inherits SIGINT ignored
# (POSIX), and so would every server a test starts: the Ctrl-C tests would hang or fail. Give this
# process Python's own handler back (children then start with the default action).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def plain_config() -> Any:
    """A Config whose responses are byte-for-byte predictable: no Date, no Server header."""
    from wsgicore import Config

    return Config(clock=None, server_software=None)


@pytest.fixture
def errors_stream() -> io.StringIO:
    """A ``wsgi.errors`` stream whose text a test can inspect."""
    return io.StringIO()


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection: (the server's end, with TCP_NODELAY as our drivers set it; the
    client's end)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        yield server, client
    finally:
        server.close()
        client.close()
