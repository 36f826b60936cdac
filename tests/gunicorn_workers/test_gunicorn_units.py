"""The gunicorn package's pieces in-process: cfg mapping, heartbeat rule, daemon pool, hook views."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

import gunicorn
from gunicorn.config import Config as GunicornConfig
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.http.message import Request as GunicornRequest
from gunicorn.http.unreader import IterUnreader

from wsgicore import ResponseInfo
from wsgidrivers._common.workerpool import WorkerPool
from wsgidrivers.gunicorn._cycle import RequestCycle, RequestView
from wsgidrivers.gunicorn._heartbeat import InFlight
from wsgidrivers.gunicorn._settings import proxy_settings, request_limits, worker_settings
from wsgidrivers.memory import exchange


def _cfg(**values: Any) -> Any:
    cfg = GunicornConfig()
    for name, value in values.items():
        cfg.set(name, value)
    return cfg


def test_defaults_map_to_gunicorns_limits() -> None:
    settings = worker_settings(_cfg())
    config = settings.serving_config(secure=False)
    # gunicorn counts a field line with its CRLF (8190), the core without it.
    assert (config.max_request_line, config.max_header_count, config.max_header_field) == (4094, 100, 8188)
    assert config.keep_alive
    assert settings.driver.keep_alive_timeout == 2.0
    assert config.multiprocess
    assert config.multithread
    assert callable(config.clock)  # the driver filled Config.clock's default ("driver")
    assert config.server_software is not None
    assert config.server_software.startswith("wsgicore/")
    assert "gunicorn/" in config.server_software
    assert config.url_scheme == "http"
    assert settings.serving_config(secure=True).url_scheme == "https"
    assert config.trusted_proxies == ("127.0.0.1", "::1", "unix")
    assert config.secure_scheme_headers["X-FORWARDED-PROTO"] == "https"
    assert not config.trusted_proxy_headers  # never REMOTE_ADDR from X-Forwarded-For, as gunicorn
    assert settings.heartbeat == 1.0  # --timeout 30
    assert settings.driver.io_timeout == 15.0


def test_zero_means_gunicorns_maximum_or_off() -> None:
    settings = worker_settings(
        _cfg(limit_request_line=0, limit_request_fields=0, limit_request_field_size=0, keepalive=0,
             timeout=0))
    config = settings.serving_config(secure=False)
    # A request line of 0 is gunicorn's "unlimited" (1 MiB, its C parser's number); 0 fields are
    # its maximum; a field size of 0 is 8190 with its CRLF since gunicorn 26, unlimited before.
    field = 8188 if gunicorn.version_info >= (26,) else 65536
    assert (config.max_request_line, config.max_header_count, config.max_header_field) == (
        1024 * 1024, 32768, field)
    assert config.max_head_bytes >= 1024 * 1024 + field + 4
    assert not settings.driver.keep_alive
    assert not config.keep_alive
    assert settings.heartbeat == 1.0  # no --timeout: beat anyway


def _gunicorns_verdict(cfg: Any, raw: bytes) -> int:
    """What gunicorn's own parser makes of ``raw`` with ``cfg``: 200, or the status its workers
    answer a limit with (414, 431; gunicorn 27's), or 400."""
    try:
        GunicornRequest(cfg, IterUnreader([raw]), ("127.0.0.1", 1))
    except LimitRequestLine:
        return 414
    except LimitRequestHeaders:
        return 431
    except Exception:  # any other parse error
        return 400
    return 200


def _our_verdict(cfg: Any, raw: bytes) -> int:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "0")])
        return []

    config = worker_settings(cfg).serving_config(secure=False)
    return int(exchange(app, raw, config=config, errors=None).split(b" ", 2)[1])


