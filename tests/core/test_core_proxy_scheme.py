"""wsgi.url_scheme from a trusted proxy's scheme fields (Config.trusted_proxies/secure_scheme_headers)."""

from __future__ import annotations

from typing import Any

import pytest

from wsgicore import Config
from wsgidrivers.memory import exchange

FIELDS = (("X-Forwarded-Proto", "https"), ("X-Forwarded-SSL", "on"))


def _scheme_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"scheme=" + environ["wsgi.url_scheme"].encode()]


def _request(*fields: str) -> bytes:
    return b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(f.encode() + b"\r\n" for f in fields) + b"\r\n"


@pytest.mark.parametrize(
    ("trusted", "peer", "fields", "expected"),
    [
        (("127.0.0.1",), ("127.0.0.1", 5), ["X-Forwarded-Proto: https"], b"scheme=https"),
        (("127.0.0.1",), ("127.0.0.1", 5), ["x-forwarded-proto: https"], b"scheme=https"),
        (("127.0.0.1",), ("127.0.0.1", 5), ["X-Forwarded-Proto: http"], b"scheme=http"),
        (("127.0.0.1",), ("127.0.0.1", 5), ["X-Forwarded-SSL: on"], b"scheme=https"),
        (("127.0.0.1",), ("127.0.0.1", 5), [], b"scheme=http"),
        # Untrusted peers: the field is the client's own claim and changes nothing.
        (("127.0.0.1",), ("10.0.0.7", 5), ["X-Forwarded-Proto: https"], b"scheme=http"),
        ((), ("127.0.0.1", 5), ["X-Forwarded-Proto: https"], b"scheme=http"),
        # Networks, "*", IPv4-mapped IPv6 peers and Unix-socket peers (no address).
        (("10.0.0.0/8",), ("10.1.2.3", 5), ["X-Forwarded-Proto: https"], b"scheme=https"),
        (("10.0.0.0/8",), ("11.1.2.3", 5), ["X-Forwarded-Proto: https"], b"scheme=http"),
        (("*",), ("203.0.113.9", 5), ["X-Forwarded-Proto: https"], b"scheme=https"),
        (("127.0.0.1",), ("::ffff:127.0.0.1", 5), ["X-Forwarded-Proto: https"], b"scheme=https"),
        (("127.0.0.1",), None, ["X-Forwarded-Proto: https"], b"scheme=https"),
        ((), None, ["X-Forwarded-Proto: https"], b"scheme=http"),
    ],
)
def test_scheme_only_from_trusted_peer(trusted: tuple[str, ...], peer: Any, fields: list[str],
                                       expected: bytes) -> None:
    config = Config(trusted_proxies=trusted, secure_scheme_headers=FIELDS)
    out = exchange(_scheme_app, _request(*fields), config=config, peer=peer)
    assert out.startswith(b"HTTP/1.1 200 ")
    assert out.endswith(expected)


def test_disagreeing_fields_are_a_400() -> None:
    config = Config(trusted_proxies=("127.0.0.1",), secure_scheme_headers=FIELDS)
    out = exchange(_scheme_app, _request("X-Forwarded-Proto: https", "X-Forwarded-SSL: off"),
                   config=config, peer=("127.0.0.1", 5))
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"scheme=" not in out


def test_disagreeing_fields_from_untrusted_peer_are_ignored() -> None:
    config = Config(trusted_proxies=("127.0.0.1",), secure_scheme_headers=FIELDS)
    out = exchange(_scheme_app, _request("X-Forwarded-Proto: https", "X-Forwarded-SSL: off"),
                   config=config, peer=("10.0.0.1", 5))
    assert out.endswith(b"scheme=http")


@pytest.mark.parametrize(
    "changes",
    [
        {"trusted_proxies": ["127.0.0.1"]},
        {"trusted_proxies": ("not-an-address",)},
        {"secure_scheme_headers": (("X-Forwarded-Proto",),)},
        {"secure_scheme_headers": (("", "https"),)},
    ],
)
def test_bad_proxy_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Config"):
        Config(**changes)
