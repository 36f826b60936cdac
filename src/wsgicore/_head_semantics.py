"""What a complete, well-formed request head means for the exchange: one valid Host (RFC 9112 §3.2),
at most one Content-Type (RFC 9110 §5.3) and the body's framing from Content-Length and
Transfer-Encoding (RFC 9112 §6), with the combinations that smuggle requests refused.

Works on the raw head, lower-cased, because h11 merges what we must refuse (a repeated
Content-Length). Precedence within it: 400s, then 501s, then 413 (the corpus README's order).
"""

from __future__ import annotations

import re

from . import _abnf
from ._config import Config
from ._errors import Refusal
from ._head_scanner import RequestLine

__all__ = ["check_semantics"]

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
    """Check Host, Content-Type and the body framing fields; return the body length, or None for
    chunked.

    Works on the raw head because h11 merges what we must refuse (a repeated Content-Length).
    """
    lower = head.lower()
    http11 = request_line.minor >= 1
    # RFC 9112 §3.2: 400 for no Host in HTTP/1.1, more than one, or an invalid value. The first
    # Host line is found, then a second one looked for after it: one pass over the head, not two.
    at = lower.find(b"\nhost:")
    if at >= 0:
        if lower.find(b"\nhost:", at + 6) >= 0:
            raise Refusal(400, "more than one Host field (RFC 9112 §3.2)")
        if not lower.startswith(_valid_host_line, at):
            match = _HOST_LINE.match(lower, at)
            if match is None:
                raise Refusal(400, "invalid Host value (RFC 9112 §3.2)")
            _remember_host_line(match.group())
    elif http11:
        raise Refusal(400, "HTTP/1.1 request without Host (RFC 9112 §3.2)")
    # One pass for the Content-* fields: most heads have at most one, so the two below (and this
    # one's cost) are the price of Content-Length's own count before.
    contents = lower.count(b"\ncontent-")
    if contents > 1 and lower.count(b"\ncontent-type:") > 1:
        # RFC 9110 §5.3: a field that is not a list cannot be combined, and Content-Type
        # (§8.3) decides how the body is read: joined, its values are one neither sender meant
        # (a quoted parameter may hold a comma), and a hop that took the first would read the body
        # otherwise than the app. Refused as two Host or two Content-Length are (gunicorn too).
        raise Refusal(400, "more than one Content-Type field (RFC 9110 §5.3)")
    lengths = lower.count(b"\ncontent-length:") if contents else 0
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
