"""Hypothesis strategies for HTTP/1.1 requests, each with the outcome the core must give.

Valid requests (:func:`requests`, :func:`pipelines`) carry what the app must see: method, path,
query, header fields and body, so a property can say "every valid request reaches the app intact".
Hostile requests (:func:`hostile_requests`) are valid requests with one defect from a family the core
refuses (:data:`HOSTILE_FAMILIES`), each with the status it must answer, followed by a smuggled
request that must never reach any app. :func:`check_valid` and :func:`check_hostile` check those
claims for *your* app, through the real parser, in memory::

    from hypothesis import given
    from wsgidrivers.testing.strategies import check_hostile, check_valid, hostile_requests, requests

    @given(requests())
    def test_my_app_gets_every_valid_request(request):
        check_valid(my_app, request)

    @given(hostile_requests())
    def test_my_app_never_sees_a_hostile_one(request):
        check_hostile(my_app, request)

This module needs hypothesis (``pip install 'wsgicore[testing]'``); nothing else imports it.
"""

from __future__ import annotations

import io
import itertools
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_to_bytes

from hypothesis import strategies as st

from wsgicore import Config
from wsgidrivers.memory import MemoryConnection

from .response import MalformedResponse, ParsedResponse, parse_responses

__all__ = [
    "HOSTILE_FAMILIES",
    "ClaimFailed",
    "HTTPRequest",
    "HostileRequest",
    "check_hostile",
    "check_valid",
    "header_fields",
    "hostile_requests",
    "methods",
    "pipelines",
    "requests",
    "targets",
]

WSGIApp = Callable[..., Iterable[bytes]]

_TCHAR = "!#$%&'*+-.^`|~" + string.ascii_letters + string.digits
# Fields with a meaning for the connection or the framing, which the strategies set themselves.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection", "te", "trailer",
                       "upgrade", "expect", "keep-alive", "proxy-connection", "http2-settings"})
_COMMON = ("Accept", "Accept-Encoding", "Accept-Language", "User-Agent", "Content-Type", "Cookie",
           "Authorization", "Referer", "If-None-Match", "X-Requested-With", "X-Forwarded-For")
# pchar (RFC 3986 §3.3) without "%" (percent-encoding is drawn separately).
_VALUE_CHARS = " \t" + "".join(map(chr, (*range(0x21, 0x7F), *range(0x80, 0x100))))
_PCHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
#: Requests the smuggling claim looks for: it follows every hostile request on the wire.
SMUGGLED_PATH = "/smuggled"
_SMUGGLED = b"GET " + SMUGGLED_PATH.encode() + b" HTTP/1.1\r\nHost: smuggled\r\n\r\n"


class ClaimFailed(AssertionError):
    """A strategy's claim did not hold: the message says which, for which request."""


@dataclass(frozen=True)
class HTTPRequest:
    """A valid request: ``raw`` (the bytes), and what the app must see: ``method``, ``path``
    (``PATH_INFO``, percent-decoded, latin-1), ``query`` (``QUERY_STRING``), ``fields`` (the
    environ keys of the header fields and their values: ``HTTP_*``, ``CONTENT_TYPE``,
    ``CONTENT_LENGTH``) and ``body`` (what ``wsgi.input`` reads). ``framing`` is ``"none"``,
    ``"content-length"`` or ``"chunked"``."""

    raw: bytes
    method: str
    target: str
    path: str
    query: str
    fields: tuple[tuple[str, str], ...]
    body: bytes
    framing: str
    http_version: str = "HTTP/1.1"

    def mismatches(self, environ: dict[str, Any], body: bytes) -> list[str]:
        """What the app saw that differs from this request (empty when it arrived intact)."""
        wanted = {"REQUEST_METHOD": self.method, "PATH_INFO": self.path,
                  "QUERY_STRING": self.query, "SERVER_PROTOCOL": self.http_version, **dict(self.fields)}
        out = [f"{key}: sent {value!r}, app saw {environ.get(key)!r}"
               for key, value in wanted.items() if environ.get(key) != value]
        if body != self.body:
            out.append(f"body: sent {self.body[:80]!r}, app read {body[:80]!r}")
        return out


@dataclass(frozen=True)
class HostileRequest:
    """A request the core must refuse: ``raw`` (the defective request followed by a smuggled
    ``GET /smuggled``), its ``family`` (one of :data:`HOSTILE_FAMILIES`), ``status`` (what the core
    answers) and ``body_level`` (the head is valid and reaches a driver; the defect is in the body
    framing, so the app's first ``wsgi.input`` read raises ``RequestBodyError``). ``config`` is
    the one whose limits it was made for (:func:`check_hostile` uses it); ``detail`` names the
    limit an ``over-limit`` request exceeds."""

    raw: bytes
    family: str
    status: int
    body_level: bool = False
    config: Config | None = None
    detail: str = ""  # for over-limit: the Config field exceeded


