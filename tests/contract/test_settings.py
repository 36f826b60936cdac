"""One settings object for every driver: unknown names and bad values are refused when the server is
made (never at the first request), naming the setting, by simple_server, the threading server,
asyncio, memory and both command lines alike."""

from __future__ import annotations

import ast
import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

import wsgidrivers as wsgidrivers_package
from wsgicore import Config
from wsgidrivers._common.settings import SETTING_NAMES, Settings, driver_defaults
from wsgidrivers.asyncio import ServerThread, Service, create_server
from wsgidrivers.asyncio import main as asyncio_main
from wsgidrivers.memory import exchange
from wsgidrivers.simple_server import (
    ThreadingWSGIServer,
    WSGIRequestHandler,
    WSGIServer,
    demo_app,
    make_server,
)
from wsgidrivers.simple_server._cli import main as simple_server_main

BAD_VALUES = [
    ("keep_alive", 1), ("head_timeout", 0), ("io_timeout", -1.0), ("keep_alive_timeout", "5"),
    ("linger_timeout", True), ("linger_bytes", 1.5), ("receive_buffer", 100),
    ("use_sendfile", 1), ("stream_chunked_body", "yes"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_names_its_setting(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        Settings(**{name: value})


def test_every_setting_is_checked() -> None:
    assert {name for name, _ in BAD_VALUES} | {"config"} == set(SETTING_NAMES)


def test_an_unknown_name_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="'head_timout'"):
        Settings.of("make_server()", {"head_timout": 1.0})


@pytest.mark.parametrize("server_class", [WSGIServer, ThreadingWSGIServer])
def test_make_server_refuses_a_config_that_is_not_a_config(server_class: type[WSGIServer]) -> None:
    # It used to be accepted, and the first request died with an AttributeError.
    with pytest.raises(TypeError, match="config"):
        make_server("127.0.0.1", 0, demo_app, server_class, config={"max_body_bytes": 10})  # type: ignore[arg-type]


def test_make_server_refuses_an_unknown_setting_by_name() -> None:
    with pytest.raises(TypeError, match="'max_body_bytes'"):
        make_server("127.0.0.1", 0, demo_app, max_body_bytes=10)


def test_a_subclass_with_a_bad_setting_is_refused_before_it_binds() -> None:
    class Bad(WSGIServer):
        head_timeout = 0.0

    with pytest.raises(ValueError, match="head_timeout"):
        Bad(("127.0.0.1", 0), WSGIRequestHandler)
    with pytest.raises(ValueError, match="head_timeout"):
        make_server("127.0.0.1", 0, demo_app, Bad)


def test_asyncio_refuses_the_same_way() -> None:
    with pytest.raises(TypeError, match="config"):
        Service(demo_app, config={"max_body_bytes": 10})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="linger_bytes"):
        Service(demo_app, linger_bytes=-1)
    with pytest.raises(TypeError, match="config"):
        ServerThread(demo_app, config={"max_body_bytes": 10}).start()

    async def made() -> None:
        await create_server(demo_app, port=0, head_timeout=0)

    with pytest.raises(ValueError, match="head_timeout"):
        asyncio.run(made())


def test_memory_refuses_the_same_way() -> None:
    with pytest.raises(TypeError, match="config"):
        exchange(demo_app, b"", config={"max_body_bytes": 10})  # type: ignore[arg-type]


@pytest.mark.parametrize("main", [simple_server_main, asyncio_main])
def test_the_command_lines_refuse_a_bad_setting_as_a_usage_error(
        main: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", "--head-timeout", "0"])
    assert exit_info.value.code == 2
    assert "head_timeout" in capsys.readouterr().err


def test_each_driver_turns_settings_into_its_config_by_one_rule() -> None:
    settings = Settings(config=Config(max_body_bytes=10), keep_alive=False)
    served = settings.serving_config(multithread=True)
    assert (served.max_body_bytes, served.keep_alive, served.multithread) == (10, False, True)
    with make_server("127.0.0.1", 0, demo_app, ThreadingWSGIServer,
                     config=Config(max_body_bytes=10), keep_alive=False) as server:
        assert server.connection_config() == served


def test_a_settings_object_is_taken_whole_and_overridden_by_name() -> None:
    settings = Settings(keep_alive=False, head_timeout=3.0, use_sendfile=False, receive_buffer=None)
    with make_server("127.0.0.1", 0, demo_app, ThreadingWSGIServer, settings=settings) as server:
        assert server.settings() == settings  # every field, the class's keep_alive too
    with make_server("127.0.0.1", 0, demo_app, settings=settings, io_timeout=9.0) as server:
        assert server.settings() == Settings.of("test", {"io_timeout": 9.0}, base=settings)
    service = Service(demo_app, settings=settings)
    assert service.settings is settings  # taken as it is: nothing re-validated, nothing dropped
    service.executor.shutdown()
    service = Service(demo_app, settings=settings, head_timeout=4.0)
    assert service.settings == Settings.of("test", {"head_timeout": 4.0}, base=settings)
    service.executor.shutdown()


def test_settings_that_are_not_a_settings_object_are_refused() -> None:
    with pytest.raises(TypeError, match="settings"):
        Settings.of("Service()", {}, base={"keep_alive": False})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'head_timout'"):
        Service(demo_app, head_timout=1.0)


def test_each_default_comes_from_the_settings_object() -> None:
    # simple_server's class attributes are the Settings' defaults, keep_alive the driver's own.
    defaults = Settings()
    for name in SETTING_NAMES:
        if name not in ("config", "keep_alive"):
            assert getattr(WSGIServer, name) == getattr(defaults, name), name
    assert WSGIServer.keep_alive is driver_defaults("simple").keep_alive is False
    assert ThreadingWSGIServer.keep_alive is driver_defaults("threading").keep_alive is True
    service = Service(demo_app)
    assert service.settings == driver_defaults("asyncio") == defaults
    service.executor.shutdown()


def test_the_settings_have_a_public_home() -> None:
    import wsgidrivers
    from wsgidrivers import Settings as PublicSettings
    from wsgidrivers import driver_defaults as public_driver_defaults

    assert PublicSettings is Settings
    assert public_driver_defaults is driver_defaults
    assert {"Settings", "driver_defaults"} <= set(wsgidrivers.__all__) & set(dir(wsgidrivers))
    assert public_driver_defaults("simple") == PublicSettings(keep_alive=False)
    with pytest.raises(AttributeError, match="no attribute 'Setting'"):
        wsgidrivers.Setting  # noqa: B018


def test_the_public_settings_load_on_first_use() -> None:
    # The command line and the pytest plugin import the package: it must load no driver and not the core.
    import subprocess
    import sys

    code = ("import sys, wsgidrivers\n"
            "print(sorted(m for m in sys.modules if m.startswith(('wsgicore', 'wsgidrivers.'))))\n"
            "wsgidrivers.Settings\n"
            "print('wsgidrivers._common.settings' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60).stdout.split("\n")
    assert out[:2] == ["['wsgidrivers._common', 'wsgidrivers._common.runners']", "True"]


#: The constants the settings module writes each default in; naming one outside it re-declares it.
_DEFAULT_CONSTANTS = {"HEAD_TIMEOUT", "IO_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "LINGER_TIMEOUT", "LINGER_BYTES",
                      "RECEIVE_BUFFER"}
#: Bindings of a setting's name to a fixed value that are not the setting's default, with why.
_NOT_A_DEFAULT = {
    # ServerHandler(..., use_sendfile): this connection's resolved choice (Settings.sendfile_for).
    ("simple_server/_handler.py", "use_sendfile"),
}
#: Calls whose keep_alive= is the Config's own flag (the core's rule), not the drivers' setting.
_CONFIG_RULES = {"serving_config", "connection_config"}


def _fixed(node: ast.expr) -> bool:
    """A value written here rather than read from a Settings: a literal (None aside: "not given"),
    arithmetic on literals (``256 * 1024``), or one of the settings module's default constants."""
    if isinstance(node, ast.Constant):
        return node.value is not None and not isinstance(node.value, str)
    if isinstance(node, ast.BinOp):
        return _fixed(node.left) and _fixed(node.right)
    if isinstance(node, ast.UnaryOp):
        return _fixed(node.operand)
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name in _DEFAULT_CONSTANTS


def _bindings(tree: ast.AST) -> list[tuple[str, ast.expr]]:
    """(name, value) for every parameter default, keyword argument, assignment (module, class and
    instance attributes), dict entry and getattr() fallback in ``tree``."""
    found: list[tuple[str, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            positional = args.posonlyargs + args.args
            found += [(arg.arg, default) for arg, default
                      in zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True)]
            found += [(arg.arg, default)
                      for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                      if default is not None]
        elif isinstance(node, ast.Call):
            callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            found += [(keyword.arg, keyword.value) for keyword in node.keywords
                      if keyword.arg and not (callee in _CONFIG_RULES and keyword.arg == "keep_alive")]
            if callee == "getattr" and len(node.args) == 3 and isinstance(node.args[1], ast.Constant):
                found.append((str(node.args[1].value), node.args[2]))
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [(target.id if isinstance(target, ast.Name) else getattr(target, "attr", ""), node.value)
                      for target in targets]
        elif isinstance(node, ast.Dict):
            found += [(str(key.value), value) for key, value in zip(node.keys, node.values, strict=True)
                      if isinstance(key, ast.Constant)]
    return found


def redeclared_defaults(drivers: Path) -> list[str]:
    """Every place under ``drivers`` (src/wsgidrivers) that writes a driver setting's default again."""
    settings_module = drivers / "_common" / "settings.py"
    found = []
    for path in sorted(drivers.rglob("*.py")):
        if path == settings_module:
            continue
        where = path.relative_to(drivers).as_posix()
        for name, value in _bindings(ast.parse(path.read_text(encoding="utf-8"))):
            if name in SETTING_NAMES and _fixed(value) and (where, name) not in _NOT_A_DEFAULT:
                found.append(f"{where}:{value.lineno}: {name} = {ast.unparse(value)}")
    return found


def test_no_driver_setting_has_its_default_written_twice() -> None:
    # Each default lives in wsgidrivers._common.settings (a Settings field, or DRIVER_DEFAULTS);
    # every signature, class body and call elsewhere reads it from a Settings. Issue 26 counted 8
    # settings re-declared in 4-5 signatures and class bodies, and asyncio's use_sendfile had drifted.
    drivers = Path(wsgidrivers_package.__file__).parent
    assert not redeclared_defaults(drivers)


def test_the_scan_sees_a_default_written_again(tmp_path: Path) -> None:
    (tmp_path / "_common").mkdir()
    (tmp_path / "_common" / "settings.py").write_text("HEAD_TIMEOUT = 10.0\nLINGER_BYTES = 1 << 20\n")
    (tmp_path / "driver.py").write_text(textwrap.dedent("""\
        from ._common.settings import HEAD_TIMEOUT
        def serve(app, *, head_timeout=HEAD_TIMEOUT, io_timeout: float = 30.0, use_sendfile=None): ...
        class Server:
            linger_bytes = 1 << 20
            keep_alive_timeout: float = DEFAULTS.keep_alive_timeout
        Service(app, use_sendfile=True)
        options = {"receive_buffer": 256 * 1024}
        config = serving_config(None, keep_alive=True)
        getattr(server, "linger_timeout", 2.0)
        """))
    assert [line.split(": ", 1)[1] for line in redeclared_defaults(tmp_path)] == [
        "head_timeout = HEAD_TIMEOUT", "io_timeout = 30.0", "linger_bytes = 1 << 20",
        "use_sendfile = True", "receive_buffer = 256 * 1024", "linger_timeout = 2.0"]
