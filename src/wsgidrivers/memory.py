"""The smallest driver: run a WSGI app over bytes in memory, for tests and fuzzing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from wsgicore import (
    NEED_DATA,
    PAUSED,
    Config,
    Connection,
    ConnectionClosed,
    RemoteProtocolError,
    RequestReceived,
)

__all__ = ["exchange"]

_MAX_STEPS = 1_000_000  # a guard against a core bug turning into a hang


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
    if config is None:
        config = Config(clock=time.time)
    chunks: Iterator[bytes] = iter((data,) if isinstance(data, (bytes, bytearray)) else data)
    conn = Connection(config, peer=peer, sockname=sockname)
    out = bytearray()

    def fetch() -> bytes:
        out.extend(conn.data_to_send())
        for chunk in chunks:
            if chunk:
                return bytes(chunk)
        return b""

    for _ in range(_MAX_STEPS):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            out += conn.data_to_send() + exc.response
            break
        if event is NEED_DATA:
            conn.receive_data(fetch())
        elif isinstance(event, RequestReceived):
            environ = event.environ
            environ["wsgi.input"] = conn.input_stream(fetch)
            environ["wsgi.errors"] = errors if errors is not None else sys.stderr
            info = conn.run_app(app, environ, out.extend)
            for problem in info.unreported:  # the errors stream failed: stderr is left
                sys.stderr.write(problem.format())
        elif isinstance(event, ConnectionClosed) or event is PAUSED:
            break
    else:
        raise RuntimeError("wsgidrivers.memory.exchange: the connection made no progress")
    out += conn.data_to_send()
    return bytes(out)
