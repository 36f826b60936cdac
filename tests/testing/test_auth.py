"""``auth=``: Basic from a (user, password) tuple, the same header requests and werkzeug send;
requests-style callables for other schemes (requests' own auth classes among them)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from wsgidrivers.testing import AuthRequest, Client

from .echo_apps import flask_echo


def test_basic_auth_tuple(echo_app: Any) -> None:
    r = Client(echo_app).get("/", auth=("ada", "s3cret:with colon"))
    assert r.json()["authorization"] == ["basic", "ada", "s3cret:with colon"]
    assert r.environ is not None
    assert r.environ["HTTP_AUTHORIZATION"] == "Basic " + base64.b64encode(
        b"ada:s3cret:with colon").decode()


@pytest.mark.parametrize("credentials", [("ada", "pw"), (b"ada", b"pw"), ("user@example.com", "p w!")])
def test_basic_header_is_the_one_requests_sends(credentials: tuple[Any, Any]) -> None:
    requests_auth = pytest.importorskip("requests.auth")
    r = Client(flask_echo()).get("/", auth=credentials)
    assert r.environ is not None
    assert r.environ["HTTP_AUTHORIZATION"] == requests_auth._basic_auth_str(*credentials)


def test_non_ascii_credentials_reach_flask_as_with_werkzeugs_client() -> None:
    # RFC 7617 §2.1: UTF-8, which werkzeug sends and decodes (requests would send latin-1).
    pytest.importorskip("flask")
    app = flask_echo()
    theirs = app.test_client().get("/", auth=("zoë", "pässwörd€")).get_json()["authorization"]
    ours = Client(app).get("/", auth=("zoë", "pässwörd€")).json()["authorization"]
    assert ours == theirs == ["basic", "zoë", "pässwörd€"]


def test_a_colon_in_the_user_name_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="cannot contain ':'"):
        Client(flask_echo()).get("/", auth=("a:b", "pw"))
    with pytest.raises(TypeError, match=r"\(user, password\), not 3 items"):
        Client(flask_echo()).get("/", auth=("a", "b", "c"))
    with pytest.raises(TypeError, match="auth= must be"):
        Client(flask_echo()).get("/", auth=42)


class BearerAuth:
    """The usual hand-written requests auth class."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def test_callable_auth_sets_another_scheme(echo_app: Any) -> None:
    r = Client(echo_app).get("/", auth=BearerAuth("t0k3n"), headers={"Authorization": "Basic old"})
    assert r.json()["authorization"] == ["bearer", "t0k3n"]
    assert r.request.count(b"Authorization") == 1  # replaced, as requests does


def test_callable_auth_sees_the_request_and_may_sign_its_body(echo_app: Any) -> None:
    seen: list[tuple[str, str, str | None]] = []

    def sign(request: AuthRequest) -> AuthRequest:
        seen.append((request.method, request.url, request.headers.get("content-type")))
        request.headers["X-Signature"] = str(len(request.body or b""))
        request.url += "&signed=1"
        return request

    r = Client(echo_app).post("/p", params={"q": "1"}, json={"a": 1}, auth=sign)
    assert seen == [("POST", "http://localhost/p?q=1", "application/json")]
    assert r.json()["args"] == {"q": ["1"], "signed": ["1"]}
    assert r.json()["json"] == {"a": 1}
    assert r.environ is not None
    assert r.environ["HTTP_X_SIGNATURE"] == "8"
    assert r.url == "http://localhost/p?q=1&signed=1"


def test_callable_auth_that_changes_the_body_gets_a_new_length(echo_app: Any) -> None:
    def replace(request: AuthRequest) -> AuthRequest:
        request.body = b'{"replaced": true}'
        return request

    r = Client(echo_app).post("/", json={"a": 1}, auth=replace)
    assert r.json()["json"] == {"replaced": True}


def test_requests_own_auth_classes_work_unchanged() -> None:
    requests_auth = pytest.importorskip("requests.auth")
    r = Client(flask_echo()).get("/", auth=requests_auth.HTTPBasicAuth("ada", "pw"))
    assert r.json()["authorization"] == ["basic", "ada", "pw"]


def test_werkzeugs_authorization_object() -> None:
    datastructures = pytest.importorskip("werkzeug.datastructures")
    token = datastructures.Authorization("bearer", token="abc")
    assert Client(flask_echo()).get("/", auth=token).json()["authorization"] == ["bearer", "abc"]


def test_credentials_in_the_url_are_basic_auth_as_in_requests(echo_app: Any) -> None:
    r = Client(echo_app).get("http://ada:p%40ss@localhost/x")
    assert r.json()["authorization"] == ["basic", "ada", "p@ss"]
    assert r.json()["environ"]["HTTP_HOST"] == "localhost"  # never in Host
    assert r.url == "http://localhost/x"


def test_auth_follows_redirects_to_the_same_host_only() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/away":
            start_response("302 Found", [("Location", "http://other.example/landing")])
        elif environ["PATH_INFO"] == "/here":
            start_response("302 Found", [("Location", "/landing")])
        else:
            start_response("200 OK", [])
            return [environ.get("HTTP_AUTHORIZATION", "none").encode()]
        return [b""]

    client = Client(app)
    assert client.get("/here", auth=("a", "b"), follow_redirects=True).text.startswith("Basic ")
    assert client.get("/away", auth=("a", "b"), follow_redirects=True).text == "none"
