"""``--reload``: an edited module is served within a couple of seconds on the same port, a broken
edit is reported and the next fix is picked up, and Ctrl-C stops everything with status 0."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ._process import LIMIT, get, serve

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SOURCE = '''\
import helper


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.TEXT.encode()]
'''


def _eventually(check: Callable[[], bool]) -> None:
    """Poll ``check`` until it holds; fail after LIMIT seconds (never a measured duration)."""
    deadline = time.monotonic() + LIMIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not within the limit")
        threading.Event().wait(0.1)


def _body(address: tuple[str, int]) -> bytes | None:
    try:
        return get(address)[2]
    except OSError:  # between two serving processes connections wait in the backlog, or fail
        return None


@pytest.mark.parametrize("driver", ["threading", "asyncio"])
def test_an_edited_module_is_served_again(driver: str, tmp_path: Path) -> None:
    (tmp_path / "reloaded.py").write_text(SOURCE)
    (tmp_path / "helper.py").write_text('TEXT = "first"\n')
    served = serve("--reload", "--driver", driver, "--port", "0", "reloaded:app", cwd=tmp_path)
    try:
        address = served.addresses[0]
        assert get(address)[2] == b"first"
        # An imported module of the application counts, not only the one named.
        (tmp_path / "helper.py").write_text('TEXT = "second, longer"\n')
        _eventually(lambda: _body(address) == b"second, longer")
        # A broken edit: reported, and the port stays (connections wait for the fix).
        (tmp_path / "helper.py").write_text("TEXT = (\n")
        _eventually(lambda: "SyntaxError" in _stderr_so_far(served.process))
        (tmp_path / "helper.py").write_text('TEXT = "fixed again!"\n')
        _eventually(lambda: _body(address) == b"fixed again!")
    finally:
        status = served.stop(signal.SIGINT)
    err = _stderr_so_far(served.process) + served.err  # the reader thread took most of it
    assert status == 0, err
    assert "Traceback" not in err
    assert "helper.py changed, restarting" in err
    assert f'File "{tmp_path}/helper.py", line 1' in err


_collected: dict[int, list[str]] = {}


def _stderr_so_far(process: object) -> str:
    """What the process wrote to stderr so far (read by a thread, so it never blocks)."""
    pid = process.pid  # type: ignore[attr-defined]
    if pid not in _collected:
        lines: list[str] = []
        _collected[pid] = lines

        def read() -> None:
            for line in process.stderr:  # type: ignore[attr-defined]
                lines.append(line)

        threading.Thread(target=read, daemon=True).start()
    return "".join(_collected[pid])
