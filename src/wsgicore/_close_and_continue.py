"""What a request's ``Connection`` and ``Expect`` fields ask of the connection: ``close`` (RFC 9112
§9.6), HTTP/1.0's ``keep-alive`` (RFC 9112 §9.3, Appendix C.2.2) and ``100-continue`` (RFC 9110
§10.1.1), read from the environ the app sees. What follows from them (the keep-alive and 100 Continue
sub-states) is ``_state``'s."""

from __future__ import annotations

from typing import Any

__all__ = ["asks_for_continue", "said_close", "said_keep_alive"]


def said_close(environ: dict[str, Any]) -> bool:
    """The request carried the ``close`` connection option (RFC 9112 §9.6)."""
    connection = environ.get("HTTP_CONNECTION")
    # RFC 9110 §5.6.1: list elements are separated by OWS (SP, HTAB) only; str.strip() would also
    # take "\x85" and "\xa0" away and let "close\x85" count as "close".
    # Most requests say nothing or "keep-alive": no "close" anywhere in the value, no need to split.
    return connection is not None and "close" in connection.lower() and "close" in (
        token.strip(" \t") for token in connection.lower().split(",")
    )


def said_keep_alive(environ: dict[str, Any]) -> bool:
    """The request carried the ``keep-alive`` connection option (RFC 9112 §9.3: an HTTP/1.0
    connection persists only with it). Option names are case-insensitive (RFC 9110 §7.6.1)."""
    connection = environ.get("HTTP_CONNECTION")
    return connection is not None and "keep-alive" in (
        token.strip(" \t") for token in connection.lower().split(",")
    )


def asks_for_continue(environ: dict[str, Any], http11: bool) -> bool:
    """``Expect: 100-continue`` on an HTTP/1.1 request (RFC 9110 §10.1.1; an HTTP/1.0 request's
    Expect is ignored). The value reaches the environ without OWS."""
    expect = environ.get("HTTP_EXPECT")
    return expect is not None and http11 and expect.lower() == "100-continue"
