"""Why a request line, a field line or a request-target was refused: the reason text of a 400.

The scanner decides *that* a line is refused with the grammar of ``_abnf``; these functions only
say *why*, in our own words (a name and a byte's code, never raw input), reading the same
definitions so the reason never disagrees with the verdict. They run once per refused head.
"""

from __future__ import annotations

from . import _abnf

__all__ = ["diagnose_absolute_form", "diagnose_field_line", "diagnose_origin_form",
           "diagnose_request_line"]


def _describe(byte: int, position: int) -> str:
    # Our own words for one byte of a fixed refused set: a name and its code, never raw input.
    return f"{chr(byte)!r} (0x{byte:02X}) at offset {position} of the target"


def diagnose_origin_form(target: bytes, start: int = 0) -> str:
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
        elif byte in (_abnf.QUERY_REFUSED if in_query else _abnf.PATH_REFUSED):
            part = "query" if in_query else "path"
            return (f"request-target has a raw {_describe(byte, position)} in its {part}; "
                    f"it must be percent-encoded (RFC 3986 §2.1)")
    return "request-target is not origin-form (RFC 9112 §3.2.1)"


def diagnose_absolute_form(target: bytes) -> str:
    scheme, sep, rest = target.partition(b"://")
    if not sep or _abnf.SCHEME.fullmatch(scheme) is None:
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
    return diagnose_origin_form(target, len(scheme) + 3 + authority_end)


def diagnose_request_line(line: bytes) -> str:
    if b"\r" in line:
        return "bare CR in the request line"
    parts = line.split(b" ")
    if len(parts) != 3:
        return "request line is not 'method SP target SP version'"
    method, target, version = parts
    if _abnf.TOKEN_BYTES.fullmatch(method) is None:
        return "method is not a token (RFC 9110 §9.1)"
    if _abnf.HTTP_VERSION.fullmatch(version) is None:
        return "malformed HTTP version"
    bad = _abnf.NOT_VCHAR.search(target)
    if bad is not None:
        return (f"request-target contains byte 0x{target[bad.start()]:02X} at position "
                f"{len(method) + 1 + bad.start()} of the request line: only visible ASCII is allowed "
                f"(RFC 9112 §3.2; percent-encode it)")
    return "malformed request line (RFC 9112 §3)"


def diagnose_field_line(line: bytes) -> str:
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
    control = _abnf.FORBIDDEN_IN_FIELD_VALUE.search(line, len(name) + 1)
    if control is not None:
        return (f"control character 0x{line[control.start()]:02X} at position {control.start()} of "
                f"a field line (RFC 9110 §5.5)")
    return "invalid field line (RFC 9112 §5)"
