"""docs/testing.md: its quotes match examples/testing_recipe.py, that file's tests pass, and every
public name of wsgidrivers.testing is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import wsgidrivers.testing
import wsgidrivers.testing.strategies

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "testing.md"
EXAMPLE = ROOT / "examples" / "testing_recipe.py"
QUOTE = re.compile(r"<!-- from (\S+) -->\n```python\n(.*?)```", re.S)


def test_quotes_match_the_example_file() -> None:
    quotes = QUOTE.findall(DOC.read_text())
    assert len(quotes) >= 7
    source = EXAMPLE.read_text()
    for path, code in quotes:
        assert path == "examples/testing_recipe.py"
        assert code in source, f"docs/testing.md quotes code that is not in {path}:\n{code}"


def test_the_example_file_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_recipe=EXAMPLE.read_text())
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=14)


def test_every_public_name_is_documented() -> None:
    text = DOC.read_text()
    names = [*wsgidrivers.testing.__all__, *wsgidrivers.testing.strategies.__all__]
    missing = [n for n in names if not re.search(rf"`[^`\n]*\b{n}\b[^`\n]*`", text)]
    assert not missing, f"not in docs/testing.md: {missing}"
    for family in wsgidrivers.testing.strategies.HOSTILE_FAMILIES:
        assert f"`{family}`" in text
