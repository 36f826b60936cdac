"""The worker classes under test (no gunicorn import here: the conftest must load without it)."""

WORKERS = ("ThreadWorker", "AsyncioWorker")
