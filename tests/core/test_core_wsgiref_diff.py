"""Differential test: our environ against the stdlib's (wsgiref.simple_server), key by key.

wsgiref is run for real (WSGIRequestHandler.handle -> ServerHandler.run) over in-memory rfile/wfile;
only the server object is a stand-in, built the way WSGIServer.setup_environ builds base_environ.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from wsgiref import simple_server

import pytest
from core_support import PEER, SOCKNAME


@dataclass
class Req:
    id: str
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def raw(self) -> bytes:
        lines = [f"{self.method} {self.target} {self.version}"]
        lines += [f"{n}: {v}" for n, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


H = [("Host", "example.com")]
REQUESTS = [
    Req("get-root", "GET", "/", "HTTP/1.1", H),
    Req("get-10-no-host", "GET", "/index.html", "HTTP/1.0", []),
    Req("query", "GET", "/search?q=a+b&lang=en&empty=", "HTTP/1.1", H),
    Req("percent-path", "GET", "/caf%C3%A9/%7Euser/a%20b", "HTTP/1.1", H),
    Req("encoded-slash", "GET", "/a%2Fb%3Fc?x=%2F", "HTTP/1.1", H),
    Req("question-in-query", "GET", "/p?a=1?b=2", "HTTP/1.1", H),
    Req("empty-query", "GET", "/p?", "HTTP/1.1", H),
    Req(
        "post-form",
        "POST",
        "/form",
        "HTTP/1.1",
        [*H, ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "7")],
        b"a=1&b=2",
    ),
    Req("put-json-10", "PUT", "/obj/1", "HTTP/1.0",
        [("Content-Type", "application/json"), ("Content-Length", "2")], b"{}"),
    Req("delete", "DELETE", "/obj/1", "HTTP/1.1", H),
    Req("options", "OPTIONS", "/", "HTTP/1.1", H),
    Req("head", "HEAD", "/x", "HTTP/1.1", H),
    Req("patch-empty-body", "PATCH", "/x", "HTTP/1.1", [*H, ("Content-Length", "0")]),
    Req(
        "browser",
        "GET",
        "/static/app.js?v=3",
        "HTTP/1.1",
        [
            *H,
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"),
            ("Accept", "*/*"),
            ("Accept-Language", "en-US,en;q=0.5"),
            ("Accept-Encoding", "gzip, deflate, br"),
            ("Referer", "http://example.com/"),
            ("Connection", "keep-alive"),
            ("Cache-Control", "no-cache"),
        ],
    ),
    Req("ows-and-obs-text", "GET", "/", "HTTP/1.1",
        [*H, ("X-Spaces", "  padded value\t"), ("X-Latin", "caf\u00e9")]),
    Req("repeated-header", "GET", "/", "HTTP/1.1",
        [*H, ("Accept", "text/html"), ("X-Other", "1"), ("Accept", "application/json")]),
    Req("repeated-cookie", "GET", "/", "HTTP/1.1",
        [*H, ("Cookie", "a=1"), ("Cookie", "b=2")]),
    Req("underscore-header", "GET", "/", "HTTP/1.1", [*H, ("X_Api_Key", "k"), ("X-Real", "r")]),
    Req("long-path", "GET", "/" + "seg/" * 200 + "end", "HTTP/1.1", H),
    Req("content-type-only", "GET", "/", "HTTP/1.1", [*H, ("Content-Type", "text/csv")]),
]


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def wsgiref_environ(req: Req, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    # Exclusion 1 (wsgiref defect): BaseHandler.setup_environ starts from a copy of os.environ.
    # Give wsgiref an empty one, so that only what it derives from the request remains.
    monkeypatch.setattr(simple_server.ServerHandler, "os_environ", {})
    server = SimpleNamespace(
        # As WSGIServer.setup_environ builds it; SERVER_NAME there is socket.getfqdn() of the bound
        # host, ours is the sockname host as given, so give wsgiref the same name.
        base_environ={
            "SERVER_NAME": SOCKNAME[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PORT": str(SOCKNAME[1]),
            "REMOTE_HOST": "",
            "CONTENT_LENGTH": "",
            "SCRIPT_NAME": "",
        },
        get_app=lambda: app,
    )
    handler = _QuietHandler.__new__(_QuietHandler)
    handler.rfile = io.BytesIO(req.raw())
    handler.wfile = io.BytesIO()
    handler.client_address = PEER
    handler.server = server  # type: ignore[assignment]
    handler.request = None
    monkeypatch.setattr(handler, "get_stderr", io.StringIO)
    handler.handle()
    assert len(seen) == 1, handler.wfile.getvalue()
    return seen[0]


def our_environ(req: Req) -> dict[str, Any]:
    from wsgicore import Config
    from wsgidrivers.memory import exchange

    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    # wsgiref's WSGIRequestHandler runs ServerHandler(multithread=False), and SimpleHandler's
    # multiprocess defaults to False; configure ours the same so that the flags are compared.
    config = Config(clock=None, server_software=None, multithread=False, multiprocess=False)
    exchange(app, req.raw(), config=config, peer=PEER, sockname=SOCKNAME)
    assert len(seen) == 1
    return seen[0]


def normalize_wsgiref(req: Req, env: dict[str, Any]) -> dict[str, Any]:
    env = dict(env)
    # Exclusion 2: objects that are necessarily different (streams, wrapper class); presence of
    # wsgi.file_wrapper is checked separately.
    for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        env.pop(key, None)
    # Exclusion 3: SERVER_SOFTWARE names the server; GATEWAY_INTERFACE and REMOTE_HOST are CGI
    # keys PEP 3333 does not require (wsgiref sets REMOTE_HOST to "", we to the client's address
    # as RFC 3875 §4.1.9 says when no lookup is done).
    for key in ("SERVER_SOFTWARE", "GATEWAY_INTERFACE", "REMOTE_HOST"):
        env.pop(key, None)
    names = [n.lower() for n, _ in req.headers]
    # Exclusion 4 (wsgiref defect): CONTENT_LENGTH is "" when absent (from base_environ) and
    # CONTENT_TYPE defaults to "text/plain" (email.message.get_content_type) when absent.
    # RFC 3875 / PEP 3333 allow these keys to be absent; we omit them.
    if "content-length" not in names:
        assert env.pop("CONTENT_LENGTH") == ""
    if "content-type" not in names:
        assert env.pop("CONTENT_TYPE") == "text/plain"
    # Exclusion 5 (wsgiref defect): field names containing "_" are kept (and would collide with
    # their "-" twins); we drop them, as gunicorn/nginx do, to prevent header spoofing.
    for name, _ in req.headers:
        if "_" in name:
            env.pop("HTTP_" + name.upper(), None)
    # Exclusion 6 (wsgiref defect): repeated fields are joined with "," (no space); we join them
    # with ", " (RFC 9110 section 5.3) and Cookie with "; " (RFC 6265 section 5.4).
    for name in {n for n in names if names.count(n) > 1}:
        values = [v.strip() for n, v in req.headers if n.lower() == name]
        key = "HTTP_" + name.upper().replace("-", "_")
        assert env[key] == ",".join(values)
        env[key] = ("; " if name == "cookie" else ", ").join(values)
    return env


def normalize_ours(env: dict[str, Any]) -> dict[str, Any]:
    env = dict(env)
    for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        env.pop(key)
    for key in ("SERVER_SOFTWARE", "GATEWAY_INTERFACE", "REMOTE_HOST"):
        env.pop(key, None)
    # Exclusion 7: keys wsgiref does not have at all: REQUEST_URI/RAW_URI (the raw target, as in
    # gunicorn/uWSGI), REMOTE_PORT (RFC 3875 section 4.1.8's sibling, common practice) and
    # wsgi.input_terminated (the de-facto PEP 3333 extension).
    assert env.pop("REQUEST_URI") == env.pop("RAW_URI")
    assert env.pop("REMOTE_PORT") == str(PEER[1])
    assert env.pop("wsgi.input_terminated") is True
    return env


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.id)
def test_environ_matches_wsgiref(req: Req, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = wsgiref_environ(req, monkeypatch)
    ours = our_environ(req)
    assert "wsgi.file_wrapper" in ref
    assert "wsgi.file_wrapper" in ours
    assert ours["REQUEST_URI"] == req.target
    ref_n = normalize_wsgiref(req, ref)
    ours_n = normalize_ours(ours)
    # SERVER_PROTOCOL is what the client sent, in both.
    assert ours_n["SERVER_PROTOCOL"] == req.version
    for key in sorted(set(ref_n) | set(ours_n)):
        assert key in ours_n, f"missing in ours: {key}={ref_n[key]!r}"
        assert key in ref_n, f"extra in ours: {key}={ours_n[key]!r}"
        assert ours_n[key] == ref_n[key], f"{key}: ours {ours_n[key]!r} != wsgiref {ref_n[key]!r}"
    assert len(REQUESTS) >= 15


def test_wsgiref_stand_in_is_faithful(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: wsgiref really ran and saw our peer."""
    env = wsgiref_environ(REQUESTS[0], monkeypatch)
    assert env["SERVER_SOFTWARE"].startswith("WSGIServer/")
    assert env["REMOTE_ADDR"] == PEER[0]
    assert env["wsgi.version"] == (1, 0)
