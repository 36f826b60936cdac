"""A small HTTP/1.1 load client for loopback benchmarks, used when ``wrk`` is not installed.

One thread, ``selectors``, N concurrent connections, each either reused (keep-alive) or opened anew
for every request. Runs for a fixed duration or a fixed count of requests (both are bounded), frames
responses by Content-Length (or by the close), and reports requests per second.
Only loopback addresses are accepted.

    python -m benchmarks.loadclient http://127.0.0.1:8000/hello -c 10 -d 5 --close
    python -m benchmarks.loadclient http://127.0.0.1:8000/upload -n 100 --post-size 1048576

Also: ``upload`` / ``download`` stream one large body over a blocking socket (the RSS scenarios).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import selectors
import socket
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

MAX_DURATION = 600.0
MAX_CONNECTIONS = 1000


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    errors: int
    non_2xx: int
    elapsed: float
    bytes_received: int

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0


def check_loopback(host: str) -> None:
    """Refuse any target that is not a loopback address (this benchmark never leaves the host)."""
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host} is not a loopback address")


def build_request(host: str, port: int, path: str, *, method: str, body_size: int, keep_alive: bool) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: wsgicore-bench"]
    if not keep_alive:
        lines.append("Connection: close")
    if body_size or method in ("POST", "PUT"):
        lines.append("Content-Type: application/octet-stream")
        lines.append(f"Content-Length: {body_size}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head + b"x" * body_size


class _Conn:
    """One client connection's state: the request being sent and the response being received."""

    __slots__ = (
        "body_end",
        "close_after",
        "head_end",
        "inbuf",
        "out",
        "sent",
        "sock",
        "started",
        "status",
    )

    def __init__(self, sock: socket.socket, request: memoryview) -> None:
        self.sock = sock
        self.out = request
        self.sent = 0
        self.inbuf = bytearray()
        self.head_end = -1
        self.body_end = -1  # -1: not known yet; -2: until the server closes
        self.close_after = False
        self.status = 0
        self.started = time.monotonic()

    def reset(self) -> None:
        self.sent = 0
        self.inbuf.clear()
        self.head_end = -1
        self.body_end = -1
        self.close_after = False
        self.status = 0
        self.started = time.monotonic()

    def parse_head(self) -> bool:
        """True once the head is in; sets where the body ends and whether the server closes."""
        end = self.inbuf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.inbuf[:end]).lower()
        first = head.split(b"\r\n", 1)[0]
        parts = first.split(b" ", 2)
        self.status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        self.head_end = end + 4
        http10 = first.startswith(b"http/1.0")
        self.close_after = (b"\r\nconnection: close" in head) or (
            http10 and b"\r\nconnection: keep-alive" not in head
        )
        pos = head.find(b"\r\ncontent-length:")
        if pos >= 0:
            value_end = head.find(b"\r\n", pos + 2)
            length = int(head[pos + 17 : value_end if value_end >= 0 else None])
            self.body_end = self.head_end + length
        else:
            self.body_end = -2
            self.close_after = True
        return True


