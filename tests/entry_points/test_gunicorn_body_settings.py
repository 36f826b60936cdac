"""The gunicorn workers' chunked-body settings, mapped from the variables gunicorn's ``--env`` (or the
environment) sets, as ``SCRIPT_NAME`` is: gunicorn has no setting of its own for them."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

from gunicorn.config import Config as GunicornConfig

from wsgicore import Config
from wsgidrivers.gunicorn._settings import worker_settings


def _cfg(*env: str) -> Any:
    cfg = GunicornConfig()
    cfg.set("raw_env", list(env))
    return cfg


def test_by_default_chunked_bodies_are_buffered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSGICORE_STREAM_CHUNKED_BODY", raising=False)
    monkeypatch.delenv("WSGICORE_MAX_BUFFERED_BODY_SIZE", raising=False)
    config = worker_settings(_cfg()).serving_config(secure=False)
    assert config.buffer_chunked_body
    assert config.max_buffered_body_bytes == Config().max_buffered_body_bytes


@pytest.mark.parametrize(("env", "stream", "bound"), [
    (["WSGICORE_STREAM_CHUNKED_BODY=1"], True, None),
    (["WSGICORE_STREAM_CHUNKED_BODY=off"], False, None),
    (["WSGICORE_MAX_BUFFERED_BODY_SIZE=1048576"], False, 1 << 20),
])
def test_the_variables_map_to_the_settings(env: list[str], stream: bool, bound: int | None) -> None:
    settings = worker_settings(_cfg(*env))
    assert settings.driver.stream_chunked_body is stream
    config = settings.serving_config(secure=False)
    assert config.buffer_chunked_body is not stream
    assert config.max_buffered_body_bytes == (bound or Config().max_buffered_body_bytes)


def test_the_environment_counts_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGICORE_STREAM_CHUNKED_BODY", "yes")
    assert worker_settings(_cfg()).driver.stream_chunked_body


@pytest.mark.parametrize("env", ["WSGICORE_STREAM_CHUNKED_BODY=maybe", "WSGICORE_MAX_BUFFERED_BODY_SIZE=1G",
                                 "WSGICORE_MAX_BUFFERED_BODY_SIZE=-5"])
def test_a_bad_value_stops_the_worker_from_booting(env: str) -> None:
    with pytest.raises(ValueError, match=env.partition("=")[0]):
        worker_settings(_cfg(env))
