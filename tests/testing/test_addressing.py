"""The scheme, host and port the app sees (``base_url``, absolute URLs) and the client's address
(``peer``, ``remote_addr``, werkzeug's ``environ_base``): set on the connection, so the core builds
the environ from them as from a socket, and compared with what Flask's test client gives."""

from __future__ import annotations

from typing import Any

import pytest

from wsgicore import Config
from wsgidrivers.testing import Client
from wsgidrivers.testing import client as client_module

from .echo_apps import flask_echo


def environ_of(response: Any) -> dict[str, Any]:
    return dict(response.json()["environ"])


@pytest.mark.parametrize(("base_url", "expected"), [
    ("http://localhost", ("http", "localhost", "80", "localhost")),
    ("https://localhost", ("https", "localhost", "443", "localhost")),
    ("https://example.com:8443", ("https", "example.com", "8443", "example.com:8443")),
    ("http://[::1]:8080", ("http", "::1", "8080", "[::1]:8080")),
])
def test_base_url_gives_the_scheme_host_and_port(echo_app: Any, base_url: str,
                                                 expected: tuple[str, str, str, str]) -> None:
    seen = environ_of(Client(echo_app, base_url=base_url).get("/"))
    assert (seen["wsgi.url_scheme"], seen["SERVER_NAME"], seen["SERVER_PORT"],
            seen["HTTP_HOST"]) == expected


@pytest.mark.parametrize("base_url", ["https://localhost", "https://example.com:8443",
                                      "http://example.com:8080"])
def test_flask_sees_what_flasks_own_client_gives(base_url: str) -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask("urls")

    @app.get("/where")
    def where() -> Any:
        request = flask.request
        return {"scheme": request.scheme, "host": request.host, "url": request.url,
                "secure": request.is_secure, "external": flask.url_for("where", _external=True)}

    theirs = app.test_client().get("/where", base_url=base_url).get_json()
    assert Client(app, base_url=base_url).get("/where").json() == theirs


@pytest.mark.parametrize("base_url", ["http://localhost/app", "http://localhost/app/",
                                      "https://example.com:8443/a/b", "http://localhost/my%20app"])
@pytest.mark.parametrize("url", ["/x", "/x?q=1", "x", "/", "/deep/er/"])
def test_a_base_url_path_is_the_mount_as_in_flasks_own_client(base_url: str, url: str) -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask("mounted")

    @app.route("/", defaults={"rest": ""})
    @app.route("/<path:rest>")
    def anywhere(rest: str) -> Any:
        request = flask.request
        return {"script_root": request.script_root, "path": request.path, "url": request.url,
                "args": request.args, "built": flask.url_for("anywhere", rest="y"),
                "external": flask.url_for("anywhere", rest="y", _external=True)}

    theirs = app.test_client().get(url, base_url=base_url).get_json()
    assert Client(app, base_url=base_url).get(url).json() == theirs


def _blank(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b""]


def test_a_url_outside_the_mount_has_no_script_name() -> None:
    client = Client(_blank, base_url="http://localhost/app")
    inside = client.get("http://localhost/app/x").environ
    assert (inside["SCRIPT_NAME"], inside["PATH_INFO"]) == ("/app", "/x")
    for url in ("http://localhost/application", "http://localhost/other", "../y",
                "http://elsewhere/app/x", "https://localhost/app/x"):
        seen = client.get(url).environ
        assert seen["SCRIPT_NAME"] == "", url
        assert seen["PATH_INFO"] == seen["REQUEST_URI"], url


def test_a_redirect_within_the_mount_keeps_it() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/old":
            start_response("302 Found", [("Location", environ["SCRIPT_NAME"] + "/new")])
            return [b""]
        return _blank(environ, start_response)

    r = Client(app, base_url="http://localhost/app").get("/old", follow_redirects=True)
    assert r.url == "http://localhost/app/new"
    assert (r.environ["SCRIPT_NAME"], r.environ["PATH_INFO"]) == ("/app", "/new")


def test_a_config_script_name_wins_over_the_base_url_path() -> None:
    client = Client(_blank, config=Config(script_name="/mine"), base_url="http://localhost/app")
    # Sent as /app/x, outside the Config's mount: the core's 404, as any server mounted there gives.
    assert client.get("/x").status_code == 404
    seen = client.get("http://localhost/mine/x").environ
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/mine", "/x")


