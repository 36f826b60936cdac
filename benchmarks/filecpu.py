"""Server CPU (user and kernel) per ``wsgi.file_wrapper`` download, two source trees alternated.

    python -m benchmarks.filecpu --src /work/main/src --src src --requests 2000 --pairs 5
    python -m benchmarks.filecpu --src /work/main/src --src src --sendfile true --size 65536

The ``file-1mib-ka`` scenario of ``python -m benchmarks`` measured without a load generator's speed in
it: the blocking driver (``make_server(..., keep_alive=True)``, as ``wsgicore-keepalive``) serves
``benchmarks.apps``' ``/file`` (or a file of ``--size`` bytes) to one keep-alive client that asks for
``--requests`` responses one after the other and reads each whole. Every server runs pinned to CPU 1
(``taskset``), the client on CPU 0. A server's CPU time is read from ``/proc/PID/schedstat``
(nanoseconds on the CPU, user and kernel together: the kernel's copies and TCP work are most of a
file download) and ``/proc/PID/stat`` (user and system clock ticks), before and after each batch.
One server per ``--src`` (a directory holding ``wsgicore`` and ``wsgidrivers``, put first on
``PYTHONPATH``), all started and warmed first; each round gives every server one batch, in
alternating order, so that a change in the machine's other load hits them alike; ratios are per
round. Time on a CPU is far less noisy than requests per second on a shared machine,
but other processes on CPU 1 still slow the server's caches: compare medians of several pairs.
The TCP segments the client received per request (``TCP_INFO``) show how the head went: with the
file's first bytes, or in a segment of its own. Loopback TCP sometimes settles in a state with far
more, smaller segments and twice the CPU per request, for any server: a batch whose segment count
jumped ran in it, so compare batches with like counts. ``--sendfile`` sets ``use_sendfile``
(default ``none``: copied to this loopback client, as in the benchmark).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import REPO_ROOT

_HOST = "127.0.0.1"
_SERVER_CPU = "1"
_CLIENT_CPU = 0


def _serve(port: int, use_sendfile: str, path: str | None) -> None:
    """The server process: the blocking driver with keep-alive, quiet, serving the benchmark app
    (``/file`` from ``path`` when given)."""
    from benchmarks import apps
    from wsgidrivers.simple_server import WSGIRequestHandler, make_server

    if path is not None:
        apps._file_path = path  # the app's data file, as the parent benchmark hands it over
        apps.FILE_SIZE = os.path.getsize(path)

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    choice = {"none": None, "true": True, "false": False}[use_sendfile]
    with make_server(_HOST, port, apps.app, handler_class=QuietHandler, keep_alive=True,
                     use_sendfile=choice) as server:
        print("ready", flush=True)
        server.serve_forever()


def _cpu(pid: int) -> tuple[int, int, int]:
    """(ns on the CPU, user ticks, system ticks) of every thread of ``pid``."""
    ns = user = system = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ns += int((task / "schedstat").read_text().split()[0])
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        user += int(fields[11])
        system += int(fields[12])
    return ns, user, system


def _segments_in(sock: socket.socket) -> int:
    """``tcpi_segs_in`` of the socket's ``TCP_INFO`` (Linux: segments received, each of a
    loopback GSO packet counted; offset 140 of ``struct tcp_info``); 0 where unavailable."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 144)
    except (AttributeError, OSError):
        return 0
    return int.from_bytes(info[140:144], sys.byteorder) if len(info) >= 144 else 0


def _get(sock: socket.socket, buffer: memoryview, request: bytes) -> int:
    """One request on the keep-alive connection; returns the body size read."""
    sock.sendall(request)
    got = 0
    head_end = -1
    data = bytearray()
    while head_end < 0:
        n = sock.recv_into(buffer)
        if n == 0:
            raise ConnectionError("the server closed the connection")
        data += buffer[:n]
        head_end = data.find(b"\r\n\r\n")
    head = bytes(data[:head_end]).lower()
    if not head.startswith(b"http/1.1 200"):
        raise ConnectionError(f"unexpected response: {head[:80]!r}")
    start = head.index(b"content-length:") + 15
    length = int(head[start:head.index(b"\r\n", start)])
    got = len(data) - head_end - 4
    while got < length:
        n = sock.recv_into(buffer)
        if n == 0:
            raise ConnectionError("the server closed the connection mid-body")
        got += n
    if got != length:
        raise ConnectionError(f"{got} body bytes for a Content-Length of {length}")
    return got


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((_HOST, 0))
        return int(probe.getsockname()[1])


