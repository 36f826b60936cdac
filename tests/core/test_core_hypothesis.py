"""Property tests: split invariance, request-side fuzzing, response-side fuzzing (h11 as client).

Every test is derandomized (seeded from the test itself), so a run is reproducible; default
example counts keep the module at a few seconds.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import h11
from core_support import (
    PEER,
    SOCKNAME,
    echo_app,
    final_responses,
    h11_parse_response,
    load_manifest,
    reading_app,
    run_connection,
    split_at,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_CORPUS, _MANIFEST = load_manifest()
CORPUS_BYTES: list[bytes] = (
    [(_CORPUS / case["file"]).read_bytes() for case in _MANIFEST] if _CORPUS is not None else []
)
SEEDS: list[bytes] = CORPUS_BYTES or [
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
]


def plain(**kw: Any) -> Any:
    from wsgicore import Config

    return Config(clock=None, server_software=None, **kw)


# ------------------------------------------------------------------ valid inputs

_PATH = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-._~!$&'()*+,;=:@/", max_size=20
).map(lambda s: "/" + s)
_QUERY = st.one_of(st.just(""), st.text(alphabet="abc123=&%2F?/", max_size=12).map("?".__add__))
_VALUE = st.text(alphabet="abcXYZ 019;=,/\t\"", max_size=15).map(str.strip)


@st.composite
def one_request(draw: st.DrawFn, last: bool) -> tuple[bytes, str]:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]))
    target = draw(_PATH) + draw(_QUERY)
    lines = [f"{method} {target} HTTP/1.1", "Host: example.com"]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["X-A", "Accept", "Cookie", "X_Under", "User-Agent"]))
        lines.append(f"{name}: {draw(_VALUE)}")
    if last and draw(st.booleans()):
        lines.append("Connection: close")
    body = draw(st.binary(max_size=64))
    kind = draw(st.sampled_from(["none", "length", "chunked"]))
    payload = b""
    if kind == "length" or (kind == "none" and body and method in ("POST", "PUT")):
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif kind == "chunked":
        lines.append("Transfer-Encoding: chunked")
        out = bytearray()
        pos = 0
        while pos < len(body):
            size = draw(st.integers(1, max(1, len(body) - pos)))
            piece = body[pos : pos + size]
            pos += size
            ext = draw(st.sampled_from(["", ";a=b", ';q="x y"', ";flag"]))
            hex_size = draw(st.sampled_from([f"{len(piece):x}", f"{len(piece):X}",
                                             f"0{len(piece):x}"]))
            out += f"{hex_size}{ext}\r\n".encode() + piece + b"\r\n"
        out += b"0\r\n"
        if draw(st.booleans()):
            out += b"X-Trailer: t\r\n"
        out += b"\r\n"
        payload = bytes(out)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload, method


@st.composite
def valid_input(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """Pipelined requests and the method of each (HEAD responses have no body)."""
    n = draw(st.integers(1, 4))
    requests = [draw(one_request(last=i == n - 1)) for i in range(n)]
    return b"".join(r for r, _ in requests), [m for _, m in requests]


def splits_of(data: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.integers(0, len(data)), max_size=12).map(lambda cuts: split_at(data, cuts))


def event_trace(pieces: list[bytes]) -> tuple[list[Any], bytes]:
    """Drive a Connection reading every body through events; coalesce adjacent BodyReceived."""
    from wsgicore import (
        NEED_DATA,
        PAUSED,
        BodyReceived,
        Connection,
        ConnectionClosed,
        RemoteProtocolError,
        RequestComplete,
        RequestReceived,
    )

    conn = Connection(plain(), peer=PEER, sockname=SOCKNAME)
    chunks = iter(pieces)
    trace: list[Any] = []
    out = bytearray()
    environ: dict[str, Any] | None = None
    total = sum(len(p) for p in pieces)
    for _ in range(10 * total + 100):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            trace.append(("error", exc.status_code))
            break
        if event is NEED_DATA:
            out += conn.data_to_send()
            conn.receive_data(next(chunks, b""))
        elif isinstance(event, RequestReceived):
            environ = event.environ
            trace.append(("request", dict(environ)))
        elif isinstance(event, BodyReceived):
            assert event.data, "BodyReceived with no data"
            if trace and trace[-1][0] == "body":
                trace[-1] = ("body", trace[-1][1] + event.data)
            else:
                trace.append(("body", event.data))
        elif isinstance(event, RequestComplete):
            trace.append(("complete",))
        elif event is PAUSED:
            assert environ is not None
            environ["wsgi.input"] = conn.input_stream(lambda size: b"")
            environ["wsgi.errors"] = io.StringIO()
            info = conn.run_app(echo_app, environ, out.extend)
            trace.append(("response", info))
            environ = None
        elif isinstance(event, ConnectionClosed):
            trace.append(("closed",))
            break
    else:
        raise AssertionError("next_event loop bound hit")
    out += conn.data_to_send()
    return trace, bytes(out)


@settings(deadline=None, derandomize=True)
@given(data=st.data())
def test_any_split_gives_same_output_and_events(data: st.DataObject) -> None:
    from wsgidrivers.memory import exchange

    raw, methods = data.draw(valid_input())
    pieces = data.draw(splits_of(raw))
    assert b"".join(pieces) == raw
    config = plain()
    whole = exchange(echo_app, raw, config=config)
    assert exchange(echo_app, pieces, config=config) == whole
    assert run_connection(echo_app, pieces, config=config).output == whole
    # Every request was valid: every one of them was answered with a 200.
    responses = final_responses(whole, methods=methods)
    assert responses
    assert all(r.status == 200 for r in responses)
    trace_whole, out_whole = event_trace([raw])
    trace_split, out_split = event_trace(pieces)
    assert trace_split == trace_whole
    assert out_split == out_whole
    assert not any(item[0] == "error" for item in trace_whole)


# ------------------------------------------------------------------ request-side fuzzing


def fuzz_one(pieces: list[bytes]) -> None:
    from wsgicore import ProtocolError

    calls: list[tuple[dict[str, Any], bytes]] = []
    total = sum(len(p) for p in pieces)
    try:
        # run_connection bounds next_event() calls and fails the test if the bound is hit.
        run = run_connection(
            reading_app(calls), pieces, config=plain(), max_steps=4 * total + 64
        )
    except ProtocolError:
        return
    # Whatever was sent back is a sequence of well-formed responses.
    final_responses(run.output)


def _mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, where, blob in edits:
        if not data:
            data += blob
            continue
        pos = where % len(data)
        if op == 0:
            data[pos : pos + 1] = blob[:1] or b"\x00"
        elif op == 1:
            data[pos:pos] = blob
        elif op == 2:
            del data[pos : pos + len(blob) + 1]
        else:
            data[pos:pos] = data[pos : pos + 1 + len(blob) * 8]
    return bytes(data)


_INTERESTING = st.sampled_from(
    [b"\r\n", b"\n", b"\r", b"\x00", b":", b" ", b"\t", b"0", b"chunked", b";", b"\xff",
     b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n", b"HTTP/1.1", b"\r\n\r\n"]
)


@settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=8))
def test_fuzz_arbitrary_bytes_only_protocol_error(raw: bytes, cuts: list[int]) -> None:
    fuzz_one(split_at(raw, cuts))


@settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 1 << 16),
                  st.one_of(_INTERESTING, st.binary(min_size=1, max_size=4))),
        min_size=1,
        max_size=6,
    ),
    cuts=st.lists(st.integers(0, 20000), max_size=6),
)
def test_fuzz_mutated_corpus_only_protocol_error(
    seed: bytes, edits: list[tuple[int, int, bytes]], cuts: list[int]
) -> None:
    data = _mutate(seed, edits)
    fuzz_one(split_at(data, cuts))
    fuzz_one([data[i : i + 1] for i in range(min(len(data), 400))] + [data[400:]])


@settings(deadline=None, derandomize=True)
@given(raw=st.binary(max_size=300))
def test_fuzz_direct_receive_next_event(raw: bytes) -> None:
    """Byte by byte into receive_data/next_event with no app: ProtocolError or an event."""
    from wsgicore import (
        NEED_DATA,
        PAUSED,
        Connection,
        ConnectionClosed,
        ProtocolError,
    )

    conn = Connection(plain(), peer=PEER, sockname=SOCKNAME)
    pieces = [raw[i : i + 1] for i in range(len(raw))] + [b""]
    index = 0
    try:
        for _ in range(4 * len(raw) + 64):
            event = conn.next_event()
            if event is NEED_DATA:
                if index >= len(pieces):
                    raise AssertionError("NEED_DATA after EOF")
                conn.receive_data(pieces[index])
                index += 1
            elif event is PAUSED or isinstance(event, ConnectionClosed):
                return
        raise AssertionError("next_event loop bound hit")
    except ProtocolError:
        return


# ------------------------------------------------------------------ response-side fuzzing

_TOKENS = ["Content-Type", "X-Custom", "Set-Cookie", "Content-Length", "Date", "Server",
           "Cache-Control", "ETag", "Location", "Vary"]
_STATUS = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda code, sep, reason: f"{code}{sep}{reason}",
        st.integers(0, 1200).map(str),
        st.sampled_from([" ", "", "  ", "\t", "\r\n"]),
        st.text(max_size=20),
    ),
    st.builds(lambda code, reason: f"{code} {reason}", st.integers(100, 599), st.sampled_from(
        ["OK", "Not Found", "", "Reason with spaces", "caf\u00e9", "tab\there"])),
)
_HEADER_NAME = st.one_of(st.sampled_from(_TOKENS), st.text(max_size=12))
_HEADER_VALUE = st.one_of(
    st.integers(0, 40).map(str),
    st.text(max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x17F), max_size=20),
)


@settings(deadline=None, derandomize=True)
@given(
    status=_STATUS,
    headers=st.lists(st.tuples(_HEADER_NAME, _HEADER_VALUE), max_size=6),
    body=st.binary(max_size=30),
)
def test_fuzz_start_response(status: str, headers: list[tuple[str, str]], body: bytes) -> None:
    from wsgicore import ApplicationError

    caught: list[BaseException] = []
    lengths = [v for n, v in headers if n.lower() == "content-length"]
    if lengths and lengths[0].isdigit() and lengths[0].isascii():
        body = b"x" * int(lengths[0])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            start_response(status, headers)
        except ApplicationError as exc:
            caught.append(exc)
            raise
        return [body]

    run = run_connection(app, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", config=plain())
    try:
        response, got_body = h11_parse_response(run.output)
    except h11.RemoteProtocolError as exc:
        raise AssertionError(
            f"h11 cannot parse our response to status={status!r} headers={headers!r}: "
            f"{exc}; output={run.output!r}"
        ) from exc
    if caught:
        assert response.status_code == 500
        return
    assert response.status_code == int(status[:3])
    assert response.status_code >= 200, "an interim status cannot be the final response"
    assert response.reason == status[4:].encode("latin-1")
    sent = [(n.lower(), v) for n, v in response.headers]
    ours = [(n.lower().encode("latin-1"), v.strip(" \t").encode("latin-1")) for n, v in headers]
    # The app's headers are sent in its order (the server may add its own around them).
    it = iter(sent)
    assert all(any(item == s for s in it) for item in ours), (ours, sent)
    if response.status_code not in (204, 304):
        assert got_body == body
    else:
        assert got_body == b""
