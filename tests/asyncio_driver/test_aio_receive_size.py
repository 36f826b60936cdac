"""The asyncio driver's worker-side ``SocketIO.receive(n)`` takes at most ``n`` bytes (up to its
read size): ``wsgi.input`` asks for what the application's read lacks, and a larger piece would
be cut and joined again for every later read of the body (the upload's pieces then never line up
with the application's reads)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from wsgidrivers.asyncio._bridge import Bridge
from wsgidrivers.asyncio._socketio import READ_SIZE, SocketIO


@pytest.fixture
def pair() -> Iterator[tuple[SocketIO[Bridge], socket.socket]]:
    ours, peer = socket.socketpair()
    ours.setblocking(False)  # as a transport's
    bridge = Bridge(0.3, on_output=lambda: None, on_drained=lambda: None)
    try:
        yield SocketIO(ours, bridge, io_timeout=0.3), peer
    finally:
        ours.close()
        peer.close()


def test_receive_takes_at_most_what_is_asked(pair: tuple[SocketIO[Bridge], socket.socket]) -> None:
    io, peer = pair
    data = bytes(range(256)) * 64  # 16 KiB, all there before the first receive
    peer.sendall(data)
    assert io.receive(166) == data[:166]
    assert io.receive(1000) == data[166:1166]
    assert io.receive(0) == data[1166:]  # 0: as much as one read takes


def test_receive_asks_no_more_than_its_read_size(pair: tuple[SocketIO[Bridge], socket.socket]) -> None:
    io, peer = pair
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    data = b"x" * (READ_SIZE + 1000)
    peer.sendall(data)
    got = io.receive(10 * READ_SIZE)
    assert 0 < len(got) <= READ_SIZE
