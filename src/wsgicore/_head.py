"""The head gate: finds a request head in the receive buffer and enforces what h11 alone lets through.

Every verdict is taken on complete lines, in line order, so the status never depends on how the bytes
were split on arrival. An incomplete line is only judged on its length, which can only grow.
Precedence (the corpus README's): request line (414, then 400/505), field lines in order (each: 431
for its length, the field count or the head size, then 400 for its line end or syntax), head semantics
(400s, then 501s, then 413).
"""

from __future__ import annotations

import re

from . import _abnf
from ._config import Config
from ._errors import Refusal

__all__ = ["HeadScanner", "RequestLine", "check_semantics"]

_CR = 13
_BLANK_LINE_START = (13, 10)  # CR, LF
_LEADING_CRLF = re.compile(rb"(?:\r\n)+")
_LEADING_NEWLINES = re.compile(rb"(?:\r?\n)+")
# One field's value inside the lower-cased head: the field lines have already been validated.
_FIELD_VALUES = {
    # The line end is a lookahead: the next field line's match needs that "\n" as its start.
    name: re.compile(rb"\n" + name + rb":" + _abnf.OWS_STRIPPED_VALUE)
    for name in (b"host", b"content-length", b"transfer-encoding")
}
# The one Host field line of a lower-cased, validated head, matched where it starts: "host:" OWS
# uri-host [":" port] OWS (RFC 9112 §3.2). The leading OWS is taken whole, never given back: with an
# empty host the two OWS runs could otherwise split k blanks k ways (O(k**2)); the host has no SP or
# HTAB. A lookahead's capture matched again is that atomic run (a possessive "*+" needs Python 3.11).
_HOST_LINE = re.compile(rb"\nhost:(?=([ \t]*))\1(?:" + _abnf.HOST_VALUE.pattern + rb")[ \t]*\r?\n")
# The last Host line (from "\nhost:" to its line end, lower case) that _HOST_LINE matched: a client
# repeats its Host on every request, and the same bytes need no second match. Process-wide and safe
# so: it only ever holds a line that matched, a racing write stores another such line, and it is one
# line of a head already within max_head_bytes.
_valid_host_line = b"\nhost:\r\n"  # an empty Host is valid (RFC 9112 §3.2)
_MAX_CONTENT_LENGTH_DIGITS = 18  # below 2**63; int() of a longer digit string is pointless work


class RequestLine:
    """The parts of a validated request line (RFC 9112 §3)."""

    __slots__ = ("method", "minor", "target")

    def __init__(self, method: bytes, target: bytes, minor: int) -> None:
        self.method = method
        self.target = target
        self.minor = minor


