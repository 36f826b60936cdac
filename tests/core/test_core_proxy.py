"""Reverse-proxy trust (Config.trusted_proxies & co.): who is trusted, what a trusted proxy may set,
what is removed, and how spoofing attempts fail. Through the core directly and through
``wsgidrivers.memory.exchange``."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from core_support import parse_responses
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgicore import Config, Connection, RemoteProtocolError, RequestReceived
from wsgicore._forwarded import parse_port
from wsgidrivers.memory import exchange

PROXY = ("10.0.0.5", 40000)
CLIENT = ("192.0.2.77", 50000)
SOCKNAME = ("10.0.0.1", 8000)
XFF_ALL = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
           "x-forwarded-prefix")
ALL_FORWARDING = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                  "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")
ABSENT = object()


def head(fields: bytes = b"", target: bytes = b"/x", host: bytes = b"backend:8000") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + fields + b"\r\n"


def environ_for(fields: bytes = b"", *, peer: Any = PROXY, target: bytes = b"/x",
                config: Config | None = None, **settings: Any) -> dict[str, Any]:
    """The environ the core builds for one request head from ``peer``."""
    conn = Connection(config or Config(**settings), peer=peer, sockname=SOCKNAME)
    conn.receive_data(head(fields, target))
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    return event.environ


def refusal(fields: bytes, *, peer: Any = PROXY, **settings: Any) -> RemoteProtocolError:
    conn = Connection(Config(**settings), peer=peer, sockname=SOCKNAME)
    conn.receive_data(head(fields))
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    return info.value


def xff(**extra: Any) -> dict[str, Any]:
    """Settings: trust PROXY's network for every X-Forwarded-* header."""
    return {"trusted_proxies": ("10.0.0.0/24",), "trusted_proxy_headers": XFF_ALL, **extra}


def fwd(**extra: Any) -> dict[str, Any]:
    """Settings: trust PROXY for RFC 7239 Forwarded."""
    return {"trusted_proxies": ("10.0.0.5",), "trusted_proxy_headers": ("forwarded",), **extra}


def check(environ: dict[str, Any], expect: dict[str, Any]) -> None:
    got = {key: environ.get(key, ABSENT) for key in expect}
    assert got == expect


# -- off by default -----------------------------------------------------------------------------


def test_default_config_has_no_policy_and_passes_forwarding_headers_through() -> None:
    assert Config()._proxy_policy is None
    environ = environ_for(b"X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n"
                          b"X-Forwarded-Proto: https\r\n", peer=CLIENT)
    check(environ, {"REMOTE_ADDR": CLIENT[0], "REMOTE_PORT": str(CLIENT[1]), "wsgi.url_scheme": "http",
                    "HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_FORWARDED": "for=203.0.113.9",
                    "HTTP_X_FORWARDED_PROTO": "https", "wsgicore.proxy_peer": ABSENT})


