"""``--reload``: an edited module is served within a couple of seconds on the same port, a broken
edit is reported and the next fix is picked up, and Ctrl-C stops everything with status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from wsgidrivers._cli import main
from wsgidrivers._cli._reload import Watcher, engine_available

from ._process import LIMIT, Served, get, serve

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


ENGINES = ["poll", pytest.param("watchfiles", marks=pytest.mark.skipif(
    not engine_available("watchfiles"), reason="watchfiles is not installed"))]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("driver", ["threading", "asyncio"])
def test_an_edited_module_is_served_again(driver: str, engine: str, tmp_path: Path) -> None:
    (tmp_path / "reloaded.py").write_text(SOURCE)
    (tmp_path / "helper.py").write_text('TEXT = "first"\n')
    served = serve("--reload", "--reload-engine", engine, "--driver", driver, "--port", "0",
                   "reloaded:app", cwd=tmp_path)
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


def test_a_module_that_does_not_exist_yet_is_served_once_written(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wsgidrivers", "--reload", "--reload-engine", "poll", "--port", "0",
         "later:app"], cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    served = Served(process, [])
    try:
        _eventually(lambda: "no module named 'later'" in _stderr_so_far(process))
        (tmp_path / "helper.py").write_text('TEXT = "late"\n')
        (tmp_path / "later.py").write_text(SOURCE)
        assert process.stdout is not None
        timer = threading.Timer(LIMIT, process.kill)  # bounds the wait for the restarted banner
        timer.start()
        try:
            banner = process.stdout.readline()
        finally:
            timer.cancel()
        port = int(banner.split(" port ")[1].split()[0])
        assert get(("127.0.0.1", port))[2] == b"late"
    finally:
        assert served.stop() == 0


def test_the_serving_process_stops_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    (tmp_path / "reloaded.py").write_text(SOURCE)
    (tmp_path / "helper.py").write_text('TEXT = "first"\n')
    served = serve("--reload", "--port", "0", "reloaded:app", cwd=tmp_path)
    child = int(served.banner[-1].rsplit("pid ", 1)[1].split(";")[0])
    assert child != served.process.pid
    served.process.kill()  # SIGKILL: nothing is passed on
    served.stop(None)

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    _eventually(gone)


def test_the_watcher_sees_an_edit_and_notes_new_files(tmp_path: Path) -> None:
    watched = tmp_path / "watched.py"
    watched.write_text("A = 1\n")
    watcher = Watcher(lambda path: None, extra=[str(watched)])
    assert watcher.scan() is None
    later = tmp_path / "later.py"
    later.write_text("B = 1\n")
    watcher._extra += (str(later),)  # as a module imported after the start would be
    assert watcher.scan() is None  # noted, not a change
    watched.write_text("A = 22\n")  # another size: a change even within the same clock tick
    assert watcher.scan() == str(watched)
    watched.unlink()
    assert watcher.scan() == str(watched)


def test_the_watcher_ignores_installed_packages() -> None:
    watcher = Watcher(lambda path: None)
    seen = set(watcher._seen)
    assert pytest.__file__ not in seen  # site-packages
    assert os.__file__ not in seen  # the standard library
    assert __file__ in seen  # this test module is the user's code here


def test_a_missing_engine_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("wsgidrivers._cli._main.engine_available", lambda engine: engine != "watchfiles")
    with pytest.raises(SystemExit) as exit_info:
        main(["--reload", "--reload-engine", "watchfiles"])
    assert exit_info.value.code == 2
    assert "argument --reload-engine: watchfiles is not installed (pip install watchfiles)" in (
        capsys.readouterr().err)


@pytest.mark.skipif(not engine_available("watchfiles"), reason="watchfiles is not installed")
def test_watchfiles_falls_back_to_polling_when_a_directory_is_gone(tmp_path: Path) -> None:
    directory = tmp_path / "gone"
    directory.mkdir()
    watched = directory / "mod.py"
    watched.write_text("A = 1\n")
    seen: list[str] = []
    watcher = Watcher(seen.append, extra=[str(watched)], engine="watchfiles")
    watched.unlink()
    directory.rmdir()  # watchfiles cannot watch it: polling notices the file is gone
    watcher.start()
    assert watcher.changed.wait(LIMIT)
    assert seen == [str(watched)]