class HeadScanner:
    """Finds and validates one request head at the front of a buffer, incrementally.

    ``scan`` returns the head's length once its blank line has arrived, ``None`` while more bytes are
    needed, and raises :class:`Refusal` at the first fault. It remembers how far it has validated,
    so bytes fed one at a time are scanned once. ``reset`` prepares it for the next request.
    """

    __slots__ = ("_config", "_fast_limit", "_few_fields", "_strict", "at_eof", "fast", "lf_only",
                 "lines", "pos", "request_line", "size")

    def __init__(self, config: Config) -> None:
        self._config = config
        self._strict = not (config.allow_bare_lf or config.allow_raw_non_ascii_target)
        # A head no longer than both line limits cannot break either of them.
        self._fast_limit = min(config.max_request_line, config.max_header_field, config.max_head_bytes)
        self._few_fields = 4 * config.max_header_count
        self.reset()

    def reset(self) -> None:
        self.pos = 0  # offset of the first line not yet validated
        self.lines = 0  # lines validated so far, the request line included
        self.size = 0  # bytes of those lines with their line ends
        self.lf_only = False  # legacy mode: the request line ended in a bare LF
        self.at_eof = False  # legacy mode: the head was a request line ended by EOF
        self.fast = False  # the whole head matched STRICT_HEAD in one piece
        self.request_line: RequestLine | None = None

    def skip_blank_lines(self, buf: bytearray) -> None:
        """Drop empty lines before a request line (RFC 9112 §2.2: a server SHOULD ignore them)."""
        if self.pos == 0 and buf and buf[0] in _BLANK_LINE_START:
            pattern = _LEADING_NEWLINES if self._config.allow_bare_lf else _LEADING_CRLF
            match = pattern.match(buf)
            if match is not None:
                del buf[: match.end()]

    def scan(self, buf: bytearray, eof: bool) -> int | None:
        if self.pos == 0 and self._strict:
            end = buf.find(b"\r\n\r\n")
            if end >= 0 and end + 2 <= self._fast_limit:
                match = _abnf.STRICT_HEAD.fullmatch(buf, 0, end + 4)
                # A field line takes at least 4 bytes ("a:" CRLF): a short head cannot have too many.
                if match is not None and (end <= self._few_fields
                                          or buf.count(b"\r\n", 0, end) <= self._config.max_header_count):
                    # The match is REQUEST_LINE's with major version 1, and the head is no longer
                    # than max_request_line: only the form of a target other than origin-form
                    # (which the match checked) is left to check.
                    method, target, other_target, minor = match.groups()  # its only groups
                    if target is None:
                        target = other_target
                        _check_target_form(method, target)
                    self.request_line = RequestLine(method, target, int(minor))
                    self.pos = end + 4
                    self.fast = True
                    return end + 4
        return self._scan_lines(buf, eof)

    def _scan_lines(self, buf: bytearray, eof: bool) -> int | None:
        config = self._config
        pos = self.pos
        while True:
            newline = buf.find(b"\n", pos)
            if newline < 0:
                self.pos = pos
                self._check_incomplete_line(len(buf) - pos)
                if eof:
                    return self._head_at_eof(buf, pos)
                return None
            crlf = newline > pos and buf[newline - 1] == _CR
            line = bytes(buf[pos : newline - 1 if crlf else newline])
            pos = newline + 1
            if self.lines == 0:
                if len(line) > config.max_request_line:
                    raise Refusal(414, "request line longer than max_request_line")
                if not crlf:
                    if not config.allow_bare_lf:
                        raise Refusal(400, "bare LF line end (RFC 9112 §2.2 requires CRLF)")
                    self.lf_only = True
                self.request_line = self._check_request_line(line)
                self.size = len(line) + (2 if crlf else 1)
                self.lines = 1
                continue
            if not line:
                self._check_line_end(crlf)
                self.pos = pos
                return pos
            self._check_field_line(line, crlf)

    def _check_incomplete_line(self, length: int) -> None:
        """Judge a line whose end has not arrived, only where its verdict is already certain.

        The complete line's checks run in a fixed order (length, then count and head size, then
        syntax), so an incomplete line may only fail the first of them: whether it will also break
        the head size depends on a length not known yet. Buffering stays bounded all the same:
        complete lines by ``max_head_bytes``, this one by its line limit.
        """
        # The line may still end in CRLF, so its CR may already be here.
        length -= 1
        if self.lines == 0:
            if length > self._config.max_request_line:
                raise Refusal(414, "request line longer than max_request_line")
        elif length > self._config.max_header_field:
            raise Refusal(431, "field line longer than max_header_field")

    def _check_line_end(self, crlf: bool) -> None:
        # RFC 9112 §2.2: CRLF only (the legacy profile: bare LF, the same in every line of a head).
        if crlf == self.lf_only:
            if crlf:
                raise Refusal(400, "CRLF in a head whose request line ended in a bare LF")
            raise Refusal(400, "bare LF line end (RFC 9112 §2.2 requires CRLF)")

    def _head_at_eof(self, buf: bytearray, pos: int) -> int:
        # Legacy (wsgiref reads the request line with readline(), which accepts EOF as its end).
        if not self._config.allow_request_line_at_eof or self.lines != 0 or len(buf) == pos:
            raise Refusal(None, "connection closed before the request head was complete")
        self.request_line = self._check_request_line(bytes(buf[pos:]))
        self.at_eof = True
        self.pos = len(buf)
        return len(buf)

    def _check_request_line(self, line: bytes) -> RequestLine:
        config = self._config
        if len(line) > config.max_request_line:
            raise Refusal(414, "request line longer than max_request_line")
        pattern = _abnf.REQUEST_LINE_LENIENT if config.allow_raw_non_ascii_target else _abnf.REQUEST_LINE
        match = pattern.fullmatch(line)
        if match is None:
            raise Refusal(400, _diagnose_request_line(line))
        if match["major"] != b"1":
            # RFC 9110 §15.6.6; this is also how the HTTP/2 preface "PRI * HTTP/2.0" is answered.
            raise Refusal(505, "HTTP major version other than 1")
        method = match["method"]
        target = match["target"]
        _check_target_form(method, target)
        return RequestLine(method, target, int(match["minor"]))

    def _check_field_line(self, line: bytes, crlf: bool) -> None:
        config = self._config
        if len(line) > config.max_header_field:
            raise Refusal(431, "field line longer than max_header_field")
        self.lines += 1
        if self.lines - 1 > config.max_header_count:
            raise Refusal(431, "more field lines than max_header_count")
        self.size += len(line) + (2 if crlf else 1)
        if self.size > config.max_head_bytes:
            raise Refusal(431, "request head larger than max_head_bytes")
        self._check_line_end(crlf)
        if _abnf.FIELD_LINE.fullmatch(line) is None:
            raise Refusal(400, _diagnose_field_line(line))


