"""Where a full benchmark run's report goes besides ``benchmarks/RESULTS.md``, and what it is
compared with.

- :func:`write_between_markers`: the report replaces what lies between ``<!-- results:begin -->``
  and ``<!-- results:end -->`` in ``docs/performance.md`` (the page's own text around them stays);
  a page without both markers, in that order, or no page at all, is left alone.
- :func:`previous_revision`: the revision an earlier RESULTS.md measured: the no-regression
  baseline, which the next run measures again side by side with the current code.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks._common import REPO_ROOT

DOCS_PATH = REPO_ROOT / "docs" / "performance.md"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"


def write_between_markers(path: Path, text: str) -> bool:
    """Put ``text`` between the markers of ``path``; False (the file untouched) when the file or
    either marker is missing, or they are out of order."""
    try:
        page = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return False
    start = page.find(BEGIN)
    end = page.find(END, start + len(BEGIN)) if start >= 0 else -1
    if start < 0 or end < 0:
        return False
    body = text.strip("\n")
    updated = page[: start + len(BEGIN)] + "\n" + body + "\n" + page[end:]
    if updated != page:
        path.write_text(updated, encoding="utf-8")
    return True


#: The line of a report that names the revision it measured.
_REVISION = re.compile(r"^- wsgicore revision: ([0-9a-f]{7,40})\b", re.MULTILINE)


def previous_revision(path: Path) -> str | None:
    """The git revision the RESULTS.md at ``path`` measured (None: no file, or it names none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    found = _REVISION.search(text)
    return found.group(1) if found else None
