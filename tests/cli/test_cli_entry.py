"""The ways in: the ``wsgicore`` console script, ``python -m wsgidrivers``, the two drivers' own
``-m`` aliases (same options, their driver the default), ``--version``, ``--help``, and
``WSGICORE_*`` environment defaults."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wsgicore import __version__
from wsgidrivers._cli._options import build_parser, parse

from ._process import LIMIT, get, run, serve, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.mark.parametrize("module", ["wsgidrivers", "wsgidrivers.simple_server", "wsgidrivers.asyncio"])
def test_version(module: str) -> None:
    result = run("--version", module=module)
    assert (result.returncode, result.stdout) == (0, f"wsgicore {__version__}\n")


def test_the_console_script() -> None:
    script = shutil.which("wsgicore", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the package is not installed with its scripts (pip install -e .)")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=LIMIT,
                            check=False)
    assert (result.returncode, result.stdout) == (0, f"wsgicore {__version__}\n")


def test_the_console_script_finds_modules_in_the_current_directory(tmp_path: Path) -> None:
    # A console script's sys.path[0] is its own directory: the current one is added.
    script = shutil.which("wsgicore", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the package is not installed with its scripts (pip install -e .)")
    app = write_app(tmp_path)
    process = subprocess.Popen([script, "--port", "0", app], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Serving HTTP on 127.0.0.1 port ")
    finally:
        process.terminate()
        process.communicate(timeout=LIMIT)
    assert process.returncode == 0


def test_help_documents_the_app_forms_and_the_default_driver() -> None:
    result = run("--help")
    assert result.returncode == 0
    text = result.stdout
    for needle in ("module:factory()", "'application' (mod_wsgi's and Django's name), else its 'app'",
                   "The default is threading", "WSGICORE_MAX_BODY_SIZE=10M", "--trusted-proxy",
                   "--reload", "--certfile", "--url-prefix", "--max-header-count"):
        assert needle in text, needle


@pytest.mark.parametrize(("module", "driver"), [
    ("wsgidrivers", "threading"),
    ("wsgidrivers.simple_server", "simple"),
    ("wsgidrivers.asyncio", "asyncio"),
])
def test_aliases_default_to_their_driver(module: str, driver: str) -> None:
    served = serve("--port", "0", module=module)
    try:
        assert get(served.addresses[0])[0] == 200
    finally:
        assert served.stop() == 0
    assert f"demo_app with the {driver} driver" in served.banner[-1]


def test_an_alias_takes_every_option() -> None:
    served = serve("--port", "0", "--driver", "threading", "--threads", "2",
                   module="wsgidrivers.simple_server")
    try:
        assert "threading driver (a thread per connection, up to 2 at once" in served.banner[-1]
    finally:
        served.stop()


def test_the_asyncio_alias_keeps_its_old_options() -> None:
    served = serve("--host", "127.0.0.1", "--port", "0", "--workers", "2", "--grace", "1",
                   "--no-access-log", module="wsgidrivers.asyncio")
    try:
        assert get(served.addresses[0], "/old")[0] == 200
    finally:
        served.stop()
    assert "(2 app threads" in served.banner[-1]
    assert "/old" not in served.err


def test_environment_defaults(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    served = serve(cwd=tmp_path, env={
        "WSGICORE_APP": app, "WSGICORE_BIND": f"127.0.0.1:0 unix:{tmp_path}/e.sock",
        "WSGICORE_URL_PREFIX": "/env", "WSGICORE_DRIVER": "asyncio", "WSGICORE_KEEP_ALIVE": "off",
        "WSGICORE_ACCESS_LOG": "no", "WSGICORE_MAX_BODY_SIZE": "1K"})
    try:
        address = served.addresses[0]
        status, headers, body = get(address, "/env/x")
        assert (status, body) == (200, b"http|/env|/x|127.0.0.1|0")
        assert headers["connection"] == "close"
        assert get(address, "/env/x", body=b"x" * 1025)[0] == 413
    finally:
        served.stop()
    assert f"Serving HTTP on unix:{tmp_path}/e.sock ..." in served.banner
    assert "with the asyncio driver" in served.banner[-1]
    assert "/env/x" not in served.err


def test_the_command_line_beats_the_environment(tmp_path: Path) -> None:
    served = serve("--driver", "simple", "--url-prefix", "/cli", "--port", "0",
                   write_app(tmp_path), cwd=tmp_path,
                   env={"WSGICORE_DRIVER": "asyncio", "WSGICORE_URL_PREFIX": "/env",
                        "WSGICORE_BIND": "127.0.0.1:1"})
    try:
        assert get(served.addresses[0], "/cli/x")[2] == b"http|/cli|/x|127.0.0.1|0"
    finally:
        served.stop()
    assert "with the simple driver" in served.banner[-1]


def test_environment_parsing_of_each_kind() -> None:
    parser = build_parser("wsgicore")
    args, from_env = parse(parser, ["--bind", "127.0.0.1:9"], {
        "WSGICORE_BIND": "127.0.0.1:1 127.0.0.1:2", "WSGICORE_TRUSTED_PROXY": "10.0.0.1 unix",
        "WSGICORE_RELOAD": "yes", "WSGICORE_THREADS": "4", "WSGICORE_HEAD_TIMEOUT": "2.5",
        "WSGICORE_MAX_HEAD_SIZE": "32K"})
    assert [str(bind) for bind in args.bind] == ["127.0.0.1:9"]  # the command line's replaces it
    assert args.trusted_proxies == ["10.0.0.1", "unix"]
    assert (args.reload, args.threads, args.head_timeout, args.max_head_bytes) == (True, 4, 2.5, 32768)
    assert from_env == {"trusted_proxies", "reload", "threads", "head_timeout", "max_head_bytes"}


def test_the_cli_page_documents_every_option_and_its_variable() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    start = page.index("## Options")
    section = page[start:page.index("\n## ", start)]
    from wsgidrivers._cli._options import env_name

    parser = build_parser("wsgicore")
    for action in parser._actions:
        longs = [option for option in action.option_strings if option.startswith("--")]
        if not longs or longs[0] in ("--help", "--version"):
            continue
        assert f"`{longs[0]}" in section, longs[0]
        assert f"`{env_name(action)}`" in section, env_name(action)


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    ([], {}, ["127.0.0.1:8000"]),
    (["--host", "::"], {}, ["[::]:8000"]),
    (["--host", "[::1]", "--port", "0"], {}, ["[::1]:0"]),
    (["--port", "9"], {"WSGICORE_BIND": "unix:/x"}, ["127.0.0.1:9"]),  # the command line's wins
    (["--bind", "unix:/y"], {"WSGICORE_HOST": "10.0.0.1"}, ["unix:/y"]),
    ([], {"WSGICORE_BIND": "127.0.0.1:1 unix:/z"}, ["127.0.0.1:1", "unix:/z"]),
])
def test_which_addresses(argv: list[str], environ: dict[str, str], expected: list[str]) -> None:
    from wsgidrivers._cli._main import _binds

    parser = build_parser("wsgicore")
    args, from_env = parse(parser, argv, environ)
    assert [str(bind) for bind in _binds(parser, args, from_env)] == expected


def test_bind_and_host_from_the_same_place_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from wsgidrivers._cli._main import _binds

    parser = build_parser("wsgicore")
    args, from_env = parse(parser, [], {"WSGICORE_BIND": "unix:/x", "WSGICORE_PORT": "1"})
    with pytest.raises(SystemExit):
        _binds(parser, args, from_env)
    assert "give --bind or --host/--port, not both" in capsys.readouterr().err
