"""The in-memory Client: request bytes as a real client sends them, responses parsed strictly."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

import pytest

from wsgicore import Config
from wsgidrivers.testing import Client, MalformedResponse, TooManyRedirects, build_request


def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Answers what it received, as JSON."""
    body = environ["wsgi.input"].read()
    info = {k: v for k, v in environ.items() if isinstance(v, str)}
    info["body"] = body.decode("latin-1")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(info).encode()]


def test_get_builds_a_real_request_and_parses_the_response() -> None:
    client = Client(echo)
    response = client.get("/a b/c", params={"q": "x y", "n": [1, 2]}, headers={"X-Test": "1"})
    assert response.status_code == 200
    assert response.reason == "OK"
    assert response.request.startswith(b"GET /a%20b/c?q=x+y&n=1&n=2 HTTP/1.1\r\nHost: localhost\r\n")
    data = response.json()
    assert data["PATH_INFO"] == "/a b/c"
    assert data["QUERY_STRING"] == "q=x+y&n=1&n=2"
    assert data["HTTP_X_TEST"] == "1"
    assert response.environ is not None
    assert response.environ["REQUEST_METHOD"] == "GET"
    assert response.headers["content-type"] == "application/json"
    assert response.raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.raw.endswith(b"\r\n\r\n" + response.content)
    assert response.headers["content-length"] == str(len(response.content))
    assert json.loads(response.content) == data
    assert response.keep_alive


