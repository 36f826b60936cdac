"""The strategies' own promises: every family is drawn and refused as stated, and the checkers fail
when a claim does not hold (a request altered on the way, a hostile request that gets through)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsgicore import Config
from wsgidrivers.testing.strategies import (
    HOSTILE_FAMILIES,
    ClaimFailed,
    HostileRequest,
    HTTPRequest,
    check_hostile,
    check_valid,
    hostile_requests,
    requests,
)

FEW = settings(max_examples=25, deadline=None, database=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.mark.parametrize("family", HOSTILE_FAMILIES)
def test_every_family_is_refused_with_its_status(family: str) -> None:
    seen: set[int] = set()

    @FEW
    @given(hostile_requests(Config(max_body_bytes=100), families=[family]))
    def check(request: HostileRequest) -> None:
        assert request.family.startswith(family.split("-", maxsplit=1)[0]) or family == "over-limit"
        seen.add(check_hostile(app, request).status_code)

    check()
    assert seen  # drawn at least once


def test_valid_requests_cover_every_framing_and_method_kind() -> None:
    found: dict[str, HTTPRequest] = {}

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(requests())
    def collect(request: HTTPRequest) -> None:
        found.setdefault(request.framing, request)
        if request.method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"):
            found.setdefault("extension method", request)
        if "%" in request.target:
            found.setdefault("percent-encoded", request)
        if b";" in request.raw.split(b"\r\n\r\n", 1)[-1]:
            found.setdefault("chunk extension", request)

    collect()
    assert set(found) >= {"none", "content-length", "chunked", "extension method", "percent-encoded",
                          "chunk extension"}


@given(requests())
@FEW
def test_check_valid_notices_a_request_altered_on_the_way(request: HTTPRequest) -> None:
    check_valid(app, request)
    with pytest.raises(ClaimFailed, match="body"):
        check_valid(app, dataclasses.replace(request, body=request.body + b"!"))
    with pytest.raises(ClaimFailed, match="PATH_INFO"):
        check_valid(app, dataclasses.replace(request, path=request.path + "x"))


def test_check_valid_notices_a_lost_request() -> None:
    batch = [HTTPRequest(b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET", "/a", "/a",
                         "", (("HTTP_HOST", "h"),), b"", "none"),
             HTTPRequest(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/b", "/b", "",
                         (("HTTP_HOST", "h"),), b"", "none")]
    with pytest.raises(ClaimFailed, match="2 valid requests sent, 1 reached the app"):
        check_valid(app, batch)


@given(st.data())
@FEW
def test_check_hostile_notices_a_request_that_gets_through(data: st.DataObject) -> None:
    valid = data.draw(requests())
    with pytest.raises(ClaimFailed, match=r"reached the app|accepted"):
        check_hostile(app, HostileRequest(valid.raw, "not hostile", 400))
    hostile = data.draw(hostile_requests())
    with pytest.raises(ClaimFailed, match="expected one 418"):
        check_hostile(app, dataclasses.replace(hostile, status=418))


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown hostile families"):
        hostile_requests(families=["cl-and-te", "nope"])
