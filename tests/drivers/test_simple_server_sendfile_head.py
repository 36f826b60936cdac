"""The blocking driver sends a ``wsgi.file_wrapper`` response's head with the file's first bytes
(the core hands it over: ``run_app(..., sendfile_with_head=)``): copied, head and first block
in one ``sendmsg``; by ``sendfile()``, the head sent with ``MSG_MORE`` so that the kernel joins it
to the file's first segment. Either way the client gets the same bytes as before."""

from __future__ import annotations

import select
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from support.servers import serve_in_thread
from wsgidrivers._common.listening import KERNEL_TIMEOUTS
from wsgidrivers.simple_server import _socketio
from wsgidrivers.simple_server._socketio import SocketIO

from .helpers import request

PAYLOAD = bytes(range(256)) * 1200  # 300 KiB
_MSG_MORE = getattr(socket, "MSG_MORE", 0)


def _file_app(path: Path) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    return app


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(PAYLOAD)
    return path


def test_copied_file_goes_with_its_head_in_one_sendmsg(
        blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[bytes]] = []
    real = socket.socket.sendmsg

    def spy(self: socket.socket, buffers: Any, *args: Any) -> int:
        calls.append([bytes(b) for b in buffers])
        return real(self, buffers, *args)

    monkeypatch.setattr(socket.socket, "sendmsg", spy)
    with serve_in_thread(_file_app(blob), use_sendfile=False) as address:
        status, _, headers, body = request(address)
    assert (status, body == PAYLOAD) == (200, True)
    assert ("Content-Length", str(len(PAYLOAD))) in headers
    (parts,) = calls  # one block: the file fits in the copy buffer
    head, first = parts
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")
    assert first == PAYLOAD


@pytest.mark.skipif(not (_MSG_MORE and _socketio._os_sendfile), reason="Linux: MSG_MORE, os.sendfile")
def test_sendfile_sends_the_head_with_msg_more_first(
        blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[bytes, int]] = []
    real_sendall = socket.socket.sendall
    real_os = _socketio._os_sendfile
    assert real_os is not None

    def sendall_spy(self: socket.socket, data: Any, flags: int = 0) -> None:
        sent.append((bytes(data), flags))
        real_sendall(self, data, flags)

    def os_spy(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        sent.append((b"<file>", 0))
        return real_os(out_fd, in_fd, offset, count)

    monkeypatch.setattr(socket.socket, "sendall", sendall_spy)
    monkeypatch.setattr(_socketio, "_os_sendfile", os_spy)
    with serve_in_thread(_file_app(blob), use_sendfile=True) as address:
        status, _, _, body = request(address)
    assert (status, body == PAYLOAD) == (200, True)
    head_sends = [(data, flags) for data, flags in sent if data.startswith(b"HTTP/1.1 ")]
    assert [flags for _, flags in head_sends] == [_MSG_MORE]
    assert sent.index(head_sends[0]) < sent.index((b"<file>", 0))


@pytest.mark.skipif(not (_MSG_MORE and KERNEL_TIMEOUTS), reason="Linux: MSG_MORE, kernel timeouts")
def test_a_head_held_by_msg_more_is_pushed_when_the_file_has_no_byte(
        tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    # The file ended before the offset: nothing follows the head, so it must not wait in the
    # kernel for more (Linux holds a MSG_MORE segment up to 200 ms).
    server, client = tcp_pair
    channel = SocketIO(None, None, server, direct=True)
    with tempfile.TemporaryFile() as empty:
        assert channel.sendfile(empty, 0, 10, 5.0, b"HEAD") == 0
    ready, _, _ = select.select([client], [], [], 0.1)
    assert ready
    assert client.recv(10) == b"HEAD"


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_a_sendmsg_cut_short_sends_the_rest(tcp_pair: tuple[socket.socket, socket.socket],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A signal interrupts sendmsg while it waits with part of head + block sent (the reader has
    # not started): it returns that count, and the rest must follow, in order.
    server, client = tcp_pair
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    channel = SocketIO(None, None, server, direct=True)
    data = bytes(range(256)) * 4096  # 1 MiB: far more than the buffers hold
    returned: list[int] = []
    real = socket.socket.sendmsg

    def spy(self: socket.socket, buffers: Any, *args: Any) -> int:
        n = real(self, buffers, *args)
        returned.append(n)
        return n

    monkeypatch.setattr(socket.socket, "sendmsg", spy)
    got = bytearray()

    def read_late() -> None:
        time.sleep(0.5)  # after the signal
        client.settimeout(10)
        while len(got) < 4 + len(data):
            got.extend(client.recv(1 << 20))

    reader = threading.Thread(target=read_late)
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: None)
    reader.start()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with tempfile.TemporaryFile() as file:
            file.write(data)
            file.flush()
            assert channel.copy_file(file, 0, len(data), 10.0, b"HEAD") == len(data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        reader.join(15)
    assert len(returned) == 1
    assert 0 < returned[0] < 4 + len(data)
    assert bytes(got) == b"HEAD" + data
