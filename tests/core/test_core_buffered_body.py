"""Config.buffer_chunked_body: a chunked body read whole before the app runs and presented with a
CONTENT_LENGTH, for frameworks that read only that many bytes (issue 14, part 3)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from core_support import final_responses, parse_responses, run_connection, split_at

from wsgicore import Config

CHUNKED = (b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nT: v\r\n\r\n")
NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"


def buffered(**kw: Any) -> Config:
    return Config(clock=None, server_software=None, buffer_chunked_body=True,
                  max_body_bytes=kw.pop("max_body_bytes", 1000), **kw)


def django_like(seen: list[tuple[str | None, str | None, bytes]]) -> Any:
    """Reads exactly CONTENT_LENGTH bytes, as Django does, and records what framed the body."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        body = environ["wsgi.input"].read(int(length)) if length else b""
        seen.append((length, environ.get("HTTP_TRANSFER_ENCODING"), body))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


@pytest.mark.parametrize("feed", ["whole", "bytewise", "halves"])
def test_chunked_body_reaches_a_length_reading_app(feed: str) -> None:
    data = CHUNKED + NEXT
    pieces = {"whole": [data], "bytewise": [data[i : i + 1] for i in range(len(data))],
              "halves": split_at(data, [len(data) // 2])}[feed]
    seen: list[tuple[str | None, str | None, bytes]] = []
    run = run_connection(django_like(seen), pieces, config=buffered())
    assert seen == [("7", None, b"abcdefg"), (None, None, b"")]
    assert [r.status for r in final_responses(run.output)] == [200, 200]
    assert not any(r.connection_close for r in final_responses(run.output))


def test_without_the_setting_such_an_app_reads_nothing() -> None:
    seen: list[tuple[str | None, str | None, bytes]] = []
    run_connection(django_like(seen), CHUNKED, config=Config(clock=None, server_software=None))
    assert seen == [(None, "chunked", b"")]


def test_content_length_bodies_are_not_buffered() -> None:
    seen: list[tuple[str | None, str | None, bytes]] = []
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
    run_connection(django_like(seen), data, config=buffered())
    assert seen == [("3", None, b"xyz")]


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"3\r\nabc\r\nzz\r\n", 400), (b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n", 413)],
    ids=["bad-chunk", "over-max-body"],
)
def test_body_errors_are_answered_before_the_app_runs(body: bytes, status: int) -> None:
    seen: list[tuple[str | None, str | None, bytes]] = []
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    run = run_connection(django_like(seen), head + body + NEXT, config=buffered())
    assert seen == []
    (response,) = final_responses(run.output)
    assert response.status == status
    assert response.connection_close
    assert run.infos[0].status == status


def test_eof_inside_the_body_closes_without_calling_the_app() -> None:
    seen: list[tuple[str | None, str | None, bytes]] = []
    run = run_connection(django_like(seen), CHUNKED[:-10], config=buffered())
    assert seen == []
    assert run.output == b""


def test_expect_100_continue_is_answered_while_buffering() -> None:
    head = (b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    seen: list[tuple[str | None, str | None, bytes]] = []
    run = run_connection(django_like(seen), [head, b"2\r\nok\r\n0\r\n\r\n"], config=buffered())
    assert [r.status for r in parse_responses(run.output)] == [100, 200]
    assert seen == [("2", None, b"ok")]


def test_the_spool_comes_from_the_config_and_is_closed_after_the_response() -> None:
    made: list[io.BytesIO] = []

    def spool() -> io.BytesIO:
        made.append(io.BytesIO())
        return made[-1]

    seen: list[tuple[str | None, str | None, bytes]] = []
    run_connection(django_like(seen), CHUNKED, config=buffered(body_spool=spool))
    assert seen == [("7", None, b"abcdefg")]
    assert len(made) == 1
    assert made[0].closed


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"max_buffered_body_bytes": None}, "max_buffered_body_bytes must be an int >= 0"),
     ({"max_buffered_body_bytes": -1}, "max_buffered_body_bytes must be an int >= 0"),
     ({"buffer_chunked_body": 1, "max_body_bytes": 5}, "must be a bool"),
     ({"body_spool": "file"}, "body_spool must be callable")],
)
def test_settings_are_validated(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config(**kw)


def test_a_buffered_body_is_bounded_without_max_body_bytes() -> None:
    # Issue 24 item 3: buffering no longer needs max_body_bytes; max_buffered_body_bytes bounds it.
    seen: list[tuple[str | None, str | None, bytes]] = []
    config = Config(clock=None, server_software=None, buffer_chunked_body=True,
                    max_buffered_body_bytes=5)
    assert config.max_body_bytes is None
    run = run_connection(django_like(seen), CHUNKED + NEXT, config=config)
    assert seen == []
    (response,) = final_responses(run.output)
    assert response.status == 413
    assert b"max_buffered_body_bytes" in response.body


@pytest.mark.parametrize(("limits", "status"), [
    ({"max_buffered_body_bytes": 7}, 200),
    ({"max_buffered_body_bytes": 6}, 413),
    ({"max_buffered_body_bytes": 100, "max_body_bytes": 6}, 413),
    ({"max_buffered_body_bytes": 6, "max_body_bytes": 100}, 413),
])
def test_the_smaller_of_the_two_bounds_a_buffered_body(limits: dict[str, int], status: int) -> None:
    seen: list[tuple[str | None, str | None, bytes]] = []
    config = Config(clock=None, server_software=None, buffer_chunked_body=True, **limits)
    run = run_connection(django_like(seen), CHUNKED, config=config)
    assert [r.status for r in final_responses(run.output)] == [status]


def test_the_buffered_bound_leaves_streamed_bodies_alone() -> None:
    # A bound on what the server holds: a Content-Length body, or a chunked one the app streams,
    # is the app's to bound (max_body_bytes bounds every body).
    seen: list[tuple[str | None, str | None, bytes]] = []
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"
    run_connection(django_like(seen), data,
                   config=Config(buffer_chunked_body=True, max_buffered_body_bytes=5))
    assert seen == [("10", None, b"0123456789")]

    def reader(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    run = run_connection(reader, CHUNKED, config=Config(max_buffered_body_bytes=5))
    assert final_responses(run.output)[0].body == b"abcdefg"
