"""Kernel work per request of one server: system calls by name and context switches.

    python -m benchmarks.syscalls --server wsgicore-asyncio --scenario hello-ka-1
    python -m benchmarks.syscalls --server wsgicore-threading --scenario gen-1mib-ka --duration 5

The server runs in its own process pinned to CPU 1, the load generator on CPU 0, as in
``python -m benchmarks``. Two loads of ``--duration`` seconds each, after a short warm-up:

1. Context switches, without any tracer: ``voluntary_ctxt_switches`` and
   ``nonvoluntary_ctxt_switches`` of /proc/PID/task/*/status, summed over every thread of every
   process of the server, read before and after the load; the difference divided by the requests
   the load generator reports. The kernel keeps no per-process total another process can read,
   so the threads are read every 50 ms during the load too and each one's last reading is kept:
   a thread that ends during the load (a thread per connection) loses at most its last 50 ms, and
   the count of such threads is printed (with a new connection per request, most of theirs are lost).
2. System calls, under ``strace -c -f -p PID [-p PID ...]`` (every thread of every server
   process), stopped with SIGINT after the load; each syscall's calls divided by the requests.
   strace stops the server at every call, so its req/s is far lower: read the calls per request,
   not the speed (a server that batches more work per wake-up when it falls behind, with several
   clients, makes fewer calls per request under strace than without it).

strace must be installed (``apt-get install strace``); without it only the first part runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import loadclient
from benchmarks.harness import (
    CONTENDERS,
    SERVER_CPU,
    LoadGenerator,
    LoadSample,
    Scenario,
    ServerProcess,
    add_one_load_arguments,
    one_load,
)
from benchmarks.servers import HOST


@dataclass(frozen=True, slots=True)
class Switches:
    """Context switches summed over a set of threads, keyed by (pid, tid)."""

    voluntary: dict[tuple[int, int], int]
    involuntary: dict[tuple[int, int], int]


def read_switches(pids: Iterable[int]) -> Switches:
    voluntary: dict[tuple[int, int], int] = {}
    involuntary: dict[tuple[int, int], int] = {}
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError, ValueError), open(
                f"/proc/{pid}/task/{tid}/status", encoding="ascii", errors="replace"
            ) as fh:
                for line in fh:
                    name, _, value = line.partition(":")
                    if name == "voluntary_ctxt_switches":
                        voluntary[(pid, tid)] = int(value)
                    elif name == "nonvoluntary_ctxt_switches":
                        involuntary[(pid, tid)] = int(value)
    return Switches(voluntary, involuntary)


@dataclass(frozen=True, slots=True)
class SwitchDelta:
    voluntary: int
    involuntary: int
    threads: int  # seen after the load
    ended: int  # threads seen before and gone after: their switches during the load are lost


def merge(seen: Switches, reading: Switches) -> Switches:
    """Every thread's latest reading: those in ``seen`` that have since ended keep their last one."""
    return Switches(seen.voluntary | reading.voluntary, seen.involuntary | reading.involuntary)


def switch_delta(before: Switches, seen: Switches, final: Switches) -> SwitchDelta:
    """Switches made during the load (``seen``: the last reading of every thread alive at some
    point of it; ``final``: the reading after it); a thread born during the load counts from zero."""

    def delta(a: dict[tuple[int, int], int], b: dict[tuple[int, int], int]) -> int:
        return sum(value - a.get(key, 0) for key, value in b.items())

    return SwitchDelta(
        delta(before.voluntary, seen.voluntary),
        delta(before.involuntary, seen.involuntary),
        len(seen.voluntary),
        len(set(seen.voluntary) - set(final.voluntary)),
    )


@dataclass(frozen=True, slots=True)
class SyscallCount:
    name: str
    calls: int
    errors: int


_DASHES = re.compile(r"^-+( +-+)+$")


def parse_strace_summary(text: str) -> list[SyscallCount]:
    """The rows of ``strace -c``'s table (``% time seconds usecs/call calls errors syscall``;
    the errors column is blank when there were none), without the total."""
    rows: list[SyscallCount] = []
    in_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if _DASHES.match(stripped):
            if in_table:
                break  # the line before the total
            in_table = True
            continue
        if not in_table or not stripped:
            continue
        parts = stripped.split()
        # % time, seconds, usecs/call, calls, [errors,] name
        if len(parts) not in (5, 6):
            continue
        try:
            calls = int(parts[3])
            errors = int(parts[4]) if len(parts) == 6 else 0
        except ValueError:
            continue
        rows.append(SyscallCount(parts[-1], calls, errors))
    return sorted(rows, key=lambda r: (-r.calls, r.name))


