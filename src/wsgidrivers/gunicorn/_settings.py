"""gunicorn's settings (its ``cfg``) turned into the core's :class:`wsgicore.Config` and the drivers'
one ``Settings`` object: the one place where gunicorn's names meet ours. What every driver decides
alike (keep-alive, ``wsgi.multithread``, https over TLS) is left to the drivers' rule
(``wsgicore.serving_config``, through :meth:`WorkerSettings.serving_config`).

Where the semantics differ (documented in docs/deployment.md):

- The three request limits are counted as gunicorn counts them (gunicorn/http/message.py, see
  :func:`request_limits`): the same requests pass and the first byte more is refused, with 414 for
  the request line and 431 for the fields (gunicorn 27 answers so too, older releases 400). The
  whole head is also bounded (``max_head_bytes``, 64 KiB or one line of each limit if larger), where
  gunicorn bounds the field lines at ``fields * (field_size + 2) + 4`` bytes.
- ``--keep-alive`` (2 s; 0 = off) -> the idle timeout of a kept-alive connection.
- ``--no-sendfile`` -> ``wsgi.file_wrapper`` files are copied, never sent with sendfile().
- ``--env WSGICORE_STREAM_CHUNKED_BODY=1`` (or the variable in the environment) -> chunked request
  bodies stream to the app (the drivers' ``stream_chunked_body``); by default they are read whole
  before the app runs and given a ``CONTENT_LENGTH``, bounded by
  ``--env WSGICORE_MAX_BUFFERED_BODY_SIZE=<bytes>`` (``Config.max_buffered_body_bytes``). gunicorn's
  own parser hands a chunked body to the app unbuffered, with no ``CONTENT_LENGTH``.
- ``--proxy-protocol`` and ``--http-protocols h2`` are refused (the worker does not boot).
- ``--forwarded-allow-ips`` + ``secure_scheme_headers`` -> the core's proxy settings
  (``Config.trusted_proxies`` + ``Config.secure_scheme_headers``, see :func:`proxy_settings`); as in
  gunicorn, every forwarding header still reaches the environ as it came.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final

import gunicorn

import wsgicore
from wsgicore import Config
from wsgidrivers._common.settings import Settings

__all__ = ["WorkerSettings", "proxy_settings", "request_limits", "server_software", "worker_settings"]

#: gunicorn's own numbers (gunicorn/http/message.py): the largest request line limit, and the one
#: its C parser uses for 0 ("unlimited"; its Python parser sets none, and we need one); the largest
#: field count (also what 0 means); the field size 0 means since gunicorn 26 (before: "unlimited",
#: for which we take 65536).
_LINE_MAX: Final = 8190
_LINE_UNLIMITED: Final = 1024 * 1024
_FIELDS_MAX: Final = 32768
_FIELD_SIZE_DEFAULT: Final = 8190
_FIELD_SIZE_UNLIMITED: Final = 65536
_ZERO_FIELD_SIZE_IS_DEFAULT: Final = tuple(gunicorn.version_info) >= (26,)
_CRLF: Final = 2
#: The whole head's bound: the core's default, or one line of each limit if that is larger.
_HEAD_BYTES: Final = Config().max_head_bytes
#: ``Config.trusted_proxies``' entry for Unix-socket peers.
_UNIX: Final = "unix"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What both workers take from gunicorn's cfg, decided once per worker process."""

    #: The drivers' settings: ``config`` (gunicorn's limits, ``Server``, ``Date``, proxy trust,
    #: ``wsgi.multiprocess``), keep-alive (``--keep-alive`` > 0) and its idle timeout, the timeout of
    #: one body read or response write, and sendfile (``--no-sendfile``: False; otherwise None, the
    #: drivers' rule: sendfile() except to loopback clients).
    driver: Settings
    #: Requests in the application at once (``--threads``) and connections open at once
    #: (``--worker-connections``).
    threads: int
    connections: int
    #: Seconds between heartbeats, and the age a request in the application may reach before the
    #: heartbeat stops vouching for the worker (see _heartbeat).
    heartbeat: float
    #: ``--graceful-timeout``.
    graceful_timeout: float

    def serving_config(self, *, secure: bool) -> Config:
        """The Config each connection is served with: the drivers' rule, for a worker that runs
        applications in threads (both do), over TLS when ``secure``."""
        return self.driver.serving_config(multithread=True, secure=secure)


