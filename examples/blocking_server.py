"""Recipe (a): drive ``wsgicore.Connection`` from blocking sockets, one thread per connection.

    python examples/blocking_server.py --port 8000

The core parses and answers; this file only accepts, reads, writes, times out and closes.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from wsgicore import Close, Config, Connection, RequestReceived

TIMEOUT = 30.0  # seconds any one recv/send may wait


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    post = environ["REQUEST_METHOD"] == "POST"
    body = environ["wsgi.input"].read() if post else b"Hello, world!\n"  # POST: echo the body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def handle(sock: socket.socket, peer: Any, config: Config) -> None:
    sock.settimeout(TIMEOUT)
    conn = Connection(config, peer=peer, sockname=sock.getsockname())

    def fetch(size: int) -> bytes:  # wsgi.input's reads; the core sent a pending 100 Continue
        return sock.recv(min(size, 65536))

    try:
        while not isinstance(action := conn.next_action(), Close):
            if isinstance(action, RequestReceived):  # the core sets wsgi.input and wsgi.errors
                conn.run_app(app, action.environ, sock.sendall, fetch=fetch, errors=sys.stderr)
            else:  # Receive: send what is pending (usually nothing), then wait for bytes
                sock.sendall(action.send)
                conn.receive_data(sock.recv(65536))  # b"" at EOF: the core handles it
        sock.sendall(action.send)  # an error response, or nothing
        if action.linger:  # half-close and drain briefly, so request bytes we did not read
            sock.shutdown(socket.SHUT_WR)  # cannot turn our last response into a RST (RFC 9112 §9.6)
            sock.settimeout(2.0)
            for _ in range(16):
                if not sock.recv(65536):
                    break
    except OSError:
        pass  # timed out or the client went away
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # Requests run in threads (PEP 3333 wants the flag set); the clock gives the Date header.
    config = Config(multithread=True, clock=time.time)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    with socket.create_server((args.host, args.port)) as listener:
        host, port = listener.getsockname()[:2]
        print(f"Serving on http://{host}:{port}/", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                sock, peer = listener.accept()
                threading.Thread(target=handle, args=(sock, peer, config), daemon=True).start()


if __name__ == "__main__":
    main()
