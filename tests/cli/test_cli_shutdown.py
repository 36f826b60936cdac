"""A stop always ends, with every driver: a closed stdout or stderr never stops it (status 0, no
traceback); a second SIGINT or SIGTERM stops at once; while it waits, one line says for how many
requests and how long; a request cut off is logged (method, target, client, how long it ran) and
the exit status (4) says so. Real processes, every wait bounded (LIMIT)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ._process import LIMIT, Served, get, serve, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

DRIVERS = ["simple", "threading", "asyncio"]
#: The exit status of a stop that cut requests off (docs/cli.md).
CUT_OFF = 4

#: Says it started, then waits for a file named "go" (for a minute at most: far past any LIMIT).
BLOCKING_APP = '''\
import os, time


def app(environ, start_response):
    open("started", "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists("go") and time.monotonic() < deadline:
        time.sleep(0.02)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"finished"]
'''


def _wait_for(path: Path) -> None:
    for _ in range(int(LIMIT / 0.02)):
        if path.exists():
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"{path} never appeared")


def _start_blocked_request(served: Served, tmp_path: Path, target: str = "/slow?q=1") -> threading.Thread:
    """A request whose application is running (and blocked) when this returns."""

    def request() -> None:
        with contextlib.suppress(OSError):  # cut off: the connection ends without a response
            get(served.addresses[0], target)

    client = threading.Thread(target=request, daemon=True)
    client.start()
    _wait_for(tmp_path / "started")
    return client


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_closed_stdout_pipe_never_stops_a_stop(driver: str) -> None:
    # `wsgicore ... | head -2`: the reader of stdout is gone when "Shutting down." is printed.
    served = serve("--driver", driver, "--port", "0")
    assert served.process.stdout is not None
    served.process.stdout.close()
    assert get(served.addresses[0], "/after")[0] == 200
    status = served.stop(signal.SIGTERM)
    assert status == 0, served.err
    assert "Traceback" not in served.err
    assert '"GET /after HTTP/1.1" 200' in served.err  # stderr still works


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_closed_stderr_pipe_never_stops_serving_or_the_stop(driver: str) -> None:
    # A log shipper that died: every access-log line meets a closed pipe.
    served = serve("--driver", driver, "--port", "0")
    assert served.process.stderr is not None
    served.process.stderr.close()
    for _ in range(3):
        assert get(served.addresses[0], "/logged")[0] == 200
    status = served.stop(signal.SIGTERM)
    assert status == 0
    assert "Shutting down." in served.out
    assert "Traceback" not in served.out


@pytest.mark.parametrize("driver", DRIVERS)
def test_both_pipes_closed(driver: str, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", "--grace", "0.5",
                   write_app(tmp_path, "blocking", BLOCKING_APP), cwd=tmp_path)
    assert served.process.stdout is not None
    assert served.process.stderr is not None
    served.process.stdout.close()
    served.process.stderr.close()
    _start_blocked_request(served, tmp_path)
    # Every message of the stop (the waiting line, the cut-off line) meets a closed pipe.
    assert served.stop(signal.SIGTERM) == CUT_OFF


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_second_signal_stops_at_once(driver: str, second: int, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", "--grace", "60",
                   write_app(tmp_path, "blocking", BLOCKING_APP), cwd=tmp_path)
    try:
        _start_blocked_request(served, tmp_path)
        served.process.send_signal(signal.SIGTERM)
        served.read_err_until("wsgicore: waiting up to 60 s (--grace) for 1 request in progress; "
                              "Ctrl-C or SIGTERM again stops at once\n")
        served.process.send_signal(second)
        # The grace (60 s) and the application (60 s) are far past LIMIT: only an immediate stop
        # ends within it (stop() kills the process after LIMIT: status -9).
        status = served.stop(None)
    finally:
        (tmp_path / "go").write_text("")
    assert status == CUT_OFF, served.err
    assert "wsgicore: a second signal: stopping at once\n" in served.err
    assert re.search(r"wsgicore: cut off \(a second signal\): GET /slow\?q=1 from 127\.0\.0\.1, "
                     r"running for \d+\.\d s\n", served.err), served.err
    assert "Traceback" not in served.err


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_request_outliving_the_grace_is_cut_off_and_logged(driver: str, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", "--grace", "1",
                   write_app(tmp_path, "blocking", BLOCKING_APP), cwd=tmp_path)
    try:
        _start_blocked_request(served, tmp_path, "/slow?q=1")
        status = served.stop(signal.SIGTERM)
    finally:
        (tmp_path / "go").write_text("")
    assert status == CUT_OFF, served.err
    assert ("wsgicore: waiting up to 1 s (--grace) for 1 request in progress; "
            "Ctrl-C or SIGTERM again stops at once\n") in served.err
    found = re.search(r"wsgicore: cut off \(--grace 1 s ran out\): GET /slow\?q=1 from 127\.0\.0\.1, "
                      r"running for (\d+\.\d) s\n", served.err)
    assert found, served.err
    assert float(found.group(1)) >= 1.0  # it ran for the whole grace, at least
    assert "Traceback" not in served.err
    assert "Shutting down." in served.out


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_request_that_ends_within_the_grace_is_a_clean_stop(driver: str, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", write_app(tmp_path, "blocking", BLOCKING_APP),
                   cwd=tmp_path)
    client = _start_blocked_request(served, tmp_path)
    served.process.send_signal(signal.SIGTERM)
    served.read_err_until("for 1 request in progress")
    (tmp_path / "go").write_text("")
    client.join(LIMIT)
    assert served.stop(None) == 0, served.err
    assert "cut off" not in served.err


def test_ctrl_c_under_reload_counts_once(tmp_path: Path) -> None:
    # Ctrl-C at a terminal reaches every process of the foreground group: the supervisor and the
    # serving process. It must stop gracefully (once), not as a second signal would.
    write_app(tmp_path, "blocking", BLOCKING_APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "wsgidrivers", "--reload", "--reload-engine", "poll", "--port", "0",
         "--grace", "60", "blocking:app"], cwd=tmp_path, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("WSGICORE_")},
             "PYTHONUNBUFFERED": "1"})
    served = Served(process, [])
    try:
        assert process.stdout is not None
        for _ in range(2):
            line = process.stdout.readline()
            if line.startswith("Serving HTTP"):
                break
        port = int(line.split(" port ")[1].split()[0])
        served.addresses.append(("127.0.0.1", port))
        result: list[tuple[int, dict[str, str], bytes]] = []
        client = threading.Thread(target=lambda: result.append(get(served.addresses[0])), daemon=True)
        client.start()
        _wait_for(tmp_path / "started")
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does
        served.read_err_until("for 1 request in progress")
        (tmp_path / "go").write_text("")
        client.join(LIMIT)
    finally:
        (tmp_path / "go").write_text("")
        status = served.stop(None)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert status == 0, served.err
    assert [(status, body) for status, _, body in result] == [(200, b"finished")]
    assert "second signal" not in served.err
    assert "cut off" not in served.err


def test_the_stop_waits_for_connections_not_for_idle_threads(tmp_path: Path) -> None:
    # The threading driver's connection threads outlive their connections (they wait for the next
    # one): a stop that waited for every thread it had seen ran out the whole --grace (issue 23).
    served = serve("--driver", "threading", "--port", "0", "--grace", "30",
                   write_app(tmp_path, "blocking", BLOCKING_APP), cwd=tmp_path)
    (tmp_path / "go").write_text("")
    clients = [threading.Thread(target=get, args=(served.addresses[0], "/")) for _ in range(8)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(LIMIT)
    started = time.monotonic()
    assert served.stop(signal.SIGTERM) == 0, served.err
    assert time.monotonic() - started < 5.0, served.err
    assert "cut off" not in served.err


@pytest.mark.parametrize("driver", ["simple", "threading"])
def test_a_connection_that_never_sends_a_request_holds_the_stop_for_the_window_only(
    driver: str, tmp_path: Path
) -> None:
    # A browser's speculative connection sends nothing: the stop ends it once the first-request
    # window closes, not after head_timeout (30 s here) or the grace (60 s).
    from wsgidrivers.simple_server._run import FIRST_REQUEST_WINDOW

    served = serve("--driver", driver, "--port", "0", "--grace", "60", "--head-timeout", "30",
                   write_app(tmp_path, "blocking", BLOCKING_APP), cwd=tmp_path)
    with socket.create_connection(served.addresses[0], timeout=LIMIT):
        time.sleep(0.2)  # accepted (the simple driver's one thread now waits for its head)
        started = time.monotonic()
        assert served.stop(signal.SIGTERM) == 0, served.err
    assert time.monotonic() - started < FIRST_REQUEST_WINDOW + 10, served.err
    assert "cut off" not in served.err
