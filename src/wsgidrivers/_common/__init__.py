"""What the drivers share and nothing else: ``settings`` (the one settings object), ``listening``
(listening sockets and accepting), ``workerpool`` (the asyncio driver's and gunicorn AsyncioWorker's
threads), ``runners`` (the command line's plan and the drivers' runners), ``shutdown`` (how the
runners stop), ``filecopy``, ``accesslog``, ``demo``, ``types``. Imports no driver, so each driver
loads without the others: packages meet here, never in each other's private modules."""
