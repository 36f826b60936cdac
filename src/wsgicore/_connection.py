"""One HTTP/1.1 server connection: bytes in, events and WSGI application runs out, bytes back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import IO, Any

from ._actions import BODY_DEADLINE, HEAD_DEADLINE, IDLE_DEADLINE, Close, Receive
from ._app_runner import ResponseInfo, SendFile, SendFileWithHead, WSGIApp, call_app
from ._body import BodyReader, ChunkedReader, LengthReader
from ._close_and_continue import asks_for_continue, said_close, said_keep_alive
from ._config import Config
from ._date import DateLine
from ._environ import EnvironBuilder
from ._errors import LocalProtocolError, Refusal, RemoteProtocolError, RequestBodyError
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
from ._head_parsers import request_fields, split_strict_head
from ._head_scanner import HeadScanner, RequestLine
from ._head_semantics import check_semantics
from ._input import MIN_FETCH, InputStream
from ._problems import Problem, stream_reporter
from ._receive import ReceiveBuffer
from ._response import ResponseWriter
from ._response_heads import ErrorResponses, serialize_head
from ._spool import spool_body
from ._state import (
    PHASE_MOVES,
    Body,
    BodyInput,
    CloseReason,
    ConnectionState,
    Continue,
    ContinueInput,
    Input,
    Phase,
)

__all__ = ["MIN_FETCH", "Connection", "Problem", "ResponseInfo"]

# The answers next_action() gives most, made once: a frozen dataclass is slow to make (its __init__
# goes through object.__setattr__ per field). By deadline kind: a new deadline, one still running.
_RECEIVE_STARTS = {kind: Receive(kind, True) for kind in (HEAD_DEADLINE, IDLE_DEADLINE, BODY_DEADLINE)}
_RECEIVE_RUNS = {kind: Receive(kind, False) for kind in (HEAD_DEADLINE, IDLE_DEADLINE, BODY_DEADLINE)}
_CLOSE_LINGERING = Close(b"", linger=True)
_CLOSE_AT_ONCE = _ENDED = Close(b"", linger=False)  # _ENDED: asked again once it has ended

_CONTINUE = serialize_head("100 Continue", "")
_PROTOCOLS = tuple(f"HTTP/1.{minor}" for minor in range(10))  # SERVER_PROTOCOL by minor version

# The (sub-)states and inputs used on every request, as module globals: on CPython 3.11 a global is a
# specialized lookup, a class attribute (``Body.UNREAD``) is not.
_AWAIT_HEAD, _REQUEST, _RESPONDING, _RESPONDED = (
    Phase.AWAIT_HEAD, Phase.REQUEST, Phase.RESPONDING, Phase.RESPONDED)
_HEAD, _RUN_APP, _RESPONSE = Input.HEAD, Input.RUN_APP, Input.RESPONSE
# The phase moves of every request, looked up inline (``ConnectionState.move`` without its call).
_AFTER_HEAD, _AFTER_RUN_APP, _AFTER_RESPONSE = (
    PHASE_MOVES[_HEAD], PHASE_MOVES[_RUN_APP], PHASE_MOVES[_RESPONSE])
_NO_BODY, _UNREAD, _FAILED = Body.NONE, Body.UNREAD, Body.FAILED
_OWED = Continue.OWED
_CR_LF = (13, 10)  # the bytes an empty line before a request line may start with (RFC 9112 §2.2)
_new_instance, _set_field = object.__new__, object.__setattr__  # see _start_request



# ResponseInfo is a frozen dataclass (immutable, so equal ones can be shared), and making one is
# slow (its __init__ goes through object.__setattr__ per field): the common outcomes of a server are
# few, so they are made once. Process-wide and safe so: keyed by plain ints and bools, bounded,
# emptied when full; a racing insert stores an equal object.
_INFOS: dict[tuple[int, int, bool, bool], ResponseInfo] = {}
_INFOS_MAX = 1024


def _response_info(status: int, body_bytes: int, keep_alive: bool, aborted: bool) -> ResponseInfo:
    key = (status, body_bytes, keep_alive, aborted)
    info = _INFOS.get(key)
    if info is None:
        if len(_INFOS) >= _INFOS_MAX:
            _INFOS.clear()
        info = _INFOS[key] = ResponseInfo(status, body_bytes, keep_alive, aborted)
    return info


def _no_body(wanted: int) -> bytes:
    return b""


_OUTSIDE_MOUNT_BODY = b"404 Not Found\nThis path is outside the application's URL prefix.\n"
_OUTSIDE_MOUNT_FIELDS = [("Content-Type", "text/plain; charset=utf-8"),
                         ("Content-Length", str(len(_OUTSIDE_MOUNT_BODY)))]


def _outside_the_mount(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """What answers a request whose path is outside ``Config.script_name``, instead of the
    application: the path is no URL of the application's (a 404, RFC 9110 §15.5.5), and an app
    given one would see a ``PATH_INFO`` that is not under its ``SCRIPT_NAME``."""
    start_response("404 Not Found", _OUTSIDE_MOUNT_FIELDS)
    return [_OUTSIDE_MOUNT_BODY]


# wsgi.input of every request without a body (or with all of it consumed): every read is the end,
# whatever happened before, so one stream serves every request in the process (it has no attribute
# to set and nothing to close; concurrent readers only ever store its empty state again).
_NO_BODY_INPUT = InputStream(_no_body)


class Connection:
    """The server side of one HTTP/1.1 connection (see docs/core-api.md).

    After :class:`RemoteProtocolError` is raised the connection is finished: every later
    ``next_event()`` returns ``ConnectionClosed``, and the rest of the input is never parsed.
    Its state is data (``_state``, a :class:`~wsgicore._state.ConnectionState`): the phase, the body
    and ``100 Continue`` sub-states and the keep-alive flag, each moved only through its table.
    """

    def __init__(
        self, config: Config | None = None, *, peer: Any = None, sockname: Any = None,
        environ: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config = config if config is not None else Config()
        self._rx = ReceiveBuffer()
        self._buf = self._rx.buf  # the same bytearray, for the head gate and the body readers
        self._out = bytearray()
        self._state = ConnectionState(config.keep_alive)
        self._scanner = HeadScanner(config)
        self._environ = EnvironBuilder(config, peer, sockname, environ)
        self._mounted = bool(config.script_name)  # requests outside the mount never reach the app
        # "driver" (a driver fills it in, serving_config) or None: no clock, so no Date. Its bound
        # __call__: calling that skips the instance call's method lookup on every response.
        self._date = DateLine(config.clock).__call__ if callable(config.clock) else None
        self._server = (
            f"Server: {config.server_software}\r\n" if config.server_software is not None else None
        )
        self._errors: ErrorResponses | None = None  # made for the first error response, if any
        self._requests = 0  # requests received on this connection
        self._deadline_running: str | None = None  # the deadline the driver was last told to start
        self._held: RequestReceived | None = None  # next_action(buffer_body=True): body not complete
        self._replay: list[bytes] = []
        self._new_request_state()

    def close_after_response(self) -> None:
        """Close the connection after the current (or next) response, which then carries
        ``Connection: close``. For graceful shutdown: in-flight requests finish, none follow."""
        self._state.disable_keep_alive(CloseReason.DRIVER)

    def time_out(self) -> bytes:
        """The driver's deadline passed while waiting for a request (or for a body it asked the core
        to buffer). Returns what to send before closing: a 408 when part of a request had arrived
        (RFC 9110 §15.5.9), else ``b""`` (an idle connection is just closed). The connection is
        closed afterwards (``next_action()`` then says so: ``Close`` with nothing to send)."""
        state = self._state
        reason = None
        if state.phase == _AWAIT_HEAD and self._buf:
            reason = "the request head did not arrive in time"
        elif state.phase == _REQUEST and state.body is _UNREAD:
            reason = "the request body did not arrive in time"
        state.move(Input.CLOSE)
        return b"" if reason is None else self._error_response(408, reason)

    @property
    def deadline(self) -> str:
        """Which deadline applies while waiting for a request: ``"idle"`` for a kept-alive
        connection between requests with nothing received (when it passes, close silently), else
        ``"head"`` (the whole head must arrive by then, counted from the accept for the first
        request, from its first byte for a later one; when it passes, send ``time_out()``).
        ``next_action()`` gives the same in its :class:`Receive`, with when the deadline starts."""
        kind = self._wait_kind()
        return HEAD_DEADLINE if kind is BODY_DEADLINE else kind

    def _wait_kind(self) -> str:
        """The deadline of a wait now: the rule (the ``deadline`` property reads it; ``next_action``
        has it inline, and tests/core check that both give the same)."""
        phase = self._state.phase
        if phase is _REQUEST:
            return BODY_DEADLINE  # a body the core buffers for the driver
        if (self._requests and not self._buf and self._rx.direct is None
                and (phase is _AWAIT_HEAD or phase is _RESPONDED)):
            return IDLE_DEADLINE  # a kept-alive connection, nothing of the next request received
        return HEAD_DEADLINE

    # -- the driver's loop ------------------------------------------------------------------

    def next_action(self, *, buffer_body: bool = False) -> RequestReceived | Receive | Close:
        """What the driver does next (see :mod:`wsgicore._actions` and docs/core-api.md):

        - ``RequestReceived``: run its application with :meth:`run_app`, then ask again. With
          ``buffer_body`` the whole body has arrived first (bounded by ``max_body_bytes``, which a
          driver buffering bodies should set) and ``run_app`` hands it to the application, for a
          driver that cannot block in ``wsgi.input`` reads.
        - :class:`Receive`: send ``action.send``, receive bytes within the deadline it names and
          feed them (``b""`` at EOF), then ask again. When the deadline passes: ``time_out()``.
        - :class:`Close`: send ``action.send`` and close, lingering when ``action.linger``. Asked
          again afterwards (or after ``time_out()``, ``send_failed()``), it is ``Close`` with
          nothing to send.

        The body of a request whose application did not read it is drained here, the head deadline
        is started here (``Receive.starts``), a protocol error becomes its ``Close``; asking again
        before ``run_app`` ran for the last ``RequestReceived`` is a :class:`LocalProtocolError`.
        """
        phase = self._state.phase
        try:
            if phase is _RESPONDED:
                event = self._end_cycle()
            elif phase is _AWAIT_HEAD:
                event = self._next_head()
            elif phase is _REQUEST and self._held is not None:
                event = self._buffer_body()
            elif phase is _REQUEST or phase is _RESPONDING:
                raise LocalProtocolError("next_action() before run_app() returned for the request "
                                         "it gave: run the application first")
            else:
                return _ENDED
        except RemoteProtocolError as exc:
            return Close(self.data_to_send() + exc.response, not self.can_close_at_once, exc)
        if event is NEED_DATA:
            # A wait: which deadline (the rule: _wait_kind's, inline: once per request), and whether
            # it starts now. A head (or idle) deadline spans every receive until the wait ends; a
            # body's starts at each one.
            phase = self._state.phase
            if phase is _REQUEST:
                kind = BODY_DEADLINE
            elif (self._requests and not self._buf and self._rx.direct is None
                  and (phase is _AWAIT_HEAD or phase is _RESPONDED)):
                kind = IDLE_DEADLINE
            else:
                kind = HEAD_DEADLINE
            if kind is self._deadline_running and kind is not BODY_DEADLINE:
                receive = _RECEIVE_RUNS[kind]
            else:
                self._deadline_running = kind
                receive = _RECEIVE_STARTS[kind]
            if self._out:  # a 100 Continue to send first
                return Receive(kind, receive.starts, self.data_to_send())
            return receive
        if type(event) is RequestReceived:
            if buffer_body and self._state.body is _UNREAD:
                self._held = event
                return self.next_action()
            self._deadline_running = None
            return event
        # ConnectionClosed: no further request (no keep-alive, EOF, an undrainable body).
        linger = not self.can_close_at_once
        if self._out:
            return Close(self.data_to_send(), linger)
        return _CLOSE_LINGERING if linger else _CLOSE_AT_ONCE

    def _buffer_body(self) -> RequestReceived | Sentinel:
        """Read the held request's body into the pieces run_app's wsgi.input replays."""
        while True:
            try:
                data = self._read_body()
            except Refusal as exc:
                raise self._fail(exc.status, exc.reason) from None
            if data is None:
                # The driver wants the body: RFC 9110 §10.1.1's cue to send the 100 Continue.
                self._send_continue_if_owed()
                return NEED_DATA
            if not data:
                held, self._held = self._held, None
                if held is None:  # not reached: only called with a held request
                    raise LocalProtocolError("no request is waiting for its body")
                return held
            self._replay.append(data)

    def _new_request_state(self) -> None:
        """The data of one request (its states are ``_state``'s, reset with the next cycle).
        ``_end_cycle`` has it inline: keep the two the same."""
        self._body: BodyReader | None = None
        self._body_error: RequestBodyError | None = None  # set when the body moves to FAILED
        self._peer_said_close = False  # the request carried "Connection: close"
        if self._replay:  # body pieces a driver took as events, for wsgi.input (none usually)
            self._replay = []
        self._drained = 0
        self._method = b""
        self._http11 = True

    # -- input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append received bytes; ``b""`` means the peer closed its side (EOF)."""
        state = self._state
        if data:
            if state.expect is _OWED:
                # Bytes after an "Expect: 100-continue" head: the client did not wait, no 100 is owed.
                state.move_expect(ContinueInput.DATA)
            rx = self._rx
            if state.body is not _UNREAD and rx.direct is None and not rx.eof:
                self._buf += data  # what feed() does with them then (a head's bytes): no call
                return
        self._rx.feed(data, direct_ok=state.body is _UNREAD and type(self._body) is LengthReader)

    def next_event(self) -> Event | Sentinel:
        phase = self._state.phase
        if phase == _AWAIT_HEAD:
            return self._next_head()
        if phase == _REQUEST:
            return self._next_body_event()
        if phase == _RESPONDED:
            return self._end_cycle()
        if phase == _RESPONDING:
            raise LocalProtocolError("next_event() while the application runs: its run_app() "
                                     "has not returned")
        return ConnectionClosed()

    def data_to_send(self) -> bytes:
        """Drain the output buffer (a ``100 Continue``, for instance)."""
        if not self._out:
            return b""  # the usual case, asked after every response: no new object
        out = bytes(self._out)
        self._out.clear()
        return out

    def send_failed(self) -> None:
        """The transport broke: the connection is closed, nothing more is parsed or sent."""
        self._state.move(Input.CLOSE)

    @property
    def http_version(self) -> str:
        return "HTTP/1.1" if self._http11 else "HTTP/1.0"

    @property
    def keep_alive(self) -> bool:
        """Whether the connection can stay open after the current response (before a request has
        come: ``False``)."""
        phase = self._state.phase
        if phase == _RESPONDED:
            return self._state.keep_alive
        return phase in (_REQUEST, _RESPONDING) and self._keep_alive_reason() is None

    @property
    def peer_may_still_send(self) -> bool:
        """Whether closing now could reset the connection under the client's feet (RFC 9112 §9.6):
        a request body was not received to its end, bytes arrived that were never parsed, or the
        connection ended in an error. Then a driver should linger (stop sending, read and discard for
        a bounded time) before it closes; otherwise it can close at once."""
        if self._rx.eof:
            return False
        state = self._state
        if self._rx.has_data or state.phase == Phase.ERROR:
            return True
        return state.body is _UNREAD or state.body is _FAILED

    @property
    def can_close_at_once(self) -> bool:
        """Whether the connection may be closed now without a lingering close: the client has closed
        its side (EOF), or its last request carried ``Connection: close`` (after which it MUST NOT
        send another, RFC 9112 §9.6) and everything it sent has been read. Then no input can arrive
        after the close, so there is nothing for a reset to destroy."""
        if self._rx.eof:
            return True
        return self._peer_said_close and not self.peer_may_still_send

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received but not parsed yet, and whether EOF was received."""
        return self._rx.snapshot(), self._rx.eof

    # -- request heads ----------------------------------------------------------------------

    def _fail(self, status: int | None, reason: str) -> RemoteProtocolError:
        """The one translation of an internal :class:`Refusal` into the public error."""
        self._held = None
        self._state.move(Input.FAIL)
        response = b"" if status is None else self._error_response(status, reason)
        return RemoteProtocolError(reason, status, response)

    def _error_response(self, status: int, reason: str, body: bytes | None = None) -> bytes:
        errors = self._errors
        if errors is None:
            errors = self._errors = ErrorResponses(self._date, self._server)
        return errors.make(status, reason, head_request=self._method == b"HEAD", body=body)

    def _next_head(self) -> Event | Sentinel:
        buf = self._buf
        scanner = self._scanner
        if scanner.pos == 0:
            if buf and buf[0] in _CR_LF:  # most heads start with their method: no call then
                scanner.skip_blank_lines(buf)
            if not buf:
                if self._rx.eof:
                    self._state.move(Input.CLOSE)
                    return ConnectionClosed()
                return NEED_DATA
        try:
            end = scanner.scan(buf, self._rx.eof)
            if end is None:
                return NEED_DATA
            # Usually the buffer holds just this head: one copy then, not a slice and its copy.
            head = bytes(buf) if end == len(buf) else bytes(buf[:end])
            request_line = scanner.request_line
            if request_line is None:  # scan() sets it before it returns an end
                raise Refusal(400, "no request line")
            self._method = request_line.method
            length = check_semantics(head, request_line, self.config)
            if scanner.fast:  # request_fields' own first choice, without its call
                fields = split_strict_head(head)
            else:
                fields = request_fields(head, scanner, request_line,
                                        self.config.allow_raw_non_ascii_target)
        except Refusal as exc:
            raise self._fail(exc.status, exc.reason) from None
        del buf[:end]
        return self._start_request(request_line, fields, length)

    def _start_request(
        self, request_line: RequestLine, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> RequestReceived:
        config = self.config
        state = self._state
        scanner = self._scanner
        if not scanner.fast:  # a head found in one piece left the scanner ready for the next
            scanner.reset()
        # The per-request data and sub-states are already fresh: they are reset whenever the
        # connection enters AWAIT_HEAD (in __init__ and in _end_cycle), and only a head leaves it.
        self._requests += 1
        http11 = request_line.minor >= 1
        self._http11 = http11  # (_method is set: _next_head, the one caller, set it for its errors)
        try:
            environ = self._environ.build(
                request_line.method, request_line.target, _PROTOCOLS[request_line.minor], headers
            )
        except Refusal as exc:  # a trusted proxy's forwarding header is unusable
            raise self._fail(exc.status, exc.reason) from None
        if length is None:
            self._body = ChunkedReader(config)
            state.move_body(BodyInput.STARTS)
        elif length:
            self._body = LengthReader(length)
            state.move_body(BodyInput.STARTS)
        # RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive" (and
        # only while the response's length is known: ResponseWriter closes a read-to-close body).
        # h11 never keeps 1.0 alive, but it only parses heads here, one h11.Connection each: the
        # decision is ours. Most requests carry no Connection field: no call for them.
        if "HTTP_CONNECTION" in environ and said_close(environ):
            self._peer_said_close = True
            state.disable_keep_alive(CloseReason.PEER_CLOSE)
        if not http11 and not said_keep_alive(environ):
            state.disable_keep_alive(CloseReason.HTTP10)
        if state.body is _UNREAD and asks_for_continue(environ, http11):
            if config.expect_continue == "immediate":
                self._out += _CONTINUE
                state.move_expect(ContinueInput.SEND)
            elif not self._buf:
                # A body that has begun to arrive is being sent: no 100 is owed (the server MAY
                # omit it), so none is pending and keep-alive is not in doubt.
                state.move_expect(ContinueInput.ASKED)
        following = _AFTER_HEAD.get(state.phase)  # state.move(_HEAD) inline
        if following is None:
            raise state.refusal(_HEAD)
        state.phase = following
        # RequestReceived(environ), made as its dataclass __init__ makes it (object.__setattr__ on
        # the frozen instance) without that __init__'s Python frame: once per request.
        event = _new_instance(RequestReceived)
        _set_field(event, "environ", environ)
        return event

    # -- request bodies ---------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """The next piece of body, b"" at its end, None when more input is needed."""
        body = self._body
        state = self._state
        if state.body is not _UNREAD or body is None:
            return b""
        rx = self._rx
        if rx.direct is not None and type(body) is LengthReader:
            direct = rx.take_direct(body.remaining)  # the rest belongs to the next request
            if direct is not None:
                body.remaining -= len(direct)
                if body.remaining == 0:
                    state.move_body(BodyInput.ENDS)
                return direct
        data = body.read(self._buf, rx.eof)
        if body.done:
            state.move_body(BodyInput.ENDS)
        return data

    def _next_body_event(self) -> Event | Sentinel:
        try:
            data = self._read_body()
        except Refusal as exc:
            raise self._fail(exc.status, exc.reason) from None
        if data is None:
            # A driver asking for body events wants the body: RFC 9110 §10.1.1's cue to send 100.
            self._send_continue_if_owed()
            return NEED_DATA
        if data:
            # Kept so that input_stream() can still hand the whole body to the app.
            self._replay.append(data)
            return BodyReceived(data)
        if self._state.body is _NO_BODY:
            self._state.move_body(BodyInput.REPORT)
            return RequestComplete()
        return PAUSED

    def _send_continue_if_owed(self) -> None:
        state = self._state
        if state.expect is _OWED:
            state.move_expect(ContinueInput.SEND)
            self._out += _CONTINUE

    def input_stream(self, fetch: Callable[[int], bytes]) -> InputStream:
        """``wsgi.input`` for the current request (``run_app(..., fetch=...)`` makes it itself).

        ``fetch(n)`` returns received bytes, ``b""`` at EOF, told that ``n`` are wanted (the
        application's read size, at least :data:`MIN_FETCH` unless what a large read lacks, never
        more than the rest of a ``Content-Length`` body). A driver that passes ``n`` to ``recv()``
        gets pieces the size the app reads, which the stream hands over without joining or slicing
        them. Fewer bytes are
        normal. Called outside ``run_app``'s ``fetch``, it must send ``data_to_send()`` (a pending
        ``100 Continue``) before it blocks.
        """
        if self._state.phase not in (_REQUEST, _RESPONDING):
            raise LocalProtocolError("input_stream() needs a request in progress")
        if not callable(fetch):
            raise TypeError(f"input_stream() needs a callable fetch(n), not {fetch!r}")

        # A partial, not a closure: no Python frame of its own per piece of body.
        return InputStream(partial(self._pull_body, fetch))

    def _pull_body(self, fetch: Callable[[int], bytes], wanted: int) -> bytes:
        if self._replay:
            return self._replay.pop(0)
        while True:
            if self._body_error is not None:
                raise self._body_error
            body = self._body
            length = body if type(body) is LengthReader else None  # a Content-Length body's reader
            if not (length is not None and not self._buf and self._rx.direct is None
                    and not self._rx.eof and self._state.body is _UNREAD and length.remaining):
                # Bytes are buffered, or the body is chunked or has ended: the reader decides.
                # (Otherwise it would return None: more input needed, without its call.)
                try:
                    data = self._read_body()
                except Refusal as exc:
                    response = (b"" if exc.status is None
                                else self._error_response(exc.status, exc.reason))
                    self._body_failed(RequestBodyError(exc.reason, exc.status, response))
                    continue
                if data is not None:
                    return data
            self._send_continue_if_owed()
            size = wanted  # the stream's choice (MIN_FETCH or more, or what a read lacks)
            if length is not None and 0 < length.remaining < size:
                size = length.remaining  # the body's end: the next request's bytes are not asked for
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
                error = RequestBodyError(reason, 408 if timed_out else None, response)
                self._body_failed(error)
                raise error from exc
            if (length is not None and received and len(received) <= length.remaining
                    and not self._buf and self._rx.direct is None):
                # Body bytes with nothing buffered before them (a 100 Continue, if one was owed,
                # is pending now, so no longer owed): what receive_data() and _read_body() would
                # do with them, the piece handed over as it came, without their calls (once per
                # piece of a large body).
                remaining = length.remaining = length.remaining - len(received)
                if remaining == 0:
                    self._state.move_body(BodyInput.ENDS)
                return received
            self.receive_data(received)

    def _body_failed(self, error: RequestBodyError) -> None:
        self._body_error = error
        self._state.move_body(BodyInput.FAILS)

    # -- responses --------------------------------------------------------------------------

    def _keep_alive_reason(self) -> str | None:
        """Why the connection could not persist after a response sent now (``None``: it could);
        nothing is switched off here."""
        state = self._state
        if not state.keep_alive:
            return state.close_reason
        body = state.body
        if body is _UNREAD:
            reader = self._body
            # An unread body larger than we are willing to discard means closing after the response.
            if isinstance(reader, LengthReader) and reader.remaining > self.config.max_drain_bytes:
                return CloseReason.UNREAD_BODY
        elif body is _FAILED:
            return CloseReason.BODY_FAILED
        if state.expect is _OWED:
            return CloseReason.CONTINUE_OWED
        return None

    def _keep_alive_at_head(self) -> bool:
        """The response head is being written: whether it may say the connection persists. What the
        request's state rules out is switched off now, for good (the head will say so)."""
        state = self._state
        if state.keep_alive and (state.body is not _NO_BODY or state.expect is _OWED):
            reason = self._keep_alive_reason()
            if reason is not None:
                state.disable_keep_alive(reason)
        return state.keep_alive

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
        sendfile_with_head: SendFileWithHead | None = None,
    ) -> ResponseInfo:
        """Run ``app(environ, start_response)`` and send its response through ``send``.

        With ``fetch`` (see :meth:`input_stream`) the core sets ``wsgi.input`` itself and sends a
        pending ``100 Continue`` through ``send`` before each fetch; with ``errors`` it sets
        ``wsgi.errors``. A driver that passes both writes no environ key. Without ``fetch``, a
        request whose whole body the core holds (``next_action(buffer_body=True)``, or none was
        sent) gets its ``wsgi.input`` too, unless the driver set one.

        ``sendfile(file, offset, count) -> int`` sends a ``wsgi.file_wrapper`` file that has a
        ``fileno()`` (its return value: the bytes sent), after the head went through ``send``.
        ``sendfile_with_head(file, offset, count, head) -> int`` (used instead when given) gets the
        head too, to send it first, with the file: it does not go through ``send`` then.
        """
        state = self._state
        if state.phase is not _REQUEST or self._held is not None:
            raise LocalProtocolError("run_app() needs a request: call next_action() until "
                                     "RequestReceived, once per request")
        body_done = state.body is not _UNREAD
        if fetch is None and body_done and "wsgi.input" not in environ:
            fetch = _no_body  # never called: the whole body is here
        if fetch is not None:
            if body_done and not self._replay:
                # No body, or all of it consumed: every read is the end (what _pull_body would
                # return), with no stream and no closure over this connection per request. Nothing
                # is ever fetched then, and no 100 Continue can be owed.
                environ["wsgi.input"] = _NO_BODY_INPUT
            else:
                environ["wsgi.input"] = self.input_stream(
                    fetch if body_done else self._flushing(fetch, send))
        if errors is not None:
            environ["wsgi.errors"] = errors
        following = _AFTER_RUN_APP.get(state.phase)  # state.move(_RUN_APP) inline
        if following is None:
            raise state.refusal(_RUN_APP)
        state.phase = following
        spool: IO[bytes] | None = None
        if self._mounted and self._environ.outside_mount:
            # Answered here, once for every driver, as any response: keep-alive and the drain of
            # an unread body follow the usual rules.
            app = _outside_the_mount
        elif self.config.buffer_chunked_body and type(self._body) is ChunkedReader:
            try:
                spool = spool_body(environ, self.config.body_spool)
            except RequestBodyError as exc:
                return self._refuse_body(exc, send)
        # The application's run, here and not in a method of its own: a call fewer per request.
        try:
            if self._out:
                # A 100 Continue queued at head time ("immediate") must precede the final response.
                send(self.data_to_send())
            unreported: list[Problem] | None = None
            if on_problem is not None:
                report = on_problem
            else:
                unreported = []
                report = stream_reporter(environ.get("wsgi.errors"), unreported)
            # Without a body left to read or a 100 Continue owed, nothing the application does can
            # rule keep-alive out: the writer then reads the state's flag instead of asking (a call
            # fewer).
            ask_keep_alive = (None if state.body is _NO_BODY and state.expect is not _OWED
                              else self._keep_alive_at_head)
            # Positional: keyword arguments to a class cost a dict per call on CPython 3.11.
            writer = ResponseWriter(
                send, self._method == b"HEAD", self._http11, ask_keep_alive, state, self._date,
                self._server, report,
            )
            aborted = False
            try:
                # A keyword of its own rather than a flag beside sendfile: one argument fewer
                # per call for a driver that passes it (CPython 3.11).
                if sendfile_with_head is not None:
                    call_app(app, environ, writer, sendfile_with_head, report, True)
                else:
                    call_app(app, environ, writer, sendfile, report, False)
            except Exception as exc:
                if writer.send_error is not None:
                    state.move(Input.CLOSE)
                    raise writer.send_error from None
                aborted, status = self._app_failed(exc, writer, report, send)
            except BaseException:
                state.move(Input.CLOSE)
                raise
            else:
                status = writer.status_code  # the application's whole response went out
            if state.body is _FAILED:
                # A body read failed after the head went out (or the app caught the error).
                state.disable_keep_alive(CloseReason.BODY_FAILED)
            following = _AFTER_RESPONSE.get(state.phase)  # state.move(_RESPONSE) inline
            if following is None:
                raise state.refusal(_RESPONSE)
            state.phase = following
            keep_alive = state.keep_alive
            body_bytes = writer.body_bytes
            if unreported:
                return ResponseInfo(status, body_bytes, keep_alive, aborted, tuple(unreported))
            info = _INFOS.get((status, body_bytes, keep_alive, aborted))  # _response_info's hit
            return info if info is not None else _response_info(status, body_bytes, keep_alive,
                                                                aborted)
        finally:
            if spool is not None:
                spool.close()

    def _refuse_body(self, exc: RequestBodyError, send: Callable[[bytes], None]) -> ResponseInfo:
        """A body read before the application runs failed: answer it (or close) instead of the app."""
        if self._out:
            send(self.data_to_send())
        if exc.response:
            try:
                send(exc.response)
            except BaseException:
                self._state.move(Input.CLOSE)
                raise
        self._state.disable_keep_alive(CloseReason.BODY_FAILED)
        self._state.move(_RESPONSE)
        body_bytes = len(exc.response) - exc.response.index(b"\r\n\r\n") - 4 if exc.response else 0
        return ResponseInfo(exc.status_code or 0, body_bytes, False)

    def _flushing(
        self, fetch: Callable[[int], bytes], send: Callable[[bytes], None]
    ) -> Callable[[int], bytes]:
        def fetch_after_flush(size: int) -> bytes:
            if self._out:
                # RFC 9110 §10.1.1: the client waits for our 100 Continue before it sends the body.
                send(self.data_to_send())
            return fetch(size)

        return fetch_after_flush

    def _app_failed(
        self,
        exc: Exception,
        writer: ResponseWriter,
        report: Callable[[Problem], None],
        send: Callable[[bytes], None],
    ) -> tuple[bool, int]:
        """Report an application exception and answer it. Returns whether the response was cut off
        after its head, and the status sent (0: none)."""
        body_error = self._body_error
        if body_error is not None:
            report(Problem(f"request body error: {body_error.reason}"))
        else:
            report(Problem("exception in the WSGI application", (type(exc), exc, exc.__traceback__)))
        state = self._state
        if writer.head_sent:
            # Too late for an error status: close so the client sees the cut.
            state.disable_keep_alive(CloseReason.APP_FAILED)
            return True, writer.status_code
        if body_error is not None:
            response = body_error.response
            status = body_error.status_code or 0
        else:
            response = self._error_response(500, "", self.config.server_error_body)
            status = 500
        state.disable_keep_alive(CloseReason.BODY_FAILED if body_error is not None
                                 else CloseReason.APP_FAILED)
        if response:
            try:
                send(response)
            except BaseException:
                state.move(Input.CLOSE)
                raise
            writer.body_bytes = len(response) - response.index(b"\r\n\r\n") - 4
        return False, status

    def _end_cycle(self) -> Event | Sentinel:
        """After a response: discard the unread body (bounded), then parse the next request."""
        state = self._state
        if not state.keep_alive:
            state.move(Input.CLOSE)
            return ConnectionClosed()
        while state.body is _UNREAD:
            try:
                data = self._read_body()
            except Refusal:
                state.move(Input.CLOSE)
                return ConnectionClosed()
            if data is None:
                return NEED_DATA
            self._drained += len(data)
            if self._drained > self.config.max_drain_bytes:
                state.move(Input.CLOSE)
                return ConnectionClosed()
        # _new_request_state inline (once per request)
        self._body = None
        self._body_error = None
        self._peer_said_close = False
        if self._replay:
            self._replay = []
        self._drained = 0
        self._method = b""
        self._http11 = True
        state.start_next_cycle()
        return self._next_head()
