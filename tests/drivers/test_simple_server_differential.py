"""The same apps served by ``wsgiref.simple_server`` and by ``wsgidrivers.simple_server``, hit with
``http.client``: same status, body, app-set headers and environ, except the documented differences
(README, "differences from wsgiref.simple_server"; mirrored in ENVIRON_DIFFERENCES below)."""

from __future__ import annotations

import json
import os
import sys
import wsgiref.simple_server
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest

from support.servers import serve_in_thread, serving
from wsgidrivers import simple_server

from .helpers import hello_app, request


class QuietWsgirefHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[str, int]]]:
    """Both servers, each with a dispatcher app so one server per kind serves every case."""
    reference = wsgiref.simple_server.make_server("127.0.0.1", 0, dispatch,
                                                  handler_class=QuietWsgirefHandler)
    with serving(reference) as ref_address, \
            serve_in_thread(dispatch, handler_class=QuietHandler) as our_address:
        yield {"wsgiref": ref_address, "ours": our_address}


# -- the apps ------------------------------------------------------------------------------------

def write_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("X-Written", "yes")])
    write(b"written ")
    write(b"twice ")
    return [b"then returned"]


def generator_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Gen", "1")])
    for n in range(5):
        yield b"chunk %d;" % n


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body[::-1]]


def environ_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    plain = {key: value for key, value in environ.items()
             if isinstance(value, (str, bool, int, tuple))}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(plain, sort_keys=True).encode()]


def raising_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise RuntimeError("deliberate (differential test)")


def exc_info_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("after start_response, before the body")
    except ValueError:
        start_response("503 Try Later", [("Content-Type", "text/plain"), ("Retry-After", "1")],
                       sys.exc_info())
    return [b"replaced"]


APPS = {
    "/demo": simple_server.demo_app,
    "/hello": hello_app,
    "/validated": validator(hello_app),
    "/write": write_app,
    "/generator": generator_app,
    "/echo": echo_app,
    "/environ": environ_app,
    "/raises": raising_app,
    "/exc_info": exc_info_app,
}


def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
    prefix = "/" + environ["PATH_INFO"].split("/")[1]
    return APPS[prefix](environ, start_response)


# -- comparisons ---------------------------------------------------------------------------------

#: Headers the server adds (or frames with): compared by presence elsewhere, not here.
SERVER_HEADERS = {"server", "date", "connection", "content-length", "transfer-encoding"}


def both(servers: dict[str, tuple[str, int]], method: str, path: str, **kw: Any
         ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return request(servers["wsgiref"], method, path, **kw), request(servers["ours"], method, path, **kw)


def app_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in headers if name.lower() not in SERVER_HEADERS]


@pytest.mark.parametrize(("method", "path", "kw"), [
    ("GET", "/hello", {}),
    ("GET", "/validated", {}),
    ("GET", "/write", {}),
    ("GET", "/generator", {}),
    ("HEAD", "/hello", {}),
    ("HEAD", "/generator", {}),
    ("POST", "/echo", {"body": b"some body \x00\xff bytes",
                       "headers": {"Content-Type": "application/x-test"}}),
    ("PUT", "/echo", {"body": b"x" * 200000}),
    ("GET", "/exc_info", {}),
])
def test_same_response(servers: dict[str, tuple[str, int]], method: str, path: str,
                       kw: dict[str, Any]) -> None:
    (ref_status, ref_reason, ref_headers, ref_body), (status, reason, headers, body) = both(
        servers, method, path, **kw)
    assert (status, reason) == (ref_status, ref_reason)
    assert body == ref_body
    assert app_headers(headers) == app_headers(ref_headers)


def test_app_exception(servers: dict[str, tuple[str, int]]) -> None:
    (ref_status, _, _, _), (status, _, headers, body) = both(servers, "GET", "/raises")
    assert status == ref_status == 500
    # Documented difference: the core's 500 body text (wsgiref: "A server error occurred...").
    assert body
    assert ("Connection", "close") in headers


