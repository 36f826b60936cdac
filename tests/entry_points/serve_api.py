"""Serve an application through one of the Python entry points, with that entry point's defaults,
in a process of its own (Django's settings are per process): ``python serve_api.py ENTRY MODULE:NAME
[setting=value ...]``. Prints ``port <n>`` once listening; stops at SIGTERM.

ENTRY: ``make_server`` (``WSGIServer``), ``ThreadingWSGIServer`` (``make_server(...,
ThreadingWSGIServer)``) or ``asyncio`` (the asyncio driver's ``serve``). A ``setting=value`` is a
driver setting by name (``stream_chunked_body=1``, ``io_timeout=0.5``) or ``script_name=/app`` (a
``Config``)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name == "script_name":
            from wsgicore import Config

            options["config"] = Config(script_name=text)
        elif name == "stream_chunked_body":
            options[name] = text == "1"
        else:
            options[name] = float(text)
    return options


def main() -> None:
    entry, spec, *pairs = sys.argv[1:]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    module, _, name = spec.partition(":")
    app = getattr(importlib.import_module(module), name)
    options = _options(pairs)
    if entry == "asyncio":
        from wsgidrivers.asyncio import serve

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)

            def ready(server: Any) -> None:
                print(f"port {server.sockets[0].getsockname()[1]}", flush=True)

            await serve(app, "127.0.0.1", 0, on_ready=ready, **options)

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(run())
        return
    from wsgidrivers.simple_server import ThreadingWSGIServer, WSGIServer, make_server

    server_class = ThreadingWSGIServer if entry == "ThreadingWSGIServer" else WSGIServer
    with make_server("127.0.0.1", 0, app, server_class, **options) as server:
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        print(f"port {server.server_port}", flush=True)
        server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
