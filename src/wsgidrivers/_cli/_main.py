"""``wsgicore``: parse, validate, load the application, listen, and hand over to the driver.

While it runs, stdout and stderr are guarded (``_streams``: a reader that went away never stops the
server or its stop), and only the ``wsgicore`` logger is configured (``_logging``: never the root
logger, the application's). The exit status: 0 after a clean stop, 1 when an address cannot be
listened on, 2 for a usage error or an application that cannot be loaded, :data:`CUT_OFF` when the
stop cut requests in progress off.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import ssl
import sys

from wsgidrivers._common.accesslog import AccessLog
from wsgidrivers._common.runners import Plan, runner
from wsgidrivers._common.settings import Settings

from ._appspec import LoadError, add_search_path, load_app
from ._banner import banner
from ._build import SettingsError, access_log, build
from ._listen import ListenError, close_all, listen_all
from ._logging import configure_logging
from ._options import CUT_OFF, DEFAULT_DRIVER, build_parser, parse
from ._reload import RESTART, Watcher, engine_available, inherited_sockets, supervise, supervised
from ._streams import guarded_stdio
from ._tls import TLSError, server_context
from ._values import DEFAULT_PORT, Bind

__all__ = ["main"]


def _binds(parser: argparse.ArgumentParser, args: argparse.Namespace, from_env: set[str]) -> list[Bind]:
    """--bind, or --host/--port; when both are set, the command line's beats the environment's."""
    host_port = {name for name in ("host", "port") if getattr(args, name) is not None}
    if args.bind and host_port:
        bind_from_env = "bind" in from_env
        if bind_from_env == (host_port <= from_env):  # both from the same place
            parser.error("argument --bind: give --bind or --host/--port, not both")
        if bind_from_env:
            args.bind = None  # the command line's --host/--port win
    if args.bind:
        binds: list[Bind] = args.bind
        return binds
    host = (args.host or "127.0.0.1").removeprefix("[").removesuffix("]")
    return [Bind(host, DEFAULT_PORT if args.port is None else args.port)]


def _wait_for_a_fix(files: tuple[str, ...], engine: str) -> int:
    """In a reloader's child whose application failed to load: exit to be restarted once one of
    the files involved (or any loaded module) changes; 0 on SIGINT/SIGTERM."""
    stopped: list[int] = []
    watcher = Watcher(lambda path: None, extra=files, engine=engine,
                      on_orphaned=lambda: stopped.append(0))

    def stop(signum: int, frame: object) -> None:
        stopped.append(signum)
        watcher.changed.set()

    signal.signal(signal.SIGTERM, stop)  # SIGINT is the supervisor's (see _serve)
    watcher.start()
    watcher.changed.wait()
    return 0 if stopped else RESTART


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _restart_on_change(path: str) -> None:
    print(f"wsgicore: {path} changed, restarting", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)  # the runner stops as on any SIGTERM


def _orphaned() -> None:
    print("wsgicore: the reloader is gone, stopping", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None, *, prog: str = "wsgicore", driver: str = DEFAULT_DRIVER) -> int:
    """The command line; returns the exit status (2 for a usage error, as argparse exits)."""
    with guarded_stdio():
        status = _main(argv, prog=prog, driver=driver)
    if status == CUT_OFF or (status == RESTART and _cut_off):
        _exit_now(status)
    return status


#: Set when the stop cut requests off (their threads are still running).
_cut_off = False


def _exit_now(status: int) -> None:
    """Exit with ``status`` while threads are still running requests that were cut off: without
    the interpreter's finalization, which would wait for any non-daemon thread the application
    started and can abort when a daemon thread holds a stream's lock at that moment. What is
    written is flushed first (the guarded streams never fail)."""
    with contextlib.suppress(Exception):
        logging.shutdown()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _main(argv: list[str] | None, *, prog: str, driver: str) -> int:
    parser = build_parser(prog, driver)
    args, from_env = parse(parser, argv)
    binds = _binds(parser, args, from_env)
    if args.threads is not None and args.driver == "simple":
        parser.error("argument --threads: the simple driver serves one connection at a time "
                     "(use --driver threading or asyncio)")
    if args.grace < 0:
        parser.error(f"argument --grace: must be 0 or more seconds, not {args.grace}")
    if not engine_available(args.reload_engine):
        parser.error(f"argument --reload-engine: {args.reload_engine} is not installed "
                     f"(pip install {args.reload_engine})")
    try:
        settings = build(args)
        access = access_log(args)
        context = server_context(args.certfile, args.keyfile)
    except (SettingsError, TLSError) as exc:
        parser.error(str(exc))
    if supervised():
        # A reloader's serving process takes its stop from the supervisor, which passes every
        # Ctrl-C on as SIGTERM: the terminal's own SIGINT would make each Ctrl-C count twice (and
        # the second one stops at once).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Until the driver's runner installs its own handlers, SIGTERM (a process manager, `kill`)
    # stops as cleanly as Ctrl-C: while the application loads, or just before serving.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _serve(parser, args, binds=binds, settings=settings, access=access,
                      context=context, argv=argv)
    except KeyboardInterrupt:
        return 0


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace, *, binds: list[Bind],
           settings: Settings, access: AccessLog | None, context: ssl.SSLContext | None,
           argv: list[str] | None) -> int:
    """Everything after the options are checked; the exit status."""
    global _cut_off
    prog = parser.prog
    level = getattr(logging, args.log_level.upper())
    configure_logging(level)
    inherited = inherited_sockets()
    if args.chdir is not None and inherited is None:  # a reloader's child starts there already
        try:
            os.chdir(args.chdir)
        except OSError as exc:
            parser.error(f"argument --chdir: {exc.strerror or exc}: {args.chdir!r}")
    add_search_path()
    try:
        if args.reload and inherited is None:
            sockets = listen_all(binds)
            try:
                command = [sys.executable, "-m", "wsgidrivers", "--driver", args.driver,
                           *(sys.argv[1:] if argv is None else argv)]
                return supervise(command, sockets)
            finally:
                close_all(sockets, binds)
        try:
            app = load_app(args.app, call=args.call)
        except LoadError as exc:
            print(f"{prog}: error: cannot load {args.app!r}: {exc}", file=sys.stderr, flush=True)
            return 2 if inherited is None else _wait_for_a_fix(exc.files, args.reload_engine)
        sockets = inherited if inherited is not None else listen_all(binds)
    except ListenError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    plan = Plan(app=app, sockets=tuple(sockets), settings=settings,
                threaded=args.driver != "simple", threads=args.threads, ssl=context,
                access_log=access if level <= logging.INFO else None, grace=args.grace,
                stop_signals=(signal.SIGTERM,) if inherited is not None else None)
    serving = runner(args.driver)  # imports the chosen driver's package, and no other
    if level <= logging.INFO:
        print("\n".join(banner(plan, serving, args.app or "demo_app")), flush=True)
    watcher = None
    if inherited is not None:
        watcher = Watcher(_restart_on_change, engine=args.reload_engine, on_orphaned=_orphaned)
        watcher.start()
    try:
        cut = serving.run(plan)
    finally:
        close_all(sockets, [] if inherited is not None else binds)
    _cut_off = cut > 0
    restart = watcher is not None and watcher.changed.is_set() and os.getppid() == watcher.parent
    return RESTART if restart else CUT_OFF if cut else 0
