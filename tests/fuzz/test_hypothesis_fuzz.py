"""Hypothesis fuzzing of the core's hostile surface (bounded, derandomized, part of the default run).

Invariants:
* raw bytes and mutated requests: ``next_event`` raises nothing but ``RemoteProtocolError``; the
  connection finishes within a bounded number of events; every byte the server writes parses as a
  sequence of well-formed responses, one per request served plus at most one error.
* splits: where the bytes are cut never changes the statuses and bodies sent.
* ``start_response`` arguments: whatever the app passes, the output is either the app's response,
  exactly as given, or a complete ``500``; never an exception, never an injected header; h11, as a
  client, accepts every response.
"""

from __future__ import annotations

import itertools
import os
import random
import re
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:  # tests/ on sys.path (pytest's rootdir-relative import of these packages)
    from hardening._util import RecordingApp, drive_in_memory, load_corpus, parse_responses
    from hardening.hostile_table import HOSTILE_CASES
except ImportError:  # the repository root on sys.path
    from tests.hardening._util import (  # type: ignore[no-redef]
        RecordingApp,
        drive_in_memory,
        load_corpus,
        parse_responses,
    )
    from tests.hardening.hostile_table import HOSTILE_CASES  # type: ignore[no-redef]

wsgicore = pytest.importorskip("wsgicore")

#: Default run: 1500 derandomized examples per test (a few seconds). For exploration set
#: WSGICORE_FUZZ_EXAMPLES=100000: more examples, randomized (a new seed each run).
_EXAMPLES = int(os.environ.get("WSGICORE_FUZZ_EXAMPLES", "1500"))
SETTINGS = settings(max_examples=_EXAMPLES, deadline=None,
                    derandomize="WSGICORE_FUZZ_EXAMPLES" not in os.environ, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEEDS: list[bytes] = [c.raw for c in HOSTILE_CASES if len(c.raw) < 4096]
SEEDS += [e["raw"] for e in load_corpus() if len(e["raw"]) < 4096]
MAX_EVENTS = 100_000


def drive(pieces: list[bytes], app: Any = None, config: Any = None) -> bytes:
    """Feed ``pieces`` then EOF; return the output (see ``drive_in_memory`` for what fails)."""
    return drive_in_memory(pieces, app or RecordingApp(), config or wsgicore.Config(clock=None),
                           MAX_EVENTS)


def check_output(out: bytes, app: RecordingApp) -> None:
    """Every byte written parses as whole responses, one per request the app served plus at most one
    final error. (A mutation can turn a table case into a valid pipeline, so ``smuggled`` paths are
    not checked here; the table tests check them on the unmutated cases.)"""
    parsed = parse_responses(out, [r.get("REQUEST_METHOD", "GET") for r in app.entered])
    assert parsed.error is None, (parsed.error, out[:300])
    assert not parsed.rest, out[-300:]
    finals = [r for r in parsed.responses if r.status >= 200]
    assert len(app.served) <= len(finals) <= len(app.served) + 1, (len(app.served), out[:300])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "special"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.sampled_from([
                b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b"\r\n ", b":", b";", b"0\r\n\r\n",
                b"Transfer-Encoding: chunked\r\n", b"Content-Length: 5\r\n", b"Content-Length: -1\r\n",
                b"HTTP/1.1", b"Host: x\r\n", b"\xff", b"ffffffffffffffff\r\n",
            ]))
    return bytes(data)


@SETTINGS
@given(st.binary(max_size=2048))
def test_raw_bytes_only_protocol_errors(data: bytes) -> None:
    app = RecordingApp()
    check_output(drive([data], app), app)


@SETTINGS
@given(mutated())
def test_mutated_requests_only_protocol_errors(data: bytes) -> None:
    app = RecordingApp()
    check_output(drive([data], app), app)


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _verdict(out: bytes, app: RecordingApp) -> list[tuple[int, bytes]]:
    methods = [r.get("REQUEST_METHOD", "GET") for r in app.entered]
    return [(r.status, r.body) for r in parse_responses(out, methods).responses if r.status >= 200]


@SETTINGS
@given(st.one_of(st.sampled_from(SEEDS), mutated()), st.lists(st.integers(0, 1 << 16), max_size=12))
def test_splitting_never_changes_the_verdict(data: bytes, cuts: list[int]) -> None:
    whole_app, split_app = RecordingApp(), RecordingApp()
    whole = drive([data], whole_app)
    split = drive(_cut(data, cuts), split_app)
    assert _verdict(split, split_app) == _verdict(whole, whole_app), (data[:200], cuts)
    assert len(split_app.served) == len(whole_app.served)


