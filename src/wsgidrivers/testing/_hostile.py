"""Hypothesis strategies for hostile requests: one defect the core refuses, and the status it must
answer, followed by a request that must never be parsed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hypothesis import strategies as st

from wsgicore import Config

from ._cases import SMUGGLED as _SMUGGLED
from ._cases import HostileRequest

__all__ = ["HOSTILE_FAMILIES", "hostile_requests"]

_BASE_HEAD = b"POST /h HTTP/1.1\r\nHost: h\r\n"


def _fixed(family: str, status: int, *raws: bytes, body_level: bool = False
           ) -> st.SearchStrategy[HostileRequest]:
    return st.sampled_from(raws).map(lambda raw: HostileRequest(raw + _SMUGGLED, family, status,
                                                                body_level))


@st.composite
def _oversized(draw: st.DrawFn, config: Config) -> HostileRequest:
    kind = draw(st.sampled_from(["request-line", "field", "count", "head"]))
    extra = draw(st.integers(1, 64))
    if kind == "request-line":
        # The request line without its CRLF is longer than max_request_line: 414.
        filler = config.max_request_line - len(b"GET / HTTP/1.1") + extra
        raw = b"GET /" + b"a" * filler + b" HTTP/1.1\r\nHost: h\r\n\r\n"
        return HostileRequest(raw + _SMUGGLED, "over-limit", 414, detail="max_request_line")
    if kind == "field":
        raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * (
            config.max_header_field - len(b"X-Big: ") + extra) + b"\r\n\r\n"
        return HostileRequest(raw + _SMUGGLED, "over-limit", 431, detail="max_header_field")
    if kind == "count":
        lines = b"X: v\r\n" * (config.max_header_count - 1 + extra)
        raw = b"GET / HTTP/1.1\r\nHost: h\r\n" + lines + b"\r\n"
        return HostileRequest(raw + _SMUGGLED, "over-limit", 431, detail="max_header_count")
    line = b"X: " + b"v" * min(config.max_header_field - 3, 4000) + b"\r\n"
    count = config.max_head_bytes // len(line) + 1
    if count + 1 > config.max_header_count:
        line = b"X: " + b"v" * (config.max_head_bytes // (config.max_header_count - 2)) + b"\r\n"
        count = config.max_header_count - 2
    raw = b"GET / HTTP/1.1\r\nHost: h\r\n" + line * count + b"\r\n"
    return HostileRequest(raw + _SMUGGLED, "over-limit", 431, detail="max_head_bytes")


def _families(config: Config) -> dict[str, st.SearchStrategy[HostileRequest]]:
    te = b"Transfer-Encoding: chunked\r\n"
    families: dict[str, st.SearchStrategy[HostileRequest]] = {
        # Request smuggling (RFC 9112 §6.1, §6.3): the framing must be unambiguous.
        "cl-and-te": _fixed("cl-and-te", 400,
                            _BASE_HEAD + b"Content-Length: 5\r\n" + te + b"\r\n0\r\n\r\n",
                            _BASE_HEAD + te + b"Content-Length: 0\r\n\r\n0\r\n\r\n"),
        "bad-content-length": st.sampled_from(
            [b"+5", b"-1", b"0x5", b"5 5", b"", b"1_0", b"5, 5", b"5\r\nContent-Length: 5", b"\xb5"]
        ).map(lambda v: HostileRequest(_BASE_HEAD + b"Content-Length: " + v + b"\r\n\r\nhello"
                                       + _SMUGGLED, "bad-content-length", 400)),
        "unsupported-te": st.sampled_from(
            [b"gzip", b"chunked, gzip", b"gzip, chunked", b"identity", b"chunked,",
             b"chunked\r\nTransfer-Encoding: chunked"]
        ).map(lambda v: HostileRequest(_BASE_HEAD + b"Transfer-Encoding: " + v + b"\r\n\r\n0\r\n\r\n"
                                       + _SMUGGLED, "unsupported-te", 501)),
        "te-in-http10": _fixed("te-in-http10", 400,
                               b"POST /h HTTP/1.0\r\nHost: h\r\n" + te + b"\r\n0\r\n\r\n"),
        # Body framing (RFC 9112 §7.1): found when the body is read.
        "bad-chunk-line": st.sampled_from(
            [b"0x5", b"-5", b" 5", b"5 ", b"+5", b"g", b"5;", b"5;a b", b"5\n", b"ffffffffffffffffff"]
        ).map(lambda v: HostileRequest(_BASE_HEAD + te + b"\r\n" + v + b"\r\nhello\r\n0\r\n\r\n"
                                       + _SMUGGLED, "bad-chunk-line", 400, body_level=True)),
        "bad-chunk-data": _fixed("bad-chunk-data", 400,
                                 _BASE_HEAD + te + b"\r\n5\r\nhelloXX0\r\n\r\n",
                                 _BASE_HEAD + te + b"\r\n5\r\nhello\n0\r\n\r\n", body_level=True),
        # Line ends and field syntax (RFC 9112 §2.2, §5).
        "bare-lf": _fixed("bare-lf", 400, b"GET / HTTP/1.1\nHost: h\r\n\r\n",
                          b"GET / HTTP/1.1\r\nHost: h\n\r\n", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\n\r\n"),
        "bare-cr": _fixed("bare-cr", 400, b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
                          b"GET / HTTP/1.1\rHost: h\r\n\r\n"),
        "obs-fold": _fixed("obs-fold", 400, b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
                           b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"),
        "control-byte": st.sampled_from([bytes([b]) for b in (*range(0x09), *range(0x0B, 0x0D),
                                                              *range(0x0E, 0x20), 0x7F)]).map(
            lambda c: HostileRequest(b"GET / HTTP/1.1\r\nHost: h\r\nX: a" + c + b"b\r\n\r\n" + _SMUGGLED,
                                     "control-byte", 400)),
        "bad-field-name": _fixed("bad-field-name", 400, b"GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n",
                                 b"GET / HTTP/1.1\r\nHost: h\r\nX(: a\r\n\r\n",
                                 b"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n"),
        # The request line (RFC 9112 §3) and Host (§3.2).
        "bad-method": _fixed("bad-method", 400, b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
                             b"G\x00T / HTTP/1.1\r\nHost: h\r\n\r\n"),
        "bad-version": _fixed("bad-version", 400, b"GET / HTTP/1.x\r\nHost: h\r\n\r\n",
                              b"GET / http/1.1\r\nHost: h\r\n\r\n", b"GET / HTTP/1.11\r\nHost: h\r\n\r\n"),
        "unsupported-version": _fixed("unsupported-version", 505, b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
                                      b"GET / HTTP/3.0\r\nHost: h\r\n\r\n",
                                      b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        "bad-host": _fixed("bad-host", 400, b"GET / HTTP/1.1\r\n\r\n",
                           b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                           b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"),
        "bad-target": _fixed("bad-target", 400, *[b"GET " + t + b" HTTP/1.1\r\nHost: h\r\n\r\n" for t in (
            b"/a#b", b'/a"b', b"/a<b", b"/\xe9", b"a/b", b"/a{b", b"/a\\b", b"*")]),
        "connect": _fixed("connect", 501, b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
        # Limits (wsgicore.Config).
        "over-limit": _oversized(config),
    }
    if config.max_body_bytes is not None:
        big = config.max_body_bytes + 1
        families["body-too-large"] = st.just(HostileRequest(
            _BASE_HEAD + b"Content-Length: %d\r\n\r\n" % big + b"x" * big + _SMUGGLED,
            "body-too-large", 413))
    return families


#: The families :func:`hostile_requests` draws from (``body-too-large`` only when the config
#: sets ``max_body_bytes``).
HOSTILE_FAMILIES: tuple[str, ...] = (*_families(Config(max_body_bytes=1)),)


def hostile_requests(config: Config | None = None,
                     families: Sequence[str] | None = None) -> st.SearchStrategy[HostileRequest]:
    """Requests with one defect the core refuses, each with the status it must answer (limits
    taken from ``config``, default ``Config()``), optionally only of some ``families``."""
    config = config if config is not None else Config()
    table = _families(config)
    names = list(families) if families is not None else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown hostile families {unknown} (known: {sorted(table)})")
    return st.one_of(*(table[n] for n in names)).map(lambda r: replace(r, config=config))

