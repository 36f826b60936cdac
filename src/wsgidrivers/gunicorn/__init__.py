"""gunicorn worker classes whose HTTP is wsgicore's: ``gunicorn -k wsgidrivers.gunicorn.<Name>``.

- :class:`ThreadWorker`: the blocking driver (``wsgidrivers.simple_server``), a thread per open
  connection; ``--threads`` requests in the application at once.
- :class:`AsyncioWorker`: the asyncio driver (``wsgidrivers.asyncio``); idle keep-alive connections
  cost no thread, applications run in a pool of ``--threads`` threads.

Both honour gunicorn's worker contract (listeners handed over by the arbiter, heartbeat, signals,
``--graceful-timeout``, ``--max-requests``, hooks, TLS, limits, proxy trust, access log); see
docs/deployment.md. Needs gunicorn: ``pip install 'wsgicore[gunicorn]'``.
"""

from __future__ import annotations

try:
    import gunicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "wsgidrivers.gunicorn needs gunicorn: pip install 'wsgicore[gunicorn]'"
    ) from exc

from ._aio import AsyncioWorker
from ._threaded import ThreadWorker

__all__ = ["AsyncioWorker", "ThreadWorker"]

for _cls in (AsyncioWorker, ThreadWorker):
    _cls.__module__ = __name__
del _cls
