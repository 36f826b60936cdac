from __future__ import annotations

import pytest

from .names import WORKERS


@pytest.fixture(params=WORKERS)
def worker(request: pytest.FixtureRequest) -> str:
    """The name of each of our worker classes in turn."""
    return str(request.param)
