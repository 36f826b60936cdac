"""The access log through gunicorn's logger, the error log, and the request hooks."""

from __future__ import annotations

import re
from pathlib import Path

from wsgicore import Config

from .gunicorn_support import HERE, get, running

FORMAT = ("%(h)s|%(r)s|%(s)s|%(b)s|%(a)s|%(T)s|%(D)s|%(L)s|%(m)s|%(U)s|%(q)s|%(H)s"
          "|%({x-req}i)s|%({x-test}o)s|%({content-type}o)s|%(p)s")


def test_access_log_follows_access_logformat(worker: str) -> None:
    with running(worker, "--access-logfile", "-", "--access-logformat", FORMAT, workers=1) as server:
        status, _, body = get(server.address, "/pid?x=1",
                              headers={"User-Agent": "probe/1", "X-Req": "abc"})
        assert status == 200
        line = server.wait_for(r"^127\.0\.0\.1\|GET /pid").string
    pid = body.decode()
    pattern = (r"127\.0\.0\.1\|GET /pid\?x=1 HTTP/1\.1\|200\|" + str(len(body)) + r"\|probe/1"
               r"\|0\|\d+\|0\.\d{6}\|GET\|/pid\|x=1\|HTTP/1\.1\|abc\|yes\|text/plain\|<" + pid + ">")
    assert re.fullmatch(pattern, line), line


def test_access_log_off_by_default_and_errors_in_error_log(worker: str) -> None:
    with running(worker, workers=1) as server:
        assert get(server.address, "/pid")[0] == 200
        status, _, body = get(server.address, "/raise")
        server.wait_for("RuntimeError: boom from the test app")
        text = server.text()
    assert status == 500
    assert b"boom" not in body  # the traceback is for the log, not the client
    assert "Traceback (most recent call last)" in text
    assert '"GET /pid' not in text  # no --access-logfile: no access log


def test_pre_and_post_request_hooks(worker: str, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.log"
    with running(worker, "-c", str(HERE / "gunicorn_hooks.py"), workers=1,
                 env={"WSGICORE_HOOKS_LOG": str(hooks)}) as server:
        status, _, body = get(server.address, "/pid?q=1", headers={"X-Hook": "h1"})
        assert get(server.address, "/raise")[0] == 500
    pid = body.decode()
    lines = hooks.read_text().splitlines()
    assert status == 200
    assert lines[:4] == [
        f"pre {pid} GET /pid /pid?q=1 h1",
        f"post {pid} GET /pid 200 OK {len(body)} GET 1",
        f"pre {pid} GET /raise /raise -",
        f"post {pid} GET /raise 500 Internal Server Error {len(Config().server_error_body)} GET 2",
    ], lines