def _check_target_form(method: bytes, target: bytes) -> None:
    """RFC 9112 §3.2: origin-form, absolute-form, asterisk-form (OPTIONS), authority-form (CONNECT)."""
    if method == b"CONNECT":
        return  # refused as a whole with 501 by check_semantics
    first = target[:1]
    if first == b"/":
        if _abnf.ORIGIN_FORM.fullmatch(target) is None:
            raise Refusal(400, _diagnose_path_and_query(target, 0))
    elif target == b"*":
        if method != b"OPTIONS":
            raise Refusal(400, "asterisk-form request-target with a method other than OPTIONS")
    elif _abnf.ABSOLUTE_FORM.fullmatch(target) is None:
        raise Refusal(400, _diagnose_absolute_form(target))


# The characters a browser percent-encodes in each component (see _abnf.ORIGIN_FORM), by name.
_PATH_REFUSED = frozenset(b'"<>`{}\\')
_QUERY_REFUSED = frozenset(b'"<>')


def _describe(byte: int, position: int) -> str:
    # Our own words for one byte of a fixed refused set: a name and its code, never raw input.
    return f"{chr(byte)!r} (0x{byte:02X}) at offset {position} of the target"


def _diagnose_path_and_query(target: bytes, start: int) -> str:
    """Name the first byte of ``target[start:]`` (a path, then an optional query) that origin-form
    refuses, and why."""
    in_query = False
    for position in range(start, len(target)):
        byte = target[position]
        if byte == 0x23:  # "#"
            return (f"request-target contains a fragment: '#' at offset {position} "
                    f"(RFC 9112 §3.2.1: a client never sends one)")
        if byte == 0x3F:  # "?"
            in_query = True
        elif byte in (_QUERY_REFUSED if in_query else _PATH_REFUSED):
            part = "query" if in_query else "path"
            return (f"request-target has a raw {_describe(byte, position)} in its {part}; "
                    f"it must be percent-encoded (RFC 3986 §2.1)")
    return "request-target is not origin-form (RFC 9112 §3.2.1)"


def _diagnose_absolute_form(target: bytes) -> str:
    scheme, sep, rest = target.partition(b"://")
    if not sep or re.fullmatch(rb"[A-Za-z][-+.0-9A-Za-z]*", scheme) is None:
        return ("request-target is not origin-form ('/...'), absolute-form ('http://...'), or '*' "
                "with OPTIONS (RFC 9112 §3.2)")
    if scheme.lower() not in (b"http", b"https"):
        return "absolute-form request-target with a scheme other than http or https (RFC 9112 §3.2.2)"
    authority_end = len(rest)
    for stop in (b"/", b"?", b"#"):
        found = rest.find(stop)
        if 0 <= found < authority_end:
            authority_end = found
    authority = rest[:authority_end]
    if b"@" in authority:
        return "userinfo in the request-target's authority (RFC 9110 §4.2.4)"
    if not authority or authority.startswith(b":"):
        return "absolute-form request-target without a host (RFC 9112 §3.2.2)"
    if _abnf.HOST_VALUE.fullmatch(authority) is None:
        return "invalid host or port in the request-target's authority (RFC 3986 §3.2.2)"
    return _diagnose_path_and_query(target, len(scheme) + 3 + authority_end)


def _diagnose_request_line(line: bytes) -> str:
    if b"\r" in line:
        return "bare CR in the request line"
    parts = line.split(b" ")
    if len(parts) != 3:
        return "request line is not 'method SP target SP version'"
    method, _target, version = parts
    if _abnf.TOKEN_BYTES.fullmatch(method) is None:
        return "method is not a token (RFC 9110 §9.1)"
    if re.fullmatch(rb"HTTP/[0-9]\.[0-9]", version) is None:
        return "malformed HTTP version"
    for position, byte in enumerate(_target, len(method) + 1):
        if not 0x21 <= byte <= 0x7E:
            return (f"request-target contains byte 0x{byte:02X} at position {position} of the request "
                    f"line: only visible ASCII is allowed (RFC 9112 §3.2; percent-encode it)")
    return "malformed request line (RFC 9112 §3)"


