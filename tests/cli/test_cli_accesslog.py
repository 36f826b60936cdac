"""The command line's access-log formats (``wsgidrivers._common.accesslog.AccessLog``): every atom of
gunicorn's that we support, escaping, JSON lines, and the refusals of a bad format."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from wsgidrivers._common.accesslog import ACCESS_ATOMS, DEFAULT_ACCESS_FORMAT, AccessLog, clf_date


@pytest.fixture
def utc() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


#: 2025-11-24 04:05:06 UTC
WHEN = 1763957106.25

ENVIRON: dict[str, Any] = {
    "REMOTE_ADDR": "203.0.113.9", "REQUEST_METHOD": "POST", "REQUEST_URI": "/a/b?x=1&y=2",
    "PATH_INFO": "/a/b", "QUERY_STRING": "x=1&y=2", "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_REFERER": "https://example.com/", "HTTP_USER_AGENT": "agent/1.0", "CONTENT_TYPE": "text/csv",
    "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"alice:secret").decode(),
    "HTTP_X_TRACE": "t-1", "wsgi.url_scheme": "https",
}


def _line(format: str, environ: dict[str, Any] | None = None, *, status: int = 200, size: int = 1234,
          duration: float = 1.5, headers: list[tuple[str, str]] | None = None) -> str:
    line = AccessLog(format).line(environ if environ is not None else ENVIRON, status, size, duration,
                                  response_headers=headers, when=WHEN)
    assert line.endswith("\n")
    return line[:-1]


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize(("atom", "value"), [
    ("h", "203.0.113.9"), ("l", "-"), ("u", "alice"), ("t", "[24/Nov/2025:04:05:06 +0000]"),
    ("r", "POST /a/b?x=1&y=2 HTTP/1.1"), ("m", "POST"), ("U", "/a/b"), ("q", "x=1&y=2"),
    ("H", "HTTP/1.1"), ("s", "200"), ("B", "1234"), ("b", "1234"), ("f", "https://example.com/"),
    ("a", "agent/1.0"), ("T", "1"), ("M", "1500"), ("D", "1500000"), ("L", "1.500000"),
    ("p", "<PID>"), ("{user-agent}i", "agent/1.0"), ("{X-Trace}i", "t-1"),
    ("{content-type}i", "text/csv"), ("{x-missing}i", "-"), ("{x-id}o", "7"),
    ("{wsgi.url_scheme}e", "https"), ("{remote_addr}e", "203.0.113.9"),
])
def test_each_atom(atom: str, value: str) -> None:
    assert atom in ACCESS_ATOMS or atom[0] == "{"
    assert _line(f"%({atom})s", headers=[("X-Id", "7")]) == value.replace("PID", str(os.getpid()))


def test_every_documented_atom_is_tested() -> None:
    tested = {"h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a", "T", "M", "D", "L",
              "p", "{name}i", "{name}o", "{name}e"}
    assert set(ACCESS_ATOMS) == tested


def test_missing_values_are_dashes_and_b_is_a_dash_for_no_body() -> None:
    bare = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_PROTOCOL": "HTTP/1.0"}
    assert _line("%(h)s %(u)s %(f)s %(a)s %(q)s %(b)s %(B)s %({x}o)s", bare, size=0) == "- - - - - - 0 -"


def test_a_response_header_given_twice_is_joined() -> None:
    assert _line("%({set-cookie}o)s", headers=[("Set-Cookie", "a=1"), ("set-cookie", "b=2")]) == "a=1, b=2"


def test_the_user_of_a_bad_authorization_is_unknown() -> None:
    for value in ("Basic !!!", "Bearer abc", "Basic " + base64.b64encode(b"\xff\xfe").decode()):
        assert _line("%(u)s", {**ENVIRON, "HTTP_AUTHORIZATION": value}) == "-"
    assert _line("%(u)s", {**ENVIRON, "REMOTE_USER": "bob"}) == "bob"


def test_client_text_cannot_forge_lines_or_break_quotes() -> None:
    environ = {**ENVIRON, "HTTP_USER_AGENT": 'evil"\n127.0.0.1 - - fake\x1b[31m\\'}
    assert _line('"%(a)s"', environ) == '"evil\\"\\x0a127.0.0.1 - - fake\\x1b[31m\\\\"'


def test_percent_signs_and_literal_text() -> None:
    assert _line("100%% of %(s)s\tdone") == "100% of 200\tdone"


@pytest.mark.parametrize(("format", "message"), [
    ("%(h)s %(zz)s", "unknown atom %(zz)s"),
    ("%(h)d", "a '%' at offset 0 starts no atom"),
    ("%(h)s 50%", "a '%' at offset 8 starts no atom"),
    ("%({}i)s", "unknown atom %({}i)s"),
    ("%({x}z)s", "unknown atom %({x}z)s"),
])
def test_a_bad_format_is_refused(format: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        AccessLog(format)
    assert str(refused.value).startswith(message)


@pytest.mark.usefixtures("utc")
def test_the_default_format() -> None:
    assert AccessLog().format == DEFAULT_ACCESS_FORMAT
    assert _line(DEFAULT_ACCESS_FORMAT) == (
        '203.0.113.9 - alice [24/Nov/2025:04:05:06 +0000] "POST /a/b?x=1&y=2 HTTP/1.1" 200 1234 '
        '"https://example.com/" "agent/1.0" 1.500000')


def test_only_a_format_with_response_headers_asks_for_them() -> None:
    assert AccessLog("%({x}o)s").response_headers
    assert not AccessLog().response_headers
    assert not AccessLog(json=True).response_headers


@pytest.mark.usefixtures("utc")
def test_json_lines() -> None:
    line = AccessLog(json=True).line(ENVIRON, 404, 0, 0.0123456, when=WHEN)
    assert line.endswith("}\n")
    assert "\n" not in line[:-1]
    assert json.loads(line) == {
        "time": "2025-11-24T04:05:06.250+00:00", "client": "203.0.113.9", "method": "POST",
        "target": "/a/b?x=1&y=2", "protocol": "HTTP/1.1", "status": 404, "bytes": 0,
        "duration": 0.012346, "referer": "https://example.com/", "user_agent": "agent/1.0"}
    bare = json.loads(AccessLog(json=True).line({"REQUEST_METHOD": "GET"}, 200, 1, 0.0))
    assert (bare["client"], bare["referer"], bare["user_agent"]) == (None, None, None)


def test_the_clf_date_has_the_offset_and_english_months() -> None:
    saved = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "EST+5"
        time.tzset()
        assert clf_date(WHEN) == "[23/Nov/2025:23:05:06 -0500]"
        os.environ["TZ"] = "IST-5:30"
        time.tzset()
        assert clf_date(WHEN) == "[24/Nov/2025:09:35:06 +0530]"
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
