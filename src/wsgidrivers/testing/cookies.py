"""The test client's cookie jar: what a browser keeps between requests (RFC 6265 §5.3, §5.4)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["Cookie", "CookieJar"]


@dataclass
class Cookie:
    """One stored cookie. ``expires`` is POSIX seconds, None for a session cookie."""

    name: str
    value: str
    domain: str
    path: str = "/"
    host_only: bool = True
    secure: bool = False
    http_only: bool = False
    expires: float | None = None


def _default_path(request_path: str) -> str:
    # RFC 6265 §5.1.4: the request path up to (not including) its right-most "/".
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rindex("/")]


def _path_matches(request_path: str, cookie_path: str) -> bool:
    # RFC 6265 §5.1.4 "path-match".
    if request_path == cookie_path:
        return True
    return request_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or request_path[len(cookie_path)] == "/")


def _domain_matches(host: str, domain: str) -> bool:
    # RFC 6265 §5.1.3 "domain-match" (IP addresses only match exactly).
    return host == domain or (host.endswith("." + domain) and not host.replace(".", "").isdigit())


class CookieJar:
    """Cookies set by responses and sent back with later requests, as a browser would.

    Iterating yields the stored :class:`Cookie` objects; ``jar[name]`` is the value of the first
    cookie of that name (``KeyError`` if none), ``jar.get(name)`` the same or None. ``clock`` gives
    the current POSIX time for ``Expires``/``Max-Age``.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cookies: dict[tuple[str, str, str], Cookie] = {}

    def set(self, name: str, value: str, *, domain: str = "localhost", path: str = "/") -> None:
        """Store a cookie by hand (host-only for ``domain``)."""
        self._cookies[(domain, path, name)] = Cookie(name, value, domain.lower(), path)

    def delete(self, name: str) -> None:
        """Remove every cookie named ``name``."""
        for key in [k for k in self._cookies if k[2] == name]:
            del self._cookies[key]

    def clear(self) -> None:
        self._cookies.clear()

    def get(self, name: str) -> str | None:
        for cookie in self:
            if cookie.name == name:
                return cookie.value
        return None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return any(cookie.name == name for cookie in self)

    def __iter__(self) -> Iterator[Cookie]:
        self._expire()
        return iter(list(self._cookies.values()))

    def __len__(self) -> int:
        self._expire()
        return len(self._cookies)

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, c in self._cookies.items() if c.expires is not None and c.expires <= now]:
            del self._cookies[key]

    def store(self, set_cookie: str, host: str, request_path: str) -> None:
        """Process one ``Set-Cookie`` value received for ``host`` and ``request_path`` (RFC 6265
        §5.2, §5.3). A malformed value is ignored, as a browser ignores it."""
        pair, *attributes = set_cookie.split(";")
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            return
        host = host.lower()
        cookie = Cookie(name, value, host, _default_path(request_path))
        max_age: float | None = None
        for attribute in attributes:
            key, _, arg = attribute.partition("=")
            key, arg = key.strip().lower(), arg.strip()
            if key == "max-age":
                try:
                    max_age = float(int(arg))
                except ValueError:
                    continue
            elif key == "expires" and cookie.expires is None:
                try:
                    cookie.expires = parsedate_to_datetime(arg).timestamp()
                except (TypeError, ValueError, IndexError):
                    continue
            elif key == "domain" and arg:
                domain = arg.lstrip(".").lower()
                if not _domain_matches(host, domain):
                    return  # §5.3 step 6: a cookie for another domain is refused
                cookie.domain, cookie.host_only = domain, False
            elif key == "path" and arg.startswith("/"):
                cookie.path = arg
            elif key == "secure":
                cookie.secure = True
            elif key == "httponly":
                cookie.http_only = True
        if max_age is not None:  # Max-Age wins over Expires (§5.3 step 3)
            cookie.expires = self._clock() + max_age
        self._cookies[(cookie.domain, cookie.path, cookie.name)] = cookie
        self._expire()  # an expiry in the past removes the cookie (§5.3 step 11)

    def header_for(self, host: str, path: str, *, secure: bool = False) -> str | None:
        """The ``Cookie`` field value for a request to ``host`` and ``path`` (RFC 6265 §5.4), or
        None when no cookie applies. Longer paths come first."""
        host = host.lower()
        chosen = [
            c for c in self
            if (c.domain == host if c.host_only else _domain_matches(host, c.domain))
            and _path_matches(path, c.path) and (secure or not c.secure)
        ]
        if not chosen:
            return None
        chosen.sort(key=lambda c: -len(c.path))
        return "; ".join(f"{c.name}={c.value}" for c in chosen)

    def __repr__(self) -> str:
        return f"<CookieJar {[(c.name, c.value) for c in self]!r}>"
