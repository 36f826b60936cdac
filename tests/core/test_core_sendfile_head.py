"""``run_app(..., sendfile_with_head=)``: the driver's callable gets the response head as a fourth
argument and sends it before the file (with it, in one packet where it can), instead of the core
sending the head through ``send`` first. A response with no file byte to send (HEAD, a
Content-Length of 0, a bodiless status) still goes through ``send``; a three-argument
``sendfile=`` is called as before."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from core_support import PEER, SOCKNAME, final_responses

from wsgicore import Connection, ConnectionClosed, RequestReceived, ResponseInfo

DATA = bytes(range(256)) * 40


class Driver:
    """What a driver with a head-taking sendfile does: one ordered byte stream."""

    def __init__(self) -> None:
        self.wire = bytearray()
        self.sends: list[bytes] = []
        self.calls: list[tuple[int, int, bytes]] = []

    def send(self, data: bytes) -> None:
        self.sends.append(bytes(data))
        self.wire += data

    def sendfile(self, file: Any, offset: int, count: int, head: bytes) -> int:
        self.calls.append((offset, count, head))
        data = os.pread(file.fileno(), count, offset)
        self.wire += head + data
        return len(data)


def _run(tmp_path: Path, headers: list[tuple[str, str]], *, request: bytes | None = None,
         status: str = "200 OK", driver: Any = None, takes_head: bool = True,
         skip: int = 0) -> tuple[Any, ResponseInfo, Connection]:
    path = tmp_path / "payload.bin"
    path.write_bytes(DATA)
    driver = driver or Driver()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response(status, headers)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the core through the wrapper
        handle.seek(skip)  # PEP 3333: sent from the current position
        return environ["wsgi.file_wrapper"](handle)  # type: ignore[no-any-return]

    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(request or b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n")
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    info = conn.run_app(app, event.environ, driver.send, fetch=lambda n: b"", errors=io.StringIO(),
                        **({"sendfile_with_head" if takes_head else "sendfile": driver.sendfile}))
    return driver, info, conn


def test_the_head_goes_to_sendfile_not_to_send(tmp_path: Path) -> None:
    driver, info, _ = _run(tmp_path, [("Content-Type", "application/octet-stream")], skip=100)
    assert driver.sends == []
    ((offset, count, head),) = driver.calls
    assert (offset, count) == (100, len(DATA) - 100)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")
    assert b"\r\nContent-Length: %d\r\n" % (len(DATA) - 100) in head
    (response,) = final_responses(bytes(driver.wire))
    assert response.body == DATA[100:]
    assert (info.status, info.body_bytes, info.keep_alive) == (200, len(DATA) - 100, True)


def test_a_content_length_shorter_than_the_file_is_what_is_sent(tmp_path: Path) -> None:
    driver, info, _ = _run(tmp_path, [("Content-Length", "1000")])
    assert [count for _, count, _ in driver.calls] == [1000]
    (response,) = final_responses(bytes(driver.wire))
    assert response.body == DATA[:1000]
    assert info.keep_alive


def test_a_file_shorter_than_its_content_length_closes_the_connection(tmp_path: Path) -> None:
    driver, info, _ = _run(tmp_path, [("Content-Length", str(len(DATA) + 50))])
    assert [count for _, count, _ in driver.calls] == [len(DATA) + 50]
    assert driver.wire.endswith(DATA)
    assert info.body_bytes == len(DATA)
    assert not info.keep_alive


@pytest.mark.parametrize(("request_bytes", "status", "headers"), [
    (b"HEAD /f HTTP/1.1\r\nHost: h\r\n\r\n", "200 OK", []),
    (b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n", "200 OK", [("Content-Length", "0")]),
    (b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n", "304 Not Modified", []),
])
def test_no_file_byte_to_send_sends_the_head_through_send(
        tmp_path: Path, request_bytes: bytes, status: str, headers: list[tuple[str, str]]) -> None:
    driver, info, _ = _run(tmp_path, headers, request=request_bytes, status=status)
    assert driver.calls == []
    (head,) = driver.sends
    assert head.startswith(b"HTTP/1.1 " + status.encode())
    assert head.endswith(b"\r\n\r\n")
    assert info.body_bytes == 0
    assert info.keep_alive


def test_a_three_argument_sendfile_still_gets_three(tmp_path: Path) -> None:
    # The default: a driver written before the head was offered keeps working unchanged.
    class OldDriver(Driver):
        def sendfile(self, file: Any, offset: int, count: int) -> int:  # type: ignore[override]
            return super().sendfile(file, offset, count, b"")

    driver, info, _ = _run(tmp_path, [], driver=OldDriver(), takes_head=False)
    assert len(driver.sends) == 1
    assert driver.sends[0].endswith(b"\r\n\r\n")
    assert [head for _, _, head in driver.calls] == [b""]
    (response,) = final_responses(bytes(driver.wire))
    assert response.body == DATA
    assert info.body_bytes == len(DATA)


def test_a_failing_sendfile_is_the_send_error_and_ends_the_connection(tmp_path: Path) -> None:
    class Broken(Driver):
        def sendfile(self, file: Any, offset: int, count: int, head: bytes) -> int:
            raise ConnectionResetError("client gone")

    with pytest.raises(ConnectionResetError, match="client gone"):
        _run(tmp_path, [], driver=Broken())


def test_after_a_failing_sendfile_the_connection_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "payload.bin"
    path.write_bytes(DATA)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](open(path, "rb"))  # type: ignore[no-any-return]

    def sendfile(file: Any, offset: int, count: int, head: bytes) -> int:
        raise BrokenPipeError("gone")

    conn = Connection(None, peer=PEER, sockname=SOCKNAME)
    conn.receive_data(b"GET /f HTTP/1.1\r\nHost: h\r\n\r\nGET /f HTTP/1.1\r\nHost: h\r\n\r\n")
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    with pytest.raises(BrokenPipeError):
        conn.run_app(app, event.environ, lambda data: None, fetch=lambda n: b"",
                     errors=io.StringIO(), sendfile_with_head=sendfile)
    # The second request is never served: the head may be half out.
    assert isinstance(conn.next_event(), ConnectionClosed)
