"""Uploads as werkzeug/Flask users write them (``data=`` with files) and as requests users write
them (``files=``), checked against Flask's own test client and requests' own encoder: the app must
parse the same form and files from our bytes as from theirs."""

from __future__ import annotations

import io
import mimetypes
import os
from pathlib import Path
from typing import Any

import pytest

from wsgidrivers.testing import Client, encode_multipart

from .echo_apps import flask_echo

# -- werkzeug's conventions in data= ------------------------------------------------------------------


def werkzeug_uploads() -> list[Any]:
    """data= values as Flask users write them (a fresh file object each call)."""
    return [
        {"file": (io.BytesIO(b"abc"), "f.txt")},
        {"file": (io.BytesIO(b"\x00\xff"), "photo.png", "image/x-custom"), "note": "hi"},
        {"file": [(io.BytesIO(b"1"), "a.txt"), (io.BytesIO(b"2"), "b.txt")], "n": ["1", "2"]},
        {"file": io.BytesIO(b"no name")},  # werkzeug: a part without a filename, i.e. a field
        {"text": "x", "num": 3, "flag": True, "none": None},
    ]


@pytest.mark.parametrize("index", range(5))
def test_werkzeug_style_data_parses_as_with_flasks_client(index: int) -> None:
    pytest.importorskip("flask")
    app = flask_echo()
    theirs = app.test_client().post("/up", data=werkzeug_uploads()[index]).get_json()
    ours = Client(app).post("/up", data=werkzeug_uploads()[index]).json()
    assert ours["form"] == theirs["form"]
    assert ours["files"] == theirs["files"]


def test_werkzeug_style_upload_reaches_both_apps_as_a_file(echo_app: Any) -> None:
    r = Client(echo_app).post("/up", data={"file": (io.BytesIO(b"abc"), "f.txt"), "note": "hi"})
    assert r.json()["files"] == {"file": [["f.txt", "abc", "text/plain"]]}
    assert r.json()["form"] == {"note": ["hi"]}
    assert b"BytesIO" not in r.request  # the old bug: the object's repr sent as form text
    assert b'Content-Disposition: form-data; name="file"; filename="f.txt"' in r.request
    r = Client(echo_app).post("/up", data={"file": [(io.BytesIO(b"1"), "a.txt", "text/x-a"),
                                                    (io.BytesIO(b"2"), "b.bin")]})
    assert r.json()["files"] == {"file": [["a.txt", "1", "text/x-a"],
                                          ["b.bin", "2", "application/octet-stream"]]}


