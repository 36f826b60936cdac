"""The Config every driver serves its connections with (:func:`serving_config`), decided once here
so that drivers only move bytes: the ``Date``/``Server`` defaults, keep-alive, ``wsgi.multithread``,
https. (What a driver does with a connection, and which deadline it keeps, is ``next_action``'s.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from ._config import SERVER_SOFTWARE, Config

__all__ = ["SERVER_SOFTWARE", "serving_config"]


def serving_config(
    config: Config | None,
    *,
    clock: Callable[[], float] | None,
    keep_alive: bool,
    multithread: bool,
    secure: bool = False,
    spool: Callable[[], IO[bytes]] | None = None,
    buffer_chunked_body: bool | None = None,
) -> Config:
    """The Config a driver serves its connections with: the one rule for every driver.

    - ``config`` None: the drivers' default, ``Date`` from ``clock`` (RFC 9110 §6.6.1: an origin
      server with a clock sends Date) and ``Server: SERVER_SOFTWARE``.
    - A given ``config`` whose ``clock`` is ``"driver"`` (its default) gets ``clock``: a Config given
      to set a limit keeps ``Date``. ``clock=None`` means no ``Date`` (the one way to turn it off),
      ``server_software=None`` no ``Server``, from every driver alike.
    - Persistent connections only when both the config and the driver allow them (RFC 9112 §9.3).
    - ``wsgi.multithread`` true when the driver may run requests in several threads (PEP 3333).
    - ``wsgi.url_scheme`` ``https`` over TLS, unless the config chose a scheme of its own.
    - Chunked request bodies are buffered before the app runs when ``buffer_chunked_body`` says so
      (the drivers': on unless their ``stream_chunked_body`` setting is set, so that no app that
      reads ``CONTENT_LENGTH`` bytes gets an empty body), else as the config says (None). A
      buffered body goes to the driver's ``spool`` (a file that leaves memory past a threshold),
      unless the config names its own ``body_spool``.
    """
    base = config if config is not None else Config(clock=clock, server_software=SERVER_SOFTWARE)
    changes: dict[str, Any] = {}
    if isinstance(base.clock, str):  # "driver", the only str a Config takes
        changes["clock"] = clock
    if base.keep_alive and not keep_alive:
        changes["keep_alive"] = False
    if multithread and not base.multithread:
        changes["multithread"] = True
    if secure and base.url_scheme == "http":
        changes["url_scheme"] = "https"
    if buffer_chunked_body is not None and buffer_chunked_body != base.buffer_chunked_body:
        changes["buffer_chunked_body"] = buffer_chunked_body
    buffered = changes.get("buffer_chunked_body", base.buffer_chunked_body)
    if buffered and base.body_spool is None and spool is not None:
        changes["body_spool"] = spool
    return base.replace(**changes) if changes else base
