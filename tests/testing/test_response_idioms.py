"""The Response as requests and werkzeug users read it: a case-insensitive header mapping with every
repeated value reachable, ``ok``, ``raise_for_status()``, ``iter_content()``, ``iter_lines()``,
``url`` and ``elapsed``; compared with what requests (over a live server) and Flask's test client
give for the same app."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from wsgidrivers.testing import Client, Headers, HTTPError

from .echo_apps import flask_echo, plain_echo

APP_FIELDS = ("content-type", "set-cookie", "x-twice")


def test_headers_work_with_dict_keys_items_and_in(echo_app: Any) -> None:
    r = Client(echo_app).get("/cookies")
    assert {k: v for k, v in dict(r.headers).items() if k.lower() in APP_FIELDS} == {
        "Content-Type": "text/plain",
        "Set-Cookie": "a=1; Path=/, b=2; Path=/; HttpOnly",
        "X-Twice": "one, two",
    }
    assert "set-cookie" in r.headers
    assert "SET-COOKIE" in r.headers.keys()  # noqa: SIM118  (requests users write it so)
    assert "x-missing" not in r.headers
    assert r.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    assert r.headers.getlist("set-cookie") == r.headers.get_all("Set-Cookie")
    assert [(k, v) for k, v in r.headers.items() if k.lower() == "x-twice"] == [
        ("X-Twice", "one"), ("x-twice", "two")]
    assert len(r.headers) == len(dict(r.headers)) == len(list(r.headers.keys()))
    assert r.cookies == {"a": "1", "b": "2"}


def test_headers_match_requests_over_a_live_server(live_server: Any) -> None:
    requests = pytest.importorskip("requests")
    server = live_server(plain_echo)
    theirs = requests.get(server.url + "/cookies", timeout=10)
    ours = Client(plain_echo, base_url=server.url).get("/cookies")
    wanted = {k: v for k, v in dict(theirs.headers).items() if k.lower() in APP_FIELDS}
    assert {k: v for k, v in dict(ours.headers).items() if k.lower() in APP_FIELDS} == wanted
    for name in ("Set-Cookie", "set-cookie", "X-TWICE"):
        assert ours.headers[name] == theirs.headers[name]
        assert (name in ours.headers) == (name in theirs.headers)
    assert ours.headers.getlist("Set-Cookie") == theirs.raw.headers.getlist("Set-Cookie")


def test_headers_match_werkzeugs_for_repeated_fields() -> None:
    pytest.importorskip("flask")
    app = flask_echo()
    theirs = app.test_client().get("/cookies").headers
    ours = Client(app).get("/cookies").headers
    assert ours.getlist("Set-Cookie") == theirs.getlist("Set-Cookie")
    assert [(k, v) for k, v in ours.items() if k.lower() in APP_FIELDS] == [
        (k, v) for k, v in theirs.items() if k.lower() in APP_FIELDS]
    assert [v for k, v in ours.items() if k.lower() == "x-twice"] == theirs.getlist("X-Twice")


def test_headers_can_be_changed_as_a_mapping() -> None:
    headers = Headers([("A", "1"), ("b", "2"), ("a", "3")])
    headers["a"] = "4"
    assert headers.items() == [("a", "4"), ("b", "2")]
    headers.add("B", "5")
    assert headers["b"] == "2, 5"
    del headers["B"]
    assert "b" not in headers
    with pytest.raises(KeyError):
        del headers["b"]
    headers.update({"C": "6"})
    assert dict(headers) == {"a": "4", "C": "6"}
    assert headers.pop("c") == "6"
    assert headers.copy() == {"A": "4"}


def test_ok_and_raise_for_status(echo_app: Any) -> None:
    client = Client(echo_app)
    assert client.get("/").ok
    assert client.get("/redirect").ok  # a 3xx is ok, as in requests
    client.get("/").raise_for_status()
    for code, kind in ((404, "Client"), (503, "Server")):
        r = client.get(f"/status/{code}")
        assert not r.ok
        with pytest.raises(HTTPError) as info:
            r.raise_for_status()
        assert info.value.response is r
        assert str(info.value) == f"{code} {kind} Error: Custom Reason for url: http://localhost/status/{code}"


def test_raise_for_status_says_what_requests_says(live_server: Any) -> None:
    requests = pytest.importorskip("requests")
    server = live_server(plain_echo)
    client = Client(plain_echo, base_url=server.url)
    for path in ("/status/404", "/status/500", "/status/418?x=1"):
        theirs = requests.get(server.url + path, timeout=10)
        ours = client.get(path)
        assert ours.ok == theirs.ok
        assert ours.url == theirs.url
        with pytest.raises(requests.HTTPError) as their_error:
            theirs.raise_for_status()
        with pytest.raises(HTTPError) as our_error:
            ours.raise_for_status()
        assert str(our_error.value) == str(their_error.value)


@pytest.mark.parametrize("options", [
    {}, {"chunk_size": 7}, {"chunk_size": 1}, {"chunk_size": None}, {"chunk_size": 5, "decode_unicode": True},
])
def test_iter_content_as_requests(live_server: Any, options: dict[str, Any]) -> None:
    requests = pytest.importorskip("requests")
    server = live_server(plain_echo)
    theirs = requests.get(server.url + "/lines", timeout=10)
    ours = Client(plain_echo).get("/lines")
    assert list(ours.iter_content(**options)) == list(theirs.iter_content(**options))


@pytest.mark.parametrize("options", [
    {}, {"delimiter": b"\n"}, {"delimiter": b"e"}, {"decode_unicode": True},
    {"decode_unicode": True, "delimiter": "\n"}, {"chunk_size": 1000},
])
def test_iter_lines_as_requests(live_server: Any, options: dict[str, Any]) -> None:
    requests = pytest.importorskip("requests")
    server = live_server(plain_echo)
    theirs = requests.get(server.url + "/lines", timeout=10)
    ours = Client(plain_echo).get("/lines")
    assert list(ours.iter_lines(**options)) == list(theirs.iter_lines(**options))


def test_iter_content_and_lines_in_both_apps(echo_app: Any) -> None:
    r = Client(echo_app).get("/lines")
    assert b"".join(r.iter_content(3)) == r.content
    assert list(r.iter_lines()) == [b"first", b"second", b"third", "fourth é".encode(), b"", b"last"]
    assert "".join(r.iter_content(4, decode_unicode=True)) == r.text
    empty = Client(echo_app).head("/lines")
    assert list(empty.iter_lines()) == []
    assert list(empty.iter_content()) == []
    with pytest.raises(ValueError, match="chunk_size"):
        next(r.iter_content(0))
    with pytest.raises(TypeError, match="chunk_size"):
        next(r.iter_content("8"))  # type: ignore[arg-type]


def test_url_is_the_url_asked_for_with_params_and_after_redirects(echo_app: Any) -> None:
    client = Client(echo_app)
    assert client.get("/a b", params={"q": "x y"}).url == "http://localhost/a%20b?q=x+y"
    r = client.get("/redirect", follow_redirects=True)
    assert r.url == "http://localhost/"
    assert r.history[0].url == "http://localhost/redirect"
    assert Client(echo_app, base_url="https://example.com:8443").get("/x").url == (
        "https://example.com:8443/x")


def test_elapsed_covers_the_apps_time() -> None:
    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        time.sleep(0.05)
        start_response("200 OK", [])
        return [b""]

    client = Client(slow)
    r = client.get("/")
    assert isinstance(r.elapsed, timedelta)
    assert r.elapsed >= timedelta(seconds=0.05)
    first, second = client.pipeline(client.build_request("GET", "/1"), client.build_request("GET", "/2"))
    assert timedelta(seconds=0.05) <= first.elapsed < second.elapsed  # each from the one write
    assert second.elapsed >= timedelta(seconds=0.1)
