"""The pieces every server benchmark shares: contenders, scenarios, server processes, load.

Used by ``python -m benchmarks`` (the full run) and ``python -m benchmarks.profile_server`` (one
server under cProfile). Servers run pinned to CPU 1, the load generator to CPU 0 (when taskset is
there and the machine has two CPUs); only 127.0.0.1 is ever connected to.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import loadclient
from benchmarks._common import REPO_ROOT
from benchmarks.apps import DATA_FILE_ENV, FILE_SIZE, MIB, write_data_file
from benchmarks.servers import EXIT_UNAVAILABLE, HOST, server_command

SERVER_CPU = 1
CLIENT_CPU = 0
#: A sample whose server CPU was busy with other work more than this share of the time is flagged.
CONTENDED = 0.15


@dataclass(frozen=True, slots=True)
class ContenderSpec:
    key: str  # the name benchmarks.servers knows
    label: str
    module: str  # the import that must succeed for it to run
    note: str = ""
    rss: bool = True  # in the 1 GiB RSS run (one process: several workers would make it meaningless)
    #: (scenario key, what this contender does differently there): printed with its samples and
    #: under the scenario's table, so that a figure is never read as something it is not.
    caveats: tuple[tuple[str, str], ...] = ()

    def caveat(self, scenario: str) -> str:
        return next((text for key, text in self.caveats if key == scenario), "")


CONTENDERS: tuple[ContenderSpec, ...] = (
    ContenderSpec(
        "wsgicore-close",
        "wsgicore (close)",
        "wsgidrivers.simple_server",
        "our blocking driver, a connection per request",
    ),
    ContenderSpec(
        "wsgicore-keepalive",
        "wsgicore (keep-alive)",
        "wsgidrivers.simple_server",
        "our blocking driver, persistent connections",
    ),
    ContenderSpec("wsgiref", "wsgiref", "wsgiref.simple_server", "stdlib, HTTP/1.0"),
    ContenderSpec("waitress", "waitress", "waitress", "threads=1"),
    ContenderSpec("werkzeug", "werkzeug", "werkzeug", "make_server(threaded=False)"),
    ContenderSpec("gunicorn", "gunicorn", "gunicorn", "1 sync worker"),
    ContenderSpec("cheroot", "cheroot", "cheroot", "numthreads=1"),
    ContenderSpec("raw", "raw socket", "socket",
                  "ceiling: recv to CRLFCRLF, fixed response; TCP_NODELAY, OS-default buffers"),
    ContenderSpec("raw-blocks", "raw socket (WSGI blocks)", "socket",
                  "downloads only: the raw socket sending the generator's 16 blocks one sendall each"
                  " (PEP 3333 forbids holding one back) and reading the file for each request",
                  rss=False),
    ContenderSpec("h11", "h11 (minimal)", "h11", "h11 parse/serialize, naive environ; TCP_NODELAY"),
    ContenderSpec("wsgicore-threading", "wsgicore (threading)", "wsgidrivers.simple_server",
                  "ThreadingWSGIServer: a thread per connection, keep-alive"),
    ContenderSpec("wsgicore-asyncio", "wsgicore (asyncio)", "wsgidrivers.asyncio",
                  "our asyncio driver, 4 worker threads, keep-alive"),
    ContenderSpec("uvicorn-a2wsgi", "uvicorn + a2wsgi", "a2wsgi",
                  "uvicorn (h11, asyncio loop) + a2wsgi WSGIMiddleware, 4 threads"),
    # The moonshot (issue 15): a Rust server calling the same app from one blocking thread.
    ContenderSpec("granian", "granian", "granian",
                  "--interface wsgi --workers 1 --blocking-threads 1 --runtime-threads 1 --http 1"
                  " (Rust I/O on its runtime thread, the app on one blocking thread)",
                  caveats=(("file-1mib-ka", "no wsgi.file_wrapper in granian: the app falls back to"
                            " a generator of 64 KiB file reads"),)),
    # Production servers (issue 12): 2 worker processes x 4 threads, or 8 threads in one process.
    ContenderSpec("gunicorn-threadworker", "gunicorn + wsgicore ThreadWorker", "wsgidrivers.gunicorn",
                  "-k wsgidrivers.gunicorn.ThreadWorker -w 2 --threads 4", rss=False),
    ContenderSpec("gunicorn-asyncioworker", "gunicorn + wsgicore AsyncioWorker", "wsgidrivers.gunicorn",
                  "-k wsgidrivers.gunicorn.AsyncioWorker -w 2 --threads 4", rss=False),
    ContenderSpec("gunicorn-sync-w2", "gunicorn sync -w 2", "gunicorn", "-w 2 (sync worker)", rss=False),
    ContenderSpec("gunicorn-gthread", "gunicorn gthread", "gunicorn", "-k gthread -w 2 --threads 4",
                  rss=False),
    ContenderSpec("waitress-8", "waitress (8 threads)", "waitress", "threads=8", rss=False),
    ContenderSpec("cheroot-8", "cheroot (8 threads)", "cheroot", "numthreads=8", rss=False),
)
#: The contenders that serve many clients at once: the only ones in the 50-client scenarios.
CONCURRENT = frozenset({"wsgicore-threading", "wsgicore-asyncio", "granian", "gunicorn-threadworker",
                        "gunicorn-asyncioworker", "gunicorn-sync-w2", "gunicorn-gthread", "waitress-8",
                        "cheroot-8"})
_NOT_CONCURRENT = frozenset(c.key for c in CONTENDERS) - CONCURRENT
#: Contenders measured in the download scenarios only.
_DOWNLOADS_ONLY = frozenset({"raw-blocks"})
#: A contender key with this ending is the same server running an earlier revision's ``src``
#: (the no-regression baseline, measured side by side with the current code).
BASELINE_SUFFIX = "@base"


def server_key(key: str) -> str:
    """The server ``benchmarks.servers`` runs for a contender key (a baseline runs the same one)."""
    return key.removesuffix(BASELINE_SUFFIX)


def baseline_spec(spec: ContenderSpec, revision: str) -> ContenderSpec:
    """``spec`` running the ``src`` of ``revision``: the same server, app and settings."""
    return dataclasses.replace(
        spec, key=spec.key + BASELINE_SUFFIX, label=f"{spec.label} @ {revision}",
        note=f"{spec.note}; the code of {revision} (the no-regression baseline, side by side)", rss=False)


def export_source(revision: str, into: Path) -> Path:
    """``revision``'s ``src`` directory, written under ``into`` (``git archive``: no checkout, no
    worktree left behind). Raises OSError or CalledProcessError when git cannot give it."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", revision, "src"],
                             capture_output=True, check=True, timeout=60)
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, capture_output=True, check=True,
                   timeout=60)
    return into / "src"


