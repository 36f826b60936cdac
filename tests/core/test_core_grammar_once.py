"""One place per grammar rule: each rule has one definition, and every path that applies it agrees.

The refused target characters are read by three paths: the strict head's one regex (a head that
arrives whole), the line scanner (a head in pieces), and the error's reason. The 414 limit is checked
on a complete request line, an incomplete one, and one ended by EOF (legacy). The reason phrases on
the wire are RFC 9110's on every Python version.
"""

from __future__ import annotations

import pytest

from wsgicore import Config, reason_phrase
from wsgicore._abnf import PATH_REFUSED, QUERY_REFUSED
from wsgicore._errors import Refusal
from wsgicore._head_scanner import HeadScanner

VCHARS = [bytes([c]) for c in range(0x21, 0x7F)]


def _verdict(head: bytes, *, whole: bool, config: Config | None = None) -> tuple[int | None, str]:
    """(status, reason) of scanning ``head`` whole (the strict one-regex path) or byte by byte (the
    line scanner); (0, "") when it is accepted."""
    scanner = HeadScanner(config or Config())
    buf = bytearray()
    pieces = [head] if whole else [head[i : i + 1] for i in range(len(head))]
    try:
        for piece in pieces:
            buf += piece
            if scanner.scan(buf, False) is not None:
                return 0, ""
    except Refusal as exc:
        return exc.status, exc.reason
    raise AssertionError("the head never completed")


@pytest.mark.parametrize("char", VCHARS, ids=[c.decode() for c in VCHARS])
@pytest.mark.parametrize("part", ["path", "query"])
def test_every_path_refuses_the_same_target_characters(char: bytes, part: str) -> None:
    target = b"/a" + char + b"b" if part == "path" else b"/a?b" + char + b"c"
    head = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    fast = _verdict(head, whole=True)
    lines = _verdict(head, whole=False)
    assert fast == lines  # the strict regex and the line scanner: the same verdict and reason
    refused = PATH_REFUSED if part == "path" else QUERY_REFUSED
    if char == b"#":
        assert fast[0] == 400
        assert "fragment" in fast[1]
    elif char in (b"?",) or char not in refused:
        assert fast == (0, "")  # '|', '^', '[', ']', ... are accepted: browsers send them raw
    else:
        assert fast[0] == 400
        assert f"(0x{char[0]:02X})" in fast[1]  # the reason names the very character
        assert f"in its {part}" in fast[1]


@pytest.mark.parametrize("char", sorted(PATH_REFUSED), ids=chr)
def test_absolute_form_refuses_the_path_characters_of_origin_form(char: int) -> None:
    head = b"GET http://x/a" + bytes([char]) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, reason = _verdict(head, whole=True)
    assert status == 400
    assert f"(0x{char:02X})" in reason


@pytest.mark.parametrize("how", ["complete", "incomplete", "at EOF"])
def test_one_request_line_limit_for_complete_incomplete_and_eof_lines(how: str) -> None:
    limit = 40
    config = Config(max_request_line=limit, allow_request_line_at_eof=True)

    def verdict(length: int) -> int | None:
        line = b"GET /" + b"a" * (length - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
        assert len(line) == length
        scanner = HeadScanner(config)
        try:
            if how == "complete":
                scanner.scan(bytearray(line + b"\r\n"), False)
            elif how == "incomplete":
                # An incomplete line is judged once it is certain to be too long (its CR may be here).
                scanner.scan(bytearray(line + b"x"), False)
            else:
                scanner.scan(bytearray(line), True)
        except Refusal as exc:
            return exc.status
        return 0

    assert verdict(limit) != 414
    assert verdict(limit + 1) == 414


def test_field_line_limit_is_the_same_for_complete_and_incomplete_lines() -> None:
    config = Config(max_header_field=30)
    field = b"X-A: " + b"b" * 26
    assert len(field) == 31
    for data in (b"GET / HTTP/1.1\r\n" + field + b"\r\n", b"GET / HTTP/1.1\r\n" + field + b"x"):
        with pytest.raises(Refusal) as caught:
            HeadScanner(config).scan(bytearray(data), False)
        assert caught.value.status == 431
    assert HeadScanner(config).scan(bytearray(b"GET / HTTP/1.1\r\n" + field[:30] + b"\r\n"), False) is None


@pytest.mark.parametrize(("status", "phrase"), [
    (413, "Content Too Large"), (414, "URI Too Long"), (416, "Range Not Satisfiable"),
    (422, "Unprocessable Content"), (400, "Bad Request"), (431, "Request Header Fields Too Large"),
    (505, "HTTP Version Not Supported"),
])
def test_reason_phrases_are_rfc_9110s_on_every_python(status: int, phrase: str) -> None:
    assert reason_phrase(status) == phrase


def test_an_unregistered_status_has_an_empty_reason_phrase() -> None:
    assert reason_phrase(599) == ""  # RFC 9112 §4: the reason phrase is optional
