"""Every bad value is a usage error: status 2, one ``error:`` line naming the option and one pointer to
``--help`` (not argparse's usage block), no traceback.

Most run in-process (``main`` exits through argparse exactly as the console script does); a few run
as a child process to show the same from the outside.
"""

from __future__ import annotations

import pytest

from wsgidrivers._cli import main

from ._process import run

REFUSED = [
    (["--port", "70000"], "argument --port: port 70000 is not in 0-65535"),
    (["--port", "-1"], "argument --port: port -1 is not in 0-65535"),
    (["--port", "http"], "argument --port: not a port number"),
    (["--bind", "127.0.0.1:99999"], "port 99999 is not in 0-65535"),
    (["--bind", ":8000"], "no host in ':8000'"),
    (["--bind", "127.0.0.1:"], "no port after ':'"),
    (["--bind", "[::1"], "not HOST:PORT or [IPV6]:PORT"),
    (["--bind", "unix:"], "unix: needs a path"),
    (["--bind", "127.0.0.1:1", "--port", "2"], "give --bind or --host/--port, not both"),
    (["--threads", "0"], "argument --threads/--workers: must be at least 1, not 0"),
    (["--workers", "-2"], "must be at least 1"),
    (["--driver", "simple", "--threads", "2"], "the simple driver serves one connection at a time"),
    (["--driver", "twisted"], "argument --driver: invalid choice: 'twisted'"),
    (["--head-timeout", "-1"], "argument --head-timeout: head_timeout must be a positive number"),
    (["--io-timeout", "0"], "argument --io-timeout: io_timeout must be a positive number"),
    (["--keep-alive-timeout", "0"], "argument --keep-alive-timeout: keep_alive_timeout must be"),
    (["--linger-timeout", "-0.5"], "argument --linger-timeout: linger_timeout must be"),
    (["--head-timeout", "nan"], "argument --head-timeout: not a number of seconds"),
    (["--io-timeout", "inf"], "argument --io-timeout: not a number of seconds"),
    (["--grace", "-1"], "argument --grace: must be 0 or more seconds"),
    (["--max-body-size", "-5"], "argument --max-body-size: Config.max_body_bytes must be"),
    (["--max-body-size", "ten"], "argument --max-body-size: not a size in bytes"),
    (["--max-request-line", "0"], "argument --max-request-line: Config.max_request_line must be"),
    (["--max-header-size", "0"], "argument --max-header-size: Config.max_header_field must be"),
    (["--max-header-count", "0"], "argument --max-header-count: Config.max_header_count must be"),
    (["--max-head-size", "0"], "argument --max-head-size: Config.max_head_bytes must be"),
    (["--max-chunk-line", "0"], "argument --max-chunk-line: Config.max_chunk_line must be"),
    (["--max-drain-size", "-1"], "argument --max-drain-size: Config.max_drain_bytes must be"),
    (["--max-buffered-body-size", "-1"],
     "argument --max-buffered-body-size: Config.max_buffered_body_bytes must be"),
    (["--buffer-chunked-body", "--stream-chunked-body"],
     "argument --stream-chunked-body: give --stream-chunked-body or --buffer-chunked-body, not both"),
    (["--url-prefix", "app/"], "argument --url-prefix: Config.script_name must be"),
    (["--trusted-proxy", "*"], "argument --trusted-proxy: Config.trusted_proxies: '*' is not accepted"),
    (["--trusted-proxy", "example.com"], "argument --trusted-proxy: Config.trusted_proxies: 'example.com'"),
    (["--trusted-proxy", "127.0.0.1", "--trusted-proxy-headers", "x-real-ip"],
     "argument --trusted-proxy-headers: Config.trusted_proxy_headers: 'x-real-ip'"),
    (["--trusted-proxy-count", "0"], "argument --trusted-proxy-count: must be at least 1"),
    (["--trusted-proxy", "127.0.0.1", "--secure-scheme-header", "X-Forwarded-Ssl"],
     "argument --secure-scheme-header: expected NAME=VALUE"),
    (["--log-level", "loud"], "argument --log-level: invalid choice"),
    (["--keyfile", "key.pem"], "--keyfile needs --certfile"),
    (["--certfile", "/nonexistent/cert.pem"], "cannot read /nonexistent/cert.pem: no such file"),
    (["--chdir", "/nonexistent/dir"], "argument --chdir: No such file or directory"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    # Options that say how to believe a trusted proxy do nothing without one.
    (["--trusted-proxy-headers", "x-forwarded-for"],
     "argument --trusted-proxy-headers: needs --trusted-proxy"),
    (["--trusted-proxy-count", "2"], "argument --trusted-proxy-count: needs --trusted-proxy"),
    (["--secure-scheme-header", "X-Forwarded-Ssl=on"],
     "argument --secure-scheme-header: needs --trusted-proxy"),
    (["--access-log-format", "%(h)s %(zz)s"], "argument --access-log-format: unknown atom %(zz)s"),
    (["--access-log-format", "100% done"], "argument --access-log-format: a '%' at offset 3 starts no atom"),
    (["--access-log-format", "%(h)s", "--access-log-json"],
     "argument --access-log-json: give --access-log-format or --access-log-json, not both"),
]


@pytest.mark.parametrize(("argv", "message"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_a_bad_value_is_a_usage_error(argv: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    first, pointer = err.splitlines()  # two lines, no usage block
    assert first.startswith("wsgicore: error: ")
    assert message in first
    assert pointer == "Try 'wsgicore --help' for more information."
    assert "Traceback" not in err


def test_a_key_that_is_not_a_certificate_is_a_usage_error(tmp_path: pytest.TempPathFactory,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cert = f"{tmp_path}/cert.pem"
    with open(cert, "w") as file:
        file.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--certfile", cert])
    assert exit_info.value.code == 2
    assert f"cannot use the certificate {cert!r}" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["wsgidrivers", "wsgidrivers.simple_server", "wsgidrivers.asyncio"])
def test_from_the_outside_too(module: str) -> None:
    result = run("--port", "70000", module=module)
    assert result.returncode == 2
    assert result.stderr == (
        f"python -m {module}: error: argument --port: port 70000 is not in 0-65535\n"
        f"Try 'python -m {module} --help' for more information.\n")
    assert result.stdout == ""


def test_a_bad_environment_value_names_the_variable() -> None:
    result = run(env={"WSGICORE_PORT": "99999"})
    assert result.returncode == 2
    assert "error: environment variable WSGICORE_PORT: port 99999 is not in 0-65535" in result.stderr
    switch = run(env={"WSGICORE_KEEP_ALIVE": "maybe"})
    assert switch.returncode == 2
    assert "environment variable WSGICORE_KEEP_ALIVE: not one of 1/0" in switch.stderr
    settings = run(env={"WSGICORE_HEAD_TIMEOUT": "0"})
    assert settings.returncode == 2
    assert "argument --head-timeout: head_timeout must be a positive number" in settings.stderr


@pytest.mark.parametrize(("environ", "message"), [
    ({"WSGICORE_MAX_BODY_BYTES": "10"},
     "unknown environment variable WSGICORE_MAX_BODY_BYTES (did you mean WSGICORE_MAX_BODY_SIZE?)"),
    ({"WSGICORE_LOGLEVEL": "debug"},
     "unknown environment variable WSGICORE_LOGLEVEL (did you mean WSGICORE_LOG_LEVEL?)"),
    ({"WSGICORE_TRUSTED_PROXIES": "10.0.0.1"},
     "unknown environment variable WSGICORE_TRUSTED_PROXIES (did you mean WSGICORE_TRUSTED_PROXY?)"),
    # --workers is --threads' other name: its variable is WSGICORE_THREADS.
    ({"WSGICORE_WORKERS": "4"},
     "unknown environment variable WSGICORE_WORKERS (did you mean WSGICORE_THREADS?)"),
    ({"WSGICORE_FUZZ_EXAMPLES": "100"},
     "unknown environment variable WSGICORE_FUZZ_EXAMPLES (no option has it: see --help)"),
    ({"WSGICORE_MAX_BODY_BYTES": "10", "WSGICORE_PORTT": "1"},
     "unknown environment variables WSGICORE_MAX_BODY_BYTES (did you mean WSGICORE_MAX_BODY_SIZE?), "
     "WSGICORE_PORTT (did you mean WSGICORE_PORT?)"),
])
def test_an_unknown_environment_variable_is_refused(environ: dict[str, str], message: str) -> None:
    result = run(env=environ)
    assert result.returncode == 2
    assert result.stderr == (f"python -m wsgidrivers: error: {message}\n"
                             "Try 'python -m wsgidrivers --help' for more information.\n")


def test_variables_that_are_not_ours_are_left_alone() -> None:
    # The reloader's own (_WSGICORE_*) and names that only start alike are not the options' prefix.
    from wsgidrivers._cli._options import build_parser, parse

    args, from_env = parse(build_parser("wsgicore"), [], {
        "_WSGICORE_LISTEN_FDS": "", "WSGICOREX": "1", "WSGICORE": "1", "WSGICORE_PORT": "9"})
    assert (args.port, from_env) == (9, {"port"})


def test_help_and_version_still_work_with_an_unknown_variable() -> None:
    assert run("--version", env={"WSGICORE_NOPE": "1"}).returncode == 0
    assert run("--help", env={"WSGICORE_NOPE": "1"}).returncode == 0
