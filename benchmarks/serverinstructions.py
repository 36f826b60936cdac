"""User-space instructions per new connection of a whole server process, counted by callgrind.

    python -m benchmarks.serverinstructions --server wsgicore-threading
    python -m benchmarks.serverinstructions --server wsgicore-close
    PYTHONPATH=/path/to/other/src python -m benchmarks.serverinstructions --server wsgicore-threading

``benchmarks.instructions --new`` counts the request handler alone; this counts everything a server
does per connection (its accept loop or pool of threads too): ``python -m benchmarks.servers NAME``
runs under ``valgrind --tool=callgrind`` (every thread, ``PYTHONHASHSEED=0``, pinned to CPU 1) while
the Python load client makes ``--first`` then, in a second run, ``--first + --requests`` requests,
each on a new connection (``Connection: close``) from 10 clients at once; the difference between
the two runs divided by ``--requests`` is the cost of one connection, repeatable to about 1% on a
busy machine. The kernel's side (accept, the TCP handshake) is not counted: see
``benchmarks.syscalls`` for the system calls. Single-process servers only (gunicorn's arbiter and
workers keep timers whose work depends on the time valgrind takes). Linux only.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from benchmarks import loadclient
from benchmarks._common import REPO_ROOT
from benchmarks.servers import HOST

SERVERS = ("wsgicore-close", "wsgicore-keepalive", "wsgicore-threading")
CLIENTS = 10


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def count(server: str, requests: int) -> tuple[int, int]:
    """(instructions callgrind collected, requests served) for one run of ``server``."""
    port = _free_port()
    env = dict(os.environ, PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO_ROOT)) if p)
    command = ["taskset", "-c", "1", "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, "-m", "benchmarks.servers", server, "--port", str(port)]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{server} did not start under valgrind") from None
                time.sleep(0.1)
        time.sleep(1.0)  # its first connection's lazy set-up done
        result = loadclient.run_load(f"http://{HOST}:{port}/hello", connections=CLIENTS,
                                     keep_alive=False, count=requests, timeout=60)
        if result.errors or result.non_2xx:
            raise SystemExit(f"{server}: {result.errors} errors, {result.non_2xx} non-2xx")
    finally:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    match = re.search(r"Collected : (\d+)", err)
    if match is None:
        raise SystemExit(f"callgrind failed ({proc.returncode}):\n{err[-2000:]}")
    return int(match.group(1)), result.requests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serverinstructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=SERVERS, default="wsgicore-threading")
    parser.add_argument("--first", type=int, default=200, help="requests of the first run")
    parser.add_argument("--requests", type=int, default=1000, help="more requests in the second run")
    args = parser.parse_args(argv)
    few, few_served = count(args.server, args.first)
    many, many_served = count(args.server, args.first + args.requests)
    per = (many - few) / (many_served - few_served)
    print(f"{args.server}: {per:,.0f} user-space instructions per new connection"
          f" ({CLIENTS} clients, {few_served} and {many_served} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
