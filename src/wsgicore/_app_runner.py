"""Running one WSGI application call: the iterable written through the response writer, a
``wsgi.file_wrapper`` handed to the driver's sendfile, and the iterable's ``close()`` called exactly
once (PEP 3333). What happens around the call (keep-alive, errors, phases) is the connection's."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._filewrapper import FileWrapper
from ._problems import Problem
from ._response import ResponseWriter

__all__ = ["ResponseInfo", "SendFile", "SendFileWithHead", "WSGIApp", "call_app"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: The driver's ``sendfile(file, offset, count) -> int``: send ``count`` bytes of ``file`` from
#: ``offset`` (the response head went through ``send`` before), return how many went.
SendFile = Callable[[Any, int, int], int]
#: ``sendfile_with_head(file, offset, count, head) -> int``: the same, ``head`` (the response head)
#: sent first, so that the driver can send both in the fewest system calls and packets; the return
#: value counts the file's bytes only.
SendFileWithHead = Callable[[Any, int, int, bytes], int]


@dataclass(frozen=True, slots=True)
class ResponseInfo:
    """What ``run_app`` sent: the status (0 when nothing could be sent, e.g. the client vanished
    mid-upload), the body bytes (without framing), whether the connection can stay open, and whether
    the response was cut off after its headers were sent."""

    status: int
    body_bytes: int
    keep_alive: bool
    aborted: bool = False
    #: Problems that could not be written to ``wsgi.errors`` (its ``write`` raised): the driver's
    #: to log elsewhere.
    unreported: tuple[Problem, ...] = ()


def call_app(  # noqa: PLR0917 - positional: a keyword argument costs more per call (CPython 3.11)
    app: WSGIApp,
    environ: dict[str, Any],
    writer: ResponseWriter,
    sendfile: Callable[..., int] | None,
    report: Callable[[Problem], None],
    sendfile_takes_head: bool,
) -> None:
    """Call the app and write its whole response; its exceptions propagate, after ``close()``.
    ``sendfile`` is a :data:`SendFile`, or a :data:`SendFileWithHead` when ``sendfile_takes_head``."""
    result = app(environ, writer.start_response)
    if type(result) is list or type(result) is tuple:  # exact types: no close() to call
        if len(result) == 1:
            # PEP 3333: a one-item iterable gets a Content-Length (unless write() sent the head).
            writer.write_whole(result[0])
        else:
            _write_body(result, writer, sendfile, sendfile_takes_head)
        return
    try:
        _write_body(result, writer, sendfile, sendfile_takes_head)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                report(Problem("the response iterable's close() raised",
                               (type(exc), exc, exc.__traceback__)))


def _write_body(result: Iterable[bytes], writer: ResponseWriter,
                sendfile: Callable[..., int] | None, takes_head: bool) -> None:
    if type(result) is list or type(result) is tuple:
        pass  # iterated below (call_app writes a one-item one whole)
    elif type(result) is FileWrapper and sendfile is not None and not writer.head_sent:
        if _send_file(result, writer, sendfile, takes_head):
            writer.finish()
            return
    elif result is None or isinstance(result, (bytes, str, int)):
        raise TypeError(f"the application returned {type(result).__name__}, "
                        f"not an iterable of bytes (PEP 3333)")
    write = writer.write
    for chunk in result:
        write(chunk)
        if writer.overflowed:
            break
    writer.finish()


def _send_file(wrapper: FileWrapper, writer: ResponseWriter, sendfile: Callable[..., int],
               takes_head: bool) -> bool:
    """PEP 3333 "Optional Platform-Specific File Handling": a real, seekable file goes to the
    driver's sendfile from its current position; anything else is iterated instead (False)."""
    file = wrapper.filelike
    try:
        file.fileno()
        offset = file.tell()
        # The file's size only when the app gave no Content-Length (two system calls): with one,
        # that many bytes are sent, and a file that ends early makes a short body either way.
        size = None
        if writer.declared_length is None:
            end = file.seek(0, 2)
            file.seek(offset)
            size = max(end - offset, 0)
    except (AttributeError, OSError, ValueError):
        return False
    head, count = writer.head_for_sendfile(size)
    if count <= 0:  # a HEAD request, a bodiless status or an empty file: the head alone
        writer.send_head(head)
        return True
    try:
        if takes_head:
            # The driver sends the head with the file: one packet and fewer system calls where a
            # separate send would push the small head out on its own (TCP_NODELAY).
            sent = sendfile(file, offset, count, head)
        else:
            writer.send_head(head)
            sent = sendfile(file, offset, count)
    except BaseException as exc:
        if writer.send_error is None:
            writer.send_error = exc
        raise
    writer.sent_by_sendfile(sent)
    return True
