"""The response side of one request: PEP 3333's start_response/write/iterable, serialized by hand.

The order of calls is a table (``_NEXT``): the writer's state changes only through it (``_move``), and
a pair missing from it is an application error whose message comes from ``_MISUSE``. Whether the
head was sent is read from that state. Keep-alive is the connection's (``_state.ConnectionState``):
the writer asks it at head time and switches it off when the framing requires a close.
Serialization is plain string building, far cheaper than h11's writer, and the validation it would
do is done here, with real exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from . import _abnf
from ._errors import ApplicationError
from ._problems import ExcInfo, Problem
from ._state import CloseReason, ConnectionState

__all__ = ["ExcInfo", "ResponseWriter", "StartResponse", "WriteCallable"]

WriteCallable = Callable[[bytes], None]
StartResponse = Callable[..., WriteCallable]


class _ResponseState:
    """Where one response stands. Plain strings, not an Enum: Enum.__hash__ is Python code, and the
    table below is looked up several times per request."""

    NO_STATUS = "no status yet"
    STATUS_SET = "status set, headers not sent"
    HEADERS_SENT = "headers sent"
    FINISHED = "finished"


class _ResponseStep:
    """What the application (or the core, for it) does next to the response."""

    START = "start_response()"
    START_EXC = "start_response(exc_info)"
    START_FAILED = "start_response() raised"  # its status or headers were refused
    BODY = "body data"
    FINISH = "end of the body"
    WHOLE = "the whole body in one piece"  # a one-item iterable: body and end at once


_S, _A = _ResponseState, _ResponseStep
_NEXT: dict[tuple[str, str], str] = {
    (_S.NO_STATUS, _A.START): _S.STATUS_SET,
    (_S.NO_STATUS, _A.START_EXC): _S.STATUS_SET,
    (_S.STATUS_SET, _A.START_EXC): _S.STATUS_SET,
    (_S.STATUS_SET, _A.START_FAILED): _S.NO_STATUS,  # no status: a body must not go out under none
    (_S.STATUS_SET, _A.BODY): _S.HEADERS_SENT,
    (_S.STATUS_SET, _A.FINISH): _S.FINISHED,
    (_S.STATUS_SET, _A.WHOLE): _S.FINISHED,
    (_S.HEADERS_SENT, _A.BODY): _S.HEADERS_SENT,
    (_S.HEADERS_SENT, _A.FINISH): _S.FINISHED,
}
_MISUSE: dict[tuple[str, str], str] = {
    (_S.STATUS_SET, _A.START): "start_response() called a second time without exc_info (PEP 3333)",
    (_S.HEADERS_SENT, _A.START): "start_response() called after the headers were sent, without exc_info",
    (_S.NO_STATUS, _A.BODY): "body data (write() or the iterable) before start_response() was called",
    (_S.NO_STATUS, _A.WHOLE): "body data (write() or the iterable) before start_response() was called",
    (_S.FINISHED, _A.WHOLE): "body data after the response was finished",
    (_S.NO_STATUS, _A.FINISH): "the application returned without calling start_response()",
}
# The table's moves for the steps of every response, keyed by the state alone (the same pairs): the
# lookup makes no key tuple. Globals (the states and steps used per response or chunk too): a class
# attribute lookup is slower (CPython 3.11).
_AFTER_START = {state: to for (state, step), to in _NEXT.items() if step == _A.START}
_AFTER_WHOLE = {state: to for (state, step), to in _NEXT.items() if step == _A.WHOLE}
_START, _WHOLE, _BODY, _FINISH = _A.START, _A.WHOLE, _A.BODY, _A.FINISH
_NO_STATUS, _STATUS_SET, _SENDING_BODY = _S.NO_STATUS, _S.STATUS_SET, _S.HEADERS_SENT
#: The states in which the response head has gone to ``send`` (``ResponseWriter.head_sent``).
_HEAD_SENT = frozenset({_S.HEADERS_SENT, _S.FINISHED})

_STATUS = _abnf.STATUS_TEXT
_TOKEN = _abnf.TOKEN_TEXT
_BAD_VALUE = _abnf.FORBIDDEN_IN_FIELD_VALUE_TEXT
_MAX_LENGTH_DIGITS = 18  # _abnf.CONTENT_LENGTH_TEXT's bound: a length that fits in 63 bits
# RFC 9110 §7.6.1: hop-by-hop fields belong to the server, not the application (PEP 3333).
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
# Valid field name -> its kind (below, from its lower case). Process-wide and safe so: a pure
# function's memo, bounded, keyed by exact str only (_plain_str strips subclasses first, so no
# __eq__/__hash__ of the app's can match a cached name), and a racing insert writes the same value.
_CHECKED_NAMES: dict[str, int] = {}
_CHECKED_NAMES_MAX = 1024

# A validated (name, value) field -> (its kind, its line on the wire, its Content-Length or -1), and a
# validated status -> its code: most responses repeat the same few fields ("Content-Type: text/html")
# and statuses, and validating one costs a call and several checks. Process-wide and safe so: a pure
# function's memo keyed by exact ``str`` only (checked with ``type() is str`` before the lookup, so
# no __eq__/__hash__ of the app's runs or can match), bounded in entries and in the length of what it
# keeps, emptied when full (so one-off values cannot keep common ones out for good); a racing insert
# writes the same value.
_CHECKED_FIELDS: dict[tuple[str, str], tuple[int, str, int]] = {}
_CHECKED_FIELDS_MAX = 1024
_CHECKED_FIELD_SIZE = 256
_CHECKED_STATUS: dict[str, int] = {}
_CHECKED_STATUS_MAX = 256
_OTHER, _CONTENT_LENGTH, _DATE, _SERVER = range(4)
_KINDS = {"content-length": _CONTENT_LENGTH, "date": _DATE, "server": _SERVER}

# What a header that is no pair unpacks to (it is refused on the path for fields that are not str).
_UNPAIRED: Any = object()

# Framing of the response body (RFC 9112 §6.3).
_NONE, _LENGTH, _CHUNKED, _CLOSE = range(4)


def _plain_str(value: Any, what: str) -> str:
    """``value`` as an exact ``str``. A subclass is checked and written as the text it holds
    (``str.__str__``): its own ``__format__``, ``__str__``, ``__eq__`` or ``__hash__`` could say
    something else after validation, e.g. put a CRLF and a second header on the wire."""
    if not isinstance(value, str):
        raise ApplicationError(f"{what} must be str, not {type(value).__name__}")
    return str.__str__(value)


def _plain_bytes(data: Any) -> bytes:
    """``data`` as an exact ``bytes``: a subclass's ``__len__`` could lie to the body framing."""
    if not isinstance(data, bytes):
        raise ApplicationError(f"body data must be bytes, not {type(data).__name__}")
    return memoryview(data).tobytes()


