"""Shared helpers: statistics, machine and version facts for the reports."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import pstats
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Packages whose versions every report lists (a missing one is shown as "not installed").
REPORTED_PACKAGES: tuple[str, ...] = (
    "wsgicore",
    "h11",
    "waitress",
    "werkzeug",
    "gunicorn",
    "cheroot",
    "granian",
)


@dataclass(frozen=True, slots=True)
class Summary:
    """min / median / max of a list of samples (and how many there were)."""

    minimum: float
    median: float
    maximum: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no samples")
        return cls(min(samples), statistics.median(samples), max(samples), len(samples))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Round-by-round ratios of two contenders measured in the same rounds."""
    return [n / d for n, d in zip(numerators, denominators, strict=True) if d > 0]


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_revision() -> str:
    """The HEAD commit (short) and whether the work tree differs from it."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev} (src/ modified)" if dirty else rev


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_lines() -> list[str]:
    """Human-readable facts about where and with what the benchmark ran."""
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = ", ".join(f"{name} {package_version(name)}" for name in REPORTED_PACKAGES)
    return [
        f"date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), {mem} RAM, "
        f"{platform.system()} {platform.release()}",
        f"python: {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"packages: {versions}",
        f"wsgicore revision: {git_revision()}",
    ]


def load_average() -> str:
    """/proc/loadavg's 1, 5 and 15 minute figures: other work on the machine shows up here."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _short_path(filename: str) -> str:
    """``.../site-packages/h11/_readers.py`` -> ``h11/_readers.py`` (keeps same-named modules of
    different packages apart, which ``pstats.strip_dirs`` would merge)."""
    if filename.startswith(("<", "~")):
        return filename
    parts = Path(filename).parts
    return "/".join(parts[-2:])


def _short_func(func: tuple[str, int, str]) -> tuple[str, int, str]:
    return _short_path(func[0]), func[1], func[2]


def print_profile(stats: pstats.Stats, top: int, *, out: TextIO = sys.stdout) -> None:
    """Own time per module, then the ``top`` functions by own time and by cumulative time."""
    by_module: dict[str, float] = {}
    total = 0.0
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        key = _short_path(filename) if filename != "~" else f"builtin: {name}"
        by_module[key] = by_module.get(key, 0.0) + tottime
        total += tottime
    print(f"--- own time by module (total {total:.3f} s) ---", file=out)
    for module, seconds in sorted(by_module.items(), key=lambda kv: -kv[1])[:top]:
        share = 100.0 * seconds / total if total else 0.0
        print(f"{seconds:9.3f} s {share:5.1f} %  {module}", file=out)
    # strip_dirs() would merge h11/_connection.py with wsgicore/_connection.py: swap in a shortener
    # that keeps the package (pstats looks the helper up as a module global at each call).
    original = pstats.func_strip_path  # type: ignore[attr-defined]
    pstats.func_strip_path = _short_func  # type: ignore[attr-defined]
    try:
        stats.strip_dirs()
    finally:
        pstats.func_strip_path = original  # type: ignore[attr-defined]
    stats.stream = out  # type: ignore[attr-defined]
    print(f"--- top {top} by own time (tottime) ---", file=out)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(top)
    print(f"--- top {top} by cumulative time ---", file=out)
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)


def add_naive_headers(environ: dict[str, Any], headers: Iterable[tuple[bytes, bytes]]) -> None:
    """The environ's header keys the way a naive h11 server builds them (the h11 contenders)."""
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = environ[key] + "," + value if key in environ else value


def callgrind_instructions(module: str, *arguments: str) -> int:
    """User-space instructions counted by callgrind while ``python -m module *arguments`` runs
    (``PYTHONHASHSEED=0``, the repository on the path): the noise-immune measure of the
    instruction-count tools (``benchmarks.instructions``, ``benchmarks.bodyinstructions``)."""
    import re

    env = dict(os.environ, PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO_ROOT)) if p)
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
               "-m", module, *arguments]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"callgrind failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(match.group(1))
