"""What the test client returns, and the strict parser that makes it from the bytes a server wrote.

The parser is a checker as much as a reader: anything a correct HTTP/1.1 server must not send
(RFC 9112 §4-§7, RFC 9110 §6.4.1 and §8.6) is a :class:`MalformedResponse` naming the problem and
showing the bytes, so a broken response is a test failure, never a silently wrong value.
"""

from __future__ import annotations

import codecs
import json as _json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .headers import Headers

__all__ = ["HTTPError", "MalformedResponse", "ParsedResponse", "Response", "parse_response",
           "parse_responses"]

_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3}) ([\t !-~\x80-\xff]*)")
# field-line = field-name ":" OWS field-value OWS (RFC 9112 §5): the name is matched here, the
# value is stripped and checked separately (one pattern for both would rescan runs of whitespace,
# quadratic time); it holds no control bytes but HTAB (RFC 9110 §5.5).
_FIELD_NAME = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):")
_FIELD_VALUE = re.compile(rb"[\t !-~\x80-\xff]*")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+"
                         rb"(?:[ \t]*=[ \t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|\"(?:[^\"\\\r\n]|\\.)*\"))?)*)")


class MalformedResponse(Exception):
    """The server's bytes are not a valid HTTP/1.1 response: ``message`` says why, ``raw`` holds
    the bytes of the response being parsed and ``offset`` where in them the problem is."""

    def __init__(self, message: str, raw: bytes, offset: int = 0) -> None:
        self.message = message
        self.raw = raw
        self.offset = offset
        start = max(0, offset - 60)
        super().__init__(f"malformed response: {message} (at byte {offset}: "
                         f"...{raw[start:offset]!r} >>> {raw[offset:offset + 60]!r})")


@dataclass(frozen=True)
class ParsedResponse:
    """One response as parsed: the final status, its fields, the de-framed body, its raw bytes
    (any interim 1xx responses before it included) and the statuses of those interim responses."""

    http_version: str
    status_code: int
    reason: str
    headers: Headers
    content: bytes
    raw: bytes
    interim: tuple[int, ...] = ()
    trailers: Headers = field(default_factory=Headers)


def _head(data: bytes, start: int) -> tuple[int, int] | None:
    """(end of the head's last line, offset after its blank line), or None when incomplete."""
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        return None
    return end, end + 4


def _fields(data: bytes, start: int, end: int, raw: bytes, base: int) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    pos = start
    while pos < end:
        line_end = data.find(b"\r\n", pos, end + 2)
        line = data[pos:line_end]
        if line[:1] in (b" ", b"\t"):
            raise MalformedResponse("obsolete line folding (RFC 9112 §5.2)", raw, pos - base)
        match = _FIELD_NAME.match(line)
        value = line[match.end():].strip(b" \t") if match is not None else b""
        if match is None or _FIELD_VALUE.fullmatch(value) is None:
            raise MalformedResponse("invalid field line (RFC 9112 §5)", raw, pos - base)
        fields.append((match[1].decode("ascii"), value.decode("latin-1")))
        pos = line_end + 2
    return fields


_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")


def _check_line_ends(data: bytes, start: int, end: int, raw: bytes, base: int) -> None:
    # Only CRLF ends a line (RFC 9112 §2.2); a bare CR or LF in a response head is how response
    # splitting looks. (Searched in a slice: a lookbehind must not see bytes before the head.)
    head = data[start:end]
    for pattern, what in ((_BARE_LF, "bare LF"), (_BARE_CR, "bare CR")):
        found = pattern.search(head)
        if found is not None:
            raise MalformedResponse(f"{what} in the head", raw, start + found.start() - base)


def _chunked(data: bytes, pos: int, raw: bytes, base: int,
             eof: bool) -> tuple[bytes, list[tuple[str, str]], int] | None:
    """De-chunk from ``pos`` (RFC 9112 §7.1): (body, trailer fields, offset after), None if short."""
    body = bytearray()
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return None
        match = _CHUNK_LINE.fullmatch(data, pos, line_end)
        if match is None:
            raise MalformedResponse("invalid chunk-size line (RFC 9112 §7.1)", raw, pos - base)
        size = int(match[1], 16)
        pos = line_end + 2
        if size == 0:
            break
        if len(data) < pos + size + 2:
            return None
        body += data[pos:pos + size]
        pos += size
        if data[pos:pos + 2] != b"\r\n":
            raise MalformedResponse("chunk data not followed by CRLF", raw, pos - base)
        pos += 2
    # trailer-section *( field-line CRLF ) CRLF
    if data.startswith(b"\r\n", pos):
        return bytes(body), [], pos + 2
    head = _head(data, pos)
    if head is None:
        return None
    _check_line_ends(data, pos, head[0], raw, base)
    return bytes(body), _fields(data, pos, head[0], raw, base), head[1]


