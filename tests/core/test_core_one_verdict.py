"""One verdict per input: the outcome never depends on how the bytes were split or which head parser
ran (issue 10, defects 2-6), and the application cannot put bytes on the wire it did not validate as.

Each test here failed before its fix; the property tests in test_core_split_outcome.py generalize them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from core_support import final_responses, parse_responses, run_connection, split_at

from wsgicore import Config, InputStream
from wsgidrivers.memory import exchange


def plain(**kw: Any) -> Config:
    return Config(clock=None, server_software=None, **kw)


def recording_app(seen: list[tuple[str, str, dict[str, str], bytes]]) -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read()
        headers = {k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))}
        seen.append((environ["REQUEST_METHOD"], environ["REQUEST_URI"], headers, body))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def outcome(data: bytes, pieces: list[bytes], config: Config | None = None) -> tuple[Any, ...]:
    """What the app saw, every final status with its reason text, and whether each response kept
    the connection open."""
    seen: list[tuple[str, str, dict[str, str], bytes]] = []
    run = run_connection(recording_app(seen), pieces, config=config or plain())
    responses = final_responses(run.output, allow_incomplete=False)
    return (seen, [(r.status, r.body if r.status >= 400 else b"", r.connection_close) for r in responses])


def feeds(data: bytes) -> dict[str, list[bytes]]:
    return {
        "whole": [data],
        "bytewise": [data[i : i + 1] for i in range(len(data))],
        "halves": split_at(data, [len(data) // 2]),
    }


# -- defect 2: Expect: 100-continue whose body arrived with the head -------------------------------

EXPECT_PIPELINE = (
    b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
    b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
)


@pytest.mark.parametrize("feed", ["whole", "bytewise", "halves"])
def test_expect_with_body_in_the_same_packet_keeps_the_connection(feed: str) -> None:
    seen, statuses = outcome(EXPECT_PIPELINE, feeds(EXPECT_PIPELINE)[feed])
    assert [(method, target, body) for method, target, _, body in seen] == [
        ("POST", "/a", b"hello"), ("GET", "/b", b"")]
    assert statuses == [(200, b"", False), (200, b"", False)]


def test_expect_whose_body_has_not_arrived_still_gets_its_100() -> None:
    head = b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    out = exchange(recording_app([]), [head, b"hello"], config=plain())
    responses = parse_responses(out)
    assert [r.status for r in responses] == [100, 200]


def test_expect_unread_body_that_never_came_still_closes() -> None:
    """The app answers without reading, and no body byte arrived: the client may still be waiting
    for a 100 or about to send the body, so the framing is in doubt and the connection closes."""

    def no_read(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [b""]

    head = b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    run = run_connection(no_read, [head], config=plain())
    assert [r.connection_close for r in final_responses(run.output)] == [True]


# -- defect 3: the error status and its reason for an over-long line ending in a bare LF ----------

LONG_LF_FIELD = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 8200 + b"\n\r\n"
LONG_LF_CHUNK = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"1;a=" + b"b" * 4100 + b"\nx\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("data", "config", "status"),
    [
        (LONG_LF_FIELD, plain(), 431),
        # The legacy profile accepts bare LF heads, so the head-size limit decides.
        (b"GET / HTTP/1.1\n" + b"".join(b"X-%d: %s\n" % (i, b"a" * 900) for i in range(80)) + b"\n",
         plain(allow_bare_lf=True), 431),
        # A head mixing CRLF into a bare-LF head, over the size limit in the same line.
        (b"GET / HTTP/1.1\nHost: h\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n", plain(allow_bare_lf=True), 431),
        (LONG_LF_CHUNK, plain(), 400),
    ],
    ids=["field-line", "legacy-head-size", "legacy-crlf-in-lf-head", "chunk-line"],
)
def test_over_long_line_with_a_bare_lf_gets_one_status_and_reason(
    data: bytes, config: Config, status: int
) -> None:
    results = set()
    last_lf = data.rindex(b"\n", 0, len(data) - 2 if data.endswith(b"\n\n") else len(data))
    splits = {
        "whole": [data],
        "before-lf": [data[:last_lf], data[last_lf:]],
        "each-line-end": split_at(data, [i for i in range(len(data)) if data[i : i + 1] == b"\n"]),
        "kilobytes": split_at(data, range(0, len(data), 1000)),
    }
    for pieces in splits.values():
        results.add(repr(outcome(data, pieces, config)[1]))
    assert len(results) == 1, results
    assert f"({status}," in results.pop()


# -- defect 4: the environ never depends on the parse path --------------------------------------


@pytest.mark.parametrize(
    "header",
    [b"Transfer-Encoding: Chunked", b"Transfer-Encoding: CHUNKED", b"Transfer-Encoding:  chunked \t"],
)
def test_header_values_are_the_same_from_both_head_parsers(header: bytes) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\n" + header + b"\r\nX-A: \tB c \r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    seen_by_feed = {name: outcome(data, pieces)[0] for name, pieces in feeds(data).items()}
    assert seen_by_feed["whole"] == seen_by_feed["bytewise"] == seen_by_feed["halves"]
    (_, _, headers, body), = seen_by_feed["whole"]
    assert headers["HTTP_TRANSFER_ENCODING"] == header.split(b":", 1)[1].strip(b" \t").decode()
    assert headers["HTTP_X_A"] == "B c"
    assert body == b"abc"


@pytest.mark.parametrize("junk", ["\x85", "\xa0", "\x0b", "\x0c"])
def test_connection_close_with_a_non_ows_byte_is_not_close(junk: str) -> None:
    """RFC 9110 §5.6.1: only SP and HTAB are OWS. str.strip() would take NEL, NBSP, VT and FF
    too. (VT and FF are refused as control characters before this.)"""
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close" + junk.encode("latin-1") + b"\r\n\r\n"
    seen, statuses = outcome(data, [data])
    if junk in ("\x0b", "\x0c"):
        assert statuses[0][0] == 400
        return
    assert statuses == [(200, b"", False)]
    assert seen[0][2]["HTTP_CONNECTION"] == "close" + junk


def test_expect_with_a_non_ows_byte_is_not_100_continue() -> None:
    head = b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\xa0\r\nContent-Length: 5\r\n\r\n"
    out = exchange(recording_app([]), [head, b"hello"], config=plain())
    assert [r.status for r in parse_responses(out)] == [200]


# -- defect 5: str and bytes subclasses cannot smuggle bytes past validation -------------------


class Sneaky(str):
    """Formats, prints and compares as something else than the text it holds."""

    def __format__(self, spec: str) -> str:
        return "ok\r\nSet-Cookie: session=attacker"

    def __str__(self) -> str:
        return "ok\r\nSet-Cookie: session=attacker"

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("Content-Type")


def _respond_with(status: Any, headers: Any, body: Any = b"x") -> tuple[bytes, list[str]]:
    problems: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, headers)
        return [body]

    run = run_connection(app, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", config=plain())
    problems.extend(p.message for p in run.problems)
    return run.output, problems


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        ("200 OK", [("X-Value", Sneaky("fine"))], b"\r\nX-Value: fine\r\n"),
        ("200 OK", [(Sneaky("X-Name"), "v")], b"\r\nX-Name: v\r\n"),
        (Sneaky("200 OK"), [], b"HTTP/1.1 200 OK\r\n"),
        # A cached valid name ("Content-Type") that the subclass hashes and compares equal to:
        # "Bad Name" is still not a token, so the app fails with a 500.
        ("200 OK", [("Content-Type", "text/plain"), (Sneaky("Bad Name"), "v")],
         b"HTTP/1.1 500 Internal Server Error\r\n"),
    ],
    ids=["value", "name", "status", "names-cache"],
)
def test_str_subclasses_are_checked_and_written_as_their_text(
    status: Any, headers: Any, expected: bytes
) -> None:
    out, _problems = _respond_with(status, headers)
    assert b"attacker" not in out
    assert expected in out
    final_responses(out)  # one well-formed response


class LyingBytes(bytes):
    def __len__(self) -> int:
        return 0


def test_bytes_subclass_cannot_lie_about_its_length() -> None:
    for body in ([LyingBytes(b"0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")],
                 (LyingBytes(b"abc"), LyingBytes(b"def"))):
        def app(environ: dict[str, Any], start_response: Callable[..., Any],
                body: Any = body) -> Iterable[bytes]:
            start_response("200 OK", [])
            return iter(body) if isinstance(body, tuple) else body

        out = run_connection(app, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", config=plain()).output
        (response,) = final_responses(out)
        assert response.body == b"".join(bytes(memoryview(b)) for b in body)


def test_config_str_subclasses_are_kept_as_plain_text() -> None:
    config = Config(server_software=Sneaky("wsgicore-test"), clock=None)
    assert type(config.server_software) is str
    out = exchange(recording_app([]), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", config=config)
    assert b"attacker" not in out
    assert b"Server: wsgicore-test\r\n" in out


# -- defect 6: readline(limit) keeps an offset instead of copying the rest ---------------------


def test_readline_limit_walks_a_large_piece_by_offset() -> None:
    piece = b"a" * 1000 + b"\n" + b"b" * 50
    feed = iter([piece])
    stream = InputStream(lambda wanted: next(feed, b""))
    got = []
    while line := stream.readline(100):
        got.append(line)
    assert b"".join(got) == piece
    assert [len(x) for x in got] == [100] * 10 + [1, 50]
    # Each call returned a fresh slice of at most 100 bytes; the piece itself was never re-sliced
    # into a remainder (the buffer stays the very object that was pulled).
    assert stream._buffer is piece or stream._buffer == b""


def test_readline_matches_bytesio_for_every_limit_and_split() -> None:
    data = b"ab\ncd" + b"e" * 20 + b"\n\nf"
    for cut in range(len(data) + 1):
        for limit in (-1, 1, 2, 3, 7, 30):
            pieces = iter([p for p in (data[:cut], data[cut:]) if p])
            stream = InputStream(lambda wanted, pieces=pieces: next(pieces, b""))
            ref = io.BytesIO(data)
            while True:
                a, b = stream.readline(limit), ref.readline(limit)
                assert a == b, (cut, limit)
                if not a:
                    break
