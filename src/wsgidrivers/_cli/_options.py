"""The options of the one command line, and their defaults from ``WSGICORE_*`` environment variables.

Every option ``--some-name`` can be given as ``WSGICORE_SOME_NAME`` (the application too, as
``WSGICORE_APP``); the command line wins. A repeatable option's variable holds several values
separated by spaces; a switch's is 1/0, true/false, yes/no or on/off. A bad value in a variable is
a usage error that names the variable.
"""

from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Mapping
from typing import Any, Final

from wsgicore import __version__
from wsgidrivers._common.runners import declared
from wsgidrivers._common.settings import (
    HEAD_TIMEOUT,
    IO_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    LINGER_TIMEOUT,
    SHUTDOWN_GRACE,
)

from ._reload import ENGINES
from ._values import DEFAULT_PORT, parse_bind, port, positive_int, seconds, size, switch

__all__ = ["DEFAULT_DRIVER", "ENV_PREFIX", "LOG_LEVELS", "build_parser", "env_name", "parse"]

#: A browser opens several connections and keeps them alive; with one connection at a time each
#: asset waits for the previous one's connection to go idle and close. Threads serve them at once,
#: with the least cost per request (docs/performance.md).
DEFAULT_DRIVER: Final = "threading"
ENV_PREFIX: Final = "WSGICORE_"
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")

_DESCRIPTION = "Serve a WSGI application with wsgicore until Ctrl-C or SIGTERM."

_EPILOG = """\
APP names the application:
  module:name        an attribute (a dotted path works: module:obj.wsgi_app)
  module:factory()   a factory, called once; literal arguments are allowed: module:make('prod', debug=False)
  module             the module's 'application' (mod_wsgi's and Django's name), else its 'app'
  (none)             wsgiref's demo_app, which shows the environ
The current directory (after --chdir) is searched first for the module.

Drivers:
{drivers}
  The default is threading: a browser opens several connections and keeps them open; one connection at a
  time would make each wait for the previous one to go idle, and threads cost the least per request.

Every option can also be set by an environment variable: --max-body-size 10M is WSGICORE_MAX_BODY_SIZE=10M,
--no-access-log is WSGICORE_ACCESS_LOG=0, the application WSGICORE_APP. Options on the command line win.
Exit status: 0 after Ctrl-C or SIGTERM, 1 when an address cannot be listened on, 2 for a usage error or an
application that cannot be loaded.
"""


def env_name(action: argparse.Action) -> str:
    """``--max-body-size`` -> ``WSGICORE_MAX_BODY_SIZE``; the application -> ``WSGICORE_APP``."""
    longs = [option for option in action.option_strings if option.startswith("--")]
    name = longs[0][2:] if longs else action.dest
    return ENV_PREFIX + name.replace("-", "_").upper()


