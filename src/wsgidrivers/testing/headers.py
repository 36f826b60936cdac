"""A case-insensitive, multi-valued, ordered mapping of header fields (RFC 9110 §5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import TypeVar, overload

__all__ = ["Headers", "HeadersInput"]

#: What the client accepts as headers: a mapping, or (name, value) pairs (repeats allowed).
HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]]

_T = TypeVar("_T")


class Headers(MutableMapping[str, str]):
    """Header fields in the order received; names compare case-insensitively (RFC 9110 §5.1).

    As a mapping (``[]``, ``get``, ``in``, ``keys()``, iteration, ``len()``, ``dict(headers)``) it
    has one entry per field name, spelled as it first arrived; a field that appears more than once
    gives its values joined with ``", "`` (RFC 9110 §5.3), as requests' headers do. ``Set-Cookie``
    values cannot be joined (RFC 6265 §3), so every line stays reachable: :meth:`get_all` (also
    named :meth:`getlist`, as werkzeug's) gives each value of one field, and :meth:`items` and
    :meth:`values` every field line as received, repeats included (as werkzeug's ``Headers``).

    It can be changed too (``headers[name] = value`` replaces every line of that name, :meth:`add`
    appends one, ``del`` removes them all): a request's headers are, for an ``auth`` callable.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: HeadersInput | None = None) -> None:
        pairs = fields.items() if isinstance(fields, Mapping) else (fields or ())
        self._fields: list[tuple[str, str]] = [(str(n), str(v)) for n, v in pairs]

    def get_all(self, name: str) -> list[str]:
        """Every value of the field ``name``, in order (empty list when absent)."""
        wanted = name.lower()
        return [v for n, v in self._fields if n.lower() == wanted]

    def getlist(self, name: str) -> list[str]:
        """:meth:`get_all` under werkzeug's name."""
        return self.get_all(name)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get(self, name: str, default: object = None) -> object:
        """The field's value (repeats joined with ``", "``), or ``default`` when absent."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every line of the field ``name`` with one, where the first one was."""
        wanted = name.lower()
        kept: list[tuple[str, str]] = []
        placed = False
        for field in self._fields:
            if field[0].lower() != wanted:
                kept.append(field)
            elif not placed:
                kept.append((name, str(value)))
                placed = True
        if not placed:
            kept.append((name, str(value)))
        self._fields = kept

    def __delitem__(self, name: str) -> None:
        wanted = name.lower()
        kept = [field for field in self._fields if field[0].lower() != wanted]
        if len(kept) == len(self._fields):
            raise KeyError(name)
        self._fields = kept

    def add(self, name: str, value: str) -> None:
        """Append one field line (a repeat of the name is kept as a line of its own)."""
        self._fields.append((str(name), str(value)))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._fields)

    def __iter__(self) -> Iterator[str]:
        """Each field name once, spelled as it first arrived, in order of first appearance."""
        seen: set[str] = set()
        for name, _ in self._fields:
            folded = name.lower()
            if folded not in seen:
                seen.add(folded)
                yield name

    def __len__(self) -> int:
        """The number of distinct field names (``len(dict(headers))``)."""
        return len({n.lower() for n, _ in self._fields})

    # Every line, as werkzeug's Headers gives them: with a mapping view (one pair per name), the
    # second Set-Cookie line would be unreachable here.
    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """Every (name, value) field line as received, repeats included."""
        return list(self._fields)

    def values(self) -> list[str]:  # type: ignore[override]
        """Every field value as received, repeats included (the values of :meth:`items`)."""
        return [value for _, value in self._fields]

    def copy(self) -> Headers:
        return Headers(self._fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted((n.lower(), v) for n, v in self._fields) == sorted(
                (n.lower(), v) for n, v in other._fields)
        if isinstance(other, Mapping):
            return Headers(other) == self
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable container: no hashing

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"
