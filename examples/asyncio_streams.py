"""Recipe (c): drive ``wsgicore.Connection`` from asyncio streams, the app in a thread.

    python examples/asyncio_streams.py --port 8000

The event loop reads and writes; the WSGI app runs in a worker thread (it may block). While the
app runs, the worker owns the Connection (it is not thread-safe) and reaches the sockets only
through the loop: ``fetch`` awaits ``reader.read`` and ``send`` awaits ``writer.drain`` (so a slow
client slows the app down instead of filling memory), each with ``run_coroutine_threadsafe``.

This is the shortest correct bridge: one loop round trip per read and per write. The
``wsgidrivers.asyncio`` driver does the same with an ``asyncio.Protocol``, far fewer round trips,
head/idle deadlines, a bounded pool and graceful shutdown (see ``asyncio_driver.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wsgicore import Close, Config, Connection, RequestReceived

CONFIG = Config(multithread=True, clock=time.time)
TIMEOUT = 30.0  # seconds any one read or write may wait
POOL = ThreadPoolExecutor(max_workers=8)  # at most 8 apps run at once


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    post = environ["REQUEST_METHOD"] == "POST"
    body = environ["wsgi.input"].read() if post else b"Hello, world!\n"  # POST: echo the body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    conn = Connection(CONFIG, peer=writer.get_extra_info("peername"),
                      sockname=writer.get_extra_info("sockname"))

    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    def send(data: bytes) -> None:  # in the worker thread
        asyncio.run_coroutine_threadsafe(write(data), loop).result(TIMEOUT)

    def fetch(size: int) -> bytes:  # in the worker thread; the core sent a pending 100 Continue
        return asyncio.run_coroutine_threadsafe(reader.read(size), loop).result(TIMEOUT)

    def run(environ: dict[str, Any]) -> None:  # in the worker thread, which owns conn meanwhile
        conn.run_app(app, environ, send, fetch=fetch, errors=sys.stderr)

    try:
        while not isinstance(action := conn.next_action(), Close):
            if isinstance(action, RequestReceived):
                await loop.run_in_executor(POOL, run, action.environ)
            else:  # Receive: send what is pending (usually nothing), then wait for bytes
                await write(action.send)
                conn.receive_data(await asyncio.wait_for(reader.read(65536), TIMEOUT))
        await write(action.send)  # an error response, or nothing
        if action.linger and writer.can_write_eof():  # half-close; read until EOF so our answer
            writer.write_eof()  # is not reset (RFC 9112 §9.6)
            for _ in range(16):
                if not await asyncio.wait_for(reader.read(65536), 2.0):
                    break
    except (OSError, asyncio.TimeoutError, TimeoutError):
        pass  # the client went away or stalled
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port)
    sockname = server.sockets[0].getsockname()
    print(f"Serving on http://{sockname[0]}:{sockname[1]}/", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.host, args.port))
