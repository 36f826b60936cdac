"""One server under cProfile while a scenario's load runs against it.

    python -m benchmarks.profile_server                                  # ours, keep-alive hello
    python -m benchmarks.profile_server --server wsgicore-close --scenario upload-1mib
    python -m benchmarks.profile_server --server wsgiref --scenario hello-new-1 --duration 3
    python -m benchmarks.profile_server --server gunicorn-threadworker --scenario hello-new-1

The server runs in its own process pinned to CPU 1 (as in ``python -m benchmarks``), the load
generator on CPU 0; the server dumps its profile when it is stopped, and this prints the own time
per module and the top functions. Profiling slows the server down: use it for where the time goes,
not for how much there is. For the kernel's side (system calls and context switches per request),
see ``python -m benchmarks.syscalls``.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import print_profile
from benchmarks.harness import (
    CONTENDERS,
    LoadGenerator,
    ServerProcess,
    add_one_load_arguments,
    one_load,
)


def main(argv: Sequence[str] | None = None) -> int:
    # granian's app runs in a worker it forks itself: the profile would be the idle parent's.
    profilable = [c.key for c in CONTENDERS if c.key != "granian"]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_server", description=__doc__)
    add_one_load_arguments(parser, profilable, "wsgicore-keepalive")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    chosen = one_load(parser, args)
    if chosen is None:
        return 0
    spec, scenario, use_wrk = chosen.spec, chosen.scenario, chosen.use_wrk
    with tempfile.TemporaryDirectory(prefix="wsgicore-profile-") as tmp:
        work_dir = Path(tmp)
        profile_path = work_dir / "server.prof"
        server = ServerProcess(spec, work_dir, profile=str(profile_path))
        server.start()
        try:
            problem = server.wait_ready()
            if problem is not None:
                print(f"{spec.label}: {problem}")
                return 1
            load = LoadGenerator(use_wrk, work_dir)
            sample = load.run(scenario, server.port, args.duration)
        finally:
            server.stop()
        print(
            f"{spec.label}, {scenario.title}: {sample.rps:.1f} req/s under cProfile "
            f"({sample.requests} requests, {sample.errors} errors; {load.description})"
        )
        # gunicorn: the forked workers' profiles (the arbiter's shows only its loop).
        paths = sorted(work_dir.glob(profile_path.name + ".worker-*")) or [profile_path]
        paths = [path for path in paths if path.exists()]
        if not paths:
            print("the server wrote no profile")
            return 1
        if len(paths) > 1 or paths[0] != profile_path:
            print(f"profile of {len(paths)} gunicorn worker(s), all their threads")
        stats = pstats.Stats(str(paths[0]))
        for path in paths[1:]:
            stats.add(str(path))
        print_profile(stats, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
