"""One HTTP/1.1 server connection: bytes in, events and WSGI application runs out, bytes back."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

import h11

from . import _abnf
from ._body import BodyFault, BodyReader, ChunkedReader, LengthReader
from ._config import Config
from ._date import DateLine
from ._environ import EnvironBuilder
from ._errors import LocalProtocolError, RemoteProtocolError, RequestBodyError
from ._events import (
    NEED_DATA,
    PAUSED,
    BodyReceived,
    ConnectionClosed,
    Event,
    RequestComplete,
    RequestReceived,
    Sentinel,
)
from ._filewrapper import FileWrapper
from ._head import HeadError, HeadScanner, RequestLine, check_semantics
from ._input import InputStream
from ._policy import HEAD_DEADLINE, IDLE_DEADLINE
from ._proxy import ForwardingError
from ._response import ExcInfo, ResponseWriter
from ._status import error_response

__all__ = ["Connection", "Problem", "ResponseInfo"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SendFile = Callable[[Any, int, int], int]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

#: The fewest bytes ``fetch(n)`` is asked for: a reader of a few bytes at a time must not cost
#: a system call each (io.BufferedReader's buffer is 8 KiB for the same reason).
MIN_FETCH = 8192
_NON_ASCII = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that went wrong while running the app, for the driver's error log."""

    message: str
    exc_info: ExcInfo | None = None

    def format(self) -> str:
        """The message, then the traceback when there is one."""
        if self.exc_info is None:
            return self.message + "\n"
        return self.message + "\n" + "".join(traceback.format_exception(*self.exc_info))


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


class _Phase:
    """Where the connection is. Plain strings, not an Enum: every event looks the phase up, and
    Enum member access is Python code on CPython 3.11+."""

    AWAIT_HEAD = "waiting for a request head"
    REQUEST = "a request is in progress"
    RESPONDED = "the response was written"
    CLOSED = "closed"


def _ignore_problem(problem: Problem) -> None:
    return None


