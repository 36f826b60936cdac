"""Benchmarks for wsgicore: the in-memory core cycle and real servers over loopback.

Run ``python -m benchmarks.inmemory`` (the core cycle alone) or ``python -m benchmarks``
(everything; writes ``benchmarks/RESULTS.md``). Nothing here is imported by the package itself.
"""
