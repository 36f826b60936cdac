"""nginx as a reverse proxy in front of a server under test (the behind-nginx scenario, and the
``tests/nginx`` suite, which shares :class:`NginxProxy`).

    python -m benchmarks.nginx [--rounds 5] [--duration 3]

:class:`NginxProxy` runs ``nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`` with every path
(pid, logs, temporary files) inside its own directory, one worker process, on a port the OS chose,
and stops it by its PID. Two upstream modes:

- ``http10``: nginx's default, HTTP/1.0 with ``Connection: close``: a new upstream connection per
  request;
- ``keepalive``: ``proxy_http_version 1.1``, ``proxy_set_header Connection ""`` and
  ``keepalive N`` in the upstream block: a pool of persistent upstream connections.

Both send ``Host``, ``X-Forwarded-For`` (``$proxy_add_x_forwarded_for``) and ``X-Forwarded-Proto``.
Locations: ``/`` buffered as nginx's defaults are; ``/unbuffered/`` with ``proxy_buffering off``
and ``proxy_request_buffering off`` (responses streamed, request bodies passed on as they come,
chunked when the client's was and the upstream speaks HTTP/1.1); ``/as-https/`` sends
``X-Forwarded-Proto: https``, as an nginx terminating TLS would.

The scenario: the hello app (``/hello``) behind the same nginx, ``wrk -t1 -c50`` to nginx, both
upstream modes, our two gunicorn workers against gunicorn gthread and sync and waitress, each with
two workers (waitress: one process, 8 threads), nothing pinned, a fresh start of the server and
nginx for every sample, rounds interleaved; ratios ours/peer are paired round by round.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import pidload
from benchmarks._common import load_average, machine_lines
from benchmarks.deploy import DeployedServer, Deployment, available
from benchmarks.harness import free_port
from benchmarks.servers import HOST

NGINX = "/usr/sbin/nginx"
MODES = ("http10", "keepalive")
#: Idle upstream connections nginx keeps per worker in the keepalive mode.
POOL = 64


def nginx_binary() -> str | None:
    """The nginx executable, or None when it is not installed."""
    if os.access(NGINX, os.X_OK):
        return NGINX
    return shutil.which("nginx")


#: The streaming location's directives: responses passed on as they come, request bodies too.
UNBUFFERED = "    proxy_buffering off;\n    proxy_request_buffering off;\n"


def upstream_block(upstream: str, mode: str) -> str:
    """The ``upstream`` block of the tested configuration (``upstream``: ``HOST:PORT`` or
    ``unix:PATH``), at the top level of indentation: docs/deployment.md quotes it, and
    tests/nginx checks that the quote is this text."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    keepalive = f"    keepalive {POOL};\n" if mode == "keepalive" else ""
    return f"upstream app {{\n    server {upstream};\n{keepalive}}}\n"


def location_block(mode: str, path: str = "/", *, proto: str = "$scheme", extra: str = "") -> str:
    """A ``location`` block of the tested configuration, proxying to ``upstream app`` in ``mode``
    (``extra``: more directives, one per line); quoted by docs/deployment.md like
    :func:`upstream_block`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    http11 = (
        "    proxy_http_version 1.1;\n"
        '    proxy_set_header Connection "";\n'
        if mode == "keepalive" else ""
    )
    return (
        f"location {path} {{\n"
        "    proxy_pass http://app;\n"
        f"{http11}"
        "    proxy_set_header Host $http_host;\n"
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        f"    proxy_set_header X-Forwarded-Proto {proto};\n"
        f"{extra}"
        "}\n"
    )


def nginx_config(directory: Path, port: int, upstream: str, mode: str, *, access_log: bool = False) -> str:
    """nginx.conf for a proxy on 127.0.0.1:``port`` to ``upstream`` (``HOST:PORT`` or
    ``unix:PATH``); every path inside ``directory``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    d = str(directory)
    # Started as root, nginx's workers would switch to "nobody", who may not reach a Unix socket or
    # the temporary paths here: they stay root (the directive is ignored for anyone else).
    user = f"user {pwd.getpwuid(0).pw_name};\n" if os.geteuid() == 0 else ""
    log = f"access_log {d}/access.log;" if access_log else "access_log off;"
    locations = "".join((
        location_block(mode),
        location_block(mode, "/unbuffered/", extra=UNBUFFERED),
        location_block(mode, "/as-https/", proto="https"),
    ))
    return f"""\
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    {log}
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 64m;
{textwrap.indent(upstream_block(upstream, mode), "    ")}    server {{
        listen {HOST}:{port};
{textwrap.indent(locations, "        ")}    }}
}}
"""


