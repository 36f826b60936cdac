"""The request corpus (tests/corpus/requests, or $WSGICORE_CORPUS), graded as its
README says, through wsgidrivers.memory.exchange: whole, at 20 seeded random splits, byte by byte.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from pathlib import Path
from typing import Any

import pytest
from core_support import (
    MalformedResponse,
    final_responses,
    load_manifest,
    reading_app,
    split_at,
)

from support.corpus import CORPUS_ENV

CORPUS, MANIFEST = load_manifest()
MODES = ["whole", "splits", "bytewise"]


def _params() -> list[Any]:
    if CORPUS is None:
        return [
            pytest.param(
                None,
                mode,
                marks=pytest.mark.skip(
                    reason="request corpus not found: expected tests/corpus/requests in the "
                    f"repository, or set ${CORPUS_ENV} to its directory"
                ),
                id=f"corpus-missing-{mode}",
            )
            for mode in MODES
        ]
    return [
        pytest.param(case, mode, id=f"{case['kind']}/{case['name']}-{mode}")
        for case in MANIFEST
        for mode in MODES
    ]


def ways(name: str, data: bytes, mode: str) -> list[list[bytes]]:
    if mode == "whole":
        return [[data]]
    if mode == "bytewise":
        return [[data[i : i + 1] for i in range(len(data))]]
    rng = random.Random(zlib.crc32(name.encode()))  # fixed seed per case
    result = []
    for _ in range(20):
        k = min(rng.randint(1, 6), max(1, len(data) - 1))
        result.append(split_at(data, rng.sample(range(1, max(2, len(data))), k)))
    return result


def grade(case: dict[str, Any], out: bytes, calls: list[tuple[dict[str, Any], bytes]]) -> None:
    expect = case["expect"]
    status = expect["status"]
    if status == "close":
        assert out == b"", f"expected a silent close, got {out[:200]!r}"
        return
    try:
        responses = final_responses(out)
    except MalformedResponse as exc:
        raise AssertionError(f"malformed output {out[:300]!r}") from exc
    assert responses, "no response"
    if status == 200 and responses[0].status == 200:
        wanted = case["expect_requests"]
        assert len(calls) == len(wanted), f"app called {len(calls)} times, expected {len(wanted)}"
        # then_status: a later pipelined request on the kept connection is refused (and closes).
        then = [expect["then_status"]] if "then_status" in expect else []
        assert [r.status for r in responses] == [200] * len(wanted) + then
        if then:
            assert responses[-1].connection_close, "an error response must say Connection: close"
        for (environ, body), want in zip(calls, wanted, strict=True):
            assert environ["REQUEST_METHOD"] == want["method"]
            assert environ["PATH_INFO"] == want["path_info"]
            assert environ.get("QUERY_STRING", "") == want["query_string"]
            assert environ["SERVER_PROTOCOL"] == want["server_protocol"]
            headers = {
                k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))
            }
            assert headers == want["headers"]
            assert body.hex() == want["body_hex"]
        return
    allowed = [status, *expect.get("alt_status", [])]
    first = responses[0]
    assert first.status in allowed, f"status {first.status}, expected one of {allowed}"
    assert len(responses) == 1, "the connection must close after the error response"
    if first.status != 200:
        assert first.connection_close, "an error response must say Connection: close"
        # README: "body and eof-body mean the head was valid, so the app may already have been
        # called"; a primary 200 that ended in an alt_status error also reached the app.
        app_may_run = expect.get("phase") in ("body", "eof-body") or status == 200
        if not app_may_run:
            assert calls == [], "the app must not be called for a bad head"


@pytest.mark.parametrize(("case", "mode"), _params())
def test_corpus_case(case: dict[str, Any], mode: str) -> None:
    from wsgicore import Config
    from wsgidrivers.memory import exchange

    # No clock: no Date header, so outputs can be compared byte for byte.
    config = Config(clock=None)
    assert CORPUS is not None
    data = (Path(CORPUS) / case["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["sha256"], "corpus file changed"
    outputs = {exchange(reading_app([]), data, config=config)}
    for pieces in ways(f"{case['kind']}/{case['name']}", data, mode):
        assert b"".join(pieces) == data
        calls: list[tuple[dict[str, Any], bytes]] = []
        out = exchange(reading_app(calls), pieces, config=config)
        grade(case, out, calls)
        outputs.add(out)
    # Every way of sending gives the same bytes back as sending it whole.
    assert len(outputs) == 1


def test_corpus_size() -> None:
    if CORPUS is None:
        pytest.skip(f"request corpus not found (set ${CORPUS_ENV})")
    assert len(MANIFEST) == 129
