"""Parsing cost is linear: every input family of the cost audit, at its largest size within the
default limits, is processed in a few milliseconds, fed whole and in two pieces.

The families (benchmarks/input_families.py) grow the part of an input that made a pattern
quadratic: a run of blanks inside a field value took 350-500 ms at 8000 bytes (seven such
Transfer-Encoding lines: 3.6-5 s); linear code takes well under 1 ms. The bound below sits 50x above
the linear cost and 7x below the quadratic one, so neither a slow machine nor a regression can be
mistaken for the other. ``python -m benchmarks.growth`` reports the exact growth exponents.
"""

from __future__ import annotations

import math
import time

import pytest
from benchmarks.input_families import FAMILIES, Family, family_input, run_family

#: The most a family's largest input may cost (best of three runs). The wsgi.input families read
#: 800 KB: ~3 ms when linear, ~160 ms for readline(100) when each call copied the rest of the piece.
BOUND_SECONDS = 0.050


def _best_of_three(family: Family, k: int, split: bool) -> float:
    data = family_input(family, k)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        family.run(data, split)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("split", [False, True], ids=["whole", "two-pieces"])
@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_largest_input_of_each_family_is_cheap(family: Family, split: bool) -> None:
    small, large = family.sizes
    run_family(family, small, split=split)  # warm caches and imports
    cost = _best_of_three(family, large, split)
    assert cost < BOUND_SECONDS, f"{family.name} ({family.what}) took {cost * 1000:.1f} ms at k={large}"


def test_families_cover_every_pattern_family_of_the_issue() -> None:
    names = {f.name for f in FAMILIES}
    # Issue 10's measured cases, and the audit's: chunk lines, targets, Host, quoted strings,
    # Connection/Expect lists, response-side validators, wsgi.input.readline.
    for expected in ("value-inner-spaces", "transfer-encoding-7-lines", "host-spaces",
                     "content-length-spaces", "chunk-ext-bws", "chunk-ext-quoted", "path-then-fragment",
                     "absolute-form-authority", "connection-list", "expect-spaces",
                     "response-value-spaces", "response-reason-spaces", "readline-limit-one-piece"):
        assert expected in names