class Connection:
    """The server side of one HTTP/1.1 connection (see docs/core-api.md).

    After :class:`RemoteProtocolError` is raised the connection is finished: every later
    ``next_event()`` returns ``ConnectionClosed``, and the rest of the input is never parsed.
    """

    def __init__(
        self, config: Config | None = None, *, peer: Any = None, sockname: Any = None
    ) -> None:
        self.config = config = config if config is not None else Config()
        self._buf = bytearray()
        # A received piece of a Content-Length body, kept as the bytes object it arrived as: handed
        # to wsgi.input without the two copies through _buf (in, then out). Only while _buf is empty.
        self._direct: bytes | None = None
        self._eof = False
        self._out = bytearray()
        self._phase = _Phase.AWAIT_HEAD
        self._scanner = HeadScanner(config)
        self._environ = EnvironBuilder(config, peer, sockname)
        self._date = DateLine(config.clock) if config.clock is not None else None
        self._server = (
            f"Server: {config.server_software}\r\n" if config.server_software is not None else None
        )
        self._closing = False
        self._error_ended = False
        self._requests = 0  # requests received on this connection
        self._new_request_state()

    def close_after_response(self) -> None:
        """Close the connection after the current (or next) response, which then carries
        ``Connection: close``. For graceful shutdown: in-flight requests finish, none follow."""
        self._closing = True
        self._request_keep_alive = False

    def time_out(self) -> bytes:
        """The driver's deadline passed while waiting for a request. Returns what to send before
        closing: a 408 when part of a request head had arrived (RFC 9110 §15.5.9), else ``b""``
        (an idle connection is just closed). The connection is closed afterwards."""
        partial = self._phase == _Phase.AWAIT_HEAD and bool(self._buf)
        self._phase = _Phase.CLOSED
        if not partial:
            return b""
        return self._error_response(408, "the request head did not arrive in time")

    @property
    def deadline(self) -> str:
        """Which deadline applies while waiting for a request: ``"idle"`` for a kept-alive
        connection between requests with nothing received (when it passes, close silently), else
        ``"head"`` (the whole head must arrive by then, counted from the accept for the first
        request, from its first byte for a later one; when it passes, send ``time_out()``)."""
        if (self._requests and not self._buf and self._direct is None
                and self._phase in (_Phase.AWAIT_HEAD, _Phase.RESPONDED)):
            return IDLE_DEADLINE
        return HEAD_DEADLINE

    def _new_request_state(self) -> None:
        self._body: BodyReader | None = None
        self._body_done = True
        self._complete_reported = False
        self._body_error: RequestBodyError | None = None
        self._continue_pending = False
        self._request_keep_alive = False
        self._peer_said_close = False  # the request carried "Connection: close"
        self._keep_after = False
        self._responding = False
        self._replay: list[bytes] = []  # body pieces a driver took as events, for wsgi.input
        self._drained = 0
        self._method = b""
        self._http11 = True

    # -- input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append received bytes; ``b""`` means the peer closed its side (EOF)."""
        if data:
            if self._eof:
                raise LocalProtocolError("receive_data() after EOF")
            # Bytes after an "Expect: 100-continue" head: the client did not wait, no 100 is owed.
            self._continue_pending = False
            if self._direct is None and not self._buf and not self._body_done and \
                    type(self._body) is LengthReader:
                self._direct = bytes(data)  # bytes(bytes) is the same object: no copy
                return
            if self._direct is not None:
                self._buf += self._direct  # keep the order
                self._direct = None
            self._buf += data
        else:
            self._eof = True

    def next_event(self) -> Event | Sentinel:
        phase = self._phase
        if phase == _Phase.AWAIT_HEAD:
            return self._next_head()
        if phase == _Phase.REQUEST:
            return self._next_body_event()
        if phase == _Phase.RESPONDED:
            return self._end_cycle()
        return ConnectionClosed()

    def data_to_send(self) -> bytes:
        """Drain the output buffer (a ``100 Continue``, for instance)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def send_failed(self) -> None:
        """The transport broke: the connection is closed, nothing more is parsed or sent."""
        self._phase = _Phase.CLOSED

    @property
    def http_version(self) -> str:
        return "HTTP/1.1" if self._http11 else "HTTP/1.0"

    @property
    def keep_alive(self) -> bool:
        """Whether the connection can stay open after the current response."""
        if self._phase == _Phase.RESPONDED:
            return self._keep_after
        return self._phase != _Phase.CLOSED and self._can_keep_alive()

    @property
    def peer_may_still_send(self) -> bool:
        """Whether closing now could reset the connection under the client's feet (RFC 9112 §9.6):
        a request body was not received to its end, bytes arrived that were never parsed, or the
        connection ended in an error. Then a driver should linger (stop sending, read and discard for
        a bounded time) before it closes; otherwise it can close at once."""
        if self._eof:
            return False
        if self._buf or self._direct or self._error_ended:
            return True
        return self._phase != _Phase.AWAIT_HEAD and not self._body_done

    @property
    def can_close_at_once(self) -> bool:
        """Whether the connection may be closed now without a lingering close: the client has closed
        its side (EOF), or its last request carried ``Connection: close`` (after which it MUST NOT
        send another, RFC 9112 §9.6) and everything it sent has been read. Then no input can arrive
        after the close, so there is nothing for a reset to destroy."""
        if self._eof:
            return True
        return self._peer_said_close and not self.peer_may_still_send

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received but not parsed yet, and whether EOF was received."""
        return bytes(self._buf) + (self._direct or b""), self._eof

    # -- request heads ----------------------------------------------------------------------

    def _fail(self, status: int | None, reason: str) -> RemoteProtocolError:
        self._phase = _Phase.CLOSED
        self._error_ended = True
        response = b"" if status is None else self._error_response(status, reason)
        return RemoteProtocolError(reason, status, response)

    def _error_response(self, status: int, reason: str, body: bytes | None = None) -> bytes:
        date = self._date() if self._date is not None else ""
        response = error_response(status, reason, date + (self._server or ""), body)
        if self._method == b"HEAD":
            # RFC 9110 §9.3.2: no content in a response to HEAD, error or not.
            response = response[: response.index(b"\r\n\r\n") + 4]
        return response

    def _next_head(self) -> Event | Sentinel:
        buf = self._buf
        scanner = self._scanner
        if scanner.pos == 0:
            scanner.skip_blank_lines(buf)
            if not buf:
                if self._eof:
                    self._phase = _Phase.CLOSED
                    return ConnectionClosed()
                return NEED_DATA
        try:
            end = scanner.scan(buf, self._eof)
            if end is None:
                return NEED_DATA
            head = bytes(buf[:end])
            request_line = scanner.request_line
            if request_line is None:  # scan() sets it before it returns an end
                raise HeadError(400, "no request line")
            self._method = request_line.method
            length = check_semantics(head, request_line, self.config)
        except HeadError as exc:
            raise self._fail(exc.status, exc.reason) from None
        del buf[:end]
        # When STRICT_HEAD vouched for every line, splitting them is all that is left to do; h11
        # would give this same list at ~3x the cost of the rest of the cycle.
        if not scanner.fast:
            self._h11_validate(head, request_line)
        # One splitter for both paths, so every value reaches the environ byte for byte as sent
        # (h11 would lower-case Transfer-Encoding's value, for one).
        return self._start_request(request_line, _abnf.FIELDS.findall(head), length)

    def _h11_validate(self, head: bytes, request_line: RequestLine) -> None:
        """Let h11 parse and validate a head the fast path did not vouch for."""
        scanner = self._scanner
        if scanner.at_eof:
            head += b"\r\n\r\n"
        target = request_line.target
        if self.config.allow_raw_non_ascii_target and _NON_ASCII.search(target) is not None:
            # Legacy: h11 takes only ASCII targets; it sees the %-encoded form, the environ the raw.
            quoted = _NON_ASCII.sub(lambda match: b"%%%02X" % match[0][0], target)
            start = len(request_line.method) + 1
            head = head[:start] + quoted + head[start + len(target) :]
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=len(head) + 1)
        parser.receive_data(head)
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError as exc:
            raise self._fail(exc.error_status_hint, f"invalid request head: {exc}") from None
        if type(event) is not h11.Request:  # a complete head always gives a Request
            raise self._fail(400, "invalid request head")

    def _start_request(
        self, request_line: RequestLine, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> RequestReceived:
        config = self.config
        self._scanner.reset()
        self._new_request_state()
        self._requests += 1
        http11 = request_line.minor >= 1
        self._http11 = http11
        self._method = request_line.method
        try:
            environ = self._environ.build(
                request_line.method, request_line.target, f"HTTP/1.{request_line.minor}", headers
            )
        except ForwardingError as exc:  # a trusted proxy's forwarding header is unusable
            raise self._fail(400, exc.reason) from None
        if length is None:
            self._body = ChunkedReader(config)
            self._body_done = False
        elif length:
            self._body = LengthReader(length)
            self._body_done = False
        # RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 never does here (h11's rule).
        connection = environ.get("HTTP_CONNECTION")
        # RFC 9110 §5.6.1: list elements are separated by OWS (SP, HTAB) only; str.strip() would also
        # take "\x85" and "\xa0" away and let "close\x85" count as "close".
        self._peer_said_close = connection is not None and "close" in (
            token.strip(" \t") for token in connection.lower().split(",")
        )
        self._request_keep_alive = (
            config.keep_alive and http11 and not self._closing and not self._peer_said_close
        )
        expect = environ.get("HTTP_EXPECT")
        if (expect is not None and http11 and not self._body_done
                and expect.lower() == "100-continue"):
            # RFC 9110 §10.1.1; an HTTP/1.0 request's Expect is ignored. (The value has no OWS left.)
            if config.expect_continue == "immediate":
                self._out += _CONTINUE
            elif not self._buf:
                # A body that has begun to arrive is being sent: no 100 is owed (the server MAY
                # omit it), so none is pending and keep-alive is not in doubt.
                self._continue_pending = True
        self._phase = _Phase.REQUEST
        return RequestReceived(environ)

    # -- request bodies ---------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """The next piece of body, b"" at its end, None when more input is needed."""
        body = self._body
        if self._body_done or body is None:
            return b""
        direct = self._direct
        if direct is not None and isinstance(body, LengthReader):
            self._direct = None
            if len(direct) > body.remaining:  # the rest belongs to the next request
                self._buf += direct[body.remaining :]
                direct = direct[: body.remaining]
            body.remaining -= len(direct)
            if body.remaining == 0:
                self._body_done = True
            return direct
        data = body.read(self._buf, self._eof)
        if body.done:
            self._body_done = True
        return data

    def _next_body_event(self) -> Event | Sentinel:
        try:
            data = self._read_body()
        except BodyFault as exc:
            raise self._fail(exc.status, exc.reason) from None
        if data is None:
            if self._continue_pending:
                # A driver asking for body events wants the body: RFC 9110 §10.1.1's cue to send 100.
                self._continue_pending = False
                self._out += _CONTINUE
            return NEED_DATA
        if data:
            # Kept so that input_stream() can still hand the whole body to the app.
            self._replay.append(data)
            return BodyReceived(data)
        if not self._complete_reported:
            self._complete_reported = True
            return RequestComplete()
        return PAUSED

    def input_stream(self, fetch: Callable[[int], bytes]) -> InputStream:
        """``wsgi.input`` for the current request (``run_app(..., fetch=...)`` makes it itself).

        ``fetch(n)`` returns received bytes, ``b""`` at EOF, told that ``n`` are wanted (the
        application's read size, at least :data:`MIN_FETCH`, never more than the rest of a
        ``Content-Length`` body). A driver that passes ``n`` to ``recv()`` gets pieces the size the
        app reads, which the stream hands over without joining or slicing them. Fewer bytes are
        normal. Called outside ``run_app``'s ``fetch``, it must send ``data_to_send()`` (a pending
        ``100 Continue``) before it blocks.
        """
        if self._phase != _Phase.REQUEST:
            raise LocalProtocolError("input_stream() needs a request in progress")
        if not callable(fetch):
            raise TypeError(f"input_stream() needs a callable fetch(n), not {fetch!r}")

        def pull(wanted: int) -> bytes:
            return self._pull_body(fetch, wanted)

        return InputStream(pull)

    def _pull_body(self, fetch: Callable[[int], bytes], wanted: int) -> bytes:
        if self._replay:
            return self._replay.pop(0)
        while True:
            if self._body_error is not None:
                raise self._body_error
            try:
                data = self._read_body()
            except BodyFault as exc:
                response = b"" if exc.status is None else self._error_response(exc.status, exc.reason)
                self._body_error = RequestBodyError(exc.reason, exc.status, response)
                continue
            if data is not None:
                return data
            if self._continue_pending:
                self._continue_pending = False
                self._out += _CONTINUE
            size = wanted if wanted > MIN_FETCH else MIN_FETCH
            body = self._body
            if type(body) is LengthReader and 0 < body.remaining < size:
                size = body.remaining  # the body's end: the next request's bytes are not asked for
            try:
                received = fetch(size)
            except Exception as exc:
                # The transport failed (reset, timeout): that is not the application's fault, so no
                # 500 and no traceback; a timed-out client still gets a 408, a reset one nothing.
                timed_out = isinstance(exc, TimeoutError)
                reason = f"reading the request body failed: {exc!r}"
                response = b""
                if timed_out:
                    response = self._error_response(408, "the request body did not arrive in time")
                self._body_error = RequestBodyError(reason, 408 if timed_out else None, response)
                raise self._body_error from exc
            self.receive_data(received)

    # -- responses --------------------------------------------------------------------------

    def _can_keep_alive(self) -> bool:
        if not self._request_keep_alive or self._body_error is not None or self._continue_pending:
            return False
        body = self._body
        # An unread body larger than we are willing to discard means closing after the response.
        return self._body_done or not (
            isinstance(body, LengthReader) and body.remaining > self.config.max_drain_bytes
        )

    def run_app(
        self,
        app: WSGIApp,
        environ: dict[str, Any],
        send: Callable[[bytes], None],
        *,
        fetch: Callable[[int], bytes] | None = None,
        errors: IO[str] | None = None,
        sendfile: SendFile | None = None,
        on_problem: Callable[[Problem], None] | None = None,
    ) -> ResponseInfo:
        """Run ``app(environ, start_response)`` and send its response through ``send``.

        With ``fetch`` (see :meth:`input_stream`) the core sets ``wsgi.input`` itself and sends a
        pending ``100 Continue`` through ``send`` before each fetch; with ``errors`` it sets
        ``wsgi.errors``. A driver that passes both writes no environ key.
        """
        if self._phase != _Phase.REQUEST or self._responding:
            raise LocalProtocolError("run_app() needs a request: call next_event() until "
                                     "RequestReceived, once per request")
        if fetch is not None:
            environ["wsgi.input"] = self.input_stream(self._flushing(fetch, send))
        if errors is not None:
            environ["wsgi.errors"] = errors
        self._responding = True
        if self._out:
            # A 100 Continue queued at head time ("immediate") must precede the final response.
            send(self.data_to_send())
        unreported: list[Problem] = []
        report = (on_problem if on_problem is not None
                  else _stream_reporter(environ.get("wsgi.errors"), unreported))
        writer = ResponseWriter(
            send,
            head_request=self._method == b"HEAD",
            http11=self._http11,
            keep_alive=self._can_keep_alive,
            date=self._date,
            server=self._server,
            report=lambda message: report(Problem(message)),
        )
        aborted = False
        try:
            result = app(environ, writer.start_response)
            try:
                self._write_body(result, writer, sendfile)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception as exc:
                        report(Problem("the response iterable's close() raised",
                                       (type(exc), exc, exc.__traceback__)))
        except Exception as exc:
            if writer.send_error is not None:
                self._phase = _Phase.CLOSED
                raise writer.send_error from None
            aborted = self._app_failed(exc, writer, report, send)
        except BaseException:
            self._phase = _Phase.CLOSED
            raise
        status = writer.status_code if writer.head_sent else 500
        if aborted or self._body_error is not None:
            self._keep_after = False
        else:
            self._keep_after = writer.keep_alive
        if self._body_error is not None and not writer.head_sent:
            status = self._body_error.status_code or 0
        self._phase = _Phase.RESPONDED
        return ResponseInfo(status, writer.body_bytes, self._keep_after, aborted, tuple(unreported))

    def _flushing(
        self, fetch: Callable[[int], bytes], send: Callable[[bytes], None]
    ) -> Callable[[int], bytes]:
        def fetch_after_flush(size: int) -> bytes:
            if self._out:
                # RFC 9110 §10.1.1: the client waits for our 100 Continue before it sends the body.
                send(self.data_to_send())
            return fetch(size)

        return fetch_after_flush

    def _write_body(
        self, result: Iterable[bytes], writer: ResponseWriter, sendfile: SendFile | None
    ) -> None:
        if type(result) is list or type(result) is tuple:
            if len(result) == 1 and not writer.head_sent:
                writer.write_all(result[0])  # PEP 3333: a one-item iterable gets a Content-Length
                writer.finish()
                return
        elif type(result) is FileWrapper and sendfile is not None and not writer.head_sent:
            if self._send_file(result, writer, sendfile):
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

    @staticmethod
    def _send_file(wrapper: FileWrapper, writer: ResponseWriter, sendfile: SendFile) -> bool:
        file = wrapper.filelike
        try:
            file.fileno()
            offset = file.tell()
            end = file.seek(0, 2)
            file.seek(offset)
        except (AttributeError, OSError, ValueError):
            return False  # not a real, seekable file: iterate it instead
        count = writer.head_for_sendfile(max(end - offset, 0))
        if count > 0:
            try:
                sent = sendfile(file, offset, count)
            except BaseException as exc:
                writer.send_error = exc
                raise
            writer.sent_by_sendfile(sent)
        return True

    def _app_failed(
        self,
        exc: Exception,
        writer: ResponseWriter,
        report: Callable[[Problem], None],
        send: Callable[[bytes], None],
    ) -> bool:
        """Report an application exception and answer it; True when the response was cut off."""
        body_error = self._body_error
        if body_error is not None:
            report(Problem(f"request body error: {body_error.reason}"))
        else:
            report(Problem("exception in the WSGI application", (type(exc), exc, exc.__traceback__)))
        if writer.head_sent:
            return True  # too late for an error status: close so the client sees the cut
        if body_error is not None:
            response = body_error.response
        else:
            response = self._error_response(500, "", self.config.server_error_body)
        if response:
            try:
                send(response)
            except BaseException:
                self._phase = _Phase.CLOSED
                raise
            writer.body_bytes = len(response) - response.index(b"\r\n\r\n") - 4
        writer.keep_alive = False
        return False

    def _end_cycle(self) -> Event | Sentinel:
        """After a response: discard the unread body (bounded), then parse the next request."""
        if not self._keep_after:
            self._phase = _Phase.CLOSED
            return ConnectionClosed()
        while not self._body_done:
            try:
                data = self._read_body()
            except BodyFault:
                self._phase = _Phase.CLOSED
                return ConnectionClosed()
            if data is None:
                return NEED_DATA
            self._drained += len(data)
            if self._drained > self.config.max_drain_bytes:
                self._phase = _Phase.CLOSED
                return ConnectionClosed()
        self._new_request_state()
        self._phase = _Phase.AWAIT_HEAD
        return self._next_head()


def _stream_reporter(stream: IO[str] | None, lost: list[Problem]) -> Callable[[Problem], None]:
    if stream is None:
        return _ignore_problem

    def report(problem: Problem) -> None:
        try:
            stream.write(problem.format())
            stream.flush()
        except Exception:
            # The core writes nowhere itself: the driver gets it back in ResponseInfo.unreported.
            lost.append(problem)

    return report
