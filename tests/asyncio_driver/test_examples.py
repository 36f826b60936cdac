"""Every recipe under ``examples/`` runs and serves a real client; ``docs/embedding.md`` quotes them
verbatim.

Each server example is started as ``python examples/NAME.py --port 0``; it prints
``Serving on http://HOST:PORT/``; a real client (sockets, ``http.client``) then checks keep-alive,
bodies (Content-Length, chunked, ``Expect: 100-continue``), pipelining and a bad request, and
SIGINT must stop it with status 0.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .aio_support import connect, read_response, wait_closed

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DOC = ROOT / "docs" / "embedding.md"
SERVERS = ["blocking_server.py", "selectors_server.py", "asyncio_streams.py", "asyncio_driver.py"]


@pytest.fixture(params=SERVERS)
def example(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / request.param), "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    killer = threading.Timer(60.0, proc.kill)  # a hung example must not hang the suite
    killer.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"Serving on http://([^/]+):(\d+)/", line)
        if match is None:
            proc.kill()
            assert proc.stderr is not None
            pytest.fail(f"{request.param} did not start: {line!r} {proc.stderr.read().decode()}")
        yield match[1], int(match[2])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0, f"{request.param} did not stop cleanly on SIGINT"
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_example_serves_a_real_client(example: tuple[str, int]) -> None:
    host, port = example
    # http.client: keep-alive, a GET and a POST on one connection.
    client = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(2):
            client.request("GET", "/")
            response = client.getresponse()
            assert (response.status, response.read()) == (200, b"Hello, world!\n")
        client.request("POST", "/echo", body=b"x" * 100_000)
        response = client.getresponse()
        assert (response.status, response.read()) == (200, b"x" * 100_000)
        client.request("POST", "/echo", body=iter([b"chunk", b"ed"]),
                       headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        response = client.getresponse()
        assert (response.status, response.read()) == (200, b"chunked")
    finally:
        client.close()
    # Expect: 100-continue, then pipelining, on raw sockets.
    with connect((host, port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        f = sock.makefile("rb")
        assert f.readline().startswith(b"HTTP/1.1 100 ")
        assert f.readline() == b"\r\n"
        sock.sendall(b"ok")
        assert read_response(f).body == b"ok"
        sock.sendall(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /2 HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert [read_response(f).body for _ in range(3)] == [b"Hello, world!\n", b"abc",
                                                              b"Hello, world!\n"]
        f.close()
    # A bad request gets the core's 400 and the connection is closed.
    with connect((host, port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        data, _ = wait_closed(sock)
        assert data.startswith(b"HTTP/1.1 400 ")


def test_memory_recipe_runs() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "memory_recipe.py")], cwd=ROOT,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().count(": ok") == 3


def _doc_excerpts() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"<!-- from (examples/[\w.]+) -->\n```python\n(.*?)```", text, re.S)


def test_embedding_doc_quotes_the_examples_verbatim() -> None:
    excerpts = _doc_excerpts()
    quoted = {name for name, _ in excerpts}
    assert quoted >= {f"examples/{name}" for name in [*SERVERS, "memory_recipe.py"]}
    for name, code in excerpts:
        source = (ROOT / name).read_text(encoding="utf-8")
        assert code in source, f"docs/embedding.md quotes {name}, but the file no longer has it:\n{code}"
