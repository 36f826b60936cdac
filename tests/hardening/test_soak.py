"""Soak: 100,000 requests, valid and hostile interleaved, against one server (not in the default run).

    WSGICORE_SOAK=1 python -m pytest tests/hardening/test_soak.py -s     # or: -m soak
    WSGICORE_SOAK_REQUESTS=20000 ...                                       # a shorter run
    WSGICORE_SOAK_DRIVER=asyncio ...                                       # default: simple_server_threading

Two client threads repeat rounds of: one keep-alive connection with 50 pipelined valid GETs and POSTs,
five hostile requests from the table (each on its own connection), one request to an app that
raises, and one client that goes away in the middle of a large response. At the end it prints (and
writes to ``$WSGICORE_SOAK_REPORT``, default ``/tmp/wsgicore-soak.json``) requests sent and served,
responses by status, errors by kind, fd count and RSS at start and end, and asserts that nothing
unexpected happened, that no descriptor leaked and that RSS stayed bounded.
"""

from __future__ import annotations

import collections
import json
import os
import random
import socket
import threading
import time
from typing import Any

import pytest

from . import _servers
from ._util import fd_count, parse_responses, rss_bytes, send_raw, soak_enabled, wait_until
from .hostile_table import HOSTILE_CASES

pytest.importorskip("wsgicore")
pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not _servers.available(), reason=_servers.skip_reason()),
]

TOTAL = int(os.environ.get("WSGICORE_SOAK_REQUESTS", "100000"))
TIME_LIMIT = float(os.environ.get("WSGICORE_SOAK_SECONDS", "1200"))
DRIVER = os.environ.get("WSGICORE_SOAK_DRIVER", "simple_server_threading")
WORKERS = 2
PIPELINE = 50
#: Hostile cases that need no special config and are quick (no multi-second deadlines involved).
HOSTILE = [c for c in HOSTILE_CASES if not c.config and len(c.raw) < 70_000]


class SoakApp:
    def __init__(self) -> None:
        self.served = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            self.served += 1
        path = environ["PATH_INFO"]
        if path == "/raise":
            raise RuntimeError("soak: deliberate application error")
        if path == "/big":
            start_response("200 OK", [("Content-Length", str(256 * 65536))])
            return (b"b" * 65536 for _ in range(256))
        body = environ["wsgi.input"].read()
        payload = b"ok %s %d" % (path.encode(), len(body))
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(payload)))])
        return [payload]


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0
        self.statuses: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, str] = {}

    def add(self, sent: int = 0, status: str | None = None, error: str | None = None,
            example: str = "") -> None:
        with self.lock:
            self.sent += sent
            if status is not None:
                self.statuses[status] += 1
            if error is not None:
                self.errors[error] += 1
                self.examples.setdefault(error, example[:300])


def _pipelined_round(addr: tuple[str, int], rng: random.Random, stats: Stats) -> None:
    parts, expected = [], []
    for i in range(PIPELINE):
        if rng.random() < 0.3:
            body = b"p" * rng.randint(0, 2000)
            parts.append(b"POST /post%d HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n%s"
                         % (i, len(body), body))
            expected.append(b"ok /post%d %d" % (i, len(body)))
        else:
            parts.append(b"GET /get%d?x=%d HTTP/1.1\r\nHost: soak\r\n\r\n" % (i, rng.randint(0, 9)))
            expected.append(b"ok /get%d 0" % i)
    parts[-1] = parts[-1].replace(b"Host: soak\r\n", b"Host: soak\r\nConnection: close\r\n", 1)
    result = send_raw(addr, [b"".join(parts)], timeout=30.0, half_close=False)
    stats.add(sent=PIPELINE)
    parsed = parse_responses(result.data)
    bodies = [r.body for r in parsed.responses]
    for resp in parsed.responses:
        stats.add(status=str(resp.status))
    if bodies != expected:
        stats.add(error="pipelined: wrong responses", example=repr(result)[:300])


