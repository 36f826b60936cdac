"""Problems met while running an application, and how they reach the driver's error log.

The core writes nowhere itself: a problem goes to the driver's ``on_problem``, else to the request's
``wsgi.errors`` stream, and when that stream fails it is handed back to the driver in
``ResponseInfo.unreported``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import IO

__all__ = ["ExcInfo", "Problem", "ignore_problem", "stream_reporter"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that went wrong while running the app, for the driver's error log."""

    message: str
    exc_info: ExcInfo | None = None

    def format(self) -> str:
        """The message, then the traceback when there is one."""
        if self.exc_info is None:
            return self.message + "\n"
        return self.message + "\n" + "".join(traceback.format_exception(*self.exc_info))


def ignore_problem(problem: Problem) -> None:
    return None


def stream_reporter(stream: IO[str] | None, lost: list[Problem]) -> Callable[[Problem], None]:
    """A reporter writing to ``stream`` (``wsgi.errors``); what it cannot write goes to ``lost``."""
    if stream is None:
        return ignore_problem

    def report(problem: Problem) -> None:
        try:
            stream.write(problem.format())
            stream.flush()
        except Exception:
            lost.append(problem)

    return report
