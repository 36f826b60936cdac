"""The options of the one command line, and their defaults from ``WSGICORE_*`` environment variables.

Every option ``--some-name`` can be given as ``WSGICORE_SOME_NAME`` (the application too, as
``WSGICORE_APP``); the command line wins. A repeatable option's variable holds several values
separated by spaces; a switch's is 1/0, true/false, yes/no or on/off. A bad value in a variable is
a usage error that names the variable, and so is a ``WSGICORE_*`` variable that is no option's (a
typo, or an option this version does not have), with the closest name there is.

A usage error is one line and a pointer to ``--help`` (:class:`Parser`), not argparse's usage block.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import textwrap
from collections.abc import Mapping
from typing import Any, Final, NoReturn

from wsgicore import Config, __version__
from wsgidrivers._common.accesslog import DEFAULT_ACCESS_FORMAT
from wsgidrivers._common.runners import declared
from wsgidrivers._common.settings import (
    CONNECTION_THREADS,
    HEAD_TIMEOUT,
    IO_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    LINGER_TIMEOUT,
    SHUTDOWN_GRACE,
)

from ._reload import ENGINES
from ._values import DEFAULT_PORT, parse_bind, port, positive_int, seconds, size, switch

__all__ = ["CUT_OFF", "DEFAULT_DRIVER", "ENV_PREFIX", "LOG_LEVELS", "Parser", "build_parser",
           "env_name", "parse"]

#: A browser opens several connections and keeps them alive; with one connection at a time each
#: asset waits for the previous one's connection to go idle and close. Threads serve them at once,
#: with the least cost per request (docs/performance.md).
DEFAULT_DRIVER: Final = "threading"
ENV_PREFIX: Final = "WSGICORE_"
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
#: The exit status of a stop that cut requests in progress off (at the end of --grace, or at a
#: second signal): a process manager or script can tell it from a clean stop. Not 3: that is a
#: reloaded serving process's RESTART.
CUT_OFF: Final = 4

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

Access log atoms (--access-log-format, gunicorn's, written %(h)s; %% is a percent sign):
  h client address  l '-'  u Basic-auth user  t [date]  r request line  m method  U path  q query
  H protocol  s status  B body bytes  b body bytes or '-'  f Referer  a User-Agent  p <pid>
  T M D L time taken in seconds, milliseconds, microseconds, seconds with six decimals
  {{name}}i request header  {{name}}o response header  {{name}}e environ key
  Default: {default}

Every option can also be set by an environment variable: --max-body-size 10M is WSGICORE_MAX_BODY_SIZE=10M,
--no-access-log is WSGICORE_ACCESS_LOG=0, the application WSGICORE_APP. Options on the command line win. A
WSGICORE_* variable that is no option's is refused.

Ctrl-C or SIGTERM stops gracefully: requests in progress get --grace seconds; a second Ctrl-C or SIGTERM
stops at once. Exit status: 0 after a clean stop, 1 when an address cannot be listened on, 2 for a usage
error or an application that cannot be loaded, 4 when the stop cut requests in progress off.
"""


def env_name(action: argparse.Action) -> str:
    """``--max-body-size`` -> ``WSGICORE_MAX_BODY_SIZE``; the application -> ``WSGICORE_APP``."""
    longs = [option for option in action.option_strings if option.startswith("--")]
    name = longs[0][2:] if longs else action.dest
    return ENV_PREFIX + name.replace("-", "_").upper()


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one line and a pointer to ``--help`` (argparse
    prints its whole usage block, dozens of lines here, before the one that matters)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nTry '{self.prog} --help' for more information.\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
            sys.stderr.flush()
        raise SystemExit(status)


