"""``environ_base=`` and ``environ_overrides=`` (werkzeug/Flask) and WebTest's ``extra_environ``:
environ keys turned into what a real client controls, so that the core still builds the environ.

- ``REMOTE_ADDR``, ``REMOTE_PORT``: the connection's peer (the client's address).
- ``SERVER_NAME``, ``SERVER_PORT``: the connection's local address (where the client connected).
- ``wsgi.url_scheme``: ``https`` serves the connection as over TLS.
- ``HTTP_*`` and ``CONTENT_TYPE``: request header fields (``HTTP_X_API_KEY`` -> ``X-Api-Key``).
- Other keys that no server sets (``REMOTE_USER``, ``myapp.user``, ...): added to the environ the
  core built, before the app sees it, as a middleware in front of the app would add them.
- Keys the core derives from the request line or owns (``PATH_INFO``, ``QUERY_STRING``,
  ``CONTENT_LENGTH``, ``wsgi.input``, ...): a ``ValueError`` saying what to use instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NO_SETTINGS", "EnvironSettings", "check_address", "environ_settings"]

# The keys the core sets from the request or the connection, with what a test uses instead.
_DERIVED = {
    "REQUEST_METHOD": "the method (client.post(...), client.request('PUT', ...))",
    "PATH_INFO": "the URL's path",
    "REQUEST_URI": "the URL",
    "RAW_URI": "the URL",
    "QUERY_STRING": "params= or the URL's query",
    "SCRIPT_NAME": "Config(script_name=...)",
    "SERVER_PROTOCOL": "nothing: the client speaks HTTP/1.1 (Client.raw() sends any bytes)",
    "CONTENT_LENGTH": "nothing: the client frames the body itself (chunked=True for no length)",
    "SERVER_SOFTWARE": "Config(server_software=...)",
}


@dataclass
class EnvironSettings:
    """What some environ keys mean for the request and its connection (None: not given)."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    remote_addr: str | None = None
    remote_port: int | None = None
    server_name: str | None = None
    server_port: int | None = None
    secure: bool | None = None
    extensions: dict[str, Any] = field(default_factory=dict)


#: What no environ keys ask for (shared: never changed).
NO_SETTINGS = EnvironSettings()


def check_address(value: Any, where: str) -> str:
    """An IP address as a socket would report it (a peer is never a host name)."""
    if not isinstance(value, str):
        raise TypeError(f"{where} must be an IP address as a str, not {type(value).__name__}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{where} must be an IP address (a peer is an address, not a name), "
                         f"not {value!r}") from None


def _port(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit() and value.isascii():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ValueError(f"{where} must be a port number (0-65535), not {value!r}")
    return value


def _header_name(key: str) -> str:
    # HTTP_X_API_KEY -> X-Api-Key (the core maps it back to the same key; RFC 3875 §4.1.18)
    return "-".join(word.capitalize() for word in key[5:].split("_"))


def environ_settings(*environs: Mapping[str, Any] | None, where: str = "environ_base") -> EnvironSettings:
    """What the given environ mappings ask for, later ones winning (``TypeError`` / ``ValueError``
    for a value or key the client cannot honour, naming it)."""
    if not any(environs):
        return NO_SETTINGS
    out = EnvironSettings()
    headers: dict[str, tuple[str, str]] = {}
    for environ in environs:
        if not environ:
            continue
        if not isinstance(environ, Mapping):
            raise TypeError(f"{where} must be a mapping of environ keys, not {type(environ).__name__}")
        for key, value in environ.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: environ keys are str, not {type(key).__name__}")
            label = f"{where}[{key!r}]"
            if key == "REMOTE_ADDR":
                out.remote_addr = check_address(value, label)
            elif key == "REMOTE_PORT":
                out.remote_port = _port(value, label)
            elif key == "SERVER_NAME":
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{label} must be a host name, not {value!r}")
                out.server_name = value
            elif key == "SERVER_PORT":
                out.server_port = _port(value, label)
            elif key == "wsgi.url_scheme":
                if value not in ("http", "https"):
                    raise ValueError(f"{label} must be 'http' or 'https', not {value!r}")
                out.secure = value == "https"
            elif key.startswith("HTTP_") or key == "CONTENT_TYPE":
                if not isinstance(value, str):
                    raise TypeError(f"{label}: a header value is a str, not {type(value).__name__}")
                name = "Content-Type" if key == "CONTENT_TYPE" else _header_name(key)
                headers[name.lower()] = (name, value)
            elif key in _DERIVED:
                raise ValueError(f"{label}: the core sets {key} from the request; use {_DERIVED[key]}")
            elif key.startswith(("wsgi.", "wsgicore.")):
                raise ValueError(f"{label}: the server sets {key} (PEP 3333); it cannot be given")
            else:
                out.extensions[key] = value
    out.headers = list(headers.values())
    return out
