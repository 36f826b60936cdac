"""A gunicorn config file (``-c``) whose server hooks write one line each to $WSGICORE_HOOKS_LOG."""

from __future__ import annotations

import os
from typing import Any


def _note(line: str) -> None:
    fd = os.open(os.environ["WSGICORE_HOOKS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def pre_request(worker: Any, req: Any) -> None:
    _note(f"pre {os.getpid()} {req.method} {req.path} {req.uri} {dict(req.headers).get('X-HOOK', '-')}")


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    _note(f"post {os.getpid()} {req.method} {req.path} {resp.status} {resp.sent} "
          f"{environ['REQUEST_METHOD']} {worker.nr}")


def worker_int(worker: Any) -> None:
    _note(f"int {os.getpid()}")


def worker_abort(worker: Any) -> None:
    _note(f"abort {os.getpid()}")
