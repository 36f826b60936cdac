"""The in-memory client against real Flask and Django apps: what their own test clients cover,
through the real parser (cookies, sessions, redirects, JSON, multipart, streaming, HEAD, chunked)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from wsgidrivers.testing import Client

flask = pytest.importorskip("flask")


def make_flask_app() -> Any:
    app = flask.Flask(__name__)
    app.secret_key = "test"

    @app.post("/login")
    def login() -> Any:
        flask.session["user"] = flask.request.form["user"]
        return flask.redirect("/me")

    @app.get("/me")
    def me() -> Any:
        return {"user": flask.session.get("user")}

    @app.post("/json")
    def echo_json() -> Any:
        return {"got": flask.request.get_json(), "type": flask.request.content_type}

    @app.post("/upload")
    def upload() -> Any:
        f = flask.request.files["doc"]
        return {"name": f.filename, "size": len(f.read()), "note": flask.request.form["note"]}

    @app.post("/raw")
    def raw() -> Any:
        chunked = "CONTENT_LENGTH" not in flask.request.environ
        return {"len": len(flask.request.get_data()), "chunked": chunked}

    @app.get("/stream")
    def stream() -> Any:
        def parts() -> Any:
            for i in range(5):
                yield f"part {i}\n"
        return flask.Response(parts(), mimetype="text/plain")

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("boom")

    return app


def test_flask_session_cookie_and_redirect() -> None:
    client = Client(make_flask_app())
    r = client.post("/login", data={"user": "ada"})
    assert r.status_code == 302
    assert r.headers["location"] == "/me"
    assert "session" in r.cookies
    assert "session" in client.cookies
    assert client.get("/me").json() == {"user": "ada"}  # the session came back
    r = Client(make_flask_app()).post("/login", data={"user": "bob"}, follow_redirects=True)
    assert r.json() == {"user": "bob"}
    assert [h.status_code for h in r.history] == [302]


def test_flask_json_multipart_and_chunked_upload() -> None:
    client = Client(make_flask_app())
    assert client.post("/json", json={"a": [1, None]}).json() == {
        "got": {"a": [1, None]}, "type": "application/json"}
    r = client.post("/upload", data={"note": "hi"}, files={"doc": ("report.pdf", io.BytesIO(b"%PDF" * 1000))})
    assert r.json() == {"name": "report.pdf", "size": 4000, "note": "hi"}
    # Chunked: no CONTENT_LENGTH, wsgi.input_terminated; werkzeug reads to the end.
    r = client.post("/raw", data=[b"x" * 1000] * 70, chunked=True)
    assert r.json() == {"len": 70_000, "chunked": True}


def test_flask_streaming_head_and_errors() -> None:
    client = Client(make_flask_app())
    r = client.get("/stream")
    assert r.text == "".join(f"part {i}\n" for i in range(5))
    assert r.headers["transfer-encoding"] == "chunked"
    head = client.head("/me")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/json"
    assert client.get("/nowhere").status_code == 404
    r = client.get("/boom")  # Flask catches it itself: a 500 from Flask, nothing for the client to raise
    assert r.status_code == 500
    assert r.problems == []


django = pytest.importorskip("django")


def _configure_django() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test",
            ALLOWED_HOSTS=["localhost"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                        "django.middleware.csrf.CsrfViewMiddleware"],
            INSTALLED_APPS=["django.contrib.sessions"],
            SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
            DATABASES={},
            USE_TZ=True,
        )
        django.setup()


def _views() -> list[Any]:
    import json

    from django.http import HttpResponseRedirect, JsonResponse, StreamingHttpResponse
    from django.middleware.csrf import get_token
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    def token(request: Any) -> Any:
        return JsonResponse({"csrf": get_token(request)})

    def login(request: Any) -> Any:
        request.session["user"] = request.POST["user"]
        return HttpResponseRedirect("/me")

    def me(request: Any) -> Any:
        return JsonResponse({"user": request.session.get("user")})

    @csrf_exempt
    def api(request: Any) -> Any:
        return JsonResponse({"got": json.loads(request.body)})

    @csrf_exempt
    def upload(request: Any) -> Any:
        f = request.FILES["doc"]
        return JsonResponse({"name": f.name, "size": f.size})

    @csrf_exempt
    def raw(request: Any) -> Any:
        return JsonResponse({"len": len(request.body)})

    def stream(request: Any) -> Any:
        return StreamingHttpResponse((f"{i}," for i in range(4)), content_type="text/plain")

    return [path("token", token), path("login", login), path("me", me), path("api", api),
            path("upload", upload), path("raw", raw), path("stream", stream)]


urlpatterns: list[Any] = []


@pytest.fixture
def django_client() -> Client:
    _configure_django()
    urlpatterns[:] = _views()
    from django.core.wsgi import get_wsgi_application

    return Client(get_wsgi_application())


def test_django_csrf_session_and_redirect(django_client: Client) -> None:
    csrf = django_client.get("/token").json()["csrf"]
    assert "csrftoken" in django_client.cookies
    # Without the token CSRF refuses; with it (and the cookie from the jar) the login works.
    assert django_client.post("/login", data={"user": "ada"}).status_code == 403
    r = django_client.post("/login", data={"user": "ada"}, headers={"X-CSRFToken": csrf},
                           follow_redirects=True)
    assert r.json() == {"user": "ada"}
    assert r.history[0].status_code == 302
    assert "sessionid" in django_client.cookies


def test_django_json_multipart_streaming_head(django_client: Client) -> None:
    assert django_client.post("/api", json={"x": 1}).json() == {"got": {"x": 1}}
    r = django_client.post("/upload", files={"doc": ("a.bin", b"\x00" * 5000)})
    assert r.json() == {"name": "a.bin", "size": 5000}
    assert django_client.get("/stream").text == "0,1,2,3,"
    head = django_client.head("/me")
    assert head.status_code == 200
    assert head.content == b""


def test_django_reads_no_chunked_body(django_client: Client) -> None:
    # Django reads CONTENT_LENGTH bytes only, and a chunked request has none: the upload arrives
    # empty unless the server buffers it (Config.buffer_chunked_body, below; every serving entry point
    # does by default, tests/entry_points). The in-memory client shows the core's own default, as is.
    assert django_client.post("/raw", data=[b"abc"], chunked=True).json() == {"len": 0}
    assert django_client.post("/raw", data=b"abc").json() == {"len": 3}


def test_django_reads_a_buffered_chunked_body() -> None:
    from wsgicore import Config

    _configure_django()
    urlpatterns[:] = _views()
    from django.core.wsgi import get_wsgi_application

    client = Client(get_wsgi_application(),
                    config=Config(buffer_chunked_body=True, max_body_bytes=1 << 20))
    assert client.post("/raw", data=[b"abc", b"defg"], chunked=True).json() == {"len": 7}
    r = client.post("/upload", files={"doc": ("a.bin", b"\x01" * 5000)}, chunked=True)
    assert r.json() == {"name": "a.bin", "size": 5000}
