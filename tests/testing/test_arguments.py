"""Clear errors for arguments the client cannot use (a bytes URL, another client's keyword), and
the pytest plugin's ``wsgi_client`` fixture giving the same client with every idiom."""

from __future__ import annotations

import io
from typing import Any

import pytest

from wsgidrivers.testing import Client, HTTPError

from .echo_apps import plain_echo


@pytest.mark.parametrize("method", ["get", "post", "head", "request"])
def test_a_bytes_url_is_a_clear_type_error(method: str) -> None:
    client = Client(plain_echo)
    call = getattr(client, method)
    args = ("GET", b"/x") if method == "request" else (b"/x",)
    with pytest.raises(TypeError, match=r"URL must be a str, not bytes: b'/x' \(decode it"):
        call(*args)
    with pytest.raises(TypeError, match="URL must be a str, not int"):
        client.get(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="base_url must be a str"):
        Client(plain_echo, base_url=b"http://x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an http"):
        Client(plain_echo, base_url="ftp://x")


@pytest.mark.parametrize(("keyword", "hint"), [
    ("query_string", "use params="),
    ("content_type", "headers={'Content-Type'"),
    ("allow_redirects", "use follow_redirects="),
    ("extra_environ", "use environ_base="),
    ("upload_files", "use files="),
    ("timeout", "cannot time out"),
    ("verify", "no TLS in memory"),
    ("fles", "did you mean 'files'"),
    ("hedaers", "did you mean 'headers'"),
    ("zzz", "it takes auth, chunked, cookies, data"),
])
def test_an_unknown_keyword_says_what_to_use(keyword: str, hint: str) -> None:
    with pytest.raises(TypeError, match=rf"Client.post\(\) got an unexpected keyword argument "
                                        rf"'{keyword}'.*{hint}"):
        Client(plain_echo).post("/", **{keyword: 1})
    with pytest.raises(TypeError, match=keyword):
        Client(plain_echo).request("POST", "/", **{keyword: 1})


def test_other_bad_arguments() -> None:
    with pytest.raises(TypeError, match="WSGI callable"):
        Client("app")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"wsgicore\.Config"):
        Client(plain_echo, config={"keep_alive": False})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="an iterable body holds bytes"):
        Client(plain_echo).post("/", data=["text", "pieces"])
    with pytest.raises(TypeError, match="data= must be bytes, str"):
        Client(plain_echo).post("/", data=3.5)
    with pytest.raises(TypeError, match="Request objects"):
        Client(plain_echo).send("GET / HTTP/1.1")  # type: ignore[arg-type]


def test_the_wsgi_client_fixture_gives_the_same_client(wsgi_client: Any) -> None:
    client = wsgi_client(plain_echo, base_url="https://example.com",
                         environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert isinstance(client, Client)
    r = client.post("/", data={"f": (io.BytesIO(b"abc"), "f.txt")},
                    files=[("g", ("a.txt", b"1")), ("g", ("b.txt", b"2"))], auth=("ada", "pw"))
    data = r.json()
    assert data["files"] == {"f": [["f.txt", "abc", "text/plain"]],
                             "g": [["a.txt", "1", "text/plain"], ["b.txt", "2", "text/plain"]]}
    assert data["authorization"] == ["basic", "ada", "pw"]
    assert (data["environ"]["wsgi.url_scheme"], data["environ"]["SERVER_PORT"],
            data["environ"]["REMOTE_ADDR"]) == ("https", "443", "203.0.113.5")
    assert dict(r.headers)["Content-Type"] == "application/json"
    assert r.ok
    assert list(r.iter_content(None)) == [r.content]
    with pytest.raises(HTTPError):
        client.get("/status/404").raise_for_status()
    with pytest.raises(TypeError, match="use params="):
        client.get("/", query_string="a=1")


def test_a_file_as_data_is_the_body(echo_app: Any) -> None:
    r = Client(echo_app).post("/", data=io.BytesIO(b'{"a": 1}'), headers={"Content-Type": "application/json"})
    assert r.json()["json"] == {"a": 1}
    assert Client(echo_app).post("/", data=io.StringIO("a=1"), headers={
        "Content-Type": "application/x-www-form-urlencoded"}).json()["form"] == {"a": ["1"]}

    class Odd:
        def read(self) -> int:
            return 5

    with pytest.raises(TypeError, match=r"read\(\) gave a int"):
        Client(echo_app).post("/", data=Odd())


def test_the_wsgi_client_fixture_serves_chunked_bodies_as_the_servers(wsgi_client: Any) -> None:
    # Issue 24 item 3: read whole with a CONTENT_LENGTH by default; stream_chunked_body streams.
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ.get("CONTENT_LENGTH", "none").encode()]

    assert wsgi_client(app).post("/", data=[b"ab", b"c"], chunked=True).text == "3"
    streamed = wsgi_client(app, stream_chunked_body=True)
    assert streamed.post("/", data=[b"ab", b"c"], chunked=True).text == "none"
