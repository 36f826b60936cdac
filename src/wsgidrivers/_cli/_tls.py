"""The TLS context of ``--certfile``/``--keyfile``: the ssl module's server defaults (its choice of
protocol versions and ciphers follows Python's security updates), loaded once at start-up so that a
missing file or a key that does not match is a usage error before anything listens."""

from __future__ import annotations

import ssl

__all__ = ["TLSError", "server_context"]


class TLSError(Exception):
    """The certificate or key cannot be used; the message is one line for the user."""


def server_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """None without ``certfile``; a ``keyfile`` alone is an error."""
    if certfile is None:
        if keyfile is not None:
            raise TLSError("--keyfile needs --certfile")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except FileNotFoundError as exc:
        raise TLSError(f"cannot read {exc.filename or certfile}: no such file") from None
    except ssl.SSLError as exc:
        raise TLSError(f"cannot use the certificate {certfile!r} with the key {keyfile or certfile!r} "
                       f"(a PEM certificate chain and its private key are needed): "
                       f"{exc.reason or exc}") from None
    except OSError as exc:
        raise TLSError(f"cannot read {exc.filename or certfile}: {exc.strerror or exc}") from None
    return context
