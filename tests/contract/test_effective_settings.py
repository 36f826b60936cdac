"""One settings path: every entry point serves with the same effective settings for the same input.

The entry points: ``make_server`` (``WSGIServer`` and ``ThreadingWSGIServer``), the asyncio driver's
``create_server``, ``serve`` and ``ServerThread``, the command line's three drivers, and both gunicorn
worker classes. What each one *serves with* is read from the object that serves (the server's
attributes, the asyncio Service's settings, the Config each connection gets), never from what the
caller passed, so a setting dropped or re-defaulted on the way in shows up here. (Issue 26: the asyncio
driver served ``use_sendfile=True`` where the settings said None, and the blocking driver's buffered
chunked bodies missed the drivers' spool.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from wsgicore import SERVER_SOFTWARE, Config
from wsgidrivers._common.demo import demo_app
from wsgidrivers._common.settings import SETTING_NAMES, Settings

TIMEOUT = 30.0

#: The same input, as Python keywords and as command-line options.
GIVEN_CONFIG = Config(clock=time.time, server_software=SERVER_SOFTWARE, buffer_chunked_body=True,
                      max_body_bytes=1 << 20)
INPUTS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "defaults": ({}, []),
    "given": ({"config": GIVEN_CONFIG, "head_timeout": 3.0, "io_timeout": 7.0,
               "keep_alive_timeout": 4.0, "linger_timeout": 1.0},
              ["--head-timeout", "3", "--io-timeout", "7", "--keep-alive-timeout", "4",
               "--linger-timeout", "1", "--buffer-chunked-body", "--max-body-size", "1M"]),
}

#: The entry points, with the keep-alive default of each (the one setting whose default differs by
#: driver: off in wsgiref's one-connection-at-a-time server).
KEEP_ALIVE = {"make_server": False, "make_server threading": True, "create_server": True,
              "serve": True, "ServerThread": True, "cli simple": False, "cli threading": True,
              "cli asyncio": True}


def _name(value: Any) -> Any:
    """``value`` as JSON can hold it, the same in every process: functions by name."""
    if isinstance(value, Mapping):
        return {str(key): _name(item) for key, item in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(map(repr, value))
    if isinstance(value, tuple | list):
        return [_name(item) for item in value]
    if isinstance(value, bytes):
        return repr(value)
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if value is None or isinstance(value, str | int | float):
        return value
    return repr(value)


def effective(settings: Settings, config: Config) -> dict[str, Any]:
    """What a server serves with: every setting but ``config`` (a Config given or the drivers'
    default one: the same), and the Config each connection gets, ``wsgi.multithread`` aside (it
    says how the driver runs apps, not a setting)."""
    served = config.replace(multithread=False)
    return {
        "settings": {name: getattr(settings, name) for name in SETTING_NAMES if name != "config"},
        "config": {field.name: _name(getattr(served, field.name))
                   for field in dataclasses.fields(served) if field.compare},
    }


def expected(given: dict[str, Any], keep_alive: bool) -> dict[str, Any]:
    """The settings object's own answer for ``given``: its defaults, the driver's keep-alive."""
    settings = Settings(**{"keep_alive": keep_alive, **given})
    return effective(settings, settings.serving_config(multithread=False))


def _in_process(entry: str, given: dict[str, Any]) -> dict[str, Any]:
    from wsgidrivers.asyncio import ServerThread, create_server, serve, shutdown
    from wsgidrivers.simple_server import ThreadingWSGIServer, make_server

    if entry.startswith("make_server"):
        server_class = ThreadingWSGIServer if entry.endswith("threading") else None
        extra = {"server_class": server_class} if server_class is not None else {}
        with make_server("127.0.0.1", 0, demo_app, **extra, **given) as server:
            return effective(server.settings(), server.connection_config())
    if entry == "ServerThread":
        thread = ServerThread(demo_app, access_log=None, **given)
        thread.start()
        try:
            assert thread.service is not None
            return effective(thread.service.settings, thread.service.config)
        finally:
            thread.stop()

    async def main() -> dict[str, Any]:
        if entry == "create_server":
            server = await create_server(demo_app, "127.0.0.1", 0, access_log=None, **given)
            try:
                return effective(server.service.settings, server.service.config)
            finally:
                await shutdown(server, 0)
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(serve(demo_app, "127.0.0.1", 0, access_log=None, grace=0,
                                           on_ready=ready.set_result, **given))
        server = await asyncio.wait_for(ready, TIMEOUT)
        try:
            return effective(server.service.settings, server.service.config)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    return asyncio.run(main())


#: The command line in a process of its own: once its driver serves, the object that serves is
#: found (whatever the runner made), described, and the process stopped with SIGTERM. Also counts
#: how often a Settings was validated on the way (the options are checked once).
_CLI = textwrap.dedent("""
    import gc, json, os, signal, sys, threading, time
    sys.path[:0] = [sys.argv[1]]
    from wsgidrivers._common import settings as settings_module
    from test_effective_settings import effective

    validations = []
    checked = settings_module.Settings.__post_init__

    def counting(self):
        validations.append(1)
        checked(self)

    settings_module.Settings.__post_init__ = counting
    from wsgidrivers._cli import main

    def serving():
        from wsgidrivers.asyncio import Service
        from wsgidrivers.simple_server import WSGIServer
        for obj in gc.get_objects():
            if isinstance(obj, WSGIServer) and obj.application is not None:
                return obj.settings, obj.connection_config
            if isinstance(obj, Service):
                return (lambda: obj.settings), (lambda: obj.config)
        return None

    def watch():
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                found = serving()
                if found is not None:
                    validated = len(validations)  # before settings() below validates one more
                    described = effective(found[0](), found[1]())
                    described["validations"] = validated
                    print("EFFECTIVE", json.dumps(described), flush=True)
                    break
                time.sleep(0.05)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
    sys.exit(main(sys.argv[2:]))
