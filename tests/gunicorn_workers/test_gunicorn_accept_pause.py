"""Both workers at a resource limit (in process): while accept() fails with EMFILE the listener stays
readable; the worker pauses accepting (the rule every driver shares), logs it once, and serves the
connection that waited once accept() works again. The AsyncioWorker's loop used to log a warning on
every turn and turn again at once; the ThreadWorker's main loop polled the readable listener again."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

from gunicorn.config import Config as GunicornConfig

from wsgidrivers._common import connthreads
from wsgidrivers.gunicorn import AsyncioWorker, ThreadWorker, _threaded
from wsgidrivers.gunicorn._poll import Poller

TIMEOUT = 10.0
FAILING = 1.0  # seconds accept() fails for


class _Log:
    """gunicorn's logger, recording the warnings."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        self.warnings.append(message % args)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class _Failing(socket.socket):
    """A listener whose accept() fails with EMFILE until ``until`` (monotonic)."""

    until = 0.0

    def accept(self) -> tuple[socket.socket, Any]:
        if time.monotonic() < self.until:
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


class _Errors:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


class _Shared(Poller):
    """A poll whose wake-ups are never exclusive (the main loop's poll of other systems)."""

    def __init__(self) -> None:
        super().__init__()
        self.exclusive = False


@pytest.mark.parametrize("standby", [True, False], ids=["stand-by threads", "loop only"])
@pytest.mark.parametrize("kind", [ThreadWorker, AsyncioWorker], ids=lambda kind: kind.__name__)
def test_out_of_descriptors_pauses_accepting_logs_once_and_serves_again(
    kind: type[Any], standby: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without stand-by threads (other systems, TLS) the worker's loop accepts every connection.
    if not standby:
        monkeypatch.setattr(_threaded, "Poller", _Shared)
        monkeypatch.setattr(connthreads, "EXCLUSIVE_WAKEUPS", False)  # no accepting threads
        monkeypatch.setattr(AsyncioWorker, "_stand_by_posts", lambda self: (None, None))
    listener = _Failing(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    cfg = GunicornConfig()
    cfg.set("threads", 2)
    log = _Log()
    worker = kind(1, os.getppid(), [listener], None, 30, cfg, log)
    worker.prepare()
    worker.wsgi = _hello
    worker.errors = _Errors()
    worker.PIPE = os.pipe()
    for fd in worker.PIPE:
        os.set_blocking(fd, False)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        time.sleep(0.2)  # listening
        listener.until = time.monotonic() + FAILING
        cpu = time.process_time()
        with socket.create_connection(listener.getsockname(), TIMEOUT) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(max(0.0, listener.until - time.monotonic()))
            used = time.process_time() - cpu
            received = b""
            while chunk := client.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 "), received
        # Every thread of this process: a retry per pause costs little, a spin all of a CPU.
        assert used < 0.4 * FAILING, f"{used:.2f} s of CPU in {FAILING} s of failing accept()"
    finally:
        worker.alive = False
        worker.wake()
        runner.join(TIMEOUT)
        listener.close()
        for fd in worker.PIPE:
            os.close(fd)
    paused = [line for line in log.warnings if "accept() failed" in line]
    assert len(paused) == 1, log.warnings
    assert "Too many open files" in paused[0]
    assert any("accepting again" in line for line in log.warnings), log.warnings
