"""``python -m wsgidrivers.simple_server``: starts, serves, and stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .helpers import request

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _start(*args: str, cwd: Path | None = None) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "wsgidrivers.simple_server", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
    )
    timer = threading.Timer(15, process.kill)  # bound the wait for the first line
    timer.start()
    try:
        line = process.stdout.readline() if process.stdout else ""
    finally:
        timer.cancel()
    match = re.search(r"Serving HTTP on (\S+) port (\d+)", line)
    if match is None:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"no start-up line: {line!r} {err!r}")
    return process, (match[1], int(match[2]))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serves_demo_app_and_exits_cleanly(stop: signal.Signals) -> None:
    process, address = _start("--port", "0")
    try:
        status, _, _, body = request(address, path="/xyz?abc")
        assert status == 200
        assert body.startswith(b"Hello world!\n")
        assert b"PATH_INFO = '/xyz'" in body
        assert request(address)[0] == 200  # still serving after the first request
    finally:
        process.send_signal(stop)
        _out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    assert '"GET /xyz?abc HTTP/1.1" 200' in err


def test_serves_module_app(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'from myapp']\n"
    )
    process, address = _start("--host", "127.0.0.1", "--port", "0", "myapp:app", cwd=tmp_path)
    try:
        assert request(address)[3] == b"from myapp"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_bad_app_name_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsgidrivers.simple_server", "--port", "0", "no_such_module:app"],
        check=False, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "cannot load" in result.stderr
    assert "Traceback" not in result.stderr
