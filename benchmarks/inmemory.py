"""In-memory request/response cycle: wsgicore vs wsgiref vs a bare h11 cycle, in one process.

Each contender takes the same 511-byte browser GET (12 header fields), parses it, builds a PEP 3333
environ, calls the same hello-world application and serializes its response to bytes. No socket is
involved, so this measures the per-request cost of the server core alone.

Contenders (each one's output is checked once before timing: it must be a 200 with the app's body):

* ``wsgicore.Connection``: driven as a driver drives it: a new ``Connection`` per request,
  ``receive_data``, ``next_event``, ``run_app`` (with ``fetch`` and ``errors``) with ``send`` appending to a
  list. ``Config(clock=time.time)``, as the drivers pass it, so that it writes a ``Date`` header as
  wsgiref does.
* ``wsgicore (no Date)``: the same with the default ``Config()`` (no clock, no ``Date`` header).
* ``wsgidrivers.memory.exchange``: the same request through the in-memory driver (then EOF).
* ``wsgiref``: ``wsgiref.simple_server.WSGIRequestHandler`` over in-memory rfile/wfile
  (http.server parses, ``ServerHandler`` runs the app and writes the response). Measured as it is,
  including its copy of ``os.environ`` into every environ; only its access log line is silenced
  (ours logs nothing).
* ``h11``: a naive h11 server cycle: ``h11.Connection`` parses, plain code builds the environ, h11
  serializes ``Response`` + ``Data`` + ``EndOfMessage`` (with ``Date`` and ``Server`` headers).

Rounds are interleaved (every contender runs one batch per round, in a rotating order), and the
ratios are paired: ours/wsgiref is computed round by round, so both sides of a ratio saw the same
machine noise.

    python -m benchmarks.inmemory                 # default: 15 rounds x 2000 requests
    python -m benchmarks.inmemory --quick         # 7 rounds x 1000 requests
    python -m benchmarks.inmemory --profile       # cProfile of our cycle, top entries
    python -m benchmarks.inmemory --json out.json # also write the raw samples
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import time
import urllib.parse
import wsgiref.handlers
import wsgiref.simple_server
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import h11

from benchmarks._common import (
    Summary,
    add_naive_headers,
    fmt,
    machine_lines,
    paired_ratios,
    print_profile,
)

# --------------------------------------------------------------------------------------------------
# The request and the application

_COOKIE_PREFIX = "theme=dark; sessionid="
_REQUEST_TEMPLATE = (
    "GET /docs/index.html?page=2 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: {cookie}\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "\r\n"
)
REQUEST_SIZE = 511
REQUEST_HEADER_COUNT = 12


def _build_request() -> bytes:
    """The browser GET, its session cookie padded so that the whole head is exactly 511 bytes."""
    bare = _REQUEST_TEMPLATE.format(cookie=_COOKIE_PREFIX)
    pad = REQUEST_SIZE - len(bare)
    if pad < 8:
        raise RuntimeError("request template too long for the target size")
    token = ("3f9a1c0b7e2d4a6f8b1c3e5d7f9a0b2c" * 4)[:pad]
    request = _REQUEST_TEMPLATE.format(cookie=_COOKIE_PREFIX + token).encode("ascii")
    if len(request) != REQUEST_SIZE or request.count(b"\r\n") != REQUEST_HEADER_COUNT + 2:
        raise RuntimeError("request is not 511 bytes with 12 header fields")
    return request


REQUEST: bytes = _build_request()
RESPONSE_BODY = b"Hello, world!"
PEER = ("127.0.0.1", 50000)
SOCKNAME = ("127.0.0.1", 80)

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def hello_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The application every contender runs: a fixed 13-byte body with a Content-Length."""
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(RESPONSE_BODY))),
        ],
    )
    return [RESPONSE_BODY]


def _eof(size: int) -> bytes:
    """``fetch`` for ``wsgi.input``: in memory, the connection has nothing more to give."""
    return b""


# --------------------------------------------------------------------------------------------------
# The contenders: each is a zero-argument callable doing one whole cycle, returning the bytes sent


Cycle = Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class Contender:
    name: str
    cycle: Cycle
    note: str = ""


