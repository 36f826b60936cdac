"""Config.script_name (the command line's --url-prefix): a request whose path is outside the mount
gets a 404 from the core and never reaches the application, whatever the driver (issue 24 item 10).
"/app" and "/app/..." are the application's; "/appx" is not (only a whole path segment is a prefix)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from core_support import final_responses, run_connection

from wsgicore import Config

CONFIG = Config(clock=None, server_software=None, script_name="/app")


def recorder(seen: list[tuple[str, str]]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app " + body]

    return app


def get(target: bytes, method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"


@pytest.mark.parametrize(("target", "path_info"), [
    (b"/app", ""),
    (b"/app?x=1", ""),
    (b"/app/", "/"),
    (b"/app/x/y", "/x/y"),
    (b"/%61pp/x", "/x"),  # PATH_INFO is the decoded path (PEP 3333): so is the prefix's match
    (b"http://h/app/x", "/x"),  # absolute form (RFC 9112 §3.2.2)
])
def test_paths_under_the_prefix_reach_the_app(target: bytes, path_info: str) -> None:
    seen: list[tuple[str, str]] = []
    run = run_connection(recorder(seen), get(target), config=CONFIG)
    assert seen == [("/app", path_info)]
    assert [r.status for r in final_responses(run.output)] == [200]


@pytest.mark.parametrize("target", [
    b"/other/x", b"/appx", b"/application", b"/", b"/ap", b"//app/x", b"/APP/x", b"/x/app",
    b"http://h/other", b"/%2Fapp/x",
])
def test_paths_outside_the_prefix_get_404_and_never_reach_the_app(target: bytes) -> None:
    seen: list[tuple[str, str]] = []
    run = run_connection(recorder(seen), get(target) + get(b"/app/next"), config=CONFIG)
    assert seen == [("/app", "/next")]  # only the second request, on the same connection
    first, second = final_responses(run.output)
    assert first.status == 404
    assert b"outside the application's URL prefix" in first.body
    assert not first.connection_close  # an ordinary response: the connection goes on
    assert second.status == 200
    assert run.infos[0].status == 404


def test_a_404_to_head_has_no_content() -> None:
    seen: list[tuple[str, str]] = []
    run = run_connection(recorder(seen), get(b"/other", b"HEAD"), config=CONFIG)
    assert seen == []
    head, _, rest = run.output.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 ")
    assert rest == b""


def test_the_body_of_a_request_outside_is_drained_and_the_next_one_served() -> None:
    seen: list[tuple[str, str]] = []
    data = (b"POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            b"POST /other HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            b"POST /app/in HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok")
    for config in (CONFIG, CONFIG.replace(buffer_chunked_body=True)):
        seen.clear()
        run = run_connection(recorder(seen), data, config=config)
        assert [r.status for r in final_responses(run.output)] == [404, 404, 200]
        assert seen == [("/app", "/in")]
        assert final_responses(run.output)[2].body == b"app ok"


def test_the_asterisk_form_names_the_server_and_reaches_the_app() -> None:
    # OPTIONS * asks about the server as a whole (RFC 9112 §3.2.4), not about a path outside.
    seen: list[tuple[str, str]] = []
    run_connection(recorder(seen), get(b"*", b"OPTIONS"), config=CONFIG)
    assert seen == [("/app", "*")]


def test_without_a_prefix_every_path_reaches_the_app() -> None:
    seen: list[tuple[str, str]] = []
    run_connection(recorder(seen), get(b"/other") + get(b"/appx"),
                   config=Config(clock=None, server_software=None))
    assert seen == [("", "/other"), ("", "/appx")]
