"""The timeouts and limits both drivers share: their names, their defaults and the check of a value.

``keep_alive``'s default is each driver's own (off in ``simple_server``, as wsgiref; on in ``asyncio``).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "HEAD_TIMEOUT",
    "IO_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "LINGER_BYTES",
    "LINGER_TIMEOUT",
    "RECEIVE_BUFFER",
    "SETTING_NAMES",
    "SOCKET_SETTING_NAMES",
    "check_setting",
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

SETTING_NAMES: Final = ("keep_alive", "head_timeout", "io_timeout", "keep_alive_timeout",
                        "linger_timeout", "linger_bytes")

#: Settings of simple_server only (socket options and I/O choices), besides SETTING_NAMES.
SOCKET_SETTING_NAMES: Final = ("receive_buffer", "use_sendfile")

#: SO_RCVBUF for connections from loopback clients (simple_server), in bytes. Linux starts a
#: connection's receive window at net.ipv4.tcp_rmem's 128 KiB and grows it only as the connection goes
#: on, so a client uploading 1 MiB on a new connection stalls for window updates every 128 KiB;
#: measured on loopback: 2,121 -> 3,150 uploads/s and 446 -> 257 µs of server CPU per MiB. Not for
#: remote clients: a fixed SO_RCVBUF switches off the kernel's autotuning (a cap on long links).
RECEIVE_BUFFER: Final = 256 * 1024


def check_setting(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is valid for the setting ``name`` (one of SETTING_NAMES)."""
    if name == "use_sendfile":
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"use_sendfile must be None, True or False, not {value!r}")
    elif name == "receive_buffer":
        if value is not None and (type(value) is not int or value < 4096):
            raise ValueError(f"receive_buffer must be None or an int >= 4096, not {value!r}")
    elif name == "keep_alive":
        if not isinstance(value, bool):
            raise ValueError(f"keep_alive must be a bool, not {value!r}")
    elif name == "linger_bytes":
        if type(value) is not int or value < 0:
            raise ValueError(f"linger_bytes must be an int >= 0, not {value!r}")
    elif isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
