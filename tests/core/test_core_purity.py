"""The core stays sans-IO (no forbidden imports) and the packages ship their typing marker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from core_support import REPO_ROOT

FORBIDDEN = frozenset({"socket", "selectors", "asyncio", "threading", "time", "os", "logging"})
CORE = REPO_ROOT / "src" / "wsgicore"


def forbidden_imports(source: str, filename: str = "<src>") -> list[str]:
    """Every import of a forbidden module (or one of its submodules) in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            if name.split(".")[0] in FORBIDDEN:
                found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {name}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "import os",
        "import os.path",
        "import json, socket",
        "from os import path",
        "from os.path import join",
        "import threading as t",
        "def f():\n    import time\n",
        "try:\n    import selectors\nexcept ImportError:\n    pass\n",
        "from asyncio.events import get_event_loop",
        "import logging.handlers",
        "__import__('os')",
        "import importlib\nimportlib.import_module('socket')",
    ],
)
def test_checker_catches(snippet: str) -> None:
    assert forbidden_imports(snippet)


@pytest.mark.parametrize(
    "snippet",
    ["import sys", "from . import os", "from .time import x", "import ossaudiodev", "import timeit"],
)
def test_checker_allows(snippet: str) -> None:
    assert forbidden_imports(snippet) == []


def test_core_has_no_io_imports() -> None:
    modules = sorted(CORE.rglob("*.py"))
    assert modules, f"no modules found under {CORE}"
    assert (CORE / "__init__.py") in modules
    found = [
        hit
        for path in modules
        for hit in forbidden_imports(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))
    ]
    assert found == []


_STREAMS = frozenset({"stdout", "stderr", "__stdout__", "__stderr__", "stdin", "__stdin__"})


def process_stream_uses(source: str, filename: str = "<src>") -> list[str]:
    """Every use of the process's standard streams (``sys.stderr`` and kin, ``print``) in ``source``:
    the core reports problems to the driver, it never writes anywhere itself."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        hit = ""
        if isinstance(node, ast.Attribute) and node.attr in _STREAMS:
            hit = node.attr
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            hit = ",".join(alias.name for alias in node.names if alias.name in _STREAMS)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            hit = "print()"
        if hit:
            found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {hit}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "import sys\nsys.stderr.write('x')",
        "import sys as s\ns.stdout.flush()",
        "from sys import stderr",
        "from sys import exc_info, __stderr__",
        "def f(e):\n    print(e)\n",
        "x = getattr(obj, 'a').stderr",
    ],
)
def test_stream_checker_catches(snippet: str) -> None:
    assert process_stream_uses(snippet)


@pytest.mark.parametrize(
    "snippet", ["import sys\nsys.exc_info()", "from sys import exc_info", "stream.write(text)", "x.printer()"]
)
def test_stream_checker_allows(snippet: str) -> None:
    assert process_stream_uses(snippet) == []


def test_core_never_writes_to_process_streams() -> None:
    found = [
        hit
        for path in sorted(CORE.rglob("*.py"))
        for hit in process_stream_uses(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))
    ]
    assert found == []


@pytest.mark.parametrize("package", ["wsgicore", "wsgidrivers"])
def test_ships_py_typed(package: str) -> None:
    import importlib

    assert (REPO_ROOT / "src" / package / "py.typed").is_file()
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert (Path(module.__file__).parent / "py.typed").is_file()