def _name_kind(name: str) -> int:
    """The kind of a valid field name (``name`` is an exact ``str``): ``_CONTENT_LENGTH``,
    ``_DATE``, ``_SERVER`` or ``_OTHER``, from its lower case."""
    kind = _CHECKED_NAMES.get(name)
    if kind is not None:
        return kind
    if _TOKEN.fullmatch(name) is None:
        raise ApplicationError(f"header name {name!r} is not a token (RFC 9110 §5.1)")
    lower = name.lower()
    if lower in _HOP_BY_HOP:
        raise ApplicationError(f"hop-by-hop header {name!r} is the server's to set (PEP 3333)")
    kind = _KINDS.get(lower, _OTHER)
    if len(_CHECKED_NAMES) < _CHECKED_NAMES_MAX:
        _CHECKED_NAMES[name] = kind
    return kind


def _check_status(status: str) -> int:
    """The code of a valid status (``status`` is an exact ``str``), remembered."""
    if _STATUS.fullmatch(status) is None:
        raise ApplicationError(f"status {status!r} is not '<3 digits> <reason>' in latin-1 "
                               f"without control characters")
    code = int(status[:3])
    if len(status) <= _CHECKED_FIELD_SIZE:
        if len(_CHECKED_STATUS) >= _CHECKED_STATUS_MAX:
            _CHECKED_STATUS.clear()
        _CHECKED_STATUS[status] = code
    return code


