"""A chunked request body read whole before the application runs, for frameworks that read only
``CONTENT_LENGTH`` bytes of ``wsgi.input`` (Django does; PEP 3333 lets a server present a body it
de-chunked with a length, as waitress does). Opt-in: ``Config.buffer_chunked_body``."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

from ._input import InputStream

__all__ = ["spool_body"]

_BLOCK = 65536


def spool_body(environ: dict[str, Any], make_spool: Callable[[], IO[bytes]] | None) -> IO[bytes]:
    """Read ``environ["wsgi.input"]`` to its end into a new spool, then present the spool as
    ``wsgi.input`` with its ``CONTENT_LENGTH``. A body error (``RequestBodyError``) propagates, and
    the spool is closed then. Returns the spool, for the caller to close after the response."""
    spool = make_spool() if make_spool is not None else io.BytesIO()
    try:
        stream = environ["wsgi.input"]
        total = 0
        while block := stream.read(_BLOCK):
            spool.write(block)
            total += len(block)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    environ["CONTENT_LENGTH"] = str(total)
    # The app sees a length-delimited body now; a Transfer-Encoding beside it would contradict it.
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input"] = InputStream(spool.read)
    return spool
