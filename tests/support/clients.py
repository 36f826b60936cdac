"""Raw-socket clients for the driver tests (simple_server and asyncio alike). Every wait is bounded."""

from __future__ import annotations

import socket
import time

__all__ = ["TIMEOUT", "connect", "drip", "has_ipv6_loopback", "read_until_close", "wait_closed"]

#: Seconds any single wait of a test client may take before the test fails.
TIMEOUT = 10.0


def connect(address: tuple[str, int], timeout: float = TIMEOUT) -> socket.socket:
    """A connected TCP socket with ``timeout`` on every operation; Nagle off, so small writes leave
    at once."""
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def wait_closed(sock: socket.socket, limit: float = TIMEOUT) -> tuple[bytes, float]:
    """Read until the server closes (or resets) the connection; return what was read and how long
    it took. Fails the test (AssertionError) when the server has not closed within ``limit`` s."""
    start = time.monotonic()
    deadline = start + limit
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the server did not close the connection within {limit} s")
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            raise AssertionError(f"the server did not close the connection within {limit} s") from None
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks), time.monotonic() - start


def read_until_close(sock: socket.socket, limit: float = TIMEOUT) -> bytes:
    """Everything the server sends until it closes (or resets) the connection (see wait_closed)."""
    return wait_closed(sock, limit)[0]


def drip(sock: socket.socket, data: bytes, interval: float, give_up: float) -> bool:
    """Send ``data`` one byte every ``interval`` seconds (a slowloris client), for at most
    ``give_up`` seconds; True if the server closed the connection meanwhile (a send failed)."""
    start = time.monotonic()
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return True
        time.sleep(interval)
        if time.monotonic() - start > give_up:
            break
    return False


def has_ipv6_loopback() -> bool:
    """True when this machine can bind ``::1`` (some CI containers have no IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True
