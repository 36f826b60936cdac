"""Which worker process accepts each connection: the share of keep-alive connections per worker.

    python -m benchmarks.accepts --server threadworker --connections 16 --gap 0 --trials 6
    python -m benchmarks.accepts --server asyncioworker --connections 16 --gap 0.02

A fresh server per trial (two workers, idle), then ``--connections`` connections opened all at once
(``--gap 0``: as wrk and a proxy's pool open theirs) or ``--gap`` seconds apart; then one ``/cpu``
request on each, whose body is the pid of the worker that accepted it. Printed: the connections per
worker, in the order the workers booted. Keep-alive connections stay where they were accepted, so
this split is what a keep-alive load runs with; no timing is involved, so it can be read on a
loaded machine too.
"""

from __future__ import annotations

import argparse
import collections
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.deploy import DeployedServer, Deployment, available
from benchmarks.multicore import contenders
from benchmarks.servers import HOST


def _served_by(sock: socket.socket) -> str:
    sock.sendall(b"GET /cpu HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    for _ in range(1000):
        _head, sep, body = data.partition(b"\r\n\r\n")
        if sep and body:
            return body.decode("ascii")
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    raise OSError(f"no response: {data[:100]!r}")


def trial(deployment: Deployment, connections: int, gap: float, work_dir: Path) -> list[int]:
    """Connections per worker, in boot order (gunicorn) or pid order."""
    with DeployedServer(deployment, work_dir) as server:
        socks = []
        try:
            for _ in range(connections):
                socks.append(socket.create_connection((HOST, server.bind.port), timeout=10))
                if gap:
                    time.sleep(gap)
            counts = collections.Counter(_served_by(sock) for sock in socks)
        finally:
            for sock in socks:
                sock.close()
        order = server.boot_order or sorted(server.worker_pids())
        return [counts.get(str(pid), 0) for pid in order]


def main(argv: Sequence[str] | None = None) -> int:
    servers = {d.key: d for d in contenders() if d.key != "waitress"}
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accepts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=sorted(servers), default="threadworker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="--threads (default: the scenario's)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between two connects")
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args(argv)
    if not (1 <= args.workers <= 16 and 1 <= args.connections <= 512 and 0 <= args.gap <= 1
            and 1 <= args.trials <= 100):
        parser.error("workers 1..16, connections 1..512, gap 0..1 s, trials 1..100")
    deployment = servers[args.server].with_workers(args.workers)
    if args.threads is not None:
        deployment = Deployment(deployment.key, deployment.label, deployment.kind, args.workers,
                                args.threads, deployment.options)
    if not available(deployment):
        print(f"{deployment.label}: {deployment.module} is not importable")
        return 2
    with tempfile.TemporaryDirectory(prefix="wsgicore-accepts-") as tmp:
        splits = [trial(deployment, args.connections, args.gap, Path(tmp)) for _ in range(args.trials)]
    print(f"{deployment.describe()}: {args.connections} connections"
          f" {'at once' if not args.gap else f'{args.gap:g} s apart'}, per worker in boot order:")
    print("  " + " ".join(str(split) for split in splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
