"""Every limit and policy of a connection, in one frozen, validated object."""

from __future__ import annotations

import dataclasses
import platform
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any, Final, Literal

from . import _abnf
from ._proxy import ProxyPolicy
from ._version import __version__

__all__ = ["SERVER_SOFTWARE", "Config"]

#: The ``Server`` header (and ``SERVER_SOFTWARE``) by default, built like wsgiref's
#: ``software_version`` (``WSGIServer/0.2 CPython/3.11.7``): the same whether a driver was given a
#: Config (to set a limit, say) or none.
SERVER_SOFTWARE: Final = (
    f"wsgicore/{__version__} {platform.python_implementation()}/{sys.version.split()[0]}"
)
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Config:
    """Limits and policies for :class:`wsgicore.Connection`.

    The defaults are strict (RFC 9112 as written, no legacy leniency) and safe (every size bounded).
    A bad value raises :class:`ValueError` at construction, never later.
    """

    #: Request line longer than this (without its CRLF) -> 414. gunicorn, waitress and h11 use 8 KiB too.
    max_request_line: int = 8192
    #: One field line longer than this (without its CRLF) -> 431 (gunicorn: 8190).
    max_header_field: int = 8192
    #: More field lines than this -> 431 (gunicorn's limit_request_fields: 100).
    max_header_count: int = 100
    #: Request line plus field lines, with their line ends, larger than this -> 431 (h11: 16 KiB
    #: incomplete-event limit; waitress: 256 KiB; we take 64 KiB).
    max_head_bytes: int = 65536
    #: Any body larger than this -> 413 (declared Content-Length: before the app runs; chunked: when
    #: read, which is before the app runs when it is buffered). ``None`` = no limit (wsgiref and
    #: gunicorn have none; a buffered body is bounded by ``max_buffered_body_bytes`` all the same).
    max_body_bytes: int | None = None
    #: Unread request body discarded after a response to keep the connection alive; a larger rest
    #: closes the connection instead (reading a large body nobody wants costs more than a reconnect).
    max_drain_bytes: int = 65536
    #: A chunk-size line (with its extensions) longer than this -> 400 (RFC 9112 §7.1.1 sets no
    #: bound; without one, chunk extensions are an unbounded buffer).
    max_chunk_line: int = 4096
    #: Allow persistent connections (RFC 9112 §9.3). The driver decides; the core honours it.
    keep_alive: bool = True
    #: When to answer ``Expect: 100-continue`` (RFC 9110 §10.1.1): ``"on_read"`` when the app first
    #: reads a body that has not arrived, ``"immediate"`` as soon as the head is parsed.
    expect_continue: Literal["on_read", "immediate"] = "on_read"
    #: ``Server`` header value, unless the app sets one. ``None`` sends none.
    server_software: str | None = SERVER_SOFTWARE
    #: ``wsgi.url_scheme``.
    url_scheme: str = "http"
    #: Mount prefix: ``SCRIPT_NAME``; removed from the front of ``PATH_INFO`` when the path starts with it.
    script_name: str = ""
    #: Returns POSIX seconds for the ``Date`` header (RFC 9110 §6.6.1: an origin server with a clock
    #: MUST send Date). ``"driver"`` (the default): the driver's clock, which every driver fills in
    #: (``serving_config``), so a Config given only to set a limit keeps ``Date``; the core never
    #: reads a clock itself, so a ``Connection`` made with it and no driver sends none. ``None``: no
    #: ``Date``, from every driver (the one way to turn it off).
    clock: Callable[[], float] | Literal["driver"] | None = "driver"
    #: Read a chunked request body whole before the application runs and present it with a
    #: ``CONTENT_LENGTH`` (and no ``HTTP_TRANSFER_ENCODING``), for frameworks that read only
    #: CONTENT_LENGTH bytes (Django). Body errors (400, 413, 408) are then answered before the
    #: application is called. Off in the core alone (the body streams, ``wsgi.input_terminated``,
    #: and nothing is held); every driver serves with it on unless its ``stream_chunked_body``
    #: setting says otherwise (``serving_config``), and keeps the body in its spool.
    buffer_chunked_body: bool = False
    #: A buffered chunked body (``buffer_chunked_body``) larger than this -> 413 before the app runs
    #: (``max_body_bytes`` bounds it too when smaller). A bound on what the server holds for the
    #: app, not on what the app may read: a streamed body is the app's to bound. 1 GiB, as waitress'
    #: max_request_body_size (waitress buffers every body).
    max_buffered_body_bytes: int = 1 << 30
    #: Where a buffered body is kept: returns a new binary file-like object (write, seek, read).
    #: ``None``: in memory (``io.BytesIO``); the drivers pass a temporary file that stays in memory up
    #: to a threshold (``tempfile.SpooledTemporaryFile``); the core itself never touches a disk.
    body_spool: Callable[[], IO[bytes]] | None = None
    #: PEP 3333 ``wsgi.multithread`` / ``wsgi.multiprocess`` / ``wsgi.run_once``.
    multithread: bool = False
    multiprocess: bool = False
    run_once: bool = False
    #: Joins repeated request fields in the environ (RFC 9110 §5.3 allows "," or ", "); Cookie
    #: always joins with "; " (RFC 6265 §5.4). wsgiref joins with ",".
    field_separator: str = ", "
    #: Body of the 500 response sent when the application fails before its headers went out. It is
    #: never the exception's text: a traceback is for the error log, not for the client.
    server_error_body: bytes = b"500 Internal Server Error\nThe server could not complete the request.\n"
    #: Legacy: a bare LF ends every line of a head whose request line ends in a bare LF.
    allow_bare_lf: bool = False
    #: Legacy: raw bytes 0x80-0xFF in the request-target (wsgiref's test_cp1252_url).
    allow_raw_non_ascii_target: bool = False
    #: Legacy: a request line with no line end at all, ended by EOF, is a complete head.
    allow_request_line_at_eof: bool = False
    #: Reverse proxies whose forwarding headers are believed (docs/deployment.md): IP addresses and
    #: networks ("10.0.0.0/8", "::1"), and "unix" for Unix-socket peers. Empty (the default): the
    #: core never looks at forwarding headers and passes them to the app as any other header.
    trusted_proxies: Collection[str] = ()
    #: Which forwarding headers a trusted proxy may set: "x-forwarded-for", "x-forwarded-proto",
    #: "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix", "forwarded" (RFC 7239).
    #: Every other one is removed from the environ.
    trusted_proxy_headers: Collection[str] = frozenset()
    #: Proxies in front of us that append to the list-valued headers: the client's value is this
    #: many from the right (never the left-most, which the client writes).
    trusted_proxy_count: int = 1
    #: gunicorn's secure_scheme_headers: {"X-Forwarded-Ssl": "on", ...}; a header present with that
    #: value means https, with another value http; from trusted proxies only; disagreement -> 400.
    secure_scheme_headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS, hash=False)
    #: With a trusted proxy: remove from the environ the forwarding headers nobody vouches for (every
    #: one from an untrusted peer; from a trusted one, those not applied). ``False`` passes them to the
    #: app as they came, as gunicorn does, for middleware that reads them itself (waitress's
    #: clear_untrusted_proxy_headers; its default is True too).
    clear_untrusted_proxy_headers: bool = True
    #: The parsed form of the proxy settings; None when no proxy is trusted.
    _proxy_policy: ProxyPolicy | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("expect_continue", "server_software", "url_scheme", "script_name", "field_separator"):
            value = getattr(self, name)
            if isinstance(value, str) and type(value) is not str:
                # A str subclass could compare or format as something else than it validated as
                # (its __eq__ or __format__); keep the plain text it holds.
                object.__setattr__(self, name, str.__str__(value))
        if isinstance(self.server_error_body, bytes) and type(self.server_error_body) is not bytes:
            object.__setattr__(self, "server_error_body", bytes(memoryview(self.server_error_body)))
        self._check_proxy_settings()
        for name in ("max_request_line", "max_header_field", "max_header_count", "max_head_bytes",
                     "max_chunk_line"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"Config.{name} must be a positive int, not {value!r}")
        if type(self.max_drain_bytes) is not int or self.max_drain_bytes < 0:
            raise ValueError(f"Config.max_drain_bytes must be an int >= 0, not {self.max_drain_bytes!r}")
        if self.max_body_bytes is not None and (
            type(self.max_body_bytes) is not int or self.max_body_bytes < 0
        ):
            raise ValueError(f"Config.max_body_bytes must be None or an int >= 0, "
                             f"not {self.max_body_bytes!r}")
        if self.expect_continue not in ("on_read", "immediate"):
            raise ValueError(f"Config.expect_continue must be 'on_read' or 'immediate', "
                             f"not {self.expect_continue!r}")
        if self.url_scheme not in ("http", "https"):
            raise ValueError(f"Config.url_scheme must be 'http' or 'https', not {self.url_scheme!r}")
        if self.script_name and (not self.script_name.startswith("/") or self.script_name.endswith("/")):
            raise ValueError(f"Config.script_name must be '' or start with '/' and not end with '/', "
                             f"not {self.script_name!r}")
        if self.server_software is not None:
            _check_header_value("server_software", self.server_software)
        if self.field_separator not in (",", ", "):
            raise ValueError(f"Config.field_separator must be ',' or ', ', not {self.field_separator!r}")
        if not isinstance(self.server_error_body, bytes):
            raise ValueError("Config.server_error_body must be bytes")
        if isinstance(self.clock, str) and str.__str__(self.clock) == "driver":
            object.__setattr__(self, "clock", "driver")  # the plain str, whatever its subclass says
        elif self.clock is not None and not callable(self.clock):
            raise ValueError(f"Config.clock must be callable, 'driver' or None, not {self.clock!r}")
        if not isinstance(self.buffer_chunked_body, bool):
            raise ValueError(f"Config.buffer_chunked_body must be a bool, not {self.buffer_chunked_body!r}")
        if type(self.max_buffered_body_bytes) is not int or self.max_buffered_body_bytes < 0:
            raise ValueError(f"Config.max_buffered_body_bytes must be an int >= 0 (a buffered body is "
                             f"always bounded), not {self.max_buffered_body_bytes!r}")
        if self.body_spool is not None and not callable(self.body_spool):
            raise ValueError("Config.body_spool must be callable or None")

    def _check_proxy_settings(self) -> None:
        if (self.trusted_proxies == () and self.trusted_proxy_headers == frozenset()
                and type(self.trusted_proxy_headers) is frozenset
                and self.secure_scheme_headers is _NO_HEADERS and self.trusted_proxy_count == 1
                and self.clear_untrusted_proxy_headers is True):
            return  # the defaults (off): nothing to check or parse, Config() stays cheap
        if not isinstance(self.clear_untrusted_proxy_headers, bool):
            raise ValueError(f"Config.clear_untrusted_proxy_headers must be a bool, "
                             f"not {self.clear_untrusted_proxy_headers!r}")
        # Normalized here so that a frozen Config never aliases a caller's mutable list or dict.
        for name in ("trusted_proxies", "trusted_proxy_headers"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, Collection):
                raise ValueError(f"Config.{name} must be a collection of str (a tuple, a set...), "
                                 f"not {value!r}")
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        object.__setattr__(self, "trusted_proxy_headers",
                           frozenset(str(name).lower() for name in self.trusted_proxy_headers))
        if type(self.trusted_proxy_count) is not int or self.trusted_proxy_count < 1:
            raise ValueError(f"Config.trusted_proxy_count must be a positive int, "
                             f"not {self.trusted_proxy_count!r}")
        if not isinstance(self.secure_scheme_headers, Mapping):
            raise ValueError("Config.secure_scheme_headers must be a mapping of header name to value")
        object.__setattr__(self, "secure_scheme_headers", MappingProxyType(dict(self.secure_scheme_headers)))
        policy = ProxyPolicy(self.trusted_proxies, self.trusted_proxy_headers, self.trusted_proxy_count,
                             self.secure_scheme_headers, clear=self.clear_untrusted_proxy_headers)
        object.__setattr__(self, "_proxy_policy", policy if self.trusted_proxies else None)

    @classmethod
    def wsgiref_compatible(cls, **overrides: Any) -> Config:
        """The strict defaults plus the three legacy forms wsgiref accepts and CPython's tests send.

        Bare-LF line ends (used consistently through the head), raw bytes >= 0x80 in the target, and a
        request line ended by EOF. A bare CR, and a head mixing CRLF and bare LF (which a proxy could
        split differently), are still refused. Repeated fields join with "," and the 500 body is
        wsgiref's, so output compared byte for byte with wsgiref's matches.
        """
        settings: dict[str, Any] = {
            "allow_bare_lf": True,
            "allow_raw_non_ascii_target": True,
            "allow_request_line_at_eof": True,
            "field_separator": ",",
            "server_error_body": b"A server error occurred.  Please contact the administrator.",
        }
        settings.update(overrides)
        return cls(**settings)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


def _check_header_value(name: str, value: str) -> None:
    # The same rule as a response header value from the application (RFC 9110 §5.5, PEP 3333).
    if not isinstance(value, str) or _abnf.FORBIDDEN_IN_FIELD_VALUE_TEXT.search(value) is not None:
        raise ValueError(f"Config.{name} must be latin-1 text without control characters, not {value!r}")
