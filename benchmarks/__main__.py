"""All the benchmarks in one run: ``python -m benchmarks [--quick]``; writes ``benchmarks/RESULTS.md``.

1. The in-memory core cycle (``benchmarks.inmemory``, in its own process pinned to CPU 1).
2. Real servers over loopback: each contender runs in its own process pinned to CPU 1
   (``benchmarks.servers``); the load generator (``wrk`` when installed, else
   ``benchmarks.loadclient``) runs pinned to CPU 0. Rounds are interleaved: every round runs every
   scenario against every contender, in a rotating order, so that the ratios ours/peer are paired
   round by round and both sides saw the same machine noise. Our contenders also run at the
   previous full run's revision (``--baseline``: its ``src`` from git, the same servers and apps),
   side by side in the same rounds: the no-regression goal compares the two paired, round by round,
   never with figures from another day.
3. Peak RSS of each server while it streams a 1 GiB upload and a 1 GiB download (VmHWM after the
   transfer minus VmRSS before it, with the high-water mark reset through /proc/<pid>/clear_refs).
4. Multi-core (``benchmarks.multicore``, nothing pinned): a CPU-bound app under -w 1 and -w 2 of
   each of our gunicorn workers and of the peers, a fresh start per run; the goals hold the worst run.
5. Behind nginx (``benchmarks.nginx``, nothing pinned): both upstream modes, our workers against
   gunicorn gthread and sync and waitress behind the same nginx.

``--only multicore,nginx`` (any of inmemory, pinned, rss, multicore, nginx) runs just those parts
and writes ``benchmarks/RESULTS-partial.md`` (git ignores it), so that a quick rerun of the new
scenarios never replaces the results of a full run. A full run also writes its report into
``docs/performance.md`` between the markers ``<!-- results:begin -->`` and ``<!-- results:end -->``.

Every loop is bounded in count and time; only 127.0.0.1 is ever connected to. A contender whose
package is missing (or whose driver has not landed yet) is skipped with a message.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import loadclient, multicore, nginx
from benchmarks._common import (
    REPO_ROOT,
    Summary,
    fmt,
    load_average,
    machine_lines,
    paired_ratios,
)
from benchmarks.apps import FILE_SIZE, MIB
from benchmarks.docs_results import DOCS_PATH, previous_revision, write_between_markers
from benchmarks.harness import (
    BASELINE_SUFFIX,
    CLIENT_CPU,
    CONTENDED,
    CONTENDERS,
    QUICK_CONTENDERS,
    QUICK_RSS_CONTENDERS,
    SCENARIOS,
    SERVER_CPU,
    ContenderSpec,
    LoadGenerator,
    LoadSample,
    ServerProcess,
    baseline_spec,
    export_source,
    have_taskset,
    module_available,
    pinned,
    proc_status,
    server_key,
)
from benchmarks.inmemory import GOAL_OURS_OVER_WSGIREF
from benchmarks.inmemory import Results as InMemoryResults
from benchmarks.servers import HOST

RESULTS_PATH = REPO_ROOT / "benchmarks" / "RESULTS.md"
QUICK_RESULTS_PATH = REPO_ROOT / "benchmarks" / "RESULTS-quick.md"
PARTIAL_RESULTS_PATH = REPO_ROOT / "benchmarks" / "RESULTS-partial.md"
#: The parts of a run ``--only`` chooses from, in the order they run.
PARTS = ("inmemory", "pinned", "rss", "multicore", "nginx")


@dataclass(frozen=True, slots=True)
class Goal:
    title: str
    scenario: str  # a Scenario key, "inmemory" or "rss"
    ours: str
    peer: str
    target: float
    higher_is_better: bool
    #: "rps": ours/peer req/s, paired by round; "cpu": ours/peer server CPU per request, paired;
    #: "cpu-us": ours' server CPU per request in µs (``peer`` unused); "workers": -w 2 / -w 1 req/s
    #: of ``ours`` run by run (``scenario`` "multicore:<key>"); "regression": over our contenders and
    #: pinned scenarios, the lowest median of req/s now / at the baseline revision, paired by round.
    metric: str = "rps"
    #: Which statistic over the rounds is held to the target: "median" or "min".
    statistic: str = "median"


def _rps(title: str, scenario: str, ours: str, peer: str, target: float, *, worst: bool = False) -> Goal:
    return Goal(title, scenario, ours, peer, target, True, "rps", "min" if worst else "median")


# Issue 15's goals for the asyncio driver: its server CPU per request within 1.3x the threading
# driver's on every scenario both run.
_ASYNCIO_CPU_SCENARIOS = (
    ("hello-new-1", "new connection, 1 client"),
    ("hello-new-10", "new connection, 10 clients"),
    ("hello-ka-1", "keep-alive, 1 client"),
    ("hello-ka-10", "keep-alive, 10 clients"),
    ("hello-new-50", "new connection, 50 clients"),
    ("hello-ka-50", "keep-alive, 50 clients"),
    ("gen-1mib-ka", "1 MiB download (generator)"),
    ("file-1mib-ka", "1 MiB download (file_wrapper)"),
    ("upload-1mib", "1 MiB upload"),
)

def _multicore(title: str, scenario: str, worker: str) -> Goal:
    return Goal(f"multi-core, {title}, {worker}: req/s -w 2 / -w 1, worst run", f"multicore:{scenario}",
                worker, "", multicore.GOAL_RATIO, True, "workers", "min")


def _behind_nginx(worker: str, label: str, peer: str, peer_label: str, target: float) -> Goal:
    return Goal(f"behind nginx, keep-alive pool, 2 workers: req/s {label}/{peer_label}", "nginx:keepalive",
                worker, peer, target, True, "rps")


#: Goals of earlier issues restated by issue 23 (they sat past ceilings measured in the same run):
#: shown under the goal table, so that a reader of an old RESULTS.md can follow the change.
RESTATED = (
    "keep-alive, 1 client, req/s ours/waitress >= 1.4 (median) -> >= 1.0 in every round (the worst)",
    "keep-alive, 1 client, server CPU <= 30 µs per request -> <= 1.6x the raw socket's, paired",
    "1 MiB downloads, req/s ours/raw >= 0.9 (median) and >= 0.8 (worst round) -> the same targets"
    " against raw-blocks (the raw socket under a WSGI server's constraints)",
)

GOALS: tuple[Goal, ...] = (
    Goal(
        "in-memory cycle, time ours/wsgiref", "inmemory", "wsgicore", "wsgiref", GOAL_OURS_OVER_WSGIREF, False
    ),
    _rps("new connection per request, 10 clients, req/s ours/wsgiref", "hello-new-10", "wsgicore-close",
         "wsgiref", 1.5),
    _rps("new connection per request, 1 client, req/s ours/wsgiref", "hello-new-1", "wsgicore-close",
         "wsgiref", 1.0),
    _rps("keep-alive, 1 client, req/s ours/waitress, worst round", "hello-ka-1", "wsgicore-keepalive",
         "waitress", 1.0, worst=True),
    Goal("keep-alive, 1 client, server CPU per request ours/raw socket", "hello-ka-1",
         "wsgicore-keepalive", "raw", 1.6, False, "cpu"),
    _rps("1 MiB upload, req/s ours/wsgiref", "upload-1mib", "wsgicore-close", "wsgiref", 1.2),
    _rps("1 MiB download (generator), keep-alive, req/s ours/raw-blocks", "gen-1mib-ka",
         "wsgicore-keepalive", "raw-blocks", 0.9),
    _rps("1 MiB download (generator), keep-alive, req/s ours/raw-blocks, worst round", "gen-1mib-ka",
         "wsgicore-keepalive", "raw-blocks", 0.8, worst=True),
    _rps("1 MiB download (file_wrapper), keep-alive, req/s ours/raw-blocks", "file-1mib-ka",
         "wsgicore-keepalive", "raw-blocks", 0.9),
    _rps("1 MiB download (file_wrapper), keep-alive, req/s ours/raw-blocks, worst round", "file-1mib-ka",
         "wsgicore-keepalive", "raw-blocks", 0.8, worst=True),
    *(
        Goal(f"asyncio/threading driver, server CPU per request: {title}", key, "wsgicore-asyncio",
             "wsgicore-threading", 1.3, False, "cpu")
        for key, title in _ASYNCIO_CPU_SCENARIOS
    ),
    _rps("1 MiB download (generator), req/s asyncio/threading driver", "gen-1mib-ka", "wsgicore-asyncio",
         "wsgicore-threading", 0.8),
    _rps("1 MiB upload, req/s asyncio/threading driver", "upload-1mib", "wsgicore-asyncio",
         "wsgicore-threading", 0.8),
    _rps("keep-alive, 10 clients, req/s asyncio driver/waitress", "hello-ka-10", "wsgicore-asyncio",
         "waitress", 2.0),
    _rps("keep-alive, 50 clients, req/s gunicorn ThreadWorker/gthread", "hello-ka-50",
         "gunicorn-threadworker", "gunicorn-gthread", 1.5),
    _rps("keep-alive, 50 clients, req/s gunicorn AsyncioWorker/gthread", "hello-ka-50",
         "gunicorn-asyncioworker", "gunicorn-gthread", 1.5),
    # The moonshot of issue 15: our threading driver at half the pace of a Rust server running the
    # same app.
    _rps("moonshot: keep-alive, 10 clients, req/s threading driver/granian", "hello-ka-10",
         "wsgicore-threading", "granian", 0.5),
    # Issue 23: every core used every time, cheap new connections, nginx in front.
    *(
        _multicore(scenario.title, scenario.key, worker)
        for scenario in multicore.SCENARIOS
        for worker in multicore.OURS
    ),
    _rps("new connection per request, 10 clients, req/s threading driver/one-at-a-time driver",
         "hello-new-10", "wsgicore-threading", "wsgicore-close", 0.85),
    _rps("new connection per request, 10 clients, req/s gunicorn ThreadWorker/granian", "hello-new-10",
         "gunicorn-threadworker", "granian", 0.6),
    _behind_nginx("threadworker", "ThreadWorker", "gthread", "gthread", 1.5),
    _behind_nginx("asyncioworker", "AsyncioWorker", "gthread", "gthread", 1.5),
    _behind_nginx("threadworker", "ThreadWorker", "waitress", "waitress", 1.3),
    _behind_nginx("asyncioworker", "AsyncioWorker", "waitress", "waitress", 1.3),
    Goal("no regression: our pinned scenarios, req/s now / at the previous full run's revision"
         " (side by side), lowest",
         "pinned", "ours", "", 0.95, True, "regression", "min"),
)
RSS_GOAL_MIB = 8.0


# --------------------------------------------------------------------------------------------------
# The run


@dataclass
class RssSample:
    upload_growth_kib: int | None = None
    download_growth_kib: int | None = None
    upload_seconds: float = 0.0
    download_seconds: float = 0.0
    error: str = ""


@dataclass
class Run:
    args: argparse.Namespace
    command: str
    started: float = field(default_factory=time.time)
    inmemory: InMemoryResults | None = None
    inmemory_error: str = ""
    contenders: list[ContenderSpec] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    samples: dict[str, dict[str, list[LoadSample]]] = field(default_factory=dict)
    rss: dict[str, RssSample] = field(default_factory=dict)
    rss_size: int = 0
    rss_method: str = ""
    load_description: str = ""
    finished: float = 0.0
    retried: int = 0
    loadavg_start: str = field(default_factory=load_average)
    loadavg_end: str = ""
    multicore: multicore.Results | None = None
    nginx: nginx.Results | None = None
    nginx_error: str = ""
    #: The revision our contenders also run at (the no-regression baseline); "" when none.
    baseline: str = ""

    def rps(self, scenario: str, contender: str) -> list[float]:
        return [s.rps for s in self.samples.get(scenario, {}).get(contender, [])]

    def ran(self, part: str) -> bool:
        return part in self.args.only


def run_inmemory(run: Run, quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="wsgicore-bench-") as tmp:
        out = Path(tmp) / "inmemory.json"
        command = [sys.executable, "-m", "benchmarks.inmemory", "--json", str(out)]
        command += ["--rounds", "5", "--iterations", "1000"] if quick else []
        print(f"[in-memory] {' '.join(command[1:])} (pinned to CPU {SERVER_CPU})", flush=True)
        try:
            proc = subprocess.run(
                pinned(command, SERVER_CPU),
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except subprocess.TimeoutExpired:
            run.inmemory_error = "timed out"
            return
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            run.inmemory_error = f"failed: {' '.join(tail)}"
            return
        run.inmemory = InMemoryResults.from_json(json.loads(out.read_text()))
        for line in run.inmemory.skipped:
            print(f"[in-memory] {line}")


def start_servers(run: Run, work_dir: Path) -> dict[str, ServerProcess]:
    servers: dict[str, ServerProcess] = {}
    wanted = [c for c in CONTENDERS if c.key in run.args.contenders]
    baseline_src = _baseline_source(run, work_dir)
    if baseline_src is not None:
        wanted += [baseline_spec(c, run.baseline) for c in wanted if c.key in OURS_PINNED]
    for spec in wanted:
        if not module_available(spec.module):
            run.skipped.append(f"{spec.label}: skipped, {spec.module} is not importable")
            continue
        src = baseline_src if spec.key.endswith(BASELINE_SUFFIX) else None
        server = ServerProcess(spec, work_dir, src=src)
        server.start()
        servers[spec.key] = server
    for key, server in list(servers.items()):
        problem = server.wait_ready()
        if problem is not None:
            run.skipped.append(f"{server.spec.label}: skipped, {problem}")
            server.stop()
            del servers[key]
        else:
            print(f"[servers] {server.spec.label} ready on port {server.port}", flush=True)
    run.contenders = [c for c in wanted if c.key in servers]
    return servers


def _baseline_source(run: Run, work_dir: Path) -> Path | None:
    """The baseline revision's ``src``, exported under ``work_dir`` (None: no baseline, or git
    could not give it, which the report says)."""
    revision = run.args.baseline
    if revision == "none":
        return None
    try:
        src = export_source(revision, work_dir / "baseline")
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        run.skipped.append(f"the no-regression baseline {revision}: not measured, git archive failed:"
                           f" {detail.decode(errors='replace').strip() or exc}")
        return None
    run.baseline = revision
    print(f"[servers] baseline: our contenders also run {revision}'s src ({src})", flush=True)
    return src


def warm_up(servers: dict[str, ServerProcess]) -> None:
    for server in servers.values():
        url = f"http://{HOST}:{server.port}"
        with contextlib.suppress(OSError):
            loadclient.run_load(url + "/hello", count=200, keep_alive=False, duration=5)
            loadclient.run_load(url + "/hello", count=200, keep_alive=True, duration=5)
            loadclient.run_load(url + f"/gen/{FILE_SIZE}", count=5, duration=5)
            loadclient.run_load(url + "/file", count=5, duration=5)
            loadclient.run_load(url + "/upload", count=5, duration=5, method="POST", body_size=FILE_SIZE)


def run_load_rounds(run: Run, servers: dict[str, ServerProcess], load: LoadGenerator) -> None:
    keys = [c.key for c in run.contenders]
    total = run.args.rounds
    for round_no in range(total):
        for scenario in SCENARIOS:
            order = [k for k in keys if server_key(k) not in scenario.skip]
            if not order:
                continue
            shift = round_no % len(order)
            for key in order[shift:] + order[:shift]:
                server = servers[key]
                if server.proc is None or server.proc.poll() is not None:
                    continue
                sample = server.measure(load, scenario, run.args.duration)
                for _ in range(run.args.retries):
                    if not sample.contended:
                        break
                    # Other work took the servers' CPU: measure again, keep the quieter sample.
                    print(
                        f"[retry] {scenario.key} {server.spec.label}: CPU {SERVER_CPU}"
                        f" {sample.other_load:.0%} busy with other work",
                        flush=True,
                    )
                    run.retried += 1
                    again = server.measure(load, scenario, run.args.duration)
                    if again.other_load < sample.other_load:
                        sample = again
                run.samples.setdefault(scenario.key, {}).setdefault(key, []).append(sample)
                print(
                    f"[round {round_no + 1}/{total}] {scenario.key:<13} {server.spec.label:<22}"
                    f" {sample.rps:>10.1f} req/s {sample.cpu_us:>8.1f} server CPU µs/req"
                    + (f"  ({sample.errors} errors)" if sample.errors else "")
                    + (f"  ({sample.non_2xx} non-2xx)" if sample.non_2xx else "")
                    + (
                        f"  [CPU {SERVER_CPU} {sample.other_load:.0%} busy with other work]"
                        if sample.contended
                        else ""
                    )
                    + (f"  [{caveat}]" if (caveat := server.spec.caveat(scenario.key)) else ""),
                    flush=True,
                )


def reset_hwm(pids: Sequence[int]) -> bool:
    ok = True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
        except OSError:
            ok = False
    return ok


def measure_transfer_rss(server: ServerProcess, action: str, size: int) -> tuple[int | None, float, str]:
    """(growth of the peak RSS in KiB, seconds, error) for one large transfer."""
    pids = server.pids()
    reset = reset_hwm(pids)
    before = {pid: proc_status(pid, "VmRSS" if reset else "VmHWM") for pid in pids}
    start = time.monotonic()
    error = ""
    try:
        if action == "upload":
            status = loadclient.upload(HOST, server.port, "/upload", size, timeout=300)
        else:
            status, got = loadclient.download(HOST, server.port, f"/gen/{size}", timeout=300)
            if got != size:
                error = f"received {got} of {size} bytes"
        if status != 200:
            error = f"status {status}"
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - start
    growth: int | None = None
    for pid in pids:
        after = proc_status(pid, "VmHWM")
        start_kib = before.get(pid)
        if after is not None and start_kib is not None:
            growth = max(growth or 0, after - start_kib)
    # A failed transfer's peak says nothing about streaming: report the failure instead.
    return (None if error else growth), seconds, error


def run_rss(run: Run, servers: dict[str, ServerProcess]) -> None:
    run.rss_size = run.args.rss_mib * MIB
    probe = next(iter(servers.values()), None)
    clear_ok = probe is not None and reset_hwm(probe.pids())
    run.rss_method = (
        "VmHWM after the transfer minus VmRSS before it (VmHWM reset via clear_refs)"
        if clear_ok
        else "VmHWM after minus VmHWM before (clear_refs unavailable)"
    )
    wanted = QUICK_RSS_CONTENDERS if run.args.quick else {c.key for c in CONTENDERS if c.rss}
    for key, server in servers.items():
        if key not in wanted:
            continue
        sample = RssSample()
        for action in ("upload", "download"):
            print(f"[rss] {server.spec.label}: {action} {run.args.rss_mib} MiB", flush=True)
            growth, seconds, error = measure_transfer_rss(server, action, run.rss_size)
            if action == "upload":
                sample.upload_growth_kib, sample.upload_seconds = growth, seconds
            else:
                sample.download_growth_kib, sample.download_seconds = growth, seconds
            if error:
                sample.error += f"{action}: {error}. "
        run.rss[key] = sample


# --------------------------------------------------------------------------------------------------
# Report


def label_of(key: str, baseline: str = "") -> str:
    """A contender's label; a baseline contender's names the ``baseline`` revision."""
    if key.endswith(BASELINE_SUFFIX):
        return f"{label_of(server_key(key))} @ {baseline or 'the baseline'}"
    for spec in CONTENDERS:
        if spec.key == key:
            return spec.label
    return key


#: Our contenders in the pinned scenarios (the no-regression goal).
OURS_PINNED = frozenset({"wsgicore-close", "wsgicore-keepalive", "wsgicore-threading", "wsgicore-asyncio",
                         "gunicorn-threadworker", "gunicorn-asyncioworker"})


def regressions(run: Run) -> list[tuple[str, str, float]]:
    """(contender label, scenario title, req/s now / at the baseline revision) for each of our
    pinned contenders and scenarios, the median of the ratios paired round by round (the two ran
    side by side in every round), lowest first."""
    found = []
    for scenario in SCENARIOS:
        title = SHORT_TITLES.get(scenario.key, scenario.key)
        for key in sorted(OURS_PINNED):
            now = run.rps(scenario.key, key)
            then = run.rps(scenario.key, key + BASELINE_SUFFIX)
            if not now or len(now) != len(then) or min(then) <= 0:
                continue
            found.append((label_of(key), title, Summary.of(paired_ratios(now, then)).median))
    return sorted(found, key=lambda item: item[2])


def goal_value(run: Run, goal: Goal) -> Summary | None:
    if goal.scenario == "inmemory":
        return run.inmemory.ratio(goal.ours, goal.peer) if run.inmemory else None
    if goal.metric == "workers":
        ratios = run.multicore.ratios(goal.scenario.split(":", 1)[1], goal.ours) if run.multicore else []
        return Summary.of(ratios) if ratios else None
    if goal.metric == "regression":
        found = [ratio for _, _, ratio in regressions(run)]
        return Summary.of(found) if found else None
    if goal.scenario.startswith("nginx:"):
        ratios = run.nginx.paired(goal.scenario.split(":", 1)[1], goal.ours, goal.peer) if run.nginx else []
        return Summary.of(ratios) if ratios else None
    if goal.metric == "rps":
        ours = run.rps(goal.scenario, goal.ours)
        peer = run.rps(goal.scenario, goal.peer)
    else:
        data = run.samples.get(goal.scenario, {})
        ours = [x.cpu_us for x in data.get(goal.ours, [])]
        if goal.metric == "cpu-us":
            return Summary.of(ours) if ours else None
        peer = [x.cpu_us for x in data.get(goal.peer, [])]
        if (ours and min(ours) <= 0) or (peer and min(peer) <= 0):
            return None
    if not ours or not peer or len(ours) != len(peer):
        return None
    ratios = paired_ratios(ours, peer)
    return Summary.of(ratios) if ratios else None


def held_value(goal: Goal, value: Summary) -> float:
    """The statistic of ``value`` that the goal holds to its target."""
    return value.minimum if goal.statistic == "min" else value.median


def cpu_ratio(run: Run, goal: Goal) -> Summary | None:
    """peer/ours server CPU per request, round by round (higher: ours does less work)."""
    if goal.scenario not in run.samples or goal.metric != "rps":
        return None
    data = run.samples.get(goal.scenario, {})
    ours = [x.cpu_us for x in data.get(goal.ours, [])]
    peer = [x.cpu_us for x in data.get(goal.peer, [])]
    if not ours or len(ours) != len(peer) or min(ours) <= 0 or min(peer) <= 0:
        return None
    return Summary.of(paired_ratios(peer, ours))


def standing(value: float, target: float, higher_is_better: bool) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "**not met**"


def _other_load(samples: Sequence[LoadSample]) -> str:
    known = [x.other_load for x in samples if x.other_load >= 0]
    if not known:
        return "-"
    worst = max(known)
    return f"**{worst:.0%}**" if worst > CONTENDED else f"{worst:.0%}"


def contention_lines(run: Run) -> list[str]:
    """A warning when other work shared the server CPU during some samples."""
    samples = [x for per in run.samples.values() for xs in per.values() for x in xs]
    known = [x for x in samples if x.other_load >= 0]
    if not known:
        return []
    bad = [x for x in known if x.contended]
    retried = (
        f" ({run.retried} contended samples were measured again, the quieter one kept)" if run.retried else ""
    )
    if not bad:
        return [
            "",
            f"No sample kept saw more than {CONTENDED:.0%} of CPU {SERVER_CPU} busy with other"
            f" work{retried}.",
        ]
    return [
        "",
        f"Retries: {run.args.retries} per sample{retried}.",
        "",
        f"**{len(bad)} of {len(known)} samples saw more than {CONTENDED:.0%} of CPU {SERVER_CPU}"
        " (the servers' CPU) busy with other work** (bold in the last column of the tables"
        " below): their req/s and the ratios built on them are unreliable; rerun on a quiet"
        " machine.",
    ]


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _speed(size_mib: float, seconds: float, growth_kib: int | None) -> str:
    """MiB/s of a transfer; "-" when it failed (its growth is then None)."""
    return f"{size_mib / seconds:,.0f}" if seconds > 0 and growth_kib is not None else "-"


SHORT_TITLES: dict[str, str] = {
    "hello-new-1": "hello, new conn, 1 client",
    "hello-new-10": "hello, new conn, 10 clients",
    "hello-ka-1": "hello, keep-alive, 1 client",
    "hello-ka-10": "hello, keep-alive, 10 clients",
    "hello-new-50": "hello, new conn, 50 clients",
    "hello-ka-50": "hello, keep-alive, 50 clients",
    "gen-1mib-ka": "1 MiB generator, keep-alive",
    "file-1mib-ka": "1 MiB file_wrapper, keep-alive",
    "upload-1mib": "1 MiB upload, new conn",
}


def summary_table(run: Run) -> list[str]:
    """One row per contender, one column per scenario: median req/s (server CPU µs/req)."""
    scenarios = [s for s in SCENARIOS if s.key in run.samples]
    if not scenarios:
        return []
    lines = [
        "Summary: median req/s (median server CPU µs per request)",
        "",
        "| contender | " + " | ".join(SHORT_TITLES.get(s.key, s.key) for s in scenarios) + " |",
        "|---|" + "---|" * len(scenarios),
    ]
    for spec in run.contenders:
        cells = []
        for scenario in scenarios:
            samples = run.samples[scenario.key].get(spec.key, [])
            if not samples:
                cells.append("-")
                continue
            rps = Summary.of([x.rps for x in samples]).median
            cpu = [x.cpu_us for x in samples if x.cpu_us > 0]
            cpu_text = f" ({fmt(Summary.of(cpu).median, 0)})" if cpu else ""
            cells.append(f"{fmt(rps, 0)}{cpu_text}")
        lines.append(f"| {spec.label} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def report(run: Run) -> list[str]:
    args = run.args
    lines = [
        "# wsgicore benchmark results",
        "",
        "Written by `python -m benchmarks`; every figure below was measured in the run described"
        " here (nothing is copied from an earlier run).",
        "",
        f"- command: `{run.command}`"
        + (" (quick mode: fewer contenders, rounds and samples)" if args.quick else "")
        + ("" if set(args.only) == set(PARTS) else f" (only: {', '.join(args.only)})"),
    ]
    lines += [f"- {line}" for line in machine_lines()]
    if run.load_description:
        lines.append(
            f"- load generator: {run.load_description}, pinned to CPU {args.client_cpu}; each server in"
            f" its own process pinned to CPU {SERVER_CPU}"
            + ("" if have_taskset() else " (taskset missing: nothing pinned)"))
    lines += [
        f"- {args.rounds} interleaved round(s) of {args.duration} s per scenario and contender;"
        " req/s are min / median / max over the rounds; ratios are the median of round-by-round"
        " ratios (ours/peer), or their minimum where the goal says worst (run, round)",
        "- multi-core and behind-nginx scenarios: nothing pinned, a fresh start per sample (their"
        " sections below)",
        f"- run time: {run.finished - run.started:.0f} s; load average (1/5/15 min) at the start"
        f" {run.loadavg_start}, at the end {run.loadavg_end} (the run itself adds about 1: more"
        " means other work shared the machine)",
        "",
        "## Goals",
        "",
        "| goal | target | measured (median of paired ratios; min-max) | standing |"
        " for reference: server CPU per request, peer/ours (paired, median) |",
        "|---|---|---|---|---|",
    ]
    for goal in GOALS:
        value = goal_value(run, goal)
        op = ">=" if goal.higher_is_better else "<="
        cpu = cpu_ratio(run, goal)
        cpu_text = f"{cpu.median:.2f}" if cpu else "-"
        if value is None:
            lines.append(f"| {goal.title} | {op} {goal.target} | not measured | - | - |")
        else:
            held = held_value(goal, value)
            which = {"workers": "worst run ", "regression": "lowest "}.get(
                goal.metric, "worst round " if goal.statistic == "min" else "")
            lines.append(
                f"| {goal.title} | {op} {goal.target} | {which}{held:.3f}"
                f" ({value.minimum:.3f}-{value.maximum:.3f}) |"
                f" {standing(held, goal.target, goal.higher_is_better)} | {cpu_text} |"
            )
    for key in sorted(k for k in run.rss if k.startswith("wsgicore")):  # every driver of ours
        sample = run.rss.get(key)
        if sample is None:
            continue
        for action, growth in (
            ("upload", sample.upload_growth_kib),
            ("download", sample.download_growth_kib),
        ):
            title = f"{label_of(key)}: peak RSS growth, {run.args.rss_mib} MiB {action}"
            if growth is None or (sample.error and action in sample.error):
                lines.append(f"| {title} | <= {RSS_GOAL_MIB} MiB | failed: {sample.error} | - | - |")
            else:
                lines.append(
                    f"| {title} | <= {RSS_GOAL_MIB} MiB | {growth / 1024:.1f} MiB |"
                    f" {standing(growth / 1024, RSS_GOAL_MIB, False)} | - |"
                )
    lines += ["", "Restated by issue 23 (the earlier target -> this table's):", ""]
    lines += [f"- {text}" for text in RESTATED]
    found = regressions(run)
    if found:
        lines += ["", f"Our pinned scenarios against the same servers at {run.baseline}, side by side"
                  " (req/s now / then, paired by round, median), lowest five: "
                  + "; ".join(f"{label}, {title}: {ratio:.2f}" for label, title, ratio in found[:5])]
    lines += contention_lines(run)
    if run.inmemory is not None:
        mem = run.inmemory
        lines += [
            "",
            "## In-memory core cycle (µs per request)",
            "",
            f"511-byte browser GET with 12 header fields, hello-world app; {mem.rounds} interleaved"
            f" rounds x {mem.iterations} requests (`python -m benchmarks.inmemory`). wsgiref copies"
            f" os.environ ({mem.os_environ_size} variables, {mem.os_environ_bytes} bytes here) into"
            " every environ.",
            "",
            "| contender | min | median | max | time ratio to wsgiref (median) | note |",
            "|---|---|---|---|---|---|",
        ]
        for name in mem.samples:
            s = mem.summary(name)
            ratio = mem.ratio(name, "wsgiref")
            shown_ratio = f"{ratio.median:.2f}" if ratio else "-"
            lines.append(
                f"| {name} | {s.minimum:.1f} | {s.median:.1f} | {s.maximum:.1f} |"
                f" {shown_ratio} | {mem.notes.get(name, '')} |"
            )
        for name in ("wsgicore", "memory.exchange"):
            r = mem.ratio(name, "h11")
            if r is not None:
                lines.append("")
                lines.append(f"{name}/h11 (time): median {r.median:.2f}")
        lines += [f"- {msg}" for msg in mem.skipped]
    elif run.inmemory_error:
        lines += ["", f"In-memory benchmark: {run.inmemory_error}"]
    if run.samples:
        lines += [
            "",
            "## Servers over loopback",
            "",
            "req/s: min / median / max over the rounds. Server CPU: user + system time of the server's"
            " processes per request (median over the rounds); with one client, req/s is bound by the"
            " round trip (the wake-up of the other CPU), and CPU per request shows the work itself.",
            "",
            *summary_table(run),
        ]
    for scenario in SCENARIOS:
        data = run.samples.get(scenario.key)
        if not data:
            continue
        mib = scenario.mib_per_request
        lines += [
            f"### {scenario.title}",
            "",
            "| contender | req/s min | median | max |"
            + (" MiB/s (median) |" if mib else "")
            + f" {label_of(scenario.ours)} / this, req/s (paired, median) |"
            f" server CPU µs/req | errors | other load on CPU {SERVER_CPU} (max) |",
            "|---|---|---|---|" + ("---|" if mib else "") + "---|---|---|---|",
        ]
        ours = run.rps(scenario.key, scenario.ours)
        for key, samples in data.items():
            values = [x.rps for x in samples]
            summary = Summary.of(values)
            ratio_text = ""
            if ours and key != scenario.ours and len(ours) == len(values):
                pairs = paired_ratios(ours, values)
                ratio_text = f"{Summary.of(pairs).median:.2f}" if pairs else ""
            cpu_values = [x.cpu_us for x in samples if x.cpu_us > 0]
            cpu_text = fmt(Summary.of(cpu_values).median) if cpu_values else "-"
            errors = sum(x.errors + x.non_2xx for x in samples)
            mibs = f" {fmt(summary.median * mib, 0)} |" if mib else ""
            lines.append(
                f"| {label_of(key, run.baseline)} | {fmt(summary.minimum)} | {fmt(summary.median)} |"
                f" {fmt(summary.maximum)} |{mibs} {ratio_text} | {cpu_text} | {errors} |"
                f" {_other_load(samples)} |"
            )
        lines.append("")
        for key in data:
            caveat = next((c.caveat(scenario.key) for c in CONTENDERS if c.key == key), "")
            if caveat:
                lines += [f"{label_of(key, run.baseline)}: {caveat}.", ""]
    if run.rss:
        lines += [
            f"## Peak RSS growth while streaming {run.args.rss_mib} MiB",
            "",
            f"Server process (all its processes for gunicorn, worst one shown): {run.rss_method}."
            " Upload: the app reads wsgi.input in 64 KiB chunks; download: a generator of"
            " 64 KiB chunks.",
            "",
            "| contender | upload growth (MiB) | upload MiB/s | download growth (MiB) |"
            " download MiB/s | error |",
            "|---|---|---|---|---|---|",
        ]
        size_mib = run.rss_size / MIB
        for key, sample in run.rss.items():
            lines.append(
                f"| {label_of(key)} | {_mib(sample.upload_growth_kib)} |"
                f" {_speed(size_mib, sample.upload_seconds, sample.upload_growth_kib)} |"
                f" {_mib(sample.download_growth_kib)} |"
                f" {_speed(size_mib, sample.download_seconds, sample.download_growth_kib)} |"
                f" {sample.error} |"
            )
        lines.append("")
    if run.multicore is not None:
        lines += multicore.report_lines(run.multicore)
    if run.nginx is not None:
        lines += nginx.report_lines(run.nginx)
    elif run.nginx_error:
        lines += ["## Behind nginx", "", run.nginx_error, ""]
    if run.contenders:
        lines += ["## Contenders", ""]
        lines += [f"- {spec.label}: {spec.note}" for spec in run.contenders]
    if run.skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- {msg}" for msg in run.skipped]
    return lines


# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="under 60 s: our contenders, wsgiref, waitress and raw; 1 round"
    )
    parser.add_argument(
        "--rounds", type=int, default=None,
        help="interleaved rounds (default 5: the download scenarios vary by 20%% between rounds here)",
    )
    parser.add_argument(
        "--duration", type=int, default=None, help="seconds per scenario and contender per round (default 2)"
    )
    parser.add_argument(
        "--contenders", default=None, help="comma-separated keys: " + ",".join(c.key for c in CONTENDERS)
    )
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--rss-mib", type=int, default=1024, help="size of the RSS transfers (default 1024 MiB)"
    )
    parser.add_argument(
        "--client-cpu",
        type=int,
        default=CLIENT_CPU,
        choices=(CLIENT_CPU, SERVER_CPU),
        help=f"CPU for the load generator (default {CLIENT_CPU}; {SERVER_CPU} = the servers' CPU,"
        " which takes the cross-CPU wake-up out of the one-client round trip)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=None,
        help="measure a sample again (keeping the quieter one) while other work takes more than"
        f" {CONTENDED:.0%}% of the servers' CPU (default 2; 0 with --quick)",
    )
    parser.add_argument(
        "--baseline", default=None,
        help="git revision our contenders also run at, side by side, for the no-regression goal"
        " (default: the revision of the last full run in RESULTS.md; 'none' with --quick or to skip)",
    )
    parser.add_argument("--no-inmemory", action="store_true")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated parts to run: " + ",".join(PARTS) + " (default: all; with --quick: the"
        " pinned ones). Writes RESULTS-partial.md unless --output says otherwise",
    )
    parser.add_argument(
        "--output",
        default=None,
        help=f"markdown file to write (default {RESULTS_PATH.name}; with --quick"
        f" {QUICK_RESULTS_PATH.name}, which git ignores, so that a smoke run never replaces the"
        " results of a full one)",
    )
    args = parser.parse_args(argv)
    if args.only is None:
        args.only = ["inmemory", "pinned", "rss"] if args.quick else list(PARTS)
        partial = False
    else:
        args.only = [p.strip() for p in args.only.split(",") if p.strip()]
        unknown = set(args.only) - set(PARTS)
        if unknown or not args.only:
            parser.error(f"--only: choose from {', '.join(PARTS)}")
        partial = set(args.only) != set(PARTS)
    args.only = [p for p in PARTS if p in args.only and not (
        (p == "inmemory" and args.no_inmemory) or (p == "rss" and args.no_rss))]
    if args.output is None:
        args.output = str(QUICK_RESULTS_PATH if args.quick else PARTIAL_RESULTS_PATH if partial
                          else RESULTS_PATH)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.retries is None:
        args.retries = 0 if args.quick else 2
    if args.duration is None:
        args.duration = 1 if args.quick else 2
    if args.baseline is None:
        args.baseline = "none" if args.quick else previous_revision(RESULTS_PATH) or "none"
    known = {c.key for c in CONTENDERS}
    if args.contenders is None:
        args.contenders = set(QUICK_CONTENDERS) if args.quick else known
    else:
        args.contenders = {k.strip() for k in args.contenders.split(",") if k.strip()}
        unknown = args.contenders - known
        if unknown:
            parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    if not 0 <= args.retries <= 5:
        parser.error("retries in 0..5")
    if not (1 <= args.rounds <= 50 and 1 <= args.duration <= 60 and 1 <= args.rss_mib <= 4096):
        parser.error("rounds in 1..50, duration in 1..60 s, rss-mib in 1..4096")
    return args


def run_multicore(run: Run) -> None:
    args = run.args
    chosen = list(multicore.contenders())
    run.multicore = multicore.run_all(chosen, multicore.SCENARIOS, runs=args.rounds,
                                      duration=args.duration, warmup=1.0)


def run_nginx(run: Run) -> None:
    if nginx.nginx_binary() is None:
        run.nginx_error = "nginx not installed: not measured"
        return
    args = run.args
    run.nginx = nginx.run_all(list(nginx.contenders()), nginx.MODES, rounds=args.rounds,
                              duration=args.duration)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shown = sys.argv[1:] if argv is None else list(argv)
    run = Run(args=args, command=" ".join(["python -m benchmarks", *shown]))
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if use_wrk and shutil.which("wrk") is None:
        print("wrk is not installed")
        return 2
    if (run.ran("multicore") or run.ran("nginx")) and shutil.which("wrk") is None:
        print("the multi-core and behind-nginx scenarios need wrk")
        return 2
    if run.ran("inmemory"):
        run_inmemory(run, args.quick)
    if run.ran("pinned") or run.ran("rss"):
        affinity = os.sched_getaffinity(0) if have_taskset() else None
        if affinity is not None:
            os.sched_setaffinity(0, {args.client_cpu})
        try:
            run_pinned(run)
        finally:
            if affinity is not None:
                os.sched_setaffinity(0, affinity)  # the scenarios below are not pinned
    if run.ran("multicore"):
        run_multicore(run)
    if run.ran("nginx"):
        run_nginx(run)
    run.finished = time.time()
    run.loadavg_end = load_average()
    text = "\n".join(report(run)) + "\n"
    Path(args.output).write_text(text, encoding="utf-8")
    print()
    print(text)
    print(f"written to {args.output}")
    full = Path(args.output).resolve() == RESULTS_PATH.resolve()
    if full and write_between_markers(DOCS_PATH, text):
        print(f"and into {DOCS_PATH} between its results markers")
    return 0


def run_pinned(run: Run) -> None:
    args = run.args
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    with tempfile.TemporaryDirectory(prefix="wsgicore-bench-") as tmp:
        work_dir = Path(tmp)
        load = LoadGenerator(use_wrk, work_dir)
        run.load_description = load.description
        servers = start_servers(run, work_dir)
        for message in run.skipped:
            print(f"[servers] {message}", flush=True)
        try:
            warm_up(servers)
            if run.ran("pinned"):
                run_load_rounds(run, servers, load)
            if run.ran("rss"):
                run_rss(run, servers)
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    sys.exit(main())
