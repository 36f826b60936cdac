"""Split invariance of the *whole* outcome: however the bytes of a stream are split on arrival, the
application sees the same requests (method, target, every HTTP_*/CONTENT_* value, body bytes), every
final response has the same status and error text, and the same responses keep or close the
connection. Only interim ``100 Continue`` responses may differ: whether one is owed depends on
whether the body had arrived yet (RFC 9110 §10.1.1 lets the server omit it).

Streams are generated grammar-aware (pipelined requests with varied whitespace, case, Expect,
Connection tokens, repeated fields, Content-Length and chunked bodies), then possibly damaged by one
hostile edit near a limit (small limits keep the inputs short); the hostile table's requests are
replayed too. Each is fed whole, byte by byte and at random cuts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from core_support import MalformedResponse, final_responses, run_connection, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.hardening.hostile_table import HOSTILE_CASES

from wsgicore import Config, RequestBodyError

LIMITS = {"max_request_line": 120, "max_header_field": 120, "max_header_count": 12,
          "max_head_bytes": 600, "max_chunk_line": 40, "max_body_bytes": 300}


def small_config(**overrides: Any) -> Config:
    return Config(clock=None, server_software=None, **{**LIMITS, **overrides})


def recording_app(seen: list[Any]) -> Any:
    """Reads the whole body before answering, records what it saw (or the body error)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = tuple(sorted((k, v) for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))))
        try:
            body: Any = environ["wsgi.input"].read()
        except RequestBodyError as exc:
            body = ("body error", exc.status_code, exc.reason)
            seen.append((environ["REQUEST_METHOD"], environ["REQUEST_URI"], headers, body))
            raise
        seen.append((environ["REQUEST_METHOD"], environ["REQUEST_URI"], headers, body))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def outcome(pieces: list[bytes], config: Config) -> tuple[Any, ...]:
    seen: list[Any] = []
    run = run_connection(recording_app(seen), pieces, config=config)
    methods = [environ["REQUEST_METHOD"] for environ in run.environs]
    try:
        responses = final_responses(run.output, [*methods, "GET"])
    except MalformedResponse:
        # The refused request's method is not known here; an error answering HEAD has no body.
        responses = final_responses(run.output, [*methods, "HEAD"])
    finals = [(r.status, r.body if r.status >= 400 else b"", r.connection_close) for r in responses]
    error = None if run.error is None else (getattr(run.error, "status_code", None), str(run.error))
    return tuple(seen), tuple(finals), error


def assert_one_outcome(data: bytes, cuts: list[int], config: Config) -> None:
    whole = outcome([data], config)
    assert outcome([data[i : i + 1] for i in range(len(data))], config) == whole, "byte by byte"
    assert outcome(split_at(data, cuts), config) == whole, f"split at {sorted(set(cuts))}"


# ------------------------------------------------------------------ generation

_OWS = st.sampled_from(["", " ", "  ", "\t", " \t ", "\t\t"])
_TOKEN_CASES = st.sampled_from(["chunked", "Chunked", "CHUNKED", "cHuNkEd"])


