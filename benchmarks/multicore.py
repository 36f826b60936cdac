"""Multi-core scenario: does a second worker process double a CPU-bound app's throughput?

    python -m benchmarks.multicore [--runs 5] [--duration 3] [--only threadworker,asyncioworker]

The app is ``/cpu`` of ``benchmarks.apps`` (about 2 ms of pure Python per request; the body is the
pid of the process that served it). Each contender runs with one worker process and with two
(``-w 1`` / ``-w 2``; granian ``--workers``), nothing pinned, a **fresh start for every
measurement** (keep-alive connections stay in the process that accepted them, so the first accepts
decide a run), ``wrk -t1`` with 16 and 64 clients, keep-alive and a new connection per request, a
one-second warm-up, then the measured load. The ``-w 1`` and ``-w 2`` starts of one run are
measured back to back (their order alternating between runs), so that both see the same machine,
and the ratio is taken run by run: the goal holds the **worst** run's ratio to its target.
waitress serves from one process (its threads share one interpreter): it is measured once per run
as a reference, with no ratio.

Each measurement also records the responses per worker pid, the connections each worker held in
the middle of a keep-alive load, each worker's CPU use, and the other work on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import pidload
from benchmarks._common import load_average, machine_lines
from benchmarks.deploy import DeployedServer, Deployment, available
from benchmarks.servers import HOST

#: The worker-count goal of issue 23: -w 2 / -w 1 in every run.
GOAL_RATIO = 1.7
THREADS = 4


def contenders(threads: int = THREADS) -> tuple[Deployment, ...]:
    """The multi-core contenders, each with one worker process (``with_workers(2)`` for two)."""
    return (
        Deployment("threadworker", "gunicorn + ThreadWorker", "wsgidrivers.gunicorn.ThreadWorker",
                   threads=threads),
        Deployment("asyncioworker", "gunicorn + AsyncioWorker", "wsgidrivers.gunicorn.AsyncioWorker",
                   threads=threads),
        Deployment("gthread", "gunicorn gthread", "gthread", threads=threads),
        Deployment("sync", "gunicorn sync", "sync"),
        Deployment("waitress", f"waitress ({threads} threads)", "waitress", threads=threads),
        Deployment("granian", "granian", "granian"),
    )


#: Contenders served from one process whatever the worker count: measured once, no ratio.
SINGLE_PROCESS = frozenset({"waitress"})
#: Ours: the goal is theirs.
OURS = ("threadworker", "asyncioworker")


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    keep_alive: bool
    clients: int

    @property
    def title(self) -> str:
        how = "keep-alive" if self.keep_alive else "new connection per request"
        return f"{how}, {self.clients} clients"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ka-16", True, 16),
    Scenario("new-16", False, 16),
    Scenario("ka-64", True, 64),
    Scenario("new-64", False, 64),
)


@dataclass
class Sample:
    """One fresh start's measurement."""

    run: int
    workers: int
    rps: float
    errors: int
    non_2xx: int
    served: dict[str, int]
    connections: dict[str, int]
    cores: dict[str, float]
    boot_order: list[int]
    others: float
    loadavg: str

    @classmethod
    def of(cls, run: int, workers: int, load: pidload.PidLoad, boot_order: list[int]) -> Sample:
        return cls(run, workers, load.rps, load.errors, load.non_2xx, dict(load.served),
                   {str(k): v for k, v in load.connections.items()},
                   {str(k): v for k, v in load.cores.items()}, boot_order, load.others, load.loadavg)

    def busiest_share(self) -> float:
        counts = [n for key, n in self.served.items() if key.isdigit()]
        return max(counts) / sum(counts) if counts and sum(counts) else 0.0


@dataclass
class Results:
    """Every sample, by scenario key, then contender key."""

    runs: int
    duration: float
    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    loadavg_start: str = ""
    loadavg_end: str = ""
    seconds: float = 0.0

    def add(self, scenario: str, key: str, sample: Sample) -> None:
        self.samples.setdefault(scenario, {}).setdefault(key, []).append(sample)

    def rps(self, scenario: str, key: str, workers: int) -> list[float]:
        """req/s of each run, in run order."""
        found = self.samples.get(scenario, {}).get(key, [])
        return [s.rps for s in sorted(found, key=lambda s: s.run) if s.workers == workers]

    def ratios(self, scenario: str, key: str) -> list[float]:
        """-w 2 / -w 1 run by run (the two were measured back to back)."""
        one, two = self.rps(scenario, key, 1), self.rps(scenario, key, 2)
        return [b / a for a, b in zip(one, two, strict=False) if a > 0]

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Results:
        raw = dict(data)
        samples = raw.pop("samples")
        results = cls(**raw)  # type: ignore[arg-type]
        for scenario, per in samples.items():  # type: ignore[attr-defined]
            for key, items in per.items():
                for item in items:
                    results.add(scenario, key, Sample(**item))
        return results


def measure_once(deployment: Deployment, scenario: Scenario, run: int, work_dir: Path, *,
                 duration: float, warmup: float, path: str = "/cpu") -> Sample:
    """A fresh start of ``deployment``, a warm-up, the measured load, the stop."""
    server = DeployedServer(deployment, work_dir)
    server.start()
    try:
        url = f"http://{HOST}:{server.bind.port}{path}"
        pids = server.worker_pids()
        if warmup > 0:
            pidload.run(url, connections=scenario.clients, duration=warmup, keep_alive=scenario.keep_alive,
                        server_pids=pids, count_pids=False)
        load = pidload.run(url, connections=scenario.clients, duration=duration,
                           keep_alive=scenario.keep_alive, server_pids=pids, port=server.bind.port)
        return Sample.of(run, deployment.workers, load, server.boot_order)
    finally:
        server.stop()


