"""Building the bytes of a request, as a real HTTP/1.1 client would send them (RFC 9112 §3-§7)."""

from __future__ import annotations

import functools
import json as _json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, unquote_to_bytes, urljoin, urlsplit

from .auth import AuthInput, AuthRequest, apply_callable, authorization
from .cookies import CookieJar
from .environ_keys import NO_SETTINGS, EnvironSettings, check_address, environ_settings
from .forms import FilesInput, encode_multipart, form_fields, has_files, urlencoded
from .headers import Headers, HeadersInput

__all__ = ["FilesInput", "ParamsInput", "Request", "build_request", "encode_multipart"]

#: ``params=``: a mapping or (name, value) pairs (lists repeat the name), or a ready query string.
ParamsInput = Mapping[str, Any] | Iterable[tuple[str, Any]] | str

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*\Z")
# Characters a browser leaves raw in a path or query; the rest is percent-encoded (RFC 3986 §3.3).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_SAFE_PATH = re.compile(r"[A-Za-z0-9/%:@!$&'()*+,;=._~-]*\Z")
_SAFE_QUERY = re.compile(r"[A-Za-z0-9/?%:@!$&'()*+,;=._~-]*\Z")


@dataclass(frozen=True)
class Request:
    """A request ready to send: ``raw`` is every byte of it; ``url`` the absolute URL it asks for;
    ``host`` and ``path`` what the cookie jar matches against; ``secure`` for https.

    The connection it goes on: ``secure`` (served as over TLS: ``wsgi.url_scheme`` https),
    ``server_name`` and ``port`` (the server's address: ``SERVER_NAME``, ``SERVER_PORT``; by
    default the URL's host and port), ``remote_addr`` and ``remote_port`` (the client's; None: the
    client's own), ``script_name`` (the app's mount, ``SCRIPT_NAME``: the path of ``base_url``
    when the URL lies under it, as werkzeug's ``base_url``). ``extensions``: environ keys no server
    sets, added before the app is called.
    """

    method: str
    url: str
    raw: bytes
    host: str
    path: str
    secure: bool
    port: int = 80
    server_name: str = ""
    remote_addr: str | None = None
    remote_port: int | None = None
    extensions: tuple[tuple[str, Any], ...] = ()
    script_name: str = ""

    @property
    def connection_key(self) -> ConnectionKey:
        """Requests with the same key may share a connection: the same server address, scheme and
        client address, as a real client's connection pool keys them, and the same mount."""
        return (self.secure, self.server_name or self.host, self.port, self.remote_addr,
                self.remote_port, self.script_name)


#: (secure, server name, port, client address, client port, script_name): see Request.connection_key.
ConnectionKey = tuple[bool, str, int, str | None, int | None, str]


def _check_field(name: str, value: str) -> None:
    # The client builds only valid requests: raw bytes are Client.raw()'s job.
    if not _TOKEN.match(name):
        raise ValueError(f"invalid header name {name!r}")
    if not _FIELD_VALUE.match(value) or value != value.strip(" \t"):
        raise ValueError(f"invalid value for header {name!r}: {value!r}")


def _chunks(body: bytes | Iterable[bytes]) -> bytes:
    # chunked-body = *chunk last-chunk trailer-section CRLF (RFC 9112 §7.1)
    pieces = [body] if isinstance(body, bytes) else list(body)
    out = bytearray()
    for piece in pieces:
        if piece:
            out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


@functools.lru_cache(maxsize=64)
def _origin(base_url: str) -> tuple[str, str, str, int | None, str]:
    """The base's origin, netloc, scheme, port and path prefix (its path without a final "/")."""
    parts = urlsplit(base_url)
    return (f"{parts.scheme}://{parts.netloc}", parts.netloc, parts.scheme, parts.port,
            parts.path.rstrip("/"))


def _mount(prefix: str) -> str:
    """``SCRIPT_NAME`` for a base path: as the core decodes the path it is sent as (percent
    escapes to bytes, read as latin-1: PEP 3333 "Unicode Issues")."""
    return unquote_to_bytes(quote(prefix, safe=_PATH_SAFE)).decode("latin-1")


