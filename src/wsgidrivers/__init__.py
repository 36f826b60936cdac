"""Drivers for wsgicore: each does the I/O (sockets, threads, timeouts) around ``wsgicore.Connection``.

- ``wsgidrivers.memory``: in-memory, for tests and fuzzing.
- ``wsgidrivers.simple_server``: a blocking drop-in for ``wsgiref.simple_server``.
- ``wsgidrivers.asyncio``: an asyncio server; applications run in a bounded thread pool.
"""