def test_bodies_json_form_bytes_and_content_length() -> None:
    client = Client(echo)
    r = client.post("/j", json={"a": [1, 2]})
    assert r.json()["body"] == '{"a": [1, 2]}'
    assert r.json()["CONTENT_TYPE"] == "application/json"
    assert r.json()["CONTENT_LENGTH"] == "13"
    r = client.put("/f", data={"a": "1", "b": "x y"})
    assert r.json()["body"] == "a=1&b=x+y"
    assert r.json()["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    r = client.patch("/b", data=b"\x00\xff")
    assert r.json()["body"] == "\x00\xff"
    r = client.post("/empty")
    assert r.json()["CONTENT_LENGTH"] == "0"
    assert "CONTENT_LENGTH" not in client.delete("/d").json()


CHUNKED_WIRE = b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"


def length_reader(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Reads CONTENT_LENGTH bytes only, as Django does (none: no body)."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"len": len(body)}).encode()]


def test_chunked_upload_is_sent_in_chunks_and_read_whole_first() -> None:
    # Issue 24 item 3: the client serves a chunked body as every server does by default: read whole
    # before the app runs, with a CONTENT_LENGTH; the bytes sent stay chunked.
    client = Client(echo)
    r = client.post("/c", data=[b"abc", b"", b"defg"], chunked=True)
    assert CHUNKED_WIRE in r.request
    assert r.json()["body"] == "abcdefg"
    assert r.json()["CONTENT_LENGTH"] == "7"
    assert "HTTP_TRANSFER_ENCODING" not in r.json()


@pytest.mark.parametrize("config", [None, Config(max_body_bytes=1 << 20), Config(clock=None)],
                         ids=["none", "a-limit", "no-clock"])
def test_an_app_reading_content_length_bytes_gets_a_chunked_body(config: Config | None) -> None:
    client = Client(length_reader, config=config)
    r = client.post("/c", data=[b"abc", b"defg"], chunked=True)
    assert CHUNKED_WIRE in r.request
    assert r.json() == {"len": 7}


def test_stream_chunked_body_hands_the_app_the_stream() -> None:
    client = Client(echo, stream_chunked_body=True)
    r = client.post("/c", data=[b"abc", b"", b"defg"], chunked=True)
    assert CHUNKED_WIRE in r.request
    assert r.json()["body"] == "abcdefg"
    assert "CONTENT_LENGTH" not in r.json()
    assert r.json()["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert r.environ["wsgi.input_terminated"] is True  # the app reads to the end of the stream
    # An app that reads CONTENT_LENGTH bytes then gets none: why buffering is the default.
    streamed = Client(length_reader, stream_chunked_body=True).post("/c", data=[b"abc"], chunked=True)
    assert streamed.json() == {"len": 0}


def test_a_buffered_chunked_body_is_bounded() -> None:
    client = Client(length_reader, config=Config(max_buffered_body_bytes=5))
    r = client.post("/c", data=[b"abc", b"defg"], chunked=True)
    assert r.status_code == 413
    assert b"max_buffered_body_bytes" in r.content
    assert client.post("/c", data=[b"abc"], chunked=True).json()["len"] == 3


def test_stream_chunked_body_defaults_to_the_drivers_setting() -> None:
    from wsgidrivers._common.settings import driver_defaults

    assert Client(echo).stream_chunked_body is driver_defaults("memory").stream_chunked_body is False
    with pytest.raises(ValueError, match="stream_chunked_body must be a bool"):
        Client(echo, stream_chunked_body="yes")  # type: ignore[arg-type]


def test_multipart_upload_round_trips_through_cgi_free_parser() -> None:
    from email.parser import BytesParser
    from email.policy import HTTP

    client = Client(echo)
    r = client.post("/m", data={"field": "v"},
                    files={"up": ("a.txt", b"hello\r\nworld"), "raw": io.BytesIO(b"\x00\x01")})
    data = r.json()
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {data['CONTENT_TYPE']}\r\n\r\n".encode() + data["body"].encode("latin-1"))
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    assert parts["field"].get_payload(decode=True) == b"v"
    assert parts["up"].get_filename() == "a.txt"
    assert parts["up"].get_content_type() == "text/plain"
    assert parts["up"].get_payload(decode=True) == b"hello\r\nworld"
    assert parts["raw"].get_payload(decode=True) == b"\x00\x01"


def test_head_has_no_content_even_with_a_length() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        return [b"hello"]

    client = Client(app)
    r = client.head("/")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == "5"
    assert client.get("/").content == b"hello"  # the same connection, still in step


def test_keep_alive_reuses_one_connection_and_pipeline_sends_one_write() -> None:
    client = Client(echo)
    first, second = client.get("/1"), client.get("/2")
    assert first.environ is not None
    assert second.environ is not None
    assert first.environ["REMOTE_PORT"] == second.environ["REMOTE_PORT"] == "50000"
    client.close()
    third = client.get("/3")
    assert third.environ is not None
    assert third.environ["REMOTE_PORT"] == "50001"  # a new connection
    responses = client.pipeline(client.build_request("GET", "/a"),
                                client.build_request("POST", "/b", data=b"x"),
                                client.build_request("HEAD", "/c"))
    assert [r.json()["PATH_INFO"] for r in responses[:2]] == ["/a", "/b"]
    assert responses[2].content == b""
    assert responses[2].environ is not None
    assert responses[2].environ["PATH_INFO"] == "/c"
    assert all(r.keep_alive for r in responses)


def test_connection_close_opens_a_new_connection_next_time() -> None:
    client = Client(echo)
    r = client.get("/", headers={"Connection": "close"})
    assert not r.keep_alive
    assert r.headers["connection"] == "close"
    assert client.get("/").status_code == 200


def test_pipeline_stops_at_a_refused_request() -> None:
    client = Client(echo, config=Config(max_body_bytes=3))
    responses = client.pipeline(client.build_request("GET", "/ok"),
                                client.build_request("POST", "/big", data=b"toolong"),
                                client.build_request("GET", "/never"))
    assert [r.status_code for r in responses] == [200, 413]
    assert responses[1].environ is None
    assert not responses[1].keep_alive


def test_expect_100_continue_shows_the_interim_response() -> None:
    r = Client(echo).post("/", data=b"abc", headers={"Expect": "100-continue"})
    assert r.interim == (100,)
    assert r.status_code == 200
    assert r.raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")


def test_cookie_jar_keeps_paths_expiry_and_deletions() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        headers = [("Content-Type", "text/plain")]
        if path == "/set":
            headers += [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/sub"),
                        ("Set-Cookie", "c=3; Max-Age=0"), ("Set-Cookie", "s=4; Secure")]
        elif path == "/del":
            headers += [("Set-Cookie", "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")]
        start_response("200 OK", headers)
        return [environ.get("HTTP_COOKIE", "").encode()]

    client = Client(app)
    r = client.get("/set")
    assert r.cookies == {"a": "1", "b": "2", "c": "3", "s": "4"}
    assert client.cookies["a"] == "1"
    assert "c" not in client.cookies
    assert client.get("/").text == "a=1"  # b only under /sub, s only over https
    assert client.get("/sub/x").text == "b=2; a=1"
    assert client.get("/", cookies={"extra": "e"}).text == "a=1; extra=e"
    assert "extra" not in client.cookies
    client.get("/del")
    assert client.get("/").text == ""
    https = Client(app, base_url="https://localhost")
    https.get("/set")
    assert https.get("/").text == "a=1; s=4"


def test_redirects_followed_on_request_with_history() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        body = environ["wsgi.input"].read()
        if path == "/303":
            start_response("303 See Other", [("Location", "/final")])
        elif path == "/307":
            start_response("307 Temporary Redirect", [("Location", "http://localhost/final")])
        elif path == "/loop":
            start_response("302 Found", [("Location", "/loop")])
        else:
            start_response("200 OK", [])
            return [f"{method} {path} {body.decode()}".encode()]
        return [b""]

    client = Client(app)
    assert client.post("/303", data=b"x").status_code == 303  # not followed unless asked
    r = client.post("/303", data=b"x", follow_redirects=True)
    assert r.text == "GET /final "
    assert [h.status_code for h in r.history] == [303]
    r = client.post("/307", data=b"x", follow_redirects=True)
    assert r.text == "POST /final x"
    assert r.url == "http://localhost/final"
    with pytest.raises(TooManyRedirects):
        client.get("/loop", follow_redirects=True)


def test_app_exception_is_raised_with_its_traceback_or_returned() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise ZeroDivisionError("boom")

    errors = io.StringIO()
    with pytest.raises(ZeroDivisionError, match="boom"):
        Client(broken, errors=errors).get("/")
    assert "ZeroDivisionError: boom" in errors.getvalue()
    r = Client(broken, raise_app_exceptions=False, errors=io.StringIO()).get("/")
    assert r.status_code == 500
    assert r.problems
    assert r.problems[0].exc_info is not None


def test_app_failing_after_its_headers() -> None:
    def late(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        raise KeyError("late")

    # The core cuts the response off (PEP 3333): the app's exception is what the test sees...
    with pytest.raises(KeyError, match="late") as info:
        Client(late, errors=io.StringIO()).get("/")
    assert isinstance(info.value.__cause__, MalformedResponse)
    # ...or, when app exceptions are not raised, the truncation with the app's report.
    with pytest.raises(MalformedResponse, match="incomplete chunked body; the app's problem"):
        Client(late, raise_app_exceptions=False, errors=io.StringIO()).get("/")


def test_a_wrong_content_length_from_the_app_shows() -> None:
    def short(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "10")])
        return [b"hello"]

    def long(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "3")])
        return [b"hello"]

    with pytest.raises(MalformedResponse, match="shorter than Content-Length 10; the app's problem"):
        Client(short, errors=io.StringIO()).get("/")
    r = Client(long, errors=io.StringIO()).get("/")
    assert r.content == b"hel"
    assert not r.keep_alive
    assert "longer than its Content-Length" in r.problems[0].message


