"""``python -m wsgidrivers.asyncio``: the ``wsgicore`` command line, with ``--driver asyncio`` as
its default."""

from __future__ import annotations

from wsgidrivers._cli import main as _main

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m wsgidrivers.asyncio``; returns the exit status. SIGINT/SIGTERM shut down
    gracefully: requests in progress get ``--grace`` seconds."""
    return _main(argv, prog="python -m wsgidrivers.asyncio", driver="asyncio")