def parse_response(data: bytes, start: int = 0, *, method: str = "GET",
                   eof: bool = True) -> tuple[ParsedResponse, int] | None:
    """Parse the response that begins at ``data[start:]`` (after any interim 1xx responses) to a
    request of ``method``; return it and the offset after it, or None when more bytes are needed
    (``eof=False``: the connection is still open). With ``eof=True`` an incomplete response, or a
    body delimited by the close that is followed by nothing, is decided now. Raises
    :class:`MalformedResponse`.
    """
    pos = start
    interim: list[int] = []
    while True:
        raw = data[start:]
        if eof and pos >= len(data):
            raise MalformedResponse("no response (the connection ended first)", raw, pos - start)
        head = _head(data, pos)
        if head is None:
            if eof:
                _check_line_ends(data, pos, len(data), raw, start)  # the likelier reason
                raise MalformedResponse("incomplete head", raw, pos - start)
            return None
        head_end, body_start = head
        _check_line_ends(data, pos, head_end, raw, start)
        line_end = data.find(b"\r\n", pos, head_end + 2)
        status = _STATUS_LINE.fullmatch(data, pos, line_end)
        if status is None:
            raise MalformedResponse("invalid status line (RFC 9112 §4)", raw, pos - start)
        version, code = status[1].decode(), int(status[2])
        if code < 100:
            raise MalformedResponse(f"status code {code} (RFC 9110 §15)", raw, pos - start)
        fields = _fields(data, line_end + 2, head_end, raw, start)
        if 100 <= code < 200 and code != 101:
            # Interim responses carry no content; the final one follows (RFC 9110 §15.2).
            interim.append(code)
            pos = body_start
            continue
        break
    headers = Headers(fields)
    lengths = headers.get_all("content-length")
    codings = headers.get_all("transfer-encoding")
    where = pos - start
    if len(lengths) > 1:
        raise MalformedResponse("more than one Content-Length field", raw, where)
    if (lengths and not lengths[0].isdigit()) or (lengths and not lengths[0].isascii()):
        raise MalformedResponse(f"invalid Content-Length {lengths[0]!r}", raw, where)
    if lengths and codings:
        raise MalformedResponse("both Content-Length and Transfer-Encoding (RFC 9112 §6.2)", raw, where)
    if codings and (len(codings) > 1 or codings[0].lower() != "chunked"):
        raise MalformedResponse(f"transfer coding {codings!r} is not 'chunked'", raw, where)
    if codings and version == "1.0":
        raise MalformedResponse("Transfer-Encoding in an HTTP/1.0 response", raw, where)
    if (code in (204, 304) and codings) or (code == 204 and lengths):
        # RFC 9110 §8.6 and RFC 9112 §6.1: no framing fields on a 204 (a 304 may repeat a length).
        raise MalformedResponse(f"framing field in a {code} response", raw, where)
    trailers: list[tuple[str, str]] = []
    if method.upper() == "HEAD" or code in (101, 204, 304):
        # No content, whatever the fields say (RFC 9112 §6.3 rules 1 and 2).
        content, end = b"", body_start
    elif codings:
        parsed = _chunked(data, body_start, raw, start, eof)
        if parsed is None:
            if eof:
                raise MalformedResponse("incomplete chunked body", raw, len(raw))
            return None
        content, trailers, end = parsed
    elif lengths:
        end = body_start + int(lengths[0])
        if len(data) < end:
            if eof:
                raise MalformedResponse(f"body shorter than Content-Length {lengths[0]}",
                                        raw, len(raw))
            return None
        content = data[body_start:end]
    else:
        # Delimited by the close (RFC 9112 §6.3 rule 8): complete only at EOF.
        if not eof:
            return None
        content, end = data[body_start:], len(data)
    reason = status[3].decode("latin-1")
    return ParsedResponse(version, code, reason, headers, bytes(content), data[start:end],
                          tuple(interim), Headers(trailers)), end


def parse_responses(data: bytes, methods: list[str] | None = None) -> list[ParsedResponse]:
    """Parse every response in ``data``, a whole connection's output up to its close: one per
    request method in ``methods`` (``GET`` for every response when None). Raises
    :class:`MalformedResponse` for any malformed response or trailing bytes."""
    out: list[ParsedResponse] = []
    pos = 0
    while pos < len(data):
        if methods is not None and len(out) >= len(methods):
            raise MalformedResponse("bytes after the last expected response", data[pos:], 0)
        method = methods[len(out)] if methods is not None else "GET"
        result = parse_response(data, pos, method=method, eof=True)
        if result is None:  # eof=True never returns None; kept for the type checker
            break
        parsed, pos = result
        out.append(parsed)
    if methods is not None and len(out) < len(methods):
        raise MalformedResponse(f"no response to request {len(out) + 1} ({methods[len(out)]}): "
                                "the connection ended first", data[pos:], 0)
    return out


