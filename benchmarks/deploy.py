"""Servers started the way a user deploys them: their own command lines, several processes, nothing
pinned (the multi-core and behind-nginx scenarios; the pinned scenarios use ``benchmarks.servers``).

Each :class:`Deployment` names a server and its process/thread counts; :class:`DeployedServer`
starts one fresh, waits until every worker process has booted and it answers, and stops it by its
PID (then the worker PIDs it saw, then its own session). Every wait is bounded. The application is
``benchmarks.apps:app`` (``/cpu`` is the CPU-bound path).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks import loadclient
from benchmarks._common import REPO_ROOT
from benchmarks.harness import descendants, free_port, module_available
from benchmarks.servers import HOST

APP = "benchmarks.apps:app"
#: A gunicorn config file whose ``post_worker_init`` hook writes "<pid>\n" to the file named by
#: READY_ENV: a worker is ready when its line is there (its ``run()`` loop follows at once).
_READY_HOOKS = REPO_ROOT / "benchmarks" / "_gunicorn_ready.py"
READY_ENV = "WSGICORE_BENCH_READY_FILE"


@dataclass(frozen=True, slots=True)
class Bind:
    """Where a server listens: a TCP port on 127.0.0.1, or a Unix socket (``path``)."""

    port: int = 0
    path: str = ""

    @property
    def is_unix(self) -> bool:
        return bool(self.path)

    def gunicorn(self) -> str:
        return f"unix:{self.path}" if self.path else f"{HOST}:{self.port}"

    def nginx(self) -> str:
        return f"unix:{self.path}" if self.path else f"{HOST}:{self.port}"


@dataclass(frozen=True, slots=True)
class Deployment:
    """One server configuration: ``kind`` is a gunicorn worker class (``sync``, ``gthread`` or a
    dotted path), ``waitress``, ``granian``, or ``wsgicore`` (our command line, ``--driver
    threading``)."""

    key: str
    label: str
    kind: str
    workers: int = 1
    threads: int = 1
    #: Extra command-line options (proxy trust, say).
    options: tuple[str, ...] = ()
    #: The application, and a directory searched first for its module (the tests' own apps).
    app: str = APP
    app_dir: str = ""

    @property
    def module(self) -> str:
        """The import that must succeed for it to run."""
        if self.kind.startswith("wsgidrivers."):
            return "wsgidrivers.gunicorn"
        return {"waitress": "waitress", "granian": "granian",
                "wsgicore": "wsgidrivers.simple_server"}.get(self.kind, "gunicorn")

    @property
    def is_gunicorn(self) -> bool:
        return self.kind not in ("waitress", "granian", "wsgicore")

    def with_workers(self, workers: int) -> Deployment:
        return replace(self, workers=workers)

    def describe(self) -> str:
        """The command line, as a user would type it: the address, the application and the
        readiness hook (a config file of this package's) left out."""
        shown: list[str] = []
        skip = False
        for word in self.command(Bind(port=0))[:-1]:
            if skip:
                skip = False
            elif word in ("-b", "-c", "--host", "--port", "--uds"):
                skip = True
            elif not word.startswith(("--listen=", "--unix-socket=")):
                shown.append(word)
        return " ".join(shown).replace(sys.executable + " -m ", "")

    def command(self, bind: Bind) -> list[str]:
        if self.kind == "wsgicore":
            return [sys.executable, "-m", "wsgidrivers", "--driver", "threading", "-b", bind.gunicorn(),
                    "--no-access-log", *self.options, self.app]
        if self.kind == "waitress":
            where = f"--unix-socket={bind.path}" if bind.is_unix else f"--listen={HOST}:{bind.port}"
            return [sys.executable, "-m", "waitress", f"--threads={self.threads}", where,
                    *self.options, self.app]
        if self.kind == "granian":
            address = ["--uds", bind.path] if bind.is_unix else ["--host", HOST, "--port", str(bind.port)]
            return [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", str(self.workers),
                    "--http", "1", "--log-level", "warning", "--no-access-log", *address,
                    *self.options, self.app]
        threads = [] if self.kind == "sync" else ["--threads", str(self.threads)]
        command = [sys.executable, "-m", "gunicorn", "-k", self.kind, "-w", str(self.workers),
                   *threads, "-b", bind.gunicorn(), "--graceful-timeout", "5",
                   "-c", str(_READY_HOOKS), *self.options]
        if _gunicorn_has("control_socket_disable"):
            command.append("--no-control-socket")  # gunicorn 27: one per user, not per server
        return [*command, self.app]


def _gunicorn_has(setting: str) -> bool:
    try:
        from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return False
    return any(s.name == setting for s in KNOWN_SETTINGS)


def available(deployment: Deployment) -> bool:
    return module_available(deployment.module)


class DeployedServer:
    """One fresh start of a :class:`Deployment`, its output in ``log_path``."""

    def __init__(self, deployment: Deployment, work_dir: Path, bind: Bind | None = None) -> None:
        self.deployment = deployment
        self.bind = bind if bind is not None else Bind(port=free_port())
        self.work_dir = work_dir
        tag = f"{deployment.key}-w{deployment.workers}-{os.getpid()}-{time.monotonic_ns()}"
        self.log_path = work_dir / f"{tag}.log"
        self.ready_path = work_dir / f"{tag}.ready"
        self.proc: subprocess.Popen[bytes] | None = None
        #: Worker PIDs in the order they booted (gunicorn); every worker PID seen (all kinds).
        self.boot_order: list[int] = []
        self.seen: set[int] = set()

    def start(self, timeout: float = 30.0) -> DeployedServer:
        env = dict(os.environ)
        paths = [self.deployment.app_dir] if self.deployment.app_dir else []
        env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO_ROOT), env.get("PYTHONPATH", "")])
        if self.deployment.kind == "wsgicore":
            env = {k: v for k, v in env.items() if not k.startswith("WSGICORE_")}
        if self.deployment.is_gunicorn:
            env[READY_ENV] = str(self.ready_path)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.deployment.command(self.bind), cwd=self.deployment.app_dir or REPO_ROOT,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        problem = self._wait_ready(timeout)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"{self.deployment.label}: {problem}")
        return self

    def _wait_ready(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        expected = self.deployment.workers if self.deployment.kind != "waitress" else 0
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return f"exited: {self.log_tail()}"
            if self.deployment.is_gunicorn:
                with contextlib.suppress(OSError):
                    self.boot_order = [int(x) for x in self.ready_path.read_text().split()]
                if len(self.boot_order) < expected:
                    time.sleep(0.05)
                    continue
            elif len(self.worker_pids()) < expected:
                time.sleep(0.05)
                continue
            if self._answers():
                self.seen.update(self.worker_pids())
                return None
            time.sleep(0.05)
        return f"not ready after {timeout:.0f} s: {self.log_tail()}"

    def _answers(self) -> bool:
        try:
            if self.bind.is_unix:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(5)
                    sock.connect(self.bind.path)
                    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    return sock.recv(64).startswith(b"HTTP/1.1 200")
            status, _ = loadclient.download(HOST, self.bind.port, "/hello", timeout=5.0)
        except OSError:
            return False
        return status == 200

    def worker_pids(self) -> list[int]:
        """The processes that serve: the master's children (gunicorn, granian), or the process."""
        if self.proc is None:
            return []
        tree = descendants(self.proc.pid)
        return tree[1:] if len(tree) > 1 else tree

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master (gunicorn stops its workers gracefully), then SIGKILL to every
        process it had (by PID), then to its session."""
        proc = self.proc
        if proc is None:
            return
        self.seen.update(self.worker_pids())
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for pid in self.seen:
            if pid != proc.pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: nothing of it outlives it

    def __enter__(self) -> DeployedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
