"""The head gate's scanner: finds a request head in the receive buffer, line by line, and refuses the
first line that breaks a limit or the grammar (what h11 alone would let through). Why a line was
refused is ``_head_diagnosis``'s to say; what a complete head means (Host, the body's framing) is
``_head_semantics``'s.

Every verdict is taken on complete lines, in line order, so the status never depends on how the bytes
were split on arrival. An incomplete line is only judged on its length and the head size, which can
only grow, and only once its complete form is certain to get the same verdict.
Precedence (the corpus README's): request line (414 or 431 for its length or the head size, then
400/505), field lines in order (each: 431 for its length, the field count or the head size, then 400
for its line end or syntax), head semantics (400s, then 501s, then 413).
"""

from __future__ import annotations

import re

from . import _abnf
from ._config import Config
from ._errors import Refusal
from ._head_diagnosis import (
    diagnose_absolute_form,
    diagnose_field_line,
    diagnose_origin_form,
    diagnose_request_line,
)

__all__ = ["HeadScanner", "RequestLine", "check_target_form"]

_CR = 13
_BLANK_LINE_START = (13, 10)  # CR, LF
_LEADING_CRLF = re.compile(rb"(?:\r\n)+")
_LEADING_NEWLINES = re.compile(rb"(?:\r?\n)+")
_new_instance = object.__new__


