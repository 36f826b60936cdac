"""Every driver's settings, in one frozen object validated on construction (like ``wsgicore.Config``).

Each default is written once, here: a field's default, or :data:`DRIVER_DEFAULTS` where one driver's
differs. Every driver, runner and worker takes a :class:`Settings` whole (``settings=``) and the
settings by name are overrides of it (:meth:`Settings.of`, one construction, one validation):
``simple_server``'s class attributes are derived from these defaults (a subclass overrides them, and
:meth:`WSGIServer.settings` reads them back into one object), ``asyncio``'s keywords, the command
line's options and gunicorn's cfg all become one Settings. An unknown name or a bad value is
refused the same way everywhere, naming the setting, before anything is served. The core's own
limits are ``config``'s; :func:`connection_config` gives the Config each connection uses by the
core's rule (``wsgicore.serving_config``), which ``memory`` and the test client (whose only
settings are ``config`` and ``stream_chunked_body``) apply directly.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO, Any, Final

from wsgicore import Config, serving_config

__all__ = [
    "CONNECTION_THREADS",
    "DRIVER_DEFAULTS",
    "HEAD_TIMEOUT",
    "IDLE_THREAD_TIMEOUT",
    "IO_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "LINGER_BYTES",
    "LINGER_TIMEOUT",
    "RECEIVE_BUFFER",
    "SETTING_NAMES",
    "SHUTDOWN_GRACE",
    "SPOOL_MEMORY",
    "Settings",
    "connection_config",
    "driver_defaults",
    "is_loopback",
    "loopback_receive_buffer",
    "spooled_body_file",
]

#: Seconds for a whole request head, from its first byte: a slowloris client is cut here.
HEAD_TIMEOUT: Final = 10.0
#: Seconds one read of the request body or one write of the response may wait.
IO_TIMEOUT: Final = 30.0
#: Seconds an idle kept-alive connection waits for its next request.
KEEP_ALIVE_TIMEOUT: Final = 5.0
#: Seconds, and bytes, of input discarded at most by a lingering close (RFC 9112 §9.6).
LINGER_TIMEOUT: Final = 2.0
LINGER_BYTES: Final = 1 << 20
#: SO_RCVBUF for connections from loopback clients (simple_server), in bytes. Linux starts a
#: connection's receive window at net.ipv4.tcp_rmem's 128 KiB and grows it only as the connection goes
#: on, so a client uploading 1 MiB on a new connection stalls for window updates every 128 KiB
#: (the uploads per second and server CPU it saves: docs/performance.md). Not for
#: remote clients: a fixed SO_RCVBUF switches off the kernel's autotuning (a cap on long links).
RECEIVE_BUFFER: Final = 256 * 1024
#: The most connections ``ThreadingWSGIServer`` serves at once (its ``max_threads``; the command
#: line's ``--threads`` with ``--driver threading``), each in a thread of its own while it is open
#: (an idle kept-alive one too, for at most ``keep_alive_timeout``). Past it nothing is accepted: new
#: connections wait in the listen backlog until a thread is free, so a connection flood cannot
#: start threads without end. gunicorn's ``--worker-connections`` default, for the same job.
CONNECTION_THREADS: Final = 1000
#: Seconds a connection thread of ``ThreadingWSGIServer`` (and of the gunicorn ``ThreadWorker``) stays
#: idle before it ends, while another one waits for connections: the threads shrink back after a burst.
IDLE_THREAD_TIMEOUT: Final = 10.0
#: Seconds requests in progress get to finish when a server stops gracefully (the command line's
#: ``--grace``, asyncio's ``shutdown``/``serve``); what is left is then cut off.
SHUTDOWN_GRACE: Final = 10.0


def _timeout(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings of a driver (see the README's table for each one's reasons).

    ``keep_alive``'s default is each driver's own (:data:`DRIVER_DEFAULTS`): off in
    ``simple_server``'s ``WSGIServer`` (as wsgiref), on in the threading server and ``asyncio``.
    ``use_sendfile``: ``True`` sendfile(), ``False`` copied, ``None`` sendfile() except to
    loopback clients (every driver's default). ``stream_chunked_body``: off, every driver reads a
    chunked request body whole before the application runs (memory, then a temporary file past
    :data:`SPOOL_MEMORY`; bounded by ``Config.max_buffered_body_bytes``) and gives it a
    ``CONTENT_LENGTH``, so that an app that reads only that many bytes (Django) never gets an
    empty body; on, the body streams to the app, which must honour ``wsgi.input_terminated``.
    A bad value is a ``ValueError`` naming the setting; a ``config`` that is not a
    :class:`wsgicore.Config` (a dict, say) a ``TypeError``.
    """

    config: Config | None = None
    keep_alive: bool = True
    head_timeout: float = HEAD_TIMEOUT
    io_timeout: float = IO_TIMEOUT
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT
    linger_timeout: float = LINGER_TIMEOUT
    linger_bytes: int = LINGER_BYTES
    receive_buffer: int | None = RECEIVE_BUFFER
    use_sendfile: bool | None = None
    stream_chunked_body: bool = False

    def __post_init__(self) -> None:
        if self.config is not None and not isinstance(self.config, Config):
            raise TypeError(f"config must be a wsgicore.Config or None, not {self.config!r}")
        for name in ("keep_alive", "stream_chunked_body"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, not {getattr(self, name)!r}")
        for name in ("head_timeout", "io_timeout", "keep_alive_timeout", "linger_timeout"):
            _timeout(name, getattr(self, name))
        if type(self.linger_bytes) is not int or self.linger_bytes < 0:
            raise ValueError(f"linger_bytes must be an int >= 0, not {self.linger_bytes!r}")
        buffer = self.receive_buffer
        if buffer is not None and (type(buffer) is not int or buffer < 4096):
            raise ValueError(f"receive_buffer must be None or an int >= 4096, not {buffer!r}")
        if self.use_sendfile is not None and not isinstance(self.use_sendfile, bool):
            raise ValueError(f"use_sendfile must be None, True or False, not {self.use_sendfile!r}")

    @classmethod
    def of(cls, where: str, overrides: Mapping[str, Any], base: Settings | None = None) -> Settings:
        """``base`` (None: every field's default) with ``overrides`` (a caller's settings by name):
        the one way settings are given, validated once. ``base`` itself when there are no
        overrides. An unknown name, or a ``base`` that is not a Settings, is a ``TypeError`` that
        names it and ``where`` it was given."""
        for name in overrides:
            if name not in SETTING_NAMES:
                raise TypeError(f"{where} got an unknown setting {name!r} "
                                f"(known: settings, {', '.join(SETTING_NAMES)})")
        if base is None:
            return cls(**overrides)
        if not isinstance(base, Settings):
            raise TypeError(f"{where}: settings must be a wsgidrivers Settings or None, not {base!r}")
        return dataclasses.replace(base, **overrides) if overrides else base

    def serving_config(self, *, multithread: bool, secure: bool = False) -> Config:
        """The Config each connection is served with (see :func:`connection_config`)."""
        return connection_config(self.config, keep_alive=self.keep_alive,
                                 multithread=multithread, secure=secure,
                                 stream_chunked_body=self.stream_chunked_body)

    def receive_buffer_for(self, host: str) -> int | None:
        """The SO_RCVBUF for a connection from ``host`` (see :func:`loopback_receive_buffer`)."""
        return loopback_receive_buffer(self.receive_buffer, host)

    def sendfile_for(self, host: str) -> bool:
        """Whether a ``wsgi.file_wrapper`` body goes to a client at ``host`` by sendfile()."""
        if self.use_sendfile is not None:
            return self.use_sendfile
        return not is_loopback(host)


#: Every setting's name, in the order of the README's table.
SETTING_NAMES: Final = tuple(field.name for field in dataclasses.fields(Settings))

#: The defaults that differ by driver (the command line's names), each written here once:
#: ``simple_server.WSGIServer`` serves one connection at a time and, as wsgiref, keeps none alive
#: (an idle kept-alive client would hold up every other).
DRIVER_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType({
    "simple": MappingProxyType({"keep_alive": False}),
})
_DRIVER_SETTINGS: Final = {name: Settings(**values) for name, values in DRIVER_DEFAULTS.items()}
_DEFAULT: Final = Settings()


def driver_defaults(driver: str) -> Settings:
    """The settings ``driver`` ("simple", "threading", "asyncio") serves with when none is given."""
    return _DRIVER_SETTINGS.get(driver, _DEFAULT)


def connection_config(config: Config | None, *, keep_alive: bool, multithread: bool,
                      stream_chunked_body: bool, secure: bool = False) -> Config:
    """The Config each connection of a driver is served with: the core's rule
    (``wsgicore.serving_config``) with the wall clock for ``Date``, chunked bodies buffered unless
    ``stream_chunked_body`` (the setting decides, whatever the config's own flag) and the drivers'
    spool for them, the same for every driver."""
    return serving_config(config, clock=time.time, keep_alive=keep_alive, multithread=multithread,
                          secure=secure, spool=spooled_body_file,
                          buffer_chunked_body=not stream_chunked_body)


#: A buffered chunked request body (every driver's default, ``Config.buffer_chunked_body``) stays in
#: memory up to this many bytes, then moves to a temporary file (bounded by
#: ``Config.max_buffered_body_bytes`` all the same). waitress' inbuf_overflow is 512 KiB.
SPOOL_MEMORY: Final = 1 << 20


def spooled_body_file() -> IO[bytes]:
    """Where the drivers keep a buffered chunked body: memory first, a temporary file past
    :data:`SPOOL_MEMORY` (deleted when closed)."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)


def loopback_receive_buffer(size: int | None, host: str) -> int | None:
    """The SO_RCVBUF every driver sets on a connection from ``host``: ``size`` for a loopback client,
    None (the kernel's autotuning, which a fixed buffer would switch off) otherwise."""
    return size if size is not None and is_loopback(host) else None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped 127.x (a dual-stack socket); the peer is always numeric."""
    return host.startswith(("127.", "::ffff:127.")) or host == "::1"
