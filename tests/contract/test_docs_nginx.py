"""The nginx configurations docs/deployment.md offers as tested are the ones tests/nginx runs
(``benchmarks.nginx``'s blocks), so that a user copies something tested and the two cannot drift.

A block marked ``# tested: MODE`` on its first line may hold the ``upstream app`` block, ``server``
wrapper lines (``server {``, ``listen``, ``server_name``, ``}``) and ``location`` blocks; the upstream
must be :func:`upstream_block` for its address and mode, each location :func:`location_block` for
its path and mode (plain, or with the streaming directives), to the character.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from benchmarks.nginx import MODES, UNBUFFERED, location_block, upstream_block

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
_BLOCK = re.compile(r"```nginx\n(.*?)```", re.S)
_MARK = re.compile(r"# tested: (\w+)\n")
_WRAPPER = re.compile(r"(server \{|listen [^;]+;|server_name [^;]+;|\})")


def _tested_blocks() -> list[tuple[str, str]]:
    blocks = []
    for body in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        mark = _MARK.match(body)
        if mark:
            blocks.append((mark.group(1), body[mark.end():]))
    return blocks


def _split(text: str) -> tuple[str, list[str], list[str]]:
    """(the upstream block, the location blocks dedented, the other lines)."""
    upstream = ""
    locations: list[str] = []
    others: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(("upstream ", "location ")):
            j = i
            while lines[j].strip() != "}":
                j += 1
            block = textwrap.dedent("".join(lines[i:j + 1]))
            if stripped.startswith("upstream "):
                upstream = block
            else:
                locations.append(block)
            i = j + 1
            continue
        if stripped:
            others.append(stripped)
        i += 1
    return upstream, locations, others


def test_the_docs_quote_the_tested_nginx_configurations() -> None:
    blocks = _tested_blocks()
    assert {mode for mode, _ in blocks} == set(MODES), "both upstream modes are quoted"
    upstreams = []
    for mode, text in blocks:
        assert mode in MODES, mode
        upstream, locations, others = _split(text)
        address = re.search(r"server (\S+);", upstream)
        assert address, text
        upstreams.append(address.group(1))
        assert upstream == upstream_block(address.group(1), mode)
        assert locations, text
        for location in locations:
            path = location.split()[1]
            assert location in (location_block(mode, path), location_block(mode, path, extra=UNBUFFERED)), \
                f"not the tested location block:\n{location}"
        for line in others:
            assert _WRAPPER.fullmatch(line), f"a line the tests do not run: {line!r}"
    assert any(address.startswith("unix:") for address in upstreams), "a Unix-socket upstream is quoted"
    assert any(not address.startswith("unix:") for address in upstreams), "a TCP upstream is quoted"
