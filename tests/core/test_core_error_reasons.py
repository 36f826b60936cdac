"""Each refusal says which rule broke, and where (issue 14, part 4): the reason text names the byte (by
its code, never reflected raw) and its offset, for the target rules and the field-line rules."""

from __future__ import annotations

from typing import Any

import pytest

from wsgicore import Config
from wsgidrivers.memory import exchange


def _never_called(environ: dict[str, Any], start_response: Any) -> Any:
    raise AssertionError("the app must not be called for a refused head")


def reason_for(head: bytes) -> tuple[int, str]:
    out = exchange(_never_called, head, config=Config())
    status_line, _, rest = out.partition(b"\r\n")
    body = rest.split(b"\r\n\r\n", 1)[1].decode()
    return int(status_line.split()[1]), body.splitlines()[1]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (b"/q?x=a<b", "raw '<' (0x3C) at offset 6 of the target in its query"),
        (b'/p"q', "raw '\"' (0x22) at offset 2 of the target in its path"),
        (b"/a{b}", "raw '{' (0x7B) at offset 2 of the target in its path"),
        (b"/a`", "raw '`' (0x60) at offset 2 of the target in its path"),
        (b"/a\\b", "(0x5C) at offset 2 of the target in its path"),
        (b"/a?b{c}", None),  # '{' is allowed raw in a query: accepted
        (b"/a#frag", "fragment: '#' at offset 2"),
        (b"/a?b#c", "fragment: '#' at offset 4"),
        (b"http://user@h/", "userinfo in the request-target's authority"),
        (b"ftp://h/x", "scheme other than http or https"),
        (b"http:///x", "absolute-form request-target without a host"),
        (b"http://h:8x/", "invalid host or port"),
        (b"http://h/p?q>", "raw '>' (0x3E) at offset 12 of the target in its query"),
        (b"x/y", "is not origin-form ('/...'), absolute-form ('http://...'), or '*' with OPTIONS"),
        (b"*", "asterisk-form request-target with a method other than OPTIONS"),
        (b"/\xe9", "byte 0xE9 at position 5 of the request line"),
    ],
)
def test_target_refusals_name_the_rule_and_the_byte(target: bytes, reason: str | None) -> None:
    head = b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    if reason is None:
        out = exchange(lambda e, s: (s("200 OK", []), [b""])[1], head, config=Config())
        assert out.startswith(b"HTTP/1.1 200 ")
        return
    status, text = reason_for(head)
    assert status == 400
    assert reason in text, text


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"X : y", "whitespace between a field name and its colon"),
        (b"X\x01Y: y", "field name is not a token: byte 0x01 at position 1 of the line"),
        (b"X: a\x00b", "control character 0x00 at position 4 of a field line"),
        (b"X: ab\x7f", "control character 0x7F at position 5 of a field line"),
        (b" folded", "obs-fold"),
        (b"no colon", "field line without a colon"),
    ],
)
def test_field_line_refusals_name_the_rule_and_the_byte(line: bytes, reason: str) -> None:
    status, text = reason_for(b"GET / HTTP/1.1\r\nHost: h\r\nX-First: 1\r\n" + line + b"\r\n\r\n")
    assert status == 400
    assert reason in text, text


def test_reason_never_reflects_request_bytes() -> None:
    status, text = reason_for(b"GET /<script> HTTP/1.1\r\nHost: h\r\n\r\n")
    assert status == 400
    assert "script" not in text
