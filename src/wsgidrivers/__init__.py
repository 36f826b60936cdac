"""Drivers for wsgicore: each does the I/O (sockets, threads, timeouts) around ``wsgicore.Connection``
and leaves every HTTP and PEP 3333 decision to the core.

- ``wsgidrivers.memory``: in-memory, for tests and fuzzing.
- ``wsgidrivers.simple_server``: a blocking drop-in for ``wsgiref.simple_server`` (a package).
- ``wsgidrivers.asyncio``: an asyncio server; applications run in a bounded thread pool (a package).
- ``wsgidrivers.testing``: a test client, live servers and a pytest plugin on top of them.

``wsgidrivers._common`` holds what the drivers share (settings, access log, command-line plumbing)
and imports none of them, so each driver loads without the others.
"""
