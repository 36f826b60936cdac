"""What a request strategy draws, and the two claims about it: :func:`check_valid` (a valid
request reaches the app intact) and :func:`check_hostile` (a hostile one never reaches it). These
need no hypothesis: a hand-written :class:`HTTPRequest` or :class:`HostileRequest` works too."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wsgicore import Config
from wsgidrivers.memory import MemoryConnection

from .response import MalformedResponse, ParsedResponse, parse_responses

__all__ = ["SMUGGLED", "SMUGGLED_PATH", "ClaimFailed", "HTTPRequest", "HostileRequest", "check_hostile",
           "check_valid"]

WSGIApp = Callable[..., Iterable[bytes]]

#: Requests the smuggling claim looks for: it follows every hostile request on the wire.
SMUGGLED_PATH = "/smuggled"
SMUGGLED = b"GET " + SMUGGLED_PATH.encode() + b" HTTP/1.1\r\nHost: smuggled\r\n\r\n"


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
