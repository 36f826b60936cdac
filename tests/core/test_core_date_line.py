"""The ``Date`` line (RFC 9110 §5.6.7): remembered per second as the range of clock readings that
second covers, so every reading, in any order, gets the line of its own second."""

from __future__ import annotations

import math
from email.utils import formatdate

import pytest

from wsgicore._date import DateLine


def _expected(seconds: float) -> str:
    return f"Date: {formatdate(int(seconds), usegmt=True)}\r\n"


READINGS = [100.0, 100.5, 100.999999, 101.0, 99.25, 101.5, 0.0, 0.5, -0.0, 1.0, 1_765_000_000.75,
            1_765_000_001, 1_765_000_000, 1_765_000_000.999, 1_765_000_001.0000002, 100, 100]


def test_every_reading_gets_the_line_of_its_own_second() -> None:
    readings = iter(READINGS)
    line = DateLine(lambda: next(readings))
    for reading in READINGS:
        assert line() == _expected(reading), reading


def test_a_clock_before_the_epoch_gets_the_line_int_gives_it() -> None:
    readings = iter([-0.5, -0.5, -1.5, 0.25])
    line = DateLine(lambda: next(readings))
    assert [line() for _ in range(4)] == [_expected(-0.5), _expected(-0.5), _expected(-1.5),
                                          _expected(0.25)]


@pytest.mark.parametrize(("reading", "error"), [(math.nan, ValueError), (math.inf, OverflowError)])
def test_a_reading_that_is_no_time_raises_as_int_does(reading: float, error: type[Exception]) -> None:
    line = DateLine(lambda: 5.0)
    line()  # a second remembered: the bad reading must not match it
    with pytest.raises(error):
        DateLine(lambda: reading)()