def _diagnose_field_line(line: bytes) -> str:
    if line[:1] in (b" ", b"\t"):
        return "obs-fold line folding (RFC 9112 §5.2)"
    if b"\r" in line:
        return "bare CR in a field line"
    name, colon, _ = line.partition(b":")
    if not colon:
        return "field line without a colon"
    if _abnf.TOKEN_BYTES.fullmatch(name) is None:
        if not name:
            return "empty field name (RFC 9110 §5.1)"
        if name[-1:] in (b" ", b"\t"):
            return "whitespace between a field name and its colon (RFC 9112 §5.1)"
        token_prefix = _abnf.TOKEN_BYTES.match(name)
        bad = token_prefix.end() if token_prefix is not None else 0
        return (f"field name is not a token: byte 0x{name[bad]:02X} at position {bad} of the line "
                f"(RFC 9110 §5.1)")
    value_start = len(name) + 1
    for position in range(value_start, len(line)):
        byte = line[position]
        if (byte < 0x20 and byte != 0x09) or byte == 0x7F:
            return (f"control character 0x{byte:02X} at position {position} of a field line "
                    f"(RFC 9110 §5.5)")
    return "invalid field line (RFC 9112 §5)"


def _values(lower_head: bytes, name: bytes) -> list[bytes]:
    return _FIELD_VALUES[name].findall(lower_head)


def _only_value(lower_head: bytes, name: bytes) -> bytes:
    """The value of a field the head has exactly once (counted by the caller): matched where it
    starts, instead of searched for from the head's start."""
    match = _FIELD_VALUES[name].match(lower_head, lower_head.find(b"\n" + name + b":"))
    if match is None:  # not reached: the field lines were validated
        raise Refusal(400, f"invalid {name.decode()} field")
    return match[1]


def _remember_host_line(line: bytes) -> None:
    global _valid_host_line
    _valid_host_line = line


def check_semantics(head: bytes, request_line: RequestLine, config: Config) -> int | None:
    """Check Host and the body framing fields; return the body length, or None for chunked.

    Works on the raw head because h11 merges what we must refuse (a repeated Content-Length).
    """
    lower = head.lower()
    http11 = request_line.minor >= 1
    hosts = lower.count(b"\nhost:")
    # RFC 9112 §3.2: 400 for no Host in HTTP/1.1, more than one, or an invalid value.
    if hosts == 0 and http11:
        raise Refusal(400, "HTTP/1.1 request without Host (RFC 9112 §3.2)")
    if hosts > 1:
        raise Refusal(400, "more than one Host field (RFC 9112 §3.2)")
    if hosts == 1:
        at = lower.find(b"\nhost:")
        if not lower.startswith(_valid_host_line, at):
            match = _HOST_LINE.match(lower, at)
            if match is None:
                raise Refusal(400, "invalid Host value (RFC 9112 §3.2)")
            _remember_host_line(match.group())
    lengths = lower.count(b"\ncontent-length:")
    codings = lower.count(b"\ntransfer-encoding:")
    length = 0
    if lengths:
        # RFC 9112 §6.3: a repeated or list-valued Content-Length is a smuggling vector; refuse it.
        if lengths > 1:
            raise Refusal(400, "more than one Content-Length field")
        value = _only_value(lower, b"content-length")
        if _abnf.CONTENT_LENGTH.fullmatch(value) is None:
            raise Refusal(400, "invalid Content-Length value")
        if len(value) > _MAX_CONTENT_LENGTH_DIGITS:
            raise Refusal(413 if config.max_body_bytes is not None else 400,
                            "Content-Length out of range")
        length = int(value)
        if codings:
            raise Refusal(400, "Content-Length together with Transfer-Encoding (RFC 9112 §6.1)")
    if codings and not http11:
        raise Refusal(400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)")
    if codings and b",".join(_values(lower, b"transfer-encoding")).strip(b" \t") != b"chunked":
        # RFC 9112 §6.1: we implement only chunked; any other coding list is not implemented.
        raise Refusal(501, "transfer coding other than a single 'chunked'")
    if request_line.method == b"CONNECT":
        raise Refusal(501, "CONNECT is not supported by a WSGI server")
    if lengths and config.max_body_bytes is not None and length > config.max_body_bytes:
        raise Refusal(413, "Content-Length larger than max_body_bytes")
    return None if codings else length
