"""The request corpus (tests/corpus/requests), found and loaded one way for every suite."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["CORPUS_ENV", "find_corpus", "load_corpus"]

#: An explicit corpus directory (the one holding manifest.json, or a ``shared/`` above it).
CORPUS_ENV = "WSGICORE_CORPUS"

_REPO = Path(__file__).resolve().parents[2]


def find_corpus() -> Path | None:
    """The corpus directory, or None when it is absent: ``$WSGICORE_CORPUS`` first, then the copy
    in the repository."""
    candidates: list[Path] = []
    env = os.environ.get(CORPUS_ENV)
    if env:
        candidates += [Path(env), Path(env) / "corpus" / "requests"]
    candidates.append(_REPO / "tests" / "corpus" / "requests")
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate.resolve()
    return None


def load_corpus() -> list[dict[str, Any]]:
    """The manifest's entries, each with its wire bytes under ``"raw"``; ``[]`` when absent."""
    corpus = find_corpus()
    if corpus is None:
        return []
    entries: list[dict[str, Any]] = json.loads((corpus / "manifest.json").read_text("utf-8"))
    for entry in entries:
        entry["raw"] = (corpus / entry["file"]).read_bytes()
    return entries
