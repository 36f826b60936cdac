"""Helpers shared by the hardening and fuzz suites: a strict response parser, a raw socket client,
recording applications, process gauges (fds, RSS) and the graders for the hostile table and the corpus.

No ``assert`` statements here: the suite must check the same things under ``python -O``. Graders
return a list of problems (empty = pass) and the tests assert on that list.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from support.corpus import find_corpus, load_corpus
from support.inmemory import run_connection
from support.responses import MalformedResponse, ResponseParser

__all__ = [
    "CORPUS_DIR",
    "Outcome",
    "RecordingApp",
    "Response",
    "SocketResult",
    "drive_in_memory",
    "fd_count",
    "fd_targets",
    "grade_corpus",
    "grade_hostile",
    "load_corpus",
    "parse_responses",
    "random_splits",
    "rss_bytes",
    "send_raw",
    "soak_enabled",
    "time_limit",
    "wait_until",
]

#: The shared corpus, located by the one loader every suite uses (tests/support/corpus.py).
CORPUS_DIR: Path | None = find_corpus()


# --------------------------------------------------------------------------------------------
# Response parsing (strict enough to notice response splitting or a body sent where none may be)
# --------------------------------------------------------------------------------------------

class Response(NamedTuple):
    """One parsed response. ``complete`` is False when the bytes ended before its body did."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool

    def header(self, name: str) -> str | None:
        """The first value of field ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def closes(self) -> bool:
        value = self.header("connection")
        return value is not None and "close" in value.lower()


class Parsed(NamedTuple):
    responses: list[Response]
    rest: bytes
    error: str | None


def parse_responses(data: bytes, methods: Iterable[str] = ()) -> Parsed:
    """Parse every response in ``data`` with the suites' one strict parser (tests/support/
    responses.py), without raising: a malformed byte ends the walk with ``error`` set, a head that
    has not arrived whole with ``rest``. ``methods`` gives the request method of each final response
    in order (``HEAD`` responses have no body); missing entries count as ``GET``."""
    parser = ResponseParser(data, list(methods), allow_incomplete=True)
    out: list[Response] = []
    try:
        for r in parser:
            fields = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in r.fields]
            out.append(Response(r.status, r.reason.decode("latin-1"), fields, r.body, r.complete))
    except MalformedResponse as exc:
        return Parsed(out, data[parser.pos:], str(exc))
    return Parsed(out, parser.rest, None)


# --------------------------------------------------------------------------------------------
# Applications
# --------------------------------------------------------------------------------------------


class RecordingApp:
    """Reads the whole body *before* ``start_response``, records the request, answers 200.

    ``calls`` counts entries into the app; ``served`` lists the requests that reached
    ``start_response`` as dicts of the environ's str values plus ``"body"``.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.entered: list[dict[str, Any]] = []
        self.served: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        record = {k: v for k, v in environ.items() if isinstance(v, str)}
        with self._lock:
            self.calls += 1
            self.entered.append(record)
        body = environ["wsgi.input"].read()
        record["body"] = body
        with self._lock:
            self.served.append(record)
        payload = b"ok " + environ.get("PATH_INFO", "").encode("latin-1")
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    def reset(self) -> None:
        with self._lock:
            self.calls = 0
            self.entered.clear()
            self.served.clear()


# --------------------------------------------------------------------------------------------
# Graders
# --------------------------------------------------------------------------------------------


class Outcome(NamedTuple):
    outcome: int | str
    responses: list[Response]
    problems: list[str]


def _outcome(data: bytes, before: int, methods: Iterable[str] = ()) -> Outcome:
    parsed = parse_responses(data, methods)
    problems: list[str] = []
    if parsed.error:
        problems.append(f"unparseable output: {parsed.error}")
    finals = [r for r in parsed.responses if r.status >= 200]
    if parsed.rest:
        problems.append(f"trailing partial bytes {parsed.rest[:60]!r}")
    for i, resp in enumerate(finals[:before]):
        if resp.status != 200:
            problems.append(f"response {i} is {resp.status}, expected 200")
    if len(finals) == before:
        outcome: int | str = "close"
    elif len(finals) == before + 1:
        outcome = finals[-1].status
        last = finals[-1]
        if not last.complete:
            problems.append("last response is incomplete")
        if last.status >= 400 and not last.closes:
            problems.append(f"{last.status} response without 'Connection: close'")
    else:
        outcome = f"{len(finals)} responses"
        problems.append(f"expected {before} or {before + 1} final responses, got {len(finals)}: "
                        f"{[r.status for r in finals]}")
    return Outcome(outcome, finals, problems)


