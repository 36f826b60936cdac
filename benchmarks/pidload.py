"""One ``wrk`` load against a multi-process server, with what says how the work was shared.

Besides req/s (wrk's own figure): the responses per serving process (the ``/cpu`` body is the pid
that served it: a Lua ``response`` hook counts them), the open connections per process in the
middle of the load (``ss -tnp``: which process accepted the keep-alive connections), each
process's CPU use over the load (/proc/PID/stat), and how busy the machine was with other work
(the whole machine's busy time from /proc/stat, minus the server's and wrk's).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import load_average
from benchmarks.harness import cpu_seconds

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

#: The Lua script: count the responses by body (a pid), print them when wrk is done.
_COUNT_SCRIPT = """\
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  local key = (status == 200) and body or ("status-" .. status)
  counts[key] = (counts[key] or 0) + 1
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local per = thread:get("counts")
    for key, n in pairs(per) do io.write("served-by " .. key .. " " .. n .. "\\n") end
  end
end
"""

_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SERVED_BY = re.compile(r"^served-by (\S+) (\d+)$", re.MULTILINE)
_SS_PID = re.compile(r"pid=(\d+)")


@dataclass
class PidLoad:
    """What one load measured."""

    rps: float
    requests: int
    errors: int
    non_2xx: int
    elapsed: float
    #: Responses per serving pid (keys that are not pids: "status-<code>").
    served: dict[str, int] = field(default_factory=dict)
    #: Established connections per pid in the middle of the load (keep-alive: who accepted them).
    connections: dict[int, int] = field(default_factory=dict)
    #: CPU (user + system) each server process used, in cores (1.0: one core all the time).
    cores: dict[int, float] = field(default_factory=dict)
    #: CPUs' worth of other work on the machine during the load (0..CPU count), -1 if unknown.
    others: float = -1.0
    loadavg: str = ""

    def served_share(self) -> list[float]:
        """Each pid's share of the responses, largest first."""
        counts = [n for key, n in self.served.items() if key.isdigit()]
        total = sum(counts)
        return sorted((n / total for n in counts), reverse=True) if total else []


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy (every CPU), from /proc/stat's first line."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def connections_by_pid(port: int) -> dict[int, int]:
    """Established TCP connections to local ``port`` per owning pid (``ss -tnp``; {} without ss)."""
    if shutil.which("ss") is None:
        return {}
    try:
        out = subprocess.run(["ss", "-tnpH", "state", "established", "(", "sport", "=", f":{port}", ")"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    counts: dict[int, int] = {}
    for line in out.splitlines():
        pids = set(_SS_PID.findall(line))
        for pid in pids:
            counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def wrk_command(url: str, *, connections: int, duration: float, keep_alive: bool,
                script: Path | None, extra: Sequence[str] = ()) -> list[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s"]
    if not keep_alive:
        command += ["-H", "Connection: close"]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, *extra, url]


def run(url: str, *, connections: int, duration: float, keep_alive: bool, server_pids: Sequence[int],
        port: int | None = None, count_pids: bool = True) -> PidLoad:
    """Run wrk against ``url``; ``server_pids`` are the processes whose CPU is measured, ``port``
    the one whose connections are counted (None: not counted)."""
    with tempfile.TemporaryDirectory(prefix="wsgicore-pidload-") as tmp:
        script = None
        if count_pids:
            script = Path(tmp) / "count.lua"
            script.write_text(_COUNT_SCRIPT)
        out_path = Path(tmp) / "wrk.out"
        command = wrk_command(url, connections=connections, duration=duration, keep_alive=keep_alive,
                              script=script)
        cpu_before = {pid: cpu_seconds(pid) for pid in server_pids}
        busy_before = machine_busy_seconds()
        loadavg = load_average()
        seen: dict[int, int] = {}
        started = time.monotonic()
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        if port is not None and keep_alive:
            sampler = threading.Timer(min(duration / 2, 1.0), lambda: seen.update(connections_by_pid(port)))
            sampler.start()
        else:
            sampler = None
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
            if sampler is not None:
                sampler.join()
        elapsed = time.monotonic() - started
        busy_after = machine_busy_seconds()
        cores = {pid: (cpu_seconds(pid) - before) / elapsed for pid, before in cpu_before.items()}
        text = out_path.read_text(errors="replace")
    others = -1.0
    if busy_before is not None and busy_after is not None:
        server = sum(max(0.0, c) for c in cores.values()) * elapsed
        client = usage.ru_utime + usage.ru_stime
        others = max(0.0, (busy_after - busy_before - server - client) / elapsed)
    return _parse(text, elapsed, seen, cores, others=others, loadavg=loadavg)


def _parse(text: str, elapsed: float, seen: dict[int, int], cores: dict[int, float], *, others: float,
           loadavg: str) -> PidLoad:
    rps = _WRK_RPS.search(text)
    total = _WRK_TOTAL.search(text)
    sock = _WRK_SOCKET.search(text)
    non2xx = _WRK_NON2XX.search(text)
    errors = int(sock.group(1)) + int(sock.group(3)) + int(sock.group(4)) if sock else 0
    if rps is None:
        errors = max(errors, 1)  # wrk failed: its output says why (kept in the exception below)
    served = {m.group(1): int(m.group(2)) for m in _SERVED_BY.finditer(text)}
    return PidLoad(float(rps.group(1)) if rps else 0.0, int(total.group(1)) if total else 0, errors,
                   int(non2xx.group(1)) if non2xx else 0, elapsed, served, seen,
                   {pid: round(c, 3) for pid, c in cores.items()}, round(others, 3), loadavg)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def describe_load() -> str:
    """uptime-style: the load averages now, and the CPU count."""
    with contextlib.suppress(OSError):
        return f"load average {load_average()} on {os.cpu_count()} CPUs"
    return "load unknown"
