"""Faulty applications (see ``faulty_apps.py``), in memory and over real sockets.

For each: the documented response (500 before the headers, a cut-off response after), exactly one
problem report with the traceback, ``close()`` called exactly once, and the server still serving.
These checks never rely on ``assert`` inside the server (``test_optimize_mode.py`` reruns the
in-memory part under ``python -O``).
"""

from __future__ import annotations

import io
import os
import sys
import time
from typing import Any

import pytest

from . import _servers
from ._memory import run_connection
from ._util import parse_responses, send_raw, wait_until
from .faulty_apps import FAULTY_APPS, FaultyApp, Tracker
from .hostile_table import VALID_FOLLOW_UP

wsgicore = pytest.importorskip("wsgicore")
memory = pytest.importorskip("wsgidrivers.memory")

TRACEBACK = "Traceback (most recent call last)"
IDS = [c.name for c in FAULTY_APPS]


def _methods(case: FaultyApp) -> list[str]:
    return ["HEAD" if line.startswith(b"HEAD ") else "GET"
            for line in case.request.split(b"\r\n") if b" HTTP/1." in line]


def grade_faulty(case: FaultyApp, out: bytes, tracker: Tracker) -> list[str]:
    """Problems with the server's output for ``case`` (report counts are checked separately)."""
    problems: list[str] = []
    parsed = parse_responses(out, _methods(case))
    finals = [r for r in parsed.responses if r.status >= 200]
    if not finals:
        return [f"no response at all: {out[:200]!r}"]
    first = finals[0]
    if case.kind == "500":
        if first.status != 500 or not first.complete:
            problems.append(f"expected a complete 500, got {first.status} complete={first.complete}")
        if parsed.error or parsed.rest:
            problems.append(f"garbage after the 500: {parsed.error} {parsed.rest[:80]!r}")
    elif case.kind == "abort":
        if first.status != case.status:
            problems.append(f"expected the app's {case.status} (headers already sent), got "
                            f"{first.status}")
        if first.complete and not parsed.error:
            problems.append("an aborted response looks complete: the client cannot tell")
        if len(finals) != 1:
            problems.append(f"{len(finals)} responses after an abort: the connection must close")
    elif case.kind in ("ok", "ok_or_500"):
        allowed = (case.status, 500) if case.kind == "ok_or_500" else (case.status,)
        if first.status not in allowed or not first.complete:
            problems.append(f"expected a complete {allowed}, got {first.status} "
                            f"complete={first.complete}")
        if first.status == case.status and first.status in (204, 304) and first.body:
            problems.append(f"{first.status} with a body")
        if parsed.error or parsed.rest:
            problems.append(f"bytes after the response(s): {parsed.error} {parsed.rest[:80]!r}")
        if case.kind == "ok" and len(finals) != case.responses:
            problems.append(f"{len(finals)} responses, expected {case.responses}")
    for needle in case.forbidden:
        if needle in out:
            problems.append(f"forbidden bytes {needle!r} reached the wire")
    if case.closes is not None and tracker.created != case.closes:
        problems.append(f"the app returned {tracker.created} iterables, expected {case.closes}")
    if tracker.closes != tracker.created:
        problems.append(f"close() called {tracker.closes} times for {tracker.created} iterables")
    for seen in tracker.seen:
        if isinstance(seen, str) and "smuggled" in seen:
            problems.append("a request hidden in an unread body reached the application")
    if case.name.startswith("read_input_past_end") and tracker.seen:
        parts = tracker.seen[0]
        want = [b"hello", b"", b"", b"", b"", b"", b"", b""] if b"hello" in case.request else \
            [b""] * 8
        if parts != want:
            problems.append(f"wsgi.input past the end gave {parts!r}, expected {want!r}")
    return problems


