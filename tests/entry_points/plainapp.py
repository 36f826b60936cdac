"""A plain WSGI application for the entry-point tests: answers ``SCRIPT_NAME|PATH_INFO`` and, for a
body, what framed it, with ``X-App: plain`` so a test can tell its answers from the server's."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    text = "|".join((environ["SCRIPT_NAME"], environ["PATH_INFO"], environ.get("CONTENT_LENGTH", "-"),
                     str(len(body))))
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", "plain")])
    return [text.encode("latin-1")]
