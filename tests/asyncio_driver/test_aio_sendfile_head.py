"""The asyncio driver's worker-side ``SocketIO`` sends a ``wsgi.file_wrapper`` response's head with
the file's first bytes (``run_app(..., sendfile_with_head=)``): copied, head and first block
in one ``sendmsg`` (the rest as ``send`` does when the socket takes less); by ``sendfile()``, the
head sent with ``MSG_MORE`` first, pushed out at once when no file byte follows."""

from __future__ import annotations

import concurrent.futures
import os
import select
import socket
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from wsgidrivers.asyncio._bridge import Bridge
from wsgidrivers.asyncio._socketio import SocketIO

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
_MSG_MORE = getattr(socket, "MSG_MORE", 0)


def _io(ours: socket.socket) -> SocketIO[Bridge]:
    ours.setblocking(False)
    bridge = Bridge(5.0, on_output=lambda: None, on_drained=lambda: None)
    return SocketIO(ours, bridge, io_timeout=5.0)


@pytest.fixture
def unix_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        yield ours, peer
    finally:
        ours.close()
        peer.close()


def _read_all(sock: socket.socket, size: int) -> bytes:
    got = bytearray()
    sock.settimeout(5)
    while len(got) < size:
        time.sleep(0.0005)  # a slow reader: the sender's socket is full most of the time
        got += sock.recv(65536)
    return bytes(got)


def test_copy_file_sends_head_and_first_block_in_one_sendmsg_then_the_rest(
        unix_pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    ours, peer = unix_pair
    io = _io(ours)
    content = os.urandom(2 * 1024 * 1024 + 17)  # two copy blocks and a bit
    returned: list[int] = []
    real = socket.socket.sendmsg

    def spy(self: socket.socket, buffers: Any, *args: Any) -> int:
        n = real(self, buffers, *args)
        returned.append(n)
        return n

    monkeypatch.setattr(socket.socket, "sendmsg", spy)
    with tempfile.TemporaryFile() as file, concurrent.futures.ThreadPoolExecutor(1) as pool:
        file.write(content)
        file.flush()
        reader = pool.submit(_read_all, peer, len(HEAD) + len(content) - 100)
        assert io.copy_file(file, 100, len(content) - 100, HEAD) == len(content) - 100
        assert reader.result(20) == HEAD + content[100:]
    # One sendmsg, for the head and the first block; the socket took only part of it.
    assert len(returned) == 1
    assert returned[0] < len(HEAD) + 1024 * 1024


def test_sendfile_sends_the_head_first(unix_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = unix_pair
    io = _io(ours)
    content = os.urandom(300_000)
    with tempfile.TemporaryFile() as file, concurrent.futures.ThreadPoolExecutor(1) as pool:
        file.write(content)
        file.flush()
        reader = pool.submit(_read_all, peer, len(HEAD) + len(content) - 5)
        assert io.sendfile(file, 5, len(content) - 5, HEAD) == len(content) - 5
        assert reader.result(20) == HEAD + content[5:]


@pytest.mark.skipif(not _MSG_MORE, reason="Linux: MSG_MORE")
def test_sendfile_head_goes_with_msg_more(tcp_pair: tuple[socket.socket, socket.socket],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ours, peer = tcp_pair
    io = _io(ours)
    flags_seen: list[int] = []
    real = socket.socket.send

    def spy(self: socket.socket, data: Any, flags: int = 0) -> int:
        flags_seen.append(flags)
        return real(self, data, flags)

    monkeypatch.setattr(socket.socket, "send", spy)
    with tempfile.TemporaryFile() as file:
        file.write(b"123456789")
        file.flush()
        assert io.sendfile(file, 0, 9, HEAD) == 9
    assert flags_seen == [_MSG_MORE]
    assert _read_all(peer, len(HEAD) + 9) == HEAD + b"123456789"


@pytest.mark.skipif(not _MSG_MORE, reason="Linux: MSG_MORE")
def test_a_held_head_is_pushed_when_the_file_has_no_byte(
        tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    # Linux holds a MSG_MORE segment up to 200 ms waiting for more: none comes here.
    ours, peer = tcp_pair
    io = _io(ours)
    with tempfile.TemporaryFile() as empty:
        assert io.sendfile(empty, 0, 10, HEAD) == 0
    ready, _, _ = select.select([peer], [], [], 0.1)
    assert ready
    assert peer.recv(1000) == HEAD
