"""The choice of head parser: a head the gate's fast path vouched for is only split into fields;
any other is parsed and validated by h11 first (one fresh ``h11.Connection`` per head). Both take
their field list from the one splitter, ``_abnf.FIELDS`` (or, for a strict head, a split that gives the
same pairs), so the environ never depends on which ran.

Why two: h11's parse alone costs most of wsgiref's whole in-memory cycle (docs/performance.md), so heads
that arrive whole and match ``_abnf.STRICT_HEAD`` skip it; heads in pieces, long heads and the legacy
profile get h11's independent check. The split-invariance tests compare the two paths on every input.
"""

from __future__ import annotations

import re

import h11

from . import _abnf
from ._errors import Refusal
from ._head_scanner import HeadScanner, RequestLine

__all__ = ["request_fields", "split_strict_head"]

_NON_ASCII = re.compile(rb"[\x80-\xff]")


def request_fields(
    head: bytes, scanner: HeadScanner, request_line: RequestLine, allow_raw_non_ascii_target: bool
) -> list[tuple[bytes, bytes]]:
    """The (name, value) field lines of a complete, gate-checked head, values without OWS."""
    if scanner.fast:
        return split_strict_head(head)
    _validate_with_h11(head, request_line, scanner.at_eof, allow_raw_non_ascii_target)
    # (h11's own list would lower-case Transfer-Encoding's value, for one.)
    return _abnf.FIELDS.findall(head)


def split_strict_head(head: bytes) -> list[tuple[bytes, bytes]]:
    """``_abnf.FIELDS.findall(head)`` for a head that matched ``_abnf.STRICT_HEAD``, at half its
    cost: every line ends in CRLF and every field line is ``token ":" value`` with no CR or LF in
    the value, so splitting at CRLF and the first colon and stripping SP/HTAB gives the same pairs
    (the split-invariance tests compare the two on every input)."""
    fields = []
    for line in head.split(b"\r\n")[1:-2]:  # the request line; the blank line and what follows it
        name, _, value = line.partition(b":")
        fields.append((name, value.strip(b" \t")))
    return fields


def _validate_with_h11(
    head: bytes, request_line: RequestLine, at_eof: bool, allow_raw_non_ascii_target: bool
) -> None:
    if at_eof:
        head += b"\r\n\r\n"  # legacy: a request line ended by EOF
    target = request_line.target
    if allow_raw_non_ascii_target and _NON_ASCII.search(target) is not None:
        # Legacy: h11 takes only ASCII targets; it sees the %-encoded form, the environ the raw.
        quoted = _NON_ASCII.sub(lambda match: b"%%%02X" % match[0][0], target)
        start = len(request_line.method) + 1
        head = head[:start] + quoted + head[start + len(target) :]
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=len(head) + 1)
    parser.receive_data(head)
    try:
        event = parser.next_event()
    except h11.RemoteProtocolError as exc:
        raise Refusal(exc.error_status_hint, f"invalid request head: {exc}") from None
    if type(event) is not h11.Request:  # a complete head always gives a Request
        raise Refusal(400, "invalid request head")
