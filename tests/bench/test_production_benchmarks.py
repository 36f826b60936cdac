"""The benchmark helpers of issue 23: the multi-core and behind-nginx scenarios' goals, their
nginx configuration and load parsing, the report written into docs/performance.md, and the
baseline revision the no-regression goal runs side by side with the current code."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks import multicore, nginx, pidload
from benchmarks.__main__ import GOALS, PARTS, Goal, goal_value, parse_args, regressions
from benchmarks.docs_results import BEGIN, END, previous_revision, write_between_markers
from benchmarks.harness import CONTENDERS, ServerProcess, baseline_spec, export_source, server_key

ROOT = Path(__file__).resolve().parents[2]


def test_new_goals_name_known_scenarios_and_contenders() -> None:
    multicore_keys = {d.key for d in multicore.contenders()}
    nginx_keys = {d.key for d in nginx.contenders()}
    scenarios = {s.key for s in multicore.SCENARIOS}
    by_metric: dict[str, list[Goal]] = {}
    for goal in GOALS:
        by_metric.setdefault(goal.metric, []).append(goal)
        if goal.scenario.startswith("multicore:"):
            assert (goal.metric, goal.statistic) == ("workers", "min"), goal
            assert goal.scenario.split(":", 1)[1] in scenarios, goal
            assert goal.ours in multicore_keys, goal
            assert goal.ours not in multicore.SINGLE_PROCESS, goal
        if goal.scenario.startswith("nginx:"):
            assert goal.scenario.split(":", 1)[1] in nginx.MODES, goal
            assert {goal.ours, goal.peer} <= nginx_keys, goal
    # Issue 23: both worker classes, keep-alive and new connections, 16 and 64 clients, worst run.
    assert {(g.ours, g.scenario) for g in by_metric["workers"]} == {
        (w, f"multicore:{s}") for w in ("threadworker", "asyncioworker")
        for s in ("ka-16", "ka-64", "new-16", "new-64")}
    assert all(g.target == 1.7 for g in by_metric["workers"])
    assert len(by_metric["regression"]) == 1


def test_restated_goals() -> None:
    """Issue 23 item 5: CPU per request against the raw socket, downloads against raw-blocks,
    keep-alive 1 client against waitress in every round."""
    titles = {g.title: g for g in GOALS}
    cpu = titles["keep-alive, 1 client, server CPU per request ours/raw socket"]
    assert (cpu.metric, cpu.peer, cpu.target, cpu.higher_is_better) == ("cpu", "raw", 1.6, False)
    waitress = titles["keep-alive, 1 client, req/s ours/waitress, worst round"]
    assert (waitress.statistic, waitress.target) == ("min", 1.0)
    downloads = [g for g in GOALS if g.scenario in ("gen-1mib-ka", "file-1mib-ka") and g.ours ==
                 "wsgicore-keepalive"]
    assert len(downloads) == 4
    assert all(g.peer == "raw-blocks" for g in downloads)


class _Run:
    """What goal_value and regressions read of a run."""

    def __init__(self, mc: multicore.Results | None = None, nx: nginx.Results | None = None) -> None:
        self.multicore = mc
        self.nginx = nx
        self.samples: dict[str, dict[str, list[Any]]] = {}
        self.inmemory = None

    def rps(self, scenario: str, contender: str) -> list[float]:
        return [s.rps for s in self.samples.get(scenario, {}).get(contender, [])]


def _sample(run: int, workers: int, rps: float) -> multicore.Sample:
    return multicore.Sample(run, workers, rps, 0, 0, {}, {}, {}, [], 0.0, "")


def test_multicore_goal_holds_the_worst_run() -> None:
    results = multicore.Results(runs=3, duration=1)
    for run, (one, two) in enumerate([(500, 1000), (500, 450), (400, 800)]):
        results.add("ka-16", "threadworker", _sample(run, 1, one))
        results.add("ka-16", "threadworker", _sample(run, 2, two))
    assert results.ratios("ka-16", "threadworker") == [2.0, 0.9, 2.0]
    goal = next(g for g in GOALS if g.scenario == "multicore:ka-16" and g.ours == "threadworker")
    value = goal_value(_Run(mc=results), goal)  # type: ignore[arg-type]
    assert value is not None
    assert value.minimum == 0.9
    lines = "\n".join(multicore.report_lines(results))
    assert "| 2.00 0.90 2.00 | 0.90 |" in lines


def test_multicore_results_round_trip_json() -> None:
    results = multicore.Results(runs=1, duration=1)
    results.add("new-64", "sync", multicore.Sample(0, 2, 10.0, 1, 0, {"12": 5}, {"12": 3}, {"12": 0.5},
                                                   [12], 0.1, "1 1 1"))
    again = multicore.Results.from_json(results.to_json())
    assert again.samples == results.samples


def test_nginx_goals_pair_rounds() -> None:
    results = nginx.Results(rounds=2, duration=1)
    results.rps = {"keepalive": {"threadworker": [300.0, 200.0], "gthread": [100.0, 200.0]}}
    goal = next(g for g in GOALS if g.scenario == "nginx:keepalive" and g.ours == "threadworker"
                and g.peer == "gthread")
    value = goal_value(_Run(nx=results), goal)  # type: ignore[arg-type]
    assert value is not None
    assert (value.minimum, value.median, value.maximum) == (1.0, 2.0, 3.0)
    assert goal_value(_Run(), goal) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", nginx.MODES)
def test_nginx_config(tmp_path: Path, mode: str) -> None:
    text = nginx.nginx_config(tmp_path, 8123, "unix:/tmp/x.sock", mode)
    assert "worker_processes 1;" in text
    assert "listen 127.0.0.1:8123;" in text
    assert "server unix:/tmp/x.sock;" in text
    # Every path nginx writes is inside the directory.
    for directive in ("pid", "error_log", "client_body_temp_path", "proxy_temp_path",
                      "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path"):
        line = next(x.strip() for x in text.splitlines() if x.strip().startswith(directive + " "))
        assert line.split()[1].startswith(str(tmp_path)), line
    pooled = ("keepalive 64;" in text, "proxy_http_version 1.1;" in text,
              'proxy_set_header Connection "";' in text)
    assert pooled == ((True,) * 3 if mode == "keepalive" else (False,) * 3)
    assert ("user " in text) == (os.geteuid() == 0)
    assert text.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 3
    with pytest.raises(ValueError, match="mode"):
        nginx.nginx_config(tmp_path, 8123, "127.0.0.1:1", "http2")


WRK_OUTPUT = """\
Running 4s test @ http://127.0.0.1:4000/cpu
  1 threads and 16 connections
  3214 requests in 4.00s, 400.00KB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:    803.50
