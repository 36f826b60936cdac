"""Response heads on the wire (RFC 9112 §4): the one head serializer, the reason phrases (the one
source of them for the core and the drivers' logs), and ready-made error responses for requests the
server refuses (RFC 9110 §15)."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

__all__ = ["ErrorResponses", "error_response", "reason_phrase", "serialize_head"]


# RFC 9110 §15 renamed a few; http.HTTPStatus has the RFC 7231 phrases before Python 3.13.
_RFC9110_PHRASES = {413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
                    422: "Unprocessable Content"}


def reason_phrase(status: int) -> str:
    """The reason phrase of ``status`` as RFC 9110 §15 names it (the IANA registry's for the codes
    it does not define), the same on every Python version; ``""`` for an unregistered code (the
    reason phrase is optional, RFC 9112 §4). What the core writes on the wire, and what a driver's
    log should say of a status the core chose."""
    phrase = _RFC9110_PHRASES.get(status)
    if phrase is not None:
        return phrase
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def serialize_head(status: str, fields: str) -> bytes:
    """The one format of a response head: ``status`` is "<code> <reason>", ``fields`` the field
    lines, each ending in CRLF, both already validated (latin-1, no CR/LF/NUL). The response
    writer has it inline, once per response (``tests/core/test_core_inlined_paths.py`` compares)."""
    return f"HTTP/1.1 {status}\r\n{fields}\r\n".encode("latin-1")


def error_response(status: int, reason: str, extra_headers: str = "", body: bytes | None = None) -> bytes:
    """A complete ``text/plain`` response that closes the connection.

    ``reason`` is always our own text, never bytes from the request, so nothing is reflected back.
    """
    phrase = reason_phrase(status)
    if body is None:
        body = f"{status} {phrase}\n{reason}\n".encode()
    fields = (
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: close\r\n"
        f"{extra_headers}"
    )
    return serialize_head(f"{status} {phrase}", fields) + body


class ErrorResponses:
    """The error responses of one connection: with its ``Date`` and ``Server`` fields, and without
    content when they answer HEAD (RFC 9110 §9.3.2: no content in a response to HEAD, error or not)."""

    __slots__ = ("_date", "_server")

    def __init__(self, date: Callable[[], str] | None, server: str | None) -> None:
        self._date = date
        self._server = server or ""

    def make(self, status: int, reason: str, *, head_request: bool, body: bytes | None = None) -> bytes:
        date = self._date() if self._date is not None else ""
        response = error_response(status, reason, date + self._server, body)
        if head_request:
            response = response[: response.index(b"\r\n\r\n") + 4]
        return response
