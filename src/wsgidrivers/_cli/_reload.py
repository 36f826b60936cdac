"""``--reload``: a supervising process restarts the serving one when a source file changes.

The supervisor binds the addresses once and hands the listening sockets to each serving process it
starts (their descriptors, named in ``_WSGICORE_LISTEN_FDS``), so the port stays the same, no
connection is refused during a restart, and "address already in use" is decided once. The serving
process watches the files of the modules it has loaded (not the standard library's or installed
packages', which do not change while you edit): it compares their modification times and sizes every
half second, and, with the ``watchfiles`` package (``--reload-engine``), also as soon as the
operating system reports a change in their directories. On a change it stops as on SIGTERM and exits
with :data:`RESTART`. An application that fails to load is reported, and the process waits for a
change to the files involved before it exits to be restarted. A serving process whose supervisor is
gone (killed without passing the signal on) stops too.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from types import FrameType

__all__ = ["ENGINES", "LISTEN_FDS", "RESTART", "Watcher", "engine_available", "inherited_sockets",
           "supervise", "supervised"]

#: Set by the supervisor for the processes it starts: the descriptors of the listening sockets, and
#: its own pid (a process started by a supervisor that is gone has another parent by then).
LISTEN_FDS = "_WSGICORE_LISTEN_FDS"
SUPERVISOR = "_WSGICORE_SUPERVISOR"
#: The exit status of a serving process that wants to be restarted.
RESTART = 3
#: Seconds between two looks at the files: an edit is picked up within this.
INTERVAL = 0.5

#: ``--reload-engine``: ``auto`` is ``watchfiles`` when that package is installed, else ``poll``.
ENGINES = ("auto", "poll", "watchfiles")


def engine_available(engine: str) -> bool:
    return engine != "watchfiles" or importlib.util.find_spec("watchfiles") is not None


def _installed() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({os.path.join(path, "") for name in ("stdlib", "platstdlib", "purelib", "platlib")
                  if (path := paths.get(name))})


def supervised() -> bool:
    """Whether this process was started by a supervisor (a serving process of ``--reload``)."""
    return LISTEN_FDS in os.environ


def inherited_sockets() -> list[socket.socket] | None:
    """The listening sockets a supervisor handed to this process; None if it was not started so."""
    fds = os.environ.get(LISTEN_FDS)
    if fds is None:
        return None
    return [socket.socket(fileno=int(fd)) for fd in fds.split(",") if fd]


def supervise(command: list[str], sockets: list[socket.socket]) -> int:
    """Run ``command`` (a serving process) with ``sockets``, again each time it exits with
    :data:`RESTART`, until it exits otherwise or this process gets SIGINT/SIGTERM.

    Each of those is passed on as SIGTERM, the one stop signal of the serving process: it ignores
    SIGINT, so a Ctrl-C at the terminal (which reaches both processes) counts once there. The
    first asks for a graceful stop, a second for an immediate one, as without ``--reload``."""
    fds = [sock.fileno() for sock in sockets]
    env = {**os.environ, LISTEN_FDS: ",".join(map(str, fds)), SUPERVISOR: str(os.getpid())}
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print(f"Reloading on changes (supervisor pid {os.getpid()})", file=sys.stderr, flush=True)
    while True:
        child = subprocess.Popen(command, pass_fds=fds, env=env)
        status = child.wait()
        if stopping:
            return 0 if status in (0, RESTART, -signal.SIGINT, -signal.SIGTERM) else status
        if status != RESTART:
            return status


def _watched(extra: Iterable[str], installed: tuple[str, ...]) -> set[str]:
    files = set(extra)
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and not path.startswith(installed):
            files.add(path)
    return files


class Watcher:
    """Watches the loaded modules' files (and ``extra``) for changes, in a daemon thread.

    ``on_change(path)`` is called once, from that thread, for the first changed file; ``on_orphaned()``
    if the parent process goes away (the supervisor of ``--reload``).
    """

    def __init__(self, on_change: Callable[[str], None], extra: Iterable[str] = (), *,
                 engine: str = "poll", on_orphaned: Callable[[], None] | None = None) -> None:
        self._on_change = on_change
        self._on_orphaned = on_orphaned
        self._extra = tuple(extra)
        self._installed = _installed()
        self._seen: dict[str, tuple[int, int] | None] = {}
        self.parent = int(os.environ.get(SUPERVISOR) or os.getppid())
        if engine == "auto":
            engine = "watchfiles" if engine_available("watchfiles") else "poll"
        self.engine = engine
        self.changed = threading.Event()
        self.scan()  # what is loaded now is the reference

    @staticmethod
    def _state(path: str) -> tuple[int, int] | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def scan(self) -> str | None:
        """Look once; the first changed file, or None. Files seen for the first time are noted."""
        for path in _watched(self._extra, self._installed):
            state = self._state(path)
            if path not in self._seen:
                self._seen[path] = state
            elif self._seen[path] != state:
                return path
        return None

    def start(self) -> None:
        threading.Thread(target=self._run, name="wsgicore-reload", daemon=True).start()

    def _run(self) -> None:
        for _ in self._ticks():
            if self._on_orphaned is not None and os.getppid() != self.parent:
                self.changed.set()
                self._on_orphaned()
                return
            path = self.scan()
            if path is not None:
                self.changed.set()
                self._on_change(path)
                return

    def _ticks(self) -> Iterable[object]:
        """One item every INTERVAL seconds, and with watchfiles also as soon as a watched
        directory changes; ends when :attr:`changed` is set."""
        if self.engine == "watchfiles":
            watchfiles = importlib.import_module("watchfiles")
            directories = sorted({os.path.dirname(path) for path in self._seen} - {""})
            # The changes it reports are only a wake-up: scan() decides (mtime and size), the same
            # way for both engines, and also notes modules imported since.
            try:
                yield from watchfiles.watch(*directories, stop_event=self.changed,
                                            yield_on_timeout=True, rust_timeout=int(INTERVAL * 1000),
                                            debounce=50, step=10, raise_interrupt=False,
                                            recursive=False)
                return
            except (OSError, RuntimeError):  # a directory vanished, the OS refused a watch: poll
                pass
        while not self.changed.wait(INTERVAL):
            yield None