""")


def _cli(driver: str, options: list[str]) -> dict[str, Any]:
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run(
        [sys.executable, "-c", _CLI, here, "--driver", driver, "--port", "0", "--no-access-log",
         *options], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("EFFECTIVE ")]
    assert lines, f"rc {result.returncode}: {result.stdout}\n{result.stderr}"
    found: dict[str, Any] = json.loads(lines[0].removeprefix("EFFECTIVE "))
    return found


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value))
    return result


@pytest.mark.parametrize("entry", list(KEEP_ALIVE))
@pytest.mark.parametrize("given", list(INPUTS))
def test_every_entry_point_serves_with_the_same_settings(entry: str, given: str) -> None:
    keywords, options = INPUTS[given]
    validations = None
    if entry.startswith("cli "):
        found = _cli(entry.removeprefix("cli "), options)
        validations = found.pop("validations")
    else:
        found = _jsonable(_in_process(entry, keywords))
    wanted = _jsonable(expected(keywords, KEEP_ALIVE[entry]))
    assert found["settings"] == wanted["settings"]
    assert found["config"] == wanted["config"]
    if validations is not None:
        # The options are validated once, as one Settings; the runner takes it whole.
        assert validations == 1


def _gunicorn_worker_effective(kind: type[Any], cfg: Any) -> dict[str, Any]:
    """What an in-process gunicorn worker of ``kind`` serves with (see test_gunicorn_stop_race)."""
    from gunicorn.glogging import Logger

    from wsgidrivers.simple_server import WSGIServer

    listener = __import__("socket").create_server(("127.0.0.1", 0))
    worker = kind(1, os.getppid(), [listener], None, 30, cfg, Logger(cfg))
    worker.prepare()
    worker.wsgi = demo_app
    worker.errors = sys.stderr
    worker.PIPE = os.pipe()
    for fd in worker.PIPE:
        os.set_blocking(fd, False)

    def serving() -> dict[str, Any] | None:
        service = getattr(worker, "_service", None)
        if service is not None:
            return effective(service.settings, service.config)
        for obj in gc.get_objects():
            if isinstance(obj, WSGIServer) and getattr(obj, "state", None) is not None \
                    and obj.state.worker is worker:
                return effective(obj.settings(), obj.connection_config())
        return None

    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while (found := serving()) is None:
            assert time.monotonic() < deadline, "the worker did not start serving"
            time.sleep(0.02)
        return found
    finally:
        worker.alive = False
        worker.wake()
        runner.join(TIMEOUT)
        listener.close()
        for fd in worker.PIPE:
            os.close(fd)


GUNICORN_CFGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "no keep-alive, no timeout, no sendfile": {"keepalive": 0, "timeout": 0, "sendfile": False},
    "limits": {"limit_request_line": 1000, "keepalive": 7, "timeout": 10},
}


@pytest.mark.parametrize("cfg_name", list(GUNICORN_CFGS))
def test_both_gunicorn_workers_serve_with_the_settings_of_gunicorns_cfg(cfg_name: str) -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is not installed")
    from gunicorn.config import Config as GunicornConfig

    from wsgidrivers.gunicorn import AsyncioWorker, ThreadWorker
    from wsgidrivers.gunicorn._settings import worker_settings

    def cfg() -> Any:
        made = GunicornConfig()
        made.set("threads", 2)
        for name, value in GUNICORN_CFGS[cfg_name].items():
            made.set(name, value)
        return made

    mapped = worker_settings(cfg()).driver
    wanted = _jsonable(effective(mapped, mapped.serving_config(multithread=True)))
    # What gunicorn has no setting for is every driver's default.
    defaults = Settings()
    for name in ("head_timeout", "linger_timeout", "linger_bytes", "receive_buffer"):
        assert getattr(mapped, name) == getattr(defaults, name), name
    for kind in (ThreadWorker, AsyncioWorker):
        assert _jsonable(_gunicorn_worker_effective(kind, cfg())) == wanted, kind.__name__


def test_the_comparison_sees_a_setting_that_differs() -> None:
    # The check itself: a use_sendfile or a spool of its own would not pass unseen.
    base = expected({}, True)
    sendfile = Settings(use_sendfile=True)
    assert effective(sendfile, sendfile.serving_config(multithread=False)) != base
    spooled = Settings(config=GIVEN_CONFIG)
    unspooled = GIVEN_CONFIG.replace(multithread=False)  # no body_spool: not the drivers' rule
    assert effective(spooled, unspooled) != effective(spooled, spooled.serving_config(multithread=False))

