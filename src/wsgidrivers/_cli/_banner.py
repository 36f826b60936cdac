"""The start-up banner: what is served where, by which driver, and by which process.

One ``Serving HTTP on HOST port PORT (URL) ...`` line per address first (``http.server``'s line,
which scripts already look for), then one line of summary.
"""

from __future__ import annotations

import os
import socket

from wsgicore import __version__
from wsgidrivers._common.runners import Plan, Runner

__all__ = ["address_line", "banner"]


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


def banner(plan: Plan, runner: Runner, app_name: str) -> list[str]:
    """The banner's lines, for ``plan`` served by ``runner``."""
    lines = [address_line(sock, plan.ssl is not None) for sock in plan.sockets]
    threads = runner.describe(plan)
    driver = runner.name
    keep_alive = "keep-alive on" if plan.settings.keep_alive else "keep-alive off"
    tls = "TLS on" if plan.ssl is not None else "TLS off"
    lines.append(f"wsgicore {__version__}: {app_name} with the {driver} driver ({threads}, "
                 f"{keep_alive}, {tls}), pid {os.getpid()}; Ctrl-C to stop")
    return lines
