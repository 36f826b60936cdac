"""Form bodies and query strings from what Flask/werkzeug and requests users pass (``data=``,
``files=``, ``params=``): ``application/x-www-form-urlencoded`` or ``multipart/form-data``.

Two conventions meet in ``data=`` and are told apart by the values:

- werkzeug's: a file object, or a ``(file, filename[, content_type])`` tuple, is a file part; a
  list holds several values of one field.
- requests': a list *or tuple* of plain values holds several values of one field.

``files=`` takes requests' forms: a mapping or ``(field, spec)`` pairs (one field may repeat),
``spec`` a file object, bytes or str, or ``(filename, content[, content_type[, headers]])``.

A value is sent only if it has a text form a user would expect (str, bytes, a number); anything
else is a ``TypeError`` naming the field, never its ``repr()`` on the wire. ``None`` values are
left out, as both libraries do.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

__all__ = ["FilesInput", "Part", "encode_multipart", "form_fields", "form_pairs", "has_files",
           "multipart_parts", "urlencoded"]

#: ``files=``: a mapping of field -> spec, or (field, spec) pairs (a field may repeat); spec is bytes,
#: str, a binary file object, or (filename, content[, content_type[, headers]]).
FilesInput = Mapping[str, Any] | Iterable[tuple[str, Any]]

_WHAT_FIELDS_TAKE = "str, bytes or a number"
_WHAT_DATA_TAKES = f"{_WHAT_FIELDS_TAKE}, a file, a (file, filename[, content_type]) tuple, or a list of them"
_WHAT_FILES_TAKE = ("bytes, str, a file, or a (filename, content[, content_type[, headers]]) tuple "
                    "with content bytes, str or a file")


@dataclass(frozen=True)
class Part:
    """One part of a ``multipart/form-data`` body (RFC 7578 §4): a file part when ``filename`` is
    not None, else a form field."""

    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())


def _is_file(value: Any) -> bool:
    return callable(getattr(value, "read", None))


def _is_file_tuple(value: Any) -> bool:
    # werkzeug's (file, filename[, content_type]); a tuple of plain values is several values.
    return (isinstance(value, tuple) and 2 <= len(value) <= 3
            and (_is_file(value[0]) or isinstance(value[0], os.PathLike)))


def _name(name: Any, where: str) -> str:
    if isinstance(name, str):
        return name
    if isinstance(name, bytes | bytearray):
        return bytes(name).decode("utf-8")
    if isinstance(name, int | float) and not isinstance(name, bool):
        return str(name)
    raise TypeError(f"{where}: a field name must be a str, not {type(name).__name__}")


def _text(value: Any, name: str, where: str, expected: str = _WHAT_FIELDS_TAKE) -> bytes:
    """The bytes of one plain field value (str as UTF-8, numbers as their text)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, int | float):
        return str(value).encode("ascii")
    raise TypeError(f"{where} field {name!r}: cannot send a value of type {type(value).__name__} "
                    f"(a field value is {expected})")


def _read(file: Any, name: str, where: str) -> bytes:
    data = file.read()
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{where} field {name!r}: its file's read() gave a {type(data).__name__}, "
                    "not bytes or str")


def _file_name(file: Any) -> str | None:
    """The name a browser would send for a file object: werkzeug's ``filename``, else the base name
    of its ``name`` (requests'), unless that is a pseudo-name such as ``<stdin>`` or a descriptor."""
    name = getattr(file, "filename", None) or getattr(file, "name", None)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if not isinstance(name, str) or not name or (name[0] == "<" and name[-1] == ">"):
        return None
    return os.path.basename(name)


