"""Serving through real gunicorn processes: workers, keep-alive, pipelining, environ, Unix sockets,
limits, the connection bound."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import time
from pathlib import Path

from .gunicorn_support import body_of, get, raw_exchange, running, status_of


def test_requests_spread_over_both_workers(worker: str) -> None:
    # At most 4 connections a worker: with 8 clients at once neither worker can take them all
    # (which worker the kernel wakes is its choice: in one CI run a single worker took all 40).
    with running(worker, "--threads", "4", "--worker-connections", "4") as server:
        booted = set(server.worker_pids)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: get(server.address, "/sleep?0.05"), range(40)))
    assert {status for status, _, _ in results} == {200}
    pids = {int(body) for _, _, body in results}
    assert pids == booted, f"served by {pids}, booted {booted}"


def test_keep_alive_and_pipelining(worker: str) -> None:
    with running(worker, "--keep-alive", "5") as server, \
            socket.create_connection(server.address, timeout=10) as sock:
        request = b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n"
        responses = raw_exchange(sock, request * 3, 3)  # pipelined, in one write
        assert [status_of(r) for r in responses] == [200, 200, 200]
        time.sleep(0.3)  # idle, well within --keep-alive
        later = raw_exchange(sock, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n", 1)
        assert body_of(later[0]) == b"ok /x"
        assert len({body_of(r) for r in responses}) == 1  # one connection, one worker
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        sock.settimeout(10)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert b"Connection: close" in data
        assert data.endswith(b"ok /x")


def test_http10_keep_alive_pipelined(worker: str) -> None:
    # Issue 24 item 2 (RFC 9112 §9.3): 25 pipelined HTTP/1.0 keep-alive requests, as waitress'
    # suite sends them, each answered in order with Connection: Keep-Alive; then one without the
    # option closes the connection.
    with running(worker, "--keep-alive", "5", workers=1) as server, \
            socket.create_connection(server.address, timeout=10) as sock:
        requests = b"".join(b"GET /%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i for i in range(25))
        responses = raw_exchange(sock, requests, 25)
        assert [body_of(r) for r in responses] == [b"ok /%d" % i for i in range(25)]
        assert all(b"\r\nConnection: Keep-Alive\r\n" in r for r in responses)
        sock.sendall(b"GET /last HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert b"\r\nConnection: close\r\n" in data
        assert data.endswith(b"ok /last")


def test_keep_alive_zero_closes_each_connection(worker: str) -> None:
    with running(worker, "--keep-alive", "0", workers=1) as server, \
            socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\nGET /y HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.count(b"HTTP/1.1 200") == 1
        assert b"Connection: close" in data


def test_environ_and_server_header(worker: str) -> None:
    import gunicorn

    import wsgicore

    with running(worker, workers=1) as server:
        status, headers, body = get(server.address, "/environ?a=1")
    environ = json.loads(body)
    software = f"wsgicore/{wsgicore.__version__} gunicorn/{gunicorn.__version__}"
    assert status == 200
    assert headers["Server"] == environ["SERVER_SOFTWARE"] == software
    assert environ["wsgi.multiprocess"] is True
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_HOST"] == "127.0.0.1"  # RFC 3875 §4.1.9: the address, no lookup
    assert headers["Date"].endswith(" GMT")  # RFC 9110 §6.6.1, from the driver's clock
    assert environ["QUERY_STRING"] == "a=1"
    assert environ["SERVER_PORT"] == str(server.address[1])


def test_unix_socket_bind(worker: str, tmp_path: Path) -> None:
    path = tmp_path / "g.sock"
    with running(worker, bind=f"unix:{path}") as server:
        assert server.url.startswith("unix:")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            request = b"GET /environ HTTP/1.1\r\nHost: example.org\r\n\r\n"
            responses = raw_exchange(sock, request * 2, 2)
    assert [status_of(r) for r in responses] == [200, 200]
    environ = json.loads(body_of(responses[0]))
    # A Unix-socket peer has no address: "" as gunicorn's own workers set it, never missing.
    assert environ["REMOTE_ADDR"] == environ["REMOTE_HOST"] == ""
    assert "REMOTE_PORT" not in environ
    assert environ["HTTP_HOST"] == "example.org"


def test_limits_are_mapped_to_the_core(worker: str) -> None:
    options = ("--limit-request-line", "100", "--limit-request-fields", "5",
               "--limit-request-field_size", "60")
    with running(worker, *options, workers=1) as server:
        assert get(server.address, "/" + "a" * 101)[0] == 414
        assert get(server.address, "/" + "a" * 80)[0] == 200
        assert get(server.address, "/", headers={f"X-{i}": "v" for i in range(5)})[0] == 431
        assert get(server.address, "/", headers={f"X-{i}": "v" for i in range(3)})[0] == 200
        assert get(server.address, "/", headers={"X-Long": "v" * 60})[0] == 431
        assert get(server.address, "/", headers={"X-Long": "v" * 40})[0] == 200


def test_worker_connections_bounds_open_connections(worker: str) -> None:
    with running(worker, "--worker-connections", "1", "--keep-alive", "10", workers=1) as server:
        first = socket.create_connection(server.address, timeout=10)
        try:
            raw_exchange(first, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n", 1)  # now idle, kept alive
            with socket.create_connection(server.address, timeout=10) as second:
                second.sendall(b"GET /y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                second.settimeout(0.7)
                try:
                    early = second.recv(100)
                except TimeoutError:
                    early = b""
                assert early == b"", "a second connection was served while the worker was full"
                first.close()  # frees the worker's only connection slot
                second.settimeout(10)
                data = b""
                while chunk := second.recv(65536):
                    data += chunk
                assert data.endswith(b"ok /y")
        finally:
            first.close()


def test_threads_bound_requests_in_the_application() -> None:
    # ThreadWorker: --threads 1 runs one request at a time however many connections are open.
    with running("ThreadWorker", "--threads", "1", workers=1) as server:
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: get(server.address, "/sleep?0.4"), range(3)))
        elapsed = time.monotonic() - start
    assert [r[0] for r in results] == [200, 200, 200]
    assert elapsed >= 1.1, f"3 requests of 0.4 s took {elapsed:.2f} s with --threads 1"


def test_keep_alive_is_the_idle_timeout(worker: str) -> None:
    with running(worker, "--keep-alive", "1", workers=1) as server, \
            socket.create_connection(server.address, timeout=10) as sock:
        raw_exchange(sock, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n", 1)
        time.sleep(0.5)  # idle for less than --keep-alive: still served
        raw_exchange(sock, b"GET /y HTTP/1.1\r\nHost: t\r\n\r\n", 1)
        started = time.monotonic()
        sock.settimeout(10)
        assert sock.recv(100) == b""  # closed by the server, silently, once idle for 1 s
        idle = time.monotonic() - started
    assert 0.8 < idle < 3.0, idle