@pytest.mark.parametrize("case", FAULTY_APPS, ids=IDS)
def test_faulty_app_in_memory(case: FaultyApp) -> None:
    config = wsgicore.Config(clock=None)
    # 1. Our own loop with on_problem: exact report count.
    tracker = Tracker()
    reports: list[Any] = []
    errors = io.StringIO()
    out = run_connection(case.make(tracker), [case.request], config=config,
                         on_problem=reports.append, errors=errors)
    problems = grade_faulty(case, out, tracker)
    if case.reports is not None and len(reports) != case.reports:
        problems.append(f"{len(reports)} problem reports, expected {case.reports}: {reports}")
    if case.reports is None and case.kind == "abort" and not reports:
        problems.append("an aborted response was not reported")
    for report in reports:
        if not isinstance(report, wsgicore.Problem) or not report.message:
            problems.append(f"bad report {report!r}")
    if errors.getvalue() and case.reports is not None:
        problems.append(f"on_problem given, yet wsgi.errors got text: {errors.getvalue()[:200]!r}")
    assert not problems, f"{case.name}: {problems}\noutput: {out[:400]!r}"

    # 2. memory.exchange without on_problem: the reports go to wsgi.errors, with the traceback.
    tracker = Tracker()
    errors = io.StringIO()
    out2 = memory.exchange(case.make(tracker), case.request, config=config, errors=errors)
    assert out2 == out, "exchange() and the documented loop disagree"
    text = errors.getvalue()
    with_traceback = sum(1 for r in reports if r.exc_info is not None)
    if case.reports is not None:
        assert text.count(TRACEBACK) == with_traceback, text
        assert bool(text) == bool(case.reports), text
    assert not grade_faulty(case, out2, tracker)

    # 3. The same connection object keeps its promises afterwards: a fresh exchange is served.
    fresh = memory.exchange(case.make(Tracker()), case.request, config=config,
                            errors=io.StringIO())
    assert fresh == out


def test_assert_statements_are_live() -> None:
    """Under ``python -O`` pytest still rewrites the asserts of test modules; make sure of it, so the
    -O run in ``test_optimize_mode.py`` really checks something."""
    try:
        assert False, "live"  # noqa: PT015
    except AssertionError:
        pass
    else:  # pragma: no cover
        pytest.fail("assert statements are stripped in this test module")
    if os.environ.get("WSGICORE_EXPECT_OPTIMIZE"):
        assert sys.flags.optimize >= 1


# ------------------------------------------------------------------------------------------
# Over sockets
# ------------------------------------------------------------------------------------------


class _Switch:
    """One server for all cases: the app under test is swapped per case."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module", params=_servers.DRIVERS)
def faulty_server(request: pytest.FixtureRequest) -> Any:
    if not _servers.available():
        pytest.skip(_servers.skip_reason())
    switch = _Switch()
    with _servers.serve(switch, driver=request.param, keep_alive=True) as addr:
        yield addr, switch


def _follow_up(addr: tuple[str, int], switch: _Switch) -> bytes:
    def ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    switch.app = ok
    return send_raw(addr, [VALID_FOLLOW_UP], half_close=False).data


@pytest.mark.parametrize("case", FAULTY_APPS, ids=IDS)
def test_faulty_app_over_socket(faulty_server: Any, case: FaultyApp,
                                capsys: pytest.CaptureFixture[str],
                                caplog: pytest.LogCaptureFixture) -> None:
    addr, switch = faulty_server
    tracker = Tracker()
    switch.app = case.make(tracker)
    capsys.readouterr()
    caplog.clear()
    result = send_raw(addr, [case.request], timeout=5.0)
    # close() runs after the last byte is sent: give the server thread a moment to get there.
    wanted = case.closes
    if wanted is not None:
        wait_until(lambda: tracker.closes >= wanted, 2.0)
    time.sleep(0.05)
    problems = grade_faulty(case, result.data, tracker)
    if result.timed_out:
        problems.append("the server neither finished the response nor closed the connection")
    logged = capsys.readouterr().err + caplog.text
    tracebacks = logged.count(TRACEBACK)
    # The same case in memory tells how many reports carry a traceback; the driver must log each
    # of them exactly once (one report per fault, not zero, not several).
    reports: list[Any] = []
    run_connection(case.make(Tracker()), [case.request], config=wsgicore.Config(clock=None),
                   on_problem=reports.append)
    expected_tracebacks = sum(1 for r in reports if r.exc_info is not None)
    if case.reports is not None and tracebacks != expected_tracebacks:
        problems.append(f"{tracebacks} tracebacks logged, expected {expected_tracebacks}: "
                        f"{logged[:600]}")
    if case.reports and not logged.strip():
        problems.append("the fault was not logged")
    assert not problems, f"{case.name}: {problems}\n{result}"
    follow = parse_responses(_follow_up(addr, switch))
    assert [r.status for r in follow.responses] == [200], "the server stopped serving"
