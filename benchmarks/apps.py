"""The WSGI application every server under test runs: one dispatcher, a path per scenario.

Every response carries a Content-Length, so that no server has to choose between chunking and
closing (the load clients frame responses by Content-Length).

    /hello            13-byte body
    /gen/<n>          <n> bytes from a generator of 64 KiB chunks (1 MiB download, 1 GiB download)
    /file             1 MiB file through wsgi.file_wrapper (or read in 64 KiB blocks without one)
    /upload           reads wsgi.input in 64 KiB chunks, answers with the byte count
    /cpu              about 2 ms of pure-Python work, answers with the serving process's pid (the
                      multi-core scenarios: the GIL makes it one core's work per process, and the
                      body says which process served it)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

CHUNK = 64 * 1024
MIB = 1024 * 1024
FILE_SIZE = MIB
HELLO = b"Hello, world!"
_BLOCK = bytes(range(256)) * (CHUNK // 256)
_MAX_GEN = 64 * 1024 * MIB  # 64 GiB: bounds what a request can ask for

StartResponse = Callable[..., Any]

_file_path: str | None = None


#: The parent (``python -m benchmarks``) makes the file once in its temporary directory, which it
#: removes at the end, and names it here for every server process.
DATA_FILE_ENV = "WSGICORE_BENCH_DATA_FILE"


def write_data_file(path: str) -> None:
    with open(path, "wb") as fh:
        for _ in range(FILE_SIZE // CHUNK):
            fh.write(_BLOCK)


def data_file() -> str:
    """The 1 MiB file of the file_wrapper scenario: the parent's, or one made for this process
    (removed when it exits)."""
    global _file_path
    if _file_path is None:
        path = os.environ.get(DATA_FILE_ENV)
        if path is None or not os.path.isfile(path):
            fd, path = tempfile.mkstemp(prefix="wsgicore-bench-", suffix=".bin")
            os.close(fd)
            write_data_file(path)
            atexit.register(_remove, path)
        _file_path = path
    return _file_path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _gen(size: int) -> Iterator[bytes]:
    full, rest = divmod(size, CHUNK)
    block = _BLOCK
    for _ in range(full):
        yield block
    if rest:
        yield block[:rest]


def _file_blocks(fh: Any) -> Iterator[bytes]:
    try:
        for _ in range(FILE_SIZE // CHUNK + 1):
            block = fh.read(CHUNK)
            if not block:
                break
            yield block
    finally:
        fh.close()


#: Iterations of the /cpu loop: about 2 ms of CPython on the benchmark machine.
CPU_LOOP = 20_000


def cpu_work(iterations: int = CPU_LOOP) -> int:
    """Pure-Python work that holds the GIL throughout (no allocation-free shortcut to optimise)."""
    x = 0
    for i in range(iterations):
        x += i * i
    return x


def _pid() -> bytes:
    # Read per request, not at import: gunicorn imports the app in the master, then forks.
    return str(os.getpid()).encode("ascii")


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path: str = environ.get("PATH_INFO", "")
    if path == "/cpu":
        cpu_work()
        body = _pid()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
        return [HELLO]
    if path.startswith("/gen/"):
        try:
            size = int(path[5:])
        except ValueError:
            size = -1
        if not 0 <= size <= _MAX_GEN:
            start_response("400 Bad Request", [("Content-Length", "0")])
            return [b""]
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
        )
        return _gen(size)
    if path == "/file":
        fh = open(data_file(), "rb")  # noqa: SIM115 - closed by the server via the wrapper
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(FILE_SIZE))],
        )
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(fh, CHUNK)  # type: ignore[no-any-return]
        return _file_blocks(fh)
    if path == "/upload":
        stream = environ["wsgi.input"]
        try:
            remaining = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            remaining = 0
        total = 0
        while remaining > 0:
            data = stream.read(min(CHUNK, remaining))
            if not data:
                break
            total += len(data)
            remaining -= len(data)
        body = str(total).encode("ascii")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]