class _Target(NamedTuple):
    """A URL resolved against the base: what the request line, Host and the connection need."""

    netloc: str  # host[:port], without userinfo: the Host field
    hostname: str  # lower-case, without brackets
    port: int
    path: str  # not yet percent-encoded
    query: str
    secure: bool
    userinfo: str | None
    script_name: str  # the base path when the URL lies under it ("" otherwise)


def _resolve(base_url: str, url: Any) -> _Target:
    """``url`` against ``base_url`` (absolute URLs are kept). A base with a path is where the app is
    mounted (werkzeug's ``base_url``, httpx's): a path is appended to it (``/x`` under
    ``http://h/app`` is ``/app/x``), and a URL under it has it as ``script_name``."""
    if not isinstance(url, str):
        if isinstance(url, bytes | bytearray):
            raise TypeError(f"the URL must be a str, not bytes: {bytes(url)!r} "
                            "(decode it, e.g. url.decode('ascii'))")
        raise TypeError(f"the URL must be a str, not {type(url).__name__}")
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
    try:
        origin, netloc, scheme, port, prefix = _origin(base_url)
        if url.startswith("/") and not url.startswith("//"):
            # The common case, a path: no urljoin (which costs more than the rest of the request).
            target = prefix + url.split("#", 1)[0]
            path, _, query = target.partition("?")
            absolute = origin + target
        else:
            # Relative to the mount (its final "/" kept), so "x" under http://h/app is /app/x.
            absolute = urljoin(f"{origin}{prefix}/" if prefix else base_url, url)
            parts = urlsplit(absolute)
            if not (parts.scheme == scheme and parts.netloc == netloc
                    and (parts.path == prefix or parts.path.startswith(prefix + "/"))):
                prefix = ""  # another origin, or outside the mount: no SCRIPT_NAME
            netloc, scheme, path, query = parts.netloc, parts.scheme, parts.path, parts.query
            port = parts.port
    except ValueError as exc:  # a port that is not a number
        raise ValueError(f"invalid URL {url!r} (base_url {base_url!r}): {exc}") from None
    userinfo, _, hostport = netloc.rpartition("@")
    hostname = hostport[1:hostport.find("]")] if hostport.startswith("[") else hostport.split(":")[0]
    if scheme not in ("http", "https") or not hostname:
        raise ValueError(f"not an http(s) URL: {absolute!r}")
    secure = scheme == "https"
    if port is None:
        port = 443 if secure else 80
    return _Target(hostport, hostname.lower(), port, path or "/", query, secure, userinfo or None,
                   _mount(prefix) if prefix else "")


def _request_target(target: _Target, params: Any) -> str:
    """The request-target (RFC 9112 §3.2.1 origin-form), percent-encoded as a browser does."""
    path, query = target.path, target.query
    if not _SAFE_PATH.match(path):
        path = quote(path, safe=_PATH_SAFE)
    if params:
        if isinstance(params, bytes | bytearray):
            params = bytes(params).decode("latin-1")
        extra = params.lstrip("?") if isinstance(params, str) else urlencoded(params, "params=")
        query = f"{query}&{extra}" if query and extra else query or extra
    if query and not _SAFE_QUERY.match(query):
        query = quote(query, safe=_QUERY_SAFE)
    return f"{path}?{query}" if query else path


def _body(data: Any, json: Any, files: Any, chunked: bool) -> tuple[bytes | list[bytes] | None, str | None]:
    """The body (bytes, or with ``chunked`` a list of chunks) and the Content-Type it implies."""
    if data is None and json is None and not files:
        return None, None
    if json is not None:
        if data is not None or files:
            raise TypeError("give json= or data=/files=, not both")
        return _json.dumps(json).encode("utf-8"), "application/json"
    if (isinstance(data, Mapping) or hasattr(data, "getlist")
            or (isinstance(data, (list, tuple)) and data and isinstance(data[0], (tuple, list)))):
        fields = form_fields(data, "data=")
        if files or has_files(fields):  # werkzeug's files in data=, or requests' files=
            return encode_multipart(fields, files)
        return urlencoded(fields, "data=").encode("ascii"), "application/x-www-form-urlencoded"
    if files:
        return encode_multipart(data, files)  # data None, or refused there with a clear message
    if isinstance(data, str):
        return data.encode("utf-8"), None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), None
    if callable(getattr(data, "read", None)):  # a file: its content is the body
        content = data.read()
        if isinstance(content, str):
            return content.encode("utf-8"), None
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"data=: the file's read() gave a {type(content).__name__}, not bytes or str")
        return bytes(content), None
    if isinstance(data, Iterable):
        # An iterable of bytes: one body, or with chunked one chunk per piece.
        pieces: list[bytes] = []
        for piece in data:
            if not isinstance(piece, bytes | bytearray | memoryview):
                raise TypeError(f"data=: an iterable body holds bytes, not {type(piece).__name__}")
            pieces.append(bytes(piece))
        return (pieces if chunked else b"".join(pieces)), None
    raise TypeError(f"data= must be bytes, str, a mapping or (name, value) pairs, a file or an "
                    f"iterable of bytes, not {type(data).__name__}")


