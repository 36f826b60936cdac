"""The access log of both drivers, in wsgiref's format: ``addr - - [date] "REQUEST LINE" status size``;
and the command line's formats (:class:`AccessLog`): gunicorn's ``%(h)s`` atoms, or JSON lines.

``http.server`` (which ``wsgiref.simple_server`` logs through) writes local time as
``24/Nov/2025 04:05:06`` and, since CPython 3.10.9/3.11.1, escapes control characters: a request
line is client-chosen text and must not forge log lines or terminal escapes. The request line is
rebuilt from the core's environ, never parsed here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, NamedTuple

from wsgicore import Problem
from wsgidrivers._common.types import StartResponse, WSGIApplication

__all__ = [
    "ACCESS_ATOMS",
    "DEFAULT_ACCESS_FORMAT",
    "AccessLog",
    "access_message",
    "capture_headers",
    "clf_date",
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


# ---- the command line's access log ---------------------------------------------------------------

#: The command line's default: gunicorn's default format (Apache's and nginx's "combined" log format),
#: then the seconds the request took (as nginx's ``$request_time``, gunicorn's ``%(L)s``).
DEFAULT_ACCESS_FORMAT: Final = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s'

#: The atoms of an access-log format, gunicorn's names and meanings (its ``glogging.Logger.atoms``),
#: for the help and the docs. ``{name}i``, ``{name}o`` and ``{name}e`` take any name.
ACCESS_ATOMS: Final = {
    "h": "the client's address (REMOTE_ADDR, after a trusted proxy's X-Forwarded-For)",
    "l": "'-' (the Common Log Format's identd field)",
    "u": "the user name of HTTP Basic authentication, else '-'",
    "t": "the date, as [24/Nov/2025:04:05:06 +0100] (local time)",
    "r": "the request line, as GET /path?q HTTP/1.1",
    "m": "the method",
    "U": "the path, without the query (PATH_INFO)",
    "q": "the query string, without '?'",
    "H": "the protocol, HTTP/1.1",
    "s": "the status",
    "B": "the body's size in bytes",
    "b": "the body's size in bytes, '-' for none",
    "f": "the Referer header",
    "a": "the User-Agent header",
    "T": "the time taken, in whole seconds",
    "M": "the time taken, in milliseconds",
    "D": "the time taken, in microseconds",
    "L": "the time taken, in seconds with six decimals",
    "p": "the process id, as <4242>",
    "{name}i": "the request header name",
    "{name}o": "the response header name",
    "{name}e": "the environ key name",
}

# In an atom's value: control characters (as above), the backslash, and the double quote that
# usually surrounds a value (Apache's mod_log_config escapes it the same way).
_VALUE_ESCAPES: Final = str.maketrans(
    {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {ord("\\"): "\\\\", ord('"'): '\\"'}
)
_FORMAT_TOKEN: Final = re.compile(r"%\(([^)]*)\)s|%%|%")
_HEADER_ATOM: Final = re.compile(r"\{([^{}]+)\}([ioe])\Z")


class _Entry(NamedTuple):
    """What one access-log line is made of."""

    environ: dict[str, Any]
    status: int
    size: int
    duration: float
    response_headers: Sequence[tuple[str, str]] | None
    when: float | None


_Atom = Callable[[_Entry], Any]


def _environ_atom(key: str) -> _Atom:
    return lambda entry: entry.environ.get(key)


def _basic_user(entry: _Entry) -> str | None:
    """The user name of ``Authorization: Basic`` (gunicorn's ``u``), or REMOTE_USER."""
    user = entry.environ.get("REMOTE_USER")
    if user:
        return str(user)
    scheme, _, credentials = str(entry.environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded.partition(":")[0]


_last_clf_date: tuple[int, str] = (-1, "")


def clf_date(when: float | None = None) -> str:
    """``[24/Nov/2025:04:05:06 +0100]``: the Common Log Format's date, local time (gunicorn's
    ``t``); month names in English whatever the locale. Formatted once per second."""
    global _last_clf_date
    if when is None:
        second = int(time.time())
        cached = _last_clf_date
        if cached[0] == second:
            return cached[1]
        text = clf_date(second)
        _last_clf_date = (second, text)
        return text
    t = time.localtime(when)
    offset = t.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return (f"[{t.tm_mday:02d}/{_MONTHS[t.tm_mon]}/{t.tm_year:04d}:{t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d} {sign}{hours:02d}{minutes:02d}]")


def _response_header(name: str) -> _Atom:
    def atom(entry: _Entry) -> str | None:
        values = [value for key, value in entry.response_headers or () if key.lower() == name]
        return ", ".join(values) if values else None
    return atom


def _request_header(name: str) -> _Atom:
    key = name.upper().replace("-", "_")
    return _environ_atom(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")


def _environ_variable(name: str) -> _Atom:
    # gunicorn looks these up in lower case; environ keys are mostly upper case.
    return lambda entry: entry.environ.get(name, entry.environ.get(name.upper()))


_ATOMS: Final[dict[str, _Atom]] = {
    "h": _environ_atom("REMOTE_ADDR"),
    "l": lambda entry: None,
    "u": _basic_user,
    "t": lambda entry: clf_date(entry.when),
    "r": lambda entry: request_line(entry.environ),
    "m": _environ_atom("REQUEST_METHOD"),
    "U": _environ_atom("PATH_INFO"),
    "q": _environ_atom("QUERY_STRING"),
    "H": _environ_atom("SERVER_PROTOCOL"),
    "s": lambda entry: entry.status,
    "B": lambda entry: entry.size,
    "b": lambda entry: entry.size or None,
    "f": _environ_atom("HTTP_REFERER"),
    "a": _environ_atom("HTTP_USER_AGENT"),
    "T": lambda entry: int(entry.duration),
    "M": lambda entry: int(entry.duration * 1_000),
    "D": lambda entry: int(entry.duration * 1_000_000),
    "L": lambda entry: f"{entry.duration:.6f}",
    "p": lambda entry: f"<{os.getpid()}>",
}


def _atom(name: str) -> tuple[_Atom, bool]:
    """The atom called ``name`` and whether it reads the response headers; ValueError if none is."""
    found = _ATOMS.get(name)
    if found is not None:
        return found, False
    match = _HEADER_ATOM.match(name)
    if match is None:
        raise ValueError(f"unknown atom %({name})s (known: "
                         f"{', '.join(ACCESS_ATOMS)})")
    header, kind = match.group(1).strip().lower(), match.group(2)
    if kind == "o":
        return _response_header(header), True
    if kind == "i":
        return _request_header(header), False
    return _environ_variable(match.group(1).strip()), False


def _text(value: Any) -> str:
    """An atom's value as it is written: ``-`` for none, escaped where it needs it."""
    if type(value) is int:
        return str(value)
    if value is None or value == "":
        return "-"
    text = value if type(value) is str else str(value)
    # Most values need no escape: checking is several times cheaper than translating.
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.translate(_VALUE_ESCAPES)


class AccessLog:
    """The command line's access log: one line per response, to the current ``sys.stderr``.

    ``format``: gunicorn's syntax, ``%(atom)s`` for each atom of :data:`ACCESS_ATOMS` and ``%%`` for
    a percent sign (default :data:`DEFAULT_ACCESS_FORMAT`); a missing value is ``-``, and control
    characters, backslashes and double quotes in a value are escaped. ``json``: one JSON object per
    line instead (see :meth:`json_record`). A bad format is a ``ValueError`` that says what is wrong.
    """

    def __init__(self, format: str | None = None, *, json: bool = False) -> None:
        self.format = DEFAULT_ACCESS_FORMAT if format is None else format
        self.json = json
        pieces: list[str | _Atom] = []
        response_headers = False
        position = 0
        for match in _FORMAT_TOKEN.finditer(self.format):
            if match.start() > position:
                pieces.append(self.format[position:match.start()])
            position = match.end()
            token = match.group(0)
            if token == "%%":
                pieces.append("%")
            elif token == "%":
                raise ValueError(f"a '%' at offset {match.start()} starts no atom: write %(h)s, "
                                 f"%({{user-agent}}i)s ..., or %% for a percent sign")
            else:
                atom, reads_headers = _atom(match.group(1))
                pieces.append(atom)
                response_headers = response_headers or reads_headers
        if position < len(self.format):
            pieces.append(self.format[position:])
        self._pieces = tuple(pieces)
        #: Whether a line needs the response's headers (the runner collects them only then).
        self.response_headers = response_headers and not json

    def line(self, environ: dict[str, Any], status: int, size: int, duration: float, *,
             response_headers: Sequence[tuple[str, str]] | None = None,
             when: float | None = None) -> str:
        """The line, newline included, for a response of ``status`` with ``size`` body bytes that
        took ``duration`` seconds (``when``: the time it ended; None: now)."""
        entry = _Entry(environ, status, size, duration, response_headers, when)
        if self.json:
            return json.dumps(self.json_record(entry)) + "\n"
        return "".join([piece if type(piece) is str else _text(piece(entry))  # type: ignore[operator]
                        for piece in self._pieces]) + "\n"

    @staticmethod
    def json_record(entry: _Entry) -> dict[str, Any]:
        """The keys of a JSON line: ``time`` (ISO 8601, local, milliseconds), ``client``,
        ``method``, ``target`` (as received, with the query), ``protocol``, ``status``, ``bytes``,
        ``duration`` (seconds), ``referer``, ``user_agent``; null for what the request lacks."""
        environ = entry.environ
        when = time.time() if entry.when is None else entry.when
        method, target, protocol = request_parts(environ)
        return {
            "time": datetime.datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds"),
            "client": environ.get("REMOTE_ADDR") or None,  # "" for a Unix-socket peer
            "method": method,
            "target": target,
            "protocol": protocol,
            "status": entry.status,
            "bytes": entry.size,
            "duration": round(entry.duration, 6),
            "referer": environ.get("HTTP_REFERER"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }

    def write(self, environ: dict[str, Any], status: int, size: int, duration: float,
              response_headers: Sequence[tuple[str, str]] | None = None) -> None:
        """Write the line to the current ``sys.stderr``."""
        write_stderr(self.line(environ, status, size, duration, response_headers=response_headers))


def capture_headers(app: WSGIApplication, into: list[tuple[str, str]]) -> WSGIApplication:
    """``app``, with the response headers it gives ``start_response`` copied ``into`` a list (for
    an access-log format that shows them). The app's iterable is returned as it is: the core
    still sees a file wrapper or a one-item list for what it is."""

    def captured(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            into[:] = headers
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return captured
