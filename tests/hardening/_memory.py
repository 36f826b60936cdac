"""An in-memory driver loop written from docs/core-api.md ("Typical blocking loop"), with an
``on_problem`` hook so tests can count the problem reports the core makes."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["run_connection"]


def run_connection(
    app: Any,
    pieces: Iterable[bytes],
    *,
    config: Any = None,
    on_problem: Callable[[Any], None] | None = None,
    errors: io.StringIO | None = None,
    max_steps: int = 1_000_000,
) -> bytes:
    """Feed ``pieces`` then EOF to one ``wsgicore.Connection`` running ``app``; return every byte the
    server sends. Raises ``RuntimeError`` if the connection does not finish in ``max_steps`` events."""
    from wsgicore import (
        NEED_DATA,
        Connection,
        ConnectionClosed,
        RemoteProtocolError,
        RequestReceived,
    )

    conn = Connection(config, peer=("127.0.0.1", 50000), sockname=("127.0.0.1", 80))
    pending = [p for p in pieces if p]
    pending.reverse()
    eof_sent = False
    out = bytearray()

    def next_piece() -> bytes:
        nonlocal eof_sent
        if pending:
            return pending.pop()
        eof_sent = True
        return b""

    def fetch(size: int) -> bytes:
        return next_piece()

    for _ in range(max_steps):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            out.extend(conn.data_to_send())
            out.extend(exc.response)
            return bytes(out)
        if event is NEED_DATA:
            out.extend(conn.data_to_send())
            if eof_sent and not pending:
                raise RuntimeError("NEED_DATA after EOF was delivered")
            conn.receive_data(next_piece())
        elif isinstance(event, RequestReceived):
            conn.run_app(app, event.environ, out.extend, fetch=fetch,
                         errors=errors if errors is not None else io.StringIO(), on_problem=on_problem)
        elif isinstance(event, ConnectionClosed):
            out.extend(conn.data_to_send())
            return bytes(out)
    raise RuntimeError(f"connection not finished after {max_steps} events")