def build_parser(prog: str, driver: str = DEFAULT_DRIVER) -> argparse.ArgumentParser:
    """The parser; ``driver`` is the default of --driver (an alias's own driver)."""
    drivers = "\n".join(textwrap.fill(driver.summary, 100, initial_indent=f"  {name:10} ",
                                       subsequent_indent=" " * 13)
                         for name, driver in declared().items())
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION,
                                     epilog=_EPILOG.format(drivers=drivers),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", nargs="?", metavar="APP",
                        help="module:name, module:factory() or module (see below; default: demo_app)")
    parser.add_argument("--call", action="store_true",
                        help="APP names a factory: call it with no arguments and serve what it returns")
    parser.add_argument("--version", action="version",
                        version=f"wsgicore {__version__}")

    serving = parser.add_argument_group("serving")
    serving.add_argument("--driver", choices=tuple(declared()), default=driver,
                         help=f"how connections are served (default {driver}; see below)")
    serving.add_argument("-b", "--bind", action="append", type=parse_bind, metavar="ADDRESS",
                         help="HOST:PORT, [IPV6]:PORT or unix:PATH; repeat it to listen on several. "
                              "'[::]:PORT' (or '::') is every address, IPv6 and IPv4. "
                              f"Default 127.0.0.1:{DEFAULT_PORT}")
    serving.add_argument("--host", help="the host of a single address (instead of --bind)")
    serving.add_argument("--port", type=port,
                         help=f"its port (default {DEFAULT_PORT}; 0: any free port)")
    serving.add_argument("--threads", "--workers", type=positive_int, metavar="N",
                         help="threading: the most connections served at once (default: no limit); "
                              "asyncio: threads running the app (default min(32, CPUs + 4)); "
                              "--workers is its old asyncio name")
    serving.add_argument("--keep-alive", action=argparse.BooleanOptionalAction, default=None,
                         help="keep connections open between requests (default: on, except with "
                              "--driver simple)")
    serving.add_argument("--url-prefix", dest="script_name", metavar="PATH",
                         help="the application is mounted under PATH ('/app'): SCRIPT_NAME, "
                              "removed from PATH_INFO")
    serving.add_argument("--certfile", metavar="FILE",
                         help="serve TLS (https) with this PEM certificate chain")
    serving.add_argument("--keyfile", metavar="FILE",
                         help="its private key (default: in --certfile)")
    serving.add_argument("--chdir", metavar="DIR",
                         help="change to DIR before loading the application and binding")
    serving.add_argument("--reload", action="store_true",
                         help="restart when a source file of the application changes (development)")
    serving.add_argument("--reload-engine", choices=ENGINES, default="auto",
                         help="how --reload notices changes: poll (modification times, every 0.5 s), "
                              "watchfiles (the package, woken by the OS), auto (watchfiles if "
                              "installed; the default)")

    limits = parser.add_argument_group(
        "limits (bytes; K, M and G suffixes are KiB, MiB and GiB)")
    for flag, field, default, status in (
        ("--max-request-line", "max_request_line", "8192", "414"),
        ("--max-header-size", "max_header_field", "8192 (one field line)", "431"),
        ("--max-header-count", "max_header_count", "100 (field lines)", "431"),
        ("--max-head-size", "max_head_bytes", "64K (request line and fields)", "431"),
        ("--max-body-size", "max_body_bytes", "no limit", "413"),
        ("--max-chunk-line", "max_chunk_line", "4096", "400"),
        ("--max-drain-size", "max_drain_bytes", "64K (unread body drained to keep a connection)",
         "close"),
    ):
        limits.add_argument(flag, type=size, dest=field, metavar="N" if "count" in flag else "SIZE",
                            help=f"Config.{field}; default {default}; exceeded -> {status}")
    limits.add_argument("--buffer-chunked-body", action="store_true", dest="buffer_chunked_body",
                        help="read a chunked request body whole before the application runs and give "
                             "it a CONTENT_LENGTH (Django reads only that many bytes); needs "
                             "--max-body-size; memory up to 1 MiB, then a temporary file")

    timeouts = parser.add_argument_group("timeouts (seconds)")
    for flag, seconds_default, what in (
        ("--head-timeout", HEAD_TIMEOUT, "a whole request head must arrive within this (then 408)"),
        ("--io-timeout", IO_TIMEOUT, "one read of the body or write of the response may wait this long"),
        ("--keep-alive-timeout", KEEP_ALIVE_TIMEOUT, "an idle kept-alive connection waits this long"),
        ("--linger-timeout", LINGER_TIMEOUT, "the most a lingering close waits for the client's close"),
    ):
        timeouts.add_argument(flag, type=seconds, metavar="S", help=f"{what} (default {seconds_default})")
    timeouts.add_argument("--grace", type=seconds, default=SHUTDOWN_GRACE, metavar="S",
                          help="threading, asyncio: requests in progress get this long at shutdown "
                               f"(default {SHUTDOWN_GRACE:g})")

    proxies = parser.add_argument_group("reverse proxies (off by default; see docs/deployment.md)")
    proxies.add_argument("--trusted-proxy", action="append", dest="trusted_proxies", metavar="ADDR",
                         help="a peer whose forwarding headers are believed: an address, a network "
                              "(10.0.0.0/8) or 'unix' (Unix-socket peers); repeatable")
    proxies.add_argument("--trusted-proxy-headers", metavar="LIST",
                         help="which it may set, comma-separated: x-forwarded-for, x-forwarded-proto, "
                              "x-forwarded-host, x-forwarded-port, x-forwarded-prefix, forwarded")
    proxies.add_argument("--trusted-proxy-count", type=positive_int, metavar="N",
                         help="proxies that append to the lists; the client's value is N from the "
                              "right (default 1)")
    proxies.add_argument("--secure-scheme-header", action="append", metavar="NAME=VALUE",
                         dest="secure_scheme_headers",
                         help="a header meaning https when it has VALUE (X-Forwarded-Ssl=on); repeatable")

    logs = parser.add_argument_group("logging")
    logs.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                      help="one line per request on stderr (default on)")
    logs.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                      help="the application's logging (the root logger, on stderr) and ours: "
                           "warning and above hide the access log and the banner (default info)")
    return parser


def _env_value(action: argparse.Action, text: str) -> Any:
    if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
        return switch(text)
    convert = action.type if callable(action.type) else str
    if isinstance(action, argparse._AppendAction):
        return [convert(item) for item in text.split()]
    value = convert(text)
    if action.choices is not None and value not in action.choices:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def parse(parser: argparse.ArgumentParser, argv: list[str] | None,
          environ: Mapping[str, str] | None = None) -> tuple[argparse.Namespace, set[str]]:
    """The options, with the environment's defaults; also the names whose value came from it."""
    environ = os.environ if environ is None else environ
    from_env: dict[str, Any] = {}
    for action in parser._actions:
        name = env_name(action)
        if action.dest in ("help", "version") or name not in environ:
            continue
        try:
            from_env[action.dest] = _env_value(action, environ[name])
        except argparse.ArgumentTypeError as exc:
            parser.error(f"environment variable {name}: {exc}")
    # Repeatable options would append the command line's values to a default list: theirs are
    # filled in afterwards, so that the command line replaces the variable as for every option.
    appended = {action.dest for action in parser._actions if isinstance(action, argparse._AppendAction)}
    parser.set_defaults(**{dest: value for dest, value in from_env.items() if dest not in appended})
    args = parser.parse_args(argv)
    for dest in appended & from_env.keys():
        if getattr(args, dest) is None:
            setattr(args, dest, from_env[dest])
    return args, {dest for dest in from_env if getattr(args, dest) is from_env[dest]}
