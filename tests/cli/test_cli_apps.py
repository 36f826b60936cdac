"""What APP may name, and what the user reads when it cannot be loaded: their own file and line,
nothing of the loader's or importlib's frames, status 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ._process import get, run, serve

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

HELLO = '''\
def _hello(text):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text.encode()]
    return app
'''

MODULES = {
    "withapp.py": HELLO + "app = _hello('app')\n",
    "withapplication.py": HELLO + "application = _hello('application')\napp = _hello('not me')\n",
    "nested.py": HELLO + "class Holder:\n    wsgi = _hello('nested')\n",
    "factory.py": HELLO + (
        "def create_app(name='factory', debug=False):  # Flask's create_app(test_config=None)\n"
        "    return _hello(f'{name} {debug}')\n"
        "def broken():\n"
        "    return helper()\n"
        "def helper():\n"
        "    raise RuntimeError('no database')\n"
        "value = 42\n"
    ),
    "importsmissing.py": "import os\nimport no_such_dependency_xyz\n",
    "badsyntax.py": "def app(environ, start_response):\n    return [b'x'\n",
    "raises.py": "x = 1\nraise KeyError('at import')\n",
    "noname.py": "something = 1\n",
}


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("apps")
    for name, source in MODULES.items():
        (directory / name).write_text(source)
    return directory


@pytest.mark.parametrize(("spec", "body"), [
    ("withapp:app", b"app"),
    ("withapp", b"app"),  # no 'application': 'app'
    ("withapplication", b"application"),  # 'application' first (mod_wsgi, Django)
    ("nested:Holder.wsgi", b"nested"),
    ("factory:create_app()", b"factory False"),
    ("factory:create_app('custom', debug=True)", b"custom True"),
])
def test_app_forms(apps: Path, spec: str, body: bytes) -> None:
    served = serve("--port", "0", spec, cwd=apps)
    try:
        assert get(served.addresses[0])[2] == body
    finally:
        assert served.stop() == 0, served.err
    assert f"wsgicore 0.1.0: {spec} with the threading driver" in served.banner[-1]


def test_call_serves_what_the_factory_returns(apps: Path) -> None:
    served = serve("--port", "0", "--call", "factory:create_app", cwd=apps)
    try:
        assert get(served.addresses[0])[2] == b"factory False"
    finally:
        served.stop()


def test_chdir_finds_the_module(apps: Path, tmp_path: Path) -> None:
    served = serve("--port", "0", "--chdir", str(apps), "withapp:app", cwd=tmp_path)
    try:
        assert get(served.addresses[0])[2] == b"app"
    finally:
        served.stop()


def _refused(apps: Path, *args: str) -> list[str]:
    result = run("--port", "0", *args, cwd=apps)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "importlib" not in result.stderr
    assert "wsgidrivers" not in result.stderr.replace("python -m wsgidrivers: error:", "")
    assert "Traceback" not in result.stderr
    return result.stderr.rstrip("\n").splitlines()


def test_a_factory_given_as_the_app_is_refused_with_advice(apps: Path) -> None:
    # It used to be served, and every request failed with a 500 (a factory takes no arguments).
    assert _refused(apps, "factory:create_app") == [
        "python -m wsgidrivers: error: cannot load 'factory:create_app': 'create_app' takes no "
        "arguments, so it looks like an application factory: write 'factory:create_app()' or add --call"]


def test_an_import_error_inside_the_module_shows_its_file_and_line(apps: Path) -> None:
    assert _refused(apps, "importsmissing:app") == [
        "python -m wsgidrivers: error: cannot load 'importsmissing:app': importing 'importsmissing' "
        "raised an exception:",
        f'  File "{apps}/importsmissing.py", line 2, in <module>',
        "    import no_such_dependency_xyz",
        "ModuleNotFoundError: No module named 'no_such_dependency_xyz'"]


def test_a_syntax_error_shows_file_line_and_caret(apps: Path) -> None:
    lines = _refused(apps, "badsyntax:app")
    assert lines[0].endswith("cannot load 'badsyntax:app': importing 'badsyntax' raised an exception:")
    assert lines[1] == f'  File "{apps}/badsyntax.py", line 2'
    assert lines[-1].startswith("SyntaxError: ")
    assert len(lines) <= 5


def test_an_exception_at_import_shows_the_users_frame(apps: Path) -> None:
    assert _refused(apps, "raises")[1:] == [
        f'  File "{apps}/raises.py", line 2, in <module>',
        "    raise KeyError('at import')",
        "KeyError: 'at import'"]


def test_a_factory_that_raises_shows_its_frames(apps: Path) -> None:
    lines = _refused(apps, "factory:broken()")
    assert lines[0].endswith("cannot load 'factory:broken()': the factory raised an exception:")
    frames = [line for line in lines if line.startswith("  File ")]
    assert frames == [f'  File "{apps}/factory.py", line 9, in broken',
                      f'  File "{apps}/factory.py", line 11, in helper']
    assert lines[-1] == "RuntimeError: no database"


@pytest.mark.parametrize(("spec", "message"), [
    ("no_such_module_abc", "no module named 'no_such_module_abc' (looked in "),
    ("no_such_module_abc:app", "no module named 'no_such_module_abc' (looked in "),
    ("withapp:nothere", "module 'withapp' ("),
    ("noname", "has neither 'application' nor 'app'"),
    ("factory:value", "it is not callable (a int), so not a WSGI application"),
    ("factory:create_app(1 + 1)", "the arguments of a factory must be literals"),
    ("withapp:", "expected module:name, module:factory() or module"),
])
def test_one_line_errors(apps: Path, spec: str, message: str) -> None:
    lines = _refused(apps, spec)
    assert len(lines) == 1
    assert lines[0].startswith(f"python -m wsgidrivers: error: cannot load {spec!r}: ")
    assert message in lines[0]


def test_call_without_an_app_is_refused(apps: Path) -> None:
    assert _refused(apps, "--call")[0].endswith("--call needs an APP to call")


FLASK_APP = '''\
from flask import Flask


def create_app(test_config=None):  # the Flask tutorial's factory
    app = Flask(__name__)

    @app.route("/hello")
    def hello():
        return "Hello from Flask"

    return app
'''


def test_a_flask_factory(tmp_path: Path) -> None:
    pytest.importorskip("flask")
    (tmp_path / "flaskr.py").write_text(FLASK_APP)
    # The case: given without parentheses it was served, and every request was a 500.
    lines = _refused(tmp_path, "flaskr:create_app")
    assert lines[0].endswith("write 'flaskr:create_app()' or add --call")
    for spec in (["flaskr:create_app()"], ["--call", "flaskr:create_app"]):
        served = serve("--port", "0", *spec, cwd=tmp_path)
        try:
            assert get(served.addresses[0], "/hello")[2] == b"Hello from Flask"
        finally:
            served.stop()
