"""The one in-memory driver loop of the test suites: ``wsgicore.Connection`` driven as
docs/core-api.md's typical loop drives it (``run_app(..., fetch=, errors=)``), over bytes.

``run_connection`` feeds the input pieces (then EOF) and records everything a test may check: the
bytes sent, each ``ResponseInfo``, the problems reported, the events, the protocol error, the
environs. The core suites use it directly, the hardening and fuzz suites through thin wrappers.
(``wsgidrivers.memory.exchange`` is the product's own in-memory driver; ``test_faulty_apps``
checks that the two agree.) No ``assert`` statements: the hardening suite also runs under ``-O``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["PEER", "SOCKNAME", "Run", "run_connection"]

PEER = ("192.0.2.7", 51234)
SOCKNAME = ("198.51.100.1", 8080)


@dataclass
class Run:
    output: bytes
    infos: list[Any]  # wsgicore.ResponseInfo
    problems: list[Any]  # wsgicore.Problem
    events: list[Any]
    error: Exception | None  # the RemoteProtocolError from next_event, if any
    environs: list[dict[str, Any]]
    errors_text: str


def run_connection(
    app: Any,
    pieces: bytes | Iterable[bytes],
    *,
    config: Any = None,
    peer: tuple[Any, ...] | None = PEER,
    sockname: tuple[Any, ...] | None = SOCKNAME,
    use_on_problem: bool = True,
    on_problem: Callable[[Any], None] | None = None,
    errors: IO[str] | None = None,
    max_steps: int = 100_000,
) -> Run:
    """Serve one in-memory connection: feed ``pieces`` (then EOF), run ``app`` for each request.

    Problems go to ``on_problem`` when given, else are collected in ``Run.problems``
    (``use_on_problem``), else written to ``errors`` (``wsgi.errors``, a new StringIO by default).
    Raises ``AssertionError`` when the connection does not finish within ``max_steps`` events.
    """
    from wsgicore import (
        NEED_DATA,
        PAUSED,
        Connection,
        ConnectionClosed,
        RemoteProtocolError,
        RequestReceived,
    )

    if isinstance(pieces, (bytes, bytearray)):
        pieces = [bytes(pieces)]
    chunks = iter(pieces)
    conn = Connection(config, peer=peer, sockname=sockname)
    out = bytearray()
    infos: list[Any] = []
    problems: list[Any] = []
    events: list[Any] = []
    environs: list[dict[str, Any]] = []
    stream = errors if errors is not None else io.StringIO()
    report = on_problem if on_problem is not None else problems.append if use_on_problem else None
    eof = False

    def next_piece(size: int = 0) -> bytes:
        nonlocal eof
        out.extend(conn.data_to_send())
        if eof:
            return b""
        for piece in chunks:
            if piece:  # an empty piece is skipped: b"" would mean EOF to the core
                return bytes(piece)
        eof = True
        return b""

    error: Exception | None = None
    for _ in range(max_steps):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            error = exc
            out.extend(conn.data_to_send())
            out.extend(exc.response)
            break
        if event is NEED_DATA:
            conn.receive_data(next_piece())
            continue
        events.append(event)
        if isinstance(event, RequestReceived):
            environs.append(event.environ)  # run_app adds wsgi.input and wsgi.errors to it
            infos.append(conn.run_app(app, event.environ, out.extend, fetch=next_piece,
                                      errors=stream, on_problem=report))
        elif event is PAUSED:
            raise AssertionError("PAUSED although the app was run at RequestReceived")
        elif isinstance(event, ConnectionClosed):
            out.extend(conn.data_to_send())
            break
        else:
            raise AssertionError(f"unexpected event {event!r}: the app reads the body itself")
    else:
        raise AssertionError("the connection did not finish (next_event loop bound hit)")
    text = stream.getvalue() if isinstance(stream, io.StringIO) else ""
    return Run(bytes(out), infos, problems, events, error, environs, text)
