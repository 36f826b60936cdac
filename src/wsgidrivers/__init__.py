"""Drivers for wsgicore: each does the I/O (sockets, threads, timeouts) around ``wsgicore.Connection``
and leaves every HTTP and PEP 3333 decision to the core.

- ``wsgidrivers.memory``: in-memory, for tests and fuzzing.
- ``wsgidrivers.simple_server``: a blocking drop-in for ``wsgiref.simple_server`` (a package).
- ``wsgidrivers.asyncio``: an asyncio server; applications run in a bounded thread pool (a package).
- ``wsgidrivers.gunicorn``: gunicorn worker classes on those two drivers.
- ``wsgidrivers.testing``: a test client, live servers and a pytest plugin on top of them.

``wsgidrivers._common`` holds what the drivers share (settings, listening and accepting, access log,
the command line's plan) and imports none of them, so each driver loads without the others; packages
meet there and through each other's public names, never through private modules. This package names
the drivers the command line (``wsgidrivers._cli``) offers; each registers its runner in
``_common.runners`` when its package is imported, so the command line imports only the one chosen.
"""

from ._common.runners import declare

declare("simple", "wsgidrivers.simple_server",
        "wsgidrivers.simple_server.WSGIServer: one connection at a time, keep-alive off (wsgiref's "
        "behaviour; a slow client makes the others wait)")
declare("threading", "wsgidrivers.simple_server",
        "wsgidrivers.simple_server.ThreadingWSGIServer: a thread per connection, keep-alive on")
declare("asyncio", "wsgidrivers.asyncio",
        "wsgidrivers.asyncio: connections on one event loop, the app in a pool of --threads threads; "
        "idle keep-alive connections cost no thread")
del declare
