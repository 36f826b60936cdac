"""``auth=``: HTTP authentication as requests and werkzeug's test client take it.

- ``(user, password)``: ``Authorization: Basic`` (RFC 7617), user and password as UTF-8 (the one
  charset RFC 7617 §2.1 names, and the one werkzeug decodes; requests sends latin-1, which is the
  same bytes for ASCII).
- an object with ``to_header()`` (werkzeug's ``Authorization``): its value, for any scheme.
- a callable (requests' ``AuthBase`` contract): called with an :class:`AuthRequest` (``method``,
  ``url``, ``headers``, ``body``), which it changes and returns, so ``requests.auth.HTTPBasicAuth``
  and a hand-written bearer-token class work unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .headers import Headers

__all__ = ["AuthInput", "AuthRequest", "apply_callable", "authorization", "basic_authorization"]

#: What ``auth=`` takes: (user, password), an object with ``to_header()``, or a callable.
AuthInput = tuple[str | bytes, str | bytes] | Callable[["AuthRequest"], Any] | Any


@dataclass
class AuthRequest:
    """The request an ``auth`` callable sees and may change: ``method``, ``url`` (absolute),
    ``headers`` (a mutable :class:`Headers` holding every field that will be sent, ``Host``
    included) and ``body`` (bytes, or None when there is none or it is sent in chunks)."""

    method: str
    url: str
    headers: Headers
    body: bytes | None


def _credential(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise TypeError(f"auth=: the {what} must be a str or bytes, not {type(value).__name__}")


def basic_authorization(user: str | bytes, password: str | bytes) -> str:
    """The ``Authorization`` value for Basic authentication (RFC 7617 §2)."""
    user_id = _credential(user, "user")
    if b":" in user_id:
        # RFC 7617 §2: the user-id cannot contain a colon (the first one ends it).
        raise ValueError("auth=: a Basic user name cannot contain ':' (RFC 7617 §2)")
    token = base64.b64encode(user_id + b":" + _credential(password, "password")).decode("ascii")
    return f"Basic {token}"


def authorization(auth: Any) -> str | None:
    """The ``Authorization`` value for a tuple or a ``to_header()`` object; None for a callable
    (applied later, to the whole request). Anything else is a ``TypeError``."""
    if isinstance(auth, tuple | list):
        if len(auth) != 2:
            raise TypeError(f"auth=: a tuple is (user, password), not {len(auth)} items")
        return basic_authorization(auth[0], auth[1])
    to_header = getattr(auth, "to_header", None)
    if callable(to_header):
        value = to_header()
        if not isinstance(value, str):
            raise TypeError(f"auth=: to_header() gave a {type(value).__name__}, not a str")
        return value
    if callable(auth):
        return None
    raise TypeError(f"auth= must be (user, password), a callable or an object with to_header(), "
                    f"not {type(auth).__name__}")


def apply_callable(auth: Callable[[AuthRequest], Any], request: AuthRequest) -> AuthRequest:
    """Run a requests-style auth callable; the request it returns (or changed) is what is sent."""
    result = auth(request)
    if result is None:
        return request  # a callable that changed the request in place and returned nothing
    if not all(hasattr(result, name) for name in ("method", "url", "headers", "body")):
        raise TypeError(f"auth=: the callable must return the request it was given, not "
                        f"{type(result).__name__}")
    return AuthRequest(str(result.method), str(result.url), Headers(result.headers),
                       None if result.body is None else _body(result.body))


def _body(body: Any) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise TypeError(f"auth=: the callable left a body of type {type(body).__name__}, not bytes or str")
