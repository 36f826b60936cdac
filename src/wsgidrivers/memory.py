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
    serving_config,
)

from ._common.accesslog import write_unreported

__all__ = ["exchange"]

_MAX_STEPS = 1_000_000  # a guard against a core bug turning into a hang

#: What every driver serves with when given no Config (the core's rule), made once: building a
#: Config per call would cost ~5 µs of a ~28 µs exchange.
_DEFAULT_CONFIG = serving_config(None, clock=time.time, keep_alive=True, multithread=False)


def _serving_config(config: Config | None) -> Config:
    """The core's rule, as every driver applies it (``wsgicore.serving_config``)."""
    if config is None:
        return _DEFAULT_CONFIG
    if not isinstance(config, Config):
        raise TypeError(f"config must be a wsgicore.Config or None, not {config!r}")
    return serving_config(config, clock=time.time, keep_alive=True, multithread=False)


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
    (default ``sys.stderr``). The Config is applied as by every driver (``serving_config``): none gives
    the drivers' default (``Date`` and ``Server``); a given one is used as it is, so
    ``Config(clock=None)`` sends no ``Date``, as over a socket.
    """
    config = _serving_config(config)
    chunks: Iterator[bytes] = iter((data,) if isinstance(data, (bytes, bytearray)) else data)
    conn = Connection(config, peer=peer, sockname=sockname)
    out = bytearray()

    def fetch(size: int = 0) -> bytes:
        # Any number of bytes may come back; the next piece as the caller split the input.
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
            out += conn.data_to_send()
            conn.receive_data(fetch())
        elif isinstance(event, RequestReceived):
            info = conn.run_app(app, event.environ, out.extend, fetch=fetch,
                                errors=errors if errors is not None else sys.stderr)
            write_unreported(info.unreported)
        elif isinstance(event, ConnectionClosed) or event is PAUSED:
            break
    else:
        raise RuntimeError("wsgidrivers.memory.exchange: the connection made no progress")
    out += conn.data_to_send()
    return bytes(out)
