"""docs/testing.md's migration table: every row's last column (ours) is run here, against a Flask app
that reports what it received, and its result is compared with what the other libraries give for the
same task (Flask's test client in memory; requests over a live server) wherever they can be compared.

A row without a check here, or a check without a row, fails: the table and this file move together."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from wsgidrivers.testing import Client, HTTPError

from .echo_apps import flask_echo

flask = pytest.importorskip("flask")
requests = pytest.importorskip("requests")

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
SECTION = "## Coming from Flask's test client, werkzeug, WebTest or requests"
APP_FIELDS = ("content-type", "set-cookie", "x-twice")


def table_rows() -> dict[str, list[str]]:
    """task -> the code spans of its last column."""
    text = DOC.read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith(("| task", "|---")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 5, f"a row of the migration table has {len(cells)} cells: {line}"
        rows[cells[0]] = re.findall(r"`([^`]+)`", cells[-1])
    return rows


class Row:
    """Runs one row's code spans with ``client``, ``app``, ``r``, ``io``, ... bound."""

    def __init__(self, spans: list[str], namespace: dict[str, Any]) -> None:
        self.spans = spans
        self.ns = namespace

    def run(self, index: int) -> Any:
        code = self.spans[index]
        try:
            compiled = compile(code, "<docs/testing.md>", "eval")
        except SyntaxError:
            exec(compile(code, "<docs/testing.md>", "exec"), self.ns)
            return None
        return eval(compiled, self.ns)

    def results(self) -> list[Any]:
        return [self.run(i) for i in range(len(self.spans))]


def theirs() -> Any:
    """Flask's own test client, on a fresh copy of the same app."""
    return flask_echo().test_client()


def over_requests(live_server: Any, path: str) -> Any:
    server = live_server(flask_echo())
    return requests.get(server.url + path, timeout=10)


# -- one check per row -----------------------------------------------------------------------------------


def make_a_client(row: Row, live_server: Any) -> None:
    (made,) = row.results()
    assert isinstance(made, Client)
    assert made.app is row.ns["app"]


