"""Testing a WSGI app with wsgidrivers.testing: the in-memory client, the pytest fixtures and the
hypothesis strategies, on one small app. docs/testing.md quotes this file; the test suite runs it.

    python -m pytest examples/testing_recipe.py -q
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import urllib.request
from collections.abc import Iterable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
from hypothesis import given, settings

from wsgidrivers.testing import Client, HTTPError
from wsgidrivers.testing.strategies import check_hostile, check_valid, hostile_requests, requests


def uploaded(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The file names of a multipart/form-data body, per field (parsed by the standard library)."""
    head = f"Content-Type: {environ['CONTENT_TYPE']}\r\n\r\n".encode()
    names: dict[str, list[str]] = {}
    for part in BytesParser(policy=HTTP).parsebytes(head + environ["wsgi.input"].read()).iter_parts():
        names.setdefault(part.get_param("name", header="content-disposition"), []).append(
            part.get_filename())
    return names


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """``/login?name=X`` remembers X in a cookie and redirects to ``/``, which greets by name;
    ``POST /echo`` answers the JSON it got; ``POST /upload`` the names of the files it got;
    ``/whoami`` the Basic user; ``/boom`` fails; any other path is a 404."""
    path = environ["PATH_INFO"]
    if path == "/upload":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(uploaded(environ)).encode()]
    if path == "/whoami":
        scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        user = base64.b64decode(credentials).decode().partition(":")[0] if scheme == "Basic" else "anonymous"
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [user.encode()]
    if path not in ("/", "/login", "/echo", "/boom"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such page"]
    if path == "/login":
        name = environ["QUERY_STRING"].partition("name=")[2] or "stranger"
        start_response("303 See Other", [("Location", "/"), ("Set-Cookie", f"name={name}; Path=/")])
        return [b""]
    if path == "/echo":
        data = json.loads(environ["wsgi.input"].read() or b"null")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"got": data}).encode()]
    if path == "/boom":
        raise RuntimeError("boom")
    cookies = dict(c.strip().partition("=")[::2] for c in environ.get("HTTP_COOKIE", "").split(";") if c)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"Hello, {cookies.get('name', 'stranger')}!".encode()]


# -- The in-memory client ------------------------------------------------------------------------

def test_login_sets_a_cookie_and_redirects() -> None:
    client = Client(app)
    response = client.get("/login", params={"name": "Ada"}, follow_redirects=True)
    assert response.status_code == 200
    assert response.text == "Hello, Ada!"
    assert [r.status_code for r in response.history] == [303]
    assert client.cookies["name"] == "Ada"            # the jar keeps it for the next requests
    assert client.get("/").text == "Hello, Ada!"


def test_json_chunked_and_the_wire() -> None:
    client = Client(app)
    response = client.post("/echo", json={"n": 1})
    assert response.json() == {"got": {"n": 1}}
    assert response.environ is not None                      # the environ the app saw
    assert response.environ["CONTENT_LENGTH"] == "8"
    response = client.post("/echo", data=[b'{"n":', b" 2}"], chunked=True)   # two chunks
    assert response.json() == {"got": {"n": 2}}
    assert response.raw.startswith(b"HTTP/1.1 200 OK\r\n")   # every byte the server wrote
    assert response.keep_alive                               # still the same connection


def test_pipelining_and_raw_bytes() -> None:
    client = Client(app)
    first, second = client.pipeline(client.build_request("GET", "/"),
                                    client.build_request("POST", "/echo", json=[1, 2]))
    assert first.text == "Hello, stranger!"
    assert second.json() == {"got": [1, 2]}
    out = client.raw(b"GET / HTTP/1.1\r\n\r\n")                  # no Host: the core says 400
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_app_exceptions_surface() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        Client(app).get("/boom")
    assert Client(app, raise_app_exceptions=False).get("/boom").status_code == 500


# -- What Flask's test client and requests users write works as they expect ----------------------------

def test_uploads_as_flask_and_requests_write_them() -> None:
    client = Client(app)
    werkzeug_style = {"doc": (io.BytesIO(b"%PDF-1.7"), "report.pdf")}          # Flask's test client
    assert client.post("/upload", data=werkzeug_style).json() == {"doc": ["report.pdf"]}
    requests_style = [("doc", ("a.txt", b"1")), ("doc", ("b.txt", b"2"))]    # requests: a field twice
    assert client.post("/upload", files=requests_style).json() == {"doc": ["a.txt", "b.txt"]}
    with pytest.raises(TypeError, match="field 'doc'"):     # never an object's repr() on the wire
        client.post("/upload", data={"doc": object()})


def test_auth_headers_and_status_checks() -> None:
    client = Client(app)
    response = client.get("/whoami", auth=("ada", "s3cret"))      # Basic, as requests sends it
    assert response.text == "ada"
    assert response.ok
    assert dict(response.headers)["Content-Type"] == "text/plain; charset=utf-8"
    assert "content-length" in response.headers                 # names compare case-insensitively
    assert list(response.iter_content(2)) == [b"ad", b"a"]
    missing = client.get("/nowhere")
    with pytest.raises(HTTPError) as error:                     # requests' raise_for_status()
        missing.raise_for_status()
    assert error.value.response.status_code == 404


def test_the_app_sees_the_scheme_and_the_client_address() -> None:
    client = Client(app, base_url="https://shop.example")        # as if over TLS, on port 443
    response = client.get("/", environ_base={"REMOTE_ADDR": "203.0.113.9"})   # as in Flask's client
    assert response.environ is not None
    assert response.environ["wsgi.url_scheme"] == "https"
    assert response.environ["SERVER_PORT"] == "443"
    assert response.environ["REMOTE_ADDR"] == "203.0.113.9"     # the connection's peer, via the core


# -- The pytest fixtures (no conftest needed: the plugin comes with the package) ---------------------

def test_with_the_client_fixture(wsgi_client: Any) -> None:
    assert wsgi_client(app).get("/").text == "Hello, stranger!"


def test_with_a_live_server(live_server: Any) -> None:
    server = live_server(app)               # a thread per connection, on 127.0.0.1:<free port>
    with urllib.request.urlopen(server.url + "/login?name=Bo") as page:   # ready: no sleep
        assert page.status == 200           # urllib followed the redirect (without the cookie)


@pytest.mark.parametrize("driver", ["threading", "simple", "asyncio"])
def test_every_driver(live_server: Any, driver: str) -> None:
    server = live_server(app, driver=driver, keep_alive_timeout=60.0)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"Hello, stranger!"
    # The connection stays open: the teardown ends it at once (no 60 s wait).


# -- Hypothesis: your app behind the real parser -----------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(requests())
def test_every_valid_request_reaches_the_app_intact(request: Any) -> None:
    check_valid(app, request)


@settings(max_examples=50, deadline=None)
@given(hostile_requests())
def test_no_hostile_request_reaches_the_app(request: Any) -> None:
    check_hostile(app, request)