def test_headers_without_trusted_proxies_are_inert() -> None:
    config = Config(trusted_proxy_headers=XFF_ALL, secure_scheme_headers={"X-Forwarded-Ssl": "on"})
    assert config._proxy_policy is None
    environ = environ_for(b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Ssl: on\r\n", config=config)
    check(environ, {"REMOTE_ADDR": PROXY[0], "wsgi.url_scheme": "http",
                    "HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_X_FORWARDED_SSL": "on"})


# -- who is trusted -------------------------------------------------------------------------------

PEERS = [
    # (trusted_proxies, peer, trusted?)
    (("10.0.0.5",), ("10.0.0.5", 1), True),
    (("10.0.0.5",), ("10.0.0.6", 1), False),
    (("10.0.0.0/8",), ("10.255.3.4", 1), True),
    (("10.0.0.0/8",), ("11.0.0.1", 1), False),
    (("10.0.0.5/24",), ("10.0.0.200", 1), True),  # host bits are forgiven: the /24 is meant
    (("127.0.0.1",), ("::ffff:127.0.0.1", 1, 0, 0), True),  # a dual-stack listener's IPv4 client
    (("127.0.0.1",), ("::1", 1, 0, 0), False),  # IPv4 trust does not extend to IPv6 loopback
    (("::1",), ("::1", 1, 0, 0), True),
    (("2001:db8::/32",), ("2001:db8:1::9", 1, 0, 0), True),
    (("2001:db8::/32",), ("2001:db9::9", 1, 0, 0), False),
    (("fe80::/10",), ("fe80::1%eth0", 1, 0, 2), True),
    (("0.0.0.0/0",), ("::1", 1, 0, 0), False),
    (("0.0.0.0/0", "::/0"), ("::1", 1, 0, 0), True),
    (("10.0.0.0/8",), ("not-an-ip", 1), False),
    (("10.0.0.0/8",), None, False),  # Unix-socket peers only with "unix"
    (("10.0.0.0/8",), "/run/app.sock", False),
    (("unix",), None, True),
    (("unix",), "/run/app.sock", True),
    (("unix",), "", True),  # an unnamed client socket
    (("unix",), ("127.0.0.1", 1), False),
]


@pytest.mark.parametrize(("proxies", "peer", "trusted"), PEERS)
def test_peer_table(proxies: tuple[str, ...], peer: Any, trusted: bool) -> None:
    environ = environ_for(b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: evil.example\r\n",
                          peer=peer, trusted_proxies=proxies, trusted_proxy_headers=("x-forwarded-for",))
    assert environ.get("HTTP_X_FORWARDED_HOST") is None  # never trusted here: gone either way
    assert environ["HTTP_HOST"] == "backend:8000"
    if trusted:
        # REMOTE_HOST names the client the proxy names, as REMOTE_ADDR does (RFC 3875 §4.1.9).
        check(environ, {"REMOTE_ADDR": "203.0.113.9", "REMOTE_HOST": "203.0.113.9", "REMOTE_PORT": ABSENT,
                        "HTTP_X_FORWARDED_FOR": "203.0.113.9", "wsgicore.proxy_peer": peer})
    else:
        original = "" if peer is None or isinstance(peer, str) else peer[0]
        check(environ, {"REMOTE_ADDR": original, "REMOTE_HOST": original, "HTTP_X_FORWARDED_FOR": ABSENT,
                        "wsgicore.proxy_peer": ABSENT})


def test_unix_peer_without_forwarding_has_an_empty_address() -> None:
    # No network address: "" as gunicorn's workers set it, never missing; no port at all.
    environ = environ_for(peer="/run/app.sock")
    assert environ["REMOTE_ADDR"] == environ["REMOTE_HOST"] == ""
    assert "REMOTE_PORT" not in environ


# -- spoofing -------------------------------------------------------------------------------------


def test_untrusted_peer_loses_every_forwarding_header() -> None:
    environ = environ_for(
        b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n"
        b"X-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\nForwarded: for=203.0.113.9;proto=https\r\n"
        b"X-Forwarded-Ssl: on\r\n",
        peer=CLIENT, **xff(secure_scheme_headers={"X-Forwarded-Ssl": "on"}))
    for key in (*ALL_FORWARDING, "HTTP_X_FORWARDED_SSL"):
        assert key not in environ
    check(environ, {"REMOTE_ADDR": CLIENT[0], "REMOTE_PORT": str(CLIENT[1]), "wsgi.url_scheme": "http",
                    "HTTP_HOST": "backend:8000", "SERVER_NAME": SOCKNAME[0],
                    "SERVER_PORT": str(SOCKNAME[1]), "SCRIPT_NAME": "", "PATH_INFO": "/x"})


def test_trusted_peer_loses_the_headers_it_is_not_trusted_for() -> None:
    environ = environ_for(b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: evil.example\r\n"
                          b"Forwarded: for=198.51.100.1\r\nX-Forwarded-Prefix: /admin\r\n",
                          trusted_proxies=("10.0.0.5",), trusted_proxy_headers=("x-forwarded-for",))
    check(environ, {"REMOTE_ADDR": "203.0.113.9", "HTTP_HOST": "backend:8000",
                    "HTTP_X_FORWARDED_HOST": ABSENT, "HTTP_FORWARDED": ABSENT,
                    "HTTP_X_FORWARDED_PREFIX": ABSENT, "SCRIPT_NAME": ""})


@pytest.mark.parametrize(
    ("value", "count", "client", "kept"),
    [
        # The left-most value is the client's own text: never taken, and not kept (waitress #451).
        (b"6.6.6.6, 203.0.113.9", 1, "203.0.113.9", "203.0.113.9"),
        (b"6.6.6.6,203.0.113.9", 1, "203.0.113.9", "203.0.113.9"),
        # Two proxies: the outer one's value is second from the right.
        (b"6.6.6.6, 203.0.113.9, 10.0.0.9", 2, "203.0.113.9", "203.0.113.9, 10.0.0.9"),
        (b"7.7.7.7, 6.6.6.6, 203.0.113.9, 10.0.0.9", 2, "203.0.113.9", "203.0.113.9, 10.0.0.9"),
        # Fewer values than hops: every value is a proxy's; the oldest is used.
        (b"203.0.113.9, 10.0.0.9", 3, "203.0.113.9", "203.0.113.9, 10.0.0.9"),
        (b"203.0.113.9", 2, "203.0.113.9", "203.0.113.9"),
        # Empty list elements are not hops (RFC 9110 §5.6.1).
        (b"6.6.6.6, , 203.0.113.9 ,", 1, "203.0.113.9", "203.0.113.9"),
        # Junk in the client's part is never looked at.
        (b"<script>, 203.0.113.9", 1, "203.0.113.9", "203.0.113.9"),
        (b"2001:db8::1", 1, "2001:db8::1", "2001:db8::1"),
        (b"[2001:db8::1]", 1, "2001:db8::1", "[2001:db8::1]"),
        (b"2001:DB8:0::1", 1, "2001:db8::1", "2001:DB8:0::1"),  # REMOTE_ADDR in canonical form
    ],
)
def test_x_forwarded_for_hops(value: bytes, count: int, client: str, kept: str) -> None:
    environ = environ_for(b"X-Forwarded-For: " + value + b"\r\n", **xff(trusted_proxy_count=count))
    check(environ, {"REMOTE_ADDR": client, "REMOTE_PORT": ABSENT, "HTTP_X_FORWARDED_FOR": kept})


def test_x_forwarded_for_with_port_sets_remote_port() -> None:
    environ = environ_for(b"X-Forwarded-For: [2001:db8::1]:4711\r\n", **xff())
    check(environ, {"REMOTE_ADDR": "2001:db8::1", "REMOTE_PORT": "4711"})
    environ = environ_for(b"X-Forwarded-For: 203.0.113.9:80\r\n", **xff())
    check(environ, {"REMOTE_ADDR": "203.0.113.9", "REMOTE_PORT": "80"})


def test_unknown_client_keeps_the_peer_address() -> None:
    environ = environ_for(b"X-Forwarded-For: unknown\r\n", **xff())
    check(environ, {"REMOTE_ADDR": PROXY[0], "REMOTE_PORT": str(PROXY[1]), "HTTP_X_FORWARDED_FOR": "unknown"})


def test_repeated_field_lines_count_as_one_list() -> None:
    # RFC 9110 §5.3: two lines are the same as one joined with ","; the client's line comes first.
    environ = environ_for(b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.9\r\n", **xff())
    check(environ, {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})


def test_header_name_case_does_not_matter() -> None:
    environ = environ_for(b"x-FORWARDED-for: 203.0.113.9\r\nX-FORWARDED-PROTO: HTTPS\r\n", **xff())
    check(environ, {"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https"})
    config = Config(trusted_proxies=("10.0.0.5",), trusted_proxy_headers=("X-Forwarded-For",))
    assert environ_for(b"X-Forwarded-For: 203.0.113.9\r\n", config=config)["REMOTE_ADDR"] == "203.0.113.9"


def test_underscore_names_never_pose_as_forwarding_headers() -> None:
    # "X_Forwarded_For" would map to the same environ key as "X-Forwarded-For" (gunicorn #2799).
    environ = environ_for(b"X_Forwarded_For: 6.6.6.6\r\nX-Forwarded_Proto: https\r\n"
                          b"X-Forwarded-For: 203.0.113.9\r\n", **xff())
    check(environ, {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "203.0.113.9",
                    "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_PROTO": ABSENT})
    environ = environ_for(b"X_Forwarded_For: 6.6.6.6\r\n", **xff())
    check(environ, {"REMOTE_ADDR": PROXY[0], "HTTP_X_FORWARDED_FOR": ABSENT})


# -- scheme, host, port, prefix -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expect"),
    [
        (b"X-Forwarded-Proto: https\r\n",
         {"wsgi.url_scheme": "https", "HTTP_HOST": "backend:8000", "SERVER_NAME": SOCKNAME[0],
          "SERVER_PORT": "8000"}),  # the Host the proxy passed on still names a port
        (b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: example.com\r\n",
         {"wsgi.url_scheme": "https", "HTTP_HOST": "example.com", "SERVER_NAME": "example.com",
          "SERVER_PORT": "443"}),
        (b"X-Forwarded-Host: example.com\r\n",
         {"wsgi.url_scheme": "http", "HTTP_HOST": "example.com", "SERVER_PORT": "80"}),
        (b"X-Forwarded-Host: example.com:8443\r\nX-Forwarded-Proto: https\r\n",
         {"HTTP_HOST": "example.com:8443", "SERVER_NAME": "example.com", "SERVER_PORT": "8443"}),
        (b"X-Forwarded-Host: [2001:db8::1]:8080\r\n",
         {"HTTP_HOST": "[2001:db8::1]:8080", "SERVER_NAME": "[2001:db8::1]", "SERVER_PORT": "8080"}),
        (b"X-Forwarded-Host: evil.example, example.com\r\n",
         {"HTTP_HOST": "example.com", "HTTP_X_FORWARDED_HOST": "example.com"}),
        # X-Forwarded-Port names the port the client used: it replaces the Host's.
        (b"X-Forwarded-Host: example.com\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 8443\r\n",
         {"HTTP_HOST": "example.com:8443", "SERVER_PORT": "8443"}),
        (b"X-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n",
         {"HTTP_HOST": "backend", "SERVER_PORT": "443", "SERVER_NAME": SOCKNAME[0]}),
        (b"X-Forwarded-Proto: http, https\r\n", {"wsgi.url_scheme": "https"}),
        (b"X-Forwarded-Prefix: /app\r\n", {"SCRIPT_NAME": "/app", "PATH_INFO": "/x"}),
        (b"X-Forwarded-Prefix: /app/\r\n", {"SCRIPT_NAME": "/app", "PATH_INFO": "/x"}),
        (b"X-Forwarded-Prefix: /\r\n", {"SCRIPT_NAME": "", "PATH_INFO": "/x"}),
        (b"X-Forwarded-Prefix: /my%20app/v1\r\n", {"SCRIPT_NAME": "/my app/v1"}),
        (b"X-Forwarded-Prefix: /evil, /app\r\n", {"SCRIPT_NAME": "/app"}),
    ],
)
def test_x_forwarded_scheme_host_port_prefix(fields: bytes, expect: dict[str, Any]) -> None:
    check(environ_for(fields, **xff()), expect)


def test_prefix_goes_before_the_configured_mount() -> None:
    environ = environ_for(b"X-Forwarded-Prefix: /app\r\n", target=b"/mount/x?q=1",
                          **xff(script_name="/mount"))
    check(environ, {"SCRIPT_NAME": "/app/mount", "PATH_INFO": "/x", "QUERY_STRING": "q=1"})


# -- RFC 7239 Forwarded ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "count", "expect"),
    [
        (b'for="[2001:db8:cafe::17]:4711";proto=https;host="example.com:8443"', 1,
         {"REMOTE_ADDR": "2001:db8:cafe::17", "REMOTE_PORT": "4711", "wsgi.url_scheme": "https",
          "HTTP_HOST": "example.com:8443", "SERVER_NAME": "example.com", "SERVER_PORT": "8443"}),
        (b"for=192.0.2.43", 1, {"REMOTE_ADDR": "192.0.2.43", "REMOTE_PORT": ABSENT}),
        (b"For=192.0.2.43;PROTO=HTTPS", 1, {"REMOTE_ADDR": "192.0.2.43", "wsgi.url_scheme": "https"}),
        (b'for="192.0.2.43:_abc"', 1, {"REMOTE_ADDR": "192.0.2.43", "REMOTE_PORT": ABSENT}),
        # Obfuscated identifiers and "unknown" (RFC 7239 §6.2, §6.3) name no address.
        (b"for=_hidden;by=_proxy1", 1, {"REMOTE_ADDR": PROXY[0], "REMOTE_PORT": str(PROXY[1])}),
        (b"for=unknown;proto=https", 1, {"REMOTE_ADDR": PROXY[0], "wsgi.url_scheme": "https"}),
        (b'for="_o.b-f_1:_p"', 1, {"REMOTE_ADDR": PROXY[0]}),
        # The client's own elements are dropped, from the answer and from the environ.
        (b"for=6.6.6.6;proto=http;host=evil.example, for=203.0.113.9;proto=https", 1,
         {"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https", "HTTP_HOST": "backend:8000",
          "HTTP_FORWARDED": "for=203.0.113.9;proto=https"}),
        # Two proxies: each parameter from the oldest trusted element that has it.
        (b"for=6.6.6.6, for=203.0.113.9;proto=https;host=example.com, for=10.0.0.9;proto=http", 2,
         {"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https", "HTTP_HOST": "example.com",
          "HTTP_FORWARDED": "for=203.0.113.9;proto=https;host=example.com, for=10.0.0.9;proto=http"}),
        (b"proto=https, for=10.0.0.9", 2, {"REMOTE_ADDR": "10.0.0.9", "wsgi.url_scheme": "https"}),
        # Quoted values with quoted-pairs; OWS around the separators; empty list elements.
        (b'for="203.0.113.9";host="ex\\ample.com"', 1, {"HTTP_HOST": "example.com"}),
        (b" , for=203.0.113.9 ; proto=https ,, ", 1,
         {"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https",
          "HTTP_FORWARDED": "for=203.0.113.9 ; proto=https"}),
        # A parameter we do not use is fine (RFC 7239 §5.5 extensions).
        (b"for=203.0.113.9;secret=x", 1, {"REMOTE_ADDR": "203.0.113.9"}),
    ],
)
def test_forwarded(value: bytes, count: int, expect: dict[str, Any]) -> None:
    environ = environ_for(b"Forwarded: " + value + b"\r\n", **fwd(trusted_proxy_count=count))
    check(environ, expect)


