"""The README is the front door (short, the two commands first, links to the rest) and the docs hold
together: every relative link in README.md and docs/*.md names a file that exists, and a heading that
exists in it when it names one (GitHub's anchors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

#: The README's first code block: the first line serves the demo app, the second runs the tests
#: (.ci/run runs that second line verbatim).
SERVE = "python3 -m venv .venv && . .venv/bin/activate && pip install . && wsgicore"
TEST = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && python -m pytest -q"
MAX_README_LINES = 300

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)
# A code span: a run of backticks closed by the same run, within one paragraph.
_CODE_SPAN = re.compile(r"(`+)(?:(?!\n[ \t]*\n).)+?(?<!`)\1(?!`)", re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def _without_code(text: str) -> str:
    """The Markdown outside fenced blocks and code spans (links and headings there are not real)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, inline markup and punctuation dropped, spaces to '-'."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub makes for the page's headings (a repeated one gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    for match in _HEADING.finditer(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        anchor = github_anchor(match.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        result.add(anchor if count == 0 else f"{anchor}-{count}")
    return result


def relative_links(page: Path) -> list[str]:
    return [target for target in _LINK.findall(_without_code(page.read_text(encoding="utf-8")))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_the_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move reference material to docs/")


def test_the_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert first_block is not None, "README.md has no code block"
    assert first_block.group(1).splitlines() == [SERVE, TEST]
    # CI runs the second line as it is written here.
    assert TEST in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {target.partition("#")[0] for target in relative_links(README)}
    missing = [f"docs/{page.name}" for page in DOCS.glob("*.md") if f"docs/{page.name}" not in linked]
    assert not missing, f"README.md does not link to {missing}"


def test_the_performance_page_has_the_generated_results_section() -> None:
    # `python -m benchmarks` is to rewrite what lies between the markers; each must be there once.
    text = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert text.count("<!-- results:begin -->") == 1
    assert text.count("<!-- results:end -->") == 1
    results = text[text.index("<!-- results:begin -->"):text.index("<!-- results:end -->")]
    assert "\n|---" in results, "no results table between the markers"


def test_the_readme_names_every_command_line_option() -> None:
    from wsgidrivers._cli._options import build_parser

    text = README.read_text(encoding="utf-8")
    start = text.index("## Command line")
    section = text[start:text.index("\n## ", start)]
    for action in build_parser("wsgicore")._actions:
        longs = [option for option in action.option_strings if option.startswith("--")]
        if longs and longs[0] != "--help":
            assert f"`{longs[0]}" in section, f"README.md's command line summary lacks {longs[0]}"


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Limits and defaults (`wsgicore.Config`)", "limits-and-defaults-wsgicoreconfig"),
    ("`wsgidrivers.simple_server`: a drop-in for `wsgiref.simple_server`",
     "wsgidriverssimple_server-a-drop-in-for-wsgirefsimple_server"),
    ("Who does the I/O", "who-does-the-io"),
    ("Figures (2-core machine, CPython 3.11)", "figures-2-core-machine-cpython-311"),
])
def test_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](a.md#x) `[b](b.md)`\n\n```\n[c](c.md)\n# Not a heading\n```\n"
                    "## Title\n", encoding="utf-8")
    assert relative_links(page) == ["a.md#x"]
    assert anchors(page) == {"title", "title-1"}


ARCHITECTURE = DOCS / "architecture.md"
SRC = ROOT / "src"


def _module_tree() -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    start = text.index("```\nsrc/wsgicore/")
    return text[start:text.index("```\n", start + 4)]


def test_the_architecture_tree_names_every_module_and_no_old_one() -> None:
    # The tree in docs/architecture.md is the map of src: every module of the core and of the drivers'
    # packages is on it (testing/ is described as a whole), and every private name on it exists.
    tree = _module_tree()
    missing = []
    names = set()
    for path in SRC.rglob("*.py"):
        names.update({path.stem, path.parent.name})
        if "testing" in path.parts or path.stem in ("__init__", "__main__"):
            continue
        shown = path.name if path.parent.name == "wsgicore" else path.stem
        if not re.search(rf"(?<![\w.]){re.escape(shown)}\b", tree):
            missing.append(str(path.relative_to(SRC)))
    assert not missing, f"docs/architecture.md's module tree lacks {missing}"
    stale = sorted(set(re.findall(r"(?<![\w.])(_[a-z][a-z_]*)", tree)) - names)
    assert not stale, f"docs/architecture.md's module tree names modules that do not exist: {stale}"


#: A plain-text pointer at a README section: "README," or "README's" and a heading in double quotes.
_README_SECTION = re.compile(r"README(?:'s)?,?\s+[\"“]([^\"”\n]+)[\"”]")


def test_plain_text_pointers_at_readme_sections_name_existing_headings() -> None:
    headings = [heading.replace("`", "").lower()
                for heading in _HEADING.findall(_FENCE.sub("", README.read_text(encoding="utf-8")))]
    stale = []
    for top in ("src", "docs", "tests", "examples"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".md") or "corpus" in path.parts:
                continue
            for match in _README_SECTION.finditer(path.read_text(encoding="utf-8")):
                section = match.group(1).replace("`", "").lower()
                if not any(heading.startswith(section) for heading in headings):
                    stale.append(f"{path.relative_to(ROOT)}: {match.group(0)!r}")
    assert not stale, f"pointers at README sections that are gone: {stale}"


def _settings_rows() -> dict[str, str]:
    """The README's driver settings table: name -> its default cell."""
    text = README.read_text(encoding="utf-8")
    start = text.index("### Driver settings")
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", text[start:text.index("\n## ", start)], re.MULTILINE)
    return dict(rows)


def test_the_readme_gives_each_settings_default_as_the_drivers_serve() -> None:
    # A default written again in the README drifts as one written twice in the code: use_sendfile's
    # said "asyncio: True" after every driver's became None.
    from wsgidrivers import driver_defaults
    from wsgidrivers._common.settings import DRIVER_DEFAULTS, SETTING_NAMES

    rows = _settings_rows()
    drivers = ("simple", "threading", "asyncio")
    wrong = []
    for name in SETTING_NAMES:
        cell = rows.get(name)
        if cell is None:
            wrong.append(f"{name}: no row")
            continue
        values = {repr(getattr(driver_defaults(driver), name)) for driver in drivers}
        first = re.search(r"`([^`]*)`", cell)
        if first is None or first.group(1) not in values:
            wrong.append(f"{name}: {cell!r} does not start with the default ({' or '.join(sorted(values))})")
        differs = any(name in overrides for overrides in DRIVER_DEFAULTS.values())
        if not differs and re.search(r"asyncio|simple|threading|WSGIServer", cell, re.IGNORECASE):
            wrong.append(f"{name}: {cell!r} names a driver, but every driver's default is the same")
    assert not wrong, wrong
    # The settings module names them "in the order of the README's table".
    assert [name for name in rows if name in SETTING_NAMES] == list(SETTING_NAMES)
