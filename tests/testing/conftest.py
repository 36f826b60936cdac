"""Fixtures for the tests of the client's Flask/werkzeug and requests idioms."""

from __future__ import annotations

from typing import Any

import pytest

from .echo_apps import flask_echo, plain_echo


@pytest.fixture(params=["flask", "plain"])
def echo_app(request: pytest.FixtureRequest) -> Any:
    """The echo app on Flask (werkzeug's parsers) and as a plain WSGI app (the stdlib's)."""
    if request.param == "flask":
        pytest.importorskip("flask")
        return flask_echo()
    return plain_echo
