"""Recipe (b): drive ``wsgicore.Connection`` from a single-threaded ``selectors`` loop.

    python examples/selectors_server.py --port 8000

Non-blocking sockets, one thread, no waiting anywhere but in ``select()``. Because nothing may
block, the core buffers each request body before the app runs (``next_action(buffer_body=True)``,
bounded by ``max_body_bytes``) and hands it to the app as ``wsgi.input``; the app runs in the loop
thread and its response is buffered, then written as the socket accepts it. Good for small, fast apps and for
seeing the whole sans-IO cycle in one page; for slow apps use ``wsgidrivers.asyncio``.
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from wsgicore import Config, Connection, Receive, RequestReceived

# Bodies are buffered (in the core) before the app runs, so bound them.
CONFIG = Config(max_body_bytes=1 << 20, clock=time.time)
IDLE_TIMEOUT = 10.0  # seconds without progress before a connection is dropped
LINGER_TIMEOUT = 2.0
MAX_OUT = 1 << 20  # stop parsing (pipelined requests) while this much output is waiting


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    post = environ["REQUEST_METHOD"] == "POST"
    body = environ["wsgi.input"].read() if post else b"Hello, world!\n"  # POST: echo the body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Client:
    """One connection: the Connection, the output not yet written, and where it stands."""

    def __init__(self, sock: socket.socket, peer: Any) -> None:
        self.sock = sock
        self.conn = Connection(CONFIG, peer=peer, sockname=sock.getsockname())
        self.out = bytearray()
        self.closing = False  # no more requests: flush, then close (half-close and linger if told)
        self.linger = False
        self.lingering = False
        self.eof = False  # the client closed its side
        self.deadline = time.monotonic() + IDLE_TIMEOUT

    def received(self, data: bytes) -> None:
        if self.lingering:  # discard what comes after our last response
            return
        self.conn.receive_data(data)  # b"" = EOF
        self.advance()

    def advance(self) -> None:
        """Do what the core says until it waits for bytes, the output is full, or it closes."""
        while not self.closing and len(self.out) < MAX_OUT:
            action = self.conn.next_action(buffer_body=True)  # a request comes with its whole body
            if isinstance(action, RequestReceived):  # wsgi.input holds the body, no fetch needed
                self.conn.run_app(app, action.environ, self.out.extend, errors=sys.stderr)
            else:  # Receive (wait for bytes) or Close (the end): first send what the core gives
                self.out += action.send
                if isinstance(action, Receive):
                    return
                self.closing, self.linger = True, action.linger

    def writable(self) -> bool:
        """Write what we can; False when the connection is finished and can be dropped."""
        if self.out:
            sent = self.sock.send(self.out)
            del self.out[:sent]
            self.deadline = time.monotonic() + IDLE_TIMEOUT
        if not self.out and self.closing and not self.lingering:
            if self.eof or not self.linger:
                return False  # nothing more can come from the client: close at once
            self.sock.shutdown(socket.SHUT_WR)  # RFC 9112 §9.6: half-close, read until EOF
            self.lingering = True
            self.deadline = time.monotonic() + LINGER_TIMEOUT
        if not self.out and not self.closing:
            self.advance()  # pipelined requests waited while the output was full
        return True

    def events(self) -> int:
        read = not self.eof and (self.lingering or len(self.out) < MAX_OUT)
        write = bool(self.out) or (self.closing and not self.lingering)
        return (selectors.EVENT_READ if read else 0) | (selectors.EVENT_WRITE if write else 0)


def serve(listener: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ)
    clients: dict[Any, Client] = {}

    def drop(client: Client) -> None:
        sel.unregister(client.sock)
        del clients[client.sock]
        client.sock.close()

    while True:
        for key, mask in sel.select(timeout=1.0):
            if key.fileobj is listener:
                try:
                    sock, peer = listener.accept()
                except BlockingIOError:
                    continue
                sock.setblocking(False)
                clients[sock] = client = Client(sock, peer)
                sel.register(sock, client.events())
                continue
            client = clients[key.fileobj]
            try:
                if mask & selectors.EVENT_READ:
                    data = client.sock.recv(65536)
                    client.eof = not data
                    if client.lingering:
                        if client.eof:
                            drop(client)
                            continue
                    else:
                        client.deadline = time.monotonic() + IDLE_TIMEOUT
                        client.received(data)
                keep = client.writable()
            except (BlockingIOError, InterruptedError):
                keep = True
            except OSError:
                keep = False
            events = client.events()
            if not keep or not events:
                drop(client)
            else:
                sel.modify(client.sock, events)
        now = time.monotonic()
        for client in [c for c in clients.values() if c.deadline < now]:
            drop(client)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    with socket.create_server((args.host, args.port)) as listener:
        host, port = listener.getsockname()[:2]
        print(f"Serving on http://{host}:{port}/", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            serve(listener)


if __name__ == "__main__":
    main()
