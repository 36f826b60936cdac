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

from wsgicore import Config, Connection, Problem, Receive, RequestReceived, serving_config

from ._common.accesslog import write_unreported

__all__ = ["MemoryConnection", "exchange"]

_MAX_STEPS = 1_000_000  # a guard against a core bug turning into a hang

#: What every driver serves with when given no Config (the core's rule), made once: building a
#: Config per connection would be a large share of an exchange's cost.
_DEFAULT_CONFIG = serving_config(None, clock=time.time, keep_alive=True, multithread=False)


#: The last Config given and the one it is served with (Config is frozen, so it cannot go stale).
_last_served: tuple[Config, Config] | None = None


def _serving_config(config: Config | None) -> Config:
    """The core's rule, as every driver applies it (``wsgicore.serving_config``): none gives the
    drivers' default (``Date``, ``Server``); a given Config keeps ``Date`` (the wall clock for its
    default ``clock="driver"``) unless it says ``clock=None``."""
    global _last_served
    if config is None:
        return _DEFAULT_CONFIG
    last = _last_served
    if last is not None and last[0] is config:
        return last[1]  # tests pass one Config to many exchanges: a copy costs a sizeable share
    if not isinstance(config, Config):
        raise TypeError(f"config must be a wsgicore.Config or None, not {config!r}")
    served = serving_config(config, clock=time.time, keep_alive=True, multithread=False)
    _last_served = (config, served)  # one tuple, swapped whole: safe across threads
    return served


class MemoryConnection:
    """One connection serving ``app``, fed from memory (the client side is the caller).

    ``send(data)`` delivers bytes (or byte chunks, in those pieces, each only when the core asks for
    more, as a socket would) and runs every request they complete; it returns every byte the server
    wrote meanwhile. The connection then waits for more input, unless it has ended (:attr:`closed`).
    ``close()`` delivers EOF and returns the last bytes. A ``wsgi.input`` read that finds no bytes
    left counts as the client's EOF: an in-memory connection cannot wait for bytes nobody sent.

    ``errors`` is ``wsgi.errors`` (default ``sys.stderr``); ``on_problem`` is passed to
    :meth:`wsgicore.Connection.run_app`. The Config is applied as by every driver: none gives the
    drivers' default (``Date`` and ``Server``); a given one gets the wall clock for ``Date`` unless
    it says ``clock=None``, as over a socket; anything but a Config is a ``TypeError``.
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
        config = _serving_config(config)
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

    def _fetch(self, size: int) -> bytes:
        # wsgi.input wants more (the core has sent a pending "100 Continue" first); any number of
        # bytes may come back: the next piece as the caller split the input.
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
            action = conn.next_action()
            if isinstance(action, Receive):  # no clock here: deadlines never pass
                if action.send:
                    self._out += action.send
                # After EOF the core should not ask again; if it does, EOF again (bounded by the loop).
                chunk = b"" if self._eof else self._next_chunk()
                if chunk is None:
                    return  # wait for the caller's next send() or close()
                self._eof = not chunk
                conn.receive_data(chunk)
            elif isinstance(action, RequestReceived):
                # The core sets wsgi.input and wsgi.errors (PEP 3333) and flushes a 100 Continue.
                info = conn.run_app(self.app, action.environ, self._out.extend, fetch=self._fetch,
                                    errors=self.errors if self.errors is not None else sys.stderr,
                                    on_problem=self.on_problem)
                write_unreported(info.unreported)
            else:  # Close: an error response, or the end after the last response
                self._out += action.send
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
    (default ``sys.stderr``). The Config is applied as by every driver (see :class:`MemoryConnection`).
    """
    memory = MemoryConnection(app, config=config, peer=peer, sockname=sockname, errors=errors)
    return memory.send(data) + memory.close()
