"""Hypothesis strategies for valid HTTP/1.1 requests, each with what the app must see."""

from __future__ import annotations

import itertools
import string
from typing import Any
from urllib.parse import unquote_to_bytes

from hypothesis import strategies as st

from ._cases import HTTPRequest

__all__ = ["header_fields", "methods", "pipelines", "requests", "targets"]

_TCHAR = "!#$%&'*+-.^`|~" + string.ascii_letters + string.digits
# Fields with a meaning for the connection or the framing, which the strategies set themselves.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection", "te", "trailer",
                       "upgrade", "expect", "keep-alive", "proxy-connection", "http2-settings"})
_COMMON = ("Accept", "Accept-Encoding", "Accept-Language", "User-Agent", "Content-Type", "Cookie",
           "Authorization", "Referer", "If-None-Match", "X-Requested-With", "X-Forwarded-For")
# field-value characters (RFC 9110 §5.5): visible ASCII, obs-text, SP and HTAB.
_VALUE_CHARS = " \t" + "".join(map(chr, (*range(0x21, 0x7F), *range(0x80, 0x100))))
# pchar (RFC 3986 §3.3) without "%" (percent-encoding is drawn separately).
_PCHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"


def methods() -> st.SearchStrategy[str]:
    """Request methods: the common ones and any other token (CONNECT excluded: a WSGI server
    answers it 501)."""
    common = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"])
    other = st.text(alphabet=_TCHAR, min_size=1, max_size=12).filter(lambda m: m != "CONNECT")
    return st.one_of(common, common, other)


@st.composite
def _segment(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.one_of(
        st.text(alphabet=_PCHAR, min_size=1, max_size=8),
        st.integers(0, 255).map(lambda b: f"%{b:02X}"),
        st.integers(0, 255).map(lambda b: f"%{b:02x}"),
    ), max_size=4))
    return "".join(pieces)


@st.composite
def targets(draw: st.DrawFn) -> tuple[str, str, str]:
    """An origin-form request-target (RFC 9112 §3.2.1) and the ``PATH_INFO`` and
    ``QUERY_STRING`` it must give: ``(target, path, query)``."""
    path = "/" + "/".join(draw(st.lists(_segment(), max_size=5)))
    query = ""
    if draw(st.booleans()):
        query = draw(st.text(alphabet=_PCHAR + "/?", max_size=24))
        query += "".join(draw(st.lists(st.integers(0, 255).map(lambda b: f"%{b:02X}"), max_size=2)))
        target = f"{path}?{query}"
    else:
        target = path
    # PEP 3333: PATH_INFO is the percent-decoded path, its bytes as latin-1.
    return target, unquote_to_bytes(path).decode("latin-1"), query


def _field_value() -> st.SearchStrategy[bytes]:
    # field-value: visible ASCII, obs-text, SP/HTAB inside but not at either end (RFC 9110 §5.5).
    return st.text(alphabet=_VALUE_CHARS, max_size=24).map(
        lambda text: text.strip(" \t").encode("latin-1"))


def _environ_key(name: str) -> str:
    key = "HTTP_" + name.upper().replace("-", "_")
    return {"HTTP_CONTENT_TYPE": "CONTENT_TYPE", "HTTP_CONTENT_LENGTH": "CONTENT_LENGTH"}.get(key, key)


def header_fields(max_size: int = 6) -> st.SearchStrategy[list[tuple[str, bytes]]]:
    """Header fields an app may receive: common names and other tokens (without ``_``, which the
    core drops, and without the fields that frame the message or manage the connection), with
    valid values; names may repeat, except Content-Type."""
    name = st.one_of(
        st.sampled_from(_COMMON),
        st.text(alphabet=_TCHAR.replace("_", ""), min_size=1, max_size=16),
    ).filter(lambda n: n.lower() not in _RESERVED)
    # Content-Type is not a list (RFC 9110 §5.3): the core refuses it twice, so it appears once.
    return st.lists(st.tuples(name, _field_value()), max_size=max_size).filter(
        lambda fields: [n.lower() for n, _ in fields].count("content-type") < 2)


@st.composite
def _chunked(draw: st.DrawFn, body: bytes) -> bytes:
    # chunked-body (RFC 9112 §7.1): sizes in either case and with leading zeros, extensions,
    # trailer fields.
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=4))) if body else []
    bounds = [0, *[c for c in cuts if c < len(body)], len(body)]
    out = bytearray()
    ext = st.sampled_from([b"", b"", b";a", b";a=b", b';name="q\\"v"', b" ;x=1", b";a=1;b"])
    for start, end in itertools.pairwise(bounds):
        if end > start:
            size = draw(st.sampled_from([b"%x", b"%X", b"0%x"])) % (end - start)
            out += size + draw(ext) + b"\r\n" + body[start:end] + b"\r\n"
    out += b"0" + draw(ext) + b"\r\n"
    if draw(st.booleans()):
        out += b"X-Trailer: t\r\n"
    return bytes(out + b"\r\n")


@st.composite
def requests(draw: st.DrawFn, *, method: st.SearchStrategy[str] | None = None,
             max_body: int = 512, close: bool = False) -> HTTPRequest:
    """A valid HTTP/1.1 request (body framed by Content-Length, chunked, or absent), with what the
    app must see. ``close`` adds ``Connection: close``."""
    verb = draw(method if method is not None else methods())
    target, path, query = draw(targets())
    host = draw(st.sampled_from(["localhost", "example.com", "127.0.0.1:8000", "[::1]", "a.b-c"]))
    fields = draw(header_fields())
    framing = draw(st.sampled_from(["none", "content-length", "chunked"]))
    body = b"" if framing == "none" else draw(st.binary(max_size=max_body))
    head = [f"{verb} {target} HTTP/1.1".encode(), b"Host: " + host.encode()]
    expected: dict[str, str] = {"HTTP_HOST": host}
    for name, value in fields:
        head.append(name.encode() + b":" + draw(st.sampled_from([b"", b" ", b"\t"])) + value
                    + draw(st.sampled_from([b"", b" "])))
        key = _environ_key(name)
        # Repeated fields are joined (RFC 9110 §5.3); Cookie with "; " (RFC 6265 §5.4).
        separator = "; " if key == "HTTP_COOKIE" else ", "
        text = value.decode("latin-1")
        expected[key] = expected[key] + separator + text if key in expected else text
    if framing == "content-length":
        head.append(b"Content-Length: %d" % len(body))
        expected["CONTENT_LENGTH"] = str(len(body))
        wire = body
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        wire = draw(_chunked(body))
    else:
        wire = b""
    if close:
        head.append(b"Connection: close")
    raw = b"\r\n".join(head) + b"\r\n\r\n" + wire
    return HTTPRequest(raw, verb, target, path, query, tuple(expected.items()), body, framing)


def pipelines(min_size: int = 2, max_size: int = 4, **options: Any) -> st.SearchStrategy[list[HTTPRequest]]:
    """Several valid requests sent back to back on one connection (RFC 9112 §9.3.2)."""
    return st.lists(requests(**options), min_size=min_size, max_size=max_size)