# ------------------------------------------------------------------ start_response arguments

_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-_!#$%&'*+.^`|~", min_size=1,
                 max_size=12)
_ANY_TEXT = st.text(max_size=20)
_NASTY = st.sampled_from(["\r\n", "\n", "\r", "\x00", "\x7f", ":", " ", "\u20ac", "\u00e9", "\t", ""])
_STATUS = st.one_of(
    st.builds(lambda c, r: f"{c} {r}", st.integers(100, 999), st.text(alphabet="abc OK", max_size=10)),
    _ANY_TEXT,
    st.builds(lambda a, b: a + b, st.sampled_from(["200 OK", "404 Not Found", "204 ", "500 X"]), _NASTY),
    st.integers(0, 999),
    st.binary(max_size=10),
)
_NAME = st.one_of(_TOKEN, _ANY_TEXT, st.builds(lambda a, b: a + b, _TOKEN, _NASTY),
                  st.sampled_from(["Connection", "Transfer-Encoding", "Keep-Alive", "Upgrade",
                                   "Content-Length", "Server", "Date", "TE", "Trailer"]))
_VALUE = st.one_of(st.text(alphabet="abc 123;=,", max_size=20), _ANY_TEXT,
                   st.builds(lambda a, b: a + b, st.text(alphabet="abc", max_size=5), _NASTY),
                   st.integers(), st.binary(max_size=5))
_HEADERS = st.lists(st.tuples(_NAME, _VALUE), max_size=5)
_BODY = st.lists(st.one_of(st.binary(max_size=30), st.text(max_size=5)), max_size=4)
_STATUS_RE = re.compile(r"[1-9][0-9]{2} [\t -~\x80-\xff]*\Z")
_SERVER_FIELDS = {"date", "server", "connection", "content-length", "transfer-encoding"}


@SETTINGS
@given(_STATUS, _HEADERS, _BODY, st.sampled_from(["GET", "HEAD", "POST"]))
def test_start_response_arguments(status: Any, headers: list[Any], body: list[Any],
                                  method: str) -> None:
    closes: list[int] = []

    class Body:
        def __iter__(self) -> Any:
            return iter(body)

        def close(self) -> None:
            closes.append(1)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, list(headers))
        return Body()

    request = f"{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    out = drive([request], app)
    assert len(closes) <= 1
    parsed = parse_responses(out, [method])
    finals = [r for r in parsed.responses if r.status >= 200]
    assert parsed.error is None, (parsed.error, out[:300])
    assert len(finals) == 1, out[:300]
    resp = finals[0]
    app_line = None
    if isinstance(status, str) and _STATUS_RE.match(status):
        app_line = b"HTTP/1.1 " + status.encode("latin-1") + b"\r\n"
    if app_line is not None and out.startswith(app_line):
        # Accepted: exactly the app's status line and headers, nothing injected. (The body may be
        # cut off: a str chunk after a bytes chunk, or a Content-Length the body does not match.)
        given_names = {str(n).lower() for n, _ in headers}
        for name, _value in resp.headers:
            assert name.lower() in given_names | _SERVER_FIELDS, (name, headers)
    else:
        assert resp.status == 500, (status, headers, out[:300])
        assert resp.complete, out[:300]
    _h11_accepts(out, method)


def _h11_accepts(out: bytes, method: str) -> None:
    """h11, as a client, must parse the server's response (or see a clean cut-off)."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "x"),
                                                                ("Content-Length", "0")]))
    client.send(h11.EndOfMessage())
    client.receive_data(out)
    client.receive_data(b"")
    for _ in range(1000):
        try:
            event = client.next_event()
        except h11.RemoteProtocolError as exc:
            message = str(exc).lower()
            # Only a response cut off at EOF (an aborted body) is acceptable here.
            if "incomplete" not in message and "closed" not in message:
                pytest.fail(f"h11 rejects the response: {exc}: {out[:300]!r}")
            return
        if event is h11.NEED_DATA or isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return


def test_seed_pool_is_not_empty() -> None:
    assert len(SEEDS) > 100
    random.Random(0).choice(SEEDS)