def test_demo_app(servers: dict[str, tuple[str, int]]) -> None:
    (ref_status, _, ref_headers, ref_body), (status, _, headers, body) = both(
        servers, "GET", "/demo/x?y=1")
    assert status == ref_status == 200
    assert app_headers(headers) == app_headers(ref_headers)
    assert body.startswith(b"Hello world!\n\n")
    assert ref_body.startswith(b"Hello world!\n\n")
    for line in (b"PATH_INFO = '/demo/x'", b"QUERY_STRING = 'y=1'", b"REQUEST_METHOD = 'GET'"):
        assert line in body.splitlines()
        assert line in ref_body.splitlines()


#: key -> (present in wsgiref's environ, present in ours, why). Keep in step with the README table.
ENVIRON_DIFFERENCES: dict[str, tuple[bool, bool, str]] = {
    "SERVER_NAME": (True, True, "ours: the connection's local address; wsgiref: socket.getfqdn() "
                    "of the bound host, a DNS lookup at start-up"),
    "SERVER_SOFTWARE": (True, True, "each names itself (Config.server_software)"),
    "REMOTE_HOST": (True, True, "wsgiref sets '' (no reverse lookup); ours the client's address, as "
                    "RFC 3875 §4.1.9 says when no lookup is done (waitress likewise)"),
    "CONTENT_TYPE": (True, False, "wsgiref invents 'text/plain' when the request has none"),
    "REQUEST_URI": (False, True, "the raw request target, as gunicorn/uWSGI provide"),
    "RAW_URI": (False, True, "same as REQUEST_URI (gunicorn's name)"),
    "REMOTE_PORT": (False, True, "the client's port (CGI convention; wsgiref omits it)"),
    "wsgi.input_terminated": (False, True, "wsgi.input returns b'' at the end of the body"),
}


@pytest.mark.parametrize("path", [
    "/environ",
    "/environ/a%20b/c%2Fd/%C3%A9?x=%41&y=1+2&z=%2F",
    "/environ/;params?&&=",
])
def test_same_environ(servers: dict[str, tuple[str, int]], path: str) -> None:
    headers = {"X-Custom": "value", "Accept": "text/plain", "Cookie": "a=1"}
    ref, ours = (json.loads(response[3]) for response in both(servers, "GET", path,
                                                               headers=headers))
    # wsgiref copies os.environ into every request; we do not (it leaks the server's environment).
    for key in list(ref):
        if key in os.environ and key not in ours:
            del ref[key]
    for key, (in_ref, in_ours, why) in ENVIRON_DIFFERENCES.items():
        assert (key in ref, key in ours) == (in_ref, in_ours), (key, why)
        ref.pop(key, None)
        ours.pop(key, None)
    for key in ("SERVER_PORT", "HTTP_HOST", "REMOTE_PORT"):  # two servers, two ports
        ref.pop(key, None)
        ours.pop(key, None)
    # No body: wsgiref sets CONTENT_LENGTH to "", we omit it (PEP 3333: "may be empty or absent").
    assert ref.pop("CONTENT_LENGTH") == ""
    assert "CONTENT_LENGTH" not in ours
    assert ours == ref


def test_same_environ_with_body_and_repeated_headers(servers: dict[str, tuple[str, int]]) -> None:
    sent = []
    for address in (servers["wsgiref"], servers["ours"]):
        import http.client

        conn = http.client.HTTPConnection(*address, timeout=10)
        conn.putrequest("POST", "/environ?q")
        conn.putheader("X-Dup", "one")
        conn.putheader("X-Dup", "two")
        conn.putheader("Content-Type", "text/csv")
        conn.putheader("Content-Length", "3")
        conn.endheaders(b"a,b")
        sent.append(json.loads(conn.getresponse().read()))
        conn.close()
    ref, ours = sent
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH", "REQUEST_METHOD", "QUERY_STRING"):
        assert ours[key] == ref[key], key
    # Repeated fields: wsgiref joins with ",", the core with Config.field_separator (", " by
    # default; RFC 9110 §5.3 allows both).
    assert ours["HTTP_X_DUP"] == "one, two"
    assert ref["HTTP_X_DUP"] == "one,two"
