"""The application the nginx tests serve behind nginx (loaded by the server processes:
``nginx_app:app``). The path's last segment picks the behaviour, so that nginx's locations
(``/``, ``/unbuffered/``, ``/as-https/``) reach the same ones.

- ``hello``: ``hello``;
- ``pid``: the serving process's pid;
- ``environ``: JSON of what a proxied request looks like to the app (peer, scheme, forwarding
  headers, protocol, pid);
- ``upload``: reads the body the way PEP 3333 allows with ``wsgi.input_terminated`` (to the end
  when the server terminates the stream, else CONTENT_LENGTH bytes) and answers with JSON: length,
  sha256, the CONTENT_LENGTH and Transfer-Encoding the app saw;
- ``stream?gate=PATH``: streams ``first`` at once, then ``last`` once the file PATH exists (at most
  10 s): a client that reads ``first`` before it creates PATH proves the response was streamed;
  ``X-Accel-Buffering: no`` (nginx then streams even in its buffered location);
- ``slow?gate=PATH&mark=PATH``: creates ``mark`` on entry, then waits for ``gate`` (at most 10 s);
  answers ``released`` or ``timed out`` and its pid.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

StartResponse = Callable[..., Any]
#: Seconds a gated response waits for its gate at most (a test that fails must not hang).
GATE_LIMIT = 10.0


def _reply(start_response: StartResponse, body: bytes, content_type: str = "text/plain") -> list[bytes]:
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _wait_for(path: str) -> bool:
    deadline = time.monotonic() + GATE_LIMIT
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.005)
    return False


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        chunks = []
        while True:
            chunk = stream.read(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return stream.read(length) if length > 0 else b""


def _stream(gate: str) -> Iterator[bytes]:
    yield b"first\n"
    yield b"last\n" if _wait_for(gate) else b"timed out\n"


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    name = environ["PATH_INFO"].rstrip("/").rsplit("/", 1)[-1]
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    pid = str(os.getpid())
    if name == "hello":
        return _reply(start_response, b"hello")
    if name == "pid":
        return _reply(start_response, pid.encode())
    if name == "environ":
        keys = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                "HTTP_HOST", "SERVER_PROTOCOL", "HTTP_CONNECTION")
        seen = {key: environ.get(key) for key in keys}
        seen["pid"] = pid
        # The connection the request came on (nginx's end of it): the peer the core saw.
        peer = environ.get("wsgicore.proxy_peer")
        seen["peer"] = (f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple)
                        else f"{environ.get('REMOTE_ADDR')}:{environ.get('REMOTE_PORT')}")
        return _reply(start_response, json.dumps(seen).encode(), "application/json")
    if name == "upload":
        body = _read_body(environ)
        seen = {
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "content_length": environ.get("CONTENT_LENGTH"),
            "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
            "input_terminated": bool(environ.get("wsgi.input_terminated")),
        }
        return _reply(start_response, json.dumps(seen).encode(), "application/json")
    if name == "stream":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Accel-Buffering", "no")])
        return _stream(query.get("gate", "/nonexistent"))
    if name == "slow":
        mark = query.get("mark")
        if mark:
            with open(mark, "w") as fh:
                fh.write(pid)
        released = _wait_for(query.get("gate", "/nonexistent"))
        return _reply(start_response, (b"released " if released else b"timed out ") + pid.encode())
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]