def _request(line: int = 0, fields: int = 1, field_line: int = 0) -> bytes:
    """A request whose request line has ``line`` bytes (or is short), with ``fields`` field lines
    (Host among them), one of them ``field_line`` bytes long (each without its CRLF)."""
    target = b"/" + b"a" * max(0, line - len(b"GET / HTTP/1.1"))
    head = [b"GET " + target + b" HTTP/1.1", b"Host: x"]
    head += [b"X-%d: v" % i for i in range(fields - 1)]
    if field_line:
        head[-1] = b"X-Long: " + b"v" * (field_line - len(b"X-Long: "))
    return b"\r\n".join(head) + b"\r\n\r\n"


@pytest.mark.parametrize("limit", [0, 1, 20, 100, 4094, 8190, 8191, 20000])
def test_limit_request_line_counts_as_gunicorn_counts(limit: int) -> None:
    cfg = _cfg(limit_request_line=limit)
    effective = 1024 * 1024 if limit == 0 else min(limit, 8190)
    assert request_limits(cfg)[0] == effective
    lengths = [20000] if limit == 0 else [limit - 1, limit, limit + 1, 8190, 8191]
    for length in lengths:
        raw = _request(line=length)
        assert (length, _our_verdict(cfg, raw)) == (length, _gunicorns_verdict(cfg, raw))
    if limit >= 20:
        assert _our_verdict(cfg, _request(line=min(limit, 8190))) == 200  # exactly the limit passes
        assert _our_verdict(cfg, _request(line=min(limit, 8190) + 1)) == 414  # one byte more


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 100, 32768, 40000])
def test_limit_request_fields_counts_as_gunicorn_counts(limit: int) -> None:
    cfg = _cfg(limit_request_fields=limit)
    effective = 32768 if limit in (0, 40000) else limit
    assert request_limits(cfg)[1] == effective
    for count in sorted({1, 2, min(effective, 200) - 1, min(effective, 200), min(effective, 200) + 1} - {0}):
        raw = _request(fields=count)
        assert (count, _our_verdict(cfg, raw)) == (count, _gunicorns_verdict(cfg, raw))
    if effective <= 200:
        assert _our_verdict(cfg, _request(fields=effective)) == 200  # exactly the limit passes
        assert _our_verdict(cfg, _request(fields=effective + 1)) == 431  # one field more


@pytest.mark.parametrize("limit", [0, 1, 3, 4, 12, 60, 8190, 10000])
def test_limit_request_field_size_counts_the_crlf_as_gunicorn_does(limit: int) -> None:
    cfg = _cfg(limit_request_field_size=limit)
    with_crlf = limit or (8190 if gunicorn.version_info >= (26,) else 0)
    if with_crlf:
        assert request_limits(cfg)[2] == max(1, with_crlf - 2)
    longest = (with_crlf or 65538) - 2  # the longest field line that passes, without its CRLF
    for length in sorted({8, 9, longest - 1, longest, longest + 1} - {0}):
        if length < len(b"X-Long: "):
            continue
        raw = _request(field_line=length, fields=2)
        assert (length, _our_verdict(cfg, raw)) == (length, _gunicorns_verdict(cfg, raw))
    if longest >= 10:
        assert _our_verdict(cfg, _request(field_line=longest, fields=2)) == 200
        assert _our_verdict(cfg, _request(field_line=longest + 1, fields=2)) == 431


def test_short_timeout_beats_often() -> None:
    assert worker_settings(_cfg(timeout=2)).heartbeat == 0.5