Transfer/sec:    100.00KB
served-by 1234 2000
served-by 1240 1210
served-by status-503 4
"""


def test_wrk_output_with_pid_counts() -> None:
    load = pidload._parse(WRK_OUTPUT, 4.0, {1234: 10, 1240: 6}, {1234: 0.9}, others=0.2, loadavg="1 1 1")
    assert (load.rps, load.requests, load.errors, load.non_2xx) == (803.5, 3214, 3, 4)
    assert load.served == {"1234": 2000, "1240": 1210, "status-503": 4}
    assert load.served_share() == [2000 / 3210, 1210 / 3210]
    failed = pidload._parse("unable to connect", 1.0, {}, {}, others=-1.0, loadavg="")
    assert (failed.rps, failed.errors) == (0.0, 1)


def test_write_between_markers(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text(f"# Performance\n\nprose before\n\n{BEGIN}\nold results\n{END}\n\nprose after\n")
    assert write_between_markers(page, "# wsgicore benchmark results\n\n| a | b |\n")
    assert page.read_text() == (f"# Performance\n\nprose before\n\n{BEGIN}\n# wsgicore benchmark results"
                                f"\n\n| a | b |\n{END}\n\nprose after\n")
    # Idempotent: a second write gives the same page.
    assert write_between_markers(page, "# wsgicore benchmark results\n\n| a | b |\n")
    assert page.read_text().count(BEGIN) == 1


@pytest.mark.parametrize("text", ["no markers here\n", f"{END}\nreversed\n{BEGIN}\n", f"{BEGIN} only\n"])
def test_pages_without_both_markers_are_left_alone(tmp_path: Path, text: str) -> None:
    page = tmp_path / "performance.md"
    page.write_text(text)
    before = page.stat().st_mtime_ns
    assert not write_between_markers(page, "results")
    assert page.read_text() == text
    assert page.stat().st_mtime_ns == before


def test_missing_page_is_not_created(tmp_path: Path) -> None:
    assert not write_between_markers(tmp_path / "performance.md", "results")
    assert not (tmp_path / "performance.md").exists()


RESULTS_MD = """\
# wsgicore benchmark results

