"""The syntax of addresses, sizes and seconds on the command line."""

from __future__ import annotations

import argparse

import pytest

from wsgidrivers._cli._values import Bind, parse_bind, seconds, size, switch


@pytest.mark.parametrize(("text", "bind"), [
    ("127.0.0.1:8080", Bind("127.0.0.1", 8080)),
    ("localhost", Bind("localhost", 8000)),
    ("0.0.0.0:0", Bind("0.0.0.0", 0)),
    ("[::]:8000", Bind("::", 8000)),
    ("[::1]", Bind("::1", 8000)),
    ("::", Bind("::", 8000)),
    ("fe80::1", Bind("fe80::1", 8000)),
    ("unix:/run/app.sock", Bind(path="/run/app.sock")),
    ("unix:relative.sock", Bind(path="relative.sock")),
])
def test_bind_forms(text: str, bind: Bind) -> None:
    assert parse_bind(text) == bind


def test_bind_shown_as_given() -> None:
    assert [str(parse_bind(t)) for t in ("[::1]:80", "h:1", "unix:/x")] == ["[::1]:80", "h:1", "unix:/x"]


@pytest.mark.parametrize("text", [":8000", "host:", "[::1", "[::1]x", "[]:80", "h:65536", "h:-1",
                                  "h:http", "unix:"])
def test_bad_binds(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_bind(text)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("8192", 8192), ("64K", 65536), ("64k", 65536),
                                             ("10M", 10 << 20), ("1G", 1 << 30), ("-5", -5)])
def test_sizes(text: str, value: int) -> None:
    assert size(text) == value


@pytest.mark.parametrize("text", ["", "K", "1.5M", "10MB", "ten"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        size(text)


def test_seconds_are_finite_numbers() -> None:
    assert seconds("2.5") == 2.5
    assert seconds("-1") == -1.0  # the setting says whether that is allowed
    for text in ("nan", "inf", "-inf", "soon"):
        with pytest.raises(argparse.ArgumentTypeError):
            seconds(text)


@pytest.mark.parametrize(("text", "value"), [("1", True), ("ON", True), ("yes", True), ("true", True),
                                             ("0", False), ("off", False), ("No", False), ("false", False)])
def test_switches(text: str, value: bool) -> None:
    assert switch(text) is value
    with pytest.raises(argparse.ArgumentTypeError):
        switch("maybe")