def test_forwarded_and_prefix_together() -> None:
    environ = environ_for(b"Forwarded: for=203.0.113.9\r\nX-Forwarded-Prefix: /app\r\n"
                          b"X-Forwarded-For: 6.6.6.6\r\n",
                          **fwd(trusted_proxy_headers=("forwarded", "x-forwarded-prefix")))
    check(environ, {"REMOTE_ADDR": "203.0.113.9", "SCRIPT_NAME": "/app", "HTTP_X_FORWARDED_FOR": ABSENT})


# -- malformed values from a trusted proxy: 400 ----------------------------------------------------

MALFORMED_XFF = [
    b"X-Forwarded-For: not-an-ip\r\n",
    b"X-Forwarded-For: 203.0.113.9\xa0\r\n",  # NBSP is not OWS (RFC 9110 §5.6.1)
    b"X-Forwarded-For: 203.0.113.9\x85\r\n",  # nor is NEL
    b"X-Forwarded-For: 203.0.113.256\r\n",
    b"X-Forwarded-For: 203.0.113.9:0\r\n",
    b"X-Forwarded-For: 203.0.113.9:65536\r\n",
    b"X-Forwarded-For: [2001:db8::1\r\n",
    b"X-Forwarded-For: fe80::1%evil\r\n",
    b"X-Forwarded-For: 203.0.113.9, bad\r\n",  # the proxy's own (right-most) value is bad
    b"X-Forwarded-Proto: ftp\r\n",
    b"X-Forwarded-Proto: https, gopher\r\n",
    b"X-Forwarded-Host: bad host\r\n",
    b"X-Forwarded-Host: a@b\r\n",
    b"X-Forwarded-Host: example.com:99999\r\n",
    b"X-Forwarded-Host: :80\r\n",
    b"X-Forwarded-Port: 0\r\n",
    b"X-Forwarded-Port: 65536\r\n",
    b"X-Forwarded-Port: 80a\r\n",
    b"X-Forwarded-Prefix: app\r\n",
    b"X-Forwarded-Prefix: /../admin\r\n",
    b"X-Forwarded-Prefix: /app/..\r\n",
    b"X-Forwarded-Prefix: /a/./b\r\n",
    b"X-Forwarded-Prefix: /a//b\r\n",
    b"X-Forwarded-Prefix: /a/%2e%2E/b\r\n",
    b"X-Forwarded-Prefix: /a%2F..%2Fb\r\n",
    b"X-Forwarded-Prefix: /a%00b\r\n",
    b"X-Forwarded-Prefix: /a%5C..\r\n",
    b"X-Forwarded-Prefix: /a%zz\r\n",
    b"X-Forwarded-Prefix: /a?b\r\n",
]
MALFORMED_FORWARDED = [
    b"Forwarded: for=1.2.3.4;for=5.6.7.8\r\n",  # RFC 7239 §4: once per element
    b'Forwarded: for="1.2.3.4\r\n',
    b"Forwarded: for=[2001:db8::1]\r\n",  # brackets are not token characters: must be quoted
    b"Forwarded: for=1.2.3.4 proto=https\r\n",
    b"Forwarded: for\r\n",
    b"Forwarded: =x\r\n",
    b'Forwarded: for="not an address"\r\n',
    b'Forwarded: for="1.2.3.4:99999"\r\n',
    b'Forwarded: for="[2001:db8::zz]"\r\n',
    b"Forwarded: for=1.2.3.4;proto=ftp\r\n",
    b'Forwarded: host="bad host"\r\n',
    b"Forwarded: for=6.6.6.6, for=1.2.3.4;for=1.2.3.4\r\n",
]