def build_request(
    method: str,
    url: str,
    *,
    base_url: str = "http://localhost",
    params: ParamsInput | None = None,
    headers: HeadersInput | None = None,
    data: Any = None,
    json: Any = None,
    files: FilesInput | None = None,
    cookies: Mapping[str, str] | None = None,
    jar: CookieJar | None = None,
    chunked: bool = False,
    auth: AuthInput | None = None,
    environ_base: Mapping[str, Any] | None = None,
    environ_overrides: Mapping[str, Any] | None = None,
    remote_addr: str | None = None,
) -> Request:
    """The bytes of one HTTP/1.1 request.

    ``url`` is resolved against ``base_url`` (absolute URLs are kept); ``params`` are appended to
    its query. The body is ``data`` (bytes or str as is; a mapping or pairs form-encoded, or
    multipart when it holds files or ``files`` is given; a file object's content; an iterable of
    bytes, with ``chunked``, one chunk each) or ``json``. ``headers`` replace the generated ones
    of the same name. The ``Cookie`` field holds the cookies of ``jar`` that apply to the URL (RFC
    6265 §5.4), then ``cookies``, then a ``Cookie`` header given. ``chunked`` sends the body with
    ``Transfer-Encoding: chunked`` instead of Content-Length. ``auth``: see
    :mod:`wsgidrivers.testing.auth` (credentials in the URL are Basic auth when it is None).
    ``environ_base`` (below ``headers``) and ``environ_overrides`` (above them): see
    :mod:`wsgidrivers.testing.environ_keys`; ``remote_addr`` is the client's address (between
    the two). The method is upper-cased.
    """
    if not isinstance(method, str):
        raise TypeError(f"the method must be a str, not {type(method).__name__}")
    method = method.upper()
    if not _TOKEN.match(method):
        raise ValueError(f"invalid method {method!r}")
    base = environ_settings(environ_base, where="environ_base") if environ_base else NO_SETTINGS
    over = (environ_settings(environ_overrides, where="environ_overrides") if environ_overrides
            else NO_SETTINGS)
    target = _resolve(base_url, url)
    request_target = _request_target(target, params)
    body, ctype = _body(data, json, files, chunked)

    fields = _fields(method, target, body=body, ctype=ctype, chunked=chunked, headers=headers,
                     cookies=cookies, jar=jar, base=base, over=over)
    if auth is None and target.userinfo is not None:
        # requests' rule: credentials in the URL are Basic auth, and never part of Host.
        user, _, password = target.userinfo.partition(":")
        auth = (unquote(user), unquote(password))
    absolute = _url(target, request_target)
    if auth is not None:
        value = authorization(auth)
        if value is not None:  # replaces an Authorization field given (as requests and werkzeug)
            fields = [f for f in fields if f[0].lower() != "authorization"] + [("Authorization", value)]
        else:
            body, changed_url, fields = _apply_auth_callable(auth, method, absolute, fields,
                                                             body=body, chunked=chunked)
            if changed_url != absolute:  # e.g. a token added to the query
                new = _resolve(base_url, changed_url)
                fields = [("Host", new.netloc) if f == ("Host", target.netloc) else f for f in fields]
                target, request_target = new, _request_target(new, None)
                absolute = _url(target, request_target)

    head = [f"{method} {request_target} HTTP/1.1"]
    for name, value in fields:
        _check_field(name, value)
        head.append(f"{name}: {value}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, bytes) and not chunked:
        raw += body
    elif body is not None:
        raw += _chunks(body)
    return _request(method, absolute, raw, target, base=base, over=over, remote_addr=remote_addr)


def _fields(method: str, target: _Target, *, body: bytes | list[bytes] | None, ctype: str | None,
            chunked: bool, headers: HeadersInput | None, cookies: Mapping[str, str] | None,
            jar: CookieJar | None, base: EnvironSettings, over: EnvironSettings) -> list[tuple[str, str]]:
    """The head's fields: the generated ones, then those given (which replace generated ones of the
    same name): environ_base's, below ``headers``, below environ_overrides'."""
    given: list[tuple[str, str]] = []
    if headers or base.headers or over.headers:
        user = Headers(headers)
        merged = Headers([f for f in base.headers if f[0] not in user] + user.items())
        for name, value in over.headers:
            merged[name] = value
        given = merged.items()
    fields = [("Host", target.netloc)]
    if body is not None and chunked:
        fields.append(("Transfer-Encoding", "chunked"))
    elif body is not None:
        fields.append(("Content-Length", str(len(body) if isinstance(body, bytes) else 0)))
    elif method in ("POST", "PUT", "PATCH"):
        # A request that usually has content says it has none (RFC 9110 §8.6).
        fields.append(("Content-Length", "0"))
    if ctype is not None:
        fields.append(("Content-Type", ctype))
    cookie_given = None
    if given:
        names = {name.lower() for name, _ in given}
        fields = [f for f in fields if f[0].lower() not in names]
        cookie_given = "; ".join(v for n, v in given if n.lower() == "cookie") or None
    sent = [jar.header_for(target.hostname, target.path, secure=target.secure) if jar is not None else None,
            "; ".join(f"{k}={v}" for k, v in cookies.items()) if cookies else None,
            cookie_given]
    cookie = "; ".join(c for c in sent if c)
    if cookie:
        fields.append(("Cookie", cookie))
    fields += [f for f in given if f[0].lower() != "cookie"]
    return fields


def _url(target: _Target, request_target: str) -> str:
    """The absolute URL asked for (params and percent-encoding included, no credentials)."""
    return f"{'https' if target.secure else 'http'}://{target.netloc}{request_target}"


def _apply_auth_callable(auth: Any, method: str, url: str, fields: list[tuple[str, str]], *,
                         body: bytes | list[bytes] | None,
                         chunked: bool) -> tuple[bytes | list[bytes] | None, str, list[tuple[str, str]]]:
    """Let a requests-style auth callable change the request: its fields, body or URL."""
    plain = body if isinstance(body, bytes) else None
    changed = apply_callable(auth, AuthRequest(method, url, Headers(fields), plain))
    if changed.method.upper() != method:
        raise ValueError("auth=: the callable cannot change the method")
    if changed.body != plain:
        if chunked:
            raise ValueError("auth=: the callable cannot change a chunked body")
        body = changed.body
        if body is None:
            changed.headers.pop("Content-Length", None)
        else:
            changed.headers["Content-Length"] = str(len(body))
    return body, changed.url, changed.headers.items()


def _request(method: str, url: str, raw: bytes, target: _Target, *, base: EnvironSettings,
             over: EnvironSettings, remote_addr: str | None) -> Request:
    """The Request, with the connection it asks for (environ_overrides over remote_addr over
    environ_base)."""
    if remote_addr is not None:
        remote_addr = check_address(remote_addr, "remote_addr")
    if base is over is NO_SETTINGS and remote_addr is None:
        return Request(method, url, raw, target.hostname, target.path, target.secure,
                       target.port, target.hostname, script_name=target.script_name)
    secure = over.secure if over.secure is not None else base.secure
    remote = [a for a in (over.remote_addr, remote_addr, base.remote_addr) if a is not None]
    return Request(
        method, url, raw, target.hostname, target.path,
        target.secure if secure is None else secure,
        port=next(p for p in (over.server_port, base.server_port, target.port) if p is not None),
        server_name=over.server_name or base.server_name or target.hostname,
        remote_addr=remote[0] if remote else None,
        remote_port=over.remote_port if over.remote_port is not None else base.remote_port,
        extensions=tuple({**base.extensions, **over.extensions}.items()),
        script_name=target.script_name,
    )
