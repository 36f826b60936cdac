"""``python -m wsgidrivers.simple_server``: the ``wsgicore`` command line, with ``--driver simple``
as its default (wsgiref's one connection at a time)."""

from __future__ import annotations

from wsgidrivers._cli import main as _main

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m wsgidrivers.simple_server``; returns the exit status."""
    return _main(argv, prog="python -m wsgidrivers.simple_server", driver="simple")
