"""Recipe (c), production form: the ``wsgidrivers.asyncio`` driver inside your own asyncio program.

    python examples/asyncio_driver.py --port 8000

``create_server`` starts serving a WSGI app on the running loop and returns the ``asyncio.Server``;
the rest of the program (here a background task whose counter the app shows) shares the loop.
SIGINT/SIGTERM trigger ``shutdown``: stop accepting, close idle connections, let requests in
progress finish within the grace period.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable
from typing import Any

from wsgidrivers.asyncio import create_server, shutdown

ticks = 0  # written by the loop's task, read by the app's threads (an int: no lock needed)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read()  # echo
    elif environ["PATH_INFO"] == "/ticks":
        body = f"{ticks}\n".encode()
    else:
        body = b"Hello, world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def ticker() -> None:
    global ticks
    while True:
        await asyncio.sleep(0.1)
        ticks += 1


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = await create_server(app, host, port, max_workers=8, keep_alive_timeout=5.0)
    sockname = server.sockets[0].getsockname()
    print(f"Serving on http://{sockname[0]}:{sockname[1]}/", flush=True)
    background = asyncio.create_task(ticker())
    await stop.wait()
    await shutdown(server, grace=5.0)
    background.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await background


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