def warm_up(port: int, scenario: Scenario) -> None:
    url = f"http://{HOST}:{port}{scenario.path}"
    with contextlib.suppress(OSError):
        loadclient.run_load(url, count=50, keep_alive=scenario.keep_alive, duration=5,
                            method=scenario.method, body_size=scenario.body_size)


def measure_switches(server: ServerProcess, load: LoadGenerator, scenario: Scenario,
                     duration: int) -> tuple[LoadSample, SwitchDelta]:
    before = read_switches(server.pids())
    seen = before
    done = threading.Event()

    def poll() -> None:
        nonlocal seen
        while not done.wait(0.05):
            seen = merge(seen, read_switches(server.pids()))

    poller = threading.Thread(target=poll, name="switches", daemon=True)
    poller.start()
    try:
        sample = server.measure(load, scenario, duration)
    finally:
        done.set()
        poller.join()
    final = read_switches(server.pids())
    return sample, switch_delta(before, merge(seen, final), final)


def measure_syscalls(server: ServerProcess, load: LoadGenerator, scenario: Scenario, duration: int,
                     work_dir: Path) -> tuple[LoadSample, list[SyscallCount], str]:
    """(the load's sample, strace's rows, an error or "")."""
    out = work_dir / "strace.txt"
    command = ["strace", "-c", "-f", "-o", str(out)]
    for pid in server.pids():
        command += ["-p", str(pid)]
    tracer = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    time.sleep(1.0)  # strace attaches to every thread before the load starts
    if tracer.poll() is not None:
        err = tracer.stderr.read().decode(errors="replace") if tracer.stderr else ""
        return LoadSample(0.0, 0, 0, 0), [], f"strace exited with {tracer.returncode}: {err.strip()}"
    try:
        sample = load.run(scenario, server.port, duration)
    finally:
        tracer.send_signal(signal.SIGINT)  # detach and write the summary
        try:
            tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait(timeout=5)
    text = out.read_text(errors="replace") if out.exists() else ""
    rows = parse_strace_summary(text)
    return sample, rows, "" if rows else f"no strace summary: {text[-300:]!r}"


def per_request(count: int, requests: int) -> str:
    return f"{count / requests:.2f}" if requests > 0 else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.syscalls", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_one_load_arguments(parser, [c.key for c in CONTENDERS], "wsgicore-asyncio")
    parser.add_argument("--top", type=int, default=10, help="system calls shown (by calls)")
    parser.add_argument("--no-strace", action="store_true", help="context switches only")
    args = parser.parse_args(argv)
    chosen = one_load(parser, args)
    if chosen is None:
        return 0
    spec, scenario, use_wrk = chosen.spec, chosen.scenario, chosen.use_wrk
    with tempfile.TemporaryDirectory(prefix="wsgicore-syscalls-") as tmp:
        work_dir = Path(tmp)
        server = ServerProcess(spec, work_dir)
        server.start()
        try:
            problem = server.wait_ready()
            if problem is not None:
                print(f"{spec.label}: {problem}")
                return 1
            load = LoadGenerator(use_wrk, work_dir)
            warm_up(server.port, scenario)
            print(f"{spec.label}, {scenario.title} ({load.description}, {args.duration} s per load)")
            caveat = spec.caveat(scenario.key)
            if caveat:
                print(f"  note: {caveat}")
            sample, switches = measure_switches(server, load, scenario, args.duration)
            print(f"  without strace: {sample.rps:,.0f} req/s, {sample.cpu_us:.1f} server CPU µs/req,"
                  f" {sample.requests:,} requests, {sample.errors + sample.non_2xx} errors"
                  + (f"; other work on CPU {SERVER_CPU}: {sample.other_load:.0%}"
                     if sample.other_load >= 0 else ""))
            print(f"  context switches per request ({switches.threads} server threads):"
                  f" voluntary {per_request(switches.voluntary, sample.requests)},"
                  f" involuntary {per_request(switches.involuntary, sample.requests)}"
                  + (f" ({switches.ended} threads ended during the load: up to 50 ms of each one's"
                     " switches are missing)" if switches.ended else ""))
            if args.no_strace:
                return 0
            if shutil.which("strace") is None:
                print("  strace is not installed (apt-get install strace): no system call counts")
                return 0
            traced, rows, error = measure_syscalls(server, load, scenario, args.duration, work_dir)
            if error:
                print(f"  strace: {error}")
                return 1
            total = sum(r.calls for r in rows)
            print(f"  under strace -c -f: {traced.rps:,.0f} req/s, {traced.requests:,} requests;"
                  f" system calls per request: {per_request(total, traced.requests)}")
            print(f"    {'syscall':<18} {'calls/req':>10} {'errors/req':>11}")
            for row in rows[: args.top]:
                errors = per_request(row.errors, traced.requests) if row.errors else ""
                print(f"    {row.name:<18} {per_request(row.calls, traced.requests):>10} {errors:>11}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
