"""Trusting a reverse proxy for the original scheme (``wsgi.url_scheme``), and only a trusted one.

A proxy that terminates TLS tells the server the client's scheme in a header (``X-Forwarded-Proto:
https``, ...). Any client can send that header too, so it counts only when the *peer* (the address
the connection comes from) is a configured proxy: the peer decides trust, never a header. This is
gunicorn's ``forwarded_allow_ips`` + ``secure_scheme_headers`` rule, kept minimal until the core has
a general proxy-trust module (issue 14), which should absorb it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["check_proxy_settings", "peer_is_trusted", "scheme_from_fields"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_proxy_settings(trusted_proxies: Any, secure_scheme_headers: Any) -> None:
    """Raise ``ValueError`` unless both settings are well formed (used by ``Config``)."""
    if not isinstance(trusted_proxies, tuple) or not all(isinstance(p, str) for p in trusted_proxies):
        raise ValueError(f"Config.trusted_proxies must be a tuple of str, not {trusted_proxies!r}")
    _networks(trusted_proxies)  # ValueError names the bad entry
    if not isinstance(secure_scheme_headers, tuple) or not all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair)
        and pair[0] and pair[0].isascii() and pair[1].isascii()
        for pair in secure_scheme_headers
    ):
        raise ValueError("Config.secure_scheme_headers must be a tuple of (field name, value) "
                         f"pairs of ASCII str, not {secure_scheme_headers!r}")


# Bounded, keyed by an immutable Config value, and its entries never change: safe to share between
# connections and threads. Parsing the networks per connection would cost microseconds each.
@functools.lru_cache(maxsize=32)
def _networks(trusted_proxies: tuple[str, ...]) -> tuple[bool, tuple[_Network, ...]]:
    networks = []
    for entry in trusted_proxies:
        if entry == "*":
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"Config.trusted_proxies: {entry!r} is not an IP address or network") from None
    return "*" in trusted_proxies, tuple(networks)


def peer_is_trusted(peer: Any, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether the connection's peer may tell us the scheme.

    ``"*"`` trusts every peer. A peer without an IP address (a Unix-socket client, ``peer=None``)
    is trusted when any proxy is configured: only local processes can reach such a socket, and the
    proxy is one of them (gunicorn's rule). An IPv4-mapped IPv6 peer is checked as its IPv4 address.
    """
    if not trusted_proxies:
        return False
    any_peer, networks = _networks(trusted_proxies)
    if any_peer or peer is None or not isinstance(peer, tuple) or not peer:
        return True
    try:
        address = ipaddress.ip_address(str(peer[0]).partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def scheme_from_fields(
    fields: Iterable[tuple[bytes, bytes]], secure: dict[bytes, bytes]
) -> str | None:
    """The scheme the trusted proxy's fields say: ``"https"`` when a configured field carries its
    secure value, ``"http"`` when it carries another, ``None`` when none is present.

    ``secure`` maps lower-case field names to the value meaning https. Fields that disagree (one
    says https, another http) raise ``ValueError``: the request is ambiguous, answer 400 (gunicorn's
    InvalidSchemeHeaders).
    """
    scheme: str | None = None
    for name, value in fields:
        wanted = secure.get(name.lower())
        if wanted is None:
            continue
        said = "https" if value.strip() == wanted else "http"
        if scheme is not None and said != scheme:
            raise ValueError("the proxy's scheme fields disagree")
        scheme = said
    return scheme
