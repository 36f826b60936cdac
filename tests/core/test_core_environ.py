"""Raw request bytes -> PEP 3333 / RFC 3875 environ, through Connection and the memory driver."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from core_support import PEER, SOCKNAME, run_connection

ABSENT = object()

# Keys a conforming environ may hold besides HTTP_* and dotted extension keys.
CGI_KEYS = {
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_HOST",
    "REQUEST_URI",
    "RAW_URI",
    "GATEWAY_INTERFACE",
    "SERVER_SOFTWARE",
}


@dataclass
class EnvCase:
    id: str
    raw: bytes
    expect: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    peer: tuple[Any, ...] = PEER
    sockname: tuple[Any, ...] = SOCKNAME


def base(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_TYPE": ABSENT,
        "CONTENT_LENGTH": ABSENT,
        "SERVER_NAME": SOCKNAME[0],
        "SERVER_PORT": str(SOCKNAME[1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": PEER[0],
        "REMOTE_PORT": str(PEER[1]),
        "REMOTE_HOST": PEER[0],  # RFC 3875 §4.1.9: the address, no lookup
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    d.update(over)
    return d


CASES = [
    EnvCase(
        "simple-get",
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        base(HTTP_HOST="example.com", REQUEST_URI="/", RAW_URI="/"),
    ),
    EnvCase(
        "path-and-query",
        b"GET /a/b?x=1&y=%20z HTTP/1.1\r\nHost: h\r\n\r\n",
        base(
            PATH_INFO="/a/b",
            QUERY_STRING="x=1&y=%20z",
            HTTP_HOST="h",
            REQUEST_URI="/a/b?x=1&y=%20z",
            RAW_URI="/a/b?x=1&y=%20z",
        ),
    ),
    EnvCase(
        "percent-decoded-latin1",
        b"GET /caf%C3%A9/%2Fx%20y?q=%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n",
        base(
            # PEP 3333: PATH_INFO is the decoded bytes, each byte one character ("bytes as str").
            PATH_INFO="/caf\u00c3\u00a9//x y",
            QUERY_STRING="q=%C3%A9",
            HTTP_HOST="h",
            REQUEST_URI="/caf%C3%A9/%2Fx%20y?q=%C3%A9",
            RAW_URI="/caf%C3%A9/%2Fx%20y?q=%C3%A9",
        ),
    ),
    EnvCase(
        "empty-query-after-question-mark",
        b"GET /p? HTTP/1.1\r\nHost: h\r\n\r\n",
        base(PATH_INFO="/p", QUERY_STRING="", HTTP_HOST="h", REQUEST_URI="/p?"),
    ),
    EnvCase(
        "second-question-mark-stays-in-query",
        b"GET /p?a=1?b=2 HTTP/1.1\r\nHost: h\r\n\r\n",
        base(PATH_INFO="/p", QUERY_STRING="a=1?b=2", HTTP_HOST="h"),
    ),
    EnvCase(
        "post-with-content-headers",
        b"POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        base(
            REQUEST_METHOD="POST",
            PATH_INFO="/submit",
            HTTP_HOST="h",
            CONTENT_TYPE="application/json",
            CONTENT_LENGTH="2",
            HTTP_CONTENT_TYPE=ABSENT,
            HTTP_CONTENT_LENGTH=ABSENT,
        ),
    ),
    EnvCase(
        "chunked-has-no-content-length",
        b"POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        base(
            REQUEST_METHOD="POST",
            PATH_INFO="/u",
            HTTP_HOST="h",
            CONTENT_LENGTH=ABSENT,
            HTTP_TRANSFER_ENCODING="chunked",
        ),
    ),
    EnvCase(
        "http10",
        b"GET /old HTTP/1.0\r\n\r\n",
        base(PATH_INFO="/old", SERVER_PROTOCOL="HTTP/1.0", HTTP_HOST=ABSENT),
    ),
    EnvCase(
        "repeated-headers-joined",
        b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a/b\r\nX-Multi: one\r\nACCEPT: c/d\r\n"
        b"x-multi:   two  \r\n\r\n",
        base(HTTP_HOST="h", HTTP_ACCEPT="a/b, c/d", HTTP_X_MULTI="one, two"),
    ),
    EnvCase(
        "cookies-joined-with-semicolon",
        b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2; c=3\r\n\r\n",
        base(HTTP_HOST="h", HTTP_COOKIE="a=1; b=2; c=3"),
    ),
    EnvCase(
        "underscore-names-dropped",
        b"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: evil\r\nX-Forwarded-For: good\r\n\r\n",
        base(HTTP_HOST="h", HTTP_X_FORWARDED_FOR="good"),
    ),
    EnvCase(
        "underscore-only-name-dropped",
        b"GET / HTTP/1.1\r\nHost: h\r\nX_Secret: evil\r\n\r\n",
        base(HTTP_HOST="h", HTTP_X_SECRET=ABSENT),
    ),
    EnvCase(
        "whitespace-stripped-obs-text-kept",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \t v a l \t\r\nX-B: caf\xc3\xa9\r\n\r\n",
        base(HTTP_HOST="h", HTTP_X_A="v a l", HTTP_X_B="caf\u00c3\u00a9"),
    ),
    EnvCase(
        "empty-header-value",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n",
        base(HTTP_HOST="h", HTTP_X_EMPTY=""),
    ),
    EnvCase(
        "absolute-form",
        b"GET http://example.org:8000/p/q?z=9 HTTP/1.1\r\nHost: ignored.example\r\n\r\n",
        base(
            PATH_INFO="/p/q",
            QUERY_STRING="z=9",
            # RFC 9112 section 3.2.2: the authority of an absolute-form target replaces Host.
            HTTP_HOST="example.org:8000",
            REQUEST_URI="http://example.org:8000/p/q?z=9",
            RAW_URI="http://example.org:8000/p/q?z=9",
        ),
    ),
    EnvCase(
        "options-asterisk",
        b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        base(REQUEST_METHOD="OPTIONS", PATH_INFO="*", HTTP_HOST="h", REQUEST_URI="*"),
    ),
    EnvCase(
        "custom-method",
        b"PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n",
        base(REQUEST_METHOD="PROPFIND", PATH_INFO="/dav", HTTP_HOST="h"),
    ),
    EnvCase(
        "script-name-stripped",
        b"GET /app/x/y?k=v HTTP/1.1\r\nHost: h\r\n\r\n",
        base(
            SCRIPT_NAME="/app",
            PATH_INFO="/x/y",
            QUERY_STRING="k=v",
            HTTP_HOST="h",
            REQUEST_URI="/app/x/y?k=v",
        ),
        config={"script_name": "/app"},
    ),
    EnvCase(
        "script-name-exact",
        b"GET /app HTTP/1.1\r\nHost: h\r\n\r\n",
        base(SCRIPT_NAME="/app", PATH_INFO="", HTTP_HOST="h"),
        config={"script_name": "/app"},
    ),
    # A path outside the mount ("/other", "/application") never reaches the app: test_core_mount.py.
    EnvCase(
        "flags-and-scheme-from-config",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        base(
            HTTP_HOST="h",
            **{
                "wsgi.url_scheme": "https",
                "wsgi.multithread": True,
                "wsgi.multiprocess": True,
                "wsgi.run_once": True,
            },
        ),
        config={"url_scheme": "https", "multithread": True, "multiprocess": True, "run_once": True},
    ),
    EnvCase(
        "ipv6-addresses-extra-items-ignored",
        b"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
        base(
            HTTP_HOST="[::1]:8443",
            SERVER_NAME="::1",
            SERVER_PORT="8443",
            REMOTE_ADDR="2001:db8::5",
            REMOTE_HOST="2001:db8::5",
            REMOTE_PORT="40000",
        ),
        peer=("2001:db8::5", 40000, 0, 0),
        sockname=("::1", 8443, 0, 0),
    ),
]


def check_environ(environ: dict[str, Any], case: EnvCase) -> None:
    for key, want in case.expect.items():
        if want is ABSENT:
            assert key not in environ, f"{key} should be absent, got {environ.get(key)!r}"
        else:
            assert key in environ, f"{key} missing"
            assert environ[key] == want, f"{key}: {environ[key]!r} != {want!r}"
            assert type(environ[key]) is type(want), key
    for key, value in environ.items():
        if "." in key:
            continue
        # PEP 3333: every CGI key is a native str.
        assert type(value) is str, (key, value)
        assert key in CGI_KEYS or key.startswith("HTTP_"), f"unexpected environ key {key!r}"
    assert "wsgi.file_wrapper" in environ
    assert callable(environ["wsgi.file_wrapper"])
    # RFC 3875 / PEP 3333: Content-Type and Content-Length never appear as HTTP_* keys.
    assert "HTTP_CONTENT_TYPE" not in environ
    assert "HTTP_CONTENT_LENGTH" not in environ


@pytest.fixture
def leak_canary(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WSGICORE_LEAK_CANARY", "leaked")
    monkeypatch.setenv("HTTP_LEAK_CANARY", "leaked")
    monkeypatch.setenv("SERVER_SOFTWARE_LEAK", "leaked")
    return "WSGICORE_LEAK_CANARY"


def assert_no_os_environ(environ: dict[str, Any]) -> None:
    for key in ("WSGICORE_LEAK_CANARY", "HTTP_LEAK_CANARY", "SERVER_SOFTWARE_LEAK"):
        assert key not in environ
    for key in os.environ:
        if key in CGI_KEYS:
            continue
        assert key not in environ, f"os.environ key {key!r} leaked into the environ"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_environ_via_connection(case: EnvCase, leak_canary: str) -> None:
    from wsgicore import Config, Connection, RequestReceived

    conn = Connection(
        Config(clock=None, server_software=None, **case.config),
        peer=case.peer,
        sockname=case.sockname,
    )
    conn.receive_data(case.raw)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    environ = event.environ
    assert "wsgi.input" not in environ
    assert "wsgi.errors" not in environ
    check_environ(environ, case)
    assert_no_os_environ(environ)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_environ_via_memory_exchange(case: EnvCase, leak_canary: str) -> None:
    from wsgicore import Config
    from wsgidrivers.memory import exchange

    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [("Content-Length", "0")])
        return []

    errors = io.StringIO()
    out = exchange(
        app,
        case.raw,
        config=Config(clock=None, server_software=None, **case.config),
        peer=case.peer,
        sockname=case.sockname,
        errors=errors,
    )
    assert out.startswith(b"HTTP/1.1 200 ")
    assert len(seen) == 1
    environ = seen[0]
    check_environ(environ, case)
    assert_no_os_environ(environ)
    assert environ["wsgi.errors"] is errors
    assert hasattr(environ["wsgi.input"], "read")


def test_environ_is_fresh_dict_per_request() -> None:
    """Each RequestReceived carries its own dict: the app may mutate it freely."""
    seen: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(environ)
        copies.append(dict(environ))
        environ["HTTP_HOST"] = "mutated"
        environ["my.key"] = 1
        start_response("200 OK", [("Content-Length", "0")])
        return []

    run = run_connection(
        app, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n"
    )
    assert [e["PATH_INFO"] for e in seen] == ["/1", "/2"]
    assert seen[0] is not seen[1]
    # The second request's environ is untouched by what the app did to the first one.
    assert copies[1]["HTTP_HOST"] == "b"
    assert "my.key" not in copies[1]
    assert len(run.infos) == 2


def test_request_uri_is_raw_target_and_headers_keep_wire_bytes() -> None:
    from wsgicore import Connection, RequestReceived

    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(b"GET /%7Euser/a%2fb;p?x=%41 HTTP/1.1\r\nHost: h\r\n\r\n")
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    env = event.environ
    assert env["REQUEST_URI"] == "/%7Euser/a%2fb;p?x=%41"
    assert env["RAW_URI"] == "/%7Euser/a%2fb;p?x=%41"
    assert env["PATH_INFO"] == "/~user/a/b;p"
    assert env["QUERY_STRING"] == "x=%41"


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n",
        b"GET / HTTP/1.1\r\nHost: h",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r",
        b"GET / HTT",
    ],
    ids=repr,
)
def test_eof_inside_head_closes_silently(data: bytes) -> None:
    """EOF before the head is complete: close without a response, and never loop on NEED_DATA."""
    from wsgicore import NEED_DATA, Connection, ConnectionClosed, RemoteProtocolError

    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(data)
    conn.receive_data(b"")
    outcome: object = None
    for _ in range(10):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            outcome = (exc.status_code, exc.response)
            break
        if isinstance(event, ConnectionClosed):
            outcome = event
            break
        assert event is NEED_DATA
    assert outcome is not None, "next_event() kept returning NEED_DATA after EOF"
    if not isinstance(outcome, ConnectionClosed):
        assert outcome == (None, b"")
    assert conn.data_to_send() == b""
