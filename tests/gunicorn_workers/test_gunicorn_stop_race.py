"""A connection a stand-by thread is woken for just as the worker is told to stop (both workers, in
process, on Linux): the kernel woke that thread alone, so it accepts the connection, and the graceful
stop must wait for it. Both workers once finished their stop first: the process then exited (or the
loop closed) with the connection unanswered, and a client reconnecting during a HUP reload got a reset.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

from gunicorn.config import Config as GunicornConfig
from gunicorn.glogging import Logger

from wsgidrivers.gunicorn import AsyncioWorker, ThreadWorker, _aio, _threaded

TIMEOUT = 10.0


class _Errors:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def _response(client: socket.socket) -> tuple[int, bool]:
    """Status and whether it says ``Connection: close``, of a response to ``_hello``."""
    received = b""
    while not received.endswith(b"hello"):
        chunk = client.recv(65536)
        assert chunk, f"the connection closed after {received!r}"
        received += chunk
    head = received.partition(b"\r\n\r\n")[0].lower()
    return int(head.split()[1]), b"\r\nconnection: close" in head


def _make_worker(kind: type[Any], listener: socket.socket) -> Any:
    cfg = GunicornConfig()
    cfg.set("threads", 1)
    cfg.set("graceful_timeout", int(TIMEOUT))
    worker = kind(1, os.getppid(), [listener], None, 30, cfg, Logger(cfg))
    worker.prepare()
    # What gunicorn's own init_process sets up, without signals or fork.
    worker.wsgi = _hello
    worker.errors = _Errors()
    worker.PIPE = os.pipe()
    for fd in worker.PIPE:
        os.set_blocking(fd, False)
    return worker


def _standing(worker: Any) -> bool:
    """Whether a stand-by thread waits on the listener (None: the worker has none here)."""
    if isinstance(worker, AsyncioWorker):
        standby = getattr(worker, "_standby", None)
        return standby is not None and len(standby._free) < standby.posts
    return any(thread.name.startswith("wsgicore-conn-") for thread in threading.enumerate())


@pytest.mark.parametrize("kind", [ThreadWorker, AsyncioWorker], ids=lambda kind: kind.__name__)
def test_a_connection_a_standing_thread_takes_as_the_worker_stops_is_served(
    kind: type[Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, release = threading.Event(), threading.Event()
    if kind is AsyncioWorker:
        accept = _aio.accept_one

        def gated_accept(listener: socket.socket, pause: Any) -> Any:
            entered.set()
            assert release.wait(TIMEOUT)
            return accept(listener, pause)

        monkeypatch.setattr(_aio, "accept_one", gated_accept)
    else:
        accept_one = _threaded._WorkerServer.accept_one

        def gated_method(server: Any) -> Any:
            entered.set()
            assert release.wait(TIMEOUT)
            return accept_one(server)

        monkeypatch.setattr(_threaded._WorkerServer, "accept_one", gated_method)
    listener = socket.create_server(("127.0.0.1", 0))
    worker = _make_worker(kind, listener)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _standing(worker):
            if time.monotonic() > deadline:
                pytest.skip("no stand-by thread (EPOLLEXCLUSIVE is Linux-only)")
            time.sleep(0.005)
        time.sleep(0.05)  # into its epoll_wait
        with socket.create_connection(listener.getsockname(), TIMEOUT) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert entered.wait(TIMEOUT)  # a stand-by thread was woken and is accepting
            worker.alive = False
            worker.wake()
            time.sleep(0.3)  # long enough for a stop that does not wait to be over
            assert runner.is_alive(), "the worker stopped with a connection being accepted"
            release.set()
            # Answered, and so is every request sent after a response that did not say "close":
            # those served before the stop began (a worker thread may serve a few in a row before
            # the loop gets to it) are kept alive, and the stopping worker answers the next request
            # on the connection with the last response.
            closes, sent = False, 1
            deadline = time.monotonic() + TIMEOUT
            while True:
                status, closes = _response(client)
                assert status == 200
                if closes or time.monotonic() > deadline:
                    break
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                sent += 1
            assert closes, f"{sent} responses in {TIMEOUT} s, none said Connection: close"
            assert client.recv(10) == b""
        runner.join(TIMEOUT)
        assert not runner.is_alive()
    finally:
        release.set()
        worker.alive = False
        worker.wake()
        runner.join(TIMEOUT)
        listener.close()
        for fd in worker.PIPE:
            os.close(fd)
