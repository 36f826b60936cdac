"""``wsgicore`` serves: each driver, several addresses, a Unix socket, ``[::]``, TLS, and each option
that changes what is served, over loopback in a child process (every wait bounded)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support.certs import certificate
from support.clients import has_ipv6_loopback

from ._process import get, run, serve, unix_get, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
def test_each_driver_serves_the_demo_app_and_stops_cleanly(driver: str) -> None:
    served = serve("--driver", driver, "--port", "0")
    try:
        status, _, body = get(served.addresses[0], "/xyz?abc")
        assert status == 200
        assert body.startswith(b"Hello world!\n")
        assert b"PATH_INFO = '/xyz'" in body
    finally:
        assert served.stop(signal.SIGTERM) == 0, served.err
    assert "Traceback" not in served.err
    assert '"GET /xyz?abc HTTP/1.1" 200' in served.err
    assert f"with the {driver} driver" in served.banner[-1]


def test_the_default_driver_is_threading_with_keep_alive(tmp_path: Path) -> None:
    served = serve("--port", "0", write_app(tmp_path), cwd=tmp_path)
    try:
        _, headers, _ = get(served.addresses[0])
        assert headers.get("connection") != "close"
    finally:
        served.stop()
    assert ("with the threading driver (a thread per connection, up to 1000 at once, keep-alive on, "
            "TLS off)") in served.banner[-1]


@pytest.mark.parametrize(("option", "closes"), [("--no-keep-alive", True), ("--keep-alive", False)])
def test_keep_alive_option(option: str, closes: bool) -> None:
    served = serve("--port", "0", option)
    try:
        _, headers, _ = get(served.addresses[0])
    finally:
        served.stop()
    assert (headers.get("connection") == "close") is closes


def test_the_simple_driver_closes_by_default() -> None:
    served = serve("--driver", "simple", "--port", "0")
    try:
        assert get(served.addresses[0])[1].get("connection") == "close"
    finally:
        served.stop()


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
def test_two_binds_and_a_unix_socket(driver: str, tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    served = serve("--driver", driver, "-b", "127.0.0.1:0", "--bind", "127.0.0.1:0",
                   "--bind", f"unix:{path}", write_app(tmp_path), cwd=tmp_path)
    try:
        assert len(served.addresses) == 2
        assert served.addresses[0] != served.addresses[1]
        for address in served.addresses:
            assert get(address, "/x")[2] == b"http||/x|127.0.0.1|0"
        # No address on a Unix socket: REMOTE_ADDR is "", as in every driver (and gunicorn).
        assert unix_get(path, "/u") == (200, b"http||/u||0")
        assert f"Serving HTTP on unix:{path} ..." in served.banner
    finally:
        assert served.stop() == 0, served.err
    assert not os.path.exists(path)  # removed at exit


def test_a_stale_unix_socket_file_is_replaced_but_a_live_one_is_not(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    served = serve("--bind", f"unix:{path}")
    try:
        assert unix_get(path)[0] == 200
        second = run("--bind", f"unix:{path}")
        assert second.returncode == 1
        assert second.stderr.strip().endswith(f"cannot listen on unix:{path}: address already in use")
        assert unix_get(path)[0] == 200  # the first one's socket was left alone
    finally:
        served.stop()
    (tmp_path / "plain").write_text("")
    refused = run("--bind", f"unix:{tmp_path / 'plain'}")
    assert refused.returncode == 1
    assert "exists and is not a socket" in refused.stderr


@pytest.mark.skipif(not (socket.has_dualstack_ipv6() and has_ipv6_loopback()),
                    reason="no dual-stack IPv6 on this machine")
@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
@pytest.mark.parametrize("spelling", ["--bind=[::]:0", "--host=::"])
def test_all_addresses_serve_ipv4_too(driver: str, spelling: str) -> None:
    served = serve("--driver", driver, spelling, *(["--port", "0"] if "host" in spelling else []))
    try:
        port = served.addresses[0][1]
        assert get(("127.0.0.1", port))[0] == 200
        assert get(("::1", port))[0] == 200
    finally:
        served.stop()


def test_address_already_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--port", str(port))
    assert result.returncode == 1
    assert result.stderr == (
        f"python -m wsgidrivers: error: cannot listen on 127.0.0.1:{port}: address already in use\n")
    assert result.stdout == ""


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
def test_tls_serves_https(driver: str, tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    served = serve("--driver", driver, "--port", "0", "--certfile", cert, "--keyfile", key,
                   write_app(tmp_path), cwd=tmp_path)
    try:
        address = served.addresses[0]
        assert served.banner[0].startswith(f"Serving HTTPS on 127.0.0.1 port {address[1]} (https://")
        assert "TLS on" in served.banner[-1]
        status, _, body = get(address, "/s", tls=True)
        assert (status, body) == (200, b"https||/s|127.0.0.1|0")
        # A plain-HTTP client gets no answer, and the server goes on serving TLS.
        with socket.create_connection(address, timeout=10) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with contextlib.suppress(ConnectionResetError):
                assert not plain.recv(100).startswith(b"HTTP/1.1 200")
        assert get(address, "/again", tls=True)[2] == b"https||/again|127.0.0.1|0"
    finally:
        assert served.stop() == 0, served.err
    assert "Traceback" not in served.err
    # asyncio's TLS transport cannot half-close, and warned at each client's close when asked to.
    assert "eof_received" not in served.err


def test_tls_with_one_file_holding_both(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    both = tmp_path / "both.pem"
    both.write_text(Path(key).read_text() + Path(cert).read_text())
    served = serve("--port", "0", "--certfile", str(both))
    try:
        assert get(served.addresses[0], tls=True)[0] == 200
    finally:
        served.stop()


def test_url_prefix_is_the_script_name(tmp_path: Path) -> None:
    served = serve("--port", "0", "--url-prefix", "/app", write_app(tmp_path), cwd=tmp_path)
    try:
        assert get(served.addresses[0], "/app/page")[2] == b"http|/app|/page|127.0.0.1|0"
    finally:
        served.stop()


def test_limits_are_the_configs(tmp_path: Path) -> None:
    served = serve("--port", "0", "--max-body-size", "1K", "--max-request-line", "100",
                   write_app(tmp_path), cwd=tmp_path)
    try:
        address = served.addresses[0]
        assert get(address, body=b"x" * 1024)[2] == b"http||/|127.0.0.1|1024"
        assert get(address, body=b"x" * 1025)[0] == 413
        assert get(address, "/" + "a" * 100)[0] == 414
    finally:
        served.stop()


def test_header_limits(tmp_path: Path) -> None:
    # http.client adds Host and Accept-Encoding: two field lines, 39 bytes.
    served = serve("--port", "0", "--max-header-size", "64", "--max-header-count", "5",
                   "--max-head-size", "300")
    try:
        address = served.addresses[0]
        assert get(address, headers={"X-A": "a" * 59})[0] == 200
        assert get(address, headers={"X-A": "a" * 60})[0] == 431
        assert get(address, headers={f"X-{i}": "1" for i in range(4)})[0] == 431
        assert get(address, headers={f"X-{i}": "b" * 50 for i in range(3)})[0] == 200
        assert get(address, headers={f"X-{i}": "b" * 60 for i in range(3)})[0] == 431
    finally:
        served.stop()


def test_head_timeout_cuts_a_partial_head_with_408() -> None:
    served = serve("--port", "0", "--head-timeout", "0.5")
    try:
        with socket.create_connection(served.addresses[0], timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            assert sock.recv(100).startswith(b"HTTP/1.1 408 ")
    finally:
        served.stop()


@pytest.mark.parametrize("driver", ["threading", "asyncio"])
def test_trusted_proxy_sets_the_client_address(driver: str, tmp_path: Path) -> None:
    app = write_app(tmp_path)
    served = serve("--driver", driver, "--port", "0", "--trusted-proxy", "127.0.0.1",
                   "--trusted-proxy-headers", "x-forwarded-for,x-forwarded-proto", app, cwd=tmp_path)
    try:
        forwarded = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9", "X-Forwarded-Proto": "https"}
        assert get(served.addresses[0], "/p", headers=forwarded)[2] == b"https||/p|203.0.113.9|0"
    finally:
        served.stop()
    untrusted = serve("--port", "0", "--trusted-proxy", "10.0.0.1",
                      "--trusted-proxy-headers", "x-forwarded-for", app, cwd=tmp_path)
    try:
        assert get(untrusted.addresses[0], "/p", headers=forwarded)[2] == b"http||/p|127.0.0.1|0"
    finally:
        untrusted.stop()


FORWARDED_APP = '''\
def app(environ, start_response):
    text = "|".join([environ["wsgi.url_scheme"], environ.get("REMOTE_ADDR", "-"),
                     environ.get("HTTP_HOST", "-"), environ.get("HTTP_X_FORWARDED_HOST", "-")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]
'''
#: What a proxy in front sends: the client's address, its scheme, and a host it does not vouch for.
FORWARDED = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "evil.example"}


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
@pytest.mark.parametrize("where", ["option", "environment"])
def test_a_trusted_proxy_alone_applies_for_and_proto(driver: str, where: str, tmp_path: Path) -> None:
    # uvicorn's --forwarded-allow-ips precedent: naming the proxy is enough for the client's address
    # and scheme; a header not applied is removed, not handed on.
    app = write_app(tmp_path, "forwarded", FORWARDED_APP)
    if where == "option":
        served = serve("--driver", driver, "--port", "0", "--trusted-proxy", "127.0.0.1", app,
                       cwd=tmp_path)
    else:
        served = serve("--driver", driver, "--port", "0", app, cwd=tmp_path,
                       env={"WSGICORE_TRUSTED_PROXY": "127.0.0.1"})
    try:
        status, _, body = get(served.addresses[0], "/p", headers=FORWARDED)
    finally:
        served.stop()
    port = served.addresses[0][1]
    assert (status, body) == (200, f"https|203.0.113.9|127.0.0.1:{port}|-".encode())
    assert ("Trusted proxies: 127.0.0.1; applying X-Forwarded-For, X-Forwarded-Proto (the client's "
            "value is the last one); other forwarding headers are removed") in served.banner


def test_the_banner_names_every_header_applied_and_the_secure_scheme(tmp_path: Path) -> None:
    served = serve("--port", "0", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "unix",
                   "--trusted-proxy-headers", "x-forwarded-host,x-forwarded-for",
                   "--trusted-proxy-count", "2", "--secure-scheme-header", "X-Forwarded-Ssl=on")
    served.stop()
    assert ("Trusted proxies: 10.0.0.0/8, unix; applying X-Forwarded-For, X-Forwarded-Host; https "
            "when X-Forwarded-Ssl: on (the client's value is 2 from the right); other forwarding "
            "headers are removed") in served.banner


def test_no_proxy_trusted_no_proxy_line(tmp_path: Path) -> None:
    served = serve("--port", "0")
    served.stop()
    assert not any("roxies" in line for line in served.banner)


def test_trusted_proxy_headers_none_applies_none(tmp_path: Path) -> None:
    served = serve("--port", "0", "--trusted-proxy", "127.0.0.1", "--trusted-proxy-headers", "none",
                   write_app(tmp_path, "forwarded", FORWARDED_APP), cwd=tmp_path)
    try:
        body = get(served.addresses[0], "/p", headers=FORWARDED)[2]
    finally:
        served.stop()
    assert body == f"http|127.0.0.1|127.0.0.1:{served.addresses[0][1]}|-".encode()
    assert any("applying no forwarding header" in line for line in served.banner)


@pytest.mark.parametrize("variable", ["WSGICORE_TRUSTED_PROXY_HEADERS", "WSGICORE_TRUSTED_PROXY_COUNT",
                                      "WSGICORE_SECURE_SCHEME_HEADER"])
def test_proxy_variables_without_a_trusted_proxy_are_refused(variable: str) -> None:
    value = {"WSGICORE_TRUSTED_PROXY_HEADERS": "x-forwarded-for", "WSGICORE_TRUSTED_PROXY_COUNT": "2",
             "WSGICORE_SECURE_SCHEME_HEADER": "X-Forwarded-Ssl=on"}[variable]
    result = run(env={variable: value})
    assert result.returncode == 2
    assert "needs --trusted-proxy" in result.stderr


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
def test_a_proxy_on_a_unix_socket(driver: str, tmp_path: Path) -> None:
    # nginx in front over a Unix socket (docs/deployment.md): 'unix' trusts its peers.
    path = str(tmp_path / "p.sock")
    served = serve("--driver", driver, "--bind", f"unix:{path}", "--trusted-proxy", "unix",
                   "--trusted-proxy-headers", "x-forwarded-for,x-forwarded-proto",
                   write_app(tmp_path), cwd=tmp_path)
    try:
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        assert unix_get(path, "/u", forwarded) == (200, b"https||/u|203.0.113.9|0")
        assert unix_get(path, "/u") == (200, b"http||/u||0")
    finally:
        served.stop()


def test_secure_scheme_header_and_proxy_count(tmp_path: Path) -> None:
    served = serve("--port", "0", "--trusted-proxy", "127.0.0.0/8", "--trusted-proxy-count", "2",
                   "--trusted-proxy-headers", "x-forwarded-for",
                   "--secure-scheme-header", "X-Forwarded-Ssl=on", write_app(tmp_path), cwd=tmp_path)
    try:
        headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.9", "X-Forwarded-Ssl": "on"}
        assert get(served.addresses[0], "/", headers=headers)[2] == b"https||/|203.0.113.9|0"
    finally:
        served.stop()


def test_no_access_log() -> None:
    served = serve("--port", "0", "--no-access-log")
    try:
        assert get(served.addresses[0], "/quiet")[0] == 200
    finally:
        served.stop()
    assert "/quiet" not in served.err


def test_log_level_warning_hides_the_banner_and_the_access_log(tmp_path: Path) -> None:
    # No banner to read an address from: a Unix socket whose path the test chose.
    path = tmp_path / "quiet.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "wsgidrivers", "--bind", f"unix:{path}", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(500):  # until it listens (bounded: 10 s)
            if path.exists() or process.poll() is not None:
                break
            threading.Event().wait(0.02)
        assert unix_get(str(path), "/hidden")[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert "Serving" not in out
    assert "wsgicore 0.1.0" not in out
    assert "/hidden" not in err


@pytest.mark.parametrize("threads", ["1", "3"])
def test_threads_bound_the_threading_driver(threads: str) -> None:
    served = serve("--port", "0", "--threads", threads)
    try:
        assert f"a thread per connection, up to {threads} at once" in served.banner[-1]
        assert get(served.addresses[0])[0] == 200
    finally:
        served.stop()


def test_threads_size_the_asyncio_pool() -> None:
    served = serve("--driver", "asyncio", "--port", "0", "--threads", "3")
    try:
        assert "(3 app threads, keep-alive on, TLS off)" in served.banner[-1]
        assert get(served.addresses[0])[0] == 200
    finally:
        served.stop()


def test_the_banner_says_what_is_served_where(tmp_path: Path) -> None:
    served = serve("--driver", "asyncio", "-b", "127.0.0.1:0", "-b", f"unix:{tmp_path}/b.sock",
                   "--no-keep-alive", write_app(tmp_path), cwd=tmp_path)
    try:
        port = served.addresses[0][1]
        assert served.banner[0] == f"Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ..."
        assert served.banner[1] == f"Serving HTTP on unix:{tmp_path}/b.sock ..."
        assert served.banner[2].startswith("wsgicore ")
        assert "echoapp:app with the asyncio driver" in served.banner[2]
        assert "keep-alive off, TLS off), pid " in served.banner[2]
        assert f"pid {served.process.pid};" in served.banner[2]
    finally:
        served.stop()


SLOW_APP = '''\
import os, time


def app(environ, start_response):
    open("started", "w").close()
    deadline = time.monotonic() + 10
    while not os.path.exists("go") and time.monotonic() < deadline:
        time.sleep(0.02)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"finished"]
'''


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
def test_a_request_in_progress_at_sigterm_completes(driver: str, tmp_path: Path) -> None:
    served = serve("--driver", driver, "--port", "0", write_app(tmp_path, "slow", SLOW_APP),
                   cwd=tmp_path)
    result: list[tuple[int, dict[str, str], bytes]] = []
    client = threading.Thread(target=lambda: result.append(get(served.addresses[0])))
    client.start()
    try:
        deadline = threading.Event()
        for _ in range(500):  # until the app runs (bounded: 10 s)
            if (tmp_path / "started").exists():
                break
            deadline.wait(0.02)
        served.process.send_signal(signal.SIGTERM)
        deadline.wait(0.2)  # let the signal arrive while the app is still running
        (tmp_path / "go").write_text("")
        client.join(15)
    finally:
        status = served.stop(None)
    assert status == 0, served.err
    assert len(result) == 1
    assert (result[0][0], result[0][2]) == (200, b"finished")


_REMOTE_APP = """\
def app(environ, start_response):
    body = (environ["REMOTE_ADDR"] + "|" + environ["REMOTE_HOST"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
def test_remote_host_date_under_limits_and_http10_keep_alive(driver: str, tmp_path: Path) -> None:
    # Issue 24 items 1, 2, 5 through the command line: REMOTE_HOST is the client's address (RFC 3875
    # §4.1.9), Date stays with a limit set (RFC 9110 §6.6.1), and 25 pipelined HTTP/1.0 keep-alive
    # requests are answered in order (RFC 9112 §9.3), unless keep-alive is off (the simple driver).
    served = serve("--driver", driver, "--port", "0", "--max-body-size", "1K",
                   write_app(tmp_path, "remoteapp", _REMOTE_APP), cwd=tmp_path)
    try:
        status, headers, body = get(served.addresses[0])
        assert (status, body) == (200, b"127.0.0.1|127.0.0.1")
        assert headers["date"].endswith(" GMT")
        request = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        with socket.create_connection(served.addresses[0], timeout=15) as sock:
            sock.sendall(request * 24 + b"GET / HTTP/1.0\r\n\r\n")  # the last one closes
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        answered = 1 if driver == "simple" else 25
        assert data.count(b"127.0.0.1|127.0.0.1") == answered
        assert data.count(b"\r\nConnection: Keep-Alive\r\n") == answered - 1
        assert data.count(b"\r\nConnection: close\r\n") == 1
    finally:
        assert served.stop() == 0, served.err
