"""User-space instructions per bulk request of the blocking driver, counted by callgrind.

    python -m benchmarks.bodyinstructions --scenario upload      # 1 MiB POST, a connection each
    python -m benchmarks.bodyinstructions --scenario file        # 1 MiB file_wrapper GET, keep-alive
    PYTHONPATH=/path/to/other/src python -m benchmarks.bodyinstructions --scenario upload

The bulk scenarios of ``python -m benchmarks`` (``upload-1mib`` on ``wsgicore-close``,
``file-1mib-ka`` on ``wsgicore-keepalive``) without the kernel's share and without the noise of a
shared machine: the real ``wsgidrivers.simple_server`` handler and the benchmark app, on one end of
an ``AF_UNIX`` stream socket pair whose other end holds every request (and takes every response)
in a send buffer forced large enough, so one thread does it all. A stream pair, unlike
``benchmarks.instructions``' packet pair, lets a ``recv(65536)`` take 64 KiB of a 1 MiB body, as
over TCP. The process runs twice under ``valgrind --tool=callgrind`` (N+1 requests and 1); the
difference divided by N is one request's cost (system calls count only their user-space side; the
kernel's copies are not in it: compare those with ``python -m benchmarks.syscalls``). The file
goes to the client by the copy path, as to the benchmark's loopback client. Linux only; the send
buffers are forced as root, else limited by ``net.core.wmem_max`` (then use fewer requests).
"""

from __future__ import annotations

import argparse
import shutil
import socket
from collections.abc import Sequence
from typing import Any

from benchmarks._common import callgrind_instructions

_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
BODY_SIZE = 1024 * 1024
UPLOAD = (b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % BODY_SIZE) + b"x" * BODY_SIZE
_SCRATCH = bytearray(1 << 20)
FILE = b"GET /file HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


def _pair(buffer: int) -> tuple[socket.socket, socket.socket]:
    ours, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for sock in (ours, client):
        for force, plain in ((_SO_SNDBUFFORCE, socket.SO_SNDBUF), (_SO_RCVBUFFORCE, socket.SO_RCVBUF)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, buffer)
            except PermissionError:  # not root: as much as net.core.[wr]mem_max allow
                sock.setsockopt(socket.SOL_SOCKET, plain, buffer)
    return ours, client


def _one_connection(server: Any, requests: list[bytes], body: bytes | None) -> None:
    """Serve ``requests`` on one connection; each response must be a 200 with ``body`` (None:
    ``BODY_SIZE`` bytes, not compared)."""
    ours, client = _pair(min(len(requests) + 1, 64) * 4 * BODY_SIZE)
    for request in requests:
        client.sendall(request)
    client.shutdown(socket.SHUT_WR)
    server.finish_request(ours, ("127.0.0.1", 5555))
    server.shutdown_request(ours)
    client.setblocking(False)
    # Into one buffer, made once, kept apart from the first bytes only: the client's share of the
    # count stays small and the same for every revision.
    scratch = _SCRATCH
    first = b""
    received = 0
    try:
        while n := client.recv_into(scratch):
            if not received:
                first = bytes(scratch[:min(n, 4096)])
            received += n
    except BlockingIOError:
        pass
    client.close()
    head_size = first.find(b"\r\n\r\n") + 4
    size = head_size + (BODY_SIZE if body is None else len(body))
    if (not first.startswith(b"HTTP/1.1 200 ") or b"\r\nContent-Length: %d\r\n" % (size - head_size)
            not in first[:head_size] or received != size * len(requests)
            or (body is not None and first[head_size:size] != body)):
        raise SystemExit(f"{received} bytes, not {len(requests)} responses of {size} "
                         f"(send buffer too small?)")


def serve(scenario: str, requests: int) -> None:
    """Serve ``requests`` requests of ``scenario`` through the real handler (after 2 to warm up)."""
    from benchmarks.apps import app, data_file
    from wsgidrivers.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):  # as the benchmark contenders'
        def log_message(self, format: str, *args: Any) -> None:
            pass

    data_file()  # made before the measured part
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler,
                         keep_alive=scenario == "file")
    try:
        for count in (2, requests):
            if scenario == "upload":
                for _ in range(count):
                    _one_connection(server, [UPLOAD], b"%d" % BODY_SIZE)
            else:
                # At most 64 responses (64 MiB) wait in the pair at once.
                for start in range(0, count, 64):
                    _one_connection(server, [FILE] * min(64, count - start), None)
    finally:
        server.server_close()


def _instructions(scenario: str, requests: int) -> int:
    return callgrind_instructions("benchmarks.bodyinstructions", "--scenario", scenario,
                                  "--serve", str(requests))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bodyinstructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("upload", "file"), default="upload",
                        help="upload: a 1 MiB POST read in 64 KiB pieces, a connection each; "
                             "file: a 1 MiB wsgi.file_wrapper GET, keep-alive")
    parser.add_argument("--requests", type=int, default=100, help="requests counted (default 100)")
    parser.add_argument("--serve", type=int, metavar="N", help=argparse.SUPPRESS)  # the measured run
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.scenario, args.serve)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    if args.requests < 1:
        raise SystemExit("--requests must be at least 1")
    base = _instructions(args.scenario, 1)
    total = _instructions(args.scenario, 1 + args.requests)
    print(f"simple_server 1 MiB {args.scenario}: {(total - base) // args.requests:,} instructions "
          f"per request (callgrind, {args.requests} requests)")


if __name__ == "__main__":
    main()
