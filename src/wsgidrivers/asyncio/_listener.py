"""The asyncio driver's listening sockets: the loop accepts, and each connection goes to the service.

``loop.create_server`` gives every connection it accepts a transport and a protocol at once; its
accept is internal, so a connection cannot be served by a worker thread straight from the accept
(``Service.serve_accepted``, see ``_fresh``): through asyncio.Server an upload on a new connection
cost the loop and the worker taking turns on every body piece, a thread switch each, where the
threading driver has none (docs/performance.md). :class:`WSGIServer` accepts itself and is an
:class:`asyncio.AbstractServer`, so it stands where asyncio.Server did.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterable
from typing import Any

from wsgidrivers._common.listening import (
    BACKLOG,
    AcceptPause,
    accept_burst,
    accept_nowait,
    prepare_listener,
)

from ._service import Service

__all__ = ["WSGIServer", "bind_sockets"]


def bind_sockets(
    host: str | None, port: int, *, backlog: int, reuse_port: bool | None = None,
) -> list[socket.socket]:
    """Listening sockets for ``host``/``port`` as ``loop.create_server`` binds them: one per
    address ``host`` resolves to (None: every interface), SO_REUSEADDR, IPv6 sockets IPv6-only."""
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if sys.platform != "win32":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(exc.errno, f"error while attempting to bind on address "
                                         f"{address!r}: {exc.strerror}") from None
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(f"getaddrinfo({host!r}) returned no addresses")
    return sockets


class WSGIServer(asyncio.AbstractServer):
    """Listening sockets served by a :class:`Service` on one event loop.

    A plain connection goes to ``service.serve_accepted`` (a worker serves the requests that come
    with it; the loop gets it once it idles), any other (TLS, ``socket_io=False``, shutting down)
    to ``loop.connect_accepted_socket``. The sockets must be bound and listening; the server owns
    them and closes them in :meth:`close`. :meth:`close` stops accepting only; ``shutdown(server)``
    (or ``service.shutdown``) ends the connections. On a loop that cannot watch a socket
    (``add_reader``: Windows' proactor loop) it serves through ``loop.create_server`` instead, every
    connection with a transport from the start.
    """

    def __init__(
        self, service: Service, sockets: Iterable[socket.socket], *,
        loop: asyncio.AbstractEventLoop, ssl: Any = None, backlog: int = BACKLOG,
    ) -> None:
        self.service = service
        self._loop = loop
        self._sockets: list[socket.socket] | None = list(sockets)
        self._ssl = ssl
        self._backlog = backlog
        self._serving = False
        self._serving_forever: asyncio.Future[None] | None = None
        self._connecting: set[asyncio.Task[Any]] = set()  # protocols not made yet (TLS handshakes)
        self._closed = loop.create_future()
        self._delegates: list[asyncio.AbstractServer] = []  # on a loop without add_reader
        #: Per listener, its address when bound to one (see ``prepare_listener``).
        self._socknames = {sock: prepare_listener(sock) for sock in self._sockets}
        #: accept() at a resource limit: every listener rests, said once per pause.
        self._pause = AcceptPause(self._report)

    # asyncio.AbstractServer

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty once closed)."""
        return tuple(self._sockets or ())

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._serving or self._sockets is None:
            return
        try:
            self._start(self._sockets)
        except NotImplementedError:  # no add_reader: asyncio's own servers accept
            for sock in self._sockets:
                self._delegates.append(await self._loop.create_server(
                    self.service, sock=sock, ssl=self._ssl, backlog=self._backlog))
            self._serving = True
        await asyncio.sleep(0)  # as asyncio.Server: a caller awaiting this may rely on a switch

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._serving_forever = self._loop.create_future()
        try:
            await self.start_serving()
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    def close(self) -> None:
        """Stop accepting and close the listening sockets (the connections stay: see the class)."""
        sockets, self._sockets = self._sockets, None
        if sockets is None:
            return
        if self._serving and not self._delegates:
            for sock in sockets:
                self._loop.remove_reader(sock.fileno())
        self._serving = False
        for delegate in self._delegates:
            delegate.close()
        for sock in sockets:
            sock.close()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Until :meth:`close` and the connections it accepted have a protocol (or failed)."""
        await asyncio.shield(self._closed)
        while self._connecting:
            await asyncio.wait(set(self._connecting))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    # Accepting

    def _start(self, sockets: list[socket.socket]) -> None:
        added: list[socket.socket] = []
        try:
            for sock in sockets:
                sock.listen(self._backlog)
                self._loop.add_reader(sock.fileno(), self._accept, sock)
                added.append(sock)
        except BaseException:
            for sock in added:
                self._loop.remove_reader(sock.fileno())
            raise
        self._serving = True

    def _accept(self, listener: socket.socket) -> None:
        service = self.service
        for _ in range(accept_burst(len(service.connections))):
            failure: OSError | None = None
            try:
                accepted = accept_nowait(listener)
            except OSError as exc:
                failure = exc
            if failure is not None:  # out of the except block: one line, no traceback
                self._pause.failed(failure)
                self._rest(listener)
                return
            if accepted is None:
                return
            self._pause.accepted()
            sock, address = accepted
            if self._ssl is None and service.serve_accepted(
                    sock, address, self._socknames.get(listener), loop=self._loop):
                continue
            self._connect(sock)

    def _rest(self, listener: socket.socket) -> None:
        """Stop accepting on ``listener`` for the pause's delay: it stays readable (EMFILE...),
        and watching it meanwhile would spin."""
        self._loop.remove_reader(listener.fileno())
        self._loop.call_later(self._pause.delay, self._resume, listener)

    def _report(self, message: str) -> None:
        self.service.report(f"wsgidrivers.asyncio: {message}")

    def _resume(self, listener: socket.socket) -> None:
        if self._serving and self._sockets is not None and listener in self._sockets:
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    def _connect(self, sock: socket.socket) -> None:
        self._connecting.add(self.service.connect_accepted(
            sock, loop=self._loop, ssl=self._ssl, done=self._connecting.discard))
