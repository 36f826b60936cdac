"""Building the bytes of a request, as a real HTTP/1.1 client would send them (RFC 9112 §3-§7)."""

from __future__ import annotations

import functools
import json as _json
import mimetypes
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from .cookies import CookieJar
from .headers import Headers, HeadersInput

__all__ = ["FilesInput", "Request", "build_request", "encode_multipart"]

#: ``files=``: field name -> content, or (filename, content), or (filename, content, content type);
#: content is bytes, str or a binary file object.
FilesInput = Mapping[str, Any]

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
    ``host`` and ``path`` what the cookie jar matches against; ``secure`` for an https URL."""

    method: str
    url: str
    raw: bytes
    host: str
    path: str
    secure: bool


def _content(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    read = getattr(value, "read", None)
    if read is not None:
        data = read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    raise TypeError(f"file content must be bytes, str or a file, not {type(value).__name__}")


def _quote_param(value: str) -> str:
    # The HTML form-data encoding: '"' and line breaks percent-encoded in names and filenames.
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def encode_multipart(fields: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
                     files: FilesInput, boundary: str | None = None) -> tuple[bytes, str]:
    """``multipart/form-data`` (RFC 7578): the body and its Content-Type value."""
    boundary = boundary or "wsgicore-" + secrets.token_hex(12)
    out = bytearray()
    pairs = fields.items() if isinstance(fields, Mapping) else (fields or ())
    for name, value in pairs:
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote_param(str(name))}"'
                    "\r\n\r\n").encode()
            out += _content(item if isinstance(item, bytes) else str(item)) + b"\r\n"
    for name, spec in files.items():
        if isinstance(spec, tuple):
            filename, content = spec[0], spec[1]
            ctype = spec[2] if len(spec) > 2 else None
        else:
            content = spec
            filename = getattr(spec, "name", None) or name
            ctype = None
        filename = str(filename).rsplit("/", 1)[-1]
        ctype = ctype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote_param(name)}"; '
                f'filename="{_quote_param(filename)}"\r\nContent-Type: {ctype}\r\n\r\n').encode()
        out += _content(content) + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


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
def _origin(base_url: str) -> tuple[str, str, str]:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}", parts.netloc, parts.scheme


def _resolve(base_url: str, url: str) -> tuple[str, str, str, str, str, bool]:
    """``url`` against ``base_url``: (absolute URL, netloc, lower-case host, path, query, https)."""
    if url.startswith("/") and not url.startswith("//"):
        # The common case, a path: no urljoin (which costs more than the rest of the request).
        origin, netloc, scheme = _origin(base_url)
        target = url.split("#", 1)[0]
        path, _, query = target.partition("?")
        absolute = origin + target
    else:
        absolute = urljoin(base_url, url)
        parts = urlsplit(absolute)
        netloc, scheme, path, query = parts.netloc, parts.scheme, parts.path, parts.query
    hostname = netloc.rsplit("@", 1)[-1]
    hostname = hostname[1:hostname.find("]")] if hostname.startswith("[") else hostname.split(":")[0]
    if scheme not in ("http", "https") or not hostname:
        raise ValueError(f"not an http(s) URL: {absolute!r}")
    return absolute, netloc, hostname.lower(), path or "/", query, scheme == "https"


def build_request(
    method: str,
    url: str,
    *,
    base_url: str = "http://localhost",
    params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    headers: HeadersInput | None = None,
    data: Any = None,
    json: Any = None,
    files: FilesInput | None = None,
    cookies: Mapping[str, str] | None = None,
    jar: CookieJar | None = None,
    chunked: bool = False,
) -> Request:
    """The bytes of one HTTP/1.1 request.

    ``url`` is resolved against ``base_url`` (absolute URLs are kept); ``params`` are appended to
    its query. The body is ``data`` (bytes or str as is; a mapping or pairs form-encoded, or
    multipart when ``files`` is given; an iterable of bytes, with ``chunked``, one chunk each) or
    ``json``. ``headers`` replace the generated ones of the same name. The ``Cookie`` field
    holds the cookies of ``jar`` that apply to the URL (RFC 6265 §5.4), then ``cookies``, then a
    ``Cookie`` header given. ``chunked`` sends the body with ``Transfer-Encoding: chunked``
    instead of Content-Length. The method is upper-cased.
    """
    method = method.upper()
    if not _TOKEN.match(method):
        raise ValueError(f"invalid method {method!r}")
    absolute, netloc, hostname, path, query, secure = _resolve(base_url, url)
    raw_path = path
    if not _SAFE_PATH.match(path):
        path = quote(path, safe=_PATH_SAFE)
    if query and not _SAFE_QUERY.match(query):
        query = quote(query, safe=_QUERY_SAFE)
    if params:
        extra = urlencode(list(params.items()) if isinstance(params, Mapping) else list(params),
                          doseq=True)
        query = f"{query}&{extra}" if query else extra
    target = f"{path}?{query}" if query else path

    body: bytes | Iterable[bytes] | None = None
    ctype: str | None = None
    if json is not None:
        body, ctype = _json.dumps(json).encode("utf-8"), "application/json"
    elif files:
        body, ctype = encode_multipart(data, files)
    elif isinstance(data, str):
        body = data.encode("utf-8")
    elif isinstance(data, bytes | bytearray | memoryview):
        body = bytes(data)
    elif isinstance(data, Mapping) or (isinstance(data, list) and data and isinstance(data[0], tuple)):
        pairs = data.items() if isinstance(data, Mapping) else data
        body = urlencode(list(pairs), doseq=True).encode("ascii")
        ctype = "application/x-www-form-urlencoded"
    elif data is not None:
        # An iterable of bytes: one body, or with chunked one chunk per piece.
        body = [bytes(piece) for piece in data] if chunked else b"".join(data)

    given = Headers(headers)
    fields: list[tuple[str, str]] = [("Host", netloc.rsplit("@", 1)[-1])]
    if body is not None and chunked:
        fields.append(("Transfer-Encoding", "chunked"))
    elif body is not None:
        fields.append(("Content-Length", str(len(body) if isinstance(body, bytes) else 0)))
    elif method in ("POST", "PUT", "PATCH"):
        # A request that usually has content says it has none (RFC 9110 §8.6).
        fields.append(("Content-Length", "0"))
    if ctype is not None:
        fields.append(("Content-Type", ctype))
    sent = [jar.header_for(hostname, raw_path, secure=secure) if jar is not None else None,
            "; ".join(f"{k}={v}" for k, v in cookies.items()) if cookies else None,
            given.get("cookie")]
    cookie = "; ".join(c for c in sent if c)
    if cookie:
        fields.append(("Cookie", cookie))
    fields = [(n, v) for n, v in fields if n.lower() not in given or n.lower() == "cookie"]
    fields += [(n, v) for n, v in given.items() if not (cookie and n.lower() == "cookie")]
    head = [f"{method} {target} HTTP/1.1"]
    for name, value in fields:
        _check_field(name, value)
        head.append(f"{name}: {value}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, bytes) and not chunked:
        raw += body
    elif body is not None:
        raw += _chunks(body)
    return Request(method, absolute, raw, hostname, raw_path, secure)
