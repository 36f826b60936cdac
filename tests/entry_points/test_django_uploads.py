"""A Django project receives a chunked upload through every serving entry point, with the defaults
(issue 24 item 3): the command line with each driver, make_server, ThreadingWSGIServer, the asyncio
driver and both gunicorn workers, each over a real loopback socket. Before, Django read no body (it
reads CONTENT_LENGTH bytes, and a chunked request has none) and answered 200.

Also a Content-Length upload, a chunked upload large enough to leave memory for the temporary file,
the errors answered before Django runs (413 past the default bound, 400 for a bad chunk), and the
streaming option: then no CONTENT_LENGTH and ``wsgi.input_terminated``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from wsgidrivers._common.settings import SPOOL_MEMORY

from .servers import ENTRY_POINTS, Running, exchange, serving

pytest.importorskip("django")

APP = "djangoproject:application"


@pytest.fixture(scope="module", params=ENTRY_POINTS)
def django_server(request: pytest.FixtureRequest) -> Iterator[Running]:
    if str(request.param).startswith("gunicorn"):
        pytest.importorskip("gunicorn")
    with serving(request.param, APP) as running:
        yield running


def chunked(body: bytes, piece: int) -> bytes:
    out = [b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"]
    for start in range(0, len(body), piece):
        chunk = body[start : start + piece]
        out.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def with_length(body: bytes) -> bytes:
    return (b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n"
            b"Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n%s" % (len(body), body))


def django_read(running: Running, request: bytes) -> dict[str, Any]:
    (response,) = exchange(running.address, request)
    assert response.status_code == 200, response.content[:300]
    assert response.headers.get("X-App") == "django"
    result: dict[str, Any] = json.loads(response.content)
    return result


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def expect(body: bytes) -> dict[str, Any]:
    return {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "content_length": str(len(body)), "transfer_encoding": None, "input_terminated": True}


def test_a_chunked_upload_reaches_django(django_server: Running) -> None:
    body = payload(100_000, 1)
    assert django_read(django_server, chunked(body, 7000)) == expect(body)


def test_a_content_length_upload_reaches_django(django_server: Running) -> None:
    body = payload(100_000, 2)
    assert django_read(django_server, with_length(body)) == expect(body)


def test_a_chunked_upload_past_the_memory_threshold_reaches_django(django_server: Running) -> None:
    # Past SPOOL_MEMORY the body is kept in a temporary file, not in memory.
    body = payload(2 * SPOOL_MEMORY + 12345, 3)
    assert django_read(django_server, chunked(body, 65536)) == expect(body)


@pytest.mark.parametrize(("tail", "status"), [
    # A chunk declared larger than the default bound (1 GiB): refused as soon as its size is read.
    (b"40000001\r\n", 413),
    (b"5\r\nabcde\r\nzz\r\n", 400),
], ids=["over-the-default-bound", "bad-chunk"])
def test_body_errors_are_answered_before_django_runs(django_server: Running, tail: bytes,
                                                      status: int) -> None:
    head = chunked(b"", 1).removesuffix(b"0\r\n\r\n")
    (response,) = exchange(django_server.address, head + tail)
    assert response.status_code == status
    assert "X-App" not in response.headers  # the server's answer, not Django's


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_the_streaming_option_gives_input_terminated_and_no_content_length(entry: str) -> None:
    if entry.startswith("gunicorn"):
        pytest.importorskip("gunicorn")
    body = payload(5000, 4)
    with serving(entry, APP, stream=True) as running:
        seen = django_read(running, chunked(body, 1000))
    # Django reads CONTENT_LENGTH bytes: none, so it reads nothing. The option is for apps that read
    # wsgi.input to its end (wsgi.input_terminated).
    assert seen == {"length": 0, "sha256": hashlib.sha256(b"").hexdigest(), "content_length": None,
                    "transfer_encoding": "chunked", "input_terminated": True}
