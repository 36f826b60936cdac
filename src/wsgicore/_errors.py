"""The exceptions wsgicore raises. h11's own exceptions never leave the package."""

from __future__ import annotations

__all__ = [
    "ApplicationError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestBodyError",
]


class ProtocolError(Exception):
    """Base of the HTTP errors.

    ``status_code`` is the response status the error implies, or ``None`` when the right answer is
    to close the connection without a response (EOF in the middle of a message).
    """

    def __init__(self, reason: str, status_code: int | None = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class RemoteProtocolError(ProtocolError):
    """The peer broke HTTP. ``response`` holds the ready-made error response (``b""``: send nothing).

    The connection that raised it is finished: send ``response``, then close.
    """

    def __init__(self, reason: str, status_code: int | None = 400, response: bytes = b"") -> None:
        super().__init__(reason, status_code)
        self.response = response


class RequestBodyError(RemoteProtocolError, OSError):
    """A ``wsgi.input`` read failed: bad chunked framing (400), a body over the limit (413), or EOF
    before the body ended (``status_code`` None). It is an :class:`OSError` because to the
    application it is a failed read, and apps that handle read errors must see it as one.
    """

    def __init__(self, reason: str, status_code: int | None = 400, response: bytes = b"") -> None:
        RemoteProtocolError.__init__(self, reason, status_code, response)

    def __str__(self) -> str:
        return self.reason


class LocalProtocolError(ProtocolError):
    """The driver used the connection out of order (for example ``run_app`` with no request)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, None)


class Refusal(Exception):
    """Internal: the one error the head gate, the body readers and the proxy rules raise when a
    request must be refused. It carries the status (``None``: close without a response) and our own
    reason text; :class:`wsgicore.Connection` turns it into the public :class:`RemoteProtocolError`
    or :class:`RequestBodyError`, with the ready-made response, at its boundary. Never public."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ApplicationError(Exception):
    """The WSGI application broke PEP 3333 (bad status or header, ``start_response`` twice,
    ``write()`` before ``start_response``, a body chunk that is not bytes, a hop-by-hop header...).
    """
