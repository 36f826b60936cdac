"""``ThreadingWSGIServer``'s pool threads skip socketserver's hook calls between an accepted
connection and ``finish_request`` when none of them is overridden; each one overridden alone (in a
subclass, or set on the server) is still called for each connection, in the pool thread, and the
errors they meet are still handled as socketserver does."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from support.clients import TIMEOUT, connect, read_until_close
from wsgidrivers._common.connthreads import EXCLUSIVE_WAKEUPS
from wsgidrivers.simple_server import ThreadingWSGIServer, make_server

from .helpers import hello_app, recording_handler, wait_for

pytestmark = pytest.mark.skipif(not EXCLUSIVE_WAKEUPS, reason="needs epoll with EPOLLEXCLUSIVE (Linux)")

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
HOOKS = ["verify_request", "process_request", "process_request_thread"]


def _serve(server: ThreadingWSGIServer, requests: int) -> list[bytes]:
    loop = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    loop.start()
    try:
        answers = []
        for _ in range(requests):
            with connect((server.server_address[0], server.server_address[1])) as sock:
                sock.sendall(GET_CLOSE)
                answers.append(read_until_close(sock))
        return answers
    finally:
        server.shutdown()
        loop.join(TIMEOUT)
        server.server_close()


@pytest.mark.parametrize("on_instance", [False, True], ids=["subclass", "instance"])
@pytest.mark.parametrize("hook", HOOKS)
def test_one_overridden_hook_is_called_in_the_pool_thread(hook: str, on_instance: bool) -> None:
    calls: list[str] = []

    def wrap(method: Any) -> Any:
        def recorded(*args: Any) -> Any:
            calls.append(threading.current_thread().name)
            return method(*args)
        return recorded

    if on_instance:
        server = make_server("127.0.0.1", 0, hello_app, ThreadingWSGIServer, recording_handler())
        setattr(server, hook, wrap(getattr(server, hook)))
    else:
        def method(self: ThreadingWSGIServer, *args: Any) -> Any:
            calls.append(threading.current_thread().name)
            return getattr(ThreadingWSGIServer, hook)(self, *args)

        server_class = type("Hooked", (ThreadingWSGIServer,), {hook: method})
        server = make_server("127.0.0.1", 0, hello_app, server_class, recording_handler())
    answers = _serve(server, 2)
    assert all(answer.startswith(b"HTTP/1.1 200 OK") for answer in answers)
    assert len(calls) == 2
    assert all(name.startswith("wsgicore-connection") for name in calls), calls


def test_an_error_out_of_the_handler_goes_to_handle_error_and_the_connection_is_closed() -> None:
    errors: list[Any] = []
    closed: list[Any] = []

    class Failing(ThreadingWSGIServer):
        def finish_request(self, request: Any, client_address: Any) -> None:
            raise RuntimeError("handler setup failed")

        def handle_error(self, request: Any, client_address: Any) -> None:
            errors.append(client_address)

        def shutdown_request(self, request: Any) -> None:
            closed.append(request)
            super().shutdown_request(request)

    server = make_server("127.0.0.1", 0, hello_app, Failing, recording_handler())
    assert _serve(server, 2) == [b"", b""]  # closed without an answer, and the thread went on
    assert wait_for(lambda: len(closed) == 2)
    assert len(errors) == 2
