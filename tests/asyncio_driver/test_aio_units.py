"""Unit tests of the asyncio driver's pieces that the socket tests only reach end to end: the
:class:`Bridge` between loop and worker (flow control, wake-ups, timeouts, hand-back) and a
connection's :class:`Deadline` (one lazily moved timer)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from wsgicore import ResponseInfo
from wsgidrivers.asyncio._bridge import (
    IN_HIGH,
    OUT_HIGH,
    Bridge,
    ClientDisconnected,
    SendTimeout,
)
from wsgidrivers.asyncio._timer import Deadline


class Calls:
    def __init__(self) -> None:
        self.output = 0
        self.drained = 0

    def on_output(self) -> None:
        self.output += 1

    def on_drained(self) -> None:
        self.drained += 1


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _bridge(loop: asyncio.AbstractEventLoop, io_timeout: float = 5.0) -> tuple[Bridge, Calls]:
    calls = Calls()
    bridge = Bridge(io_timeout, on_output=calls.on_output, on_drained=calls.on_drained)
    bridge.attach(loop, Any)  # type: ignore[arg-type]  # the transport is only used by sendfile
    return bridge, calls


def _run_callbacks(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


# -- request bytes, loop -> worker ---------------------------------------------------------------

def test_received_bytes_reach_the_worker_in_order(loop: asyncio.AbstractEventLoop) -> None:
    bridge, _ = _bridge(loop)
    assert bridge.received(b"ab") is False
    assert bridge.received(b"cd") is False
    assert bridge.buffered_bytes == (4, 0)
    assert bridge.receive(8192) == b"abcd"
    assert bridge.buffered_bytes == (0, 0)


def test_a_full_queue_pauses_reading_once_and_draining_resumes_it(
        loop: asyncio.AbstractEventLoop) -> None:
    bridge, calls = _bridge(loop)
    assert bridge.received(b"x" * IN_HIGH) is False
    assert bridge.received(b"y") is True  # over the mark: pause now
    assert bridge.received(b"z") is False  # already paused: said once
    assert len(bridge.receive()) == IN_HIGH + 2
    _run_callbacks(loop)
    assert calls.drained == 1
    assert bridge.may_resume_reading() is True
    assert bridge.may_resume_reading() is False  # resumed already


def test_receive_waits_at_most_io_timeout(loop: asyncio.AbstractEventLoop) -> None:
    bridge, _ = _bridge(loop, io_timeout=0.05)
    with pytest.raises(TimeoutError):
        bridge.receive()


def test_receive_wakes_up_for_data_from_another_thread(loop: asyncio.AbstractEventLoop) -> None:
    bridge, _ = _bridge(loop)
    timer = threading.Timer(0.05, bridge.received, args=(b"late",))
    timer.start()
    try:
        assert bridge.receive() == b"late"
    finally:
        timer.join()


@pytest.mark.parametrize("end", ["received_eof", "lost"])
def test_eof_or_a_lost_connection_reads_as_the_end(loop: asyncio.AbstractEventLoop,
                                                   end: str) -> None:
    bridge, _ = _bridge(loop)
    getattr(bridge, end)()
    assert bridge.receive() == b""


def test_leftover_is_taken_back_once(loop: asyncio.AbstractEventLoop) -> None:
    bridge, _ = _bridge(loop)
    bridge.received(b"x" * (IN_HIGH + 1))
    bridge.received(b"next request")
    bridge.received_eof()
    leftover = bridge.take_leftover()
    assert leftover.data == [b"x" * (IN_HIGH + 1), b"next request"]
    assert (leftover.eof, leftover.reading_paused) == (True, True)
    again = bridge.take_leftover()
    assert (again.data, again.eof, again.reading_paused) == ([], False, False)


# -- response bytes, worker -> loop --------------------------------------------------------------

def test_sends_wake_the_loop_once_per_batch_and_the_outcome_comes_last(
        loop: asyncio.AbstractEventLoop) -> None:
    bridge, calls = _bridge(loop)
    bridge.send(b"head")
    bridge.send(memoryview(b"body"))  # type: ignore[arg-type]  # copied: the core may reuse it
    bridge.send(b"")  # nothing to hand over: no wake-up
    info = ResponseInfo(200, 4, True)
    bridge.finish(info)
    _run_callbacks(loop)
    assert calls.output == 1
    written: list[bytes] = []
    assert bridge.flush(written.append) is info
    assert written == [b"headbody"]
    assert bridge.buffered_bytes == (0, 0)
    assert bridge.flush(written.append) is None


def test_send_blocks_while_the_transport_is_paused(loop: asyncio.AbstractEventLoop) -> None:
    bridge, _ = _bridge(loop, io_timeout=0.05)
    bridge.pause_writing()
    with pytest.raises(SendTimeout):
        bridge.send(b"x")
    bridge.resume_writing()
    bridge.send(b"x")  # writable again


def test_send_blocks_above_the_high_water_mark_until_flushed(
        loop: asyncio.AbstractEventLoop) -> None:
    bridge, _ = _bridge(loop)
    bridge.send(b"x" * OUT_HIGH)
    flusher = threading.Timer(0.05, bridge.flush, args=(lambda data: None,))
    flusher.start()
    try:
        bridge.send(b"more")  # waits for the flush, then goes
    finally:
        flusher.join()
    assert bridge.buffered_bytes == (0, 4)


def test_send_to_a_lost_client_raises(loop: asyncio.AbstractEventLoop) -> None:
    bridge, _ = _bridge(loop)
    bridge.lost()
    with pytest.raises(ClientDisconnected):
        bridge.send(b"x")


# -- Deadline --------------------------------------------------------------------------------------

def _run_for(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


def test_a_deadline_fires_once_when_it_passes(loop: asyncio.AbstractEventLoop) -> None:
    fired: list[float] = []
    deadline = Deadline(lambda: fired.append(loop.time()))
    deadline.attach(loop)
    when = loop.time() + 0.02
    deadline.set(when)
    _run_for(loop, 0.1)
    assert len(fired) == 1
    assert fired[0] >= when


def test_a_deadline_moved_later_fires_at_the_new_time(loop: asyncio.AbstractEventLoop) -> None:
    fired: list[float] = []
    deadline = Deadline(lambda: fired.append(loop.time()))
    deadline.attach(loop)
    deadline.set(loop.time() + 0.01)
    later = loop.time() + 0.08
    deadline.set(later)  # the early timer re-arms itself instead of firing
    _run_for(loop, 0.04)
    assert fired == []
    _run_for(loop, 0.1)
    assert len(fired) == 1
    assert fired[0] >= later


@pytest.mark.parametrize("stop", ["clear", "cancel"])
def test_a_cleared_or_cancelled_deadline_does_not_fire(loop: asyncio.AbstractEventLoop,
                                                       stop: str) -> None:
    fired: list[bool] = []
    deadline = Deadline(lambda: fired.append(True))
    deadline.attach(loop)
    deadline.set(loop.time() + 0.01)
    getattr(deadline, stop)()
    _run_for(loop, 0.05)
    assert fired == []


class _ResetTransport(asyncio.Transport):
    """A plain transport whose client has reset the connection: write_eof fails (ENOTCONN)."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = self.closed = False
        self.written: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        raise OSError(107, "Transport endpoint is not connected")

    def is_closing(self) -> bool:
        return self.aborted or self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True


def test_a_lingering_close_on_a_reset_connection_aborts_it(loop: asyncio.AbstractEventLoop) -> None:
    from wsgidrivers.asyncio import Service

    service = Service(lambda environ, start_response: [], access_log=None, socket_io=False)
    transport = _ResetTransport()

    async def scenario() -> None:
        protocol = service()
        protocol.connection_made(transport)
        # A bad request: the core's 400, then a lingering close, whose write_eof fails.
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")

    loop.run_until_complete(scenario())
    assert transport.written[0].startswith(b"HTTP/1.1 400 ")
    assert transport.aborted
    service.executor.shutdown(wait=False)
