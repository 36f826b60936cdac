"""The command line's value syntax: addresses, sizes, seconds and switches, turned into Python values.

Only the *form* is checked here (argparse reports it as a usage error); what a value may be (a
positive timeout, a limit of at least 1) is ``Settings``'s and ``Config``'s to say, so the rules live
in one place for the command line and the Python API alike.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_PORT", "Bind", "parse_bind", "port", "positive_int", "seconds", "size", "switch"]

DEFAULT_PORT: Final = 8000
_UNITS: Final = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Bind:
    """Where to listen: ``host`` and ``port``, or a Unix socket's ``path``."""

    host: str = ""
    port: int = DEFAULT_PORT
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is not in 0-65535")
    return value


def parse_bind(text: str) -> Bind:
    """``HOST:PORT``, ``[IPV6]:PORT``, ``HOST`` (port 8000), an IPv6 address alone (``::``,
    ``::1``: port 8000) or ``unix:PATH``. ``:PORT`` is refused rather than guessed: it means every
    interface to some servers and localhost to others."""
    if text.startswith("unix:"):
        path = text[len("unix:"):]
        if not path:
            raise argparse.ArgumentTypeError("unix: needs a path (unix:/run/app.sock)")
        return Bind(path=path)
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise argparse.ArgumentTypeError(f"not HOST:PORT or [IPV6]:PORT: {text!r}")
        return Bind(host, port(rest[1:]) if rest else DEFAULT_PORT)
    if text.count(":") > 1:  # an IPv6 address without brackets, hence without a port
        return Bind(text, DEFAULT_PORT)
    host, colon, rest = text.partition(":")
    if not host:
        raise argparse.ArgumentTypeError(
            f"no host in {text!r}: say 127.0.0.1{text}, 0.0.0.0{text} or [::]{text}")
    if colon and not rest:
        raise argparse.ArgumentTypeError(f"no port after ':' in {text!r}")
    return Bind(host, port(rest) if colon else DEFAULT_PORT)


def size(text: str) -> int:
    """A number of bytes: digits with an optional K, M or G (KiB, MiB, GiB): ``64K``, ``10M``."""
    body, unit = (text[:-1], _UNITS[text[-1].lower()]) if text[-1:].lower() in _UNITS else (text, 1)
    try:
        return int(body, 10) * unit
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size in bytes (like 8192, 64K, 10M): {text!r}") from None


def seconds(text: str) -> float:
    """A finite number of seconds (whether it may be 0 or negative is the setting's to say)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An int >= 1 (thread counts, which no settings object owns)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def switch(text: str) -> bool:
    """An environment variable's on/off value: 1/0, true/false, yes/no, on/off."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"not one of 1/0, true/false, yes/no, on/off: {text!r}")
