"""The one strict HTTP/1.x response parser of the test suites, independent of the core.

Strict enough to notice response splitting, a body where none may be, ambiguous framing or a
control byte in a field: a test asserts on the bytes a real client would see. ``ResponseParser``
walks a byte string response by response (interim 1xx ones included) and raises
:class:`MalformedResponse` at the first malformed byte, remembering where; the core suites use
:func:`parse_responses`, the hardening suite a non-raising view of the same walk, the socket
clients check what they read with it. No ``assert`` statements: the hardening suite runs under ``-O``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["MalformedResponse", "ParsedResponse", "ResponseParser", "final_responses",
           "parse_responses"]

_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3}) ([\t \x21-\x7e\x80-\xff]*)\r\n")
# RFC 9110 §5.5: a field value holds no control byte other than HTAB.
_FIELD_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t \x21-\x7e\x80-\xff]*?)[ \t]*\r\n")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(;[^\r\n]*)?\r\n")


class MalformedResponse(AssertionError):
    """The bytes are not a well-formed HTTP/1.1 response stream."""


@dataclass
class ParsedResponse:
    version: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]  # names lower-cased, values as sent (OWS stripped)
    body: bytes  # de-chunked
    framing: str  # "length", "chunked", "close", "none" (HEAD, 1xx, 204, 304)
    complete: bool  # the framing says the body ended (always True for "close")
    raw: bytes = field(repr=False, default=b"")
    fields: list[tuple[bytes, bytes]] = field(repr=False, default_factory=list)  # names as sent

    def get_all(self, name: bytes) -> list[bytes]:
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def get(self, name: bytes) -> bytes | None:
        values = self.get_all(name)
        if len(values) > 1:
            raise AssertionError(f"header {name!r} repeated: {values!r}")
        return values[0] if values else None

    @property
    def connection_close(self) -> bool:
        return any(b"close" in v.lower() for v in self.get_all(b"connection"))


class ResponseParser:
    """Iterate the responses in ``data``. ``methods[i]`` is the request method of the i-th *final*
    response (default GET: HEAD responses have no body). With ``allow_incomplete`` the bytes may end
    anywhere: a head cut short ends the walk (:attr:`rest` holds it), a body cut short is the last
    response, ``complete=False``. :attr:`pos` is where the walk is (where it failed, after an error).
    """

    def __init__(self, data: bytes, methods: Sequence[str] = (), *,
                 allow_incomplete: bool = False) -> None:
        self.data = data
        self.methods = methods
        self.allow_incomplete = allow_incomplete
        self.pos = 0
        self.rest = b""

    def __iter__(self) -> Iterator[ParsedResponse]:
        data = self.data
        final_index = 0
        while self.pos < len(data):
            start = self.pos
            if self.allow_incomplete and data.find(b"\r\n\r\n", start) < 0:
                self.rest = data[start:]  # the head has not arrived whole
                return
            resp = self._head(start)
            if 100 <= resp.status < 200:
                resp.raw = data[start:self.pos]
                yield resp
                continue
            method = self.methods[final_index] if final_index < len(self.methods) else "GET"
            final_index += 1
            self._body(resp, method)
            resp.raw = data[start:self.pos]
            yield resp

    def _fail(self, message: str) -> MalformedResponse:
        return MalformedResponse(f"{message} at {self.pos}: {self.data[self.pos:self.pos + 80]!r}")

    def _head(self, pos: int) -> ParsedResponse:
        data = self.data
        m = _STATUS_LINE.match(data, pos)
        if m is None:
            raise self._fail("bad status line")
        pos = m.end()
        fields: list[tuple[bytes, bytes]] = []
        while not data.startswith(b"\r\n", pos):
            fm = _FIELD_LINE.match(data, pos)
            if fm is None:
                self.pos = pos
                raise self._fail("bad field line")
            fields.append((fm.group(1), fm.group(2)))
            pos = fm.end()
        self.pos = pos + 2
        headers = [(name.lower(), value) for name, value in fields]
        return ParsedResponse(m.group(1), int(m.group(2)), m.group(3), headers, b"", "none", True,
                              fields=fields)

    def _body(self, resp: ParsedResponse, method: str) -> None:
        te = resp.get_all(b"transfer-encoding")
        cl = resp.get_all(b"content-length")
        if te and cl:
            raise self._fail("both Transfer-Encoding and Content-Length")
        if len(cl) > 1:
            raise self._fail(f"Content-Length repeated {cl!r}")
        if method == "HEAD" or resp.status in (204, 304):
            resp.framing = "none"
        elif te:
            if [v.lower() for v in te] != [b"chunked"]:
                raise self._fail(f"unexpected Transfer-Encoding {te!r}")
            resp.framing = "chunked"
            self._chunks(resp)
        elif cl:
            if not cl[0].isdigit():
                raise self._fail(f"bad Content-Length {cl!r}")
            n = int(cl[0])
            resp.framing = "length"
            resp.body = self.data[self.pos : self.pos + n]
            if len(resp.body) < n:
                if not self.allow_incomplete:
                    raise self._fail(f"body shorter than Content-Length {n}")
                resp.complete = False
            self.pos = min(len(self.data), self.pos + n)
        else:
            resp.framing = "close"
            resp.body = self.data[self.pos:]
            self.pos = len(self.data)

    def _chunks(self, resp: ParsedResponse) -> None:
        data = self.data
        body = bytearray()
        pos = self.pos
        while True:
            cm = _CHUNK_LINE.match(data, pos)
            if cm is None:
                if self.allow_incomplete and data.find(b"\r\n", pos) < 0:
                    resp.complete = False
                    pos = len(data)
                    break
                self.pos = pos
                raise self._fail("bad chunk line")
            size = int(cm.group(1), 16)
            pos = cm.end()
            if size == 0:
                # The trailer section, then the final CRLF.
                while not data.startswith(b"\r\n", pos):
                    fm = _FIELD_LINE.match(data, pos)
                    if fm is None:
                        if self.allow_incomplete and data.find(b"\r\n", pos) < 0:
                            resp.complete = False
                            pos = len(data)
                            break
                        self.pos = pos
                        raise self._fail("bad trailer section")
                    pos = fm.end()
                else:
                    pos += 2
                break
            if pos + size + 2 > len(data) and self.allow_incomplete:
                body += data[pos : pos + size]
                resp.complete = False
                pos = len(data)
                break
            if data[pos + size : pos + size + 2] != b"\r\n":
                self.pos = pos
                raise self._fail("truncated or unterminated chunk")
            body += data[pos : pos + size]
            pos += size + 2
        resp.body = bytes(body)
        self.pos = pos


def parse_responses(
    data: bytes, methods: Sequence[str] = (), *, allow_incomplete: bool = False
) -> list[ParsedResponse]:
    """Every response in ``data`` (interim 1xx ones as their own items). Raises MalformedResponse
    on anything malformed, incomplete (unless ``allow_incomplete``) or trailing."""
    return list(ResponseParser(data, methods, allow_incomplete=allow_incomplete))


def final_responses(
    data: bytes, methods: Sequence[str] = (), *, allow_incomplete: bool = False
) -> list[ParsedResponse]:
    """The final (non-1xx) responses in ``data``."""
    return [r for r in parse_responses(data, methods, allow_incomplete=allow_incomplete)
            if not 100 <= r.status < 200]