def run_load(
    url: str,
    *,
    connections: int = 1,
    keep_alive: bool = True,
    duration: float | None = None,
    count: int | None = None,
    method: str = "GET",
    body_size: int = 0,
    timeout: float = 10.0,
) -> LoadResult:
    """Drive ``url`` with ``connections`` concurrent clients until ``duration`` or ``count``."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 80
    check_loopback(host)
    path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be in 1..{MAX_CONNECTIONS}")
    limit_time = min(duration if duration is not None else MAX_DURATION, MAX_DURATION)
    limit_count = count if count is not None else sys.maxsize
    request = memoryview(
        build_request(host, port, path, method=method, body_size=body_size, keep_alive=keep_alive)
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sel = selectors.DefaultSelector()
    done = errors = non_2xx = issued = received_bytes = 0
    start = time.monotonic()
    deadline = start + limit_time

    def open_conn(state: _Conn | None) -> None:
        nonlocal issued
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(err, "connect failed")
        if state is None:
            state = _Conn(sock, request)
        else:
            state.sock = sock
            state.reset()
        issued += 1
        sel.register(sock, selectors.EVENT_WRITE, state)

    def finish(state: _Conn, ok: bool) -> None:
        nonlocal done, errors, non_2xx, issued
        if ok:
            done += 1
            if not 200 <= state.status < 300:
                non_2xx += 1
        else:
            errors += 1
        more = issued < limit_count and time.monotonic() < deadline
        if ok and more and keep_alive and not state.close_after:
            state.reset()
            issued += 1
            sel.modify(state.sock, selectors.EVENT_WRITE, state)
            return
        sel.unregister(state.sock)
        state.sock.close()
        if more:
            try:
                open_conn(state)
            except OSError:
                errors += 1

    for _ in range(min(connections, limit_count)):
        open_conn(None)

    while sel.get_map() and time.monotonic() < deadline:
        for key, mask in sel.select(timeout=0.2):
            state: _Conn = key.data
            try:
                if mask & selectors.EVENT_WRITE:
                    n = state.sock.send(state.out[state.sent :])
                    state.sent += n
                    if state.sent >= len(state.out):
                        sel.modify(state.sock, selectors.EVENT_READ, state)
                    continue
                data = state.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                finish(state, False)
                continue
            if not data:
                # The server closed: a response framed by the close is now complete.
                finish(state, state.body_end == -2 and state.head_end >= 0)
                continue
            received_bytes += len(data)
            state.inbuf += data
            if state.head_end < 0 and not state.parse_head():
                continue
            if state.body_end >= 0 and len(state.inbuf) >= state.body_end:
                finish(state, True)
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            state = key.data
            if now - state.started > timeout:
                finish(state, False)
    elapsed = time.monotonic() - start
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    sel.close()
    return LoadResult(done, errors, non_2xx, elapsed, received_bytes)


# --------------------------------------------------------------------------------------------------
# One large body over a blocking socket (the RSS scenarios)


def _read_response(sock: socket.socket, deadline: float) -> tuple[int, int]:
    """Read one response, discarding its body; return (status, body bytes)."""
    buf = bytearray()
    for _ in range(10_000):
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = sock.recv(65536)
        if not data:
            raise OSError("connection closed before the response head")
        buf += data
    else:
        raise OSError("response head too long")
    head = bytes(buf[:end]).lower()
    status = int(head.split(b" ", 2)[1])
    pos = head.find(b"\r\ncontent-length:")
    if pos < 0:
        raise OSError("response without Content-Length")
    value_end = head.find(b"\r\n", pos + 2)
    length = int(head[pos + 17 : value_end if value_end >= 0 else None])
    received = len(buf) - end - 4
    scratch = bytearray(262144)
    while received < length:
        if time.monotonic() > deadline:
            raise TimeoutError("response body too slow")
        n = sock.recv_into(scratch)
        if not n:
            raise OSError("connection closed mid-body")
        received += n
    return status, received


def upload(host: str, port: int, path: str, size: int, *, timeout: float = 120.0) -> int:
    """POST ``size`` bytes in 64 KiB writes; return the response status."""
    check_loopback(host)
    deadline = time.monotonic() + timeout
    block = memoryview(b"u" * 65536)
    with socket.create_connection((host, port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
        )
        sock.sendall(head.encode("ascii"))
        sent = 0
        while sent < size:
            if time.monotonic() > deadline:
                raise TimeoutError("upload too slow")
            piece = block[: min(len(block), size - sent)]
            sock.sendall(piece)
            sent += len(piece)
        status, _ = _read_response(sock, deadline)
        return status


def download(host: str, port: int, path: str, *, timeout: float = 120.0) -> tuple[int, int]:
    """GET ``path``, discarding the body as it arrives; return (status, body bytes)."""
    check_loopback(host)
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        return _read_response(sock, deadline)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadclient")
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=None, help="seconds")
    parser.add_argument("-n", "--count", type=int, default=None, help="requests")
    parser.add_argument("--close", action="store_true", help="a new connection per request")
    parser.add_argument("--post-size", type=int, default=0, help="POST a body of this size")
    args = parser.parse_args(argv)
    if args.duration is None and args.count is None:
        args.duration = 5.0
    result = run_load(
        args.url,
        connections=args.connections,
        keep_alive=not args.close,
        duration=args.duration,
        count=args.count,
        method="POST" if args.post_size else "GET",
        body_size=args.post_size,
    )
    print(
        f"{result.requests} requests in {result.elapsed:.2f}s, {result.errors} errors, "
        f"{result.non_2xx} non-2xx, {result.bytes_received} bytes received"
    )
    print(f"Requests/sec: {result.rps:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
