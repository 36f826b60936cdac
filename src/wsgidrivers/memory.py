"""The smallest driver: run a WSGI app over bytes in memory, for tests and fuzzing.

:class:`MemoryConnection` is one server-side connection without a socket: ``send(data)`` feeds
request bytes and returns what the server wrote back, as often as you like (keep-alive,
pipelining); ``close()`` is the client's EOF. :func:`exchange` is the one-shot form. Served as
every driver serves (``wsgidrivers._common.settings.connection_config``): a chunked request body is
read whole before the app runs and given a ``CONTENT_LENGTH``, unless ``stream_chunked_body``.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from wsgicore import Config, Connection, Problem, Receive, RequestReceived

from ._common.accesslog import write_unreported
from ._common.settings import Settings, connection_config, driver_defaults

__all__ = ["MemoryConnection", "exchange"]

_MAX_STEPS = 1_000_000  # a guard against a core bug turning into a hang

#: The memory driver's settings when none is given (each default is written once, in the settings
#: module): only ``config`` and ``stream_chunked_body`` mean anything without a socket.
_DEFAULTS: Settings = driver_defaults("memory")


def _config(stream_chunked_body: bool) -> Config:
    return connection_config(None, keep_alive=True, multithread=False,
                             stream_chunked_body=stream_chunked_body)


#: What every driver serves with when given no Config (the drivers' rule), made once for each
#: choice of ``stream_chunked_body``: building a Config per connection would be a large share of an
#: exchange's cost.
_DEFAULT_CONFIGS: dict[bool, Config] = {False: _config(False), True: _config(True)}

#: The last Config given, the stream_chunked_body it came with and the Config served with them
#: (Config is frozen, so it cannot go stale).
_last_served: tuple[Config, bool, Config] | None = None


def _serving_config(config: Config | None, stream_chunked_body: bool) -> Config:
    """The drivers' rule, as every driver applies it (``connection_config``, the core's
    ``wsgicore.serving_config``): none gives the drivers' default (``Date``, ``Server``); a given
    Config keeps ``Date`` (the wall clock for its default ``clock="driver"``) unless it says
    ``clock=None``; chunked bodies are buffered before the app runs unless ``stream_chunked_body``
    (the setting decides, whatever the Config's own ``buffer_chunked_body``, as over a socket)."""
    global _last_served
    if not isinstance(stream_chunked_body, bool):
        raise ValueError(f"stream_chunked_body must be a bool, not {stream_chunked_body!r}")
    if config is None:
        return _DEFAULT_CONFIGS[stream_chunked_body]
    last = _last_served
    if last is not None and last[0] is config and last[1] is stream_chunked_body:
        return last[2]  # tests pass one Config to many exchanges: a copy costs a sizeable share
    if not isinstance(config, Config):
        raise TypeError(f"config must be a wsgicore.Config or None, not {config!r}")
    served = connection_config(config, keep_alive=True, multithread=False,
                               stream_chunked_body=stream_chunked_body)
    _last_served = (config, stream_chunked_body, served)  # one tuple, swapped whole: thread-safe
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

    ``stream_chunked_body`` is the drivers' setting of that name: off (the default), a chunked
    request body is read whole before the app runs (bounded by ``Config.max_buffered_body_bytes``:
    413) and the app gets it with a ``CONTENT_LENGTH``, as every server gives it, so an app that
    reads ``CONTENT_LENGTH`` bytes (Django) gets the body; on, it streams to the app, with
    ``wsgi.input_terminated`` and no ``CONTENT_LENGTH``. Either way the body is read as it was
    sent by then: a chunked body still unsent when the app reads is the end of input.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        config: Config | None = None,
        stream_chunked_body: bool = _DEFAULTS.stream_chunked_body,
        peer: Any = ("127.0.0.1", 50000),
        sockname: Any = ("127.0.0.1", 80),
        errors: IO[str] | None = None,
        on_problem: Callable[[Problem], None] | None = None,
    ) -> None:
        config = _serving_config(config, stream_chunked_body)
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
    stream_chunked_body: bool = _DEFAULTS.stream_chunked_body,
    peer: Any = ("127.0.0.1", 50000),
    sockname: Any = ("127.0.0.1", 80),
    errors: IO[str] | None = None,
) -> bytes:
    """Feed ``data`` (bytes, or byte chunks delivered in those pieces), then EOF, to one connection
    serving ``app``; return every byte the server would have sent. ``errors`` is ``wsgi.errors``
    (default ``sys.stderr``). The Config and ``stream_chunked_body`` are applied as by every driver
    (see :class:`MemoryConnection`).
    """
    memory = MemoryConnection(app, config=config, stream_chunked_body=stream_chunked_body, peer=peer,
                              sockname=sockname, errors=errors)
    return memory.send(data) + memory.close()
