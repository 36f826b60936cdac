"""Each option lands on its one Config or Settings field, and each runner hands them to its driver."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from wsgicore import SERVER_SOFTWARE, Config
from wsgidrivers._cli._build import build
from wsgidrivers._cli._options import build_parser, parse
from wsgidrivers._common.demo import demo_app
from wsgidrivers._common.runners import Plan
from wsgidrivers._common.settings import Settings

EVERY_OPTION = [
    "--max-request-line", "100", "--max-header-size", "200", "--max-header-count", "7",
    "--max-head-size", "4K", "--max-body-size", "1M", "--max-chunk-line", "99",
    "--max-drain-size", "0", "--url-prefix", "/p", "--trusted-proxy", "10.0.0.0/8",
    "--trusted-proxy", "unix", "--trusted-proxy-headers", "x-forwarded-for, X-Forwarded-Proto",
    "--trusted-proxy-count", "2", "--secure-scheme-header", "X-Forwarded-Ssl=on",
    "--head-timeout", "1.5", "--io-timeout", "2.5", "--keep-alive-timeout", "3.5",
    "--linger-timeout", "0.5", "--no-keep-alive",
]


def _settings(*argv: str) -> Settings:
    args, _ = parse(build_parser("wsgicore"), list(argv), {})
    return build(args)


def test_every_option_lands_on_its_field() -> None:
    settings = _settings(*EVERY_OPTION)
    config = settings.config
    assert config is not None
    assert (config.max_request_line, config.max_header_field, config.max_header_count,
            config.max_head_bytes, config.max_body_bytes, config.max_chunk_line,
            config.max_drain_bytes) == (100, 200, 7, 4096, 1 << 20, 99, 0)
    assert config.script_name == "/p"
    assert config.trusted_proxies == ("10.0.0.0/8", "unix")
    assert config.trusted_proxy_headers == {"x-forwarded-for", "x-forwarded-proto"}
    assert config.trusted_proxy_count == 2
    assert dict(config.secure_scheme_headers) == {"X-Forwarded-Ssl": "on"}
    assert (settings.head_timeout, settings.io_timeout, settings.keep_alive_timeout,
            settings.linger_timeout, settings.keep_alive) == (1.5, 2.5, 3.5, 0.5, False)


def test_nothing_given_is_the_drivers_default() -> None:
    settings = _settings()
    # Date from the driver's clock (Config.clock's default, filled by every driver) and the Server
    # header, as every driver given no Config.
    assert settings.config is not None
    assert settings.config == Config(server_software=SERVER_SOFTWARE)
    assert settings.config.clock == "driver"
    assert callable(settings.serving_config(multithread=True).clock)
    assert (settings.head_timeout, settings.io_timeout, settings.keep_alive_timeout,
            settings.linger_timeout, settings.keep_alive) == (10.0, 30.0, 5.0, 2.0, True)
    assert _settings("--driver", "simple").keep_alive is False
    assert _settings("--driver", "simple", "--keep-alive").keep_alive is True


def test_a_trusted_proxy_alone_applies_the_client_address_and_the_scheme() -> None:
    config = _settings("--trusted-proxy", "127.0.0.1").config
    assert config is not None
    assert config.trusted_proxy_headers == {"x-forwarded-for", "x-forwarded-proto"}
    # A secure-scheme header on X-Forwarded-Proto says the scheme its own way: not both.
    config = _settings("--trusted-proxy", "127.0.0.1",
                       "--secure-scheme-header", "X-Forwarded-Proto=https").config
    assert config is not None
    assert config.trusted_proxy_headers == {"x-forwarded-for"}
    config = _settings("--trusted-proxy", "127.0.0.1", "--trusted-proxy-headers", "none").config
    assert config is not None
    assert config.trusted_proxy_headers == frozenset()
    assert config.trusted_proxies == ("127.0.0.1",)


@pytest.fixture
def signals() -> Iterator[None]:
    """The runners install SIGINT/SIGTERM handlers: put pytest's back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


class Made(Exception):
    """Raised by the fakes below with what the runner passed."""


def _plan(*argv: str, threaded: bool = True) -> Plan:
    return Plan(app=demo_app, sockets=(socket.socket(),), settings=_settings(*argv),
                threaded=threaded, threads=3, ssl=None, access_log=None, grace=1.0)


@pytest.mark.usefixtures("signals")
def test_the_simple_server_runner_passes_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsgidrivers.simple_server import _run

    def fake(*args: Any, **kwargs: Any) -> None:
        raise Made(args, kwargs)

    monkeypatch.setattr(_run, "make_server", fake)
    plan = _plan(*EVERY_OPTION)
    with pytest.raises(Made) as made:
        _run.run(plan)
    args, kwargs = made.value.args
    assert kwargs["settings"] is plan.settings  # whole: no field left behind, none validated again
    assert set(kwargs) == {"sock", "ssl", "settings"}
    assert kwargs["sock"] is plan.sockets[0]
    assert args[3].max_threads == 3  # the server class: the threading one, bounded
    plan.sockets[0].close()


@pytest.mark.usefixtures("signals")
def test_the_asyncio_runner_passes_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsgidrivers.asyncio import _run

    def fake(*args: Any, **kwargs: Any) -> None:
        raise Made(args, kwargs)

    monkeypatch.setattr(_run, "_CommandLineService", fake)
    plan = _plan(*EVERY_OPTION)
    with pytest.raises(Made) as made:
        _run.run(plan)
    _, kwargs = made.value.args
    assert kwargs["settings"] is plan.settings  # whole: no field left behind, none validated again
    assert set(kwargs) == {"settings", "max_workers", "access", "why", "tls", "executor"}
    assert (kwargs["max_workers"], kwargs["access"], kwargs["tls"]) == (3, None, False)
    # Daemon threads: a request cut off at the end of the grace does not keep the process alive.
    assert kwargs["executor"]._daemon is True
    kwargs["executor"].shutdown(wait=False)
    plan.sockets[0].close()
