"""From parsed options to the validated ``Config`` and ``Settings`` the drivers take.

The values are checked by ``Config`` and ``Settings`` themselves (the same rules as for the Python
API); their ``ValueError`` names the field, which is mapped back to the option that set it.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from wsgicore import SERVER_SOFTWARE, Config
from wsgidrivers._common.accesslog import AccessLog
from wsgidrivers._common.settings import Settings, driver_defaults

__all__ = ["CONFIG_OPTIONS", "DEFAULT_PROXY_HEADERS", "SETTINGS_OPTIONS", "SettingsError",
           "access_log", "build"]

#: What ``--trusted-proxy`` alone applies: the client's address and the scheme, what every proxy
#: sends (uvicorn's ``--forwarded-allow-ips`` applies the same two). Host, port and prefix are
#: one option away: a proxy that does not set them would leave the client's own values trusted.
DEFAULT_PROXY_HEADERS: Final = ("x-forwarded-for", "x-forwarded-proto")
#: The options that say how to believe a trusted proxy: without one, they would do nothing.
_NEED_A_PROXY: Final = {
    "trusted_proxy_headers": "--trusted-proxy-headers",
    "trusted_proxy_count": "--trusted-proxy-count",
    "secure_scheme_headers": "--secure-scheme-header",
}

#: Config field -> the option that sets it.
CONFIG_OPTIONS: Final = {
    "max_request_line": "--max-request-line",
    "max_header_field": "--max-header-size",
    "max_header_count": "--max-header-count",
    "max_head_bytes": "--max-head-size",
    "max_body_bytes": "--max-body-size",
    "max_buffered_body_bytes": "--max-buffered-body-size",
    "max_chunk_line": "--max-chunk-line",
    "max_drain_bytes": "--max-drain-size",
    "buffer_chunked_body": "--buffer-chunked-body",
    "script_name": "--url-prefix",
    "trusted_proxies": "--trusted-proxy",
    "trusted_proxy_headers": "--trusted-proxy-headers",
    "trusted_proxy_count": "--trusted-proxy-count",
    "secure_scheme_headers": "--secure-scheme-header",
}
#: Settings field -> the option that sets it.
SETTINGS_OPTIONS: Final = {
    "keep_alive": "--keep-alive",
    "head_timeout": "--head-timeout",
    "io_timeout": "--io-timeout",
    "keep_alive_timeout": "--keep-alive-timeout",
    "linger_timeout": "--linger-timeout",
    "stream_chunked_body": "--stream-chunked-body",
}


class SettingsError(Exception):
    """A value Config or Settings refused: ``option`` set it, ``message`` is theirs."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"argument {option}: {message}")


def _option_in(message: str, options: dict[str, str]) -> str:
    # The longest name first: "keep_alive_timeout" before "keep_alive".
    for field in sorted(options, key=len, reverse=True):
        if field in message:
            return options[field]
    return "options"


def _config_values(args: argparse.Namespace) -> dict[str, Any]:
    values = {field: getattr(args, field) for field in CONFIG_OPTIONS
              if field not in ("trusted_proxy_headers", "secure_scheme_headers")
              and getattr(args, field) is not None}
    if args.buffer_chunked_body and args.stream_chunked_body:
        raise SettingsError("--stream-chunked-body", "give --stream-chunked-body or "
                                                     "--buffer-chunked-body, not both")
    if not args.trusted_proxies:
        for field, option in _NEED_A_PROXY.items():
            if getattr(args, field) is not None:
                raise SettingsError(option, "needs --trusted-proxy (the peers whose headers are "
                                            "believed); without one it would do nothing")
    if args.trusted_proxy_headers is not None:
        names = tuple(name.strip() for name in args.trusted_proxy_headers.split(",") if name.strip())
        values["trusted_proxy_headers"] = () if names == ("none",) else names
    if args.secure_scheme_headers is not None:
        pairs = {}
        for item in args.secure_scheme_headers:
            name, equals, value = item.partition("=")
            if not equals or not name.strip():
                raise SettingsError("--secure-scheme-header", f"expected NAME=VALUE, not {item!r}")
            pairs[name.strip()] = value.strip()
        values["secure_scheme_headers"] = pairs
    if "trusted_proxies" in values:
        values["trusted_proxies"] = tuple(values["trusted_proxies"])
        if "trusted_proxy_headers" not in values:
            # A header named by --secure-scheme-header says the scheme its own way: not both.
            secure = {name.lower() for name in values.get("secure_scheme_headers", {})}
            values["trusted_proxy_headers"] = tuple(
                name for name in DEFAULT_PROXY_HEADERS if name not in secure)
    return values


def build(args: argparse.Namespace) -> Settings:
    """The driver settings, with the Config inside; a refused value is a :class:`SettingsError`."""
    try:
        # The drivers' own Server header plus the options; Date comes from the driver's clock
        # (Config.clock's default, filled by every driver).
        config = Config(server_software=SERVER_SOFTWARE, **_config_values(args))
    except ValueError as exc:
        raise SettingsError(_option_in(str(exc), CONFIG_OPTIONS), str(exc)) from None
    given = {field: getattr(args, field) for field in SETTINGS_OPTIONS
             if getattr(args, field) is not None}
    try:  # the one validation of the options (the driver's runner takes the object whole)
        return Settings.of("options", {"config": config, **given}, base=driver_defaults(args.driver))
    except ValueError as exc:
        raise SettingsError(_option_in(str(exc), SETTINGS_OPTIONS), str(exc)) from None


def access_log(args: argparse.Namespace) -> AccessLog | None:
    """The access log the options ask for (None: off); a bad format is a :class:`SettingsError`."""
    if args.access_log_json and args.access_log_format is not None:
        raise SettingsError("--access-log-json", "give --access-log-format or --access-log-json, "
                                                 "not both")
    try:
        log = AccessLog(args.access_log_format, json=args.access_log_json)
    except ValueError as exc:
        raise SettingsError("--access-log-format", str(exc)) from None
    return log if args.access_log else None