def _pairs(source: Any, where: str) -> Iterator[tuple[Any, Any]]:
    """(name, value) pairs from a mapping (werkzeug's MultiDict: every value), or from pairs."""
    if hasattr(source, "items") and callable(getattr(source, "getlist", None)):
        for key in source:  # a MultiDict: its items() would give the first value of each key only
            for value in source.getlist(key):
                yield key, value
    elif isinstance(source, Mapping):
        yield from source.items()
    elif isinstance(source, Iterable) and not isinstance(source, str | bytes | bytearray):
        for pair in source:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise TypeError(f"{where} must be a mapping or (name, value) pairs; got an item "
                                f"{type(pair).__name__}")
            yield pair[0], pair[1]
    else:
        raise TypeError(f"{where} must be a mapping or (name, value) pairs, not {type(source).__name__}")


def _flat(source: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Each (name, one value): lists (and tuples that are not werkzeug file tuples) spread."""
    for raw_name, value in _pairs(source, where):
        name = raw_name if type(raw_name) is str else _name(raw_name, where)
        if type(value) is str:
            yield name, value
        elif isinstance(value, list) or (isinstance(value, tuple) and not _is_file_tuple(value)):
            for item in value:
                yield name, item
        else:
            yield name, value


def form_fields(source: Any, where: str) -> list[tuple[str, Any]]:
    """Each (name, one value) of a mapping or pairs: lists (and tuples that are not werkzeug
    file tuples) spread, so that a field may repeat."""
    return list(_flat(source, where))


def has_files(fields: list[tuple[str, Any]]) -> bool:
    """Whether :func:`form_fields` hold a file (werkzeug's way to upload one in ``data=``)."""
    return any(_is_file(v) or _is_file_tuple(v) for _, v in fields)


def form_pairs(source: Any, where: str) -> list[tuple[str, bytes]]:
    """Plain (name, value bytes) pairs for a query or an urlencoded body; None values left out."""
    expected = _WHAT_DATA_TAKES if where == "data=" else _WHAT_FIELDS_TAKE
    out: list[tuple[str, bytes]] = []
    for name, value in _flat(source, where):
        if type(value) is str:  # the common case first
            out.append((name, value.encode("utf-8")))
        elif value is None:
            continue
        elif _is_file(value) or _is_file_tuple(value):
            raise TypeError(f"{where} field {name!r}: a file cannot go in a query or an urlencoded "
                            "form (send it in data= or files=: that makes a multipart body)")
        else:
            out.append((name, _text(value, name, where, expected)))
    return out


def urlencoded(source: Any, where: str) -> str:
    """``name=value&...`` as an HTML form sends it (UTF-8, spaces as ``+``)."""
    return urlencode(form_pairs(source, where))


def _data_part(name: str, value: Any) -> Part | None:
    where = "data="
    if value is None:
        return None
    if _is_file_tuple(value):
        file, filename = value[0], value[1]
        ctype = value[2] if len(value) > 2 else None
        if isinstance(file, os.PathLike):  # werkzeug opens a path given in the tuple
            with open(file, "rb") as opened:
                content = opened.read()
        else:
            content = _read(file, name, where)
        if filename is not None and not isinstance(filename, str):
            raise TypeError(f"data= field {name!r}: the filename must be a str, not "
                            f"{type(filename).__name__}")
        return _file_part(name, content, filename, ctype, where)
    if _is_file(value):
        # As werkzeug: a file object without a name is sent as a field, with its type.
        filename = _file_name(value)
        ctype = getattr(value, "content_type", None)
        return _file_part(name, _read(value, name, where), filename, ctype, where)
    return Part(name, _text(value, name, where, _WHAT_DATA_TAKES))


def _file_part(name: str, content: bytes, filename: str | None, ctype: Any, where: str) -> Part:
    if ctype is not None and not isinstance(ctype, str):
        raise TypeError(f"{where} field {name!r}: the content type must be a str, not "
                        f"{type(ctype).__name__}")
    if not ctype:
        # RFC 7578 §4.4: file data labelled with its media type if known, else octet-stream.
        ctype = (mimetypes.guess_type(filename)[0] if filename else None) or "application/octet-stream"
    return Part(name, content, filename, ctype)


def _files_part(name: str, spec: Any) -> Part | None:
    """One requests-style ``files=`` entry."""
    where = "files="
    extra: Any = None
    if isinstance(spec, tuple | list):
        if not 2 <= len(spec) <= 4:
            raise TypeError(f"files= field {name!r}: a tuple is (filename, content[, content_type"
                            f"[, headers]]), not {len(spec)} items")
        filename, content = spec[0], spec[1]
        ctype = spec[2] if len(spec) > 2 else None
        extra = spec[3] if len(spec) > 3 else None
        if filename is not None and not isinstance(filename, str):
            raise TypeError(f"files= field {name!r}: the filename must be a str or None, not "
                            f"{type(filename).__name__}")
    else:
        content, ctype = spec, None
        filename = (_file_name(spec) if _is_file(spec) else None) or name  # requests' guess
    if content is None:
        return None  # requests leaves such an entry out
    if _is_file(content):
        data = _read(content, name, where)
    elif isinstance(content, str | bytes | bytearray):
        data = _text(content, name, where)
    else:
        raise TypeError(f"files= field {name!r}: cannot send a value of type {type(content).__name__} "
                        f"(a file is {_WHAT_FILES_TAKE})")
    if filename is None:
        # requests' (None, content): a plain field in the multipart body.
        part = Part(name, data, None, ctype if isinstance(ctype, str) and ctype else None)
    else:
        part = _file_part(name, data, filename, ctype, where)
    if extra:
        if not isinstance(extra, Mapping):
            raise TypeError(f"files= field {name!r}: the part's headers must be a mapping, not "
                            f"{type(extra).__name__}")
        part = Part(part.name, part.content, part.filename, part.content_type,
                    tuple((str(k), str(v)) for k, v in extra.items()))
    return part


def multipart_parts(data: Any, files: Any) -> list[Part]:
    """The parts of ``data`` (werkzeug's conventions) then ``files`` (requests'), in order."""
    parts: list[Part] = []
    if data is not None:
        if isinstance(data, str | bytes | bytearray | memoryview) or _is_file(data):
            raise TypeError("data= must be a mapping or (name, value) pairs when the body is "
                            "multipart (files= given, or a file among the values)")
        for name, value in _flat(data, "data="):
            part = _data_part(name, value)
            if part is not None:
                parts.append(part)
    if files is not None:
        for raw_name, spec in _pairs(files, "files="):
            part = _files_part(_name(raw_name, "files="), spec)
            if part is not None:
                parts.append(part)
    return parts


def _param(value: str) -> str:
    # The HTML form-data encoding (also urllib3's): '"' and line breaks percent-encoded in names
    # and filenames, everything else sent as UTF-8.
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def _check_part_field(name: str, value: str, part: str) -> None:
    if not name or any(c in name for c in ":\r\n") or any(c in value for c in "\r\n"):
        raise ValueError(f"multipart field {part!r}: invalid part header {name!r}: {value!r}")


def encode_multipart(data: Any = None, files: Any = None,
                     boundary: str | None = None) -> tuple[bytes, str]:
    """``multipart/form-data`` (RFC 7578): the body and its Content-Type value, from ``data``
    (fields, and werkzeug-style files) and ``files`` (requests-style)."""
    boundary = boundary or "wsgicore-" + secrets.token_hex(12)
    out = bytearray()
    for part in multipart_parts(data, files):
        head = [f'Content-Disposition: form-data; name="{_param(part.name)}"'
                + (f'; filename="{_param(part.filename)}"' if part.filename is not None else "")]
        fields = [("Content-Type", part.content_type)] if part.content_type else []
        given = {n.lower() for n, _ in part.headers}
        fields = [f for f in fields if f[0].lower() not in given] + list(part.headers)
        for name, value in fields:
            _check_part_field(name, value, part.name)
            head.append(f"{name}: {value}")
        out += ("--" + boundary + "\r\n" + "\r\n".join(head) + "\r\n\r\n").encode()
        out += part.content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
