"""Shared pytest fixtures for the whole test suite (kept small on purpose)."""

from __future__ import annotations

import io
import signal
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
