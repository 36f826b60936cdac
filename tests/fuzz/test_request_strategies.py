"""The core against the public request strategies (wsgidrivers.testing.strategies): every valid
request and pipeline reaches the app intact, whole or split anywhere; every hostile request gets its
status before any app sees it, and the request smuggled after it is never parsed. Bounded and
derandomized like the rest of tests/fuzz (WSGICORE_FUZZ_EXAMPLES=N for a longer, random run)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsgicore import Config
from wsgidrivers.testing.strategies import (
    HostileRequest,
    HTTPRequest,
    check_hostile,
    check_valid,
    hostile_requests,
    pipelines,
    requests,
)

# Drawing a request costs more than serving it (~9 ms against ~0.3 ms here), so the default run
# is smaller than the raw-bytes fuzzers': a few seconds in all.
_EXAMPLES = int(os.environ.get("WSGICORE_FUZZ_EXAMPLES", "200"))
SETTINGS = settings(max_examples=_EXAMPLES, deadline=None, database=None,
                    derandomize="WSGICORE_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PIPELINE_SETTINGS = settings(SETTINGS, max_examples=max(20, _EXAMPLES // 4))
CUTS = st.lists(st.integers(0, 1 << 16), max_size=8)
# Small limits, so that every limit family is cheap to reach and max_body_bytes is on.
SMALL = Config(max_request_line=200, max_header_field=200, max_header_count=12, max_head_bytes=1200,
               max_body_bytes=64)


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["wsgi.input"].read()]


@SETTINGS
@given(requests(), CUTS)
def test_valid_requests_reach_the_app_intact(request: HTTPRequest, cuts: list[int]) -> None:
    responses = check_valid(app, request, cuts=cuts)
    expected = b"" if request.method == "HEAD" else request.body
    assert responses[0].content == expected


@PIPELINE_SETTINGS
@given(pipelines(max_size=5), CUTS)
def test_pipelines_reach_the_app_in_order(batch: list[HTTPRequest], cuts: list[int]) -> None:
    check_valid(app, batch, cuts=cuts)


@SETTINGS
@given(hostile_requests(), CUTS)
def test_hostile_requests_never_reach_the_app(request: HostileRequest, cuts: list[int]) -> None:
    check_hostile(app, request, cuts=cuts)


@SETTINGS
@given(hostile_requests(SMALL), CUTS)
def test_hostile_requests_under_small_limits(request: HostileRequest, cuts: list[int]) -> None:
    check_hostile(app, request, cuts=cuts)