def test_proxy_settings_are_gunicorns() -> None:
    cfg = _cfg(forwarded_allow_ips="10.0.0.0/8, 192.168.1.1", secure_scheme_headers={"X-PROTO": "tls"})
    # gunicorn trusts every Unix-socket peer: the core needs "unix" said.
    # Every forwarding header still reaches the app, as in gunicorn's own workers.
    assert proxy_settings(cfg) == {"trusted_proxies": ("10.0.0.0/8", "192.168.1.1", "unix"),
                                   "secure_scheme_headers": {"X-PROTO": "tls"},
                                   "clear_untrusted_proxy_headers": False}
    # The core refuses "*"; gunicorn's "*" is every peer, spelled out.
    assert proxy_settings(_cfg(forwarded_allow_ips="*"))["trusted_proxies"] == ("0.0.0.0/0", "::/0", "unix")
    assert proxy_settings(_cfg(forwarded_allow_ips=""))["trusted_proxies"] == ("unix",)
    # Nothing to believe: no proxy trusted, forwarding headers pass through untouched (as gunicorn).
    assert proxy_settings(_cfg(secure_scheme_headers={})) == {}
    assert worker_settings(_cfg(secure_scheme_headers={})).serving_config(secure=False).trusted_proxies == ()


@pytest.mark.parametrize(
    ("allow", "peer", "fields", "scheme"),
    [
        ("127.0.0.1", ("127.0.0.1", 5), b"X-Forwarded-Proto: https\r\n", "https"),
        ("127.0.0.1", ("::ffff:127.0.0.1", 5, 0, 0), b"X-Forwarded-Ssl: on\r\n", "https"),
        ("127.0.0.1", ("127.0.0.2", 5), b"X-Forwarded-Proto: https\r\n", "http"),
        ("127.0.0.1", "", b"X-Forwarded-Proto: https\r\n", "https"),  # a Unix-socket client
        ("", "", b"X-Forwarded-Proto: https\r\n", "https"),
        ("*", ("203.0.113.9", 5), b"X-Forwarded-Proto: https\r\n", "https"),
        ("127.0.0.1", ("127.0.0.1", 5), b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n", "400"),
        ("127.0.0.1", ("127.0.0.2", 5), b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n", "http"),
    ],
)
def test_gunicorn_trust_rule_through_the_core(allow: str, peer: Any, fields: bytes, scheme: str) -> None:
    # gunicorn's rule end to end: its cfg, our mapping, the core's policy.
    config = worker_settings(_cfg(forwarded_allow_ips=allow)).serving_config(secure=False)
    out = exchange(_scheme_app, b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n",
                   config=config, peer=peer)
    if scheme == "400":
        assert out.startswith(b"HTTP/1.1 400 ")
    else:
        assert out.startswith(b"HTTP/1.1 200 ")
        assert out.endswith(b"scheme=" + scheme.encode())


def _scheme_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"scheme=" + environ["wsgi.url_scheme"].encode()]


def test_inflight_health() -> None:
    inflight = InFlight()
    assert inflight.healthy(0.05)
    token = inflight.enter(time.monotonic())
    assert inflight.healthy(5.0)
    time.sleep(0.08)
    assert not inflight.healthy(0.05)  # a request older than the limit: stop vouching
    inflight.leave(token)
    assert inflight.healthy(0.05)
    assert len(inflight) == 0


def test_daemon_pool_runs_bounds_and_cancels() -> None:
    pool = WorkerPool(2, daemon=True)
    release = threading.Event()
    running: list[int] = []
    futures = [pool.submit(lambda i=i: (running.append(i), release.wait(5), i)[2]) for i in range(4)]
    time.sleep(0.2)
    assert len(running) == 2  # the bound
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert [f.result(5) for f in futures[:2]] == [0, 1]
    assert all(f.cancelled() for f in futures[2:])
    with pytest.raises(RuntimeError):
        pool.submit(print)


def test_daemon_pool_does_not_hold_the_exit() -> None:
    code = ("import threading; from wsgidrivers._common.workerpool import WorkerPool;"
            "p = WorkerPool(1, daemon=True); p.submit(threading.Event().wait); print('exiting')")
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         timeout=20)
    assert out.stdout.strip() == "exiting"
    assert time.monotonic() - started < 10


class _Worker:
    def __init__(self, max_requests: int) -> None:
        self.nr = 0
        self.max_requests = max_requests
        self.alive = True
        self.log = _Log()
        self.cfg = _HookCfg()


