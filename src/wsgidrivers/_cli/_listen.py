"""Listening sockets for the command line's addresses, made before any driver runs.

Making them here gives every driver the same addresses: ``::`` is every address, IPv6 and IPv4
(RFC 3493 §5.3), a host name is bound at its first address, a Unix socket replaces a stale socket
file (one nobody answers on) but never a live one or another file. A failure is one line, naming
the address and the reason ("address already in use").
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat

from wsgidrivers._common.listening import BACKLOG

from ._values import Bind

__all__ = ["ListenError", "close_all", "listen", "listen_all"]


class ListenError(Exception):
    """An address cannot be listened on; the message is one line for the user."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return exc.strerror.lower() if exc.strerror else str(exc)


def _clear_stale(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ListenError(f"cannot listen on unix:{path}: the file exists and is not a socket")
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:  # nobody listens: left over from a server that did not remove it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
    raise ListenError(f"cannot listen on unix:{path}: address already in use")


def listen(bind: Bind) -> socket.socket:
    """A socket bound to ``bind`` and listening."""
    if bind.path is not None:
        if not hasattr(socket, "AF_UNIX"):
            raise ListenError(f"cannot listen on {bind}: no Unix sockets on this system")
        _clear_stale(bind.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(bind.path)
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise ListenError(f"cannot listen on {bind}: {_reason(exc)}") from None
        return sock
    try:
        if bind.host == "::" and socket.has_dualstack_ipv6():
            return socket.create_server(("::", bind.port), family=socket.AF_INET6,
                                        backlog=BACKLOG, dualstack_ipv6=True)
        infos = socket.getaddrinfo(bind.host, bind.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        return socket.create_server(address, family=family, backlog=BACKLOG)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {bind}: unknown host ({exc.strerror})") from None
    except OSError as exc:
        raise ListenError(f"cannot listen on {bind}: {_reason(exc)}") from None


def listen_all(binds: list[Bind]) -> list[socket.socket]:
    """Sockets for every address, or none: the ones made are closed when one fails."""
    sockets: list[socket.socket] = []
    try:
        for bind in binds:
            sockets.append(listen(bind))
    except BaseException:
        close_all(sockets, binds[:len(sockets)])
        raise
    return sockets


def close_all(sockets: list[socket.socket], binds: list[Bind]) -> None:
    """Close the sockets (a driver may have closed them already) and remove the files of the Unix
    ones, which this process made."""
    for sock in sockets:
        sock.close()
    for bind in binds:
        if bind.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(bind.path)
