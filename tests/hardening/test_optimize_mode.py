"""Run a subset of the hardening suite under ``python -O`` in a subprocess.

wsgiref's checks are ``assert`` statements that vanish under ``-O``; ours must not. The subset covers
faulty applications (status/header validation, start_response misuse, exc_info, framing mismatches)
and hostile requests (smuggling, limits) in memory. The whole suite also runs directly with
``python -O -m pytest tests/hardening``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("wsgicore")
pytest.importorskip("wsgidrivers.memory")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

SUBSET_K = (
    "assert_statements_are_live or "
    "(test_faulty_app_in_memory and (status or header or hop or start_response or exc_info or "
    "content_length or return or str_ or raise)) or "
    "(test_hostile_request_in_memory and (cl_ or te_ or chunk_size or over_limit or bare_ or "
    "obs_fold or pipelined))"
)


def _run(optimize: bool) -> tuple[set[str], set[str], str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    if optimize:
        env["WSGICORE_EXPECT_OPTIMIZE"] = "1"
    cmd = [sys.executable, *(["-O"] if optimize else []), "-m", "pytest", "-q", "-rA",
           "-p", "no:cacheprovider", str(HERE / "test_faulty_apps.py"),
           str(HERE / "test_hostile_memory.py"), "-k", SUBSET_K]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=80,
                          check=False)
    out = proc.stdout + proc.stderr
    passed = {line.split()[1] for line in out.splitlines() if line.startswith("PASSED ")}
    failed = {line.split()[1] for line in out.splitlines() if line.startswith(("FAILED ", "ERROR "))}
    return passed, failed, out[-4000:]


@pytest.mark.slow
def test_subset_behaves_the_same_under_python_O() -> None:
    """Every check of the subset gives the same verdict with and without ``-O`` (a check that only
    held because of an ``assert`` in src would pass normally and fail, or vice versa, under -O)."""
    passed_o, failed_o, tail_o = _run(optimize=True)
    passed, failed, _tail = _run(optimize=False)
    assert len(passed_o) + len(failed_o) >= 60, tail_o
    assert any("assert_statements_are_live" in name for name in passed_o), tail_o
    assert failed_o == failed, (
        f"-O changes the verdict: only under -O: {sorted(failed_o - failed)}; "
        f"only without: {sorted(failed - failed_o)}\n{tail_o}"
    )
    assert passed_o == passed