class _Log:
    access_log_enabled = True

    def __init__(self) -> None:
        self.lines: list[tuple[Any, ...]] = []

    def access(self, resp: Any, req: Any, environ: Any, elapsed: Any) -> None:
        self.lines.append((resp.status, resp.sent, resp.headers, req.headers))

    def info(self, *args: Any) -> None:
        pass

    def exception(self, *args: Any) -> None:
        raise AssertionError(args)


class _HookCfg:
    def pre_request(self, worker: Any, req: Any) -> None:
        pass

    def post_request(self, worker: Any, req: Any, environ: Any, resp: Any) -> None:
        pass


def test_cycle_counts_to_max_requests_and_logs() -> None:
    worker = _Worker(max_requests=2)
    woken: list[bool] = []
    cycle = RequestCycle(worker, InFlight(), lambda: woken.append(True))
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/a", "PATH_INFO": "/a", "HTTP_USER_AGENT": "u",
               "CONTENT_TYPE": "text/plain", "SERVER_PROTOCOL": "HTTP/1.1"}
    first = cycle.begin(environ, ("127.0.0.1", 1))
    assert not first.last
    assert worker.alive
    app = cycle.wrap(first, lambda env, start: start("201 Created", [("X-A", "1")]) or [b""])
    app(environ, lambda status, headers, exc_info=None: None)
    cycle.end(first, environ, ResponseInfo(status=201, body_bytes=3, keep_alive=True, aborted=False))
    second = cycle.begin(environ, None)
    assert second.last
    assert not worker.alive
    assert woken == [True]
    cycle.end(second, environ, ResponseInfo(status=500, body_bytes=9, keep_alive=False, aborted=False))
    assert worker.log.lines[0] == ("201 Created", 3, [("X-A", "1")],
                                   [("USER-AGENT", "u"), ("CONTENT-TYPE", "text/plain")])
    assert worker.log.lines[1][:2] == ("500 Internal Server Error", 9)


def test_request_view() -> None:
    view = RequestView({"REQUEST_METHOD": "POST", "RAW_URI": "/p?q", "PATH_INFO": "/p",
                        "QUERY_STRING": "q", "SERVER_PROTOCOL": "HTTP/1.0"}, None)
    assert (view.method, view.uri, view.path, view.query, view.version) == ("POST", "/p?q", "/p", "q", (1, 0))


def test_sendfile_and_unsupported_features() -> None:
    assert worker_settings(_cfg()).driver.use_sendfile is None
    assert worker_settings(_cfg(sendfile=False)).driver.use_sendfile is False
    with pytest.raises(ValueError, match="proxy-protocol"):
        worker_settings(_cfg(proxy_protocol="v1"))
    with pytest.raises(ValueError, match="HTTP/2"):
        worker_settings(_cfg(http_protocols="h2,h1"))


def test_default_hooks_and_no_access_log_cost_nothing() -> None:
    from gunicorn.glogging import Logger

    def app(environ: Any, start_response: Any) -> list[bytes]:
        return []

    worker = _Worker(max_requests=100)
    worker.cfg = _cfg()
    worker.log = Logger(worker.cfg)  # type: ignore[assignment]
    cycle = RequestCycle(worker, InFlight(), lambda: None)
    assert cycle.wrap(cycle.begin({}, None), app) is app  # nothing reads resp: no wrapper

    calls: list[str] = []
    worker.cfg = _cfg(post_request=lambda w, req, env, resp: calls.append(resp.status))
    cycle = RequestCycle(worker, InFlight(), lambda: None)
    ticket = cycle.begin({}, None)
    assert cycle.wrap(ticket, app) is not app
    cycle.end(ticket, {}, ResponseInfo(status=204, body_bytes=0, keep_alive=True, aborted=False))
    assert calls == ["204 No Content"]