def make_wsgicore_cycle(app: App = hello_app, *, with_clock: bool = True) -> Cycle:
    """Our core driven like the blocking driver drives it (raises ImportError if it is missing)."""
    import wsgicore

    config = wsgicore.Config(clock=time.time) if with_clock else wsgicore.Config()
    connection_cls = wsgicore.Connection
    request_received = wsgicore.RequestReceived
    errors = sys.stderr

    def cycle() -> bytes:
        conn = connection_cls(config, peer=PEER, sockname=SOCKNAME)
        conn.receive_data(REQUEST)
        event = conn.next_event()
        if type(event) is not request_received:
            raise RuntimeError(f"wsgicore gave {event!r}, not RequestReceived")
        out: list[bytes] = []
        conn.run_app(app, event.environ, out.append, fetch=_eof, errors=errors)
        return b"".join(out)

    return cycle


def make_exchange_cycle(app: App = hello_app) -> Cycle:
    """``wsgidrivers.memory.exchange`` on the same request (raises ImportError if it is missing)."""
    import wsgicore
    from wsgidrivers.memory import exchange

    config = wsgicore.Config(clock=time.time)
    errors = sys.stderr

    def cycle() -> bytes:
        return exchange(app, REQUEST, config=config, peer=PEER, sockname=SOCKNAME, errors=errors)

    return cycle


class _QuietWSGIRequestHandler(wsgiref.simple_server.WSGIRequestHandler):
    """wsgiref's handler over in-memory files; all but the socket and the access log is stock."""

    def __init__(self, data: bytes, server: wsgiref.simple_server.WSGIServer) -> None:
        self._data = data
        self.output = b""
        super().__init__(None, PEER, server)  # type: ignore[arg-type]

    def setup(self) -> None:
        self.connection = None
        self.rfile = io.BytesIO(self._data)
        self.wfile = io.BytesIO()

    def finish(self) -> None:
        self.output = self.wfile.getvalue()  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _wsgiref_server(app: App) -> wsgiref.simple_server.WSGIServer:
    """A stock WSGIServer that was never bound: what server_bind would have set, set by hand."""
    server = wsgiref.simple_server.WSGIServer(
        SOCKNAME, wsgiref.simple_server.WSGIRequestHandler, bind_and_activate=False
    )
    server.socket.close()  # never used: the handler reads and writes BytesIO
    server.server_name = "localhost"
    server.server_port = SOCKNAME[1]
    server.setup_environ()
    server.set_app(app)
    return server


def make_wsgiref_cycle(app: App = hello_app) -> Cycle:
    server = _wsgiref_server(app)
    handler_cls = _QuietWSGIRequestHandler

    def cycle() -> bytes:
        return handler_cls(REQUEST, server).output

    return cycle


def make_h11_cycle(app: App = hello_app) -> Cycle:
    """A naive h11 server cycle, the way one would write it without a dedicated core."""
    base: dict[str, Any] = {
        "SERVER_NAME": "localhost",
        "SERVER_PORT": str(SOCKNAME[1]),
        "REMOTE_ADDR": PEER[0],
        "REMOTE_PORT": str(PEER[1]),
        "SCRIPT_NAME": "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.errors": sys.stderr,
    }
    server_header = (b"Server", b"h11-naive")
    need_data = h11.NEED_DATA
    end_of_message = h11.EndOfMessage

    def cycle() -> bytes:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(REQUEST)
        request = conn.next_event()
        if not isinstance(request, h11.Request):
            raise RuntimeError(f"h11 gave {request!r}, not Request")
        path, _, query = request.target.decode("latin-1").partition("?")
        environ = base.copy()
        environ["REQUEST_METHOD"] = request.method.decode("ascii")
        environ["PATH_INFO"] = urllib.parse.unquote(path, "latin-1")
        environ["QUERY_STRING"] = query
        environ["SERVER_PROTOCOL"] = "HTTP/" + request.http_version.decode("ascii")
        add_naive_headers(environ, request.headers)
        body = bytearray()
        for _ in range(1000):  # bounded: a GET has no body, so this ends at once
            event = conn.next_event()
            if type(event) is end_of_message or event is need_data:
                break
            if isinstance(event, h11.Data):
                body += event.data
        environ["wsgi.input"] = io.BytesIO(bytes(body))

        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return lambda data: None

        result = app(environ, start_response)
        try:
            status, headers = started
            response_headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
            response_headers.append((b"Date", wsgiref.handlers.format_date_time(time.time()).encode("ascii")))
            response_headers.append(server_header)
            out = [
                conn.send(
                    h11.Response(
                        status_code=int(status[:3]),
                        headers=response_headers,
                        reason=status[4:].encode("latin-1"),
                    )
                )
                or b""
            ]
            for chunk in result:
                if chunk:
                    out.append(conn.send(h11.Data(data=chunk)) or b"")
            out.append(conn.send(h11.EndOfMessage()) or b"")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return b"".join(out)

    return cycle