QUICK_CONTENDERS = frozenset({"wsgicore-close", "wsgicore-keepalive", "wsgiref", "waitress", "raw"})
QUICK_RSS_CONTENDERS = frozenset({"wsgicore-close", "wsgicore-keepalive"})


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    path: str
    keep_alive: bool
    connections: int
    ours: str  # which of our contenders the ratios use
    method: str = "GET"
    body_size: int = 0
    skip: frozenset[str] = frozenset()
    mib_per_request: float = 0.0  # to show MiB/s next to req/s


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "hello-new-1",
        "hello world, new connection per request, 1 client",
        "/hello",
        False,
        1,
        "wsgicore-close",
        skip=_DOWNLOADS_ONLY,
    ),
    Scenario(
        "hello-new-10",
        "hello world, new connection per request, 10 clients",
        "/hello",
        False,
        10,
        "wsgicore-close",
        skip=_DOWNLOADS_ONLY,
    ),
    Scenario(
        "hello-ka-1",
        "hello world, keep-alive, 1 client",
        "/hello",
        True,
        1,
        "wsgicore-keepalive",
        skip=frozenset({"wsgicore-close"}) | _DOWNLOADS_ONLY,
    ),
    Scenario(
        "hello-ka-10",
        "hello world, keep-alive, 10 clients (concurrent servers only)",
        "/hello",
        True,
        10,
        "wsgicore-asyncio",
        # One connection at a time with keep-alive: the other 9 clients wait out the idle timeout.
        skip=frozenset({"wsgicore-close", "wsgicore-keepalive", "werkzeug", "cheroot", "raw", "h11",
                        "gunicorn"}) | _DOWNLOADS_ONLY,
    ),
    Scenario(
        "hello-new-50",
        "hello world, new connection per request, 50 clients (concurrent servers only)",
        "/hello",
        False,
        50,
        "gunicorn-threadworker",
        skip=_NOT_CONCURRENT,
    ),
    Scenario(
        "hello-ka-50",
        "hello world, keep-alive, 50 clients (concurrent servers only)",
        "/hello",
        True,
        50,
        "gunicorn-threadworker",
        skip=_NOT_CONCURRENT,
    ),
    Scenario(
        "gen-1mib-ka",
        "1 MiB download (generator, 64 KiB chunks), keep-alive, 1 client",
        f"/gen/{FILE_SIZE}",
        True,
        1,
        "wsgicore-keepalive",
        skip=frozenset({"wsgicore-close"}),
        mib_per_request=FILE_SIZE / MIB,
    ),
    Scenario(
        "file-1mib-ka",
        "1 MiB download (wsgi.file_wrapper), keep-alive, 1 client",
        "/file",
        True,
        1,
        "wsgicore-keepalive",
        skip=frozenset({"wsgicore-close"}),
        mib_per_request=FILE_SIZE / MIB,
    ),
    Scenario(
        "upload-1mib",
        "1 MiB upload (read in 64 KiB chunks), new connection per request",
        "/upload",
        False,
        1,
        "wsgicore-close",
        method="POST",
        body_size=FILE_SIZE,
        skip=_DOWNLOADS_ONLY,
        mib_per_request=FILE_SIZE / MIB,
    ),
)