class _Server:
    """One server process on ``src`` and the client's keep-alive connection to it."""

    def __init__(self, src: str, use_sendfile: str, path: str | None) -> None:
        self.src = src
        port = _free_port()
        env = dict(os.environ,
                   PYTHONPATH=os.pathsep.join([str(Path(src).resolve()), str(REPO_ROOT)]))
        command = ["taskset", "-c", _SERVER_CPU, sys.executable, "-m", "benchmarks.filecpu",
                   "--serve", str(port), "--sendfile", use_sendfile]
        self.process = subprocess.Popen(command + (["--file", path] if path else []), env=env,
                                        stdout=subprocess.PIPE, text=True)
        stdout = self.process.stdout
        if stdout is None or stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError(f"the server on {src} did not start")
        self.sock = socket.create_connection((_HOST, port))
        self.request = f"GET /file HTTP/1.1\r\nHost: {_HOST}:{port}\r\n\r\n".encode()

    def run(self, buffer: memoryview, requests: int) -> tuple[float, float, float, float, float]:
        """(µs on the CPU, µs user, µs system, µs of wall clock, TCP segments the client
        received) per request over ``requests`` downloads."""
        before = _cpu(self.process.pid)
        segments = _segments_in(self.sock)
        started = time.perf_counter()
        for _ in range(requests):
            _get(self.sock, buffer, self.request)
        wall = time.perf_counter() - started
        after = _cpu(self.process.pid)
        segments = _segments_in(self.sock) - segments
        tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
        return ((after[0] - before[0]) / 1000 / requests,
                (after[1] - before[1]) * tick_us / requests,
                (after[2] - before[2]) * tick_us / requests, wall * 1e6 / requests,
                segments / requests)

    def close(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()
        self.process.terminate()
        self.process.wait(10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.filecpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", default=[],
                        help="a source tree to measure (twice or more: compared with the first)")
    parser.add_argument("--requests", type=int, default=2000, help="downloads per batch")
    parser.add_argument("--pairs", type=int, default=5, help="rounds, a batch of every --src each")
    parser.add_argument("--sendfile", choices=("none", "true", "false"), default="none",
                        help="use_sendfile (none: the driver's rule; copied to loopback)")
    parser.add_argument("--size", type=int, default=0, help="file size (0: the benchmark's 1 MiB)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        _serve(args.serve, args.sendfile, args.file)
        return 0
    if not args.src:
        parser.error("give at least one --src")
    os.sched_setaffinity(0, {_CLIENT_CPU})
    with tempfile.TemporaryDirectory(prefix="wsgicore-filecpu-") as tmp:
        path = None
        if args.size:
            path = str(Path(tmp) / "file.bin")
            Path(path).write_bytes(bytes(range(256)) * (args.size // 256) + b"x" * (args.size % 256))
        servers = []
        try:
            for src in args.src:
                servers.append(_Server(src, args.sendfile, path))
            buffer = memoryview(bytearray(1 << 20))
            for server in servers:
                server.run(buffer, max(args.requests // 5, 20))  # warm up
            results: dict[str, list[tuple[float, float, float, float, float]]] = {src: [] for src in args.src}
            for round_ in range(args.pairs):
                order = servers if round_ % 2 == 0 else list(reversed(servers))
                for server in order:
                    results[server.src].append(server.run(buffer, args.requests))
        finally:
            for server in servers:
                server.close()
    base = results[args.src[0]]
    print(f"{args.requests} downloads of {args.size or 'the 1 MiB'} bytes per batch, use_sendfile="
          f"{args.sendfile}, {args.pairs} rounds; µs of server CPU per request (median of rounds)")
    for src, rows in results.items():
        cpu = statistics.median(r[0] for r in rows)
        user = statistics.median(r[1] for r in rows)
        system = statistics.median(r[2] for r in rows)
        wall = statistics.median(r[3] for r in rows)
        segments = statistics.median(r[4] for r in rows)
        ratios = [r[0] / b[0] for r, b in zip(rows, base, strict=True)]
        print(f"  {src}: {cpu:.1f} on CPU (user {user:.0f}, system {system:.0f}; wall clock"
              f" {wall:.0f}, indicative); {segments:.2f} TCP segments in;"
              f" per round: {' '.join(f'{r[0]:.0f}' for r in rows)};"
              f" / first: median {statistics.median(ratios):.3f}"
              f" (min {min(ratios):.3f}, max {max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
