"""Loading the application named on the command line, with errors that point at the user's code.

An exception raised while importing the module or calling a factory is reported with the frames of
the user's files only (the import machinery and this loader are not the user's concern), ending in
the exception itself; a SyntaxError shows its file, line and caret. A module that does not exist, a
missing attribute, or a factory given as the app are one line each.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from wsgidrivers._common.demo import demo_app
from wsgidrivers._common.types import WSGIApplication

__all__ = ["LoadError", "add_search_path", "load_app"]

# The loader's own frames and the import machinery's are not the user's concern.
_NOT_THE_USERS = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
                  os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep)


class LoadError(Exception):
    """The application cannot be loaded; the message is what the user should read. ``files`` are
    the user's files (or the directory) involved, for the reloader to watch until they are fixed."""

    def __init__(self, message: str, files: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.files = files


def _user_frames(tb: TracebackType | None) -> traceback.StackSummary:
    frames = traceback.extract_tb(tb)
    return traceback.StackSummary.from_list(
        [frame for frame in frames
         if not frame.filename.startswith("<frozen ")
         and not os.path.abspath(frame.filename).startswith(_NOT_THE_USERS)])


def _report(what: str, exc: BaseException) -> LoadError:
    frames = _user_frames(exc.__traceback__)
    lines = [f"{what}:\n", *frames.format(), *traceback.format_exception_only(type(exc), exc)]
    files = {frame.filename for frame in frames}
    if isinstance(exc, SyntaxError) and exc.filename:
        files.add(exc.filename)
    return LoadError("".join(lines).rstrip("\n"), tuple(sorted(files)))


def _missing_module(exc: ModuleNotFoundError, module_name: str) -> bool:
    """Whether the module named on the command line (or a package above it) is the one missing,
    rather than something the user's module imports."""
    parts = module_name.split(".")
    return exc.name in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _literal_call(text: str, spec: str) -> tuple[str, list[Any], dict[str, Any]] | None:
    """``name(args)`` -> (name, args, kwargs) when the arguments are literals; None if no call."""
    if not text.endswith(")"):
        return None
    try:
        node = ast.parse(text, mode="eval").body
        if not isinstance(node, ast.Call):
            raise ValueError
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None}
        if len(kwargs) != len(node.keywords):
            raise ValueError
        return ast.unparse(node.func), args, kwargs
    except (SyntaxError, ValueError):
        raise LoadError("the arguments of a factory must be literals "
                        "(numbers, strings, True/False/None, lists, dicts)") from None


def _looks_like_a_factory(obj: Any) -> bool:
    """A function that can be called with no arguments: a WSGI application cannot (it needs
    ``environ`` and ``start_response``), a factory like Flask's ``create_app(test_config=None)`` can."""
    if not (inspect.isfunction(obj) or inspect.ismethod(obj)):
        return False
    try:
        inspect.signature(obj).bind()
    except (TypeError, ValueError):
        return False
    return True


def _call(factory: Callable[..., Any], spec: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    try:
        return factory(*args, **kwargs)
    except Exception as exc:
        raise _report("the factory raised an exception", exc) from None


def load_app(spec: str | None, *, call: bool = False) -> WSGIApplication:
    """The application ``spec`` names (see the command line's help); None: ``demo_app``."""
    if spec is None:
        if call:
            raise LoadError("--call needs an APP to call")
        return demo_app
    module_name, colon, attribute = spec.partition(":")
    if not module_name or (colon and not attribute):
        raise LoadError(f"expected module:name, module:factory() or module, not {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _missing_module(exc, module_name) and not _user_frames(exc.__traceback__):
            # The reloader watches the current directory: it changes when the module is created.
            raise LoadError(f"no module named {exc.name!r} (looked in {os.getcwd()} and "
                            f"sys.path)", (os.getcwd(),)) from None
        raise _report(f"importing {module_name!r} raised an exception", exc) from None
    except Exception as exc:  # SyntaxError included: the module itself is broken
        raise _report(f"importing {module_name!r} raised an exception", exc) from None
    where = f"{module_name!r} ({getattr(module, '__file__', None) or 'no file'})"
    call_parts = _literal_call(attribute, spec) if attribute else None
    path = call_parts[0] if call_parts else attribute
    if not path:
        names = [name for name in ("application", "app") if hasattr(module, name)]
        if not names:
            raise LoadError(f"module {where} has neither 'application' nor 'app': "
                            f"name the application, as {module_name}:name")
        path = names[0]
    target: Any = module
    for name in path.split("."):
        if not name.isidentifier():
            raise LoadError(f"{path!r} is not a dotted name")
        try:
            target = getattr(target, name)
        except AttributeError:
            raise LoadError(f"module {where} has no attribute {path!r}") from None
    if call_parts is not None:
        target = _call(target, spec, call_parts[1], call_parts[2])
    elif call:
        target = _call(target, spec, [], {})
    elif _looks_like_a_factory(target):
        raise LoadError(f"{path!r} takes no arguments, so it looks like an application factory: "
                        f"write '{spec}()' or add --call")
    if not callable(target):
        raise LoadError(f"it is not callable (a {type(target).__name__}), so not a WSGI application")
    app: WSGIApplication = target
    return app


def add_search_path() -> None:
    """Put the current directory first on ``sys.path``: a console script's ``sys.path[0]`` is its
    own directory, not the one it was started in (gunicorn does the same)."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
