"""Shared pytest fixtures for the whole test suite (kept small on purpose)."""

from __future__ import annotations

import io
from typing import Any

import pytest

# pytester: the pytest plugin of wsgidrivers.testing is tested by running pytest on small test files.
pytest_plugins = ["pytester"]


@pytest.fixture
def plain_config() -> Any:
    """A Config whose responses are byte-for-byte predictable: no Date, no Server header."""
    from wsgicore import Config

    return Config(clock=None, server_software=None)


@pytest.fixture
def errors_stream() -> io.StringIO:
    """A ``wsgi.errors`` stream whose text a test can inspect."""
    return io.StringIO()