def test_streaming_response_arrives_whole_and_in_order() -> None:
    def stream(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(100):
            yield b"%d," % i

    r = Client(stream).get("/")
    assert r.text == "".join(f"{i}," for i in range(100))
    assert r.raw.count(b"\r\n") > 200  # one chunk per piece on the wire


def test_raw_keeps_the_protocol_path() -> None:
    client = Client(echo)
    out = client.raw(b"GET / HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    pieces = [b"GET /x HTTP/1.1\r\nHo", b"st: a\r\n", b"\r\n"]
    assert b'"PATH_INFO": "/x"' in client.raw(pieces)
    assert client.raw(b"GET / HTTP/1.1\r\nHost: a\r\n", close=False) == b""  # still waiting


def test_the_client_refuses_to_build_invalid_requests() -> None:
    with pytest.raises(ValueError, match="header"):
        build_request("GET", "/", headers={"X": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="method"):
        build_request("G T", "/")
    with pytest.raises(ValueError, match="URL"):
        build_request("GET", "ftp://x/")


class _FakeConnection:
    """Stands in for MemoryConnection: answers every request with fixed bytes."""

    def __init__(self, reply: bytes, closes: bool) -> None:
        self.reply, self.closes, self.closed = reply, closes, False

    def send(self, data: bytes) -> bytes:
        self.closed = self.closes
        return self.reply

    def close(self) -> bytes:
        self.closed = True
        return b""


@pytest.mark.parametrize(("reply", "closes", "message"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", True, "body shorter than Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", False, "waits for more input"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello", False, "bytes after the last response"),
    (b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", True, "bare LF"),
    (b"HTTP/1.1 200 OK\r\nX: a\r\nInjected\r\n\r\n", True, "invalid field line"),
])
def test_a_malformed_response_fails_the_request_with_a_clear_message(
        reply: bytes, closes: bool, message: str) -> None:
    class FakeClient(Client):
        def _new_connection(self, request: Any = None) -> Any:
            return _FakeConnection(reply, closes)

    with pytest.raises(MalformedResponse, match=message) as info:
        FakeClient(echo).get("/")
    assert ">>>" in str(info.value)  # the bytes around the problem are shown