def grade_hostile(case: Any, data: bytes, app: RecordingApp) -> list[str]:
    """Problems with the server's answer ``data`` to the hostile-table ``case`` (empty = pass)."""
    result = _outcome(data, case.before)
    problems = list(result.problems)
    allowed = (case.expect, *case.alt)
    if result.outcome not in allowed:
        problems.append(f"outcome {result.outcome!r}, expected {case.expect!r} (alt {case.alt})")
    served, calls = len(app.served), app.calls
    if result.outcome == 200:
        if served != case.before + 1:
            problems.append(f"app served {served} requests, expected {case.before + 1}")
    elif case.phase == "head":
        if calls != case.before:
            problems.append(f"app called {calls} times for a bad head (expected {case.before})")
    elif not case.before <= calls <= case.before + 1 or served != case.before:
        problems.append(f"app called {calls} times / served {served} (before={case.before})")
    for record in app.entered:
        if "smuggled" in record.get("PATH_INFO", ""):
            problems.append("a smuggled request reached the application")
    for resp in result.responses:
        if resp.status == 200 and not resp.body.startswith(b"ok "):
            problems.append(f"200 response with an unexpected body {resp.body[:40]!r}")
    return problems


def grade_corpus(entry: dict[str, Any], data: bytes, app: RecordingApp, *,
                 buffered: bool = False) -> list[str]:
    """Problems with the answer ``data`` to a corpus ``entry`` (see the corpus README).

    ``buffered``: the server reads a chunked body whole before the app runs and presents it with its
    ``CONTENT_LENGTH`` instead of its ``Transfer-Encoding`` (every driver's default; the corpus says
    what the core alone presents)."""
    expect = entry["expect"]
    status = expect["status"]
    allowed = (status, *expect.get("alt_status", ()))
    then = expect.get("then_status")  # a later pipelined request refused after the 200s
    if status == 200:
        wanted = entry["expect_requests"]
        result = _outcome(data, len(wanted) - (then is None))
        if then is not None:
            status, allowed = then, (then,)
    else:
        result = _outcome(data, 0)
    problems = list(result.problems)
    if result.outcome not in allowed:
        problems.append(f"outcome {result.outcome!r}, expected {status!r} (alt {allowed[1:]})")
        return problems
    if result.outcome == 200 or then is not None:
        wanted = entry["expect_requests"]
        if len(app.served) != len(wanted) or app.calls != len(wanted):
            problems.append(f"app served {len(app.served)} / called {app.calls}, "
                            f"expected {len(wanted)}")
        for got, want in zip(app.served, wanted, strict=False):
            problems.extend(_compare_request(got, _as_buffered(want) if buffered else want))
    elif expect.get("phase") in ("body", "eof-body"):
        if app.calls > 1 or app.served:
            problems.append(f"app called {app.calls} times / served {len(app.served)}")
    elif app.calls:
        problems.append(f"app called {app.calls} times for a bad head")
    return problems


def _as_buffered(want: dict[str, Any]) -> dict[str, Any]:
    """What a driver that buffers chunked bodies presents for the corpus's expected request."""
    headers = dict(want["headers"])
    if headers.pop("HTTP_TRANSFER_ENCODING", None) is None:
        return want
    return {**want, "headers": {**headers, "CONTENT_LENGTH": str(len(bytes.fromhex(want["body_hex"])))}}


