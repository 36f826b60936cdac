"""gunicorn's request limits through real gunicorn processes, at the exact boundary: a line of
exactly the limit passes, one byte (or one field) more is refused with gunicorn 27's status, by our
worker classes and by gunicorn's own sync worker alike. gunicorn counts a field line with its CRLF
and a request line without it (gunicorn/http/message.py); the in-process comparison over many
values is in test_gunicorn_units."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from .gunicorn_support import Gunicorn
from .names import WORKERS

# -k values: ours, and gunicorn's own sync worker to compare with.
KINDS = (*WORKERS, "sync")
LIMITS = ("--limit-request-line", "100", "--limit-request-fields", "5",
          "--limit-request-field_size", "60")


def _status(address: tuple[str, int], raw: bytes) -> int:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def _request(line: int = 0, fields: int = 1, field_line: int = 0) -> bytes:
    """A request line of ``line`` bytes (or a short one), ``fields`` field lines (Host among them),
    the last one ``field_line`` bytes long (lengths without the CRLF)."""
    target = b"/" + b"a" * max(0, line - len(b"GET / HTTP/1.1"))
    head = [b"GET " + target + b" HTTP/1.1", b"Host: x"]
    head += [b"X-%d: v" % i for i in range(fields - 1)]
    if field_line:
        head[-1] = b"X-Long: " + b"v" * (field_line - len(b"X-Long: "))
    if line:
        assert len(head[0]) == line
    return b"\r\n".join(head) + b"\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module", params=KINDS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, tuple[str, int]]]:
    kind = str(request.param)
    server = Gunicorn("ThreadWorker", *LIMITS, workers=1)
    if kind == "sync":
        server.command[server.command.index("-k") + 1] = "sync"
    else:
        server.command[server.command.index("-k") + 1] = f"wsgidrivers.gunicorn.{kind}"
    with server:
        yield kind, server.address


def test_limit_request_line_at_the_boundary(served: tuple[str, tuple[str, int]]) -> None:
    _, address = served
    assert _status(address, _request(line=100)) == 200  # exactly the limit, without its CRLF
    assert _status(address, _request(line=101)) == 414


def test_limit_request_fields_at_the_boundary(served: tuple[str, tuple[str, int]]) -> None:
    _, address = served
    # _request adds "Connection: close": 4 + 1 = 5 fields pass, 6 do not.
    assert _status(address, _request(fields=4)) == 200
    assert _status(address, _request(fields=5)) == 431


def test_limit_request_field_size_counts_the_crlf(served: tuple[str, tuple[str, int]]) -> None:
    _, address = served
    assert _status(address, _request(fields=2, field_line=58)) == 200  # 58 + CRLF = 60
    assert _status(address, _request(fields=2, field_line=59)) == 431


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET /" + b"a" * 400, 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"v" * 400, 431),
], ids=["request-line", "field-line"])
def test_an_unfinished_line_over_its_limit_is_refused_at_once(
    served: tuple[str, tuple[str, int]], raw: bytes, status: int
) -> None:
    # No line end and no half-close: the status must come from the bytes alone (gunicorn's
    # --timeout is 30 s, the socket's 10 s). gunicorn's own parser checks its buffer of field
    # lines only after a further read, so its sync worker waits there: compared on the request
    # line only.
    kind, address = served
    if kind == "sync" and status == 431:
        pytest.skip("gunicorn's sync worker waits for more bytes before it measures field lines")
    assert _status(address, raw) == status
