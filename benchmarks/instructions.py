"""User-space instructions per keep-alive request of the blocking driver, counted by callgrind.

    python -m benchmarks.instructions                    # 1000 requests (valgrind must be installed)
    python -m benchmarks.instructions --requests 2000
    python -m benchmarks.instructions --path memory      # the core alone, no socket (see below)
    python -m benchmarks.instructions --vary             # no two heads alike (see below)
    python -m benchmarks.instructions --new              # a new connection per request (see below)
    PYTHONPATH=/path/to/other/src python -m benchmarks.instructions   # another revision's code

The real ``wsgidrivers.simple_server`` handler serves keep-alive GETs of ``/hello`` (the wrk request
of the ``hello-ka-1`` scenario, the benchmark app, the quiet access log of the benchmark contender)
on one end of a ``SOCK_SEQPACKET`` socket pair: its message boundaries make each ``recv()`` return
one request, as with one client waiting for each response. All requests are queued first and the
responses fit in the send buffer, so one thread does it all: no scheduler, no load generator.
The process runs twice under ``valgrind --tool=callgrind`` (N+1 requests and 1); the difference
divided by N is the cost of one request, repeatable to ~0.5% on a busy machine where wall time is
not. System calls count only their user-space side. Linux only (the send buffer is forced, as
root, or limited by ``net.core.wmem_max``).

``--path memory`` counts the same keep-alive GETs through ``wsgidrivers.memory.MemoryConnection``
(one connection, one ``send()`` per request): the core's share without the blocking driver's.
``--vary`` gives each request its own target (``/hello?<n>``, the same length): the core parses a head
it has seen before only once, so the default measures a client repeating its request (as wrk does)
and ``--vary`` one that never does.

``--new`` serves each request on a connection of its own (a socket pair per request, the client's
EOF after its request): the cost of a connection's setup, first request and end in the handler and
the core, without the kernel's accept() and TCP handshake.
"""

from __future__ import annotations

import argparse
import shutil
import socket
from collections.abc import Sequence
from typing import Any

from benchmarks._common import callgrind_instructions

REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def _requests(count: int, vary: bool) -> list[bytes]:
    if not vary:
        return [REQUEST] * count
    return [REQUEST.replace(b"/hello", b"/hello?%05d" % n) for n in range(count)]


def serve(requests: int, vary: bool = False, new: bool = False) -> None:
    """Serve ``requests`` keep-alive requests through the real handler (after 3 to warm up); with
    ``new``, each on a connection of its own."""
    from benchmarks.apps import app
    from wsgidrivers.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):  # as the benchmark contender's
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler, keep_alive=True)
    try:
        for count in (3, requests):
            if new:
                for request in _requests(count, vary):
                    _one_connection(server, [request])
            else:
                _one_connection(server, _requests(count, vary))
    finally:
        server.server_close()


def serve_memory(requests: int, vary: bool = False) -> None:
    """Serve ``requests`` keep-alive requests through ``MemoryConnection`` (after 3 to warm up)."""
    from benchmarks.apps import app
    from wsgidrivers.memory import MemoryConnection

    for count in (3, requests):
        connection = MemoryConnection(app)
        for request in _requests(count, vary):
            if not connection.send(request).startswith(b"HTTP/1.1 200 "):
                raise SystemExit("no 200 response")
        connection.close()


def _one_connection(server: Any, requests: list[bytes]) -> None:
    ours, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for sock in (ours, client):
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, 1 << 28)
        except PermissionError:  # not root: as much as net.core.wmem_max allows
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 28)
    count = len(requests)
    for request in requests:
        client.send(request)
    client.shutdown(socket.SHUT_WR)
    server.finish_request(ours, ("127.0.0.1", 5555))
    server.shutdown_request(ours)
    client.setblocking(False)
    responses = 0
    try:
        while client.recv(65536):
            responses += 1
    except BlockingIOError:
        pass
    client.close()
    if responses != count:
        raise SystemExit(f"{responses} responses to {count} requests (send buffer too small?)")


def _instructions(requests: int, path: str, vary: bool, new: bool = False) -> int:
    flags = [*(["--vary"] if vary else []), *(["--new"] if new else [])]
    return callgrind_instructions("benchmarks.instructions", "--path", path, "--serve", str(requests),
                                  *flags)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests counted (default 1000)")
    parser.add_argument("--path", choices=("socket", "memory"), default="socket",
                        help="socket: the blocking driver on a socket pair (default); memory: "
                             "MemoryConnection, the core without a socket")
    parser.add_argument("--vary", action="store_true",
                        help="a different target in every request (no head repeats)")
    parser.add_argument("--new", action="store_true",
                        help="a new connection per request (socket path only)")
    parser.add_argument("--serve", type=int, metavar="N", help=argparse.SUPPRESS)  # the measured run
    args = parser.parse_args(argv)
    if args.serve is not None:
        if args.path == "memory":
            serve_memory(args.serve, args.vary)
        else:
            serve(args.serve, args.vary, args.new)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    if args.requests < 1:
        raise SystemExit("--requests must be at least 1")
    if args.new and args.path == "memory":
        raise SystemExit("--new counts the socket path only")
    base = _instructions(1, args.path, args.vary, args.new)
    total = _instructions(1 + args.requests, args.path, args.vary, args.new)
    what = "MemoryConnection" if args.path == "memory" else "simple_server"
    what += ", varied heads" if args.vary else ""
    kind = "a new connection per" if args.new else "keep-alive"
    print(f"{what} {kind} hello: {(total - base) // args.requests:,} instructions per request "
          f"(callgrind, {args.requests} requests)")


if __name__ == "__main__":
    main()
