"""The command line's logging: its own logger only, never the root logger.

The application's logging is the application's: a framework that gives its loggers handlers
(Django's ``django`` logger has a console handler) prints through them, and a record that reaches the
root logger unhandled is printed by Python's last-resort handler (warnings and errors, on stderr),
exactly as under gunicorn and uvicorn. A handler on the root logger of ours would print every such
record a second time. ``--log-level`` sets the level of the ``wsgicore`` logger (the shutdown
messages); from ``warning`` up the command line also hides its banner and the access log.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from wsgidrivers._common.shutdown import LOGGER

__all__ = ["configure_logging"]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (looked up for each record, as Python's last-resort
    handler does), so that redirection, and the command line's guarded stderr, apply."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


#: The handler installed on the ``wsgicore`` logger (once, however often the command line runs).
_handler: logging.Handler | None = None


def configure_logging(level: int) -> None:
    """Give the ``wsgicore`` logger its handler (``wsgicore: message`` on stderr) and ``level``.
    It does not propagate: an application that configures the root logger does not print our
    lines a second time."""
    global _handler
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    logger.propagate = False
    if _handler is None:
        _handler = _StderrHandler()
        _handler.setFormatter(logging.Formatter("wsgicore: %(message)s"))
        logger.addHandler(_handler)
