"""A ``wsgi.file_wrapper`` file handed to the driver's sendfile: its size is looked up (seek to the
end and back, two system calls per response) only when the application gave no Content-Length;
with one, that many bytes are asked for, and a file that ends early still makes a short body
(the connection closes after it)."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core_support import PEER, SOCKNAME, final_responses

from wsgicore import Connection, RequestReceived

GET = b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n"
DATA = bytes(range(256)) * 40


class SeekCounting(io.FileIO):
    """A real file (it has a fileno) that counts its seeks."""

    seeks = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        self.seeks += 1
        return super().seek(offset, whence)


def _serve(headers: list[tuple[str, str]], skip: int = 0) -> tuple[bytes, list[int], int, Any]:
    sent = bytearray()
    asked: list[int] = []

    def sendfile(file: Any, offset: int, count: int) -> int:
        asked.append(count)
        data = os.pread(file.fileno(), count, offset)
        sent.extend(data)
        return len(data)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "payload.bin"
        path.write_bytes(DATA)
        handle = SeekCounting(path, "r")
        handle.read(skip)  # PEP 3333: sent from the current position

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            start_response("200 OK", headers)
            return environ["wsgi.file_wrapper"](handle)  # type: ignore[no-any-return]

        conn = Connection(None, peer=PEER, sockname=SOCKNAME)
        conn.receive_data(GET)
        event = conn.next_event()
        assert isinstance(event, RequestReceived)
        event.environ["wsgi.input"] = conn.input_stream(lambda size: b"")
        event.environ["wsgi.errors"] = io.StringIO()
        info = conn.run_app(app, event.environ, sent.extend, sendfile=sendfile)
        seeks = handle.seeks
    return bytes(sent), asked, seeks, info


def test_with_a_content_length_the_file_is_not_seeked() -> None:
    out, asked, seeks, info = _serve([("Content-Length", str(len(DATA) - 100))], skip=100)
    assert seeks == 0
    assert asked == [len(DATA) - 100]
    (response,) = final_responses(out)
    assert response.body == DATA[100:]
    assert info.keep_alive


def test_without_one_its_size_from_the_position_is_the_content_length() -> None:
    out, asked, seeks, _ = _serve([("Content-Type", "application/octet-stream")], skip=100)
    assert seeks == 2  # to the end and back
    assert asked == [len(DATA) - 100]
    (response,) = final_responses(out)
    assert (b"content-length", str(len(DATA) - 100).encode()) in [
        (name.lower(), value) for name, value in response.headers]
    assert response.body == DATA[100:]


def test_a_file_shorter_than_its_content_length_makes_a_short_body() -> None:
    out, asked, seeks, info = _serve([("Content-Length", str(len(DATA) + 50))])
    assert seeks == 0
    assert asked == [len(DATA) + 50]
    assert out.endswith(DATA)
    assert info.body_bytes == len(DATA)
    assert not info.keep_alive  # the client sees the truncation as the connection's end