def test_an_absolute_url_goes_to_its_own_origin(echo_app: Any) -> None:
    client = Client(echo_app)
    seen = environ_of(client.get("https://api.example:9443/x"))
    assert (seen["wsgi.url_scheme"], seen["SERVER_NAME"], seen["SERVER_PORT"]) == (
        "https", "api.example", "9443")
    assert environ_of(client.get("/"))["wsgi.url_scheme"] == "http"  # the base's connection again


def test_a_config_that_chose_https_keeps_it() -> None:
    r = Client(flask_echo(), config=Config(url_scheme="https")).get("/")
    assert environ_of(r)["wsgi.url_scheme"] == "https"


def test_the_client_address_per_client_and_per_request(echo_app: Any) -> None:
    client = Client(echo_app, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert environ_of(client.get("/"))["REMOTE_ADDR"] == "203.0.113.7"
    seen = environ_of(client.get("/", environ_base={"REMOTE_ADDR": "198.51.100.1", "REMOTE_PORT": 4242}))
    assert (seen["REMOTE_ADDR"], seen["REMOTE_PORT"]) == ("198.51.100.1", "4242")
    assert environ_of(client.get("/", remote_addr="2001:db8::1"))["REMOTE_ADDR"] == "2001:db8::1"
    assert environ_of(client.get("/", remote_addr="10.0.0.1",
                                 environ_overrides={"REMOTE_ADDR": "10.0.0.2"}))["REMOTE_ADDR"] == "10.0.0.2"
    client.environ_base["REMOTE_ADDR"] = "192.0.2.9"  # as Flask users change client.environ_base
    assert environ_of(client.get("/"))["REMOTE_ADDR"] == "192.0.2.9"
    assert environ_of(Client(echo_app, peer=("10.9.8.7", 1234)).get("/"))["REMOTE_PORT"] == "1234"


def test_flask_sees_the_address_as_with_its_own_client() -> None:
    pytest.importorskip("flask")
    app = flask_echo()
    theirs = app.test_client().get("/", environ_base={"REMOTE_ADDR": "203.0.113.7"}).get_json()
    ours = Client(app).get("/", environ_base={"REMOTE_ADDR": "203.0.113.7"}).json()
    assert ours["environ"]["REMOTE_ADDR"] == theirs["environ"]["REMOTE_ADDR"] == "203.0.113.7"


def test_each_address_has_its_own_kept_alive_connection(echo_app: Any) -> None:
    client = Client(echo_app)
    ports = [environ_of(client.get("/", remote_addr=addr))["REMOTE_PORT"]
             for addr in (None, "10.0.0.1", None, "10.0.0.1", "10.0.0.2")]
    assert ports == ["50000", "50001", "50000", "50001", "50002"]
    with pytest.raises(ValueError, match="one connection"):
        client.pipeline(client.build_request("GET", "/"),
                        client.build_request("GET", "/", remote_addr="10.0.0.1"))


def test_the_address_goes_through_the_cores_proxy_rules() -> None:
    # The peer is the connection's, so the core's trusted-proxy logic applies to it: a header from
    # a trusted proxy sets REMOTE_ADDR, the same header from anyone else does not.
    config = Config(trusted_proxies=["10.0.0.0/8"], trusted_proxy_headers={"x-forwarded-for"})
    client = Client(flask_echo(), config=config)
    via_proxy = client.get("/", remote_addr="10.1.2.3", headers={"X-Forwarded-For": "198.51.100.4"})
    assert environ_of(via_proxy)["REMOTE_ADDR"] == "198.51.100.4"
    direct = client.get("/", remote_addr="192.0.2.50", headers={"X-Forwarded-For": "198.51.100.4"})
    assert environ_of(direct)["REMOTE_ADDR"] == "192.0.2.50"


def test_the_connection_gets_peer_sockname_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    real = client_module.MemoryConnection

    def recording(app: Any, **options: Any) -> Any:
        made.append(options)
        return real(app, **options)

    monkeypatch.setattr(client_module, "MemoryConnection", recording)
    Client(flask_echo(), base_url="https://example.com").get("/", remote_addr="10.0.0.1")
    assert made[0]["peer"] == ("10.0.0.1", 50000)
    assert made[0]["sockname"] == ("example.com", 443)
    assert made[0]["config"].url_scheme == "https"


def test_environ_base_headers_and_extension_keys(echo_app: Any) -> None:
    client = Client(echo_app, environ_base={"HTTP_USER_AGENT": "Werkzeug/3", "REMOTE_USER": "ada"})
    r = client.get("/", environ_base={"myapp.user": "admin"})
    seen = environ_of(r)
    assert seen["HTTP_USER_AGENT"] == "Werkzeug/3"
    assert b"\r\nUser-Agent: Werkzeug/3\r\n" in r.request  # a header on the wire, not an environ write
    assert (seen["REMOTE_USER"], seen["myapp.user"]) == ("ada", "admin")
    r = client.get("/", headers={"User-Agent": "mine"})  # headers= win over environ_base
    assert environ_of(r)["HTTP_USER_AGENT"] == "mine"
    r = client.get("/", headers={"User-Agent": "mine"}, environ_overrides={"HTTP_USER_AGENT": "over"})
    assert environ_of(r)["HTTP_USER_AGENT"] == "over"
    r = client.get("/", environ_base={"wsgi.url_scheme": "https", "SERVER_NAME": "s.example",
                                      "SERVER_PORT": "8000"})
    assert (environ_of(r)["wsgi.url_scheme"], environ_of(r)["SERVER_NAME"],
            environ_of(r)["SERVER_PORT"]) == ("https", "s.example", "8000")


@pytest.mark.parametrize(("environ", "error", "message"), [
    ({"PATH_INFO": "/x"}, ValueError, "use the URL's path"),
    ({"QUERY_STRING": "a=1"}, ValueError, "params="),
    ({"CONTENT_LENGTH": "3"}, ValueError, "frames the body itself"),
    ({"wsgi.input": None}, ValueError, "the server sets wsgi.input"),
    ({"REMOTE_ADDR": "not-an-ip"}, ValueError, "must be an IP address"),
    ({"REMOTE_ADDR": b"10.0.0.1"}, TypeError, "not bytes"),
    ({"REMOTE_PORT": "70000"}, ValueError, "port number"),
    ({"wsgi.url_scheme": "ftp"}, ValueError, "'http' or 'https'"),
    ({"HTTP_X_A": 1}, TypeError, "a header value is a str"),
])
def test_environ_keys_the_client_cannot_honour_are_refused(environ: dict[str, Any],
                                                            error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Client(flask_echo()).get("/", environ_base=environ)
    with pytest.raises(error, match=message):
        Client(flask_echo(), environ_base=environ)  # at once, not at the first request
    with pytest.raises(ValueError, match="must be an IP address"):
        Client(flask_echo()).get("/", remote_addr="localhost")


def test_raw_bytes_come_from_the_clients_address_too(echo_app: Any) -> None:
    client = Client(echo_app, base_url="https://localhost", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    out = client.raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert b'"REMOTE_ADDR": "10.0.0.9"' in out
    assert b'"wsgi.url_scheme": "https"' in out


def _remote(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = f"{environ['REMOTE_ADDR']}|{environ['REMOTE_HOST']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def test_remote_host_is_the_clients_address() -> None:
    # RFC 3875 §4.1.9: the client's name, or its address when no lookup is done (issue 24 item 1).
    client = Client(_remote)
    assert client.get("/").content == b"127.0.0.1|127.0.0.1"
    assert client.get("/", remote_addr="2001:db8::1").content == b"2001:db8::1|2001:db8::1"
    # A trusted proxy names the client: REMOTE_HOST follows REMOTE_ADDR.
    proxied = Client(_remote, config=Config(trusted_proxies=("127.0.0.1",),
                                            trusted_proxy_headers=("x-forwarded-for",)))
    response = proxied.get("/", headers={"X-Forwarded-For": "198.51.100.4"})
    assert response.content == b"198.51.100.4|198.51.100.4"


def test_the_client_has_no_clock_unless_given_one() -> None:
    # The Client's responses stay byte-for-byte reproducible: Config.clock's default ("driver")
    # is no clock here; an explicit clock sends Date.
    import time

    assert "Date" not in Client(_remote).get("/").headers
    assert "Date" not in Client(_remote, config=Config(max_body_bytes=10)).get("/").headers
    assert Client(_remote, config=Config(clock=time.time)).get("/").headers["Date"].endswith(" GMT")
