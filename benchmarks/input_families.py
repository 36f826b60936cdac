"""Input families for the parsing-cost audit: each one grows one part of an input (a run of blanks in a
field value, a chunk extension, a response header, a line read from ``wsgi.input``...) to ``k`` bytes.

Every regex and scan in ``src/wsgicore`` that sees client or application data has at least one family
here that stresses it with the shape that makes backtracking patterns quadratic (long runs of the
characters two adjacent quantifiers both accept, and a failure at the very end). Each family also names
its *baseline*: a plain input of the same size (letters instead of the blanks), so a cost can be
compared per byte with a request nobody would call hostile.

``benchmarks.growth`` measures how their cost grows with ``k``; ``tests/core/test_core_linear_time.py``
checks that the largest size of each is cheap, fed whole and in two pieces.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wsgicore import Config, InputStream
from wsgidrivers.memory import exchange

__all__ = ["FAMILIES", "Family", "family_input", "plain_request", "run_family", "runner"]

_HEAD = b"GET / HTTP/1.1\r\nHost: h\r\n"
_CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
_CONFIG = Config()  # the defaults: every limit as shipped, no clock (no Date header)

SP = b" "


@dataclass(frozen=True, slots=True)
class Family:
    """One input shape. ``build(k)`` returns the input for a variable part of ``k`` bytes, and
    ``run(input, split)`` processes it once (``split``: fed in two pieces cut in the middle, else
    whole). ``baseline(k)`` is a plain input of the same size, and ``sizes`` are (small, large)
    values of ``k`` within the default limits."""

    name: str
    what: str  # the code path it stresses
    build: Callable[[int], Any]
    run: Callable[[Any, bool], object]
    #: None: a plain GET of exactly the same number of bytes (letters in ordinary field lines).
    baseline: Callable[[int], Any] | None = None
    sizes: tuple[int, int] = (1000, 8000)


def _reading_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _serve(data: bytes, split: bool) -> object:
    """The request through the core, as a driver feeds it (whole, or in two pieces)."""
    pieces = [data[: len(data) // 2], data[len(data) // 2 :]] if split else data
    return exchange(_reading_app, pieces, config=_CONFIG, errors=io.StringIO())


def _request(field_line: bytes) -> bytes:
    return _HEAD + field_line + b"\r\n\r\n"


def _chunked(chunk_line: bytes, trailer: bytes = b"") -> bytes:
    return _CHUNKED_HEAD + chunk_line + b"\r\nx\r\n0\r\n" + trailer + b"\r\n"


def _letters(k: int) -> bytes:
    return (b"abcdefghij" * (k // 10 + 1))[:k]


def plain_request(size: int) -> bytes:
    """A GET of exactly ``size`` bytes: letters in field lines of at most 4 KiB (so within every
    default limit up to the 64 KiB head)."""
    fixed = len(_HEAD) + 2
    lines = []
    left = max(size - fixed, 0)
    index = 0
    while left > 0:
        name = b"X-%d: " % index
        take = min(4096, left)
        value = max(take - len(name) - 2, 1)
        lines.append(name + _letters(value) + b"\r\n")
        left -= len(lines[-1])
        index += 1
    return _HEAD + b"".join(lines) + b"\r\n"


# -- response side: the application's status and headers -----------------------------------------


def _respond(response: tuple[str, list[tuple[str, str]]], split: bool) -> object:
    status, headers = response

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, headers)
        return [b"x"]

    return exchange(app, _request(b"X: y"), config=_CONFIG, errors=io.StringIO())


# -- wsgi.input ---------------------------------------------------------------------------------


def _read_body(spec: tuple[list[bytes], str, int], split: bool) -> object:
    """Read a body delivered in ``pieces`` with ``readline(n)`` or ``read(n)`` to its end
    (``split`` does not apply: the pieces are the split)."""
    pieces, op, size = spec
    feed = iter(pieces)
    stream = InputStream(lambda wanted: next(feed, b""))
    read = stream.readline if op == "readline" else stream.read
    count = 0
    while read(size):
        count += 1
    return count


def _head_families() -> list[Family]:
    def field(prefix: bytes, run: Callable[[int], bytes], suffix: bytes = b"") -> Callable[[int], bytes]:
        return lambda k: _request(prefix + run(k) + suffix)

    def spaces(k: int) -> bytes:
        return SP * k

    def seven_te_lines(k: int) -> bytes:
        return _HEAD + b"".join(b"Transfer-Encoding: a" + SP * k + b"b\r\n" for _ in range(7)) + b"\r\n"

    def many_fields(k: int) -> bytes:
        return _HEAD + b"".join(b"X-%d: " % i + b"a" * 70 + b"\r\n" for i in range(k // 80 - 1)) + b"\r\n"

    def request_line(target: bytes) -> bytes:
        return b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"

    return [
        Family("value-inner-spaces", "field value OWS (FIELDS on the fast path, h11 when split)",
               field(b"X: a", spaces, b"b"), _serve),
        Family("value-inner-tabs", "field value OWS, HTAB",
               field(b"X: a", lambda k: b"\t" * k, b"b"), _serve),
        Family("value-trailing-spaces", "trailing OWS of a field value", field(b"X: a", spaces), _serve),
        Family("value-leading-spaces", "leading OWS of a field value", field(b"X:", spaces, b"a"), _serve),
        Family("value-alternating", "many short blank runs in one value",
               field(b"X: ", lambda k: b"a " * (k // 2), b"a"), _serve),
        Family("host-spaces", "Host value (_head._FIELD_VALUES, HOST_VALUE; 400)",
               lambda k: b"GET / HTTP/1.1\r\nHost: a" + SP * k + b"b\r\n\r\n", _serve),
        Family("content-length-spaces", "Content-Length value (400)",
               field(b"Content-Length: 1", spaces, b"2"), _serve),
        Family("transfer-encoding-spaces", "Transfer-Encoding value (501)",
               lambda k: _CHUNKED_HEAD.replace(b"chunked", b"a" + SP * k + b"b"), _serve),
        Family("transfer-encoding-7-lines", "seven Transfer-Encoding lines in one head (501)",
               seven_te_lines, _serve),
        Family("connection-list", "Connection token list",
               field(b"Connection: ", lambda k: b", " * (k // 2), b"close"), _serve),
        Family("expect-spaces", "Expect value", field(b"Expect:", spaces, b"100-continue"), _serve),
        Family("many-fields", "field lines, up to max_header_count", many_fields, _serve),
        Family("long-line-bare-lf", "an over-long field line ending in a bare LF (431)",
               lambda k: _HEAD + b"X: " + b"a" * (k + 200) + b"\n\r\n", _serve),
        Family("request-line-spaces", "request-line diagnosis (400)",
               lambda k: b"GET" + SP * k + b"/ HTTP/1.1\r\nHost: h\r\n\r\n", _serve),
        Family("path-then-fragment", "origin-form path, failing at its end (400)",
               lambda k: request_line(b"/" + b"a/" * (k // 2) + b"#"), _serve),
        Family("query-then-quote", "origin-form query, failing at its end (400)",
               lambda k: request_line(b"/?" + b"a=" * (k // 2) + b'"'), _serve),
        Family("absolute-form-authority", "absolute-form authority, failing at its end (400)",
               lambda k: request_line(b"http://" + b"a." * (k // 2) + b"#"), _serve),
        Family("obs-fold-lines", "obs-fold diagnosis (400)",
               lambda k: _HEAD + b"X: a\r\n" + SP * k + b"b\r\n\r\n", _serve),
        Family("blank-lines-first", "empty lines before the request line (RFC 9112 §2.2)",
               lambda k: b"\r\n" * (k // 2) + _request(b"X: y"), _serve),
    ]


def _body_families() -> list[Family]:
    small = (500, 4000)  # max_chunk_line is 4096
    return [
        Family("chunk-ext-bws", "chunk-ext with BWS around '=' (CHUNK_LINE)",
               lambda k: _chunked(b"1;a" + SP * k + b"=b"), _serve, sizes=small),
        Family("chunk-size-bws", "BWS between chunk-size and ';'",
               lambda k: _chunked(b"1" + SP * k + b";a"), _serve, sizes=small),
        Family("chunk-ext-bws-failing", "chunk-ext with trailing BWS and no value (400)",
               lambda k: _chunked(b"1;a" + SP * k), _serve, sizes=small),
        Family("chunk-ext-quoted", "quoted-string chunk-ext value full of quoted-pairs",
               lambda k: _chunked(b'1;a="' + b"\\a" * (k // 2) + b'"'), _serve, sizes=small),
        Family("chunk-ext-many", "many chunk extensions on one line",
               lambda k: _chunked(b"1" + b";a=b" * (k // 4)), _serve, sizes=small),
        Family("trailer-spaces", "trailer field value OWS",
               lambda k: _chunked(b"1", b"X: a" + SP * k + b"b\r\n"), _serve),
        Family("many-small-chunks", "a body of one-byte chunks",
               lambda k: _CHUNKED_HEAD + b"1\r\nx\r\n" * (k // 6) + b"0\r\n\r\n", _serve),
    ]


def _response_families() -> list[Family]:
    def header(value: Callable[[int], str]) -> Callable[[int], tuple[str, list[tuple[str, str]]]]:
        return lambda k: ("200 OK", [("X", value(k))])

    plain = header(lambda k: _letters(k).decode())
    return [
        Family("response-value-spaces", "response header value check (_BAD_VALUE)",
               header(lambda k: "a" + " " * k + "b"), _respond, plain),
        Family("response-value-bad-end", "response header value with a CTL at its end (500)",
               header(lambda k: "a" * k + "\x01"), _respond, plain),
        Family("response-reason-spaces", "status line (_STATUS)",
               lambda k: ("200 " + " " * k + "x", []), _respond, plain),
        Family("response-content-length-spaces", "Content-Length from the application (_DIGITS)",
               lambda k: ("200 OK", [("Content-Length", "1" + " " * k)]), _respond, plain),
        Family("response-many-headers", "many response headers (names cache, serializer)",
               lambda k: ("200 OK", [(f"X-{i}", "v") for i in range(k // 8)]), _respond, plain),
    ]


def _input_families() -> list[Family]:
    # k x 100 bytes of body: 800 KB at the large size, near the 1 MB measurement.
    def body(piece: Callable[[int], int], op: str, size: int) -> Callable[[int], Any]:
        def build(k: int) -> tuple[list[bytes], str, int]:
            data, step = b"a" * (k * 100), piece(k)
            return [data[i : i + step] for i in range(0, len(data), step)], op, size

        return build

    def whole(k: int) -> int:
        return k * 100

    def hundred(k: int) -> int:
        return 100

    return [
        Family("readline-limit-one-piece", "wsgi.input readline(100) over one large piece",
               body(whole, "readline", 100), _read_body, body(whole, "read", 100)),
        Family("readline-long-line-small-pieces", "wsgi.input readline() of one line in 100-byte pieces",
               body(hundred, "readline", -1), _read_body, body(hundred, "read", 100)),
        Family("read-small-blocks", "wsgi.input read(50) over one large piece",
               body(whole, "read", 50), _read_body, body(whole, "read", 100)),
    ]


def family_input(family: Family, k: int, *, baseline: bool = False) -> Any:
    """The family's input for ``k`` (or the plain input of the same size), built once so that
    only its processing is timed."""
    if not baseline:
        return family.build(k)
    if family.baseline is None:
        return plain_request(len(family.build(k)))
    return family.baseline(k)


def run_family(family: Family, k: int, *, split: bool, baseline: bool = False) -> object:
    """Build the input and process it once."""
    data = family_input(family, k, baseline=baseline)
    if baseline and family.baseline is None:
        return _serve(data, split)
    return family.run(data, split)


def runner(family: Family, *, baseline: bool = False) -> Callable[[Any, bool], object]:
    """What processes the input :func:`family_input` returns."""
    return _serve if baseline and family.baseline is None else family.run


FAMILIES: tuple[Family, ...] = (
    *_head_families(),
    *_body_families(),
    *_response_families(),
    *_input_families(),
)
