"""The ThreadWorker's polls of the listening sockets it shares with the other workers.

On Linux the listeners are registered with ``EPOLLEXCLUSIVE``: a new connection wakes one of the
waiters (the first registered that is waiting: kernel wait queues keep their order), not all of
them. Elsewhere (or on a kernel without it) the ``selectors`` default, and ``exclusive`` is False.
"""

from __future__ import annotations

import contextlib
import select
import selectors
from typing import Any

__all__ = ["Poller"]

_EXCLUSIVE: int = getattr(select, "EPOLLEXCLUSIVE", 0)
_MISSING = object()


class Poller:
    """Read readiness of a few file descriptors, each with its ``data``; ``select`` returns the
    ``data`` of the ready ones."""

    def __init__(self) -> None:
        self._epoll: Any = select.epoll() if _EXCLUSIVE and hasattr(select, "epoll") else None
        self._selector = None if self._epoll is not None else selectors.DefaultSelector()
        self._data: dict[int, Any] = {}
        #: Whether the shared sockets' wake-ups are exclusive (see the module's docstring).
        self.exclusive = self._epoll is not None

    def register(self, fileobj: Any, data: Any, *, shared: bool = False) -> None:
        """Watch ``fileobj`` (a socket or a descriptor); ``shared``: other processes poll it too."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        selector = self._selector
        if selector is not None:  # no epoll here
            selector.register(fd, selectors.EVENT_READ, data)
            return
        events = select.EPOLLIN
        if shared and self.exclusive:
            try:
                self._epoll.register(fd, events | _EXCLUSIVE)
            except OSError:  # EINVAL: a kernel before 4.5
                self.exclusive = False
                self._epoll.register(fd, events)
        else:
            self._epoll.register(fd, events)
        self._data[fd] = data

    def unregister(self, fileobj: Any) -> None:
        """Stop watching ``fileobj``; nothing if it is not watched (any thread may call this)."""
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        selector = self._selector
        if selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(fd)
            return
        if self._data.pop(fd, _MISSING) is not _MISSING:
            with contextlib.suppress(OSError, ValueError):  # closed meanwhile
                self._epoll.unregister(fd)

    def fileno(self) -> int:
        """The descriptor that is readable while some watched one is (to poll this poll)."""
        if self._epoll is None:
            raise ValueError("only an epoll poll can be polled")
        return int(self._epoll.fileno())

    def select(self, timeout: float | None) -> list[Any]:
        selector = self._selector
        if selector is not None:
            return [key.data for key, _ in selector.select(timeout)]
        data = self._data
        return [data[fd] for fd, _ in self._epoll.poll(timeout) if fd in data]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        if self._selector is not None:
            self._selector.close()