def _check_field(name: Any, value: Any) -> tuple[int, str, int]:
    """Validate one response field: its kind, its line on the wire, its Content-Length (else -1).
    Remembered when both parts are exact ``str`` (anything else is converted first, never cached)."""
    cacheable = type(name) is str and type(value) is str
    if not cacheable and type(name) is not str:
        name = _plain_str(name, "header name")
    kind = _CHECKED_NAMES.get(name)  # _name_kind's memo inline
    if kind is None:
        kind = _name_kind(name)
    if not cacheable and type(value) is not str:
        value = _plain_str(value, f"value of header {name!r}")
    # Printable ASCII (most values) is valid without the regex, which a call to it costs more than
    # these two str methods; anything else (a tab, latin-1, a control character) is asked of it.
    if not (value.isascii() and value.isprintable()) and _BAD_VALUE.search(value) is not None:
        raise ApplicationError(f"value of header {name!r} contains a control character or "
                               f"a character outside latin-1")
    length = -1
    if kind == _CONTENT_LENGTH:
        digits = value.strip(" \t")
        # CONTENT_LENGTH_TEXT's [0-9]{1,18} with str methods: isdigit() alone takes other scripts' digits too.
        if not (digits.isdigit() and digits.isascii() and len(digits) <= _MAX_LENGTH_DIGITS):
            raise ApplicationError(f"invalid or repeated Content-Length {value!r}")
        length = int(value)
    checked = (kind, f"{name}: {value}\r\n", length)
    if cacheable and len(name) + len(value) <= _CHECKED_FIELD_SIZE:
        if len(_CHECKED_FIELDS) >= _CHECKED_FIELDS_MAX:
            _CHECKED_FIELDS.clear()
        _CHECKED_FIELDS[(name, value)] = checked
    return checked


