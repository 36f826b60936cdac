"""The benchmark's contender list, goals and command line agree with each other and with the
servers that ``benchmarks.servers`` can start (a key in one and not the other would only show up
as a skipped contender or an unmeasured goal in a long run)."""

from __future__ import annotations

import pytest
from benchmarks.__main__ import GOALS, parse_args
from benchmarks.harness import CONCURRENT, CONTENDERS, SCENARIOS
from benchmarks.servers import RUNNERS
from benchmarks.syscalls import SwitchDelta, Switches, merge, parse_strace_summary, switch_delta

KEYS = {c.key for c in CONTENDERS}


def test_every_contender_has_a_runner() -> None:
    assert set(RUNNERS) == KEYS


def test_goals_name_known_contenders_and_scenarios() -> None:
    scenarios = {s.key for s in SCENARIOS}
    for goal in GOALS:
        if goal.scenario in ("inmemory", "rss", "pinned") or ":" in goal.scenario:
            continue  # the unpinned scenarios' goals: tests/bench/test_production_benchmarks.py
        assert goal.scenario in scenarios, goal
        keys = {goal.ours} if goal.metric == "cpu-us" else {goal.ours, goal.peer}
        assert keys <= KEYS, goal
        assert goal.metric in ("rps", "cpu", "cpu-us"), goal
        assert goal.statistic in ("median", "min"), goal
        for key in keys:
            assert key not in next(s for s in SCENARIOS if s.key == goal.scenario).skip, goal


def test_caveats_name_known_scenarios() -> None:
    scenarios = {s.key for s in SCENARIOS}
    for spec in CONTENDERS:
        for key, text in spec.caveats:
            assert key in scenarios, spec
            assert text, spec


def test_granian_is_in_every_full_run() -> None:
    assert "granian" in parse_args([]).contenders
    assert "granian" in CONCURRENT
    spec = next(c for c in CONTENDERS if c.key == "granian")
    assert "--interface wsgi" in spec.note
    assert "--blocking-threads 1" in spec.note
    assert spec.caveat("file-1mib-ka")
    assert any(g.peer == "granian" and g.scenario == "hello-ka-10" for g in GOALS)


def test_contenders_option() -> None:
    args = parse_args(["--contenders", "wsgicore-threading, granian"])
    assert args.contenders == {"wsgicore-threading", "granian"}
    with pytest.raises(SystemExit):
        parse_args(["--contenders", "granian,nginx"])


STRACE_C = """\
strace: Process 123 attached with 3 threads
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 51.20    0.012000           6      2000           sendto
 40.10    0.009400           4      2001         1 recvfrom
  8.70    0.002040          17       120        30 futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.023440           5      4121        31 total
"""


def test_parse_strace_summary() -> None:
    rows = parse_strace_summary(STRACE_C)
    assert [(r.name, r.calls, r.errors) for r in rows] == [
        ("recvfrom", 2001, 1), ("sendto", 2000, 0), ("futex", 120, 30)]
    assert parse_strace_summary("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n") == []


def test_switch_delta_keeps_ended_threads_and_counts_new_ones_from_zero() -> None:
    before = Switches({(1, 1): 10, (1, 2): 5}, {(1, 1): 1, (1, 2): 0})
    # Thread 2 ends after a reading at 7, thread 3 is born during the load and ends at 4.
    during = merge(before, Switches({(1, 1): 20, (1, 2): 7, (1, 3): 4}, {(1, 1): 1, (1, 2): 0, (1, 3): 1}))
    final = Switches({(1, 1): 30}, {(1, 1): 2})
    assert switch_delta(before, merge(during, final), final) == SwitchDelta(
        voluntary=20 + 2 + 4, involuntary=1 + 0 + 1, threads=3, ended=2)


def test_goal_values_follow_their_metric() -> None:
    from benchmarks.__main__ import Goal, goal_value, held_value

    class FakeSample:
        def __init__(self, rps: float, cpu_us: float) -> None:
            self.rps = rps
            self.cpu_us = cpu_us

    class FakeRun:
        samples = {"hello-ka-1": {"a": [FakeSample(100, 50), FakeSample(80, 40)],
                                  "b": [FakeSample(50, 100), FakeSample(80, 20)]}}
        inmemory = None

        def rps(self, scenario: str, key: str) -> list[float]:
            return [x.rps for x in self.samples[scenario][key]]

    run = FakeRun()
    rps = goal_value(run, Goal("t", "hello-ka-1", "a", "b", 1.0, True))  # type: ignore[arg-type]
    assert rps is not None
    assert (rps.minimum, rps.maximum) == (1.0, 2.0)
    cpu = goal_value(run, Goal("t", "hello-ka-1", "a", "b", 1.3, False, "cpu"))  # type: ignore[arg-type]
    assert cpu is not None
    assert (cpu.minimum, cpu.maximum) == (0.5, 2.0)
    absolute = goal_value(run, Goal("t", "hello-ka-1", "a", "", 30, False, "cpu-us"))  # type: ignore[arg-type]
    assert absolute is not None
    assert absolute.median == 45
    worst = Goal("t", "hello-ka-1", "a", "b", 0.8, True, "rps", "min")
    assert held_value(worst, rps) == 1.0
