"""The in-memory loop for the hardening suite: the suites' one loop (tests/support/inmemory.py),
with an ``on_problem`` hook so tests can count the problem reports the core makes."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from support.inmemory import run_connection as _run

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
    server sends. Problems go to ``on_problem``, else to ``errors`` (``wsgi.errors``)."""
    return _run(app, pieces, config=config, peer=("127.0.0.1", 50000), sockname=("127.0.0.1", 80),
                use_on_problem=False, on_problem=on_problem, errors=errors,
                max_steps=max_steps).output