class HTTPError(Exception):
    """:meth:`Response.raise_for_status` met a 4xx or 5xx status; ``response`` is that response
    (as requests' ``HTTPError``, which this is not a subclass of: requests is not a dependency)."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


class Response:
    """A response the :class:`~wsgidrivers.testing.Client` received.

    ``status_code``, ``reason``, ``http_version``, ``headers`` (:class:`Headers`), ``content`` (the
    body without its framing), ``raw`` (the exact bytes on the wire, interim responses included),
    ``interim`` (their statuses, e.g. ``(100,)``), ``trailers``, ``environ`` (the dict the app was
    called with; None when the request never reached it), ``keep_alive`` (the connection stayed
    open after it), ``url`` (the URL asked for, params included; after redirects, the last one),
    ``request`` (the raw request bytes), ``history`` (the redirects followed to get here, oldest
    first), ``problems`` (what the core reported about the app: exceptions, a wrong body length)
    and ``elapsed`` (a ``timedelta``: from the request's write until its response was complete:
    the app's time and the core's, as requests measures it over a network).
    """

    def __init__(self, parsed: ParsedResponse, *, url: str, request: bytes,
                 environ: dict[str, Any] | None, keep_alive: bool,
                 problems: list[Any] | None = None, elapsed: timedelta | None = None) -> None:
        self.http_version = parsed.http_version
        self.status_code = parsed.status_code
        self.reason = parsed.reason
        self.headers = parsed.headers
        self.content = parsed.content
        self.raw = parsed.raw
        self.interim = parsed.interim
        self.trailers = parsed.trailers
        self.url = url
        self.request = request
        self.environ = environ
        self.keep_alive = keep_alive
        self.problems = problems if problems is not None else []
        self.history: list[Response] = []
        self.elapsed = elapsed if elapsed is not None else timedelta(0)

    @property
    def status(self) -> str:
        """``"200 OK"``: the status line's code and reason."""
        return f"{self.status_code} {self.reason}"

    @property
    def charset(self) -> str:
        """The Content-Type's charset parameter, else ``utf-8``."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "charset" and value:
                return value.strip().strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with :attr:`charset`."""
        return self.content.decode(self.charset, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` when it is not JSON)."""
        return _json.loads(self.content)

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies this response sets (``Set-Cookie`` name -> value; removals included as set)."""
        out: dict[str, str] = {}
        for line in self.headers.get_all("set-cookie"):
            name, sep, value = line.split(";", 1)[0].partition("=")
            if sep and name.strip():
                out[name.strip()] = value.strip()
        return out

    @property
    def is_redirect(self) -> bool:
        """A redirection status with a ``Location`` (RFC 9110 §15.4)."""
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def ok(self) -> bool:
        """True unless the status is 4xx or 5xx (as requests' ``ok``)."""
        return self.status_code < 400

    def raise_for_status(self) -> None:
        """Raise :class:`HTTPError` (carrying this response) for a 4xx or 5xx status."""
        if 400 <= self.status_code < 600:
            kind = "Client" if self.status_code < 500 else "Server"
            raise HTTPError(f"{self.status_code} {kind} Error: {self.reason} for url: {self.url}", self)

    def iter_content(self, chunk_size: int | None = 1,
                     decode_unicode: bool = False) -> Iterator[Any]:
        """The body in pieces of ``chunk_size`` bytes (None: one piece), as requests' method (the
        body is already whole: this is for code written against requests' streaming API; ``raw``
        has the wire's framing). ``decode_unicode``: str pieces, decoded with :attr:`charset`."""
        if chunk_size is not None and (not isinstance(chunk_size, int) or isinstance(chunk_size, bool)):
            raise TypeError(f"chunk_size must be an int or None, not {type(chunk_size).__name__}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
        content = self.content
        size = chunk_size or max(len(content), 1)
        pieces = (content[i:i + size] for i in range(0, len(content), size))
        if not decode_unicode:
            yield from pieces
            return
        decoder = codecs.getincrementaldecoder(self.charset)(errors="replace")
        for piece in pieces:
            text = decoder.decode(piece)
            if text:
                yield text
        rest = decoder.decode(b"", final=True)
        if rest:
            yield rest

    def iter_lines(self, chunk_size: int = 512, decode_unicode: bool = False,
                   delimiter: str | bytes | None = None) -> Iterator[Any]:
        """The body's lines without their ends (``str.splitlines`` rules, or split at
        ``delimiter``), as requests' method; ``decode_unicode``: str lines. ``chunk_size`` is
        accepted for requests' signature: the lines do not depend on it here."""
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, not {chunk_size!r}")
        body: Any = self.text if decode_unicode else self.content
        if not body:
            return
        if delimiter is None:
            yield from body.splitlines()
        else:
            if isinstance(delimiter, str) != isinstance(body, str):
                raise TypeError("delimiter must be str with decode_unicode=True, else bytes")
            yield from body.split(delimiter)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason}] {len(self.content)} bytes>"
