"""Hypothesis strategies for HTTP/1.1 requests, each with the outcome the core must give.

Valid requests (:func:`requests`, :func:`pipelines`) carry what the app must see: method, path,
query, header fields and body, so a property can say "every valid request reaches the app intact".
Hostile requests (:func:`hostile_requests`) are valid requests with one defect from a family the core
refuses (:data:`HOSTILE_FAMILIES`), each with the status it must answer, followed by a smuggled
request that must never reach any app. :func:`check_valid` and :func:`check_hostile` check those
claims for *your* app, through the real parser, in memory::

    from hypothesis import given
    from wsgidrivers.testing.strategies import check_hostile, check_valid, hostile_requests, requests

    @given(requests())
    def test_my_app_gets_every_valid_request(request):
        check_valid(my_app, request)

    @given(hostile_requests())
    def test_my_app_never_sees_a_hostile_one(request):
        check_hostile(my_app, request)

This module needs hypothesis (``pip install 'wsgicore[testing]'``); nothing else imports it.
"""

from __future__ import annotations

from ._cases import (
    SMUGGLED_PATH,
    ClaimFailed,
    HostileRequest,
    HTTPRequest,
    check_hostile,
    check_valid,
)
from ._hostile import HOSTILE_FAMILIES, hostile_requests
from ._valid import header_fields, methods, pipelines, requests, targets

__all__ = [
    "HOSTILE_FAMILIES",
    "SMUGGLED_PATH",
    "ClaimFailed",
    "HTTPRequest",
    "HostileRequest",
    "check_hostile",
    "check_valid",
    "header_fields",
    "hostile_requests",
    "methods",
    "pipelines",
    "requests",
    "targets",
]
