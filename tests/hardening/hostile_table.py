"""A table of hostile HTTP/1.x requests and what a strict wsgicore server must do with each.

Plain data, no imports from wsgicore or from any driver, so that every driver's tests can reuse it
(``from tests.hardening.hostile_table import HOSTILE_CASES``) and parametrise it over drivers.

Each :class:`HostileCase` is sent to a *fresh* connection, followed by EOF (a half-close on a
socket). The test application reads ``wsgi.input`` to the end *before* it calls ``start_response``
(so body errors can still become 4xx responses), records the environ and answers ``200`` with a
``Content-Length`` body.

Grading (the same rules as ``/work/shared/corpus/requests/README.md``):

* ``before``: the number of ``200`` responses that come first (valid pipelined requests in front
  of the hostile one). Their requests reach the application.
* ``expect``: what follows them. An ``int`` is the status of the next response, after which the
  connection is closed and nothing else is sent; ``200`` means the hostile-looking request is in
  fact valid and is served too. ``"close"`` means no further byte is written and the connection is
  closed.
  ``alt`` lists other outcomes a conforming server may produce (several rules broken at once, or a
  judgement call); the first is the one the policy's precedence rules give.
* ``phase``: ``"head"`` means the problem is in the head: the application is never called for it.
  ``"body"`` means the head was valid: the application may have been called (at most once) but its
  response must not reach the wire. ``"ok"``: the request is valid and the application serves it.
* ``config``: keyword overrides for ``wsgicore.Config`` (``{}`` = defaults).
* Any request whose target contains ``smuggled`` must never reach the application.

Policy (RFC 9112/9110, strict): see the corpus README. Precedence: request line (414, then 400/505),
header lines in order (400/431), head semantics (400s, then 501s), body (400/413, close on EOF).
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["HOSTILE_CASES", "VALID_FOLLOW_UP", "HostileCase", "cases_by_name"]


class HostileCase(NamedTuple):
    """One hostile request: raw wire bytes and the outcome a strict server must produce."""

    name: str
    raw: bytes
    expect: int | str
    config: dict[str, Any]
    note: str
    alt: tuple[int | str, ...] = ()
    phase: str = "head"
    before: int = 0


#: A valid request sent on a new connection after each hostile one: the server must still answer it.
#: (Short enough for the table's smallest configured limits; the app answers ``ok /f``.)
VALID_FOLLOW_UP = b"GET /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

_H = b"Host: example.com\r\n"
_GET = b"GET / HTTP/1.1\r\n" + _H
_POST = b"POST /upload HTTP/1.1\r\n" + _H
_SMUGGLED = b"GET /smuggled HTTP/1.1\r\n" + _H + b"\r\n"
_VALID = b"GET /first HTTP/1.1\r\n" + _H + b"\r\n"
# A TLS 1.2 ClientHello record header plus the start of a handshake, as a browser sends it to a
# plain-HTTP port by mistake (or a scanner on purpose).
_TLS_HELLO = (
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"
    + bytes(range(32))
    + b"\x00\x00\x20\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30\xcc\xa9\xcc\xa8\xc0\x09\xc0\x13"
    + b"\x00\x00\x1c\x00\x0a\x00\x08\x00\x06\x00\x1d\x00\x17\x00\x18"
)
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _chunked(body: bytes) -> bytes:
    return _POST + b"Transfer-Encoding: chunked\r\n\r\n" + body


def _fields(count: int, size: int) -> bytes:
    """``count`` field lines of exactly ``size`` bytes each (without CRLF)."""
    out = []
    for i in range(count):
        name = b"X-F%04d: " % i
        out.append(name + b"v" * (size - len(name)) + b"\r\n")
    return b"".join(out)


def _line_of(length: int) -> bytes:
    """A request line of exactly ``length`` bytes (without CRLF)."""
    fixed = len(b"GET / HTTP/1.1")
    return b"GET /" + b"a" * (length - fixed) + b" HTTP/1.1"


_CASES: list[HostileCase] = [
    # ---- CL.TE / TE.CL: Content-Length together with Transfer-Encoding (RFC 9112 section 6.3) ----
    HostileCase("cl_te",
                _POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
                400, {}, "CL.TE: both framings, 400 (RFC 9112 6.3 item 3)"),
    HostileCase("te_cl", _POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n"
                + _SMUGGLED + b"\r\n0\r\n\r\n", 400, {}, "TE.CL: classic smuggling layout"),
    HostileCase("cl_te_zero_cl", _POST + b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\n", 400, {}, "CL 0 plus TE chunked"),
    HostileCase("cl_te_smuggled_get",
                _POST + b"Content-Length: 40\r\nTransfer-Encoding: chunked\r\n"
                b"\r\n0\r\n\r\n" + _SMUGGLED, 400, {}, "CL.TE hiding a second request"),
    HostileCase("te_tab_with_cl",
                _POST + b"Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n\r\n"
                b"0\r\n\r\n", 400, {}, "HTAB is OWS: still TE chunked, so CL+TE"),
    HostileCase("cl_te_http10",
                b"POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n0\r\n\r\n", 400, {}, "CL+TE on HTTP/1.0"),
    HostileCase("te_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400, {}, "Transfer-Encoding on HTTP/1.0 (RFC 9112 6.1)"),
    # ---- Transfer-Encoding obfuscations ----
    HostileCase("te_space_before_colon", _POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                400, {}, "whitespace between field name and colon (RFC 9112 5.1)"),
    HostileCase("te_xchunked", _POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
                501, {}, "unknown transfer coding"),
    HostileCase("te_identity", _POST + b"Transfer-Encoding: identity\r\n\r\n", 501, {},
                "identity is not a transfer coding any more"),
    HostileCase("te_gzip_chunked", _POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                501, {}, "coding list not exactly 'chunked'"),
    HostileCase("te_chunked_gzip", _POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
                501, {}, "chunked not final: RFC 9112 6.3 says 400; policy gives 501", alt=(400,)),
    HostileCase("te_chunked_twice_one_line", _POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n"
                b"0\r\n\r\n", 501, {}, "'chunked, chunked' is not exactly 'chunked'", alt=(400,)),
    HostileCase("te_chunked_two_lines", _POST + b"Transfer-Encoding: chunked\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, {},
                "the list is all TE lines together", alt=(400,)),
    HostileCase("te_identity_then_chunked_lines", _POST + b"Transfer-Encoding: identity\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, {}, "split list"),
    HostileCase("te_chunked_then_gzip_lines", _POST + b"Transfer-Encoding: chunked\r\n"
                b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 501, {},
                "adjacent TE lines: the final coding is gzip, not chunked", alt=(400,)),
    HostileCase("te_chunked_then_gzip_apart", _POST + b"Transfer-Encoding: chunked\r\nX-A: b\r\n"
                b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 501, {},
                "the same, with a field line between them", alt=(400,)),
    HostileCase("te_quoted", _POST + b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n', 501, {},
                "quoted coding is not the token chunked", alt=(400,)),
    HostileCase("te_vertical_tab", _POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
                400, {}, "VT is a CTL in a field value"),
    HostileCase("te_form_feed", _POST + b"Transfer-Encoding: chunked\x0c\r\n\r\n0\r\n\r\n",
                400, {}, "FF is a CTL in a field value"),
    HostileCase("te_nul", _POST + b"Transfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n", 400, {},
                "NUL in a field value"),
    HostileCase("te_obs_fold", _POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400, {},
                "obs-fold (RFC 9112 5.2)"),
    HostileCase("te_bare_lf_injected", _POST + b"X-A: b\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\n", 400, {}, "bare LF hides a TE line from CRLF-only parsers"),
    HostileCase("te_bare_cr_injected", _POST + b"X-A: b\rTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\n", 400, {}, "bare CR as a line break"),
    HostileCase("te_leading_ws_first_line", b"POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\n"
                + _H + b"\r\n0\r\n\r\n", 400, {},
                "whitespace-preceded first field line (RFC 9112 2.2)"),
    HostileCase("te_name_split_by_crlf", _POST + b"Transfer\r\n-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400, {}, "a field line without a colon"),
    HostileCase("te_upper_case", _POST + b"Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", 200, {},
                "coding names are case-insensitive (RFC 9112 7): this is chunked", alt=(501,),
                phase="ok"),
    HostileCase("te_trailing_comma", _POST + b"Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n",
                200, {},
                "empty list elements are ignored (RFC 9110 5.6.1.2)", alt=(501, 400), phase="ok"),
    HostileCase("te_non_ascii_name", _POST + b"Transfer-Encod\xefng: chunked\r\n\r\n0\r\n\r\n",
                400, {}, "field name is not a token"),
    # ---- Content-Length abuse (RFC 9110 8.6, RFC 9112 6.3) ----
    HostileCase("cl_duplicate_same", _POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
                400, {}, "duplicate Content-Length (policy: always 400)"),
    HostileCase("cl_duplicate_conflict", _POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
                b"hello!", 400, {}, "conflicting Content-Length"),
    HostileCase("cl_list_form", _POST + b"Content-Length: 5, 5\r\n\r\nhello", 400, {},
                "list form"),
    HostileCase("cl_negative", _POST + b"Content-Length: -1\r\n\r\n", 400, {}, "sign"),
    HostileCase("cl_plus", _POST + b"Content-Length: +5\r\n\r\nhello", 400, {}, "sign"),
    HostileCase("cl_hex", _POST + b"Content-Length: 0x5\r\n\r\nhello", 400, {}, "hex"),
    HostileCase("cl_underscore", _POST + b"Content-Length: 1_0\r\n\r\n0123456789", 400, {},
                "int('1_0') == 10 in Python: must not be accepted"),
    HostileCase("cl_fullwidth_digit", _POST + "Content-Length: \uff15".encode() + b"\r\n\r\nhello",
                400, {}, "int() accepts Unicode digits: must not be accepted"),
    HostileCase("cl_inner_space", _POST + b"Content-Length: 1 0\r\n\r\n0123456789", 400, {},
                "space inside the number"),
    HostileCase("cl_empty", _POST + b"Content-Length:\r\n\r\n", 400, {}, "empty value"),
    HostileCase("cl_float", _POST + b"Content-Length: 5.0\r\n\r\nhello", 400, {}, "decimal point"),
    HostileCase("cl_space_before_colon", _POST + b"Content-Length : 5\r\n\r\nhello", 400, {},
                "whitespace before colon"),
    HostileCase("cl_ctl_value", _POST + b"Content-Length: \x0b5\r\n\r\nhello", 400, {}, "VT"),
    HostileCase("cl_leading_zeros", _POST + b"Content-Length: 005\r\n\r\nhello", 200, {},
                "1*DIGIT: leading zeros are valid", phase="ok"),
    HostileCase("cl_trailing_ows", _POST + b"Content-Length: 5 \t\r\n\r\nhello", 200, {},
                "OWS around the value is not part of it", phase="ok"),
    HostileCase("cl_huge_over_limit", _POST + b"Content-Length: 99999999999999999999999999\r\n\r\n",
                413, {"max_body_bytes": 1 << 20}, "declared body over max_body_bytes", alt=(400,)),
    HostileCase("cl_over_limit", _POST + b"Content-Length: 2048\r\n\r\n" + b"x" * 2048, 413,
                {"max_body_bytes": 1024}, "declared body over max_body_bytes"),
    HostileCase("cl_huge_eof", _POST + b"Content-Length: 99999999999999999999999999\r\n\r\nabc",
                "close", {}, "no limit: EOF mid-body closes silently", alt=(400, 413),
                phase="body"),
    HostileCase("cl_short_body_eof", _POST + b"Content-Length: 10\r\n\r\nhello", "close", {},
                "EOF before the declared body ended (RFC 9112 8)", phase="body"),
    HostileCase("cl_body_is_a_request", b"GET / HTTP/1.1\r\n" + _H + b"Content-Length: %d\r\n\r\n"
                % len(_SMUGGLED) + _SMUGGLED, 200, {},
                "a GET body that looks like a request is a body, not a request", phase="ok"),
    # ---- singleton fields (RFC 9110 5.3: a field that is not a list cannot be combined) ----
    HostileCase("content_type_twice", _POST + b"Content-Type: application/json\r\n"
                b"Content-Type: text/html\r\nContent-Length: 2\r\n\r\n{}", 400, {},
                "two Content-Type fields: which one the body is, is ambiguous (gunicorn invalid/041)"),
    HostileCase("content_type_twice_same", _POST + b"Content-Type: text/plain\r\n"
                b"content-type: text/plain\r\nContent-Length: 2\r\n\r\nhi", 400, {},
                "two Content-Type fields, even equal ones (as two Content-Length)"),
    HostileCase("content_type_with_comma", _POST + b'Content-Type: multipart/form-data; '
                b'boundary="a,b"\r\nContent-Length: 0\r\n\r\n', 200, {},
                "one Content-Type whose quoted parameter holds a comma is valid", phase="ok"),
    # ---- chunk-size and chunk-extension abuse (RFC 9112 7.1) ----
    HostileCase("chunk_size_minus", _chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400, {}, "sign",
                phase="body"),
    HostileCase("chunk_size_plus", _chunked(b"+5\r\nhello\r\n0\r\n\r\n"), 400, {}, "sign",
                phase="body"),
    HostileCase("chunk_size_0x", _chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, {}, "0x prefix",
                phase="body"),
    HostileCase("chunk_size_underscore", _chunked(b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n"), 400, {},
                "int('1_0', 16) == 16 in Python", phase="body"),
    HostileCase("chunk_size_trailing_space", _chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400, {},
                "BWS is only allowed before ';'", phase="body"),
    HostileCase("chunk_size_leading_space", _chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400, {},
                "leading space", phase="body"),
    HostileCase("chunk_size_empty", _chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, {}, "no digits",
                phase="body"),
    HostileCase("chunk_size_non_hex", _chunked(b"g\r\nhello\r\n0\r\n\r\n"), 400, {}, "not hex",
                phase="body"),
    HostileCase("chunk_size_too_long_line", _chunked(b"0" * 5000 + b"5\r\nhello\r\n0\r\n\r\n"), 400,
                {}, "chunk line over max_chunk_line (4096)", phase="body"),
    HostileCase("chunk_size_huge_over_limit", _chunked(b"fffffffffffffffffffffff\r\nabc"), 413,
                {"max_body_bytes": 1 << 20}, "a chunk bigger than max_body_bytes", alt=(400,),
                phase="body"),
    HostileCase("chunk_body_over_limit", _chunked(b"10\r\n" + b"x" * 16 + b"\r\n10\r\n" + b"y" * 16
                + b"\r\n0\r\n\r\n"), 413, {"max_body_bytes": 20}, "received body over the limit",
                phase="body"),
    HostileCase("chunk_ext_valid", _chunked(b"5;foo=bar;baz\r\nhello\r\n0;x=\"q \\\" d\"\r\n\r\n"),
                200, {}, "valid extensions are ignored", phase="ok"),
    HostileCase("chunk_ext_bws", _chunked(b"5 ; foo = bar\r\nhello\r\n0\r\n\r\n"), 200, {},
                "BWS around ';' and '=' is valid", phase="ok"),
    HostileCase("chunk_ext_empty_name", _chunked(b"5;=bar\r\nhello\r\n0\r\n\r\n"), 400, {},
                "empty extension name", phase="body"),
    HostileCase("chunk_ext_ctl", _chunked(b"5;foo=\x01\r\nhello\r\n0\r\n\r\n"), 400, {},
                "CTL in an extension", phase="body"),
    HostileCase("chunk_ext_bare_cr", _chunked(b"5;foo\rbar\r\nhello\r\n0\r\n\r\n"), 400, {},
                "bare CR in an extension", phase="body"),
    HostileCase("chunk_ext_unterminated_quote", _chunked(b'5;foo="bar\r\nhello\r\n0\r\n\r\n'), 400,
                {}, "unterminated quoted-string", phase="body"),
    HostileCase("chunk_line_at_limit", _chunked(b"5;a=" + b"x" * (4096 - 4) + b"\r\nhello\r\n"
                b"0\r\n\r\n"), 200, {}, "chunk line of exactly max_chunk_line bytes", phase="ok"),
    HostileCase("chunk_line_over_limit", _chunked(b"5;a=" + b"x" * (4097 - 4) + b"\r\nhello\r\n"
                b"0\r\n\r\n"), 400, {}, "chunk line of max_chunk_line + 1 bytes", phase="body"),
    HostileCase("chunk_ext_endless", _chunked(b"5;a" * 20000), 400, {},
                "an endless extension is cut at max_chunk_line, not buffered", alt=("close",),
                phase="body"),
    HostileCase("chunk_size_bare_lf", _chunked(b"5\nhello\r\n0\r\n\r\n"), 400, {}, "bare LF",
                phase="body"),
    HostileCase("chunk_data_bare_lf", _chunked(b"5\r\nhello\n0\r\n\r\n"), 400, {},
                "bare LF after data", phase="body"),
    HostileCase("chunk_data_too_long", _chunked(b"5\r\nhelloXX\r\n0\r\n\r\n"), 400, {},
                "data longer than the chunk size", phase="body"),
    HostileCase("chunk_last_bare_lf", _chunked(b"5\r\nhello\r\n0\n\n"), 400, {},
                "last chunk with bare LFs", phase="body"),
    HostileCase("chunk_missing_last", _chunked(b"5\r\nhello\r\n"), "close", {},
                "EOF inside the chunked body", phase="body"),
    HostileCase("chunk_missing_final_crlf", _chunked(b"5\r\nhello\r\n0\r\n"), "close", {},
                "EOF before the final CRLF", phase="body"),
    HostileCase("chunk_trailer_valid", _chunked(b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"), 200,
                {}, "trailers are discarded (RFC 9112 7.1.2)", phase="ok"),
    HostileCase("chunk_trailer_bare_lf", _chunked(b"5\r\nhello\r\n0\r\nX-T: 1\n\r\n"), 400, {},
                "bare LF in the trailer section", phase="body"),
    HostileCase("chunk_trailer_ctl", _chunked(b"5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n"), 400, {},
                "NUL in a trailer field", phase="body"),
    HostileCase("chunk_trailer_huge", _chunked(b"5\r\nhello\r\n0\r\n" + _fields(200, 1000)
                + b"\r\n"), 431, {}, "trailer section over the head limits is not buffered",
                alt=(400, 413), phase="body"),
    HostileCase("chunk_then_smuggled_in_same_chunk", _chunked(b"%x\r\n" % len(_SMUGGLED) + _SMUGGLED
                + b"\r\n0\r\n\r\n"), 200, {}, "a request inside chunk data is data", phase="ok"),
    # ---- bare CR / LF, obs-fold, control bytes in the head ----
    HostileCase("bare_lf_request_line", b"GET / HTTP/1.1\n" + _H + b"\r\n", 400, {}, "bare LF"),
    HostileCase("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: example.com\n\n", 400, {},
                "bare LF only (legacy clients); allow_bare_lf is off"),
    HostileCase("bare_lf_end_of_head", _GET + b"\n", 400, {}, "head ended by a bare LF",
                alt=("close",)),
    HostileCase("bare_cr_request_line", b"GET / HTTP/1.1\r" + _H + b"\r\n", 400, {}, "bare CR"),
    HostileCase("bare_cr_in_target", b"GET /a\rb HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "CR inside the target"),
    HostileCase("bare_cr_in_value", _GET + b"X-A: a\rb\r\n\r\n", 400, {}, "CR inside a value"),
    HostileCase("obs_fold_space", _GET + b"X-A: a\r\n b\r\n\r\n", 400, {}, "obs-fold with SP"),
    HostileCase("obs_fold_tab", _GET + b"X-A: a\r\n\tb\r\n\r\n", 400, {}, "obs-fold with HTAB"),
    HostileCase("nul_in_value", _GET + b"X-A: a\x00b\r\n\r\n", 400, {}, "NUL"),
    HostileCase("nul_in_name", _GET + b"X-\x00A: b\r\n\r\n", 400, {}, "NUL in a name"),
    HostileCase("del_in_value", _GET + b"X-A: a\x7fb\r\n\r\n", 400, {}, "DEL"),
    HostileCase("esc_in_value", _GET + b"X-A: \x1b[31mred\r\n\r\n", 400, {},
                "terminal escape in a value"),
    HostileCase("ctl_in_target", b"GET /a\x01b HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "CTL in the target"),
    HostileCase("nul_in_method", b"GE\x00T / HTTP/1.1\r\n" + _H + b"\r\n", 400, {}, "NUL"),
    HostileCase("obs_text_in_value", _GET + b"X-A: caf\xe9 \xff\r\n\r\n", 200, {},
                "obs-text (0x80-0xFF) is allowed in values", phase="ok"),
    HostileCase("space_in_name", _GET + b"X A: b\r\n\r\n", 400, {}, "SP in a field name"),
    HostileCase("empty_name", _GET + b": value\r\n\r\n", 400, {}, "empty field name"),
    HostileCase("no_colon", _GET + b"NoColonHere\r\n\r\n", 400, {}, "field line without colon"),
    HostileCase("host_space_before_colon", b"GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400, {},
                "whitespace before colon"),
    # ---- request targets ----
    HostileCase("target_fragment", b"GET /a#b HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "a fragment is not sent (RFC 9112 3.2.1)"),
    HostileCase("target_relative", b"GET a/b HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "relative reference"),
    HostileCase("target_authority_get", b"GET example.com:80 HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "authority-form without CONNECT"),
    HostileCase("target_connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                b"\r\n", 501, {}, "CONNECT is not implemented"),
    HostileCase("target_asterisk_get", b"GET * HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "asterisk-form with GET"),
    HostileCase("target_options_asterisk", b"OPTIONS * HTTP/1.1\r\n" + _H + b"\r\n", 200, {},
                "valid asterisk-form", phase="ok"),
    HostileCase("target_absolute_ftp", b"GET ftp://example.com/ HTTP/1.1\r\n" + _H + b"\r\n", 400,
                {}, "only http/https absolute-form"),
    HostileCase("target_absolute_http", b"GET http://example.com/p?q=1 HTTP/1.1\r\n" + _H + b"\r\n",
                200, {}, "valid absolute-form", phase="ok"),
    HostileCase("target_absolute_userinfo", b"GET http://u:p@example.com/ HTTP/1.1\r\n" + _H
                + b"\r\n", 400, {}, "userinfo SHOULD be an error (RFC 9110 4.2.4)", alt=(200,)),
    HostileCase("target_raw_utf8", "GET /caf\u00e9 HTTP/1.1\r\n".encode() + _H + b"\r\n", 400, {},
                "raw non-ASCII bytes in the target"),
    HostileCase("target_with_space", b"GET /a b HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "SP splits the request line into four parts"),
    HostileCase("target_empty", b"GET  HTTP/1.1\r\n" + _H + b"\r\n", 400, {}, "empty target"),
    HostileCase("target_double_quote", b'GET /a"b HTTP/1.1\r\n' + _H + b"\r\n", 400, {},
                "'\"' is not a pchar"),
    HostileCase("target_backslash", b"GET /a\\b HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "raw '\\' in the path: browsers turn it into '/', back ends that do the same make it a "
                "traversal vector (WHATWG path percent-encode set + '\\')"),
    HostileCase("target_braces_in_path", b"GET /{a} HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "browsers percent-encode '{', '}' and '`' in paths"),
    HostileCase("target_backslash_in_query", b"GET /a?q=a\\b HTTP/1.1\r\n" + _H + b"\r\n", 200, {},
                "browsers send '\\', '{', '}', '|', '^', '`' raw in queries: accepted there",
                alt=(400,), phase="ok"),
    HostileCase("target_brackets_in_query", b"GET /a?filter[name]=x HTTP/1.1\r\n" + _H + b"\r\n",
                200, {}, "browsers send '[' and ']' raw in queries", alt=(400,), phase="ok"),
    HostileCase("target_angle_brackets", b"GET /<script> HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "'<' and '>' are not pchars"),
    HostileCase("target_bad_pct", b"GET /%zz HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "'%' not followed by two HEXDIG", alt=(200,)),
    # ---- methods and versions ----
    HostileCase("method_not_token", b"G(ET / HTTP/1.1\r\n" + _H + b"\r\n", 400, {},
                "'(' in method"),
    HostileCase("method_empty", b" / HTTP/1.1\r\n" + _H + b"\r\n", 400, {}, "no method"),
    HostileCase("method_lower_case", b"get / HTTP/1.1\r\n" + _H + b"\r\n", 200, {},
                "a token: an extension method, passed to the app", phase="ok"),
    HostileCase("double_space", b"GET  / HTTP/1.1\r\n" + _H + b"\r\n", 400, {}, "two SPs"),
    HostileCase("version_2", b"GET / HTTP/2.0\r\n" + _H + b"\r\n", 505, {}, "major 2"),
    HostileCase("version_0_9_style", b"GET /\r\n\r\n", 400, {}, "HTTP/0.9 request line"),
    HostileCase("version_no_minor", b"GET / HTTP/3\r\n" + _H + b"\r\n", 400, {}, "malformed"),
    HostileCase("version_lower_case", b"GET / http/1.1\r\n" + _H + b"\r\n", 400, {},
                "HTTP-name is case-sensitive"),
    HostileCase("version_two_digit_minor", b"GET / HTTP/1.10\r\n" + _H + b"\r\n", 400, {},
                "malformed"),
    HostileCase("version_trailing_space", b"GET / HTTP/1.1 \r\n" + _H + b"\r\n", 400, {},
                "trailing SP on the request line"),
    HostileCase("version_missing", b"GET / \r\n" + _H + b"\r\n", 400, {}, "empty version"),
    # ---- Host ----
    HostileCase("host_missing_11", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400, {},
                "HTTP/1.1 without Host"),
    HostileCase("host_twice", _GET + b"Host: evil.example\r\n\r\n", 400, {}, "two Host fields"),
    HostileCase("host_twice_http10", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, {},
                "two Host fields, any version"),
    HostileCase("host_missing_10", b"GET /ten HTTP/1.0\r\n\r\n", 200, {},
                "HTTP/1.0 needs no Host", phase="ok"),
    # ---- oversized lines, heads, bodies ----
    HostileCase("request_line_at_limit", _line_of(8192) + b"\r\n" + _H + b"\r\n", 200, {},
                "request line of exactly 8192 bytes", phase="ok"),
    HostileCase("request_line_over_limit", _line_of(8193) + b"\r\n" + _H + b"\r\n", 414, {},
                "request line of 8193 bytes"),
    HostileCase("request_line_huge", _line_of(200_000) + b"\r\n" + _H + b"\r\n", 414, {},
                "200 kB request line"),
    HostileCase("request_line_unterminated", b"GET /" + b"a" * 200_000, 414, {},
                "an endless request line is cut at the limit, never buffered", alt=("close", 431)),
    HostileCase("method_huge", b"A" * 10_000 + b" / HTTP/1.1\r\n" + _H + b"\r\n", 414, {},
                "request line over the limit because of the method"),
    HostileCase("field_line_at_limit", _GET + _fields(1, 8192) + b"\r\n", 200, {},
                "field line of exactly 8192 bytes", phase="ok"),
    HostileCase("field_line_over_limit", _GET + _fields(1, 8193) + b"\r\n", 431, {},
                "field line of 8193 bytes"),
    HostileCase("field_count_at_limit", _GET + _fields(99, 20) + b"\r\n", 200, {},
                "Host + 99 = 100 field lines", phase="ok"),
    HostileCase("field_count_over_limit", _GET + _fields(100, 20) + b"\r\n", 431, {},
                "Host + 100 = 101 field lines"),
    HostileCase("head_over_limit", _GET + _fields(20, 4000) + b"\r\n", 431, {},
                "21 lines within the line limit, 80 kB in all"),
    HostileCase("head_unterminated", _GET + _fields(40, 4000), 431, {},
                "a head that never ends is cut at max_head_bytes", alt=("close",)),
    HostileCase("field_line_unterminated_over_head", _GET + b"X-Long: " + b"a" * 2000, 431,
                {"max_head_bytes": 1000}, "an unfinished field line within max_header_field but "
                "longer than what is left of max_head_bytes: 431 at once, not at the head timeout"),
    HostileCase("small_limits_line", b"GET /abcdefghij HTTP/1.1\r\n" + _H + b"\r\n", 414,
                {"max_request_line": 20}, "configured max_request_line"),
    HostileCase("small_limits_count", _GET + _fields(3, 20) + b"\r\n", 431,
                {"max_header_count": 3}, "configured max_header_count"),
    HostileCase("small_limits_head", _GET + _fields(3, 100) + b"\r\n", 431,
                {"max_head_bytes": 256}, "configured max_head_bytes"),
    HostileCase("line_precedes_header_errors", _line_of(9000) + b"\r\nX A: b\r\n\r\n", 414, {},
                "precedence: 414 on the request line before a bad field"),
    HostileCase("header_error_in_order", _GET + b"X A: b\r\n" + _fields(1, 9000) + b"\r\n", 400, {},
                "precedence: header lines in order, the 400 comes first"),
    HostileCase("header_error_in_order_431_first", _GET + _fields(1, 9000) + b"X A: b\r\n\r\n", 431,
                {}, "precedence: header lines in order, the 431 comes first"),
    HostileCase("semantics_400_before_501", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                400, {}, "no Host (400) before the unknown coding (501)", alt=(501,)),
    # ---- protocol confusion ----
    HostileCase("http2_preface", _H2_PREFACE, 505, {},
                "HTTP/2 prior-knowledge preface on an HTTP/1 port", alt=(400,)),
    HostileCase("http2_preface_with_frames", _H2_PREFACE + b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"
                + b"\x00\x03\x00\x00\x00\x64\x00\x04\x00\x01\x00\x00\x00\x02\x00\x00", 505, {},
                "preface followed by a SETTINGS frame", alt=(400,)),
    HostileCase("tls_client_hello", _TLS_HELLO, 400, {}, "TLS on the plain port",
                alt=("close",)),
    HostileCase("nul_bytes_only", b"\x00" * 64, 400, {}, "binary garbage", alt=("close",)),
    HostileCase("empty_connection", b"", "close", {}, "connect, send nothing, EOF"),
    HostileCase("blank_lines_only", b"\r\n\r\n\r\n", "close", {},
                "blank lines, then EOF", alt=(400,)),
    HostileCase("head_eof_midway", b"GET / HTTP/1.1\r\nHost: exa", "close", {},
                "EOF in the middle of the head"),
    # ---- pipelining around invalid requests ----
    HostileCase("pipelined_after_bad_cl", _POST + b"Content-Length: x\r\n\r\n" + _SMUGGLED, 400, {},
                "nothing after an invalid head is parsed"),
    HostileCase("pipelined_after_bad_version", b"GET / HTTP/1.x\r\n" + _H + b"\r\n" + _SMUGGLED,
                400, {}, "nothing after an invalid request line is parsed"),
    HostileCase("pipelined_after_bad_chunk", _chunked(b"zz\r\n\r\n") + _SMUGGLED, 400, {},
                "nothing after a bad body is parsed", phase="body"),
    HostileCase("pipelined_after_413", _POST + b"Content-Length: 100\r\n\r\n" + b"x" * 100
                + _SMUGGLED, 413, {"max_body_bytes": 10}, "nothing after a 413 is parsed"),
    HostileCase("pipelined_valid_then_bad", _VALID + b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
                + _SMUGGLED, 400, {}, "the valid request is served, then 400 and close", before=1),
    HostileCase("pipelined_valid_then_obs_fold", _VALID + _GET + b"X: a\r\n b\r\n\r\n" + _SMUGGLED,
                400, {}, "obs-fold on the second request", before=1),
    HostileCase("pipelined_valid_then_eof", _VALID + b"GET /second HT", "close", {},
                "the valid request is served; EOF mid-head closes", before=1),
    HostileCase("pipelined_http10_stops", b"GET /ten HTTP/1.0\r\n\r\n" + _SMUGGLED, 200, {},
                "HTTP/1.0 is never kept alive: later bytes are not parsed", phase="ok"),
    HostileCase("pipelined_connection_close_stops", b"GET /c HTTP/1.1\r\n" + _H
                + b"Connection: close\r\n\r\n" + _SMUGGLED, 200, {},
                "Connection: close ends the connection: later bytes are not parsed", phase="ok"),
    HostileCase("upgrade_h2c_ignored", b"GET /up HTTP/1.1\r\n" + _H + b"Connection: Upgrade, "
                b"HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
                + _VALID, 200, {}, "an upgrade the server does not do is ignored", phase="ok",
                before=1),
    HostileCase("expect_continue_body", _POST + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
                b"hello", 200, {}, "Expect: 100-continue with the body already sent", phase="ok"),
]

HOSTILE_CASES: tuple[HostileCase, ...] = tuple(_CASES)


def cases_by_name() -> dict[str, HostileCase]:
    """The table as a dict keyed by case name (names are unique)."""
    return {case.name: case for case in HOSTILE_CASES}
