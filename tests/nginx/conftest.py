"""nginx in front of our servers: skipped (with the reason "nginx not installed") only where nginx
is absent; CI installs it (.ci/run)."""

from __future__ import annotations

import pytest
from benchmarks.nginx import nginx_binary


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if nginx_binary() is not None:
        return
    skip = pytest.mark.skip(reason="nginx not installed")
    for item in items:
        if item.path.parent.name == "nginx" and item.path.parent.parent.name == "tests":
            item.add_marker(skip)
