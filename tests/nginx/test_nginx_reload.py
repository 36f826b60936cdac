"""A graceful reload behind nginx, under load, fails no request: gunicorn's HUP (new workers, the
old ones finish what they hold), and the command line's only reload, ``--reload`` (a development
option: the supervisor keeps the listening sockets, the serving process stops gracefully and a new
one starts; the command line has no signal-driven reload). A request held in the application
across the reload is answered by the process that took it.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from benchmarks.deploy import DeployedServer
from benchmarks.nginx import NginxProxy

from .nginx_support import HERE, KINDS, LIMIT, MODES, TRANSPORTS, scratch_directory, serving

pytestmark = pytest.mark.slow

#: Clients of the load, each with its own keep-alive connection to nginx.
CLIENTS = 4


@dataclass
class Reloadable:
    kind: str
    transport: str
    server: DeployedServer
    directory: Path
    reload: Callable[[], None]


def _touch_app(path: Path) -> Callable[[], None]:
    count = [0]

    def reload() -> None:
        count[0] += 1
        with open(path, "a", encoding="utf-8") as fh:  # a new size and time: the watcher sees it
            fh.write(f"# reload {count[0]}\n")

    return reload


@pytest.fixture(scope="module", params=[(k, t) for k in KINDS for t in TRANSPORTS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def reloadable(request: pytest.FixtureRequest) -> Iterator[Reloadable]:
    kind, transport = request.param
    with scratch_directory() as directory:
        if kind == "cli":
            app_dir = directory / "app"
            app_dir.mkdir()
            shutil.copy(HERE / "nginx_app.py", app_dir / "nginx_app.py")
            with serving(kind, transport, directory, app_dir=app_dir,
                         extra=("--reload", "--reload-engine", "poll")) as server:
                yield Reloadable(kind, transport, server, directory, _touch_app(app_dir / "nginx_app.py"))
        else:
            with serving(kind, transport, directory) as server:
                yield Reloadable(kind, transport, server, directory,
                                 lambda server=server: server.signal(signal.SIGHUP))


@dataclass
class Load:
    """Clients requesting /pid through nginx until stopped; every outcome kept."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    pids: list[str] = field(default_factory=list)
    failures: list[object] = field(default_factory=list)

    def client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=LIMIT)
        try:
            while not self.stop.is_set():
                try:
                    conn.request("GET", "/pid")
                    response = conn.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    with self.lock:
                        self.failures.append(repr(exc))
                    conn.close()
                    continue
                with self.lock:
                    if response.status == 200:
                        self.pids.append(body.decode())
                    else:
                        self.failures.append((response.status, body[:200]))
        finally:
            conn.close()

    def wait(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + LIMIT
        while not predicate():
            assert time.monotonic() < deadline, f"{what} within {LIMIT} s"
            time.sleep(0.02)


@pytest.mark.parametrize("mode", MODES)
def test_graceful_reload_under_load(reloadable: Reloadable, mode: str) -> None:
    directory = reloadable.directory
    gate, mark = directory / f"gate-{mode}", directory / f"mark-{mode}"
    with NginxProxy(directory / f"nginx-{mode}", reloadable.server.bind.nginx(), mode) as proxy:
        load = Load(proxy.port)
        threads = [threading.Thread(target=load.client) for _ in range(CLIENTS)]
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(_get, proxy.port, f"/slow?gate={gate}&mark={mark}")
            try:
                load.wait(mark.exists, "the held request reached the app")
                holder = mark.read_text()
                for thread in threads:
                    thread.start()
                load.wait(lambda: len(load.pids) >= 20, "20 responses before the reload")
                old = {str(pid) for pid in reloadable.server.worker_pids()}
                reloadable.reload()
                # gunicorn starts the new workers at once; the command line's new process starts
                # once the old one has finished the held request: let that go after a moment.
                started = time.monotonic()
                load.wait(lambda: bool(set(load.pids[-5:]) - old) or time.monotonic() - started > 1.0,
                          "new workers or a second")
            finally:
                gate.touch()
            status, body = held.result(timeout=LIMIT)
            load.wait(lambda: not any(_alive(int(pid)) for pid in old), "the old processes gone")
            served_after = len(load.pids)
            load.wait(lambda: len(load.pids) >= served_after + 20, "20 more responses after the reload")
            load.stop.set()
            for thread in threads:
                thread.join(LIMIT)
    assert holder in old
    assert (status, body) == (200, f"released {holder}".encode()), error_log_text(reloadable, proxy)
    assert not load.failures, (load.failures[:5], error_log_text(reloadable, proxy))
    assert set(load.pids[served_after:]).isdisjoint(old), "a process that was stopped answered"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _get(port: int, target: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=LIMIT)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def error_log_text(reloadable: Reloadable, proxy: NginxProxy) -> str:
    return f"nginx: {proxy.errors()}\nserver: {reloadable.server.log_tail(30)}"
