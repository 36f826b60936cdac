"""``--url-prefix`` (``Config.script_name``; gunicorn: ``--env SCRIPT_NAME=``) through every serving
entry point (issue 24 item 10): ``/app`` and ``/app/...`` reach the application, every other path
(``/appx`` included: a prefix is a whole path segment) gets a 404 from the server and never reaches
it. Before, ``/other/x`` reached the application as SCRIPT_NAME ``/app``, PATH_INFO ``/other/x``."""

from __future__ import annotations

import pytest

from .servers import ENTRY_POINTS, exchange, serving


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_request_outside_the_prefix_gets_404_and_never_reaches_the_app(entry: str) -> None:
    if entry.startswith("gunicorn"):
        pytest.importorskip("gunicorn")
    paths = ["/app/x", "/other/x", "/app", "/appx", "/", "/app/"]
    with serving(entry, "plainapp:app", prefix="/app") as running:
        # One connection, pipelined: a 404 is an ordinary response, the connection goes on
        # (the one-connection-at-a-time server keeps none alive: it answers them one per connection).
        if entry in ("cli simple", "make_server"):
            responses = [exchange(running.address, get(path))[0] for path in paths]
        else:
            last = b"GET /app/last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
            responses = exchange(running.address, b"".join(map(get, paths)) + last)
    assert len(responses) == len(paths) + (entry not in ("cli simple", "make_server"))
    statuses = [(path, r.status_code, r.headers.get("X-App"), r.content)
                for path, r in zip(paths, responses, strict=False)]
    assert statuses == [
        ("/app/x", 200, "plain", b"/app|/x|-|0"),
        ("/other/x", 404, None, b"404 Not Found\nThis path is outside the application's URL prefix.\n"),
        ("/app", 200, "plain", b"/app||-|0"),
        ("/appx", 404, None, b"404 Not Found\nThis path is outside the application's URL prefix.\n"),
        ("/", 404, None, b"404 Not Found\nThis path is outside the application's URL prefix.\n"),
        ("/app/", 200, "plain", b"/app|/|-|0"),
    ]
