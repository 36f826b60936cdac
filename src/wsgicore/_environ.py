"""PEP 3333 / RFC 3875 environ dicts, built from a base made once per connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from . import _abnf
from ._config import Config
from ._filewrapper import FileWrapper
from ._proxy import Apply

__all__ = ["EnvironBuilder"]

# Header name as received -> environ key, or "" for a name that must not reach the environ.
# Process-wide on purpose, and safe so: a pure function's memo (the same name always maps to the same
# key, whichever connection or thread asks), keyed by exact bytes, bounded (names are client-chosen),
# and a racing insert from two threads writes the same value. Nothing of one request reaches another.
_KEYS: dict[bytes, str] = {}
_KEYS_MAX = 4096
_SPECIAL_KEYS = {"HTTP_CONTENT_TYPE": "CONTENT_TYPE", "HTTP_CONTENT_LENGTH": "CONTENT_LENGTH"}
# Keys a request may or may not get: a field's (a default there would be joined to the request's value
# as a repeated field) and the one the proxy rules may remove. A driver's default for one of them is
# added after the request's own keys, only when it has none.
_FIELD_KEYS = frozenset(_SPECIAL_KEYS.values()) | {"REMOTE_PORT"}


def _environ_key(name: bytes) -> str:
    key = _KEYS.get(name)
    if key is not None:
        return key
    text = name.decode("ascii")  # a token: h11 and the head gate have checked it
    if "_" in text:
        # Names with "_" are dropped: "X-Forwarded_For" would otherwise become the same key as
        # "X-Forwarded-For" and could pose as a header a proxy set (the CGI mapping is lossy).
        key = ""
    else:
        key = "HTTP_" + text.upper().replace("-", "_")
        key = _SPECIAL_KEYS.get(key, key)
    if len(_KEYS) < _KEYS_MAX:
        _KEYS[name] = key
    return key


class EnvironBuilder:
    """Makes the environ of each request on one connection."""

    __slots__ = ("_base", "_defaults", "_proxy", "_script_name", "_separator", "outside_mount")

    def __init__(self, config: Config, peer: Any, sockname: Any,
                 defaults: Mapping[str, Any] | None = None) -> None:
        self._script_name = config.script_name
        #: The last request's path lies outside ``Config.script_name`` (read only when one is set).
        self.outside_mount = False
        self._separator = config.field_separator
        if sockname is not None:
            server_name, server_port = str(sockname[0]), str(sockname[1])
        else:
            server_name, server_port = "localhost", "443" if config.url_scheme == "https" else "80"
        self._base: dict[str, Any] = {
            "SCRIPT_NAME": config.script_name,
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "QUERY_STRING": "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": config.url_scheme,
            "wsgi.multithread": config.multithread,
            "wsgi.multiprocess": config.multiprocess,
            "wsgi.run_once": config.run_once,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        if config.server_software is not None:
            self._base["SERVER_SOFTWARE"] = config.server_software  # RFC 3875 §4.1.17
        if peer is not None and not isinstance(peer, str):  # a str is a Unix socket's path: no address
            address = str(peer[0])
            self._base["REMOTE_PORT"] = str(peer[1])
        else:
            # A Unix-socket peer has no network address: "" (as gunicorn's own workers set it), so
            # that an app indexing environ["REMOTE_ADDR"] never fails; no REMOTE_PORT (no port).
            address = ""
        # RFC 3875 §4.1.9: REMOTE_HOST is the client's name, or its address when the server does no
        # lookup; a reverse DNS lookup per connection is a cost and a stall nobody asked for.
        self._base["REMOTE_ADDR"] = self._base["REMOTE_HOST"] = address
        # Reverse-proxy trust (_proxy.py) is decided once per connection; None when it is off.
        policy = config._proxy_policy
        self._proxy: Apply | None = policy.for_peer(peer) if policy is not None else None
        # The driver's server-wide keys (``Connection(environ=...)``), merged once: under the core's
        # own keys (which win), except those a request may or may not get, added per request.
        self._defaults: tuple[tuple[str, Any], ...] = ()
        if defaults:
            # One pass over the driver's keys (once per connection): each goes under the core's
            # keys or to the per-request defaults.
            base: dict[str, Any] = {}
            later = []
            for key, value in defaults.items():
                if key in _FIELD_KEYS or key.startswith("HTTP_"):
                    later.append((key, value))
                else:
                    base[key] = value
            base.update(self._base)  # the core's own keys win
            self._base = base
            self._defaults = tuple(later)

    def build(
        self, method: bytes, target: bytes, http_version: str, headers: Iterable[tuple[bytes, bytes]]
    ) -> dict[str, Any]:
        environ = self._base.copy()
        environ["REQUEST_METHOD"] = method.decode("ascii")
        environ["SERVER_PROTOCOL"] = http_version
        raw_target = target.decode("latin-1")
        environ["REQUEST_URI"] = environ["RAW_URI"] = raw_target
        keys = _KEYS
        for name, value in headers:
            key = keys.get(name)  # the memo first: a call per field is most of this loop's cost
            if key is None:
                key = _environ_key(name)
            if not key:
                continue
            text = value.decode("latin-1")
            if key in environ:
                # RFC 9110 §5.3: repeated fields combine with ", "; Cookie with "; " (RFC 6265 §5.4).
                environ[key] += ("; " if key == "HTTP_COOKIE" else self._separator) + text
            else:
                environ[key] = text
        if raw_target[0] == "/":
            path, _, query = raw_target.partition("?")
        elif raw_target == "*":
            path, query = "*", ""
        else:
            path, query = self._absolute_form(target, environ)
        if query:
            environ["QUERY_STRING"] = query
        if "%" in path:
            # PEP 3333: PATH_INFO is the decoded path as "bytes as str" (latin-1).
            path = unquote(path, encoding="latin-1")
        script_name = self._script_name
        if script_name:
            # Only a whole path segment is under the mount ("/app", "/app/..."; never "/appx"), so
            # PATH_INFO stays "" or starts with "/" (PEP 3333). A path elsewhere is no URL of the
            # application's: the connection answers 404 for it (``outside_mount``). The asterisk
            # form names the server as a whole, not a path (RFC 9112 §3.2.4): the app is asked.
            if path == script_name or path.startswith(script_name + "/"):
                path = path[len(script_name) :]
                self.outside_mount = False
            else:
                self.outside_mount = path != "*"
        environ["PATH_INFO"] = path
        if self._proxy is not None:
            self._proxy(environ)  # may raise Refusal (400)
        for key, value in self._defaults:
            if key not in environ:
                environ[key] = value
        return environ

    @staticmethod
    def _absolute_form(target: bytes, environ: dict[str, Any]) -> tuple[str, str]:
        # RFC 9112 §3.2.2: with an absolute-form target the server MUST ignore Host and use the
        # target's authority.
        match = _abnf.ABSOLUTE_FORM.fullmatch(target)
        if match is None:  # the head gate accepted it, so only a CONNECT target gets here
            return "", ""
        environ["HTTP_HOST"] = match["authority"].decode("latin-1")
        rest = (match["rest"] or b"/").decode("latin-1")
        path, _, query = rest.partition("?")
        return path or "/", query

