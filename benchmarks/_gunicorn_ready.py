"""gunicorn config file of ``benchmarks.deploy``: each worker, once it has loaded the application
(``post_worker_init``, just before its serving loop), appends its pid to the file named by
``WSGICORE_BENCH_READY_FILE``, so that a measurement starts only when every worker is ready (a
worker still booting would leave every first connection to the others: not the imbalance measured).
"""

from __future__ import annotations

import os
from typing import Any

loglevel = "warning"


def post_worker_init(worker: Any) -> None:
    path = os.environ.get("WSGICORE_BENCH_READY_FILE")
    if path:
        # One write() of one line on an O_APPEND file: whole lines from every worker.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        finally:
            os.close(fd)