def make_contenders(*, include_variants: bool = True) -> tuple[list[Contender], list[str]]:
    """Every contender that can run here, and a message for each one that cannot."""
    contenders: list[Contender] = []
    skipped: list[str] = []
    try:
        contenders.append(Contender("wsgicore", make_wsgicore_cycle(), "Connection, clock=time.time"))
        if include_variants:
            contenders.append(
                Contender("wsgicore (no Date)", make_wsgicore_cycle(with_clock=False), "Config()")
            )
    except ImportError as exc:
        skipped.append(f"wsgicore: skipped, cannot import it ({exc})")
    if include_variants:
        try:
            contenders.append(Contender("memory.exchange", make_exchange_cycle(), "request + EOF"))
        except ImportError as exc:
            skipped.append(f"wsgidrivers.memory.exchange: skipped, cannot import it ({exc})")
    contenders.append(Contender("wsgiref", make_wsgiref_cycle(), "WSGIRequestHandler over BytesIO"))
    contenders.append(Contender("h11", make_h11_cycle(), "naive h11 server cycle"))
    return contenders, skipped


def check_response(name: str, data: bytes) -> None:
    """Fail loudly unless ``data`` is one complete 200 response carrying the app's body."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    client.receive_data(b"")
    body = b""
    status = None
    for _ in range(100):
        event = client.next_event()
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise RuntimeError(f"{name}: unexpected {event!r} in its response {data!r}")
    if status != 200 or body != RESPONSE_BODY:
        raise RuntimeError(f"{name}: wrong response {data!r}")


# --------------------------------------------------------------------------------------------------
# Measurement


@dataclass
class Results:
    """Per-contender samples (µs per request, one per round) measured in interleaved rounds."""

    rounds: int
    iterations: int
    samples: dict[str, list[float]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    os_environ_size: int = 0
    os_environ_bytes: int = 0

    def summary(self, name: str) -> Summary:
        return Summary.of(self.samples[name])

    def ratio(self, numerator: str, denominator: str) -> Summary | None:
        if numerator not in self.samples or denominator not in self.samples:
            return None
        return Summary.of(paired_ratios(self.samples[numerator], self.samples[denominator]))

    def to_json(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "iterations": self.iterations,
            "samples_us": self.samples,
            "skipped": self.skipped,
            "notes": self.notes,
            "os_environ_size": self.os_environ_size,
            "os_environ_bytes": self.os_environ_bytes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        return cls(
            rounds=data["rounds"],
            iterations=data["iterations"],
            samples={k: list(v) for k, v in data["samples_us"].items()},
            skipped=list(data["skipped"]),
            notes=dict(data["notes"]),
            os_environ_size=data["os_environ_size"],
            os_environ_bytes=data["os_environ_bytes"],
        )


def _time_batch(cycle: Cycle, iterations: int) -> float:
    """µs per request over one batch of ``iterations`` cycles."""
    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(iterations):
        cycle()
    return (time.perf_counter_ns() - start) / iterations / 1000.0


def measure(contenders: Sequence[Contender], *, rounds: int, iterations: int, warmup: int = 200) -> Results:
    results = Results(rounds=rounds, iterations=iterations)
    for contender in contenders:
        check_response(contender.name, contender.cycle())
        for _ in range(warmup):
            contender.cycle()
        results.samples[contender.name] = []
        results.notes[contender.name] = contender.note
    count = len(contenders)
    for round_no in range(rounds):
        # Rotate the order so that no contender always runs first (or right after the same one).
        for i in range(count):
            contender = contenders[(round_no + i) % count]
            results.samples[contender.name].append(_time_batch(contender.cycle, iterations))
    wsgiref_environ = wsgiref.handlers.BaseHandler.os_environ
    results.os_environ_size = len(wsgiref_environ)
    results.os_environ_bytes = sum(len(k) + len(v) for k, v in wsgiref_environ.items())
    return results


OURS = "wsgicore"
GOAL_OURS_OVER_WSGIREF = 0.45  # issue 15


def report_lines(results: Results) -> list[str]:
    lines = [
        f"In-memory cycle: {REQUEST_SIZE}-byte GET with {REQUEST_HEADER_COUNT} header fields, "
        f"hello-world app; {results.rounds} interleaved rounds x {results.iterations} requests.",
        f"wsgiref copies os.environ into every environ: {results.os_environ_size} variables, "
        f"{results.os_environ_bytes} bytes of names and values here.",
        "",
        f"{'contender':<20} {'min µs':>8} {'median':>8} {'max':>8}  note",
    ]
    for name in results.samples:
        s = results.summary(name)
        lines.append(
            f"{name:<20} {fmt(s.minimum, 2):>8} {fmt(s.median, 2):>8} {fmt(s.maximum, 2):>8}"
            f"  {results.notes.get(name, '')}"
        )
    lines.append("")
    lines.append("paired ratios (time per request, round by round): min / median / max")
    pairs = [
        (OURS, "wsgiref"),
        (OURS, "h11"),
        ("memory.exchange", "wsgiref"),
        ("wsgicore (no Date)", "wsgiref"),
        ("h11", "wsgiref"),
    ]
    for num, den in pairs:
        r = results.ratio(num, den)
        if r is not None:
            lines.append(f"  {num + '/' + den:<30} {r.minimum:.3f} / {r.median:.3f} / {r.maximum:.3f}")
    goal = results.ratio(OURS, "wsgiref")
    if goal is None:
        lines.append(f"goal ours/wsgiref <= {GOAL_OURS_OVER_WSGIREF}: not measured (wsgicore missing)")
    else:
        verdict = "MET" if goal.median <= GOAL_OURS_OVER_WSGIREF else "NOT MET"
        lines.append(f"goal ours/wsgiref <= {GOAL_OURS_OVER_WSGIREF}: median {goal.median:.3f} -> {verdict}")
    lines.extend(results.skipped)
    return lines


# --------------------------------------------------------------------------------------------------
# Profile mode


def profile(target: str, iterations: int, top: int) -> int:
    try:
        cycle = make_exchange_cycle() if target == "exchange" else make_wsgicore_cycle()
    except ImportError as exc:
        print(f"wsgicore: cannot profile, cannot import it ({exc})")
        return 0
    check_response(target, cycle())
    for _ in range(200):
        cycle()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        cycle()
    profiler.disable()
    print(f"cProfile of {iterations} in-memory cycles ({target}); times include profiler overhead")
    print_profile(pstats.Stats(profiler, stream=sys.stdout), top)
    return 0


# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inmemory", description=__doc__)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 15)")
    parser.add_argument("--iterations", type=int, default=None, help="requests per batch (default 2000)")
    parser.add_argument("--quick", action="store_true", help="7 rounds x 1000 requests")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument("--json", metavar="PATH", help="also write the raw samples as JSON")
    parser.add_argument("--no-variants", action="store_true", help="only ours, wsgiref and h11")
    parser.add_argument("--profile", action="store_true", help="cProfile our cycle instead")
    parser.add_argument("--profile-target", choices=("connection", "exchange"), default="connection")
    parser.add_argument("--top", type=int, default=25, help="profile entries to print")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 7 if args.quick else 15
    if args.iterations is None:
        args.iterations = 1000 if args.quick else 2000
    if not (1 <= args.rounds <= 1000 and 1 <= args.iterations <= 1_000_000):
        parser.error("rounds must be in 1..1000 and iterations in 1..1000000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.profile:
        return profile(args.profile_target, args.iterations * 5, args.top)
    contenders, skipped = make_contenders(include_variants=not args.no_variants)
    for message in skipped:
        print(message)
    results = measure(contenders, rounds=args.rounds, iterations=args.iterations)
    results.skipped = skipped
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results.to_json(), fh, indent=1)
    for line in machine_lines():
        print(line)
    shown = sys.argv[1:] if argv is None else list(argv)
    print("command: python -m benchmarks.inmemory " + " ".join(shown))
    for line in report_lines(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
