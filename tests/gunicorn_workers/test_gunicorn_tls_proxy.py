"""TLS (--certfile/--keyfile) and proxy trust (--forwarded-allow-ips, --secure-scheme-headers)."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any

from .gunicorn_support import Gunicorn, body_of, get, make_certificate, raw_exchange, running, status_of


def test_tls_with_a_throwaway_certificate(worker: str, tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    context = ssl.create_default_context(cafile=str(cert))
    with running(worker, "--certfile", str(cert), "--keyfile", str(key), workers=1) as server:
        assert server.url.startswith("https://")
        with socket.create_connection(server.address, timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            request = b"GET /environ HTTP/1.1\r\nHost: t\r\n\r\n"
            responses = raw_exchange(sock, request * 2, 2)  # keep-alive over TLS, pipelined
        # A plain-HTTP client on the TLS port gets no HTTP answer, and the worker goes on serving.
        with socket.create_connection(server.address, timeout=10) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            try:
                answer = plain.recv(100)  # a TLS alert, or nothing
            except ConnectionResetError:
                answer = b""
            assert not answer.startswith(b"HTTP/")
        with socket.create_connection(server.address, timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            again = raw_exchange(sock, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n", 1)
        assert "Traceback" not in server.text()  # a failed handshake is no server error
    assert [status_of(r) for r in responses] == [200, 200]
    environ = json.loads(body_of(responses[0]))
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["SERVER_PORT"] == str(server.address[1])
    assert body_of(again[0]) == b"ok /x"


def _scheme(address: tuple[str, int], source: str, headers: dict[str, str]) -> tuple[int, str]:
    status, _, body = get(address, "/environ", headers=headers, source=source)
    return status, json.loads(body)["wsgi.url_scheme"] if status == 200 else ""


def test_scheme_headers_only_from_the_allowed_peer(worker: str) -> None:
    # Linux routes all of 127.0.0.0/8 to loopback: a client bound to 127.0.0.2 is another peer.
    proto = {"X-Forwarded-Proto": "https"}
    with running(worker, "--forwarded-allow-ips", "127.0.0.1", workers=1) as server:
        assert _scheme(server.address, "127.0.0.1", proto) == (200, "https")
        assert _scheme(server.address, "127.0.0.2", proto) == (200, "http")
        assert _scheme(server.address, "127.0.0.1", {"X-Forwarded-Proto": "http"}) == (200, "http")
        assert _scheme(server.address, "127.0.0.1", {}) == (200, "http")
        # Disagreeing scheme fields from the trusted proxy: 400 (gunicorn's InvalidSchemeHeaders).
        both = {"X-Forwarded-Proto": "https", "X-Forwarded-SSL": "off"}
        assert _scheme(server.address, "127.0.0.1", both)[0] == 400
        assert _scheme(server.address, "127.0.0.2", both) == (200, "http")
        # REMOTE_ADDR is always the peer, whatever X-Forwarded-For says (as gunicorn).
        _, _, body = get(server.address, "/environ", headers={"X-Forwarded-For": "203.0.113.7"})
        assert json.loads(body)["REMOTE_ADDR"] == "127.0.0.1"
    with running(worker, "--forwarded-allow-ips", "10.0.0.0/8,127.0.0.2", workers=1) as server:
        assert _scheme(server.address, "127.0.0.1", proto) == (200, "http")
        assert _scheme(server.address, "127.0.0.2", proto) == (200, "https")


def test_custom_secure_scheme_headers(worker: str, tmp_path: Path) -> None:
    config = tmp_path / "conf.py"
    config.write_text('secure_scheme_headers = {"X-SCHEME": "secure"}\nforwarded_allow_ips = "*"\n')
    with running(worker, "-c", str(config), workers=1) as server:
        assert _scheme(server.address, "127.0.0.2", {"X-Scheme": "secure"}) == (200, "https")
        assert _scheme(server.address, "127.0.0.2", {"X-Forwarded-Proto": "https"}) == (200, "http")


FORWARDING = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "h.example", "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/p",
              "Forwarded": "for=203.0.113.9", "X-Forwarded-Ssl": "on"}


def _forwarding_seen(kind: str) -> dict[str, dict[str, Any]]:
    """What the app sees of FORWARDING from the allowed peer and from another one, under the
    gunicorn worker class ``kind`` with gunicorn's default proxy settings."""
    server = Gunicorn("ThreadWorker", workers=1)
    server.command[server.command.index("-k") + 1] = kind
    seen = {}
    with server:
        for source in ("127.0.0.1", "127.0.0.2"):  # the default --forwarded-allow-ips, and not
            status, _, body = get(server.address, "/environ", headers=FORWARDING, source=source)
            assert status == 200
            environ = json.loads(body)
            seen[source] = {key: environ.get(key) for key in
                            ("REMOTE_ADDR", "wsgi.url_scheme", "PATH_INFO", "SCRIPT_NAME",
                             *(f"HTTP_{name.upper().replace('-', '_')}" for name in FORWARDING))}
    return seen


def test_forwarding_headers_reach_the_app_as_with_gunicorns_workers(worker: str) -> None:
    # gunicorn's own workers use the trusted peer's scheme headers for wsgi.url_scheme, never
    # X-Forwarded-For for REMOTE_ADDR, and leave every header for the app (X-Forwarded-For for
    # its logging or ProxyFix): ours are a drop-in.
    ours = _forwarding_seen(f"wsgidrivers.gunicorn.{worker}")
    assert ours["127.0.0.1"]["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert ours["127.0.0.2"]["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert (ours["127.0.0.1"]["wsgi.url_scheme"], ours["127.0.0.2"]["wsgi.url_scheme"]) == ("https", "http")
    assert ours == _forwarding_seen("sync")
    assert ours == _forwarding_seen("gthread")