def _hostile_round(addr: tuple[str, int], rng: random.Random, stats: Stats) -> None:
    case = rng.choice(HOSTILE)
    result = send_raw(addr, [case.raw], timeout=10.0)
    stats.add(sent=1 + case.before)
    finals = [r for r in parse_responses(result.data).responses if r.status >= 200]
    outcome: int | str = finals[-1].status if len(finals) == case.before + 1 else "close"
    for resp in finals:
        stats.add(status=str(resp.status))
    if outcome not in (case.expect, *case.alt) or result.timed_out:
        stats.add(error=f"hostile {case.name}: got {outcome}", example=repr(result)[:300])


def _faulty_round(addr: tuple[str, int], stats: Stats) -> None:
    result = send_raw(addr, [b"GET /raise HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"])
    stats.add(sent=1)
    statuses = [r.status for r in parse_responses(result.data).responses]
    for status in statuses:
        stats.add(status=str(status))
    if statuses != [500]:
        stats.add(error="faulty app: not a 500", example=repr(result)[:300])


def _abort_round(addr: tuple[str, int], stats: Stats) -> None:
    stats.add(sent=1)
    try:
        with socket.create_connection(addr, timeout=10) as sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: soak\r\n\r\n")
            sock.recv(65536)
    except OSError as exc:
        stats.add(error=f"abort round: {type(exc).__name__}", example=str(exc))
    stats.add(status="aborted-by-client")


@pytest.mark.soak
def test_soak(request: pytest.FixtureRequest) -> None:
    if not soak_enabled(request.config):
        pytest.skip("soak test: run with -m soak or WSGICORE_SOAK=1")
    app = SoakApp()
    stats = Stats()
    with _servers.serve(app, driver=DRIVER, keep_alive=True, head_timeout=5.0,
                        io_timeout=5.0, keep_alive_timeout=5.0, linger_timeout=0.5) as addr:
        assert send_raw(addr, [b"GET /warm HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"]).data
        time.sleep(0.2)
        start = {"fds": fd_count(), "rss_bytes": rss_bytes(), "time": time.monotonic()}
        deadline = start["time"] + TIME_LIMIT

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            rounds = 0
            while stats.sent < TOTAL and time.monotonic() < deadline:
                try:
                    _pipelined_round(addr, rng, stats)
                    for _ in range(5):
                        _hostile_round(addr, rng, stats)
                    _faulty_round(addr, stats)
                    if rounds % 4 == 0:
                        _abort_round(addr, stats)
                except OSError as exc:
                    stats.add(error=f"client {type(exc).__name__}", example=str(exc))
                rounds += 1

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIME_LIMIT + 60)
        elapsed = time.monotonic() - start["time"]
        wait_until(lambda: fd_count() <= start["fds"], 10.0, 0.1)
        end = {"fds": fd_count(), "rss_bytes": rss_bytes()}
        final = parse_responses(send_raw(addr, [b"GET /final HTTP/1.1\r\nHost: soak\r\n"
                                                b"Connection: close\r\n\r\n"]).data)
    report = {
        "driver": DRIVER,
        "requests_sent": stats.sent,
        "requests_reaching_app": app.served,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(stats.sent / elapsed),
        "responses_by_status": dict(sorted(stats.statuses.items())),
        "errors_by_kind": dict(stats.errors),
        "error_examples": stats.examples,
        "fds_start": start["fds"],
        "fds_end": end["fds"],
        "rss_start_mib": round(start["rss_bytes"] / 2**20, 1),
        "rss_end_mib": round(end["rss_bytes"] / 2**20, 1),
    }
    text = json.dumps(report, indent=2)
    print("\nSOAK REPORT\n" + text)
    with open(os.environ.get("WSGICORE_SOAK_REPORT", "/tmp/wsgicore-soak.json"), "w") as fh:
        fh.write(text + "\n")
    assert stats.sent >= TOTAL, f"only {stats.sent} requests in {TIME_LIMIT} s"
    assert not stats.errors, stats.examples
    assert [r.status for r in final.responses] == [200]
    assert end["fds"] <= start["fds"], "file descriptors leaked"
    assert end["rss_bytes"] - start["rss_bytes"] < 100 * 2**20, "RSS grew by more than 100 MiB"
