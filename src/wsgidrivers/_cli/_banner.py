"""The start-up banner: what is served where, by which driver, and by which process.

One ``Serving HTTP on HOST port PORT (URL) ...`` line per address first (``http.server``'s line,
which scripts already look for), then what is believed of reverse proxies (when any is trusted),
then one line of summary.
"""

from __future__ import annotations

import os
import socket

from wsgicore import Config, __version__
from wsgidrivers._common.runners import Plan, Runner

__all__ = ["address_line", "banner", "proxy_line"]

#: The forwarding headers, in the order the banner names them, as they are usually written.
_HEADER_NAMES = {
    "x-forwarded-for": "X-Forwarded-For",
    "x-forwarded-proto": "X-Forwarded-Proto",
    "x-forwarded-host": "X-Forwarded-Host",
    "x-forwarded-port": "X-Forwarded-Port",
    "x-forwarded-prefix": "X-Forwarded-Prefix",
    "forwarded": "Forwarded",
}


def address_line(sock: socket.socket, tls: bool) -> str:
    """``Serving HTTP on 127.0.0.1 port 8000 (http://127.0.0.1:8000/) ...`` for one socket."""
    scheme = "https" if tls else "http"
    name = sock.getsockname()
    if isinstance(name, (str, bytes)):
        path = name.decode() if isinstance(name, bytes) else name
        return f"Serving {scheme.upper()} on unix:{path} ..."
    host, port = str(name[0]), int(name[1])
    shown = f"[{host}]" if ":" in host else host  # RFC 3986 §3.2.2
    return f"Serving {scheme.upper()} on {host} port {port} ({scheme}://{shown}:{port}/) ..."


def proxy_line(config: Config) -> str | None:
    """``Trusted proxies: 127.0.0.1; applying X-Forwarded-For, X-Forwarded-Proto (...)``: what is
    believed, and from whom; None when no proxy is trusted (every forwarding header then reaches
    the application untouched)."""
    if not config.trusted_proxies:
        return None
    applied = [name for key, name in _HEADER_NAMES.items() if key in config.trusted_proxy_headers]
    secure = [f"{name}: {value}" for name, value in config.secure_scheme_headers.items()]
    what = f"applying {', '.join(applied)}" if applied else "applying no forwarding header"
    if secure:
        what += f"; https when {' or '.join(secure)}"
    count = config.trusted_proxy_count
    hops = ("the client's value is the last one" if count == 1
            else f"the client's value is {count} from the right")
    return (f"Trusted proxies: {', '.join(config.trusted_proxies)}; {what} ({hops}); other forwarding "
            f"headers are removed")


def banner(plan: Plan, runner: Runner, app_name: str) -> list[str]:
    """The banner's lines, for ``plan`` served by ``runner``."""
    lines = [address_line(sock, plan.ssl is not None) for sock in plan.sockets]
    proxies = proxy_line(plan.settings.config) if plan.settings.config is not None else None
    if proxies is not None:
        lines.append(proxies)
    threads = runner.describe(plan)
    driver = runner.name
    keep_alive = "keep-alive on" if plan.settings.keep_alive else "keep-alive off"
    tls = "TLS on" if plan.ssl is not None else "TLS off"
    lines.append(f"wsgicore {__version__}: {app_name} with the {driver} driver ({threads}, "
                 f"{keep_alive}, {tls}), pid {os.getpid()}; Ctrl-C to stop")
    return lines
