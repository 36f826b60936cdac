"""The hostile-request table and the shared corpus over real loopback sockets.

For every hostile case: a fresh connection gets the raw bytes (whole, then at random split points for
small cases), half-closes, and must see the table's outcome; then the *same* server must answer a
valid request on a new connection. The corpus is run the way its README asks: whole, 20 random
splittings and byte by byte, each on a fresh connection.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

from . import _servers
from ._util import (
    RecordingApp,
    grade_corpus,
    grade_hostile,
    load_corpus,
    parse_responses,
    random_splits,
    send_raw,
)
from .hostile_table import HOSTILE_CASES, VALID_FOLLOW_UP, HostileCase

pytest.importorskip("wsgicore")
pytestmark = pytest.mark.skipif(not _servers.available(), reason=_servers.skip_reason())

CORPUS = load_corpus()


class _ServerPool:
    """One server per (driver, config overrides), shared by the cases of this module."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.servers: dict[str, tuple[tuple[str, int], RecordingApp]] = {}

    def get(self, driver: str, overrides: dict[str, Any]) -> tuple[tuple[str, int], RecordingApp]:
        key = driver + repr(sorted(overrides.items()))
        if key not in self.servers:
            app = RecordingApp()
            addr = self.stack.enter_context(
                _servers.serve(app, overrides, driver=driver, keep_alive=True))
            self.servers[key] = (addr, app)
        return self.servers[key]


@pytest.fixture(scope="module")
def pool() -> Iterator[_ServerPool]:
    pool = _ServerPool()
    with pool.stack:
        yield pool


def _follow_up_ok(addr: tuple[str, int]) -> list[str]:
    result = send_raw(addr, [VALID_FOLLOW_UP], half_close=False)
    parsed = parse_responses(result.data)
    finals = [r for r in parsed.responses if r.status >= 200]
    if len(finals) != 1 or finals[0].status != 200 or finals[0].body != b"ok /f":
        return [f"follow-up request not served: {result}"]
    return []


@pytest.mark.parametrize("driver", _servers.DRIVERS)
@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c.name for c in HOSTILE_CASES])
def test_hostile_request_over_socket(pool: _ServerPool, case: HostileCase, driver: str) -> None:
    addr, app = pool.get(driver, case.config)
    rng = random.Random(case.name)
    modes: list[tuple[str, list[bytes]]] = [("whole", [case.raw])]
    if len(case.raw) <= 4096:
        modes += [(f"split{i}", random_splits(case.raw, rng)) for i in range(2)]
    for mode, pieces in modes:
        app.reset()
        result = send_raw(addr, pieces, pause=0.001 if len(pieces) > 1 else 0.0)
        problems = grade_hostile(case, result.data, app)
        if result.timed_out:
            problems.append("the server neither answered nor closed within the time limit")
        assert not problems, f"{case.name} sent {mode}: {problems}\n{result}"
        assert not _follow_up_ok(addr), "the server stopped serving after a hostile request"


@pytest.mark.skipif(not CORPUS, reason="request corpus not found (tests/corpus/requests)")
@pytest.mark.parametrize("driver", _servers.DRIVERS)
@pytest.mark.parametrize("entry", CORPUS, ids=[f"{e['kind']}/{e['name']}" for e in CORPUS])
def test_corpus_over_socket(pool: _ServerPool, entry: dict[str, Any], driver: str) -> None:
    addr, app = pool.get(driver, {})
    raw: bytes = entry["raw"]
    rng = random.Random(entry["name"])
    modes: list[tuple[str, list[bytes]]] = [("whole", [raw])]
    modes += [(f"split{i}", random_splits(raw, rng)) for i in range(20)]
    modes.append(("bytewise", [raw[i : i + 1] for i in range(len(raw))]))
    for mode, pieces in modes:
        app.reset()
        result = send_raw(addr, pieces, timeout=10.0)
        problems = grade_corpus(entry, result.data, app, buffered=True)
        if result.timed_out:
            problems.append("the server neither answered nor closed within the time limit")
        assert not problems, f"{entry['name']} sent {mode}: {problems}\n{result}"
    assert not _follow_up_ok(addr)


@pytest.mark.parametrize("driver", _servers.DRIVERS)
@pytest.mark.parametrize(("overrides", "raw", "statuses"), [
    ({"max_head_bytes": 1000}, b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 1500, [431]),
    ({"max_header_field": 100}, b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 150, [431]),
    ({"max_request_line": 100}, b"GET /" + b"a" * 150, [414]),
    # waitress's TooLargeTests (max_request_header_size=1000): the bytes after a short body are
    # the next request's line, unfinished and longer than the head may be.
    ({"max_head_bytes": 1000},
     b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n" + b"a" * 1050, [200, 431]),
], ids=["head", "field", "request-line", "request-line-after-a-body"])
def test_unfinished_line_over_a_limit_is_answered_without_eof_or_timeout(
    driver: str, overrides: dict[str, Any], raw: bytes, statuses: list[int]
) -> None:
    # The client neither ends the line nor half-closes: the refusal must come from the bytes
    # alone, long before the head deadline (waitress's suite: 431 at once, not a 408 later).
    app = RecordingApp()
    with _servers.serve(app, overrides, driver=driver, head_timeout=60.0, keep_alive=True) as addr:
        for pieces in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
            app.reset()
            result = send_raw(addr, pieces, half_close=False, timeout=20.0)
            responses = parse_responses(result.data).responses
            assert [r.status for r in responses] == statuses, result
            assert result.eof, result
            assert not result.timed_out, result
            assert app.calls == len(statuses) - 1