@pytest.mark.parametrize("fields", MALFORMED_XFF + MALFORMED_FORWARDED)
def test_malformed_from_trusted_proxy_is_400(fields: bytes) -> None:
    settings = fwd(trusted_proxy_headers=("forwarded", "x-forwarded-port", "x-forwarded-prefix")) \
        if fields.startswith(b"Forwarded") else xff()
    exc = refusal(fields, **settings)
    assert exc.status_code == 400
    assert "from a trusted proxy is malformed" in exc.reason
    status, _, rest = exc.response.partition(b"\r\n")
    assert status == b"HTTP/1.1 400 Bad Request"
    body = rest.partition(b"\r\n\r\n")[2]
    value = fields.partition(b": ")[2].strip()
    assert len(value) < 5 or value not in body  # never reflected (short ones occur in our own text)


@pytest.mark.parametrize("fields", MALFORMED_XFF + MALFORMED_FORWARDED)
def test_malformed_from_untrusted_peer_is_just_removed(fields: bytes) -> None:
    environ = environ_for(fields, peer=CLIENT, **xff())
    for key in ALL_FORWARDING:
        assert key not in environ
    assert environ["REMOTE_ADDR"] == CLIENT[0]


# -- secure_scheme_headers (gunicorn) -------------------------------------------------------------

