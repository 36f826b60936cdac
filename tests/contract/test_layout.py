"""The layout shows the architecture: each driver a package that loads without the others, shared
plumbing in ``wsgidrivers._common``, no import cycles (of modules, or of packages), no package reaching
into another's private modules (a module named in a string counts as imported), public names at their
public home and documented."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
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


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for root in ("wsgicore", "wsgidrivers") for p in (SRC / root).rglob("*.py")}


_DOTTED = re.compile(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?")


def _named_module(text: str, modules: set[str]) -> str | None:
    """The module of ours a string names as a dotted path (``pkg.mod``, or ``pkg.mod:attr`` as
    entry points write it), else None. A bare ``wsgidrivers`` is a program name as often (``-m``)."""
    if _DOTTED.fullmatch(text) is None:
        return None  # a message ("wsgidrivers.asyncio: accept() failed"), not a name
    name = text.partition(":")[0]
    return name if "." in name and name in modules else None


def _import_module_target(node: ast.Call, modules: set[str]) -> str | None:
    """The module of ours ``import_module("...")`` / ``__import__("...")`` names, if literal."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value in modules:
        return first.value
    return None


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """Every module of ours that ``path`` imports, anywhere in it (under TYPE_CHECKING too).

    A module named in a string is an import too (HOUSE_STYLE 17): ``import_module("x.y")``, or a
    table of names a loader imports later (``"x.y"``, ``"x.y:attr"``): the dependency is as real
    as a statement's, only hidden from the reader."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    # A thread's name= or a logger's name is a label that may read like a module: not an import.
    labels = {id(node.value) for node in ast.walk(tree)
              if isinstance(node, ast.keyword) and node.arg == "name"}
    labels |= {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute) and node.func.attr == "getLogger"
               for arg in node.args}
    for node in ast.walk(tree):
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
        elif isinstance(node, ast.Call):
            target = _import_module_target(node, modules)
            if target is not None:
                found.add(target)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in labels:
            named = _named_module(node.value, modules)
            if named is not None:
                found.add(named)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _all_modules()
    return {name: _imports(path, name, set(modules)) & modules.keys() - {name}
            for name, path in modules.items()}


def _package(module: str) -> str:
    """``wsgidrivers.asyncio._listener`` -> ``wsgidrivers.asyncio``; the root's own modules
    (``wsgidrivers``, ``wsgidrivers.__main__``) -> ``wsgidrivers``; the core is one package."""
    parts = module.split(".")
    if parts[0] == "wsgicore" or len(parts) == 1 or parts[1] == "__main__":
        return parts[0]
    return ".".join(parts[:2])


def _is_private_module(module: str) -> bool:
    """Whether ``module`` is private to its package: a ``_name`` below the package's own
    ``__init__`` (``wsgidrivers.asyncio._pool``, ``wsgidrivers._cli._plan``, ``wsgicore._head``).
    A package's ``__init__`` is its interface; ``wsgidrivers._common``'s modules are the floor
    every package shares, by design."""
    parts = module.split(".")
    below = parts[1:] if parts[0] == "wsgicore" else parts[2:]
    if parts[:2] == ["wsgidrivers", "_common"]:
        return False
    return any(part.startswith("_") for part in below)


def cross_package_private_imports() -> list[tuple[str, str]]:
    """(importer, imported) pairs where a package reaches into another package's private module."""
    return sorted((importer, imported) for importer, targets in _graph().items()
                  for imported in targets
                  if _package(importer) != _package(imported) and _is_private_module(imported))


def package_cycles() -> list[tuple[str, ...]]:
    """Every elementary cycle of the package graph, each once (starting at its smallest name)."""
    edges: dict[str, set[str]] = {}
    for importer, targets in _graph().items():
        for imported in targets:
            if _package(importer) != _package(imported):
                edges.setdefault(_package(importer), set()).add(_package(imported))
    cycles: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, trail: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                cycles.add(tuple(trail))
            elif nxt not in trail and nxt > start:
                walk(start, nxt, [*trail, nxt])

    for start in sorted(edges):
        walk(start, start, [start])
    return sorted(cycles)


def test_no_import_cycles() -> None:
    graph = {name: sorted(targets) for name, targets in _graph().items()}
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


def test_no_package_imports_another_packages_private_modules() -> None:
    # Packages meet through the shared floor (wsgidrivers._common) and each other's public names.
    assert cross_package_private_imports() == []


def test_no_package_level_import_cycles() -> None:
    # The layers: the core, _common, the drivers, then what builds on them (the command line,
    # gunicorn, testing); a package never imports one above it, by statement or by name.
    assert package_cycles() == []


def test_a_module_named_in_a_string_counts_as_an_import() -> None:
    modules = set(_all_modules())
    assert _named_module("wsgidrivers.asyncio._run", modules) == "wsgidrivers.asyncio._run"
    assert _named_module("wsgidrivers.simple_server:make_server", modules) == "wsgidrivers.simple_server"
    assert _named_module("wsgidrivers.asyncio is here", modules) is None
    assert _named_module("wsgidrivers.asyncio: a message", modules) is None
    assert _named_module("wsgidrivers", modules) is None  # python -m wsgidrivers: a program
    call = ast.parse('importlib.import_module("wsgidrivers")').body[0]
    assert isinstance(call, ast.Expr)
    assert isinstance(call.value, ast.Call)
    assert _import_module_target(call.value, modules) == "wsgidrivers"
    assert _named_module("wsgidrivers", modules) is None  # python -m wsgidrivers: a program
    call = ast.parse('importlib.import_module("wsgidrivers")').body[0].value  # type: ignore[attr-defined]
    assert _import_module_target(call, modules) == "wsgidrivers"


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


def test_the_command_line_loads_only_the_driver_chosen() -> None:
    # The command line names no driver: it finds the runners in _common.runners, where the
    # wsgidrivers package declares the drivers and each driver's package registers its runner.
    code = ("import sys\n"
            "from wsgidrivers._common import runners\n"
            "import wsgidrivers._cli\n"
            "before = sorted(m for m in sys.modules if m.startswith(('wsgidrivers.asyncio', "
            "'wsgidrivers.simple_server')))\n"
            "run = runners.runner('asyncio')\n"
            "after = sorted(m for m in sys.modules if m.startswith('wsgidrivers.simple_server'))\n"
            "print(before, after, list(runners.declared()), run.name, "
            "runners.runner('simple').name, runners.runner('threading').name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60).stdout.strip()
    assert out == "[] [] ['simple', 'threading', 'asyncio'] asyncio simple threading"


#: Class names two modules define for the same role, one in each driver (HOUSE_STYLE: names that say
#: what each holds; the same name only for the same role).
SAME_ROLE_IN_TWO_DRIVERS = {"WSGIServer", "SocketIO"}


def test_a_class_name_says_what_it_holds_and_is_not_reused_for_another_role() -> None:
    # Two unrelated _State classes (the core's and the gunicorn ThreadWorker's) were one complaint of
    # issue 26: a reader cannot tell them apart, and neither name says what it holds.
    homes: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                homes.setdefault(node.name, []).append(str(path.relative_to(SRC)))
    vague = sorted(name for name in homes
                   if name.strip("_") in ("State", "Data", "Info", "Manager", "Helper"))
    assert not vague, f"class names that do not say what they hold: {vague}"
    reused = {name: paths for name, paths in homes.items()
              if len(paths) > 1 and name not in SAME_ROLE_IN_TWO_DRIVERS}
    assert not reused, f"one class name for different roles: {reused}"