class ResponseWriter:
    """Collects ``start_response``/``write``/iterable output for one request and sends it framed.

    ``send`` gets every byte in order. An exception from ``send`` is kept in ``send_error`` and
    re-raised: the caller tells it apart from an application error that way.
    """

    __slots__ = ("_block", "_connection", "_date", "_framing", "_has_date", "_has_server", "_http11",
                 "_keep_alive", "_left", "_length", "_no_body_request", "_report", "_send", "_server",
                 "_state", "_status", "body_bytes", "overflowed", "send_error", "status_code")

    def __init__(  # noqa: PLR0917 - positional: keywords to a class call cost a dict (CPython 3.11)
        self,
        send: Callable[[bytes], None],
        head_request: bool,
        http11: bool,
        keep_alive: Callable[[], bool] | None,
        connection: ConnectionState,
        date: Callable[[], str] | None,
        server: str | None,
        report: Callable[[Problem], None],
    ) -> None:
        """``keep_alive()``: asked when the head is written, whether it may say the connection
        persists (``None``: nothing of the request can decide it any more, so the flag of
        ``connection`` says it); ``connection``: the state whose keep-alive the framing may switch
        off. ``report`` gets the response's problems (a body shorter or longer than its length)."""
        self._send = send
        self._no_body_request = head_request
        self._http11 = http11
        self._keep_alive = keep_alive
        self._connection = connection
        self._date = date
        self._server = server
        self._report = report
        self._state = _S.NO_STATUS
        self._status = ""
        self._block = ""
        self._length: int | None = None
        self._has_date = False
        self._has_server = False
        self._framing = _NONE
        self._left = 0
        self.status_code = 0
        self.body_bytes = 0
        self.overflowed = False
        self.send_error: BaseException | None = None

    def _move(self, action: str) -> None:
        """Move through the table (the per-request paths below inline this lookup; nothing else
        ever sets the state: ``tests/core/test_core_state_table.py`` checks it)."""
        state = _NEXT.get((self._state, action))
        if state is None:
            self._misuse(action)
        self._state = state

    def _misuse(self, action: str) -> NoReturn:
        default = f"{action} after the response was finished"
        raise ApplicationError(_MISUSE.get((self._state, action), default))

    @property
    def head_sent(self) -> bool:
        """Whether the response head has gone to ``send`` (read from the state)."""
        return self._state in _HEAD_SENT

    # PEP 3333 start_response(status, response_headers, exc_info=None) -> write
    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> WriteCallable:
        if exc_info is not None:
            try:
                if self.head_sent:
                    # PEP 3333: too late to change the status; re-raise so the server aborts.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the frame <-> traceback cycle (PEP 3333)
            self._move(_A.START_EXC)
        else:
            state = _AFTER_START.get(self._state)  # _move inline: once per response
            if state is None:
                self._misuse(_START)
            self._state = state
        # The status and the fields are checked and kept here, in the one call of every response.
        try:
            code = _CHECKED_STATUS.get(status) if type(status) is str else None
            if code is None:
                status = _plain_str(status, "status")
                code = _check_status(status)
            if type(headers) is not list and not isinstance(headers, list):  # no call for a list
                raise ApplicationError(f"response_headers must be a list, not {type(headers).__name__}")
            # The field lines joined by +=: for the few fields of a response, cheaper than a list, an
            # append per field and a join (CPython grows the one string in place).
            block = ""
            length: int | None = None
            has_date = has_server = False
            checked_fields = _CHECKED_FIELDS
            for item in headers:
                if type(item) is not tuple:
                    raise ApplicationError(f"each header must be a (name, value) tuple, not {item!r}")
                # The pair's length is checked by unpacking it (no len() call per field); one of
                # another length is refused below, outside the handler (no ValueError as context).
                try:
                    name, value = item
                except ValueError:
                    name = value = _UNPAIRED
                if type(name) is str and type(value) is str:
                    checked = checked_fields.get(item)
                    if checked is None:
                        checked = _check_field(name, value)
                else:
                    if len(item) != 2:
                        raise ApplicationError(f"each header must be a (name, value) tuple, "
                                               f"not {item!r}")
                    checked = _check_field(name, value)
                kind, line, field_length = checked
                if kind:
                    if kind == _CONTENT_LENGTH:
                        if length is not None:
                            raise ApplicationError(f"invalid or repeated Content-Length {value!r}")
                        length = field_length
                    elif kind == _DATE:
                        has_date = True
                    else:
                        has_server = True
                block += line
            self._status = status
            self.status_code = code
            self._block = block
            self._length = length
            self._has_date = has_date
            self._has_server = has_server
        except BaseException:
            # Anything raised (a header list's own __iter__ too) leaves no status set: a body
            # after it must not go out under an empty status line.
            self._move(_A.START_FAILED)
            raise
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's write() callable (and the path of every chunk of the iterable)."""
        if type(data) is not bytes:
            data = _plain_bytes(data)
        if not data:
            if self._state == _NO_STATUS:
                self._move(_BODY)
            return
        if self._state == _SENDING_BODY:
            size = len(data)
            if self._framing == _LENGTH and size <= self._left:
                # _frame's and _emit's common case inline: every block of a streamed body with a
                # Content-Length comes here, and each call is a Python frame per block.
                self._left -= size
                self.body_bytes += size
                try:
                    self._send(data)
                except BaseException as exc:
                    self.send_error = exc
                    raise
                return
            self._emit_body(data)
        else:
            self._move(_BODY)
            self._emit_head(data, None)

    def write_whole(self, data: bytes) -> None:
        """The whole body in one piece (a one-item iterable), sent with a Content-Length, and the
        end of the response: ``write`` then ``finish`` in one call, the path of most responses.
        After ``write()`` (the head is out) it is a last ``write`` and ``finish``."""
        if type(data) is not bytes:
            data = _plain_bytes(data)
        if self._state is _SENDING_BODY:
            self.write(data)
            self.finish()
            return
        state = _AFTER_WHOLE.get(self._state)  # _move inline: once per response
        if state is None:
            self._misuse(_WHOLE)  # no status yet, or already finished
        self._state = state
        self._emit_head(data, len(data))
        # Framing is _LENGTH or _NONE here: the body has a length.
        if self._left and self._framing == _LENGTH:
            self._short_body()

    def _short_body(self) -> None:
        self._connection.disable_keep_alive(CloseReason.SHORT_BODY)
        self._report(Problem(f"response body ended {self._left} bytes short of its Content-Length; "
                             f"closing the connection so the client sees the truncation"))

    def finish(self) -> None:
        """The iterable is exhausted: send the headers if not yet sent, and end the framing."""
        state = self._state
        self._move(_FINISH)
        if state == _STATUS_SET:
            self._emit_head(b"", 0)
        framing = self._framing
        if framing == _CHUNKED:
            self._emit(b"0\r\n\r\n")  # RFC 9112 §7.1: last-chunk and the empty trailer section
        elif framing == _LENGTH and self._left:
            self._short_body()

    @property
    def declared_length(self) -> int | None:
        """The application's Content-Length (None: it gave none)."""
        return self._length

    def head_for_sendfile(self, length: int | None) -> tuple[bytes, int]:
        """The head of a response whose body the driver sends itself (a file), and how many bytes
        of the file to send (0: none, e.g. a HEAD request). The head is *not* sent: the caller
        passes it to :meth:`send_head` or to a driver that sends it with the file, in the fewest
        system calls and packets. Either way the head counts as sent from now on."""
        self._move(_BODY)
        # _emit_head's send taken over for the call: the head is kept, not sent (the path of every
        # other response stays as it is, without a flag to test).
        send = self._send
        held: list[bytes] = []
        self._send = held.append
        try:
            self._emit_head(b"", length)
        finally:
            self._send = send
        # _emit_head gave the framing _LENGTH or _NONE: the length is known (the file's size or
        # the application's Content-Length).
        return held[0], self._left if self._framing == _LENGTH else 0

    def send_head(self, head: bytes) -> None:
        """Send the head :meth:`head_for_sendfile` returned through ``send`` (an exception is kept
        in ``send_error``, as for every write)."""
        self._emit(head)

    def sent_by_sendfile(self, count: int) -> None:
        self._left -= count
        self.body_bytes += count

    def _emit(self, data: bytes) -> None:
        try:
            self._send(data)
        except BaseException as exc:
            self.send_error = exc
            raise

    def _emit_head(self, first: bytes, total: int | None) -> None:
        code = self.status_code
        bodiless_status = code < 200 or code in (204, 304)  # RFC 9110 §6.4.1
        block = self._block
        length = self._length
        if length is None and total is not None and not bodiless_status:
            length = total
            block += f"Content-Length: {total}\r\n"
        # The connection's verdict (a 1xx never gets here): asked only while the request's state may
        # still rule keep-alive out; otherwise its flag is the verdict, with no call per response.
        ask = self._keep_alive
        keep_alive = self._connection.keep_alive if ask is None else ask()
        if self._no_body_request or bodiless_status:
            framing = _NONE
        elif length is not None:
            framing = _LENGTH
            self._left = length
        elif self._http11:
            framing = _CHUNKED
            block += "Transfer-Encoding: chunked\r\n"
        else:
            framing = _CLOSE  # RFC 9112 §6.3: an HTTP/1.0 client reads to the close
            self._connection.disable_keep_alive(CloseReason.READ_TO_CLOSE)
            keep_alive = False
        if not keep_alive:
            block += "Connection: close\r\n"
        elif not self._http11:
            # RFC 9112 §9.3, Appendix C.2.2: an HTTP/1.0 client keeps the connection only if the
            # response says keep-alive too (it asked; the length is known, so we can). Option names
            # are case-insensitive; this is RFC 2068 §19.7.1's spelling, which Apache, waitress and
            # cheroot send and their test suites compare exactly.
            block += "Connection: Keep-Alive\r\n"
        date = self._date() if self._date is not None and not self._has_date else ""
        server = self._server if self._server is not None and not self._has_server else ""
        self._framing = framing
        # serialize_head's format inline, the server's fields as pieces of it: a call and two
        # copies of the head fewer per response.
        head = f"HTTP/1.1 {self._status}\r\n{block}{date}{server}\r\n".encode("latin-1")
        if first:
            # One send for head and first chunk up to 64 KiB (a copy is cheaper than a system call
            # and a packet); a larger chunk goes out on its own, uncopied.
            size = len(first)
            if size > 65536:
                self._emit(head)
                self._emit(self._frame(first))
                return
            if framing == _LENGTH and size <= self._left:
                # _frame's common case inline (a call fewer on most responses)
                self._left -= size
                self.body_bytes += size
                head += first
            else:
                head += self._frame(first)
        # _emit inline, for the same reason
        try:
            self._send(head)
        except BaseException as exc:
            self.send_error = exc
            raise

    def _emit_body(self, data: bytes) -> None:
        framed = self._frame(data)
        if framed:
            self._emit(framed)

    def _frame(self, data: bytes) -> bytes:
        framing = self._framing
        if framing == _LENGTH:
            left = self._left
            if len(data) > left:
                data = data[:left]
                if not self.overflowed:
                    self.overflowed = True
                    self._connection.disable_keep_alive(CloseReason.LONG_BODY)
                    self._report(Problem("response body longer than its Content-Length; truncated, "
                                         "and the connection will be closed"))
            self._left = left - len(data)
        elif framing == _CHUNKED:
            self.body_bytes += len(data)
            return b"%x\r\n%b\r\n" % (len(data), data)
        elif framing == _NONE:
            return b""
        self.body_bytes += len(data)
        return data