GUNICORN_SCHEME_HEADERS = {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https",
                           "X-FORWARDED-SSL": "on"}  # gunicorn's default secure_scheme_headers


@pytest.mark.parametrize(
    ("fields", "scheme"),
    [
        (b"", "http"),
        (b"X-Forwarded-Proto: https\r\n", "https"),
        (b"X-Forwarded-Ssl: on\r\n", "https"),
        (b"X-Forwarded-Ssl: ON\r\n", "https"),
        (b"X-Forwarded-Protocol: ssl\r\nX-Forwarded-Proto: https\r\n", "https"),
        (b"X-Forwarded-Proto: http\r\n", "http"),  # present with another value: http, said explicitly
        (b"X-Forwarded-Ssl: off\r\nX-Forwarded-Proto: http\r\n", "http"),
        (b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n", 400),  # disagreement (gunicorn: 400)
        (b"X-Forwarded-Proto: http\r\nX-Forwarded-Protocol: ssl\r\n", 400),
    ],
)
def test_secure_scheme_headers(fields: bytes, scheme: str | int) -> None:
    settings = {"trusted_proxies": ("127.0.0.1", "::1", "unix"),  # gunicorn's forwarded_allow_ips
                "secure_scheme_headers": GUNICORN_SCHEME_HEADERS}
    peer = ("127.0.0.1", 5000)
    if scheme == 400:
        exc = refusal(fields, peer=peer, **settings)
        assert exc.status_code == 400
        assert "disagree" in exc.reason
        return
    environ = environ_for(fields, peer=peer, **settings)
    assert environ["wsgi.url_scheme"] == scheme
    assert environ["REMOTE_ADDR"] == "127.0.0.1"  # gunicorn never takes the address from headers
    # From an untrusted peer the same headers are removed and never decide the scheme.
    environ = environ_for(fields, peer=CLIENT, **settings)
    assert environ["wsgi.url_scheme"] == "http"
    assert not {"HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_SSL", "HTTP_X_FORWARDED_PROTOCOL"} & set(environ)


def test_secure_scheme_headers_must_agree_with_forwarded_proto() -> None:
    settings = fwd(secure_scheme_headers={"X-Forwarded-Ssl": "on"})
    environ = environ_for(b"Forwarded: proto=https\r\nX-Forwarded-Ssl: on\r\n", **settings)
    assert environ["wsgi.url_scheme"] == "https"
    assert refusal(b"Forwarded: proto=https\r\nX-Forwarded-Ssl: off\r\n", **settings).status_code == 400


def test_secure_scheme_header_sets_the_default_port() -> None:
    environ = environ_for(b"X-Forwarded-Ssl: on\r\n", trusted_proxies=("10.0.0.5",),
                          secure_scheme_headers={"X-Forwarded-Ssl": "on"})
    check(environ, {"wsgi.url_scheme": "https", "SERVER_PORT": "8000"})  # Host "backend:8000" names it


def test_disagreeing_secure_scheme_headers_from_an_untrusted_peer_are_removed_not_refused() -> None:
    # A client cannot get its own request refused with headers nobody vouches for (gunicorn: the
    # same; from its allowed peers only is disagreement a 400).
    config = Config(trusted_proxies=("127.0.0.1", "unix"), secure_scheme_headers=GUNICORN_SCHEME_HEADERS)
    data = head(b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n")
    [response] = served(data, CLIENT, config)
    assert response.status == 200
    assert json.loads(response.body)["wsgi.url_scheme"] == "http"
    assert served(data, ("127.0.0.1", 5000), config)[0].status == 400
    assert served(data, None, config)[0].status == 400  # a Unix-socket peer, trusted through "unix"


# -- Config validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"trusted_proxies": ("*",)}, "trusted_proxies"),
        ({"trusted_proxies": ("localhost",)}, "trusted_proxies"),
        ({"trusted_proxies": ("10.0.0.0/33",)}, "trusted_proxies"),
        ({"trusted_proxies": "10.0.0.1"}, "trusted_proxies"),  # a str is not a list of addresses
        ({"trusted_proxies": None}, "trusted_proxies"),
        ({"trusted_proxies": (1,)}, "trusted_proxies"),
        ({"trusted_proxy_headers": ("x-real-ip",)}, "trusted_proxy_headers"),
        ({"trusted_proxy_headers": "forwarded"}, "trusted_proxy_headers"),
        ({"trusted_proxy_headers": ("forwarded", "x-forwarded-for")}, "trusted_proxy_headers"),
        ({"trusted_proxy_count": 0}, "trusted_proxy_count"),
        ({"trusted_proxy_count": True}, "trusted_proxy_count"),
        ({"trusted_proxy_count": "1"}, "trusted_proxy_count"),
        ({"secure_scheme_headers": [("X-Forwarded-Ssl", "on")]}, "secure_scheme_headers"),
        ({"secure_scheme_headers": {"X_Forwarded_Ssl": "on"}}, "secure_scheme_headers"),
        ({"secure_scheme_headers": {"X-Forwarded Ssl": "on"}}, "secure_scheme_headers"),
        ({"secure_scheme_headers": {"X-Forwarded-Ssl": ""}}, "secure_scheme_headers"),
        ({"secure_scheme_headers": {"X-Forwarded-Ssl": "o\nn"}}, "secure_scheme_headers"),
        ({"secure_scheme_headers": {"X-Forwarded-Proto": "https"},
          "trusted_proxy_headers": ("x-forwarded-proto",)}, "secure_scheme_headers"),
    ],
)
def test_bad_settings_name_the_setting(settings: dict[str, Any], setting: str) -> None:
    with pytest.raises(ValueError, match=f"Config.{setting}"):
        Config(trusted_proxies=settings.pop("trusted_proxies", ("10.0.0.1",)), **settings)


