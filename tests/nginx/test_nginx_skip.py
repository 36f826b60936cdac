"""Where nginx is missing, the nginx tests (and only they) are skipped, with the reason CI and
the issue name: "nginx not installed"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import conftest


class _Item:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.markers: list[Any] = []

    def add_marker(self, marker: Any) -> None:
        self.markers.append(marker)


def test_skipped_with_the_reason_only_where_nginx_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    here = Path(__file__)
    ours, other = _Item(here), _Item(here.parent.parent / "core" / "test_x.py")
    monkeypatch.setattr(conftest, "nginx_binary", lambda: "/usr/sbin/nginx")
    conftest.pytest_collection_modifyitems(None, [ours, other])  # type: ignore[arg-type, list-item]
    assert ours.markers == other.markers == []
    monkeypatch.setattr(conftest, "nginx_binary", lambda: None)
    conftest.pytest_collection_modifyitems(None, [ours, other])  # type: ignore[arg-type, list-item]
    assert [m.kwargs["reason"] for m in ours.markers] == ["nginx not installed"]
    assert other.markers == []
