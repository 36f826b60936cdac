"""Large bodies stream: a 1 GiB upload read in chunks and a 1 GiB generated response must not grow
the server process's memory by more than a few MiB. The server runs in a child process, so its
peak RSS (VmHWM) is its own."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")

GiB = 1 << 30
CHUNK = 1 << 16
#: Allowed growth of the server's peak RSS over the whole transfer.
MAX_GROWTH = 8 << 20

SERVER = r"""
import sys
from wsgidrivers.simple_server import WSGIRequestHandler, make_server

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        stream, total = environ["wsgi.input"], 0
        while chunk := stream.read(65536):
            total += len(chunk)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(total).encode()]
    size = int(environ["QUERY_STRING"])
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"x" * 65536
    return (block for _ in range(size // 65536))

server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None
    return int(match[1]) * 1024


def _upload(port: int, size: int) -> bytes:
    def body() -> Iterator[bytes]:
        block = b"u" * CHUNK
        for _ in range(size // CHUNK):
            yield block

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/", body=body(), headers={"Content-Length": str(size)})
    data = conn.getresponse().read()
    conn.close()
    return data


def _download(port: int, size: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/?{size}")
    response = conn.getresponse()
    total = 0
    while chunk := response.read(CHUNK):
        total += len(chunk)
    conn.close()
    return total


@pytest.mark.slow
def test_gigabyte_upload_and_download_stream() -> None:
    process = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    timer = threading.Timer(120, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        # Warm up (imports, first buffers), then take the baseline.
        assert _upload(port, 4 * CHUNK) == str(4 * CHUNK).encode()
        assert _download(port, 4 * CHUNK) == 4 * CHUNK
        baseline = _peak_rss(process.pid)
        assert _upload(port, GiB) == str(GiB).encode()
        assert _download(port, GiB) == GiB
        growth = _peak_rss(process.pid) - baseline
        print(f"server peak RSS growth: {growth / 2**20:.2f} MiB")
        assert growth < MAX_GROWTH, f"server peak RSS grew by {growth / 2**20:.1f} MiB"
    finally:
        timer.cancel()
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
