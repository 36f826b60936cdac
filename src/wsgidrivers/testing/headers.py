"""A case-insensitive, multi-valued, ordered view of header fields (RFC 9110 §5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import overload

__all__ = ["Headers", "HeadersInput"]

#: What the client accepts as headers: a mapping, or (name, value) pairs (repeats allowed).
HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]]


class Headers:
    """Header fields in the order received; names compare case-insensitively (RFC 9110 §5.1).

    ``headers["Content-Type"]`` is the field value; a field that appears more than once gives its
    values joined with ``", "`` (RFC 9110 §5.3), except ``Set-Cookie``, whose values cannot be
    joined (RFC 6265 §3): read it, and any repeated field, with :meth:`get_all`.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: HeadersInput | None = None) -> None:
        pairs = fields.items() if isinstance(fields, Mapping) else (fields or ())
        self._fields: list[tuple[str, str]] = [(str(n), str(v)) for n, v in pairs]

    def get_all(self, name: str) -> list[str]:
        """Every value of the field ``name``, in order (empty list when absent)."""
        wanted = name.lower()
        return [v for n, v in self._fields if n.lower() == wanted]

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The field's value (repeats joined with ``", "``), or ``default`` when absent."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._fields)

    def __iter__(self) -> Iterator[str]:
        """Each field name once, lower-cased, in order of first appearance."""
        return iter(dict.fromkeys(n.lower() for n, _ in self._fields))

    def __len__(self) -> int:
        return len(self._fields)

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair as received, repeats included."""
        return list(self._fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted((n.lower(), v) for n, v in self._fields) == sorted(
                (n.lower(), v) for n, v in other._fields)
        if isinstance(other, Mapping):
            return Headers(other) == self
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container: no hashing

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"
