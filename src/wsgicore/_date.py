"""The ``Date`` header line (RFC 9110 §5.6.7 IMF-fixdate), formatted once per second."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

__all__ = ["DateLine"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_http_date(seconds: float) -> str:
    moment = datetime.fromtimestamp(int(seconds), timezone.utc)
    return (f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
            f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT")


# The last second formatted and its line, shared by every connection: formatting costs many times a
# clock call. Two threads racing here compute the same line, so no lock is needed.
_last: tuple[int, str] = (-1, "")


class DateLine:
    """Calls the injected clock and returns ``"Date: ...\\r\\n"`` for that second."""

    __slots__ = ("_clock",)

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def __call__(self) -> str:
        global _last
        second = int(self._clock())
        cached = _last
        if cached[0] == second:
            return cached[1]
        line = f"Date: {format_http_date(second)}\r\n"
        _last = (second, line)
        return line