class RequestLine:
    """The parts of a validated request line (RFC 9112 §3). The fast path of ``scan`` makes it
    without ``__init__``, setting the same slots: keep the two alike."""

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

    __slots__ = ("_config", "_fast_limit", "_few_fields", "_strict", "_watch", "at_eof", "fast",
                 "lf_only", "lines", "pos", "request_line", "size")

    def __init__(self, config: Config) -> None:
        self._config = config
        self._strict = not (config.allow_bare_lf or config.allow_raw_non_ascii_target)
        # A head no longer than both line limits cannot break either of them.
        self._fast_limit = min(config.max_request_line, config.max_header_field, config.max_head_bytes)
        self._few_fields = 4 * config.max_header_count
        self.reset()

    def reset(self) -> None:
        """Ready for the next head. Not needed after a head the fast path found (``fast``): that
        path leaves the state as this sets it, except ``fast`` and ``request_line``, which every
        scan that finds a head sets again."""
        self.pos = 0  # offset of the first line not yet validated
        self.lines = 0  # lines validated so far, the request line included
        self.size = 0  # bytes of those lines with their line ends
        self._watch = 0  # an incomplete line shorter than this breaks no limit (0: not known yet)
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
                        check_target_form(method, target)
                    # The rest of the state stays as reset() left it (nothing was scanned line by
                    # line: pos 0 means no line was), so the next head needs no reset() after this
                    # one, only the line watch of an earlier piece forgotten.
                    # minor is one digit ([0-9]): its value without int()'s parse.
                    # RequestLine(method, target, minor) without the class call's __init__ frame
                    # (once per request): the same three slots, set here.
                    request_line = _new_instance(RequestLine)
                    request_line.method = method
                    request_line.target = target
                    request_line.minor = minor[0] - 48
                    self.request_line = request_line
                    self.fast = True
                    self._watch = 0
                    return end + 4
        self.fast = False  # a head scanned line by line (or not complete yet)
        return self._scan_lines(buf, eof)

    def _scan_lines(self, buf: bytearray, eof: bool) -> int | None:
        config = self._config
        pos = self.pos
        while True:
            newline = buf.find(b"\n", pos)
            if newline < 0:
                self.pos = pos
                if len(buf) - pos >= self._watch:
                    self._check_incomplete_line(buf, pos)
                if eof:
                    return self._head_at_eof(buf, pos)
                return None
            crlf = newline > pos and buf[newline - 1] == _CR
            line = bytes(buf[pos : newline - 1 if crlf else newline])
            pos = newline + 1
            if self.lines == 0:
                self._check_limits(len(line), len(line) + (2 if crlf else 1), complete=True)
                if not crlf:
                    if not config.allow_bare_lf:
                        raise Refusal(400, "bare LF line end (RFC 9112 §2.2 requires CRLF)")
                    self.lf_only = True
                self.request_line = self._check_request_line(line)
                self.size = len(line) + (2 if crlf else 1)
                self.lines = 1
                self._watch = 0
                continue
            if not line:
                self._check_line_end(crlf)
                self.pos = pos
                return pos
            self._check_field_line(line, crlf)

    def _check_incomplete_line(self, buf: bytearray, pos: int) -> None:
        """Judge a line whose end has not arrived, only where its verdict is already certain.

        Its length can only grow: the line has at least all but its last byte (which may be its
        CR), and adds at least one byte more than it has now to the head. So a line already too
        long for its own limit or for what is left of ``max_head_bytes`` is refused at once, with
        the verdict its complete form would get (see ``_check_limits``), instead of waiting for a
        line end that a peer need never send. A lone CR may still become the blank line that ends
        the head, which is not a line of its own: it is never judged.
        """
        length = len(buf) - pos
        if length > 1 or (length == 1 and buf[pos] != _CR):
            self._check_limits(length - 1, length + 1, complete=False)
        # Nothing is certain before the line reaches its own limit + 2 bytes (its CR may be the
        # last) or what is left of the head: until then, more bytes of it need no look.
        config = self._config
        if self.lines == 0:
            self._watch = min(config.max_request_line + 2, config.max_head_bytes)
        elif self.lines <= config.max_header_count:
            self._watch = min(config.max_header_field + 2, config.max_head_bytes - self.size)
        else:
            self._watch = config.max_header_field + 2

    def _check_limits(self, length: int, added: int, *, complete: bool) -> None:
        """The first checks of every line: its own length without the line end (414 for the
        request line, RFC 9110 §15.5.15; 431 for a field line, RFC 6585 §5), the field count (431)
        and the head size with the ``added`` bytes (431). For an incomplete line both numbers are
        lower bounds, and the count is left to the complete line.

        When a line breaks both its own limit and the head size, the reason is that of the limit
        the line's bytes cross first, as they would arriving one at a time: the own limit is
        certain from ``limit + 2`` bytes of an incomplete line (its CR may be the last), the head
        size from ``max_head_bytes - size``. Ties go to the own limit. So the verdict and its reason
        never depend on how the bytes were split.
        """
        config = self._config
        head_room = config.max_head_bytes - self.size
        if self.lines == 0:
            own_limit = config.max_request_line
            counted = True
        else:
            own_limit = config.max_header_field
            # A line past the field count is refused for that when complete (the count comes
            # before the head size), so its head size is not judged before then.
            counted = self.lines <= config.max_header_count
        over = counted and added > head_room
        if length > own_limit and not (over and head_room < own_limit + 2):
            if self.lines == 0:
                raise Refusal(414, "request line longer than max_request_line")
            raise Refusal(431, "field line longer than max_header_field")
        if complete and not counted:
            raise Refusal(431, "more field lines than max_header_count")
        if over:
            raise Refusal(431, "request head larger than max_head_bytes")

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
        self._check_limits(len(buf) - pos, len(buf) - pos, complete=True)
        self.request_line = self._check_request_line(bytes(buf[pos:]))
        self.at_eof = True
        self.pos = len(buf)
        return len(buf)

    def _check_request_line(self, line: bytes) -> RequestLine:
        """The request line's syntax, version and target form (its length is checked first)."""
        config = self._config
        pattern = _abnf.REQUEST_LINE_LENIENT if config.allow_raw_non_ascii_target else _abnf.REQUEST_LINE
        match = pattern.fullmatch(line)
        if match is None:
            raise Refusal(400, diagnose_request_line(line))
        if match["major"] != b"1":
            # RFC 9110 §15.6.6; this is also how the HTTP/2 preface "PRI * HTTP/2.0" is answered.
            raise Refusal(505, "HTTP major version other than 1")
        method = match["method"]
        target = match["target"]
        check_target_form(method, target)
        return RequestLine(method, target, int(match["minor"]))

    def _check_field_line(self, line: bytes, crlf: bool) -> None:
        added = len(line) + (2 if crlf else 1)
        self._check_limits(len(line), added, complete=True)
        self.lines += 1
        self.size += added
        self._watch = 0
        self._check_line_end(crlf)
        if _abnf.FIELD_LINE.fullmatch(line) is None:
            raise Refusal(400, diagnose_field_line(line))


def check_target_form(method: bytes, target: bytes) -> None:
    """RFC 9112 §3.2: origin-form, absolute-form, asterisk-form (OPTIONS), authority-form (CONNECT)."""
    if method == b"CONNECT":
        return  # refused as a whole with 501 by check_semantics
    first = target[:1]
    if first == b"/":
        if _abnf.ORIGIN_FORM.fullmatch(target) is None:
            raise Refusal(400, diagnose_origin_form(target))
    elif target == b"*":
        if method != b"OPTIONS":
            raise Refusal(400, "asterisk-form request-target with a method other than OPTIONS")
    elif _abnf.ABSOLUTE_FORM.fullmatch(target) is None:
        raise Refusal(400, diagnose_absolute_form(target))