def query_string(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    assert r.json()["args"] == {"q": ["x"]} == theirs().get("/", query_string={"q": "x"}).json["args"]


def form_fields(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    assert r.json()["form"] == {"a": ["1"]} == theirs().post("/", data={"a": "1"}).json["form"]


def json_body(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    assert r.json()["json"] == {"a": 1} == theirs().post("/", json={"a": 1}).json["json"]


def upload_a_file(row: Row, live_server: Any) -> None:
    expected = theirs().post("/", data={"f": (io.BytesIO(b"abc"), "a.txt")}).json["files"]
    assert expected == {"f": [["a.txt", "abc", "text/plain"]]}
    for r in row.results():
        assert r.json()["files"] == expected


def several_files(row: Row, live_server: Any) -> None:
    data = {"f": [(io.BytesIO(b"1"), "a.txt"), (io.BytesIO(b"2"), "b.txt")]}
    expected = theirs().post("/", data=data).json["files"]
    assert len(expected["f"]) == 2
    for r in row.results():
        assert r.json()["files"] == expected


def a_header(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    their = theirs().get("/", headers={"X-Api-Key": "k"})
    assert r.environ["HTTP_X_API_KEY"] == their.request.environ["HTTP_X_API_KEY"] == "k"


def basic_auth(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    assert r.json()["authorization"] == ["basic", "ada", "pw"]
    assert r.json()["authorization"] == theirs().get("/", auth=("ada", "pw")).json["authorization"]
    assert r.environ["HTTP_AUTHORIZATION"] == requests.auth._basic_auth_str("ada", "pw")


def requests_auth_object(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    server = live_server(flask_echo())
    their = requests.get(server.url + "/", auth=requests.auth.HTTPBasicAuth("ada", "pw"), timeout=10)
    assert r.json()["authorization"] == their.json()["authorization"] == ["basic", "ada", "pw"]


def bearer_token(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    their = theirs().get("/", headers={"Authorization": "Bearer t"}).json["authorization"]
    assert r.json()["authorization"] == their == ["bearer", "t"]


def client_address(row: Row, live_server: Any) -> None:
    their = theirs().get("/", environ_base={"REMOTE_ADDR": "10.0.0.1"}).json["environ"]["REMOTE_ADDR"]
    for r in row.results():
        assert r.json()["environ"]["REMOTE_ADDR"] == their == "10.0.0.1"


def https(row: Row, live_server: Any) -> None:
    their = theirs().get("/", base_url="https://localhost").request.environ
    for r in row.results():
        ours = r.environ
        for key in ("wsgi.url_scheme", "SERVER_NAME", "SERVER_PORT", "HTTP_HOST"):
            assert ours[key] == their[key], key
        assert ours["wsgi.url_scheme"] == "https"


def mounted_under_a_path(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    their = theirs().get("/x", base_url="http://localhost/app").request.environ
    for key in ("SCRIPT_NAME", "PATH_INFO", "HTTP_HOST"):
        assert r.environ.get(key) == their.get(key), key
    assert (r.environ["SCRIPT_NAME"], r.environ["PATH_INFO"]) == ("/app", "/x")
    # The request line carries the whole path, as a server behind the mount receives it (werkzeug
    # puts the path without the mount in its REQUEST_URI).
    assert r.environ["REQUEST_URI"] == "/app/x"


def cookies(row: Row, live_server: Any) -> None:
    assert row.results() == [None, "v"]
    client = row.ns["client"]
    their = flask_echo().test_client()
    their.set_cookie("name", "v")
    assert their.get_cookie("name").value == "v"
    assert client.get("/").environ["HTTP_COOKIE"] == their.get("/").request.environ["HTTP_COOKIE"]


def follow_redirects(row: Row, live_server: Any) -> None:
    (r,) = row.results()
    their = theirs().get("/redirect", follow_redirects=True)
    assert r.status_code == their.status_code == 200
    assert [h.status_code for h in r.history] == [h.status_code for h in their.history] == [302]
    assert r.url == their.request.url == "http://localhost/"


def status(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/status/404")
    their = theirs().get("/status/404")
    assert row.results() == [their.status_code, their.status, "Custom Reason"] == [
        404, "404 Custom Reason", "Custom Reason"]


def expect_a_status(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/status/404")
    row.results()
    row.ns["r"] = row.ns["client"].get("/")
    with pytest.raises(AssertionError):
        row.results()


def fail_on_errors(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/status/404")
    with pytest.raises(HTTPError) as info:
        row.run(0)
    their = over_requests(live_server, "/status/404")
    with pytest.raises(requests.HTTPError) as their_info:
        their.raise_for_status()
    assert str(info.value).replace("http://localhost", "") == str(their_info.value).replace(
        live_server.servers[-1].url, "")
    assert row.run(1) is False
    row.ns["r"] = row.ns["client"].get("/")
    assert row.results() == [None, True]


def the_body(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/lines")
    assert row.results() == [theirs().get("/lines").data]


def the_text(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/lines")
    assert row.results() == [theirs().get("/lines").get_data(as_text=True)]


def json_response(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/", params={"q": "1"})
    (ours,) = row.results()
    their = theirs().get("/", query_string={"q": "1"}).get_json()
    assert ours["args"] == their["args"] == {"q": ["1"]}


def a_response_header(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/")
    assert row.results() == [theirs().get("/").headers["Content-Type"]] * 2


def every_set_cookie(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/cookies")
    expected = theirs().get("/cookies").headers.getlist("Set-Cookie")
    assert row.results() == [expected, expected]
    assert len(expected) == 2


def headers_as_a_dict(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/cookies")
    (ours,) = row.results()
    their = dict(over_requests(live_server, "/cookies").headers)
    assert {k: v for k, v in ours.items() if k.lower() in APP_FIELDS} == {
        k: v for k, v in their.items() if k.lower() in APP_FIELDS}


def body_in_pieces(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/lines")
    pieces, lines = row.results()
    their = over_requests(live_server, "/lines")
    assert list(pieces) == list(their.iter_content(1024))
    assert list(lines) == list(their.iter_lines())


def final_url(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/redirect", follow_redirects=True)
    assert row.results() == [theirs().get("/redirect", follow_redirects=True).request.url]


def what_the_app_received(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/where", params={"a": "1"})
    (environ,) = row.results()
    their = theirs().get("/where", query_string={"a": "1"}).request.environ
    for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "wsgi.url_scheme"):
        assert environ[key] == their[key], key


def time_taken(row: Row, live_server: Any) -> None:
    row.ns["r"] = row.ns["client"].get("/")
    (elapsed,) = row.results()
    assert isinstance(elapsed, timedelta)
    assert elapsed > timedelta(0)


def app_exception(row: Row, live_server: Any) -> None:
    row.ns["app"].testing = True  # Flask lets the exception through, as in its own test client
    with pytest.raises(RuntimeError, match="boom"):
        row.ns["client"].get("/boom")
    (r,) = row.results()
    assert r.status_code == 500
    assert isinstance(r.problems[0].exc_info[1], RuntimeError)


def real_server(row: Row, live_server: Any) -> None:
    (url,) = row.results()
    assert url.startswith("http://127.0.0.1:")
    assert requests.get(url + "/x", timeout=10).json()["path"] == "/x"


CHECKS: dict[str, Callable[[Row, Any], None]] = {
    "make a client": make_a_client,
    "query string": query_string,
    "form fields": form_fields,
    "JSON body": json_body,
    "upload a file": upload_a_file,
    "several files in one field": several_files,
    "a header": a_header,
    "Basic auth": basic_auth,
    "a requests auth object": requests_auth_object,
    "a bearer token": bearer_token,
    "the client's address": client_address,
    "https": https,
    "an app mounted under a path": mounted_under_a_path,
    "set and read a cookie": cookies,
    "follow redirects": follow_redirects,
    "the status": status,
    "expect a status": expect_a_status,
    "fail on 4xx/5xx": fail_on_errors,
    "the body": the_body,
    "the text": the_text,
    "JSON": json_response,
    "a response header": a_response_header,
    "every Set-Cookie": every_set_cookie,
    "headers as a dict": headers_as_a_dict,
    "the body in pieces": body_in_pieces,
    "the final URL": final_url,
    "what the app received": what_the_app_received,
    "time taken": time_taken,
    "an app exception": app_exception,
    "a real server": real_server,
}


def test_every_row_has_a_check_and_every_check_a_row() -> None:
    rows = table_rows()
    assert list(rows) == list(CHECKS)
    assert all(rows.values()), [task for task, spans in rows.items() if not spans]


@pytest.mark.parametrize("task", list(CHECKS))
def test_the_row_runs_and_agrees_with_the_other_libraries(task: str, live_server: Any) -> None:
    app = flask_echo()
    client = Client(app, errors=io.StringIO())
    namespace = {"app": app, "client": client, "Client": Client, "io": io, "r": client.get("/"),
                 "HTTPBasicAuth": requests.auth.HTTPBasicAuth, "live_server": live_server}
    CHECKS[task](Row(table_rows()[task], namespace), live_server)