# --------------------------------------------------------------------------------------------------
# Processes


def have_taskset() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(command: list[str], cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if have_taskset() else command


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def proc_status(pid: int, key: str) -> int | None:
    """A ``VmRSS``/``VmHWM``-style field of /proc/<pid>/status, in KiB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc/<pid>/stat (0.0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based, proc(5)).
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_busy_seconds(cpu: int) -> float | None:
    """Seconds CPU ``cpu`` has not been idle (user, nice, system, irq, softirq, steal), from
    /proc/stat; None when it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"cpu{cpu} "):
                    values = [int(v) for v in line.split()[1:9]]
                    user, nice, system, _idle, _iowait, irq, softirq, steal = values
                    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS
    except (OSError, ValueError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (gunicorn's worker is a child of its arbiter)."""
    found = [pid]
    for _ in range(64):  # bounded walk
        new: list[int] = []
        for parent in found:
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{parent}/task"):
                    with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as fh:
                        new.extend(int(child) for child in fh.read().split())
        new = [p for p in new if p not in found]
        if not new:
            break
        found.extend(new)
    return found


class ServerProcess:
    """One server under test, in its own process, pinned to the server CPU."""

    def __init__(self, spec: ContenderSpec, log_dir: Path, profile: str | None = None,
                 src: Path | None = None) -> None:
        self.spec = spec
        self.profile = profile
        self.src = src  # another revision's src, imported before the installed one (a baseline)
        self.port = free_port()
        self.log_path = log_dir / f"{spec.key}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src) + os.pathsep + env["PYTHONPATH"]
        data = self.log_path.parent / "file-1mib.bin"
        if not data.exists():
            write_data_file(str(data))
        env[DATA_FILE_ENV] = str(data)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                pinned(server_command(server_key(self.spec.key), self.port, self.profile), SERVER_CPU),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])

    def wait_ready(self, timeout: float = 30.0) -> str | None:
        """None when the server answers GET /hello with 200; else why it does not."""
        assert_started(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll() if self.proc else None
            if code is not None:
                if code == EXIT_UNAVAILABLE:
                    return f"not available: {self.log_tail()}"
                return f"exited with status {code}: {self.log_tail()}"
            try:
                status, _ = loadclient.download(HOST, self.port, "/hello", timeout=5.0)
            except OSError:
                time.sleep(0.05)
                continue
            if status == 200:
                return None
            return f"answered GET /hello with {status}"
        return f"not ready after {timeout:.0f} s: {self.log_tail()}"

    def pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc else []

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's processes."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def measure(self, load: LoadGenerator, scenario: Scenario, duration: int) -> LoadSample:
        """Run ``scenario``'s load for ``duration`` s; the sample includes the server's CPU per
        request (a figure that, unlike req/s with one client, does not depend on how fast the
        machine wakes the other side of a ping-pong)."""
        before = self.cpu_seconds()
        busy_before = cpu_busy_seconds(SERVER_CPU) if have_taskset() else None
        started = time.monotonic()
        sample = load.run(scenario, self.port, duration)
        elapsed = time.monotonic() - started
        used = self.cpu_seconds() - before
        busy_after = cpu_busy_seconds(SERVER_CPU) if have_taskset() else None
        other = -1.0
        if busy_before is not None and busy_after is not None and elapsed > 0:
            other = min(1.0, max(0.0, (busy_after - busy_before - used) / elapsed))
        if sample.requests <= 0:
            return dataclasses.replace(sample, other_load=other)
        return dataclasses.replace(sample, cpu_us=used / sample.requests * 1e6, other_load=other)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # Our servers turn SIGTERM into KeyboardInterrupt (and write their profile); gunicorn's
        # arbiter stops its idle worker at once.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def assert_started(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        raise RuntimeError("server not started")


# --------------------------------------------------------------------------------------------------
# Load generation


@dataclass(frozen=True, slots=True)
class LoadSample:
    rps: float
    requests: int
    errors: int
    non_2xx: int
    #: Server CPU time (user + system, all its processes) per request, in µs; 0 when unknown.
    cpu_us: float = 0.0
    #: Share of the server's CPU busy with anything but the server (other sessions' work, kernel
    #: network processing) during the sample, 0..1; -1 when unknown (no pinning, no /proc/stat).
    other_load: float = -1.0

    @property
    def contended(self) -> bool:
        return self.other_load > CONTENDED


_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


class LoadGenerator:
    def __init__(self, use_wrk: bool, work_dir: Path) -> None:
        self.use_wrk = use_wrk
        self.work_dir = work_dir
        self.description = "wrk " + wrk_version() if use_wrk else "benchmarks.loadclient (Python)"

    def _lua(self, scenario: Scenario) -> Path:
        path = self.work_dir / f"{scenario.key}.lua"
        if not path.exists():
            path.write_text(
                f'wrk.method = "{scenario.method}"\n'
                f'wrk.body = string.rep("x", {scenario.body_size})\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n'
            )
        return path

    def run(self, scenario: Scenario, port: int, duration: int) -> LoadSample:
        url = f"http://{HOST}:{port}{scenario.path}"
        if not self.use_wrk:
            result = loadclient.run_load(
                url,
                connections=scenario.connections,
                keep_alive=scenario.keep_alive,
                duration=float(duration),
                method=scenario.method,
                body_size=scenario.body_size,
            )
            return LoadSample(result.rps, result.requests, result.errors, result.non_2xx)
        command = ["wrk", "-t1", f"-c{scenario.connections}", f"-d{duration}s", "--timeout", "10s"]
        if not scenario.keep_alive:
            command += ["-H", "Connection: close"]
        if scenario.body_size or scenario.method != "GET":
            command += ["-s", str(self._lua(scenario))]
        command.append(url)
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 60, check=False
        ).stdout
        rps = _WRK_RPS.search(out)
        total = _WRK_TOTAL.search(out)
        sock = _WRK_SOCKET.search(out)
        non2xx = _WRK_NON2XX.search(out)
        # wrk counts the reads that find the server's close as "read" errors with Connection:
        # close; only connect, write and timeout errors mean something went wrong.
        errors = 0
        if sock:
            errors = int(sock.group(1)) + int(sock.group(3)) + int(sock.group(4))
        return LoadSample(
            float(rps.group(1)) if rps else 0.0,
            int(total.group(1)) if total else 0,
            errors,
            int(non2xx.group(1)) if non2xx else 0,
        )


def wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "?"
    match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return match.group(1) if match else "?"


@dataclass(frozen=True)
class OneLoad:
    """What a one-server tool (``profile_server``, ``syscalls``) runs: a server under one scenario."""

    spec: ContenderSpec
    scenario: Scenario
    use_wrk: bool


def add_one_load_arguments(parser: argparse.ArgumentParser, servers: list[str], default: str) -> None:
    """``--server``, ``--scenario``, ``--duration`` and ``--client`` of a one-server tool."""
    parser.add_argument("--server", choices=servers, default=default)
    parser.add_argument("--scenario", choices=[s.key for s in SCENARIOS], default="hello-ka-1")
    parser.add_argument("--duration", type=int, default=5, help="seconds of load (1..60)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")


def one_load(parser: argparse.ArgumentParser, args: argparse.Namespace) -> OneLoad | None:
    """Check the arguments of :func:`add_one_load_arguments`, pin this process to the client's CPU;
    None (after saying why) when the server's package is missing."""
    if not 1 <= args.duration <= 60:
        parser.error("duration must be in 1..60")
    spec = next(c for c in CONTENDERS if c.key == args.server)
    scenario = next(s for s in SCENARIOS if s.key == args.scenario)
    if not module_available(spec.module):
        print(f"{spec.label}: skipped, {spec.module} is not importable")
        return None
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if have_taskset():
        os.sched_setaffinity(0, {CLIENT_CPU})
    return OneLoad(spec, scenario, use_wrk)