@st.composite
def request(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE"]))
    target = draw(st.sampled_from(["/", "/a/b", "/p?q=1&r=%20", "/x%2Fy", "http://h.example/abs?z"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]))
    lines = [f"{method} {target} {version}", f"Host:{draw(_OWS)}h.example{draw(_OWS)}"]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["X-A", "Cookie", "Accept", "X-Dup", "x-dup", "User-Agent"]))
        value = draw(st.text(alphabet="ab 9;=,\t\"\x80\xe9", max_size=12)).strip(" \t")
        lines.append(f"{name}:{draw(_OWS)}{value}{draw(_OWS)}")
    connection = draw(st.sampled_from([None, "close", "keep-alive", "close\x85", "Close ",
                                       "upgrade, close", "keep-alive,\tclose"]))
    if connection is not None:
        lines.append(f"Connection:{draw(_OWS)}{connection}")
    body = draw(st.binary(max_size=40))
    kind = draw(st.sampled_from(["none", "length", "chunked"] if version == "HTTP/1.1" else
                                ["none", "length"]))
    if kind != "none" and draw(st.booleans()):
        lines.append(f"Expect:{draw(_OWS)}{draw(st.sampled_from(['100-continue', '100-Continue']))}")
    payload = b""
    if kind == "length":
        lines.append(f"Content-Length:{draw(_OWS)}{len(body)}{draw(_OWS)}")
        payload = body
    elif kind == "chunked":
        lines.append(f"Transfer-Encoding:{draw(_OWS)}{draw(_TOKEN_CASES)}{draw(_OWS)}")
        out = bytearray()
        pos = 0
        while pos < len(body):
            size = draw(st.integers(1, len(body) - pos))
            ext = draw(st.sampled_from(["", ";a=b", ' ; q="x y"', ";flag"]))
            out += f"{size:x}{ext}\r\n".encode() + body[pos : pos + size] + b"\r\n"
            pos += size
        out += b"0\r\n" + draw(st.sampled_from([b"", b"T: v\r\n"])) + b"\r\n"
        payload = bytes(out)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def _hostile_edits(data: bytes) -> list[bytes]:
    """One damaging edit each, chosen to sit on a limit or a line-end rule."""
    head_end = data.find(b"\r\n\r\n")
    first_end = data.find(b"\r\n")
    return [
        data[:first_end] + b"\r\nX: " + b"a" * 130 + b"\n" + data[first_end + 2 :],  # long, bare LF
        data[:first_end] + b"\r\nX: " + b"a" * 110 + b"\r\n" + data[first_end + 2 :],  # at the limit
        data[:first_end] + b"\r\nX: a\nY: b\r\n" + data[first_end + 2 :],  # bare LF inside
        data[:first_end] + b"\r\nX: a\rb\r\n" + data[first_end + 2 :],  # bare CR
        data[:first_end] + b"\r\nX: a\r\n folded\r\n" + data[first_end + 2 :],  # obs-fold
        data[:first_end] + b"".join(b"\r\nX-%d: v" % i for i in range(12)) + data[first_end:],  # count
        data[:4] + b"/" + b"p" * 130 + data[4:],  # request line too long
        data[:head_end] + b"\r\nContent-Length: 3\r\nTransfer-Encoding: chunked" + data[head_end:],
        data[:head_end] + b"\r\nX: " + b"z" * 90 + b"\r\nY: " + b"z" * 90 + b"\r\nW: " + b"z" * 90
        + b"\r\nV: " + b"z" * 90 + b"\r\nU: " + b"z" * 90 + b"\r\nS: " + b"z" * 90 + data[head_end:],  # head
        data.replace(b"\r\n0\r\n", b"\r\n0;" + b"e" * 45 + b"\n", 1),  # long chunk line, bare LF
        data.replace(b"\r\n0\r\n", b"\r\n+0\r\n", 1),  # bad chunk size
        data + b"\x16\x03\x01\x02\x00\x01",  # a TLS ClientHello after the requests
    ]


@st.composite
def stream(draw: st.DrawFn) -> bytes:
    data = b"".join(draw(st.lists(request(), min_size=1, max_size=3)))
    if draw(st.booleans()):
        data = draw(st.sampled_from(_hostile_edits(data)))
    return data


@settings(deadline=None, derandomize=True, max_examples=300,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=stream(), cuts=st.lists(st.integers(0, 2000), max_size=10))
def test_generated_streams_have_one_outcome(data: bytes, cuts: list[int]) -> None:
    assert_one_outcome(data, cuts, small_config())


@settings(deadline=None, derandomize=True, max_examples=60,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=stream(), cuts=st.lists(st.integers(0, 2000), max_size=10))
def test_generated_streams_have_one_outcome_in_the_legacy_profile(data: bytes, cuts: list[int]) -> None:
    assert_one_outcome(data.replace(b"\r\n", b"\n"), cuts,
                       small_config(allow_bare_lf=True, allow_raw_non_ascii_target=True))


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c.name for c in HOSTILE_CASES])
def test_hostile_table_has_one_outcome(case: Any) -> None:
    config = Config(clock=None, server_software=None, **case.config)
    cuts = list(range(0, len(case.raw), 7))
    assert_one_outcome(case.raw, cuts, config)