def test_settings_are_normalized_and_copied() -> None:
    proxies = ["10.0.0.1"]
    headers = {"X-Forwarded-For"}
    secure = {"X-Forwarded-Ssl": "on"}
    config = Config(trusted_proxies=proxies, trusted_proxy_headers=headers, secure_scheme_headers=secure)
    proxies.append("0.0.0.0/0")
    secure["X-Forwarded-Proto"] = "https"
    assert config.trusted_proxies == ("10.0.0.1",)
    assert config.trusted_proxy_headers == frozenset({"x-forwarded-for"})
    assert dict(config.secure_scheme_headers) == {"X-Forwarded-Ssl": "on"}
    assert hash(config) == hash(config.replace())
    assert config.replace(trusted_proxy_count=2)._proxy_policy is not None
    assert config.replace(trusted_proxies=())._proxy_policy is None
    assert Config(trusted_proxies=[]) == Config()


# -- through the in-memory driver -------------------------------------------------------------------


def json_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    keys = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME", "PATH_INFO",
            "HTTP_X_FORWARDED_FOR")
    body = json.dumps({key: environ.get(key) for key in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def served(data: bytes | list[bytes], peer: Any, config: Config) -> list[Any]:
    return parse_responses(exchange(json_app, data, config=config, peer=peer, sockname=SOCKNAME))


def test_exchange_trusted_and_untrusted_and_split_input() -> None:
    config = Config(**xff())
    request = head(b"X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
                   b"X-Forwarded-Host: example.com\r\nX-Forwarded-Prefix: /app\r\n")
    trusted = {"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https", "HTTP_HOST": "example.com",
               "SCRIPT_NAME": "/app", "PATH_INFO": "/x", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    untrusted = {"REMOTE_ADDR": CLIENT[0], "wsgi.url_scheme": "http", "HTTP_HOST": "backend:8000",
                 "SCRIPT_NAME": "", "PATH_INFO": "/x", "HTTP_X_FORWARDED_FOR": None}
    # Whole, and byte by byte (the h11 path): the same answer; two requests on one connection.
    for data in (request * 2, [request[i : i + 1] for i in range(len(request))] + [request]):
        responses = served(data, PROXY, config)
        assert [r.status for r in responses] == [200, 200]
        assert [json.loads(r.body) for r in responses] == [trusted, trusted]
    [response] = served(request, CLIENT, config)
    assert json.loads(response.body) == untrusted


def test_exchange_malformed_gives_400_and_closes() -> None:
    config = Config(**xff())
    data = head(b"X-Forwarded-Proto: gopher\r\n") + head()
    [response] = served(data, PROXY, config)
    assert response.status == 400
    assert (b"connection", b"close") in response.headers
    assert b"X-Forwarded-Proto" in response.body or b"proto" in response.body


def test_exchange_head_request_400_has_no_body() -> None:
    out = exchange(json_app, b"HEAD / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Port: x\r\n\r\n",
                   config=Config(**xff()), peer=PROXY, sockname=SOCKNAME)
    assert out.startswith(b"HTTP/1.1 400 ")
    assert out.endswith(b"\r\n\r\n")


# -- fuzz: any value either applies cleanly or is a 400 -------------------------------------------

_VALUE_CHARS = st.sampled_from([*'\t 0123456789abcdef:.[]_-,;="\\/%?@fhtpsorunkw', "\x80", "\xff"])
_NAMES = st.sampled_from(["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
                          "X-Forwarded-Prefix", "Forwarded", "X-Forwarded-Ssl"])


@settings(derandomize=True, max_examples=400, deadline=None)
@given(fields=st.lists(st.tuples(_NAMES, st.text(_VALUE_CHARS, max_size=30)), max_size=4),
       use_forwarded=st.booleans(), count=st.integers(1, 3))
def test_fuzz_trusted_values_apply_cleanly_or_400(
    fields: list[tuple[str, str]], use_forwarded: bool, count: int
) -> None:
    headers = ("forwarded", "x-forwarded-port", "x-forwarded-prefix") if use_forwarded else XFF_ALL
    config = Config(trusted_proxies=("10.0.0.5",), trusted_proxy_headers=headers,
                    trusted_proxy_count=count, secure_scheme_headers={"X-Forwarded-Ssl": "on"})
    raw = b"".join(f"{name}: {value.strip()}\r\n".encode("latin-1") for name, value in fields)
    conn = Connection(config, peer=PROXY, sockname=SOCKNAME)
    conn.receive_data(head(raw))
    refused: RemoteProtocolError | None = None
    try:
        event = conn.next_event()
    except RemoteProtocolError as exc:
        refused = exc
    if refused is not None:
        assert refused.status_code == 400
        return
    assert isinstance(event, RequestReceived)
    environ = event.environ
    ipaddress.ip_address(environ["REMOTE_ADDR"])
    assert environ["wsgi.url_scheme"] in ("http", "https")
    assert parse_port(environ["SERVER_PORT"]) == environ["SERVER_PORT"]
    script_name = environ["SCRIPT_NAME"]
    assert script_name == "" or script_name.startswith("/")
    assert "/../" not in script_name + "/"


@pytest.mark.parametrize("peer", [PROXY, CLIENT, "/run/app.sock", None])
def test_forwarded_environ_passes_wsgiref_validator(peer: Any) -> None:
    from wsgiref.validate import validator

    config = Config(**xff(trusted_proxies=("10.0.0.0/24", "unix")))
    request = head(b"X-Forwarded-For: 203.0.113.9:4711\r\nX-Forwarded-Proto: https\r\n"
                   b"X-Forwarded-Host: example.com\r\nX-Forwarded-Port: 8443\r\nX-Forwarded-Prefix: /app\r\n")
    out = exchange(validator(json_app), request, config=config, peer=peer, sockname=SOCKNAME)
    [response] = parse_responses(out)
    assert response.status == 200
    got = json.loads(response.body)
    assert (got["REMOTE_ADDR"] == "203.0.113.9") == (peer != CLIENT)


EVERY_FORWARDING_FIELD = (b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
                          b"X-Forwarded-Host: h.example\r\nX-Forwarded-Port: 443\r\n"
                          b"X-Forwarded-Prefix: /p\r\nForwarded: for=203.0.113.9\r\n"
                          b"X-Forwarded-Ssl: on\r\n")


@pytest.mark.parametrize("peer", [PROXY, CLIENT])
def test_forwarding_headers_can_be_kept_for_the_app(peer: Any) -> None:
    # gunicorn's rule (its workers set this): the trusted peer's scheme headers decide the scheme,
    # nothing else is applied, and every forwarding header reaches the app as it came.
    settings = {"trusted_proxies": ("10.0.0.5",), "secure_scheme_headers": {"X-Forwarded-Ssl": "on"}}
    kept = environ_for(EVERY_FORWARDING_FIELD, peer=peer, clear_untrusted_proxy_headers=False,
                       **settings)
    for key in (*ALL_FORWARDING, "HTTP_X_FORWARDED_SSL"):
        assert key in kept
    assert kept["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert kept["REMOTE_ADDR"] == peer[0]
    assert kept["wsgi.url_scheme"] == ("https" if peer == PROXY else "http")
    assert kept["SCRIPT_NAME"] == ""
    # The default removes what nobody vouches for.
    cleared = environ_for(EVERY_FORWARDING_FIELD, peer=peer, **settings)
    assert not any(key in cleared for key in ALL_FORWARDING)
    assert cleared["wsgi.url_scheme"] == kept["wsgi.url_scheme"]


def test_clear_untrusted_proxy_headers_is_a_bool() -> None:
    with pytest.raises(ValueError, match="clear_untrusted_proxy_headers"):
        Config(trusted_proxies=("10.0.0.5",), clear_untrusted_proxy_headers=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clear_untrusted_proxy_headers"):
        Config(clear_untrusted_proxy_headers="no")  # type: ignore[arg-type]


def test_a_trusted_single_address_is_recognised_without_parsing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A peer named exactly as a trusted single address (as every connection from the proxy is) is
    # trusted at once; any other peer is still parsed and matched against the networks.
    from wsgicore import _proxy

    policy = _proxy.ProxyPolicy(["10.0.0.5", "192.168.0.0/16", "::1"], ["x-forwarded-for"], 1, {})
    parsed: list[str] = []
    real = ipaddress.ip_address

    def counting(text: Any) -> Any:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(_proxy.ipaddress, "ip_address", counting)
    assert policy.trusts(("10.0.0.5", 1))
    assert policy.trusts(("::1", 2, 0, 0))
    assert parsed == []
    assert policy.trusts(("192.168.3.4", 1))
    assert policy.trusts(("::ffff:10.0.0.5", 1, 0, 0))  # a dual-stack listener's view of the proxy
    assert not policy.trusts(("10.0.0.6", 1))
    assert not policy.trusts(([], 1))  # not an address at all
    assert parsed == ["192.168.3.4", "::ffff:10.0.0.5", "10.0.0.6"]