def server_software() -> str:
    """``Server`` and ``SERVER_SOFTWARE``: our HTTP, gunicorn's processes (RFC 9110 §10.2.4)."""
    return f"wsgicore/{wsgicore.__version__} gunicorn/{gunicorn.__version__}"


def proxy_settings(cfg: Any) -> dict[str, Any]:
    """``--forwarded-allow-ips`` and ``secure_scheme_headers`` as the core's proxy settings
    (docs/deployment.md, "From gunicorn's settings").

    gunicorn's trust rule, in the core's terms: the listed peers (addresses or networks), plus every
    Unix-socket peer (gunicorn trusts those unconditionally), and ``*`` spelled out as "every
    peer", which the core wants written down. Only ``secure_scheme_headers`` is believed from
    them, never ``X-Forwarded-For`` (gunicorn never sets REMOTE_ADDR from it): a listed field
    with its value means https, with another value http, fields that disagree are a 400.

    Every forwarding header reaches the application as it came, from any peer, as gunicorn's
    own workers pass them (``Config.clear_untrusted_proxy_headers`` off), for the application or
    its middleware (ProxyFix and the like) to read. With no ``secure_scheme_headers`` nothing would
    be believed from anyone, so no proxy is trusted at all.
    """
    secure = {str(name): str(value) for name, value in dict(cfg.secure_scheme_headers).items()}
    if not secure:
        return {}
    allowed = [str(entry).strip() for entry in cfg.forwarded_allow_ips if str(entry).strip()]
    # The core refuses "*" (trusting everyone must be spelled out); gunicorn's "*" means exactly that.
    proxies = ("0.0.0.0/0", "::/0", _UNIX) if "*" in allowed else (*allowed, _UNIX)
    return {"trusted_proxies": proxies, "secure_scheme_headers": secure,
            "clear_untrusted_proxy_headers": False}


def request_limits(cfg: Any) -> tuple[int, int, int]:
    """``--limit-request-line``, ``--limit-request-fields`` and ``--limit-request-field_size`` as
    the core's ``(max_request_line, max_header_count, max_header_field)``, counted as gunicorn
    counts them, so the same requests pass and fail:

    - the request line without its CRLF, at most 8190 (a larger value is 8190); 0 is "unlimited",
      here 1 MiB (gunicorn's C parser's number for it);
    - the field lines (0, or more than 32768: 32768);
    - a field line *with* its CRLF: a line of ``limit_request_field_size - 2`` bytes is the longest
      that passes (the core counts without the CRLF). 0 is 8190 since gunicorn 26, "unlimited"
      before (here 65536).
    """
    line = int(cfg.limit_request_line)
    fields = int(cfg.limit_request_fields)
    size = int(cfg.limit_request_field_size)
    if fields <= 0 or fields > _FIELDS_MAX:
        fields = _FIELDS_MAX
    if size < 0 or (size == 0 and _ZERO_FIELD_SIZE_IS_DEFAULT):
        size = _FIELD_SIZE_DEFAULT
    # A field line is at least 2 bytes ("a:"), so below 3 every field line is refused either way.
    field = _FIELD_SIZE_UNLIMITED if size == 0 else max(1, size - _CRLF)
    line = _LINE_UNLIMITED if line == 0 else _LINE_MAX if line < 0 else min(line, _LINE_MAX)
    return line, fields, field


def _env(cfg: Any, name: str) -> str:
    """A variable set by gunicorn's ``--env`` (``raw_env``), else the worker's environment."""
    return str(cfg.env.get(name) or os.environ.get(name, "")).strip()


def _script_name(cfg: Any) -> str:
    # gunicorn takes the mount prefix from the SCRIPT_NAME environment variable (``--env`` sets it).
    raw = _env(cfg, "SCRIPT_NAME").rstrip("/")
    return raw if raw.startswith("/") else ""


