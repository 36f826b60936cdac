"""The layout shows the architecture: each driver a package that loads without the others, shared
plumbing in ``wsgidrivers._common``, no import cycles, public names at their public home and
documented."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
API_DOC = SRC.parent / "docs" / "core-api.md"
PUBLIC_MODULES = ("wsgicore", "wsgidrivers.simple_server", "wsgidrivers.asyncio", "wsgidrivers.memory")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60)
    return {name for name in out.stdout.split() if name.startswith("wsgidrivers")}


def test_each_driver_loads_without_the_others() -> None:
    # One interpreter start each (~0.1 s), so the three are checked in one run.
    code = ("import subprocess, sys\n"
            "for m in ('wsgidrivers.asyncio', 'wsgidrivers.simple_server', 'wsgidrivers.memory'):\n"
            "    print(m, subprocess.run([sys.executable, '-c', f'import sys, {m}; "
            "print(*sorted(n for n in sys.modules if n.startswith(\"wsgidrivers\")))'],"
            " capture_output=True, text=True, check=True).stdout.strip(), sep='|')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    loaded = {line.split("|")[0]: set(line.split("|")[1].split()) for line in out.splitlines()}
    assert not any(m.startswith("wsgidrivers.simple_server") for m in loaded["wsgidrivers.asyncio"])
    assert not any(m.startswith("wsgidrivers.asyncio") for m in loaded["wsgidrivers.simple_server"])
    assert not any(m.startswith(("wsgidrivers.asyncio", "wsgidrivers.simple_server"))
                   for m in loaded["wsgidrivers.memory"])


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """Every module of ours that ``path`` imports, anywhere in it (under TYPE_CHECKING too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            # "from . import _abnf" imports the submodule; "from . import make_server" the package.
            found.update(submodules or {base})
    return found


def test_no_import_cycles() -> None:
    modules = {_module_name(p): p for root in ("wsgicore", "wsgidrivers")
               for p in (SRC / root).rglob("*.py")}
    graph = {name: sorted(_imports(path, name, set(modules)) & modules.keys() - {name})
             for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name):], name]))
        if name in done:
            return
        for imported in graph[name]:
            visit(imported, [*trail, name])
        done.add(name)

    for name in graph:
        visit(name, [])


@pytest.mark.parametrize("module_name", PUBLIC_MODULES[1:])
def test_public_classes_live_at_their_public_home(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value):
            assert value.__module__ == module_name, name


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_documented(module_name: str) -> None:
    text = API_DOC.read_text()
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if f"`{name}" not in text]
    assert not missing, f"{module_name}: not in docs/core-api.md: {missing}"


def test_the_asyncio_module_exports_no_compatibility_names() -> None:
    import wsgidrivers.asyncio as driver

    for gone in ("format_access_line", "format_log_line", "import_app", "WSGIProtocol",
                 "ClientDisconnected", "SendTimeout", "service_of", "AccessLog", "WSGIApplication"):
        assert not hasattr(driver, gone), gone
