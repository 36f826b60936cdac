"""The smallest driver: run a WSGI app over bytes in memory, for tests and fuzzing.

:class:`MemoryConnection` is one server-side connection without a socket: ``send(data)`` feeds
request bytes and returns what the server wrote back, as often as you like (keep-alive,
pipelining); ``close()`` is the client's EOF. :func:`exchange` is the one-shot form.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from wsgicore import (
    NEED_DATA,
    PAUSED,
    Config,
    Connection,
    ConnectionClosed,
    Problem,
    RemoteProtocolError,
    RequestReceived,
)

__all__ = ["MemoryConnection", "exchange"]

_MAX_STEPS = 1_000_000  # a guard against a core bug turning into a hang


class MemoryConnection:
    """One connection serving ``app``, fed from memory (the client side is the caller).

    ``send(data)`` delivers bytes (or byte chunks, in those pieces, each only when the core asks for
    more, as a socket would) and runs every request they complete; it returns every byte the server
    wrote meanwhile. The connection then waits for more input, unless it has ended (:attr:`closed`).
    ``close()`` delivers EOF and returns the last bytes. A ``wsgi.input`` read that finds no bytes
    left counts as the client's EOF: an in-memory connection cannot wait for bytes nobody sent.

    ``errors`` is ``wsgi.errors`` (default ``sys.stderr``); ``on_problem`` is passed to
    :meth:`wsgicore.Connection.run_app`. A ``Config`` without a clock gets ``time.time``.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        config: Config | None = None,
        peer: Any = ("127.0.0.1", 50000),
        sockname: Any = ("127.0.0.1", 80),
        errors: IO[str] | None = None,
        on_problem: Callable[[Problem], None] | None = None,
    ) -> None:
        if config is None:
            config = Config(clock=time.time)
        self.app = app
        self.errors = errors
        self.on_problem = on_problem
        self.connection = Connection(config, peer=peer, sockname=sockname)
        self.closed = False  # the server ended the connection (ConnectionClosed or an error)
        self._sources: deque[Iterator[bytes]] = deque()  # drawn lazily, as the core asks
        self._eof = False  # EOF was fed to the core
        self._out = bytearray()
        self._eof_next = False  # close() was called: EOF follows the pending bytes

    def send(self, data: bytes | Iterable[bytes]) -> bytes:
        """Deliver ``data`` and run what it completes; return the bytes the server wrote."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = (bytes(data),)
        if not self.closed and not self._eof:
            self._sources.append(iter(data))
            self._run()
        return self._take()

    def close(self) -> bytes:
        """Deliver EOF (the client closed) and run to the end; return the last bytes written."""
        if not self.closed and not self._eof:
            self._eof_next = True
            self._run()
        self.closed = True
        return self._take()

    def _take(self) -> bytes:
        self._out += self.connection.data_to_send()
        out = bytes(self._out)
        self._out.clear()
        return out

    def _fetch(self) -> bytes:
        # wsgi.input wants more: a pending "100 Continue" goes out first (RFC 9110 §10.1.1).
        self._out += self.connection.data_to_send()
        chunk = self._next_chunk()
        if chunk is None:  # nothing left to deliver: the stream sees the end of input
            self._eof = True
            return b""
        return chunk

    def _next_chunk(self) -> bytes | None:
        """The next non-empty piece to deliver, ``b""`` for EOF after close(), ``None``: nothing."""
        while self._sources:
            for chunk in self._sources[0]:
                if chunk:
                    return bytes(chunk)
            self._sources.popleft()
        if self._eof_next and not self._eof:
            return b""
        return None

    def _run(self) -> None:
        conn = self.connection
        for _ in range(_MAX_STEPS):
            if self.closed:
                return
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                self._out += conn.data_to_send() + exc.response
                self.closed = True
                return
            if event is NEED_DATA:
                # After EOF the core should not ask again; if it does, EOF again (bounded by the loop).
                chunk = b"" if self._eof else self._next_chunk()
                if chunk is None:
                    return  # wait for the caller's next send() or close()
                self._eof = not chunk
                conn.receive_data(chunk)
            elif isinstance(event, RequestReceived):
                environ = event.environ
                environ["wsgi.input"] = conn.input_stream(self._fetch)
                environ["wsgi.errors"] = self.errors if self.errors is not None else sys.stderr
                info = conn.run_app(self.app, environ, self._out.extend, on_problem=self.on_problem)
                for problem in info.unreported:  # the errors stream failed: stderr is left
                    sys.stderr.write(problem.format())
            elif isinstance(event, ConnectionClosed) or event is PAUSED:
                self.closed = True
                return
        raise RuntimeError("wsgidrivers.memory: the connection made no progress")


def exchange(
    app: Callable[..., Iterable[bytes]],
    data: bytes | Iterable[bytes],
    *,
    config: Config | None = None,
    peer: Any = ("127.0.0.1", 50000),
    sockname: Any = ("127.0.0.1", 80),
    errors: IO[str] | None = None,
) -> bytes:
    """Feed ``data`` (bytes, or byte chunks delivered in those pieces), then EOF, to one connection
    serving ``app``; return every byte the server would have sent. ``errors`` is ``wsgi.errors``
    (default ``sys.stderr``). A ``Config`` without a clock gets ``time.time``.
    """
    memory = MemoryConnection(app, config=config, peer=peer, sockname=sockname, errors=errors)
    return memory.send(data) + memory.close()