def _compare_request(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    problems = []
    pairs = [
        ("REQUEST_METHOD", "method"),
        ("PATH_INFO", "path_info"),
        ("QUERY_STRING", "query_string"),
        ("SERVER_PROTOCOL", "server_protocol"),
    ]
    for env_key, want_key in pairs:
        if got.get(env_key) != want[want_key]:
            problems.append(f"{env_key}: {got.get(env_key)!r} != {want[want_key]!r}")
    headers = {
        k: v for k, v in got.items()
        if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")
    }
    if headers != want["headers"]:
        extra = {k: v[:60] for k, v in headers.items() if want["headers"].get(k) != v}
        missing = {k: v[:60] for k, v in want["headers"].items() if headers.get(k) != v}
        problems.append(f"environ headers differ: got {extra!r}, expected {missing!r}")
    if got.get("body", b"").hex() != want["body_hex"]:
        problems.append(f"body {got.get('body', b'')[:60]!r} != {bytes.fromhex(want['body_hex'])[:60]!r}")
    return problems


def random_splits(data: bytes, rng: random.Random, max_cuts: int = 6) -> list[bytes]:
    """``data`` cut at 1..max_cuts random offsets."""
    if len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, max_cuts))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# --------------------------------------------------------------------------------------------
# Raw sockets
# --------------------------------------------------------------------------------------------


class SocketResult(NamedTuple):
    data: bytes
    eof: bool  # the server closed the connection (clean FIN)
    reset: bool  # ECONNRESET / EPIPE seen
    timed_out: bool  # neither within the time limit
    send_error: bool  # the server stopped accepting our bytes
    elapsed: float


def send_raw(
    addr: tuple[str, int],
    pieces: Iterable[bytes],
    *,
    timeout: float = 5.0,
    half_close: bool = True,
    pause: float = 0.0,
) -> SocketResult:
    """Send ``pieces`` (one ``send`` each, ``pause`` seconds apart), half-close, read until the server
    closes or ``timeout`` seconds have passed in all."""
    start = time.monotonic()
    deadline = start + timeout
    data = bytearray()
    reset = send_error = False
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
                if time.monotonic() > deadline:
                    break
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            send_error = True
        except TimeoutError:
            send_error = True
        eof = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                reset = True
                break
            except TimeoutError:
                break
            if not chunk:
                eof = True
                break
            data += chunk
    timed_out = not (eof or reset)
    return SocketResult(bytes(data), eof, reset, timed_out, send_error, time.monotonic() - start)


# --------------------------------------------------------------------------------------------
# Process gauges and bounded waiting
# --------------------------------------------------------------------------------------------


def soak_enabled(config: Any) -> bool:
    """True when the soak test was asked for: ``-m soak`` or ``WSGICORE_SOAK=1``."""
    markexpr = str(config.getoption("markexpr", "") or "")
    return os.environ.get("WSGICORE_SOAK") == "1" or ("soak" in markexpr and "not soak" not in markexpr)


def fd_count() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def fd_targets() -> list[str]:
    """What each open descriptor of this process points to (for leak reports)."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            out.append(f"{name}->{os.readlink(f'/proc/self/fd/{name}')}")
        except OSError:
            continue
    return sorted(out)


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/status."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds; the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``TimeoutError`` in the main thread if the block runs longer than ``seconds``
    (a hang in the core fails the test instead of stalling the run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"time limit of {seconds}s exceeded")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Statuses the core documents for a refused request (None: close without a response).
DOCUMENTED_STATUSES = (None, 400, 408, 413, 414, 431, 501, 505)


def drive_in_memory(pieces: list[bytes], app: Any, config: Any, max_events: int = 100_000) -> bytes:
    """Feed ``pieces`` then EOF to one ``wsgicore.Connection`` (the suites' one in-memory loop);
    return everything it wrote. Only ``RemoteProtocolError`` (with a documented status) may escape
    the core; anything else, an undocumented status, or a connection that does not finish within
    ``max_events`` raises AssertionError (the fuzzers' finding)."""
    run = run_connection(app, pieces, config=config, peer=None, sockname=None,
                         on_problem=lambda problem: None, max_steps=max_events)
    status = getattr(run.error, "status_code", None)
    if run.error is not None and status not in DOCUMENTED_STATUSES:
        raise AssertionError(f"undocumented status {status}") from run.error
    return run.output
