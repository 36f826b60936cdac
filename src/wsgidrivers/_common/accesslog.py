"""The access log of both drivers, in wsgiref's format: ``addr - - [date] "REQUEST LINE" status size``.

``http.server`` (which ``wsgiref.simple_server`` logs through) writes local time as
``24/Nov/2025 04:05:06`` and, since CPython 3.10.9/3.11.1, escapes control characters: a request
line is client-chosen text and must not forge log lines or terminal escapes. The request line is
rebuilt from the core's environ, never parsed here.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, Final

from wsgicore import Problem

__all__ = [
    "access_message",
    "format_access_line",
    "format_log_line",
    "log_date",
    "log_line",
    "log_lock",
    "not_completed_message",
    "request_line",
    "request_parts",
    "write_stderr",
    "write_unreported",
]

_MONTHS: Final = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ESCAPES: Final = str.maketrans(
    {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {ord("\\"): "\\\\"}
)

#: Serializes whole lines written by several threads to one stream (access log, error reports).
log_lock = threading.Lock()


# The last second formatted for the log and its text, shared by every connection (an access line per
# request would otherwise pay localtime() and the formatting). Two threads racing here compute
# the same text, so no lock is needed.
_last_log_date: tuple[int, str] = (-1, "")


def log_date(when: float | None = None) -> str:
    """``24/Nov/2025 04:05:06``: local time, as ``BaseHTTPRequestHandler.log_date_time_string``."""
    global _last_log_date
    if when is None:
        second = int(time.time())
        cached = _last_log_date
        if cached[0] == second:
            return cached[1]
        text = log_date(second)
        _last_log_date = (second, text)
        return text
    t = time.localtime(when)
    return (f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon]:3s}/{t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")


def log_line(addr: str, date: str, message: str) -> str:
    """``addr - - [date] message`` plus a newline, control characters in ``message`` escaped."""
    return f"{addr} - - [{date}] {message.translate(_ESCAPES)}\n"


def format_log_line(addr: str, message: str, when: float | None = None) -> str:
    """``addr - - [date] message`` plus a newline, as ``http.server``'s ``log_message`` writes it:
    local time, control characters in ``message`` escaped."""
    return log_line(addr, log_date(when), message)


def access_message(request_line: str, status: int | str, size: int | str) -> str:
    """The message of an access-log line, as ``http.server``'s ``log_request`` formats it."""
    return f'"{request_line}" {status} {size}'


def format_access_line(
    addr: str, request_line: str, status: int | str, size: int | str, when: float | None = None
) -> str:
    """One access-log line, newline included, exactly as ``wsgiref.simple_server`` writes it.

    ``127.0.0.1 - - [24/Nov/2025 04:05:06] "GET / HTTP/1.1" 200 12``: local time, body size in bytes
    (``-`` when unknown).
    """
    return format_log_line(addr, access_message(request_line, status, size), when)


def request_parts(environ: dict[str, Any]) -> tuple[str, str, str]:
    """``(method, target, version)`` of the request line as received, for the log (wsgiref logs
    ``requestline``). The core always sets ``REQUEST_URI``; the fallback covers environs a
    ``get_environ()`` override rebuilt without it."""
    target = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not isinstance(target, str):
        target = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if query:
            target = f"{target}?{query}"
    return (str(environ.get("REQUEST_METHOD", "-")), target,
            str(environ.get("SERVER_PROTOCOL", "-")))


def request_line(environ: dict[str, Any]) -> str:
    """``METHOD target VERSION``, the request line for the log."""
    return " ".join(request_parts(environ))


def not_completed_message(request_line: str, exc: BaseException) -> str:
    """The one log line for a response the client did not take (gone, or stopped reading)."""
    if isinstance(exc, TimeoutError):
        why = "client too slow (timed out)"
    else:
        why = f"client disconnected ({type(exc).__name__})"
    return f'"{request_line}" response not completed: {why}'


def write_stderr(line: str) -> None:
    """Write one whole log line to the current ``sys.stderr``."""
    # sys.stderr is looked up per call, so redirection (and pytest's capture) applies.
    with log_lock:
        sys.stderr.write(line)


def write_unreported(problems: Iterable[Problem]) -> None:
    """Problems ``wsgi.errors`` could not take (``ResponseInfo.unreported``): to the current
    ``sys.stderr``, the one place left; a failure there too is dropped."""
    for problem in problems:
        with contextlib.suppress(Exception), log_lock:
            sys.stderr.write(problem.format())
