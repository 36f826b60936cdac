"""The worker contract with the arbiter: reload, graceful and fast stops, timeouts, max-requests,
abort, boot errors."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from .gunicorn_support import HERE, Gunicorn, get, running


class _Load:
    """Requests one after another from a thread, each on a new connection or all on one kept-alive
    connection (reopened only after a "Connection: close" response); records every failure."""

    def __init__(self, address: tuple[str, int], path: str = "/pid", *, keep_alive: bool = False) -> None:
        self.address = address
        self.path = path
        self.keep_alive = keep_alive
        self.pids: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self.keep_alive:
            self._run_keep_alive()
            return
        while not self._stop.is_set():
            try:
                status, _, body = get(self.address, self.path, timeout=10)
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            if status != 200:
                self.failures.append(f"status {status}")
            else:
                self.pids.append(int(body))

    def _run_keep_alive(self) -> None:
        conn = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            while not self._stop.is_set():
                try:
                    conn.request("GET", self.path)
                    response = conn.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self.failures.append(repr(exc))
                    conn.close()
                    continue
                if response.status != 200:
                    self.failures.append(f"status {response.status}")
                else:
                    self.pids.append(int(body))
                if response.getheader("Connection") == "close":
                    conn.close()  # the next request opens a new connection
        finally:
            conn.close()

    def __enter__(self) -> _Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


@pytest.mark.parametrize("keep_alive", [False, True], ids=["new-connections", "keep-alive"])
def test_hup_reloads_workers_without_a_failed_request(worker: str, keep_alive: bool) -> None:
    # Kept-alive connections to the old workers are answered with "Connection: close", never
    # dropped, so even a client that does not retry sees no failure.
    with running(worker, "--keep-alive", "5") as server:
        old = set(server.worker_pids)
        with _Load(server.address, keep_alive=keep_alive) as load, \
                _Load(server.address, keep_alive=keep_alive) as load2:
            time.sleep(0.5)
            server.signal(signal.SIGHUP)
            server.wait_count(r"Booting worker with pid: (\d+)", 4, timeout=15)
            new = set(server.worker_pids) - old
            deadline = time.monotonic() + 10
            while not new & set(load.pids[-20:]) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
        assert not load.failures, load.failures[:5]
        assert not load2.failures, load2.failures[:5]
        pids = set(load.pids) | set(load2.pids)
        assert old & pids, "the old workers served nothing"
        assert new & pids, "the new workers served nothing"
        assert len(load.pids) > 20


def test_term_lets_an_in_flight_request_finish(worker: str) -> None:
    with running(worker) as server:
        result: list[tuple[int, bytes]] = []

        def slow() -> None:
            status, _, body = get(server.address, "/sleep?1", timeout=10)
            result.append((status, body))

        client = threading.Thread(target=slow)
        client.start()
        time.sleep(0.3)  # the request is in the application now
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait_exit(10) == 0
        client.join(10)
    assert result, "the in-flight request got no response"
    assert result[0][0] == 200
    assert time.monotonic() - started < 5  # within --graceful-timeout (5 s), not at its end


def test_quit_stops_at_once_and_calls_worker_int(worker: str, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.log"
    with running(worker, "-c", str(HERE / "gunicorn_hooks.py"),
                 env={"WSGICORE_HOOKS_LOG": str(hooks)}) as server:
        client = threading.Thread(target=lambda: _swallow(server.address, "/sleep?8"), daemon=True)
        client.start()
        time.sleep(0.3)
        started = time.monotonic()
        server.signal(signal.SIGQUIT)  # the master sends SIGQUIT to the workers: stop now
        server.wait_exit(10)
        elapsed = time.monotonic() - started
    assert elapsed < 4, f"SIGQUIT took {elapsed:.1f} s (a request of 8 s was in progress)"
    assert hooks.read_text().count("int ") == 2


def _swallow(address: tuple[str, int], path: str) -> None:
    # The worker is told to stop (or is killed) meanwhile: no response is the expected outcome.
    with contextlib.suppress(OSError, http.client.HTTPException):
        get(address, path, timeout=15)


def test_stuck_worker_is_killed_healthy_one_is_not(worker: str) -> None:
    with running(worker, "--timeout", "2", workers=1) as server:
        first = server.worker_pids[0]
        time.sleep(2.8)  # idle longer than --timeout: the heartbeat keeps it alive
        assert get(server.address, "/sleep?1.2")[0] == 200  # shorter than --timeout
        assert not server.matches("WORKER TIMEOUT"), server.text()
        threading.Thread(target=lambda: _swallow(server.address, "/sleep?30"), daemon=True).start()
        server.wait_for(rf"WORKER TIMEOUT \(pid:{first}\)", timeout=10)
        server.wait_count(r"Booting worker with pid: (\d+)", 2, timeout=10)
        status, _, body = get(server.address, "/pid")
    assert status == 200
    assert int(body) != first


def test_max_requests_recycles_workers_without_a_failed_request(worker: str) -> None:
    with running(worker, "--max-requests", "50", "--max-requests-jitter", "5",
                 "--keep-alive", "5") as server:
        pids: list[int] = []
        conn = http.client.HTTPConnection(*server.address, timeout=10)
        try:
            for _ in range(250):
                # http.client reconnects after a "Connection: close" response by itself.
                conn.request("GET", "/pid")
                response = conn.getresponse()
                assert response.status == 200
                pids.append(int(response.read()))
                if response.getheader("Connection") == "close":
                    conn.close()
        finally:
            conn.close()
        assert server.matches("Autorestarting worker after current request")
    assert len(set(pids)) >= 4, f"{len(set(pids))} workers served 250 requests"
    counts = [pids.count(pid) for pid in set(pids)]
    assert max(counts) <= 55


def test_sigabrt_calls_worker_abort(worker: str, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.log"
    with running(worker, "-c", str(HERE / "gunicorn_hooks.py"), workers=1,
                 env={"WSGICORE_HOOKS_LOG": str(hooks)}) as server:
        victim = server.worker_pids[0]
        assert int(get(server.address, "/pid")[2]) == victim  # its signal handlers are in place
        os.kill(victim, signal.SIGABRT)
        server.wait_count(r"Booting worker with pid: (\d+)", 2, timeout=10)
        assert get(server.address, "/pid")[0] == 200
    assert f"abort {victim}" in hooks.read_text()


def test_worker_that_cannot_boot_stops_the_master(worker: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    server = Gunicorn(worker, "--certfile", str(bad), "--keyfile", str(bad), workers=1)
    try:
        server.start()
        code = server.wait_exit(15)
    finally:
        server.stop()
    # WORKER_BOOT_ERROR: the arbiter halts instead of respawning a worker that cannot start.
    assert code == 3, server.text()
    assert server.matches("the worker cannot boot")


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_usr2_new_master_serves_the_inherited_sockets(worker: str) -> None:
    with running(worker) as server:
        old_workers = set(server.worker_pids)
        server.signal(signal.SIGUSR2)  # a new master, exec'd with the listening sockets inherited
        starts = server.wait_count(r"\[(\d+)\] \[INFO\] Starting gunicorn", 2, timeout=15)
        new_master = int(starts[1])
        try:
            server.wait_count(r"Booting worker with pid: (\d+)", 4, timeout=15)
            new_workers = set(server.worker_pids) - old_workers
            server.signal(signal.SIGTERM)  # the old master and its workers go
            assert server.wait_exit(10) == 0
            served = {int(get(server.address, "/pid")[2]) for _ in range(10)}
            assert served <= new_workers, f"{served} not from the new workers {new_workers}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(new_master, signal.SIGTERM)
            if not _gone(new_master, 10):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(new_master, signal.SIGKILL)
