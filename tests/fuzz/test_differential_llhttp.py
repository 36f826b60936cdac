"""Differential fuzzing: the core frames every request it serves exactly as llhttp does.

llhttp (through ``httptools.HttpRequestParser``, with none of its leniencies switched on) is an
independent, strict HTTP/1.x parser: Node.js's. Both are fed the same grammar-aware request streams
(``http_grammar.request_stream``: pipelined requests, every form of Content-Length and
Transfer-Encoding, chunk lines, whitespace and line ends of every kind).

Invariants, for every stream:

1. Only ``wsgicore.RemoteProtocolError`` (with a documented status) escapes ``next_event``; never
   ``LocalProtocolError`` or any other exception; the connection finishes within a bounded number of
   events.
2. The core's outcome does not depend on how the bytes arrive: whole, byte by byte and cut at random
   points give the same requests (every ``str`` value of the environ, the body, the end offset), the
   same statuses, the same error and the same output bytes (``100 Continue`` aside: it is sent only
   when the app reads a body that has not arrived, which depends on the split by design).
3. Every request the core *serves* (the app read its whole body) is framed as llhttp frames it:
   the same method, target, HTTP version, body bytes and end offset in the stream. Where llhttp
   completed fewer messages, it must have refused the stream (an error, or an upgrade) at a byte at
   or before that request's end: a request the core serves whose bytes llhttp read without
   completing or refusing it is a framing disagreement. And the core serves a request after another
   only where llhttp would keep the connection open after that other (``should_keep_alive``).
   Three llhttp behaviours are allowed for (see ``check_agreement``): it skips the body of a request
   it upgrades on, it also closes on the obsolete ``Proxy-Connection: close``, and it takes any PRI
   request for the HTTP/2 connection preface.

Configs: the default, small limits (which the generated streams reach: the statuses of the limits
must not depend on the split either), and the legacy profile (invariants 1 and 2 only).

The core may refuse what llhttp accepts (it is stricter on purpose: README "What the strict default
refuses"), and llhttp refuses some forms the core accepts (unknown methods, BWS in chunk extensions,
see ``KNOWN_DIFFERENCES``); neither is a failure. Serving a request llhttp frames differently is.

How the end offsets are measured.
* llhttp is fed one byte at a time; when ``on_message_complete`` fires during the byte at index i,
  the message ends at i + 1. An error or upgrade is located at the byte whose feed raised it.
* The core: the test's driver counts the bytes it hands to the connection (``receive_data`` and the
  ``wsgi.input`` fetches). The app reads the whole body, so when ``run_app`` returns the body's last
  byte (for chunked: the trailer section's blank line) has been consumed and nothing after it: the
  request ends at ``bytes fed - len(conn.trailing_data[0])`` (``trailing_data``: bytes received but
  not parsed yet). Invariant 2 checks that this offset, too, is the same for every split, including
  byte by byte, where the core is never given a byte past the end of the body it reads.

Default run: ``_EXAMPLES`` derandomized examples (reproducible in CI). On demand, randomized::

    WSGICORE_FUZZ_EXAMPLES=20000 python -m pytest -q tests/fuzz/test_differential_llhttp.py
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsgicore import (
    NEED_DATA,
    Config,
    Connection,
    ConnectionClosed,
    RemoteProtocolError,
    RequestReceived,
)

try:  # tests/ on sys.path (pytest's rootdir-relative import of these packages)
    from fuzz.http_grammar import request_stream
except ImportError:  # the repository root on sys.path
    from tests.fuzz.http_grammar import request_stream  # type: ignore[no-redef]

httptools = pytest.importorskip("httptools")  # in the test and dev extras

_EXAMPLES = int(os.environ.get("WSGICORE_FUZZ_EXAMPLES", "3000"))
SETTINGS = settings(max_examples=_EXAMPLES, deadline=None, database=None,
                    derandomize="WSGICORE_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CONFIG = Config(clock=None, server_software=None)
#: Limits the generated streams often reach: their statuses must not depend on the split either.
SMALL_LIMITS = Config(clock=None, server_software=None, max_request_line=40, max_header_field=40,
                      max_header_count=6, max_head_bytes=160, max_chunk_line=12, max_body_bytes=30)
#: The legacy profile (bare LF, raw non-ASCII targets, a request line ended by EOF): checked for
#: split invariance only, since it accepts on purpose what a strict parser must not.
LEGACY = Config.wsgiref_compatible(clock=None, server_software=None)
DOCUMENTED_STATUSES = (None, 400, 413, 414, 431, 501, 505)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True)
class Framed:
    """One request as a parser framed it. ``end``: the offset just past its last byte."""

    method: bytes
    target: bytes
    version: str  # "1.1"
    body: bytes
    end: int


# ------------------------------------------------------------------ llhttp


@dataclass
class LlhttpResult:
    messages: list[Framed] = field(default_factory=list)
    keep_alive: list[bool] = field(default_factory=list)  # should_keep_alive() after each message
    stop: str = "end"  # "end", "partial" (EOF inside a message), "error", "upgrade"
    stop_at: int = -1  # the byte whose feed raised the error or the upgrade
    reason: str = ""


class _LlhttpRecorder:
    def __init__(self, result: LlhttpResult) -> None:
        self.result = result
        self.parser: Any = None
        self.pos = 0
        self.in_message = False
        self.url = b""
        self.body = b""
        self.version = ""
        self.method = b""

    def on_message_begin(self) -> None:
        self.in_message = True
        self.url = self.body = b""

    def on_url(self, url: bytes) -> None:
        self.url += url  # called once per piece of the target

    def on_headers_complete(self) -> None:
        self.method = self.parser.get_method()
        self.version = self.parser.get_http_version()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.in_message = False
        self.result.messages.append(Framed(self.method, self.url, self.version, self.body,
                                           self.pos + 1))
        self.result.keep_alive.append(self.parser.should_keep_alive())


def llhttp_frame(data: bytes) -> LlhttpResult:
    """Frame ``data`` with llhttp, fed byte by byte so that every event has an exact offset."""
    result = LlhttpResult()
    recorder = _LlhttpRecorder(result)
    parser = httptools.HttpRequestParser(recorder)
    recorder.parser = parser
    for pos in range(len(data)):
        recorder.pos = pos
        try:
            parser.feed_data(data[pos : pos + 1])
        except httptools.HttpParserUpgrade:
            result.stop, result.stop_at = "upgrade", pos
            return result
        except httptools.HttpParserCallbackError:
            raise  # a bug in the recorder above, not a verdict of llhttp's
        except httptools.HttpParserError as exc:
            result.stop, result.stop_at, result.reason = "error", pos, f"{type(exc).__name__}: {exc}"
            return result
    if recorder.in_message:
        result.stop = "partial"
    return result


# ------------------------------------------------------------------ the core


@dataclass
class CoreResult:
    served: list[Framed] = field(default_factory=list)  # the app read the whole body
    entered: list[dict[str, str]] = field(default_factory=list)  # str environ values, app called
    statuses: list[int] = field(default_factory=list)  # ResponseInfo.status of each app run
    error: tuple[int | None, str] | None = None  # the RemoteProtocolError's status and reason
    output: bytes = b""  # everything sent, 100 Continue removed

    def comparable(self) -> tuple[Any, ...]:
        return (self.served, self.entered, self.statuses, self.error, self.output)


def _recording_app(result: CoreResult) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        result.entered.append({k: v for k, v in environ.items() if isinstance(v, str)})
        body = environ["wsgi.input"].read()  # a RequestBodyError propagates: the core answers it
        result.served.append(Framed(environ["REQUEST_METHOD"].encode("ascii"),
                                    environ["RAW_URI"].encode("latin-1"),
                                    environ["SERVER_PROTOCOL"].removeprefix("HTTP/"), body, -1))
        payload = b"ok " + environ["RAW_URI"].encode("latin-1")
        start_response("200 OK", [("Content-Length", str(len(payload)))])
        return [payload]

    return app


def core_frame(pieces: list[bytes], config: Config = CONFIG) -> CoreResult:
    """Serve ``pieces`` then EOF on one connection; see the module docstring for the offsets.

    Only RemoteProtocolError is caught: anything else escaping the core fails the test."""
    result = CoreResult()
    app = _recording_app(result)
    conn = Connection(config, peer=("192.0.2.1", 5000), sockname=("192.0.2.2", 80))
    queue = [p for p in pieces if p][::-1]
    out = bytearray()
    fed = 0

    def fetch(size: int = 0) -> bytes:
        nonlocal fed
        out.extend(conn.data_to_send())
        piece = queue.pop() if queue else b""
        fed += len(piece)
        return piece

    for _ in range(4 * sum(len(p) for p in pieces) + 64):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            result.error = (exc.status_code, exc.reason)
            out += conn.data_to_send() + exc.response
            break
        if event is NEED_DATA:
            conn.receive_data(fetch())
        elif isinstance(event, RequestReceived):
            served = len(result.served)
            info = conn.run_app(app, event.environ, out.extend, fetch=fetch, errors=io.StringIO(),
                                on_problem=lambda problem: None)
            result.statuses.append(info.status)
            if len(result.served) > served:
                framed = result.served[-1]
                end = fed - len(conn.trailing_data[0])
                result.served[-1] = Framed(framed.method, framed.target, framed.version,
                                           framed.body, end)
        elif isinstance(event, ConnectionClosed):
            out += conn.data_to_send()
            break
        else:
            raise AssertionError(f"unexpected event {event!r}")
    else:
        raise AssertionError("the connection did not finish (next_event loop bound hit)")
    assert result.error is None or result.error[0] in DOCUMENTED_STATUSES, result.error
    result.output = bytes(out).replace(CONTINUE, b"")
    return result


# ------------------------------------------------------------------ the invariant


def check_agreement(data: bytes, core: CoreResult, ll: LlhttpResult) -> None:
    """Invariant 3 of the module docstring; raises AssertionError with both framings."""

    def context() -> str:
        return (f"\nstream: {data!r}\ncore served: {core.served}\ncore error: {core.error}"
                f"\nllhttp: {ll.messages} keep_alive={ll.keep_alive} stop={ll.stop}@{ll.stop_at}"
                f" {ll.reason}")

    # The served requests are the first ones the app was called for, in order.
    assert len(core.entered) - 1 <= len(core.served) <= len(core.entered), context()
    for index, mine in enumerate(core.served):
        # llhttp also honours the obsolete Proxy-Connection field (http_parser's heritage); RFC 9112
        # §9.3 decides persistence on Connection alone, and so does the core.
        if (index and index - 1 < len(ll.messages)
                and "HTTP_PROXY_CONNECTION" not in core.entered[index - 1]):
            assert ll.keep_alive[index - 1], (
                f"request {index} served after one llhttp closes the connection after" + context())
        if index < len(ll.messages):
            theirs = ll.messages[index]
            if ll.stop == "upgrade" and index == len(ll.messages) - 1:
                # httptools makes llhttp skip the body of a request it upgrades on (its
                # on_headers_complete returns 1): every byte after the head goes to the new
                # protocol. The core ignores Upgrade (RFC 9110 §7.8 lets a server), so the body is
                # still the request's: only the heads can be compared.
                assert (mine.method, mine.target, mine.version, theirs.body) == (
                    theirs.method, theirs.target, theirs.version, b""), (
                    f"upgrade request {index} framed differently" + context())
                assert mine.end >= theirs.end, context()
                continue
            assert mine == theirs, f"request {index} framed differently" + context()
            continue
        if mine.method == b"PRI" and index == len(ll.messages) and not mine.body:
            # llhttp takes every PRI request for the start of the HTTP/2 connection preface
            # (RFC 9113 §3.4: "PRI * HTTP/2.0", blank line, "SM", blank line), whatever its target
            # and version: it refuses a field line after it, and after a head without any it waits
            # for "SM". The core refuses the real preface (505) and serves "PRI /a HTTP/1.0" with
            # no fields as the body-less HTTP/1.0 request it is (h11 does the same). llhttp frames
            # nothing after it: there is nothing left to compare.
            return
        # llhttp did not complete this request: it must have refused a byte of it (or of an
        # earlier request the core served but llhttp did not complete either).
        assert ll.stop in ("error", "upgrade"), (
            f"request {index} served, but llhttp neither completed nor refused it" + context())
        assert ll.stop_at < mine.end, (
            f"request {index} served, but llhttp refused only after its end" + context())


def cut(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def differential(data: bytes, cuts: list[int], config: Config = CONFIG
                 ) -> tuple[CoreResult, LlhttpResult | None]:
    """Invariants 1-3 for one stream (``cuts``: one random split besides whole and byte by byte);
    invariant 3 is not checked under the legacy profile."""
    whole = core_frame([data], config)
    for pieces in (cut(data, cuts), [data[i : i + 1] for i in range(len(data))]):
        split = core_frame(pieces, config)
        assert split.comparable() == whole.comparable(), (
            f"the outcome depends on the split {[len(p) for p in pieces]}:\nstream: {data!r}"
            f"\nwhole: {whole}\nsplit: {split}")
    if config is LEGACY:
        return whole, None
    ll = llhttp_frame(data)
    check_agreement(data, whole, ll)
    return whole, ll


@SETTINGS
@given(request_stream(), st.lists(st.integers(0, 1 << 16), max_size=8),
       st.sampled_from([CONFIG, CONFIG, CONFIG, SMALL_LIMITS, LEGACY]))
def test_core_frames_every_served_request_like_llhttp(data: bytes, cuts: list[int],
                                                      config: Config) -> None:
    differential(data, cuts, config)


# ------------------------------------------------------------------ the test's own checks


def test_generator_reaches_agreement_and_both_kinds_of_refusal() -> None:
    """The default run is not vacuous: the streams it draws are often served by both parsers (with
    several pipelined requests, chunked and Content-Length bodies), and often refused by either."""
    counts: dict[str, int] = dict.fromkeys(
        ["agree", "agree_pipelined", "agree_chunked", "agree_length", "core_stricter",
         "llhttp_stricter", "both_refuse_first"], 0)

    @settings(max_examples=500, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request_stream())
    def sample(data: bytes) -> None:
        core = core_frame([data])
        ll = llhttp_frame(data)
        check_agreement(data, core, ll)
        both = min(len(core.served), len(ll.messages))
        if both:
            counts["agree"] += 1
            counts["agree_pipelined"] += both >= 2
            counts["agree_chunked"] += any("HTTP_TRANSFER_ENCODING" in environ
                                           for environ in core.entered[:both])
            counts["agree_length"] += any(m.body for m in ll.messages[:both])
        counts["core_stricter"] += len(core.served) < len(ll.messages)
        counts["llhttp_stricter"] += len(core.served) > len(ll.messages)
        counts["both_refuse_first"] += not core.served and not ll.messages

    sample()
    print(counts)
    # About half of what the derandomized run gives: the margin is for hypothesis versions.
    minimum = {"agree": 120, "agree_pipelined": 60, "agree_chunked": 15, "agree_length": 60,
               "core_stricter": 4, "llhttp_stricter": 25, "both_refuse_first": 80}
    assert all(counts[key] >= low for key, low in minimum.items()), counts


def _post(fields: bytes, body: bytes = b"", target: bytes = b"/p") -> bytes:
    return b"POST " + target + b" HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n" + body


_NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"

#: Where the two parsers are known to differ, each both ways; (name, stream, requests the core
#: serves, messages llhttp completes before it stops or the stream ends).
KNOWN_DIFFERENCES: list[tuple[str, bytes, int, int]] = [
    # -- both agree
    ("plain_pipeline", b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n" + _NEXT, 2, 2),
    ("http10_keep_alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + _NEXT, 2, 2),
    ("length_leading_zeros", _post(b"Content-Length: 005\r\n", b"hello") + _NEXT, 2, 2),
    ("chunked_upper_hex_ext", _post(b"Transfer-Encoding: chunked\r\n",
                                    b'0A;a=b;q="x y"\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n') + _NEXT,
     2, 2),
    ("expect_body_with_head", _post(b"Expect: 100-continue\r\nContent-Length: 5\r\n", b"hello")
     + _NEXT, 2, 2),
    ("obs_text_value", b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n" + _NEXT, 2, 2),
    # -- llhttp stops: an upgrade (the core ignores Upgrade and serves the body and the next one)
    ("upgrade_with_body", b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: upgrade\r\n"
     b"Content-Length: 3\r\n\r\nabc" + _NEXT, 2, 1),
    # -- llhttp takes any PRI request for the HTTP/2 preface and waits for "SM"
    ("pri_method_http10", b"PRI /a HTTP/1.0\r\n\r\n", 1, 0),
    # -- llhttp closes after Proxy-Connection: close (not a field of RFC 9110/9112)
    ("proxy_connection_close", b"GET / HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n"
     + _NEXT, 2, 1),
    # -- the core is stricter (README: what the strict default refuses)
    ("te_on_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", 0, 1),
    ("fragment_in_target", b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1),
    ("http2_version", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 0, 1),
    ("no_host", b"GET / HTTP/1.1\r\n\r\n", 0, 1),
    ("absolute_form_ftp", b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1),
    ("bad_host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, 1),
    ("te_leading_comma", _post(b"Transfer-Encoding: ,chunked\r\n", b"0\r\n\r\n"), 0, 1),
    ("cl_19_digits", _post(b"Content-Length: 0000000000000000005\r\n", b"hello"), 0, 1),
    # -- both refuse
    ("te_chunked_lines_twice", _post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                     b"0\r\n\r\n"), 0, 0),
    ("cl_te", _post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 0, 0),
    ("cl_twice", _post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 0, 0),
    ("bare_lf", b"GET / HTTP/1.1\nHost: h\n\n", 0, 0),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 0, 0),
    ("chunk_size_0x", _post(b"Transfer-Encoding: chunked\r\n", b"0x5\r\nhello\r\n0\r\n\r\n"), 0, 0),
    # -- llhttp is stricter (the core accepts what RFC 9110/9112 allow)
    ("unknown_method", b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 1, 0),
    ("chunk_ext_bws", _post(b"Transfer-Encoding: chunked\r\n", b"5 ; a = b\r\nhello\r\n0\r\n\r\n"),
     1, 0),
    ("http_1_2", b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 1, 0),
    ("te_trailing_htab", _post(b"Transfer-Encoding: chunked\t\r\n", b"0\r\n\r\n"), 1, 0),
    ("lower_case_method", b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 1, 0),
    ("framing_field_in_trailer", _post(b"Transfer-Encoding: chunked\r\n",
                                       b"0\r\nContent-Length: 5\r\n\r\n"), 1, 0),
]


@pytest.mark.parametrize(("name", "data", "served", "completed"), KNOWN_DIFFERENCES,
                         ids=[case[0] for case in KNOWN_DIFFERENCES])
def test_known_differences(name: str, data: bytes, served: int, completed: int) -> None:
    """Each documented difference is what the parsers do today, and the invariant allows it."""
    core, ll = differential(data, [len(data) // 2])
    assert ll is not None
    assert (len(core.served), len(ll.messages)) == (served, completed), (core, ll)


def _framed(data: bytes) -> tuple[CoreResult, LlhttpResult]:
    core, ll = core_frame([data]), llhttp_frame(data)
    assert len(core.served) == len(ll.messages) == 2, (core, ll)
    return core, ll


def test_the_comparison_catches_each_kind_of_disagreement() -> None:
    """The check must fail whenever the core serves a request llhttp frames differently."""
    data = _post(b"Content-Length: 5\r\n", b"hello") + _NEXT
    core, ll = _framed(data)
    check_agreement(data, core, ll)  # the real framings agree
    first, second = ll.messages

    def fails(messages: list[Framed], **changes: Any) -> None:
        other = LlhttpResult(messages, [True] * len(messages))
        for key, value in changes.items():
            setattr(other, key, value)
        with pytest.raises(AssertionError):
            check_agreement(data, core, other)

    def changed(message: Framed, **fields: Any) -> Framed:
        values = {**message.__dict__, **fields}
        return Framed(**values)

    fails([changed(first, body=b"hell"), second])
    fails([changed(first, end=first.end - 1), second])
    fails([first, changed(second, target=b"/other")])
    fails([first, changed(second, method=b"HEAD")])
    fails([first, changed(second, version="1.0")])
    fails([first], stop="partial")  # llhttp still inside the second request at EOF
    fails([first], stop="end")
    fails([first], stop="error", stop_at=len(data))  # refused only after the core's end
    fails([first, second], keep_alive=[False, True])  # llhttp closes after the first
    # Upgrade: the heads must still agree, and llhttp's upgraded message has no body.
    fails([changed(first, target=b"/x", body=b"", end=first.end - 5)], stop="upgrade",
          stop_at=first.end - 6)
    fails([first], stop="upgrade", stop_at=first.end - 1)
    # The PRI allowance covers a body-less PRI request only.
    pri = b"PRI /a HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi"
    with pytest.raises(AssertionError):
        check_agreement(pri, core_frame([pri]), LlhttpResult([], [], "partial"))
    # An llhttp refusal inside the second request is allowed.
    check_agreement(data, core, LlhttpResult([first], [True], "error", first.end + 3))
