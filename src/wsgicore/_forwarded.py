"""The syntax of forwarding header values: RFC 7239 ``Forwarded`` and the ``X-Forwarded-*`` family.

Pure functions over the environ's text (latin-1 decoded). Each returns the parsed value, or ``None``
when the value is malformed; what a malformed value means is decided by ``_proxy``.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

from . import _abnf

__all__ = [
    "Element",
    "Node",
    "parse_forwarded",
    "parse_host",
    "parse_node",
    "parse_port",
    "parse_prefix",
    "split_list",
]

#: One ``Forwarded`` element: its text as received (for the environ) and its parameters, names in
#: lower case, quoted values unescaped.
Element = tuple[str, dict[str, str]]
#: A node (RFC 7239 §6): an IP address or ``None`` ("unknown", an obfuscated identifier), and a
#: numeric port or ``None`` (absent or obfuscated).
Node = tuple[str | None, str | None]

_TOKEN = _abnf.TOKEN.decode("ascii")
# RFC 7239 §4: forwarded-pair = token "=" value; value = token / quoted-string (RFC 9110 §5.6.4).
# The separators "," (between elements) and ";" (between pairs) may carry OWS around them: RFC 9110
# §5.6.1 allows it for "," and senders put it after ";" too.
_ITEM = re.compile(
    r"[ \t]*(?:(?P<sep>[,;])|(?P<name>" + _TOKEN + r")=(?:(?P<token>" + _TOKEN + r")|"
    r'"(?P<quoted>(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"))[ \t]*'
)
_QUOTED_PAIR = re.compile(r"\\(.)")
# RFC 7239 §6: node = nodename [ ":" node-port ]; nodename = IPv4address / "[" IPv6address "]" /
# "unknown" / obfnode; obfnode and obfport = "_" 1*( ALPHA / DIGIT / "." / "_" / "-" ).
_OBF = r"_[A-Za-z0-9._-]+"
_NODE = re.compile(
    r"(?:(?P<v4>[0-9.]+)|\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<hidden>(?i:unknown)|" + _OBF + r"))"
    r"(?::(?:(?P<port>[0-9]{1,5})|" + _OBF + r"))?"
)
# RFC 3986 §3.3: segment = *pchar; pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
_PREFIX = re.compile(r"(?:/(?:%[0-9A-Fa-f]{2}|[-A-Za-z0-9._~!$&'()*+,;=:@])*)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def split_list(value: str) -> list[str]:
    """The elements of a comma-separated list; empty ones are dropped (RFC 9110 §5.6.1)."""
    return [item for item in (part.strip() for part in value.split(",")) if item]


def parse_forwarded(value: str) -> list[Element] | None:
    """The elements of a ``Forwarded`` value (RFC 7239 §4), oldest first; ``None`` if malformed
    (a syntax error, or a parameter repeated within one element)."""
    elements: list[Element] = []
    params: dict[str, str] = {}
    start = pos = 0
    after_pair = False
    while pos < len(value):
        match = _ITEM.match(value, pos)
        if match is None:
            return None
        pos = match.end()
        separator = match["sep"]
        if separator is None:
            name = match["name"].lower()
            if after_pair or name in params:  # pairs need a ";" between them; RFC 7239 §4: once each
                return None
            quoted = match["quoted"]
            params[name] = match["token"] if quoted is None else _QUOTED_PAIR.sub(r"\1", quoted)
            after_pair = True
            continue
        after_pair = False
        if separator == ",":
            if params:  # an element with no pair is an empty list element, not a hop
                elements.append((value[start : match.start()].strip(), params))
            params = {}
            start = pos
    if params:
        elements.append((value[start:].strip(), params))
    return elements


def parse_node(value: str) -> Node | None:
    """An RFC 7239 §6 node; as the ``X-Forwarded-For`` convention also allows, a bare IPv6 address
    (without a zone: "%" would let arbitrary text into ``REMOTE_ADDR``)."""
    if "%" not in value:
        try:
            return str(ipaddress.ip_address(value)), None
        except ValueError:
            pass
    match = _NODE.fullmatch(value)
    if match is None:
        return None
    address: str | None = None
    if match["hidden"] is None:
        try:
            if match["v4"] is not None:
                address = str(ipaddress.IPv4Address(match["v4"]))
            else:
                address = str(ipaddress.IPv6Address(match["v6"]))
        except ValueError:
            return None
    port = match["port"]
    if port is not None:
        port = parse_port(port)
        if port is None:
            return None
    return address, port


def parse_port(value: str) -> str | None:
    """A port number 1-65535 in its plain decimal form."""
    if not value.isascii() or not value.isdigit() or len(value) > 5:
        return None
    number = int(value)
    return str(number) if 0 < number <= 65535 else None


def parse_host(value: str) -> tuple[str, str | None] | None:
    """A non-empty ``Host`` value (RFC 9110 §7.2: uri-host [":" port]) split into name and port."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if _abnf.HOST_VALUE.fullmatch(raw) is None:
        return None
    end = value.index("]") + 1 if value.startswith("[") else len(value.partition(":")[0])
    name, port_text = value[:end], value[end + 1 :]
    if not name:
        return None
    if not port_text:  # RFC 3986 §3.2.3: an empty port is the scheme's default
        return name, None
    port = parse_port(port_text)
    return None if port is None else (name, port)


def parse_prefix(value: str) -> str | None:
    """A mount prefix as ``SCRIPT_NAME``: an absolute path, percent-decoded as PEP 3333 wants
    (bytes as latin-1), with no trailing "/" ("" for "/"). Refused: empty, "." or ".." segments
    (before or after decoding: a prefix must not climb out of the mount), control characters and
    backslashes (which some back ends treat as "/")."""
    if value == "/":
        return ""
    if value.endswith("/"):
        value = value[:-1]
    if _PREFIX.fullmatch(value) is None:
        return None
    decoded = unquote(value, encoding="latin-1")
    if _CONTROL.search(decoded) is not None:
        return None
    if any(segment in ("", ".", "..") for segment in decoded.split("/")[1:]):
        return None
    return decoded
