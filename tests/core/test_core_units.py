"""Unit tests for the core's pieces that the end-to-end tables exercise only through a Connection: the
state table, the receive buffer, the head scanner, the head-parser choice, the chunked reader, the
response writer and the error responses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgicore import ApplicationError, Config, LocalProtocolError, _abnf
from wsgicore._body import ChunkedReader, LengthReader
from wsgicore._errors import Refusal
from wsgicore._head_parsers import request_fields
from wsgicore._head_scanner import HeadScanner
from wsgicore._receive import ReceiveBuffer
from wsgicore._response import ResponseWriter
from wsgicore._response_heads import ErrorResponses
from wsgicore._state import CloseReason, ConnectionState, Input, Phase, move

# -- state table ---------------------------------------------------------------------------------


def test_state_table_walks_one_request_cycle() -> None:
    phase = Phase.AWAIT_HEAD
    for event, expected in [(Input.HEAD, Phase.REQUEST), (Input.RUN_APP, Phase.RESPONDING),
                            (Input.RESPONSE, Phase.RESPONDED), (Input.NEXT_REQUEST, Phase.AWAIT_HEAD)]:
        phase = move(phase, event)
        assert phase == expected


@pytest.mark.parametrize("phase", [Phase.AWAIT_HEAD, Phase.REQUEST, Phase.RESPONDING, Phase.RESPONDED,
                                   Phase.CLOSED])
def test_close_is_possible_from_every_phase(phase: str) -> None:
    assert move(phase, Input.CLOSE) == Phase.CLOSED


@pytest.mark.parametrize(
    ("phase", "event"),
    [(Phase.AWAIT_HEAD, Input.RESPONSE), (Phase.REQUEST, Input.HEAD), (Phase.CLOSED, Input.HEAD),
     (Phase.RESPONDED, Input.RESPONSE), (Phase.AWAIT_HEAD, Input.NEXT_REQUEST)],
)
def test_a_pair_missing_from_the_table_is_a_local_error(phase: str, event: str) -> None:
    with pytest.raises(LocalProtocolError, match="not possible"):
        move(phase, event)


# -- receive buffer ------------------------------------------------------------------------------


def test_receive_buffer_side_path_keeps_the_object_and_the_order() -> None:
    rx = ReceiveBuffer()
    piece = b"hello world"
    rx.feed(piece, direct_ok=True)
    assert rx.direct is piece
    assert not rx.buf
    rx.feed(b"!", direct_ok=True)  # a second piece joins the buffer, after the first
    assert rx.direct is None
    assert bytes(rx.buf) == b"hello world!"
    assert rx.snapshot() == b"hello world!"


def test_receive_buffer_take_direct_leaves_the_next_requests_bytes() -> None:
    rx = ReceiveBuffer()
    rx.feed(b"abcGET /", direct_ok=True)
    assert rx.take_direct(3) == b"abc"
    assert bytes(rx.buf) == b"GET /"
    assert rx.direct is None
    assert rx.take_direct(3) is None


def test_receive_buffer_refuses_data_after_eof() -> None:
    rx = ReceiveBuffer()
    rx.feed(b"", direct_ok=False)
    assert rx.eof
    with pytest.raises(LocalProtocolError, match="after EOF"):
        rx.feed(b"x", direct_ok=False)


# -- head scanner and parser choice ---------------------------------------------------------------

HEAD = b"GET /a HTTP/1.1\r\nHost: h\r\nX-Y:  v w \t\r\n\r\n"


def test_scanner_takes_the_fast_path_for_a_whole_strict_head() -> None:
    scanner = HeadScanner(Config())
    buf = bytearray(HEAD + b"rest")
    assert scanner.scan(buf, False) == len(HEAD)
    assert scanner.fast
    assert scanner.request_line is not None
    assert scanner.request_line.target == b"/a"


def test_scanner_validates_lines_once_when_fed_byte_by_byte() -> None:
    scanner = HeadScanner(Config())
    buf = bytearray()
    ends = []
    for byte in HEAD:
        buf.append(byte)
        ends.append(scanner.scan(buf, False))
    assert ends[:-1] == [None] * (len(HEAD) - 1)
    assert ends[-1] == len(HEAD)
    assert not scanner.fast  # assembled line by line: h11 will check it
    assert scanner.lines == 3


def test_scanner_needs_no_reset_after_a_whole_head() -> None:
    # The connection resets the scanner only after a head scanned line by line: one the fast path
    # found leaves it ready, and the next head, arriving in pieces, is still scanned line by line.
    scanner = HeadScanner(Config())
    buf = bytearray(HEAD[:5])
    assert scanner.scan(buf, False) is None  # an incomplete first piece
    buf += HEAD[5:]
    assert scanner.scan(buf, False) == len(HEAD)
    assert scanner.fast
    del buf[: len(HEAD)]
    ends = []
    for byte in HEAD:
        buf.append(byte)
        ends.append(scanner.scan(buf, False))
    assert ends == [None] * (len(HEAD) - 1) + [len(HEAD)]
    assert not scanner.fast
    assert scanner.lines == 3
    assert scanner.request_line is not None
    assert scanner.request_line.target == b"/a"


def test_both_head_parsers_give_the_same_fields() -> None:
    fast, slow = HeadScanner(Config()), HeadScanner(Config())
    fast.scan(bytearray(HEAD), False)
    buf = bytearray()
    for byte in HEAD:
        buf.append(byte)
        slow.scan(buf, False)
    assert fast.request_line is not None
    assert slow.request_line is not None
    fields = request_fields(HEAD, fast, fast.request_line, False)
    assert fields == request_fields(HEAD, slow, slow.request_line, False)
    assert fields == [(b"Host", b"h"), (b"X-Y", b"v w")]


_FIELD_VALUES = st.lists(st.sampled_from([b" ", b"\t", b"a", b":", b"\x80", b"\xff", b"~"]),
                         max_size=8).map(b"".join)


@given(st.lists(st.tuples(st.sampled_from([b"Host", b"X-Y", b"a", b"Content-Type"]), _FIELD_VALUES),
                max_size=5))
def test_strict_split_gives_the_fields_findall_gives(fields: list[tuple[bytes, bytes]]) -> None:
    # The fast path splits a strict head at CRLF and the first colon instead of FIELDS.findall:
    # the pairs must be the same, OWS (SP/HTAB) stripped at both ends and nothing else.
    head = b"GET / HTTP/1.1\r\n" + b"".join(n + b":" + v + b"\r\n" for n, v in fields) + b"\r\n"
    scanner = HeadScanner(Config(max_header_count=10))
    assert scanner.scan(bytearray(head), False) == len(head)
    assert scanner.fast
    assert scanner.request_line is not None
    assert request_fields(head, scanner, scanner.request_line, False) == _abnf.FIELDS.findall(head)
    assert [name for name, _ in request_fields(head, scanner, scanner.request_line, False)] == [
        name for name, _ in fields]


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 200, 431, "field line longer"),  # incomplete, certain
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\n", 431, "field line longer"),  # length first
        (b"GET / HTTP/1.1\r\nX: a\n", 400, "bare LF"),
        (b"GET /" + b"a" * 300, 414, "request line longer"),
    ],
)
def test_scanner_refusals_and_their_order(data: bytes, status: int, reason: str) -> None:
    scanner = HeadScanner(Config(max_header_field=100, max_request_line=200))
    with pytest.raises(Refusal) as caught:
        scanner.scan(bytearray(data), False)
    assert caught.value.status == status
    assert reason in caught.value.reason


@pytest.mark.parametrize("bad", [b"a b", b"a\xff", b"a:b:c", b"a@b", b"[::1", b"a:80 x"])
def test_a_remembered_host_line_lets_no_other_line_through(bad: bytes) -> None:
    from wsgicore._head_semantics import _HOST_LINE, _valid_host_line, check_semantics
    assert _HOST_LINE.fullmatch(_valid_host_line)  # the initial memo is a valid line
    config = Config()
    for host in (b"a", b"a:80", bad, b"a"):
        scanner = HeadScanner(config)
        head = b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
        assert scanner.scan(bytearray(head), False) == len(head)
        request_line = scanner.request_line
        assert request_line is not None
        if host == bad:
            with pytest.raises(Refusal, match="invalid Host value"):
                check_semantics(head, request_line, config)
        else:
            assert check_semantics(head, request_line, config) == 0


def test_scanner_skips_blank_lines_before_the_request_line() -> None:
    scanner = HeadScanner(Config())
    buf = bytearray(b"\r\n\r\n" + HEAD)
    scanner.skip_blank_lines(buf)
    assert bytes(buf) == HEAD


# -- body readers ---------------------------------------------------------------------------------


def test_chunked_reader_returns_every_chunk_in_the_buffer_at_once() -> None:
    reader = ChunkedReader(Config())
    buf = bytearray(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\nNEXT")
    assert reader.read(buf, False) == b"abcde"
    assert reader.done
    assert bytes(buf) == b"NEXT"


def test_chunked_reader_delivers_the_data_before_a_fault_first() -> None:
    reader = ChunkedReader(Config())
    buf = bytearray(b"3\r\nabc\r\nzz\r\n")
    assert reader.read(buf, False) == b"abc"
    with pytest.raises(Refusal) as caught:
        reader.read(buf, False)
    assert caught.value.status == 400


def test_chunked_reader_limits_and_eof() -> None:
    reader = ChunkedReader(Config(max_body_bytes=4))
    with pytest.raises(Refusal) as caught:
        reader.read(bytearray(b"5\r\n"), False)
    assert caught.value.status == 413
    reader = ChunkedReader(Config())
    assert reader.read(bytearray(b"3\r\nab"), False) == b"ab"
    with pytest.raises(Refusal) as caught:
        reader.read(bytearray(), True)
    assert caught.value.status is None  # EOF mid-body: close without a response


def test_chunked_reader_needs_more_for_a_half_line() -> None:
    reader = ChunkedReader(Config())
    buf = bytearray(b"1")
    assert reader.read(buf, False) is None
    buf += b"0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"
    assert reader.read(buf, False) == b"x" * 16


def read_all(reader: ChunkedReader, pieces: list[bytes]) -> tuple[bytes, Any]:
    """Feed ``pieces`` (EOF after the last) and read until the end or a verdict: the data delivered
    before it, and the verdict (None at the body's end) or "more" when it stopped short."""
    buf = bytearray()
    delivered = bytearray()
    for index, piece in enumerate(pieces):
        buf += piece
        eof = index == len(pieces) - 1
        while True:
            try:
                data = reader.read(buf, eof)
            except Refusal as fault:
                return bytes(delivered), (fault.status, fault.reason)
            if data is None:
                break
            if data == b"":
                return bytes(delivered), None
            delivered += data
    return bytes(delivered), "more"


_CHUNK = st.one_of(
    st.binary(min_size=1, max_size=12).map(lambda data: b"%x\r\n%b\r\n" % (len(data), data)),
    st.binary(min_size=1, max_size=12).map(lambda data: b"%X;e=v\r\n%b\r\n" % (len(data), data)),
    st.binary(min_size=1, max_size=4).map(lambda data: b"000%x\r\n%b\r\n" % (len(data), data)),
)
_DAMAGE = st.sampled_from([b"", b"0\r\n\r\n", b"0\r\nT: v\r\n\r\n", b"2\r\nabX\r\n", b"2\r\nab\n",
                           b"g\r\n", b"1\n", b"2\r\nab", b"1\r\nx\r\n0\r\n\r\n"])


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(chunks=st.lists(_CHUNK, max_size=12), tail=_DAMAGE,
       body_limit=st.one_of(st.none(), st.integers(0, 60)), line_limit=st.integers(1, 12),
       cut=st.floats(0, 1))
def test_chunked_reader_delivers_the_same_and_decides_the_same_however_the_bytes_arrive(
        chunks: list[bytes], tail: bytes, body_limit: int | None, line_limit: int, cut: float) -> None:
    """Whole, the reader takes the complete chunks at the front of its buffer in one step; byte by
    byte, never; cut in two, both ways. All deliver the same data before the same verdict, and
    never more data than ``max_body_bytes``."""
    body = b"".join(chunks) + tail
    config = Config(max_body_bytes=body_limit, max_chunk_line=line_limit)
    whole = read_all(ChunkedReader(config), [body])
    assert read_all(ChunkedReader(config), [body[i : i + 1] for i in range(len(body))] or [b""]) == whole
    at = int(cut * len(body))  # a receive that ends inside a chunk: the rest is taken whole again
    assert read_all(ChunkedReader(config), [body[:at], body[at:]]) == whole
    if body_limit is not None:
        assert len(whole[0]) <= body_limit


def test_length_reader_stops_at_its_length() -> None:
    reader = LengthReader(3)
    buf = bytearray(b"abcdef")
    assert reader.read(buf, False) == b"abc"
    assert reader.done
    assert bytes(buf) == b"def"


# -- response writer ------------------------------------------------------------------------------


def writer(**kw: Any) -> tuple[ResponseWriter, list[bytes], list[str]]:
    sent: list[bytes] = []
    reports: list[str] = []
    state = ConnectionState(keep_alive=True)
    options: dict[str, Any] = {"head_request": False, "http11": True,
                               "keep_alive": lambda: state.keep_alive, "connection": state,
                               "date": None, "server": None,
                               "report": lambda problem: reports.append(problem.message)}
    options.update(kw)
    return ResponseWriter(sent.append, **options), sent, reports


def keeps_alive(w: ResponseWriter) -> bool:
    return w._connection.keep_alive


@pytest.mark.parametrize("on", [True, False])
def test_writer_without_a_keep_alive_question_takes_the_state_flag(on: bool) -> None:
    # keep_alive=None: the connection knows nothing of the request can rule keep-alive out (no
    # body left, no 100 Continue owed), so the state's flag alone says what the head says.
    w, sent, _ = writer(keep_alive=None)
    if not on:
        w._connection.disable_keep_alive(CloseReason.DRIVER)
    w.start_response("200 OK", [("Content-Length", "1")])
    w.write_whole(b"x")
    assert (b"Connection: close" in sent[0]) is not on
    assert keeps_alive(w) is on


@pytest.mark.parametrize(
    ("kw", "status", "framing_field", "body"),
    [
        ({}, "200 OK", b"Transfer-Encoding: chunked", b"2\r\nab\r\n0\r\n\r\n"),
        ({"http11": False}, "200 OK", b"Connection: close", b"ab"),
        ({"head_request": True}, "200 OK", b"", b""),
        ({}, "204 No Content", b"", b""),
    ],
    ids=["chunked", "http10-close", "head", "204"],
)
def test_writer_framing(kw: dict[str, Any], status: str, framing_field: bytes, body: bytes) -> None:
    w, sent, _ = writer(**kw)
    w.start_response(status, [])
    w.write(b"ab")
    w.finish()
    wire = b"".join(sent)
    head, _, rest = wire.partition(b"\r\n\r\n")
    assert framing_field in head
    assert rest == body


def test_writer_truncates_an_overlong_body_and_closes() -> None:
    w, sent, reports = writer()
    w.start_response("200 OK", [("Content-Length", "2")])
    w.write(b"abcd")
    w.finish()
    assert b"".join(sent).endswith(b"\r\n\r\nab")
    assert not keeps_alive(w)
    assert w.overflowed
    assert reports


def test_writer_short_body_closes() -> None:
    w, _, reports = writer()
    w.start_response("200 OK", [("Content-Length", "5")])
    w.write(b"ab")
    w.finish()
    assert not keeps_alive(w)
    assert "short" in reports[0]


@pytest.mark.parametrize(
    "misuse",
    [lambda w: w.write(b"x"), lambda w: (w.start_response("200 OK", []), w.start_response("200 OK", [])),
     lambda w: w.finish()],
    ids=["write-before-start", "start-twice", "finish-without-status"],
)
def test_writer_state_table_refuses_misuse(misuse: Any) -> None:
    w, _, _ = writer()
    with pytest.raises(ApplicationError):
        misuse(w)


# -- error responses ------------------------------------------------------------------------------


def test_error_responses_carry_date_and_server_and_no_content_for_head() -> None:
    errors = ErrorResponses(lambda: "Date: X\r\n", "Server: S\r\n")
    full = errors.make(400, "bad", head_request=False)
    assert b"\r\nDate: X\r\nServer: S\r\n\r\n400 Bad Request\nbad\n" in full
    head_only = errors.make(400, "bad", head_request=True)
    assert head_only == full[: full.index(b"\r\n\r\n") + 4]
    assert b"Content-Length: 20\r\n" in head_only  # the length of the GET answer (RFC 9110 §9.3.2)


@given(st.binary(max_size=12).map(lambda tail: b"/" + bytes(0x21 + byte % 0x5E for byte in tail)))
def test_strict_head_origin_group_is_origin_form(target: bytes) -> None:
    # The fast path skips _check_target_form for a target STRICT_HEAD captured as origin-form:
    # that must be exactly the targets ORIGIN_FORM accepts.
    match = _abnf.STRICT_HEAD.fullmatch(b"GET " + target + b" HTTP/1.1\r\n\r\n")
    assert match is not None
    assert (match["origin"] is not None) == (_abnf.ORIGIN_FORM.fullmatch(target) is not None)
