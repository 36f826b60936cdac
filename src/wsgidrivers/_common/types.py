"""The types of PEP 3333's callables, for the drivers' annotations (``wsgiref.types`` is 3.11+)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

__all__ = ["ExcInfo", "StartResponse", "WSGIApplication"]

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
