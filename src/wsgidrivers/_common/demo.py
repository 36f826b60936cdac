"""wsgiref's ``demo_app``: the default application of both command lines."""

from __future__ import annotations

from collections.abc import Iterable
from io import StringIO
from typing import Any

from .types import StartResponse

__all__ = ["demo_app"]


def demo_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer "Hello world!" and the sorted environ, as plain text (wsgiref's demo_app)."""
    out = StringIO()
    print("Hello world!", file=out)
    print(file=out)
    for key, value in sorted(environ.items()):
        print(key, "=", repr(value), file=out)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [out.getvalue().encode("utf-8")]
