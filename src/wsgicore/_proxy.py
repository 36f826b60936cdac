"""Reverse-proxy trust: which peers may tell us the client's address, the scheme, the host and the
mount prefix, and what happens to forwarding headers nobody vouches for.

Built once per :class:`Config` (addresses parsed with ``ipaddress`` there), bound to a peer once per
connection, applied to each environ. With no trusted proxy there is no policy at all, so the default
costs one ``is None`` check per request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Mapping
from typing import Any

from . import _abnf
from ._errors import Refusal
from ._forwarded import Node, parse_forwarded, parse_host, parse_node, parse_port, parse_prefix, split_list

__all__ = ["PROXY_HEADERS", "UNIX", "ProxyPolicy"]

#: The forwarding headers we understand, by the name ``Config.trusted_proxy_headers`` uses.
PROXY_HEADERS: dict[str, str] = {
    "x-forwarded-for": "HTTP_X_FORWARDED_FOR",
    "x-forwarded-proto": "HTTP_X_FORWARDED_PROTO",
    "x-forwarded-host": "HTTP_X_FORWARDED_HOST",
    "x-forwarded-port": "HTTP_X_FORWARDED_PORT",
    "x-forwarded-prefix": "HTTP_X_FORWARDED_PREFIX",
    "forwarded": "HTTP_FORWARDED",  # RFC 7239
}
#: The ``trusted_proxies`` entry that trusts Unix-socket peers (a ``peer`` that is None or a path).
UNIX = "unix"
# RFC 7239 carries these too; trusting both spellings would leave two answers to one question.
_OVERLAP = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_TOKEN = _abnf.TOKEN_TEXT



_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Apply = Callable[[dict[str, Any]], None]


class ProxyPolicy:
    """The validated proxy settings of one :class:`Config`. Construction raises ``ValueError``
    naming the setting; ``for_peer`` gives what each request's environ goes through."""

    __slots__ = ("_count", "_exact", "_headers", "_networks", "_secure", "_strip_trusted",
                 "_strip_untrusted", "_unix")

    def __init__(
        self,
        proxies: Collection[str],
        headers: Collection[str],
        count: int,
        secure: Mapping[str, str],
        *,
        clear: bool = True,
    ) -> None:
        networks: list[_Network] = []
        self._unix = False
        for entry in proxies:
            if entry == UNIX:
                self._unix = True
                continue
            if not isinstance(entry, str):
                raise ValueError(f"Config.trusted_proxies: {entry!r} is not a str")
            if entry == "*":
                raise ValueError("Config.trusted_proxies: '*' is not accepted; to trust every peer, "
                                 "say so: ('0.0.0.0/0', '::/0', 'unix')")
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except (TypeError, ValueError):
                raise ValueError(f"Config.trusted_proxies: {entry!r} is not an IP address, a network "
                                 f"or {UNIX!r}") from None
        self._networks = tuple(networks)
        # Single addresses as a socket names them (inet_ntop's canonical text): a peer found here
        # is trusted without parsing its address (ipaddress is a large share of a new connection).
        self._exact = frozenset(
            str(network.network_address) for network in networks
            if network.num_addresses == 1
        )
        self._headers = frozenset(headers)
        self._count = count
        for name in self._headers:
            if name not in PROXY_HEADERS:
                raise ValueError(f"Config.trusted_proxy_headers: {name!r} is not one of "
                                 f"{', '.join(PROXY_HEADERS)}")
        if "forwarded" in self._headers and self._headers.intersection(_OVERLAP):
            raise ValueError("Config.trusted_proxy_headers: trust 'forwarded' or the x-forwarded-for/"
                             "-proto/-host headers, not both (they would give two answers)")
        secure_keys: list[tuple[str, str]] = []
        for name, value in secure.items():
            key = _secure_key(name)
            if name.lower() in self._headers:
                raise ValueError(f"Config.secure_scheme_headers: {name!r} is also in "
                                 f"Config.trusted_proxy_headers; use one of the two")
            if not isinstance(value, str) or not value.strip() or not value.isprintable():
                raise ValueError(f"Config.secure_scheme_headers: the value for {name!r} must be "
                                 f"printable text")
            secure_keys.append((key, value.strip().lower()))
        self._secure = tuple(secure_keys)
        secure_names = {key for key, _ in secure_keys}
        # A trusted peer's untrusted forwarding headers go; from any other peer, every forwarding
        # header goes, the secure-scheme ones too (waitress' clear_untrusted_proxy_headers). Unless
        # told to keep them (gunicorn's rule: they only decide the scheme, the app sees them all).
        self._strip_trusted = tuple(
            key for name, key in PROXY_HEADERS.items()
            if clear and name not in self._headers and key not in secure_names
        )
        self._strip_untrusted = tuple(PROXY_HEADERS.values()) + tuple(
            key for key in secure_names if key not in PROXY_HEADERS.values()
        ) if clear else ()

    def trusts(self, peer: Any) -> bool:
        """Whether ``peer`` (as a driver passes it to ``Connection``) is a trusted proxy."""
        if peer is None or isinstance(peer, str):
            return self._unix
        try:
            host = peer[0]
            if host in self._exact:
                return True
            address = ipaddress.ip_address(host)
        except (TypeError, ValueError, IndexError, KeyError):
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # A dual-stack ("::") listener sees IPv4 clients as ::ffff:a.b.c.d.
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def for_peer(self, peer: Any) -> Apply:
        """What every environ of a connection from ``peer`` goes through."""
        if not self.trusts(peer):
            return self._strip

        def apply(environ: dict[str, Any]) -> None:
            self._apply(peer, environ)

        return apply

    def _strip(self, environ: dict[str, Any]) -> None:
        for key in self._strip_untrusted:
            environ.pop(key, None)

    def _apply(self, peer: Any, environ: dict[str, Any]) -> None:
        for key in self._strip_trusted:
            environ.pop(key, None)
        environ["wsgicore.proxy_peer"] = peer
        headers = self._headers
        client: Node | None = None
        proto = host = port = prefix = None
        if "forwarded" in headers:
            client, proto, host = self._forwarded(environ)
        if "x-forwarded-for" in headers:
            value = self._pick(environ, "HTTP_X_FORWARDED_FOR")
            if value is not None:
                client = parse_node(value)
                if client is None:
                    raise _malformed("X-Forwarded-For", "not an IP address")
        if "x-forwarded-proto" in headers:
            proto = self._pick(environ, "HTTP_X_FORWARDED_PROTO")
        if "x-forwarded-host" in headers:
            host = self._pick(environ, "HTTP_X_FORWARDED_HOST")
        if "x-forwarded-port" in headers:
            port = self._pick(environ, "HTTP_X_FORWARDED_PORT")
            if port is not None:
                port = parse_port(port)
                if port is None:
                    raise _malformed("X-Forwarded-Port", "not a port number")
        if "x-forwarded-prefix" in headers:
            prefix = self._pick(environ, "HTTP_X_FORWARDED_PREFIX")
            if prefix is not None:
                prefix = parse_prefix(prefix)
                if prefix is None:
                    raise _malformed("X-Forwarded-Prefix", "not a clean absolute path")
        if client is not None and client[0] is not None:
            # "unknown" and obfuscated nodes (RFC 7239 §6.2, §6.3) name no address: the peer's stays.
            environ["REMOTE_ADDR"] = environ["REMOTE_HOST"] = client[0]  # RFC 3875 §4.1.9: no lookup
            if client[1] is None:
                environ.pop("REMOTE_PORT", None)  # the proxy's own port says nothing about the client
            else:
                environ["REMOTE_PORT"] = client[1]
        scheme = self._scheme(environ, proto)
        if host is not None or port is not None or scheme is not None:
            self._apply_host(environ, host, port)
        if prefix is not None:
            environ["SCRIPT_NAME"] = prefix + environ["SCRIPT_NAME"]  # the proxy's mount, then ours

    def _pick(self, environ: dict[str, Any], key: str) -> str | None:
        """The value a list-valued header gives for the client: the oldest of the last
        ``trusted_proxy_count`` values (each trusted hop appends one; anything further left is the
        client's own text). The environ keeps only those values (waitress #451 kept the rest)."""
        raw = environ.get(key)
        if raw is None:
            return None
        window = split_list(raw)[-self._count :]
        if not window:
            del environ[key]
            return None
        environ[key] = ", ".join(window)
        return window[0]

    def _forwarded(self, environ: dict[str, Any]) -> tuple[Node | None, str | None, str | None]:
        raw = environ.get("HTTP_FORWARDED")
        if raw is None:
            return None, None, None
        elements = parse_forwarded(raw)
        if elements is None:
            raise _malformed("Forwarded", "not RFC 7239 syntax")
        window = elements[-self._count :]
        if not window:
            del environ["HTTP_FORWARDED"]
            return None, None, None
        environ["HTTP_FORWARDED"] = ", ".join(text for text, _ in window)
        # Each parameter from the oldest trusted element that has it: the one nearest the client.
        found: dict[str, str] = {}
        for _, params in reversed(window):
            found.update((name, params[name]) for name in ("for", "proto", "host") if name in params)
        client: Node | None = None
        if "for" in found:
            client = parse_node(found["for"])
            if client is None:
                raise _malformed("Forwarded", "for= is not a node (RFC 7239 §6)")
        return client, found.get("proto"), found.get("host")

    def _scheme(self, environ: dict[str, Any], proto: str | None) -> str | None:
        """Set ``wsgi.url_scheme`` from the proto header and the secure-scheme headers; every one
        present must agree (gunicorn answers 400 to disagreeing ones too)."""
        schemes: set[str] = set()
        if proto is not None:
            proto = proto.lower()
            if proto not in _DEFAULT_PORTS:
                raise _malformed("the forwarded proto", "neither http nor https")
            schemes.add(proto)
        for key, expected in self._secure:
            value = environ.get(key)
            if value is not None:
                schemes.add("https" if value.strip(" \t").lower() == expected else "http")
        if not schemes:
            return None
        if len(schemes) > 1:
            raise Refusal(400, "the scheme headers from a trusted proxy disagree")
        scheme = schemes.pop()
        environ["wsgi.url_scheme"] = scheme
        return scheme

    @staticmethod
    def _apply_host(environ: dict[str, Any], forwarded_host: str | None, port: str | None) -> None:
        """HTTP_HOST, SERVER_NAME and SERVER_PORT as the client addressed us. SERVER_PORT: the
        forwarded port, else the Host's port, else the scheme's default (the port the proxy
        reached us on is not the client's, PEP 3333 "URL Reconstruction")."""
        default = _DEFAULT_PORTS[environ["wsgi.url_scheme"]]
        host_text = forwarded_host if forwarded_host is not None else environ.get("HTTP_HOST")
        parts = parse_host(host_text) if host_text else None
        if forwarded_host is not None:
            if parts is None:
                raise _malformed("the forwarded host", "not a valid Host")
            environ["HTTP_HOST"] = forwarded_host
            environ["SERVER_NAME"] = parts[0]
        if port is not None and parts is not None:
            environ["HTTP_HOST"] = parts[0] if port == default else f"{parts[0]}:{port}"
        host_port = parts[1] if parts is not None else None
        environ["SERVER_PORT"] = port or host_port or default


def _secure_key(name: str) -> str:
    if not isinstance(name, str) or _TOKEN.fullmatch(name) is None or "_" in name:
        # Names with "_" never reach the environ (see _environ), so such a header could never match.
        raise ValueError(f"Config.secure_scheme_headers: {name!r} is not a header name without '_'")
    return "HTTP_" + name.upper().replace("-", "_")


def _malformed(header: str, what: str) -> Refusal:
    # The reason names the header but never echoes its value (error responses reflect nothing).
    return Refusal(400, f"{header} from a trusted proxy is malformed: {what}")