# ------------------------------------------------------------------ valid requests


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
    valid values; names may repeat."""
    name = st.one_of(
        st.sampled_from(_COMMON),
        st.text(alphabet=_TCHAR.replace("_", ""), min_size=1, max_size=16),
    ).filter(lambda n: n.lower() not in _RESERVED)
    return st.lists(st.tuples(name, _field_value()), max_size=max_size)


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


# ------------------------------------------------------------------ hostile requests

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


# ------------------------------------------------------------------ the claims


class _Witness:
    """Middleware between the core and the app under test: records each environ and reads the
    whole body first (the app then reads the same bytes from a BytesIO). A body read that fails
    raises before the app is called, so a framing error never reaches it."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.seen: list[tuple[dict[str, Any], bytes]] = []
        self.heads: list[dict[str, Any]] = []  # every environ, even when reading its body failed
        self.app_calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.heads.append(dict(environ))
        body = environ["wsgi.input"].read()
        self.seen.append((dict(environ), body))
        environ["wsgi.input"] = io.BytesIO(body)
        self.app_calls += 1
        return self.app(environ, start_response)


def _split(raw: bytes, cuts: Iterable[int] | None) -> list[bytes]:
    if not cuts:
        return [raw]
    bounds = [0, *sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


def _run(app: WSGIApp, raw: bytes, config: Config | None,
         cuts: Iterable[int] | None) -> tuple[_Witness, bytes]:
    witness = _Witness(app)
    errors = io.StringIO()  # the app's own tracebacks are its business, not a claim's
    memory = MemoryConnection(witness, config=config or Config(), errors=errors)
    out = memory.send(_split(raw, cuts)) + memory.close()
    return witness, out


def check_valid(app: WSGIApp, request: HTTPRequest | Sequence[HTTPRequest], *,
                config: Config | None = None,
                cuts: Iterable[int] | None = None) -> list[ParsedResponse]:
    """Send ``request`` (or a pipeline) to ``app`` through the core, in memory (in pieces cut at
    the offsets ``cuts``, modulo the length, when given); raise :class:`ClaimFailed` unless every
    request reached the app intact, in order, each answered by one well-formed response. Returns
    the responses."""
    batch = [request] if isinstance(request, HTTPRequest) else list(request)
    raw = b"".join(r.raw for r in batch)
    witness, out = _run(app, raw, config, cuts)
    if len(witness.seen) != len(batch):
        raise ClaimFailed(f"{len(batch)} valid requests sent, {len(witness.seen)} reached the app; "
                          f"server wrote {out[:300]!r} for {raw[:300]!r}")
    for sent, (environ, body) in zip(batch, witness.seen, strict=True):
        problems = sent.mismatches(environ, body)
        if problems:
            raise ClaimFailed(f"request not delivered intact: {problems} (sent {sent.raw[:300]!r})")
    try:
        responses = parse_responses(out, [r.method for r in batch])
    except MalformedResponse as exc:
        raise ClaimFailed(f"{exc} (request {raw[:300]!r})") from exc
    if len(responses) != len(batch):
        raise ClaimFailed(f"{len(batch)} requests, {len(responses)} responses: {out[:300]!r}")
    return responses


def check_hostile(app: WSGIApp, request: HostileRequest, *, config: Config | None = None,
                  cuts: Iterable[int] | None = None) -> ParsedResponse:
    """Send ``request`` to ``app`` through the core (configured with ``config``, default the one
    the request was made for), in memory (in pieces, as for :func:`check_valid`); raise
    :class:`ClaimFailed` unless the app was never called (for a body-level defect: its body read
    failed before), the core answered ``request.status`` with ``Connection: close``, and nothing
    after it (the smuggled request) was parsed. Returns the response."""
    witness, out = _run(app, request.raw, config if config is not None else request.config, cuts)
    where = f"({request.family}: {request.raw[:200]!r})"
    if witness.app_calls:
        raise ClaimFailed(f"a hostile request reached the app {where}")
    if any(env.get("PATH_INFO") == SMUGGLED_PATH for env in witness.heads):
        raise ClaimFailed(f"the smuggled request was parsed {where}")
    if witness.heads and not request.body_level:
        raise ClaimFailed(f"the head of a hostile request was accepted {where}")
    try:
        responses = parse_responses(out, ["GET"])
    except MalformedResponse as exc:
        raise ClaimFailed(f"{exc} {where}") from exc
    if len(responses) != 1 or responses[0].status_code != request.status:
        got = [r.status_code for r in responses]
        raise ClaimFailed(f"expected one {request.status} response, got {got} {where}")
    if "close" not in responses[0].headers.get("connection", "").lower():
        raise ClaimFailed(f"the error response does not close the connection {where}")
    return responses[0]
