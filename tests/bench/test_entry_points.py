"""The benchmark entry points start: each one's ``--help`` runs (argparse formats every help
string there, so a stray ``%`` in one is caught here, not by a user)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    ["benchmarks", "benchmarks.inmemory", "benchmarks.profile_server", "benchmarks.growth",
     "benchmarks.testclient", "benchmarks.syscalls", "benchmarks.instructions",
     "benchmarks.filecpu", "benchmarks.serverinstructions"],
)
def test_help_runs(module: str) -> None:
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}"), result.stdout[:200]
