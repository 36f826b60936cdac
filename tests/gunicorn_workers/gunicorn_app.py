"""Applications the gunicorn tests serve (loaded by the gunicorn processes: ``gunicorn_app:app``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def _text(start_response: StartResponse, body: bytes, status: str = "200 OK",
          extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(status, headers)
    return [body]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """``/pid``; ``/sleep?S`` (sleeps S seconds); ``/environ`` (JSON of the str/bool values);
    ``/echo`` (the request body); ``/raise`` (an exception); anything else: ``ok <path>``."""
    path = environ["PATH_INFO"]
    pid = str(os.getpid()).encode()
    if path == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
        return _text(start_response, pid)
    if path == "/pid":
        return _text(start_response, pid, extra=[("X-Test", "yes")])
    if path == "/environ":
        values = {k: v for k, v in environ.items() if isinstance(v, str | bool)}
        return _text(start_response, json.dumps(values).encode())
    if path == "/echo":
        return _text(start_response, environ["wsgi.input"].read())
    if path == "/raise":
        raise RuntimeError("boom from the test app")
    return _text(start_response, b"ok " + path.encode("latin-1"))


def record_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The hardening suite's RecordingApp across processes: each request is appended to the file
    named by WSGICORE_RECORD as JSON lines (``enter`` on entry, ``served`` after reading the body)."""
    record: dict[str, Any] = {k: v for k, v in environ.items() if isinstance(v, str)}
    path = os.environ["WSGICORE_RECORD"]
    _append(path, {"event": "enter", "record": record})
    body = environ["wsgi.input"].read()
    record["body_hex"] = body.hex()
    _append(path, {"event": "served", "record": record})
    return _text(start_response, b"ok " + environ.get("PATH_INFO", "").encode("latin-1"))


def _append(path: str, item: dict[str, Any]) -> None:
    # One write() of one line on an O_APPEND file: whole lines, also from two worker processes.
    line = (json.dumps(item) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
