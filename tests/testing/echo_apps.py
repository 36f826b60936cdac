"""Two apps that answer, as JSON, what they received: one on Flask (werkzeug's parsers), one plain
WSGI (the standard library's parsers). The same request gives the same JSON from both, so a test
can run against either, and compare our client's result with Flask's or requests' own."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

# Environ keys the apps report as they are (the address, the scheme, the server's address, and a
# few keys only a middleware or environ_base would set).
REPORTED_KEYS = ("REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme",
                 "HTTP_HOST", "REMOTE_USER", "myapp.user", "HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR")


def _environ_report(environ: dict[str, Any]) -> dict[str, Any]:
    return {key: environ[key] for key in REPORTED_KEYS if key in environ}


def _authorization(header: str | None) -> list[Any] | None:
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "basic":
        user, _, password = base64.b64decode(rest).decode("utf-8").partition(":")
        return ["basic", user, password]
    return [scheme.lower(), rest]


def _cookie_routes(path: str) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """Routes both apps answer the same way, without a framework."""
    if path == "/cookies":
        return ("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "a=1; Path=/"),
                           ("Set-Cookie", "b=2; Path=/; HttpOnly"), ("X-Twice", "one"),
                           ("x-twice", "two")], b"two cookies")
    if path == "/lines":
        return ("200 OK", [("Content-Type", "text/plain; charset=utf-8")],
                "first\nsecond\r\nthird\rfourth é\n\nlast".encode())
    if path.startswith("/status/"):
        code = int(path.rsplit("/", 1)[1])
        return (f"{code} Custom Reason", [("Content-Type", "text/plain")], b"status")
    if path == "/redirect":
        return ("302 Found", [("Location", "/")], b"")
    if path == "/boom":
        raise RuntimeError("boom")
    return None


def plain_echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A WSGI app on the standard library alone: query, form (urlencoded or multipart, parsed by
    ``email``), JSON, Authorization, and some environ keys, as JSON."""
    fixed = _cookie_routes(environ["PATH_INFO"])
    if fixed is not None:
        start_response(fixed[0], fixed[1])
        return [fixed[2]]
    body = environ["wsgi.input"].read()
    ctype = environ.get("CONTENT_TYPE", "")
    form: dict[str, list[str]] = {}
    files: dict[str, list[list[Any]]] = {}
    received_json = None
    if ctype.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("ascii"), keep_blank_values=True)
    elif ctype.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            filename = part.get_filename()
            if filename is None:
                form.setdefault(name, []).append(payload.decode("utf-8"))
            else:
                ptype = part.get("content-type")
                files.setdefault(name, []).append(
                    [filename, payload.decode("latin-1"), ptype.split(";")[0] if ptype else None])
    elif ctype.startswith("application/json"):
        received_json = json.loads(body)
    report = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "args": parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        "form": form,
        "files": files,
        "json": received_json,
        "authorization": _authorization(environ.get("HTTP_AUTHORIZATION")),
        "environ": _environ_report(environ),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(report, sort_keys=True).encode()]


def flask_echo() -> Any:
    """The same report from a Flask app, through werkzeug's request parsing."""
    import flask

    app = flask.Flask("flask_echo")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def echo(path: str) -> Any:
        request = flask.request
        fixed = _cookie_routes(request.path)
        if fixed is not None:
            return flask.Response(fixed[2], status=fixed[0], headers=fixed[1])
        auth = request.authorization
        authorization = None
        if auth is not None:
            authorization = (["basic", auth.username, auth.password] if auth.type == "basic"
                             else [auth.type, auth.token])
        report = {
            "method": request.method,
            "path": request.path,
            "args": request.args.to_dict(flat=False),
            "form": request.form.to_dict(flat=False),
            "files": {name: [[f.filename, f.read().decode("latin-1"), f.mimetype or None]
                             for f in found] for name, found in request.files.lists()},
            "json": request.get_json(silent=True) if request.is_json else None,
            "authorization": authorization,
            "environ": _environ_report(request.environ),
        }
        return flask.Response(json.dumps(report, sort_keys=True), mimetype="application/json")

    return app
