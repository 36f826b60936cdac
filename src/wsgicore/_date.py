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


# The last second formatted, as the range of clock readings it covers, and its line: shared by every
# connection, since formatting costs many times a clock call. A range and not ``int(now)``: two float
# comparisons are cheaper than the int() call, once per response. Two threads racing here compute the
# same line, and the tuple is replaced whole, so no lock is needed.
_last: tuple[float, float, str] = (0.0, 0.0, "")  # an empty range: the first call formats


class DateLine:
    """Calls the injected clock and returns ``"Date: ...\\r\\n"`` for that second."""

    __slots__ = ("_clock",)

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def __call__(self) -> str:
        global _last
        now = self._clock()
        cached = _last
        if cached[0] <= now < cached[1]:
            return cached[2]
        second = int(now)
        line = f"Date: {format_http_date(second)}\r\n"
        # [second, second + 1) is every reading that int() takes to this second, for a clock
        # at or after the epoch (a reading before it only misses the memo).
        _last = (float(second), float(second + 1), line)
        return line
