"""Every serving entry point, started with its defaults in a process of its own over a loopback socket
(issue 24: "through the CLI, make_server, the asyncio driver and both gunicorn workers"):

- the command line, with each driver (``wsgicore --driver simple|threading|asyncio``);
- ``make_server`` (``WSGIServer``) and ``ThreadingWSGIServer``, the asyncio driver's ``serve``
  (``serve_api.py``);
- gunicorn with each worker class (``-k wsgidrivers.gunicorn.ThreadWorker|AsyncioWorker``).

The options a test may ask for are each entry point's own spelling of the same thing: streaming
chunked bodies (``--stream-chunked-body``, ``stream_chunked_body=True``, gunicorn's ``--env
WSGICORE_STREAM_CHUNKED_BODY=1``) and a URL prefix (``--url-prefix``, ``Config(script_name=)``,
gunicorn's ``--env SCRIPT_NAME=``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from wsgidrivers.testing.response import ParsedResponse, parse_responses

HERE = Path(__file__).resolve().parent

ENTRY_POINTS = ("cli simple", "cli threading", "cli asyncio", "make_server", "ThreadingWSGIServer",
                "asyncio", "gunicorn ThreadWorker", "gunicorn AsyncioWorker")
LIMIT = 30.0


@dataclass
class Running:
    address: tuple[str, int]
    stop: Callable[[], object]


def _api(entry: str, app: str, settings: list[str]) -> Iterator[Running]:
    process = subprocess.Popen([sys.executable, str(HERE / "serve_api.py"), entry, app, *settings],
                               stdout=subprocess.PIPE, text=True)
    timer = threading.Timer(LIMIT, process.kill)  # bounds the wait for the port
    timer.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        timer.cancel()
    try:
        if not line.startswith("port "):
            raise AssertionError(f"{entry} did not start: {line!r}")

        def stop() -> None:
            process.terminate()
            process.wait(LIMIT)

        yield Running(("127.0.0.1", int(line.split()[1])), stop)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(LIMIT)
        if process.stdout is not None:
            process.stdout.close()


@contextlib.contextmanager
def serving(entry: str, app: str, *, stream: bool = False, prefix: str | None = None) -> Iterator[Running]:
    """Serve ``app`` (``module:name``, a module of this directory) through ``entry``."""
    kind, _, name = entry.partition(" ")
    if kind == "cli":
        from tests.cli._process import serve

        options = ["--driver", name, "--port", "0", "--no-access-log"]
        options += ["--stream-chunked-body"] if stream else []
        options += ["--url-prefix", prefix] if prefix else []
        served = serve(*options, app, cwd=HERE)
        try:
            yield Running(served.addresses[0], served.stop)
        finally:
            served.stop()
    elif kind == "gunicorn":
        from tests.gunicorn_workers.gunicorn_support import Gunicorn

        options = ["--pythonpath", str(HERE)]
        options += ["--env", "WSGICORE_STREAM_CHUNKED_BODY=1"] if stream else []
        options += ["--env", f"SCRIPT_NAME={prefix}"] if prefix else []
        server = Gunicorn(name, *options, app=app, workers=1)
        try:
            yield Running(server.start().address, server.stop)
        finally:
            server.stop()
    else:
        settings = ["stream_chunked_body=1"] if stream else []
        settings += [f"script_name={prefix}"] if prefix else []
        yield from _api(entry, app, settings)


def exchange(address: tuple[str, int], data: bytes, timeout: float = LIMIT) -> list[ParsedResponse]:
    """Send ``data`` on a new connection, read until the server closes; the responses, parsed."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return list(parse_responses(bytes(received)))
