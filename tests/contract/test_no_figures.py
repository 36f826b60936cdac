"""No measured figures in src's comments and strings: a timing, a rate, a count of context switches
or system calls, a percentage of time go stale with the next change, and nothing tells the reader so.
The reason stays in words in the source; the figures live in docs/performance.md ("Measurements behind
the defaults") and in benchmarks/ output, where the date and the command come with them.

Defaults and limits are not figures: ``0.25 s``, ``1 MiB``, ``64 KiB``, ``RFC 9112 §9.6``."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_RANGE = rf"{_NUMBER}(?:\s*(?:-|to|->|\u2013)\s*{_NUMBER})?"
#: What a measured figure looks like in prose. Each alternative names a unit or a word that only a
#: measurement has; a bare number (a default, a size, a section) is none of them.
FIGURE = re.compile("|".join([
    rf"{_RANGE}\s*(?:µs|us|ms|ns)\b|µs",  # times below a second: measured, never a setting
    rf"{_RANGE}\s*(?:[A-Za-z]+)?/s\b",  # rates: 3,150 uploads/s, 11,600/s, 5 MB/s
    rf"{_RANGE}\s+(?:[\w-]+\s+){{0,2}}per second\b",
    rf"{_RANGE}\s+(?:\w+\s+)?context switch",
    rf"{_RANGE}\s+(?:more\s+|extra\s+|fewer\s+)?(?:system calls|syscalls|futex|epoll_wait|accept calls)",
    rf"{_RANGE}\s+instructions\b",
    rf"{_NUMBER}\s?%(?![\w%(])",  # a share of time or CPU (not a %-format: %d, 0%x, %%)
    rf"{_RANGE}\s*(?:x|\u00d7|times)\s+(?:faster|slower|a |as |the )",
    rf"(?:^|[\s(])~\s?{_NUMBER}",  # "about" a figure (not ~ in a character class: [~0-9])
    r"\bmeasured\b",
    r"\b(?:strace|py-spy|callgrind|perf stat)\b",
]), re.IGNORECASE)


def prose(path: Path) -> list[tuple[int, str]]:
    """The comments and string literals of a module (docstrings among them), with their first line:
    code itself can hold ``n % 2`` and is not prose."""
    out = []
    with path.open("rb") as handle:
        for token in tokenize.tokenize(handle.readline):
            if token.type in (tokenize.COMMENT, tokenize.STRING) or token.type == getattr(
                    tokenize, "FSTRING_MIDDLE", -1):
                out.append((token.start[0], token.string))
    return out


def figures(path: Path) -> list[str]:
    return [f"{path.relative_to(SRC.parent)}:{line + text[:match.start()].count(chr(10))}: "
            f"{match.group(0)!r}"
            for line, text in prose(path) for match in FIGURE.finditer(text)]


def test_no_measured_figures_in_src() -> None:
    found = [hit for path in sorted(SRC.rglob("*.py")) for hit in figures(path)]
    assert not found, ("measured figures in src (keep the reason in words, move the figure to "
                       "docs/performance.md):\n" + "\n".join(found))


@pytest.mark.parametrize("text", [
    "# formatting costs ~2 µs, a clock call ~0.05 µs",
    "# measured on loopback: 2,121 -> 3,150 uploads/s and 446 -> 257 µs of server CPU per MiB",
    "#: 489-677 server CPU µs per response",
    "# (measured: 7-9 context switches and 13 futex calls per keep-alive request, 45% of the CPU)",
    "# 3.26 involuntary context switches",
    "# 5 more system calls per response",
    "# one client: 9,400 -> 11,600/s",
    "# 3,065 responses/s with sendfile()",
    "# the wait adds 1 ms",
    "# (py-spy: the main thread's samples)",
    "# 119,728 -> 119,375 instructions per request",
    "# chunks cost 22-30 times a plain request's per byte",
    "# 2x faster",
])
def test_the_pattern_sees_figures(text: str) -> None:
    assert FIGURE.search(text), text


@pytest.mark.parametrize("text", [
    "# RFC 9112 §9.6: a lingering close",
    "#: Seconds, and bytes: 0.25 s, 1 MiB, 8 KiB, 64 KiB blocks",
    "# EMFILE, ENFILE, ENOBUFS or ENOMEM: pause 0.1 s at a time",
    "# saves two system calls per connection",
    "size = draw(st.sampled_from([b'%x', b'%X', b'0%x']))",
    "'%d%%' % share",
    "# a 414 beyond 8190 bytes (PEP 3333 §URL Reconstruction)",
    "# used 3 times in a row (retries)",
])
def test_the_pattern_spares_defaults_and_limits(text: str) -> None:
    assert not FIGURE.search(text), (text, FIGURE.search(text))


def test_prose_is_comments_and_strings_only(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text('"""Doc: 5 ms."""\nx = 10 % 3  # 45% of the CPU\ny = f"{x} ms"\n', encoding="utf-8")
    found = [text for _, text in prose(module) if FIGURE.search(text)]
    assert found[:2] == ['"""Doc: 5 ms."""', "# 45% of the CPU"]
    assert not any("10 % 3" in text for _, text in prose(module))