def test_without_gunicorn_the_import_error_says_what_to_install() -> None:
    code = "import sys; sys.modules['gunicorn'] = None; import wsgidrivers.gunicorn"
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         timeout=20)
    assert out.returncode != 0
    assert "pip install 'wsgicore[gunicorn]'" in out.stderr


def test_connection_threads_are_reused_and_slots_bound() -> None:
    from wsgidrivers.gunicorn._pool import ConnectionThreads, Slots

    threads = ConnectionThreads()
    names: list[str] = []
    done = threading.Semaphore(0)

    def job() -> None:
        names.append(threading.current_thread().name)
        done.release()

    for _ in range(5):  # one after another: one thread serves them all
        threads.submit(job)
        assert done.acquire(timeout=5)
        time.sleep(0.02)  # the thread counts itself idle again
    assert len(set(names)) == 1

    slots = Slots(2)
    inside: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def hold() -> None:
        with slots:
            with lock:
                inside.append(1)
                peak.append(len(inside))
            time.sleep(0.05)
            with lock:
                inside.pop()

    workers = [threading.Thread(target=hold) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(5)
    assert max(peak) == 2


def test_connection_threads_shrink_back_after_a_burst() -> None:
    # A burst of long connections starts a thread each; once they end, the threads idle for
    # idle_timeout leave, all but one (issue 23: the ThreadWorker's threads grew and stayed).
    from wsgidrivers.gunicorn._pool import ConnectionThreads

    threads = ConnectionThreads(idle_timeout=0.1)
    release = threading.Event()
    done = threading.Semaphore(0)

    def job() -> None:
        release.wait(5)
        done.release()

    for _ in range(8):
        threads.submit(job)
    deadline = time.monotonic() + 5  # none comes back: spares start after spare_delay
    while threads.size < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads.size == 8
    release.set()
    for _ in range(8):
        assert done.acquire(timeout=5)
    deadline = time.monotonic() + 5
    while threads.size > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threads.size == 1
    threads.submit(done.release)  # the one left still serves
    assert done.acquire(timeout=5)
    assert threads.size == 1


def test_a_job_waits_for_a_thread_coming_back_rather_than_start_one() -> None:
    # Issue 23: a thread was started whenever none was idle, and under a steady load of short
    # connections the pool ran away (100-150 threads for 10 clients). A thread that comes back
    # within spare_delay takes the waiting job; none is started for it.
    from wsgidrivers.gunicorn._pool import ConnectionThreads

    threads = ConnectionThreads(spare_delay=5.0)
    finish = threading.Event()
    names: list[str] = []
    done = threading.Semaphore(0)

    def short() -> None:
        finish.wait(5)
        names.append(threading.current_thread().name + str(threading.get_ident()))
        done.release()

    threads.submit(short)
    threads.submit(short)  # the only thread is busy: this one waits for it
    time.sleep(0.05)
    assert threads.size == 1
    finish.set()
    assert done.acquire(timeout=5)
    assert done.acquire(timeout=5)
    assert threads.size == 1
    assert len(set(names)) == 1  # the thread that came back served the waiting job


def test_a_stalled_thread_gets_a_spare_after_spare_delay() -> None:
    # A connection that stalls holds up a waiting one for spare_delay at most: then a thread is
    # started for it; while none comes back, each further job gets one at once.
    from wsgidrivers.gunicorn._pool import ConnectionThreads

    delay = 0.5
    threads = ConnectionThreads(spare_delay=delay)
    stall = threading.Event()
    served = threading.Semaphore(0)
    try:
        threads.submit(stall.wait, 5)
        started = time.monotonic()
        threads.submit(stall.wait, 5)  # waits spare_delay, then gets a thread (which stalls too)
        deadline = started + 5
        while threads.size < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert threads.size == 2
        assert time.monotonic() - started >= delay
        second = time.monotonic()
        threads.submit(served.release)  # stuck, none came back: a thread at once
        assert served.acquire(timeout=5)
        assert time.monotonic() - second < delay
        assert threads.size == 3
    finally:
        stall.set()