def run_all(chosen: Sequence[Deployment], scenarios: Sequence[Scenario], *, runs: int, duration: float,
            warmup: float, say: Callable[[str], None] = print) -> Results:
    results = Results(runs=runs, duration=duration, loadavg_start=load_average())
    started = time.monotonic()
    todo = []
    for deployment in chosen:
        if not available(deployment):
            results.skipped.append(f"{deployment.label}: skipped, {deployment.module} is not importable")
            continue
        todo.append(deployment)
        results.labels[deployment.key] = deployment.label
        results.commands[deployment.key] = deployment.with_workers(2).describe()
    with tempfile.TemporaryDirectory(prefix="wsgicore-multicore-") as tmp:
        for run in range(runs):
            for scenario in scenarios:
                shift = run % max(1, len(todo))
                for deployment in todo[shift:] + todo[:shift]:
                    counts = (1,) if deployment.key in SINGLE_PROCESS else (1, 2) if run % 2 == 0 else (2, 1)
                    for workers in counts:
                        try:
                            sample = measure_once(deployment.with_workers(workers), scenario, run,
                                                  Path(tmp), duration=duration, warmup=warmup)
                        except RuntimeError as exc:
                            results.skipped.append(f"run {run + 1} {scenario.key} -w {workers}: {exc}")
                            say(f"[multicore] {exc}")
                            continue
                        results.add(scenario.key, deployment.key, sample)
                        say(f"[multicore run {run + 1}/{runs}] {scenario.key:<7} {deployment.key:<14}"
                            f" -w {workers}: {sample.rps:8.1f} req/s  busiest worker"
                            f" {sample.busiest_share():.0%} of responses  connections {sample.connections}"
                            f"  other work {sample.others:.2f} CPUs  load {sample.loadavg}"
                            + (f"  ({sample.errors} errors)" if sample.errors else ""))
    results.seconds = time.monotonic() - started
    results.loadavg_end = load_average()
    return results


# --------------------------------------------------------------------------------------------------
# Report


def report_lines(results: Results) -> list[str]:
    lines = [
        "## Multi-core: -w 2 against -w 1 (CPU-bound app, nothing pinned)",
        "",
        f"`/cpu` (about 2 ms of pure Python, body = the serving pid); `wrk -t1`; {results.runs} runs,"
        f" each a fresh start per contender, worker count and scenario, 1 s warm-up then"
        f" {results.duration:g} s; -w 1 and -w 2 measured back to back, ratios run by run. Load"
        f" average at the start {results.loadavg_start}, at the end {results.loadavg_end};"
        f" {results.seconds:.0f} s.",
        "",
        "| contender | scenario | -w 1 req/s (median) | -w 2 req/s (median) | -w2/-w1 per run |"
        " worst | busiest worker's share of responses, -w 2 (per run) | other work, CPUs (max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        per = results.samples.get(scenario.key, {})
        for key, samples in per.items():
            one = results.rps(scenario.key, key, 1)
            two = results.rps(scenario.key, key, 2)
            ratios = results.ratios(scenario.key, key)
            shares = [f"{s.busiest_share():.0%}" for s in sorted(samples, key=lambda s: s.run)
                      if s.workers == 2]
            others = max((s.others for s in samples), default=-1.0)
            lines.append(
                f"| {results.labels.get(key, key)} | {scenario.title} |"
                f" {_median(one)} | {_median(two)} |"
                f" {' '.join(f'{r:.2f}' for r in ratios) or '-'} |"
                f" {f'{min(ratios):.2f}' if ratios else '-'} | {' '.join(shares) or '-'} |"
                f" {others:.2f} |"
            )
    lines += ["", "Commands (-w 2):", ""]
    lines += [f"- {results.labels[key]}: `{command}`" for key, command in results.commands.items()]
    if results.skipped:
        lines += ["", *[f"- {line}" for line in results.skipped]]
    lines.append("")
    return lines


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):,.0f}" if values else "-"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.multicore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh starts per contender (default 5)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up (default 1)")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"--threads of the threaded contenders (default {THREADS})")
    parser.add_argument("--only", default=None,
                        help="comma-separated contenders: " + ",".join(d.key for d in contenders()))
    parser.add_argument("--scenarios", default=None,
                        help="comma-separated: " + ",".join(s.key for s in SCENARIOS))
    parser.add_argument("--json", default=None, help="also write the samples as JSON here")
    parser.add_argument("--output", default=None, help="write the markdown report here")
    args = parser.parse_args(argv)
    if not (1 <= args.runs <= 50 and 1 <= args.duration <= 60 and 0 <= args.warmup <= 10
            and 1 <= args.threads <= 64):
        parser.error("runs in 1..50, duration in 1..60 s, warmup in 0..10 s, threads in 1..64")
    known = {d.key for d in contenders()}
    args.only = _pick(parser, "--only", args.only, known)
    args.scenarios = _pick(parser, "--scenarios", args.scenarios, {s.key for s in SCENARIOS})
    return args


def _pick(parser: argparse.ArgumentParser, name: str, value: str | None, known: set[str]) -> set[str]:
    if value is None:
        return known
    chosen = {v.strip() for v in value.split(",") if v.strip()}
    if chosen - known:
        parser.error(f"{name}: unknown {', '.join(sorted(chosen - known))}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not pidload.have_wrk():
        print("wrk is not installed")
        return 2
    chosen = [d for d in contenders(args.threads) if d.key in args.only]
    scenarios = [s for s in SCENARIOS if s.key in args.scenarios]
    results = run_all(chosen, scenarios, runs=args.runs, duration=args.duration, warmup=args.warmup)
    text = "\n".join([*(f"- {line}" for line in machine_lines()), "", *report_lines(results)])
    print()
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results.to_json(), indent=1))
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
