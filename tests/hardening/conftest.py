"""Hardening-suite hooks: the soak test is deselected unless asked for.

Run it with ``python -m pytest -m soak tests/hardening`` or ``WSGICORE_SOAK=1 python -m pytest
tests/hardening/test_soak.py -s``.
"""

from __future__ import annotations

import pytest

from ._util import soak_enabled


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak_enabled(config):
        return
    deselected = [item for item in items if item.get_closest_marker("soak")]
    if deselected:
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
        config.hook.pytest_deselected(items=deselected)
