"""The gunicorn access log names a status the core chose with the reason phrase the core wrote on the
wire (RFC 9110's, from ``wsgicore.reason_phrase``), not the stdlib's older one: a body over the limit
is "413 Content Too Large" in both places, on every Python version."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

from wsgicore import Config, ResponseInfo, reason_phrase
from wsgidrivers.gunicorn._cycle import RequestCycle
from wsgidrivers.gunicorn._heartbeat import InFlight
from wsgidrivers.memory import exchange


class _Log:
    access_log_enabled = True

    def __init__(self) -> None:
        self.statuses: list[str] = []

    def access(self, resp: Any, req: Any, environ: Any, elapsed: Any) -> None:
        self.statuses.append(resp.status)

    def info(self, *args: Any) -> None:
        pass

    def exception(self, *args: Any) -> None:
        raise AssertionError(args)


class _Cfg:
    def pre_request(self, worker: Any, req: Any) -> None:
        pass

    def post_request(self, worker: Any, req: Any, environ: Any, resp: Any) -> None:
        pass


class _Worker:
    def __init__(self) -> None:
        self.nr = 0
        self.max_requests = 1000
        self.alive = True
        self.log = _Log()
        self.cfg = _Cfg()


def _never_called(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise AssertionError("the core answers this request itself")


@pytest.mark.parametrize("status", [413, 414, 416, 422, 431, 500, 501, 505])
def test_the_log_names_the_status_as_the_core_does(status: int) -> None:
    worker = _Worker()
    cycle = RequestCycle(worker, InFlight(), lambda: None)
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/", "PATH_INFO": "/", "SERVER_PROTOCOL": "HTTP/1.1"}
    ticket = cycle.begin(environ, None)
    # The app never started a response: the core answered (a body error, say).
    cycle.end(ticket, environ, ResponseInfo(status=status, body_bytes=0, keep_alive=False))
    assert worker.log.statuses == [f"{status} {reason_phrase(status)}"]


def test_a_body_over_the_limit_is_content_too_large_on_the_wire_and_in_the_log() -> None:
    wire = exchange(_never_called, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
                    config=Config(max_body_bytes=5))
    assert wire.startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    worker = _Worker()
    cycle = RequestCycle(worker, InFlight(), lambda: None)
    ticket = cycle.begin({}, None)
    cycle.end(ticket, {}, ResponseInfo(status=413, body_bytes=0, keep_alive=False))
    assert worker.log.statuses == ["413 Content Too Large"]  # the stdlib says "Request Entity Too Large"
