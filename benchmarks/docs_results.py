"""Where a full benchmark run's report goes besides ``benchmarks/RESULTS.md``, and what it is
compared with.

- :func:`write_between_markers`: the report replaces what lies between ``<!-- results:begin -->``
  and ``<!-- results:end -->`` in ``docs/performance.md`` (the page's own text around them stays);
  a page without both markers, in that order, or no page at all, is left alone.
- :func:`previous_medians`: the median req/s of each contender and pinned scenario in an earlier
  RESULTS.md (its summary table), for the no-regression goal.
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


#: The line above the summary table of ``python -m benchmarks``'s report.
SUMMARY_TITLE = "Summary: median req/s"
_SUMMARY_HEADER = re.compile(r"^\| contender \| (.+) \|\s*$")
_NUMBER = re.compile(r"^([\d,]+(?:\.\d+)?)")


def previous_medians(path: Path) -> dict[tuple[str, str], float]:
    """``{(contender label, scenario title): median req/s}`` from the summary table of the
    RESULTS.md at ``path`` (empty when there is none)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    found: dict[tuple[str, str], float] = {}
    titles: list[str] = []
    in_summary = False
    for line in lines:
        if line.startswith(SUMMARY_TITLE):
            in_summary = True
            continue
        if not in_summary:
            continue
        header = _SUMMARY_HEADER.match(line)
        if header is not None:
            titles = [t.strip() for t in header.group(1).split("|")]
            continue
        if not titles:
            continue
        if not line.startswith("|"):
            if found:
                break  # the table ended
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0].startswith("---"):
            continue  # the separator row
        label, values = cells[0], cells[1:]
        for title, value in zip(titles, values, strict=False):
            number = _NUMBER.match(value)
            if number is not None:
                found[(label, title)] = float(number.group(1).replace(",", ""))
    return found