class NginxProxy:
    """One nginx master (and its one worker) in ``directory``, started and stopped by PID."""

    def __init__(self, directory: Path, upstream: str, mode: str, *, access_log: bool = False) -> None:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx not installed")
        self.binary = binary
        self.directory = directory
        self.upstream = upstream
        self.mode = mode
        self.access_log = access_log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 15.0) -> NginxProxy:
        # The port is the OS's choice, free a moment before nginx binds it: another process may
        # take it in between, so a start that fails to bind is retried on another.
        problem = ""
        for _ in range(5):
            self.port = free_port()
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / "nginx.conf").write_text(
                nginx_config(self.directory, self.port, self.upstream, self.mode,
                             access_log=self.access_log))
            with open(self.directory / "stderr.log", "wb") as err:
                self.proc = subprocess.Popen(
                    [self.binary, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf"),
                     "-g", "daemon off;"],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
            problem = self._wait_listening(timeout)
            if not problem:
                return self
            self.stop()
            if "Address already in use" not in problem:
                break
        raise RuntimeError(f"nginx did not start: {problem}")

    def _wait_listening(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return self.errors()
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=1):
                return ""
            time.sleep(0.02)
        return f"not listening after {timeout:.0f} s: {self.errors()}"

    def errors(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                texts.append((self.directory / name).read_text(errors="replace").strip())
        return " | ".join(t for t in texts if t)[-2000:]

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children", encoding="ascii") as fh:
                return [int(pid) for pid in fh.read().split()]
        except OSError:
            return []

    def stop(self, timeout: float = 10.0) -> None:
        """SIGQUIT (nginx's graceful stop) to the master, SIGKILL to what is left (by PID)."""
        proc = self.proc
        if proc is None:
            return
        workers = self.worker_pids()
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for pid in workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> NginxProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# The behind-nginx scenario


def contenders() -> tuple[Deployment, ...]:
    """Two workers each (waitress: one process with 8 threads)."""
    return (
        Deployment("threadworker", "gunicorn + ThreadWorker", "wsgidrivers.gunicorn.ThreadWorker",
                   workers=2, threads=4),
        Deployment("asyncioworker", "gunicorn + AsyncioWorker", "wsgidrivers.gunicorn.AsyncioWorker",
                   workers=2, threads=4),
        Deployment("gthread", "gunicorn gthread", "gthread", workers=2, threads=4),
        Deployment("sync", "gunicorn sync", "sync", workers=2),
        Deployment("waitress", "waitress (8 threads)", "waitress", threads=8),
    )


CLIENTS = 50
PATH = "/hello"


@dataclass
class Results:
    rounds: int
    duration: float
    #: req/s by mode, then contender key, in round order.
    rps: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)
    others: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    loadavg_start: str = ""
    loadavg_end: str = ""
    seconds: float = 0.0

    def paired(self, mode: str, ours: str, peer: str) -> list[float]:
        a = self.rps.get(mode, {}).get(ours, [])
        b = self.rps.get(mode, {}).get(peer, [])
        if len(a) != len(b):
            return []
        return [x / y for x, y in zip(a, b, strict=True) if y > 0]


def measure_once(deployment: Deployment, mode: str, work_dir: Path, duration: float,
                 warmup: float = 1.0) -> pidload.PidLoad:
    server = DeployedServer(deployment, work_dir).start()
    try:
        with NginxProxy(Path(tempfile.mkdtemp(prefix="nginx-", dir=work_dir)), server.bind.nginx(),
                        mode) as proxy:
            pids = [*server.worker_pids(), *proxy.worker_pids()]
            url = proxy.url + PATH
            if warmup > 0:
                pidload.run(url, connections=CLIENTS, duration=warmup, keep_alive=True, server_pids=pids,
                            count_pids=False)
            return pidload.run(url, connections=CLIENTS, duration=duration, keep_alive=True,
                               server_pids=pids, count_pids=False)
    finally:
        server.stop()


def run_all(chosen: Sequence[Deployment], modes: Sequence[str], *, rounds: int, duration: float,
            say: Callable[[str], None] = print) -> Results:
    results = Results(rounds=rounds, duration=duration, loadavg_start=load_average())
    started = time.monotonic()
    todo = []
    for deployment in chosen:
        if not available(deployment):
            results.skipped.append(f"{deployment.label}: skipped, {deployment.module} is not importable")
            continue
        todo.append(deployment)
        results.labels[deployment.key] = deployment.label
        results.commands[deployment.key] = deployment.describe()
    with tempfile.TemporaryDirectory(prefix="wsgicore-nginx-") as tmp:
        for round_no in range(rounds):
            for mode in modes:
                shift = round_no % max(1, len(todo))
                for deployment in todo[shift:] + todo[:shift]:
                    try:
                        load = measure_once(deployment, mode, Path(tmp), duration)
                    except RuntimeError as exc:
                        results.skipped.append(f"round {round_no + 1} {mode}: {exc}")
                        say(f"[nginx] {exc}")
                        continue
                    results.rps.setdefault(mode, {}).setdefault(deployment.key, []).append(load.rps)
                    per = results.errors.setdefault(mode, {})
                    per[deployment.key] = per.get(deployment.key, 0) + load.errors + load.non_2xx
                    worst = results.others.setdefault(mode, {})
                    worst[deployment.key] = max(worst.get(deployment.key, -1.0), load.others)
                    say(f"[nginx round {round_no + 1}/{rounds}] {mode:<9} {deployment.key:<14}"
                        f" {load.rps:9.1f} req/s  other work {load.others:.2f} CPUs  load {load.loadavg}"
                        + (f"  ({load.errors} errors, {load.non_2xx} non-2xx)"
                           if load.errors or load.non_2xx else ""))
    results.seconds = time.monotonic() - started
    results.loadavg_end = load_average()
    return results


def report_lines(results: Results) -> list[str]:
    lines = [
        "## Behind nginx (hello app, nothing pinned)",
        "",
        f"`wrk -t1 -c{CLIENTS}` keep-alive to nginx ({nginx_version()}, one worker process), which"
        f" proxies `{PATH}` to the server: `http10` is nginx's default upstream (HTTP/1.0, a"
        f" connection per request), `keepalive` a pool of HTTP/1.1 connections (`keepalive {POOL}`)."
        f" {results.rounds} interleaved rounds of {results.duration:g} s, a fresh start of the server"
        f" and nginx per sample. Load average at the start {results.loadavg_start}, at the end"
        f" {results.loadavg_end}; {results.seconds:.0f} s.",
        "",
        "| upstream mode | contender | req/s min | median | max | errors | other work, CPUs (max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, per in results.rps.items():
        for key, values in per.items():
            lines.append(
                f"| {mode} | {results.labels.get(key, key)} | {min(values):,.0f} |"
                f" {statistics.median(values):,.0f} | {max(values):,.0f} |"
                f" {results.errors.get(mode, {}).get(key, 0)} |"
                f" {results.others.get(mode, {}).get(key, -1.0):.2f} |"
            )
    lines += ["", "Servers:", ""]
    lines += [f"- {results.labels[key]}: `{command}`" for key, command in results.commands.items()]
    if results.skipped:
        lines += ["", *[f"- {line}" for line in results.skipped]]
    lines.append("")
    return lines


def nginx_version() -> str:
    binary = nginx_binary()
    if binary is None:
        return "nginx not installed"
    try:
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "nginx"
    return (out.stderr or out.stdout).strip().replace("nginx version: ", "")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nginx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load (default 3)")
    parser.add_argument("--only", default=None,
                        help="comma-separated contenders: " + ",".join(d.key for d in contenders()))
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ",".join(MODES))
    parser.add_argument("--output", default=None, help="write the markdown report here")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 50 and 1 <= args.duration <= 60):
        parser.error("rounds in 1..50, duration in 1..60 s")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    known = {d.key for d in contenders()}
    args.only = known if args.only is None else {k.strip() for k in args.only.split(",") if k.strip()}
    if args.only - known:
        parser.error(f"--only: unknown {', '.join(sorted(args.only - known))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if nginx_binary() is None:
        print("nginx not installed")
        return 2
    if not pidload.have_wrk():
        print("wrk is not installed")
        return 2
    chosen = [d for d in contenders() if d.key in args.only]
    results = run_all(chosen, args.modes, rounds=args.rounds, duration=args.duration)
    text = "\n".join([*(f"- {line}" for line in machine_lines()), "", *report_lines(results)])
    print()
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