def test_a_named_file_object_in_data_is_a_file(echo_app: Any, tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with path.open("rb") as f:
        r = Client(echo_app).post("/up", data={"doc": f})
    # The base name, as a browser sends it (never the test machine's directories).
    assert r.json()["files"] == {"doc": [["report.csv", "a,b\n1,2\n", "text/csv"]]}
    r = Client(echo_app).post("/up", data={"doc": (path, "renamed.csv")})  # werkzeug opens a path
    assert r.json()["files"] == {"doc": [["renamed.csv", "a,b\n1,2\n", "text/csv"]]}


def test_werkzeug_multidict_sends_every_value() -> None:
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    data = werkzeug.MultiDict([("a", "1"), ("a", "2"), ("f", (io.BytesIO(b"x"), "x.txt"))])
    ours = Client(flask_echo()).post("/", data=data).json()
    assert ours["form"] == {"a": ["1", "2"]}
    assert ours["files"] == {"f": [["x.txt", "x", "text/plain"]]}
    assert Client(flask_echo()).post("/", data=werkzeug.MultiDict([("a", "1"), ("a", "2")])).json()[
        "form"] == {"a": ["1", "2"]}


# -- requests' conventions in files= ------------------------------------------------------------------


def requests_files() -> list[Any]:
    """files= as requests users write them (fresh file objects each call)."""
    return [
        [("f", ("a.txt", b"1")), ("f", ("b.txt", b"2"))],  # a list: one field twice
        {"doc": ("r.json", '{"a": 1}', "application/json")},
        {"doc": ("r.txt", io.BytesIO(b"from a file"), "text/plain", {"X-Part": "1"})},
        {"field": (None, "a plain field"), "up": ("u.bin", b"\x01\x02", "application/x-b")},
        [("f", ("a.txt", "text é", "text/plain"))],
    ]


@pytest.mark.parametrize("index", range(5))
def test_requests_style_files_encode_as_requests_does(index: int) -> None:
    # requests' own encoder and ours, fed to the same Flask app: the same form and files.
    requests_models = pytest.importorskip("requests.models")
    pytest.importorskip("flask")
    data = {"note": "x", "n": ["1", "2"]}
    body, ctype = requests_models.RequestEncodingMixin._encode_files(requests_files()[index], data)
    client = Client(flask_echo())
    theirs = client.post("/", data=body, headers={"Content-Type": ctype}).json()
    ours = client.post("/", data=data, files=requests_files()[index]).json()
    assert ours["form"] == theirs["form"]
    # One difference, on purpose: requests sends a file part without a type unless told one; we
    # label it as RFC 7578 §4.4 asks (its type if known, else application/octet-stream).
    for parts in theirs["files"].values():
        for part in parts:
            part[2] = part[2] or mimetypes.guess_type(part[0])[0] or "application/octet-stream"
    assert ours["files"] == theirs["files"]


def test_requests_style_files_reach_both_apps(echo_app: Any) -> None:
    r = Client(echo_app).post("/", files=[("f", ("a.txt", b"1")), ("f", ("b.txt", b"2"))])
    assert r.json()["files"] == {"f": [["a.txt", "1", "text/plain"], ["b.txt", "2", "text/plain"]]}
    r = Client(echo_app).post("/", data={"note": "n"},
                              files={"doc": ("r.txt", io.BytesIO(b"z"), "text/x-r", {"X-Part": "1"}),
                                     "field": (None, "plain"), "raw": io.BytesIO(b"\x00")})
    assert r.json()["files"] == {"doc": [["r.txt", "z", "text/x-r"]],
                                 "raw": [["raw", "\x00", "application/octet-stream"]]}
    assert r.json()["form"] == {"note": ["n"], "field": ["plain"]}
    assert b"\r\nX-Part: 1\r\n" in r.request


def test_files_as_requests_leaves_out_none_content() -> None:
    r = Client(flask_echo()).post("/", files={"gone": ("g.txt", None), "kept": ("k.txt", b"k")})
    assert r.json()["files"] == {"kept": [["k.txt", "k", "text/plain"]]}


def test_a_filename_with_quotes_and_line_breaks_cannot_break_the_part_head(echo_app: Any) -> None:
    r = Client(echo_app).post("/", files={"f": ('a"b\r\nX-Evil: 1.txt', b"x")})
    assert b"\r\nX-Evil" not in r.request
    # The HTML form encoding ('"' as %22, CR LF as %0D%0A), which werkzeug undoes for the quote.
    assert r.json()["files"]["f"][0][0] in ('a"b%0D%0AX-Evil: 1.txt', "a%22b%0D%0AX-Evil: 1.txt")


# -- what cannot be sent ------------------------------------------------------------------------------


class Opaque:
    pass


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"data": {"obj": Opaque()}}, "obj", "cannot send a value of type Opaque"),
    ({"data": {"many": ["ok", Opaque()]}}, "many", "value of type Opaque"),
    ({"data": [("pair", {"a": 1})]}, "pair", "value of type dict"),
    ({"data": {"f": (io.BytesIO(b"x"), "x.txt"), "obj": Opaque()}}, "obj", "value of type Opaque"),
    ({"data": {"f": (io.BytesIO(b"x"), 3)}}, "f", "filename must be a str"),
    ({"files": {"up": 12345}}, "up", "cannot send a value of type int"),
    ({"files": {"up": ("a.txt", Opaque())}}, "up", "value of type Opaque"),
    ({"files": {"up": ("a.txt",)}}, "up", "not 1 items"),
    ({"files": {"up": ("a.txt", b"x", "text/plain", {}, "extra")}}, "up", "not 5 items"),
    ({"files": {"up": ("a.txt", b"x", "text/plain", ["X-A: 1"])}}, "up", "headers must be a mapping"),
    ({"params": {"q": Opaque()}}, "q", "value of type Opaque"),
])
def test_anything_unencodable_is_a_type_error_naming_the_field(
        kwargs: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(TypeError, match=message) as info:
        Client(flask_echo()).post("/", **kwargs)
    assert f"field {field!r}" in str(info.value)


def test_a_file_in_params_or_with_a_string_body_is_refused() -> None:
    with pytest.raises(TypeError, match="a file cannot go in a query"):
        Client(flask_echo()).get("/", params={"f": io.BytesIO(b"x")})
    with pytest.raises(TypeError, match="data= must be a mapping"):
        Client(flask_echo()).post("/", data="raw text", files={"f": b"x"})
    with pytest.raises(TypeError, match="json= or data="):
        Client(flask_echo()).post("/", data={"a": "1"}, json={"b": 2})


def test_the_old_repr_bug_cannot_come_back() -> None:
    # Before, any object went through str(): its repr was the field's value on the wire.
    client = Client(flask_echo())
    with pytest.raises(TypeError):
        client.post("/", data={"file": object()})
    r = client.post("/", data={"file": (io.BytesIO(b"abc"), "f.txt")})
    assert b"object at 0x" not in r.request
    assert r.json()["form"] == {}


def test_encode_multipart_keeps_its_old_signature() -> None:
    body, ctype = encode_multipart({"a": "1"}, {"f": ("f.txt", b"x")}, boundary="B")
    assert ctype == "multipart/form-data; boundary=B"
    assert body == (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
                    b'--B\r\nContent-Disposition: form-data; name="f"; filename="f.txt"\r\n'
                    b"Content-Type: text/plain\r\n\r\nx\r\n--B--\r\n")
    assert os.path.basename("a/b") == "b"