- python: CPython 3.11.7
- wsgicore revision: 67b02ea (+ uncommitted changes in src)
- load generator: wrk
"""


def test_the_baseline_is_the_revision_the_last_full_run_measured(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS_MD)
    assert previous_revision(path) == "67b02ea"
    path.write_text(RESULTS_MD.replace("- wsgicore revision:", "- revision:"))
    assert previous_revision(path) is None
    assert previous_revision(tmp_path / "missing.md") is None
    assert parse_args(["--baseline", "abc1234"]).baseline == "abc1234"
    assert parse_args(["--quick"]).baseline == "none"


class _Sample:
    def __init__(self, rps: float) -> None:
        self.rps = rps


def test_regressions_pair_ours_with_the_baseline_round_by_round() -> None:
    run = _Run()
    # Round by round: 1.10, 0.90, 0.80 now/then; the machine's pace changes between rounds, and
    # the pairs see the same pace. A contender without a baseline (waitress) is not compared.
    run.samples = {"hello-ka-1": {
        "wsgicore-keepalive": [_Sample(11_000), _Sample(9_000), _Sample(12_000)],
        "wsgicore-keepalive@base": [_Sample(10_000), _Sample(10_000), _Sample(15_000)],
        "waitress": [_Sample(1.0)], "waitress@base": [_Sample(2.0)]}}
    found = regressions(run)  # type: ignore[arg-type]
    assert found == [("wsgicore (keep-alive)", "hello, keep-alive, 1 client", 0.9)]
    run.samples["hello-ka-1"]["wsgicore-keepalive@base"].pop()  # unpaired: not compared
    assert regressions(run) == []  # type: ignore[arg-type]


def test_a_baseline_server_runs_the_other_revisions_code(tmp_path: Path) -> None:
    # The baseline's src comes from git (git archive) and is imported before the installed one.
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if head.returncode != 0:
        pytest.skip("not a git checkout")  # a source tarball: no revisions to export
    src = export_source(head.stdout.strip(), tmp_path / "base")
    assert (src / "wsgicore" / "__init__.py").is_file()
    spec = baseline_spec(next(c for c in CONTENDERS if c.key == "wsgicore-keepalive"), "abc1234")
    assert (spec.key, server_key(spec.key)) == ("wsgicore-keepalive@base", "wsgicore-keepalive")
    assert spec.label == "wsgicore (keep-alive) @ abc1234"
    # Marked so that its responses tell which code answered (the Server header names the version).
    (src / "wsgicore" / "_version.py").write_text('__all__ = ["__version__"]\n__version__ = "0.0.0+base"\n')
    server = ServerProcess(spec, tmp_path, src=src)
    server.start()
    try:
        assert server.wait_ready(timeout=30) is None
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/hello")
        assert connection.getresponse().getheader("Server", "").startswith("wsgicore/0.0.0+base ")
        connection.close()
    finally:
        server.stop()


def test_only_chooses_parts_and_a_partial_output() -> None:
    args = parse_args(["--only", "multicore,nginx"])
    assert args.only == ["multicore", "nginx"]
    assert args.output.endswith("RESULTS-partial.md")
    full = parse_args([])
    assert full.only == list(PARTS)
    assert Path(full.output).name == "RESULTS.md"
    assert parse_args(["--quick"]).only == ["inmemory", "pinned", "rss"]
    assert parse_args(["--no-rss", "--only", "pinned,rss"]).only == ["pinned"]
    with pytest.raises(SystemExit):
        parse_args(["--only", "everything"])


def test_deployments_are_described_as_a_user_types_them() -> None:
    threadworker = next(d for d in multicore.contenders() if d.key == "threadworker")
    assert threadworker.with_workers(2).describe().startswith(
        "gunicorn -k wsgidrivers.gunicorn.ThreadWorker -w 2 --threads 4 ")
    waitress = next(d for d in nginx.contenders() if d.key == "waitress")
    assert waitress.describe() == "waitress --threads=8"


@pytest.mark.parametrize("module", ["benchmarks.multicore", "benchmarks.nginx", "benchmarks.accepts"])
def test_new_entry_points_start(module: str) -> None:
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}"), result.stdout[:200]


def test_accepts_counts_every_connection_once(capsys: pytest.CaptureFixture[str]) -> None:
    """A real two-worker gunicorn: the split printed covers every connection."""
    pytest.importorskip("gunicorn")
    from benchmarks import accepts

    assert accepts.main(["--server", "threadworker", "--connections", "6", "--trials", "1"]) == 0
    split = capsys.readouterr().out.splitlines()[-1].strip()
    counts = [int(x) for x in split.strip("[]").split(",")]
    assert len(counts) == 2
    assert sum(counts) == 6
