"""The command line's logging: its own logger only (never the root logger), so an application's or a
framework's handlers print each record once; ``--log-level``; the access log's default line (with the
duration, user agent and referer), ``--access-log-format`` (gunicorn's atoms) and ``--access-log-json``,
with every driver."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from ._process import get, serve, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

DRIVERS = ["simple", "threading", "asyncio"]

#: A Django project in one module: DEBUG on, so Django's own console handler prints the warning
#: "Not Found: /missing" its request logger writes for a 404.
DJANGO_APP = '''\
from django.conf import settings

settings.configure(DEBUG=True, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="test",
                   MIDDLEWARE=[], INSTALLED_APPS=[])

from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("ok", lambda request: HttpResponse(b"ok"))]
application = get_wsgi_application()
'''

#: An application whose logger has its own handler, as libraries and frameworks set up.
OWN_HANDLER_APP = '''\
import logging

log = logging.getLogger("myapp")
log.addHandler(logging.StreamHandler())
log.setLevel(logging.INFO)


def app(environ, start_response):
    log.warning("myapp says hello")
    log.info("myapp informs")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''

#: An application that configures no logging at all, and reports what the root logger looks like.
UNCONFIGURED_APP = '''\
import logging


def app(environ, start_response):
    logging.getLogger("myapp").warning("an unconfigured warning")
    logging.getLogger("myapp").info("an unconfigured info")
    root = logging.getLogger()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{len(root.handlers)} {logging.getLevelName(root.level)}".encode()]
'''


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_django_warning_is_printed_once(driver: str, tmp_path: Path) -> None:
    pytest.importorskip("django")
    (tmp_path / "djangoproject.py").write_text(DJANGO_APP)
    served = serve("--driver", driver, "--port", "0", "djangoproject", cwd=tmp_path)
    try:
        assert get(served.addresses[0], "/missing")[0] == 404
        assert get(served.addresses[0], "/ok")[2] == b"ok"
    finally:
        assert served.stop() == 0, served.err
    assert served.err.count("Not Found: /missing") == 1, served.err


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_applications_own_handler_prints_once(driver: str, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", write_app(tmp_path, "ownhandler", OWN_HANDLER_APP),
                   cwd=tmp_path)
    try:
        assert get(served.addresses[0])[2] == b"ok"
    finally:
        served.stop()
    assert served.err.count("myapp says hello") == 1, served.err
    assert served.err.count("myapp informs") == 1, served.err


def test_the_root_logger_is_the_applications(tmp_path: Path) -> None:
    # Unconfigured: Python's last-resort handler prints warnings once; the root logger has no
    # handler and its default level, whatever --log-level says.
    served = serve("--port", "0", "--log-level", "debug",
                   write_app(tmp_path, "unconfigured", UNCONFIGURED_APP), cwd=tmp_path)
    try:
        assert get(served.addresses[0])[2] == b"0 WARNING"
    finally:
        served.stop()
    assert served.err.count("an unconfigured warning") == 1, served.err
    assert "an unconfigured info" not in served.err


def test_log_level_sets_wsgicores_own_messages(tmp_path: Path) -> None:
    # error: no banner, no access log (as warning), and no shutdown messages either.
    path = tmp_path / "quiet.sock"
    import signal
    import subprocess
    import threading

    from ._process import LIMIT, unix_get

    process = subprocess.Popen(
        [sys.executable, "-m", "wsgidrivers", "--bind", f"unix:{path}", "--log-level", "error"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(int(LIMIT / 0.02)):
            if path.exists() or process.poll() is not None:
                break
            threading.Event().wait(0.02)
        assert unix_get(str(path), "/hidden")[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=LIMIT)
    assert "Serving" not in out
    assert err == ""


#: The default line: the combined log format (gunicorn's default), then the seconds it took.
DEFAULT_LINE = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /x\?y=1 HTTP/1\.1" '
    r'200 \d+ "http://example\.com/from" "test-agent/1\.0" \d+\.\d{6}$', re.MULTILINE)


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_default_access_line_has_referer_user_agent_and_duration(driver: str) -> None:
    served = serve("--driver", driver, "--port", "0")
    try:
        get(served.addresses[0], "/x?y=1",
            headers={"Referer": "http://example.com/from", "User-Agent": "test-agent/1.0"})
    finally:
        served.stop()
    assert DEFAULT_LINE.search(served.err), served.err


HEADERS_APP = '''\
def app(environ, start_response):
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Request-Id", "abc-123")])
    return [b"created", b"!"]
'''


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_access_log_format_of_gunicorns_atoms(driver: str, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", "--access-log-format",
                   "%(m)s %(U)s ?%(q)s %(H)s -> %(s)s %(B)s %({x-request-id}o)s %({x-client}i)s "
                   "%(D)sus %% %(p)s", write_app(tmp_path, "headers", HEADERS_APP), cwd=tmp_path)
    try:
        assert get(served.addresses[0], "/made?k=v", headers={"X-Client": "c1"})[0] == 201
    finally:
        served.stop()
    pid = served.process.pid
    assert re.search(rf"^GET /made \?k=v HTTP/1\.1 -> 201 8 abc-123 c1 \d+us % <{pid}>$",
                     served.err, re.MULTILINE), served.err


@pytest.mark.parametrize("driver", DRIVERS)
def test_json_lines(driver: str, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", "--access-log-json",
                   write_app(tmp_path, "headers", HEADERS_APP), cwd=tmp_path)
    try:
        get(served.addresses[0], "/j?a=1", headers={"User-Agent": "ua/2"})
    finally:
        served.stop()
    lines = [line for line in served.err.splitlines() if line.startswith("{")]
    assert len(lines) == 1, served.err
    record = json.loads(lines[0])
    assert set(record) == {"time", "client", "method", "target", "protocol", "status", "bytes",
                           "duration", "referer", "user_agent"}
    assert (record["client"], record["method"], record["target"], record["protocol"], record["status"],
            record["bytes"], record["referer"], record["user_agent"]) == (
        "127.0.0.1", "GET", "/j?a=1", "HTTP/1.1", 201, 8, None, "ua/2")
    assert isinstance(record["duration"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", record["time"])


def test_the_format_from_the_environment() -> None:
    served = serve("--port", "0", env={"WSGICORE_ACCESS_LOG_FORMAT": "[%(s)s %(r)s]"})
    try:
        get(served.addresses[0], "/env")
    finally:
        served.stop()
    assert "[200 GET /env HTTP/1.1]\n" in served.err