def build_parser(prog: str, driver: str = DEFAULT_DRIVER) -> Parser:
    """The parser; ``driver`` is the default of --driver (an alias's own driver)."""
    drivers = "\n".join(textwrap.fill(driver.summary, 100, initial_indent=f"  {name:10} ",
                                       subsequent_indent=" " * 13)
                         for name, driver in declared().items())
    epilog = _EPILOG.format(drivers=drivers, default=DEFAULT_ACCESS_FORMAT)
    parser = Parser(prog=prog, description=_DESCRIPTION, epilog=epilog,
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
                         help=f"threading: the most connections served at once (default "
                              f"{CONNECTION_THREADS}; past it they wait in the listen backlog); "
                              "asyncio: threads running the app (default min(32, CPUs + 4)); "
                              "--workers is its old asyncio name")
    serving.add_argument("--keep-alive", action=argparse.BooleanOptionalAction, default=None,
                         help="keep connections open between requests (default: on, except with "
                              "--driver simple)")
    serving.add_argument("--url-prefix", dest="script_name", metavar="PATH",
                         help="the application is mounted under PATH ('/app'): SCRIPT_NAME, "
                              "removed from PATH_INFO; any other path ('/other', '/appx') gets 404 "
                              "and never reaches the application")
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
        ("--max-body-size", "max_body_bytes", "no limit (every body)", "413"),
        ("--max-buffered-body-size", "max_buffered_body_bytes",
         f"{Config().max_buffered_body_bytes >> 30}G (a chunked body read before the app)", "413"),
        ("--max-chunk-line", "max_chunk_line", "4096", "400"),
        ("--max-drain-size", "max_drain_bytes", "64K (unread body drained to keep a connection)",
         "close"),
    ):
        limits.add_argument(flag, type=size, dest=field, metavar="N" if "count" in flag else "SIZE",
                            help=f"Config.{field}; default {default}; exceeded -> {status}")
    limits.add_argument("--stream-chunked-body", action="store_true", default=None,
                        dest="stream_chunked_body",
                        help="hand a chunked request body to the application as it arrives "
                             "(wsgi.input_terminated, no CONTENT_LENGTH), for apps that read "
                             "wsgi.input to its end. Default: read it whole before the application "
                             "runs (memory up to 1 MiB, then a temporary file; --max-buffered-body-size) "
                             "and give it a CONTENT_LENGTH, which Django and most frameworks read")
    limits.add_argument("--buffer-chunked-body", action="store_true", dest="buffer_chunked_body",
                        help="the default (kept for old command lines): see --stream-chunked-body")

    timeouts = parser.add_argument_group("timeouts (seconds)")
    for flag, seconds_default, what in (
        ("--head-timeout", HEAD_TIMEOUT, "a whole request head must arrive within this (then 408)"),
        ("--io-timeout", IO_TIMEOUT, "one read of the body or write of the response may wait this long"),
        ("--keep-alive-timeout", KEEP_ALIVE_TIMEOUT, "an idle kept-alive connection waits this long"),
        ("--linger-timeout", LINGER_TIMEOUT, "the most a lingering close waits for the client's close"),
    ):
        timeouts.add_argument(flag, type=seconds, metavar="S", help=f"{what} (default {seconds_default})")
    timeouts.add_argument("--grace", type=seconds, default=SHUTDOWN_GRACE, metavar="S",
                          help="at Ctrl-C or SIGTERM, requests in progress get this long; then they are "
                               f"cut off (logged, exit status 4). Default {SHUTDOWN_GRACE:g}")

    proxies = parser.add_argument_group("reverse proxies (off by default; see docs/deployment.md)")
    proxies.add_argument("--trusted-proxy", action="append", dest="trusted_proxies", metavar="ADDR",
                         help="a peer whose forwarding headers are believed: an address, a network "
                              "(10.0.0.0/8) or 'unix' (Unix-socket peers); repeatable. Alone, it "
                              "applies X-Forwarded-For and X-Forwarded-Proto")
    proxies.add_argument("--trusted-proxy-headers", metavar="LIST",
                         help="which headers it may set instead, comma-separated: x-forwarded-for, "
                              "x-forwarded-proto, x-forwarded-host, x-forwarded-port, "
                              "x-forwarded-prefix, forwarded; or 'none'. Needs --trusted-proxy")
    proxies.add_argument("--trusted-proxy-count", type=positive_int, metavar="N",
                         help="proxies that append to the lists; the client's value is N from the "
                              "right (default 1). Needs --trusted-proxy")
    proxies.add_argument("--secure-scheme-header", action="append", metavar="NAME=VALUE",
                         dest="secure_scheme_headers",
                         help="a header meaning https when it has VALUE (X-Forwarded-Ssl=on); "
                              "repeatable. Needs --trusted-proxy")

    logs = parser.add_argument_group("logging")
    logs.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                      help="one line per request on stderr (default on)")
    logs.add_argument("--access-log-format", metavar="FORMAT",
                      help="the access log's line, in gunicorn's atoms (below); default: the combined "
                           "log format, then the seconds taken")
    logs.add_argument("--access-log-json", action="store_true",
                      help="the access log as JSON lines: time, client, method, target, protocol, "
                           "status, bytes, duration, referer, user_agent")
    logs.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                      help="wsgicore's own messages (the 'wsgicore' logger; never the root logger: "
                           "the application's logging is its own); warning and above also hide the "
                           "banner and the access log (default info)")
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


def _refuse_unknown_variables(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """A ``WSGICORE_*`` variable that is no option's is a usage error naming it and the closest
    known name: a typo (``WSGICORE_MAX_BODY_BYTES``) would otherwise leave a limit unset in silence,
    as an unknown option would if argparse did not refuse it."""
    known: dict[str, str] = {}
    for action in parser._actions:
        if action.dest in ("help", "version"):
            continue
        name = env_name(action)
        for option in action.option_strings:  # another name of the option: its variable is suggested
            if option.startswith("--") and not option.startswith("--no-"):
                known.setdefault(ENV_PREFIX + option[2:].replace("-", "_").upper(), name)
        known[name] = name
    names = set(known.values())
    unknown = sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in names)
    if not unknown:
        return
    described = []
    for name in unknown:
        suggestion = known.get(name)
        if suggestion is None:
            # Compared without the prefix every name shares, which would make any two look alike.
            rest = {known_name[len(ENV_PREFIX):]: known_name for known_name in names}
            close = difflib.get_close_matches(name[len(ENV_PREFIX):], rest, n=1, cutoff=0.6)
            suggestion = rest[close[0]] if close else None
        described.append(f"{name} (did you mean {suggestion}?)" if suggestion
                         else f"{name} (no option has it: see --help)")
    plural = "s" if len(unknown) > 1 else ""
    parser.error(f"unknown environment variable{plural} {', '.join(described)}")


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
    args = parser.parse_args(argv)  # --help and --version end here, whatever the environment
    _refuse_unknown_variables(parser, environ)
    for dest in appended & from_env.keys():
        if getattr(args, dest) is None:
            setattr(args, dest, from_env[dest])
    return args, {dest for dest in from_env if getattr(args, dest) is from_env[dest]}