def _body_settings(cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chunked-body options gunicorn has no setting for, as the command line's variables
    (``WSGICORE_STREAM_CHUNKED_BODY``, ``WSGICORE_MAX_BUFFERED_BODY_SIZE``): Config and Settings values."""
    config: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    stream = _env(cfg, "WSGICORE_STREAM_CHUNKED_BODY").lower()
    if stream in ("1", "true", "yes", "on"):
        settings["stream_chunked_body"] = True
    elif stream not in ("", "0", "false", "no", "off"):
        raise ValueError(f"WSGICORE_STREAM_CHUNKED_BODY must be 1/0, true/false, yes/no or on/off, "
                         f"not {stream!r}")
    limit = _env(cfg, "WSGICORE_MAX_BUFFERED_BODY_SIZE")
    if limit:
        if not limit.isdigit():
            raise ValueError(f"WSGICORE_MAX_BUFFERED_BODY_SIZE must be a number of bytes, not {limit!r}")
        config["max_buffered_body_bytes"] = int(limit)
    return config, settings


def _refuse_unsupported(cfg: Any) -> None:
    # Features of gunicorn's own HTTP parser that these workers do not have: refusing to boot says
    # so at once, where serving would answer every request with a 400 (a PROXY line) or offer
    # HTTP/2 through ALPN and then speak HTTP/1.1.
    proxy_protocol = getattr(cfg, "proxy_protocol", False)
    if proxy_protocol not in (False, None, "off", "none", ""):
        raise ValueError("--proxy-protocol is not supported by the wsgidrivers.gunicorn workers")
    if "h2" in (getattr(cfg, "http_protocols", None) or ()):
        raise ValueError("HTTP/2 (--http-protocols h2) is not supported by the wsgidrivers.gunicorn "
                         "workers; serve HTTP/2 from the proxy in front")


def worker_settings(cfg: Any) -> WorkerSettings:
    """Read gunicorn's cfg; a bad or unsupported value raises ``ValueError`` (the worker then
    cannot boot)."""
    _refuse_unsupported(cfg)
    line, fields, field = request_limits(cfg)
    keep_alive_timeout = float(cfg.keepalive)
    timeout = float(cfg.timeout)
    body_config, body_settings = _body_settings(cfg)
    # The Server header is set here; Date comes from the driver's clock (Config.clock's default,
    # filled by wsgicore.serving_config as for every driver).
    config = Config(
        max_request_line=line,
        max_header_count=fields,
        max_header_field=field,
        # Room for one line of each limit with its CRLF.
        max_head_bytes=max(_HEAD_BYTES, line + field + 4),
        server_software=server_software(),
        script_name=_script_name(cfg),
        # PEP 3333: another process may run the app at the same time (other workers, and the old
        # and new workers overlap during a reload even with -w 1).
        multiprocess=True,
        **proxy_settings(cfg),
        **body_config,
    )
    # The drivers' settings, gunicorn's values where it has them (the rest are every driver's).
    overrides: dict[str, Any] = {"config": config, "keep_alive": keep_alive_timeout > 0,
                                 **body_settings}
    if keep_alive_timeout > 0:
        overrides["keep_alive_timeout"] = keep_alive_timeout
    if timeout > 0:
        # A client that stalls a read or write for half of --timeout is dropped before the request
        # it holds could cost the whole worker (see _heartbeat).
        overrides["io_timeout"] = timeout / 2
    if getattr(cfg, "sendfile", None) is False:  # --no-sendfile; else the drivers' rule
        overrides["use_sendfile"] = False
    driver = Settings.of("gunicorn's settings", overrides)
    # The arbiter kills a worker whose heartbeat is older than --timeout (0: never).
    heartbeat = min(1.0, timeout / 4) if timeout > 0 else 1.0
    return WorkerSettings(
        driver=driver,
        threads=max(1, int(cfg.threads)),
        connections=max(1, int(cfg.worker_connections)),
        heartbeat=max(0.05, heartbeat),
        graceful_timeout=max(0.0, float(cfg.graceful_timeout)),
    )
