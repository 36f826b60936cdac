"""User-space instructions per bulk request of the blocking driver, counted by callgrind.

    python -m benchmarks.bodyinstructions --scenario upload      # 1 MiB POST, a connection each
    python -m benchmarks.bodyinstructions --scenario file        # 1 MiB file_wrapper GET, keep-alive
    python -m benchmarks.bodyinstructions --scenario gen         # 1 MiB generator GET, keep-alive
    python -m benchmarks.bodyinstructions --scenario gen --driver asyncio
    PYTHONPATH=/path/to/other/src python -m benchmarks.bodyinstructions --scenario upload

The bulk scenarios of ``python -m benchmarks`` (``upload-1mib`` on ``wsgicore-close``,
``file-1mib-ka`` and ``gen-1mib-ka`` on ``wsgicore-keepalive``) without the kernel's share and
without the noise of a shared machine: the real ``wsgidrivers.simple_server`` handler and the
benchmark app, on one end of an ``AF_UNIX`` stream socket pair whose other end holds every request
(and takes every response) in a send buffer forced large enough, so one thread does it all. A
stream pair, unlike ``benchmarks.instructions``' packet pair, lets a ``recv(65536)`` take 64 KiB of
a 1 MiB body, as over TCP. The process runs twice under ``valgrind --tool=callgrind`` (N+1
requests and 1); the difference divided by N is one request's cost (system calls count only their
user-space side; the kernel's copies are not in it: compare those with ``python -m
benchmarks.syscalls``). The file goes to the client by the copy path, as to the benchmark's
loopback client. Linux only; the send buffers are forced as root, else limited by
``net.core.wmem_max`` (then use fewer requests).

``--driver asyncio`` serves the same pairs with the asyncio driver (``file`` and ``gen``): its
``Service`` takes the server's end as a just-accepted socket, and a worker thread serves the
requests on it (the path of a keep-alive connection whose next request is there at once, as in
the gunicorn AsyncioWorker's ``gen-1mib-ka``), up to 250 on one connection: its first 100 as a
new connection's, the rest after the worker handed it to the loop, as on any long keep-alive
connection (``--requests 200`` or more measures mostly that path). The client reads in the
main thread once the worker has answered them all. Threads make this count
less repeatable than the blocking driver's (GIL hand-offs): with ``--requests 50`` four runs
of one revision spread over 4%, with ``--requests 200`` two runs agreed within 0.1%.
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
GEN = b"GET /gen/%d HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n" % BODY_SIZE
_GETS = {"file": FILE, "gen": GEN}


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
    _check_responses(client, len(requests), body)


def _check_responses(client: socket.socket, count: int, body: bytes | None) -> None:
    """Read ``count`` responses that are all in ``client``'s buffer (blocking: until they are)."""
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
            not in first[:head_size] or received != size * count
            or (body is not None and first[head_size:size] != body)):
        raise SystemExit(f"{received} bytes, not {count} responses of {size} "
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
                         keep_alive=scenario != "upload")
    try:
        for count in (2, requests):
            if scenario == "upload":
                for _ in range(count):
                    _one_connection(server, [UPLOAD], b"%d" % BODY_SIZE)
            else:
                # At most 64 responses (64 MiB) wait in the pair at once.
                for start in range(0, count, 64):
                    _one_connection(server, [_GETS[scenario]] * min(64, count - start), None)
    finally:
        server.server_close()


def serve_asyncio(scenario: str, requests: int) -> None:
    """Serve ``requests`` keep-alive GETs of ``scenario`` with the asyncio driver (after 2 to warm
    up): a worker thread takes each socket pair's server end as a just-accepted connection."""
    import asyncio
    import threading

    from benchmarks.apps import app, data_file
    from wsgidrivers.asyncio import Service

    class CountingService(Service):
        answered = 0
        all_answered = threading.Event()
        wanted = 0

        def end_request(self, environ: dict[str, Any], outcome: Any) -> None:
            type(self).answered += 1
            if self.answered == self.wanted:
                self.all_answered.set()

    data_file()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loop", daemon=True)
    thread.start()
    service = CountingService(app, access_log=None, max_workers=1)
    try:
        for count in (2, requests):
            # Up to 250 requests on one connection: past its first MAX_INLINE (100) a worker hands
            # it to the loop, and from then on it serves them as on every long keep-alive
            # connection (the Bridge's lock around its socket calls, not a fresh connection's).
            for start in range(0, count, 250):
                batch = min(250, count - start)
                ours, client = _pair((batch + 1) * 2 * BODY_SIZE)
                client.sendall(_GETS[scenario] * batch)
                client.shutdown(socket.SHUT_WR)
                CountingService.answered, CountingService.wanted = 0, batch
                CountingService.all_answered.clear()
                loop.call_soon_threadsafe(
                    lambda sock=ours: service.serve_accepted(sock, ("127.0.0.1", 5555),
                                                             ("127.0.0.1", 8080), loop=loop))
                CountingService.all_answered.wait()
                client.setblocking(False)
                _check_responses(client, batch, None)
    finally:
        asyncio.run_coroutine_threadsafe(service.shutdown(0.0), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


def _instructions(scenario: str, driver: str, requests: int) -> int:
    return callgrind_instructions("benchmarks.bodyinstructions", "--scenario", scenario,
                                  "--driver", driver, "--serve", str(requests))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bodyinstructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("upload", "file", "gen"), default="upload",
                        help="upload: a 1 MiB POST read in 64 KiB pieces, a connection each; "
                             "file: a 1 MiB wsgi.file_wrapper GET, keep-alive; "
                             "gen: a 1 MiB GET of 16 yielded 64 KiB blocks, keep-alive")
    parser.add_argument("--driver", choices=("simple_server", "asyncio"), default="simple_server",
                        help="the driver serving (asyncio: file and gen only)")
    parser.add_argument("--requests", type=int, default=100, help="requests counted (default 100)")
    parser.add_argument("--serve", type=int, metavar="N", help=argparse.SUPPRESS)  # the measured run
    args = parser.parse_args(argv)
    if args.driver == "asyncio" and args.scenario == "upload":
        parser.error("--driver asyncio measures the keep-alive GETs only (file, gen)")
    if args.serve is not None:
        if args.driver == "asyncio":
            serve_asyncio(args.scenario, args.serve)
        else:
            serve(args.scenario, args.serve)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    if args.requests < 1:
        raise SystemExit("--requests must be at least 1")
    base = _instructions(args.scenario, args.driver, 1)
    total = _instructions(args.scenario, args.driver, 1 + args.requests)
    print(f"{args.driver} 1 MiB {args.scenario}: {(total - base) // args.requests:,} instructions "
          f"per request (callgrind, {args.requests} requests)")


if __name__ == "__main__":
    main()
