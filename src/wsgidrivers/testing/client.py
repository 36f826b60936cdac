"""The in-memory test client: real request bytes through the real core, strict responses back.

Each request is serialized as a client would send it, fed to a :class:`wsgidrivers.memory.MemoryConnection`
(the same loop a socket driver runs, without the socket), and the bytes the server wrote are parsed
strictly. The connection is kept alive between requests while the server keeps it open, as a browser
does, so keep-alive and pipelining are exercised by ordinary tests.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from wsgicore import Config, Problem
from wsgidrivers.memory import MemoryConnection

from .cookies import CookieJar
from .headers import HeadersInput
from .request import FilesInput, Request, build_request
from .response import MalformedResponse, Response, parse_response

__all__ = ["Client", "TooManyRedirects"]

WSGIApp = Callable[..., Iterable[bytes]]

_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*\r\n", re.IGNORECASE)

#: Redirects followed at most by one request (browsers allow about 20; a test loops sooner).
MAX_REDIRECTS = 10


class TooManyRedirects(Exception):
    """``follow_redirects`` met more than :data:`MAX_REDIRECTS` redirects; ``history`` has them."""

    def __init__(self, history: list[Response]) -> None:
        self.history = history
        super().__init__(f"more than {MAX_REDIRECTS} redirects: {[r.url for r in history][-3:]}")


class Client:
    """Test client for a WSGI ``app``: the app runs behind ``wsgicore``'s parser, in memory.

    ``config`` is the core's :class:`wsgicore.Config` (default ``Config()``: no ``Date``, so
    responses are byte-for-byte reproducible). ``base_url`` gives the scheme, Host and a default
    for relative URLs. ``raise_app_exceptions``: an exception the app raised (which the core turned
    into a 500) is raised again from the call, with its traceback; False: the 500 is returned and
    the exception is in ``response.problems``. ``errors`` is ``wsgi.errors`` (default
    ``sys.stderr``, which pytest captures). ``peer`` is the client's ``(address, port)``: the port
    of its first connection; the next ones count up from it.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        config: Config | None = None,
        base_url: str = "http://localhost",
        raise_app_exceptions: bool = True,
        errors: IO[str] | None = None,
        peer: tuple[str, int] = ("127.0.0.1", 50000),
    ) -> None:
        self.app = app
        self.config = config if config is not None else Config()
        self.base_url = base_url
        self.raise_app_exceptions = raise_app_exceptions
        self.errors = errors
        self.peer = peer
        self.cookies = CookieJar()
        self._memory: MemoryConnection | None = None
        self._connections = 0
        self._environs: list[dict[str, Any]] = []
        self._problems: list[Problem] = []

    # ------------------------------------------------------------------ connections

    def _recording_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self._environs.append(environ)
        return self.app(environ, start_response)

    def _on_problem(self, problem: Problem) -> None:
        # Kept for the response and the exception, and still written where a server would write it.
        self._problems.append(problem)
        stream = self.errors if self.errors is not None else sys.stderr
        text = problem.message.rstrip("\n") + "\n"
        if problem.exc_info is not None:
            text += "".join(traceback.format_exception(*problem.exc_info))
        stream.write(text)

    def _new_connection(self) -> MemoryConnection:
        parts = urlsplit(self.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # Each connection from its own client port, as a real client's would be (REMOTE_PORT).
        peer = (self.peer[0], self.peer[1] + self._connections % 10000)
        self._connections += 1
        return MemoryConnection(self._recording_app, config=self.config, peer=peer,
                                sockname=(parts.hostname or "localhost", port),
                                errors=self.errors, on_problem=self._on_problem)

    def _connection(self) -> MemoryConnection:
        if self._memory is None or self._memory.closed:
            self._memory = self._new_connection()
        return self._memory

    def close(self) -> None:
        """Close the kept-alive connection (the client's EOF); the next request opens a new one."""
        if self._memory is not None and not self._memory.closed:
            self._memory.close()
        self._memory = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def build_request(
        self,
        method: str,
        url: str = "/",
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: HeadersInput | None = None,
        data: Any = None,
        json: Any = None,
        files: FilesInput | None = None,
        cookies: Mapping[str, str] | None = None,
        chunked: bool = False,
    ) -> Request:
        """The request :meth:`request` would send (with the jar's cookies), without sending it."""
        return build_request(method, url, base_url=self.base_url, params=params, headers=headers,
                             data=data, json=json, files=files, cookies=cookies, jar=self.cookies,
                             chunked=chunked)

    def request(
        self,
        method: str,
        url: str = "/",
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: HeadersInput | None = None,
        data: Any = None,
        json: Any = None,
        files: FilesInput | None = None,
        cookies: Mapping[str, str] | None = None,
        chunked: bool = False,
        follow_redirects: bool = False,
    ) -> Response:
        """Send one request and return its :class:`Response`.

        ``params`` extend the query; the body is ``data`` (bytes, str, a form mapping, or with
        ``files`` a multipart form), or ``json``; ``chunked`` sends it with
        ``Transfer-Encoding: chunked``. ``cookies`` are sent besides the jar's (and not stored).
        ``follow_redirects`` follows 301/302/303/307/308 (303, and 301/302 after a POST, as GET
        without a body, as browsers do; RFC 9110 §15.4); ``response.history`` has the redirects.
        Raises :class:`~wsgidrivers.testing.MalformedResponse` when the server's bytes are not
        valid HTTP/1.1, and the app's exception when ``raise_app_exceptions`` is on.
        """
        req = self.build_request(method, url, params=params, headers=headers, data=data, json=json,
                                 files=files, cookies=cookies, chunked=chunked)
        response = self.send(req)
        if not follow_redirects:
            return response
        history: list[Response] = []
        while response.is_redirect:
            history.append(response)
            if len(history) > MAX_REDIRECTS:
                raise TooManyRedirects(history)
            target = response.headers["location"]
            code = response.status_code
            if (code == 303 and req.method != "HEAD") or (code in (301, 302) and req.method == "POST"):
                req = self.build_request("GET", urljoin(req.url, target), cookies=cookies)
            else:  # 307/308 (and 301/302 but for POST) repeat the request as it was
                req = self.build_request(req.method, urljoin(req.url, target), headers=headers,
                                         data=data, json=json, files=files, cookies=cookies,
                                         chunked=chunked)
            response = self.send(req)
        response.history = history
        return response

    def send(self, request: Request) -> Response:
        """Send a built request on the kept-alive connection (a new one if it was closed)."""
        return self.pipeline(request)[0]

    def pipeline(self, *requests: Request) -> list[Response]:
        """Send several built requests in one write, before reading any answer (RFC 9112 §9.3.2);
        return their responses in order. A request the server refused (or never read because the
        connection closed first) has no response: the list is then shorter."""
        if not requests:
            return []
        memory = self._connection()
        self._environs, self._problems = [], []
        out = memory.send(_pieces(requests))
        if memory.closed:
            out += memory.close()
        environs, problems = self._environs, self._problems
        app_error = next((p.exc_info[1] for p in problems
                          if p.exc_info is not None and p.exc_info[1] is not None), None)
        try:
            responses = self._parse(requests, out, memory.closed, environs, problems)
        except MalformedResponse as exc:
            # An app that fails after its headers went out gets its response cut off (PEP 3333):
            # its exception, or at least its report, says more than the truncation does.
            if app_error is not None and self.raise_app_exceptions:
                raise app_error from exc
            if problems:
                raise MalformedResponse(f"{exc.message}; the app's problem: {problems[0].message}",
                                        exc.raw, exc.offset) from exc
            raise
        if app_error is not None and self.raise_app_exceptions:
            raise app_error
        return responses

    def _parse(self, requests: tuple[Request, ...], out: bytes, closed: bool,
               environs: list[dict[str, Any]], problems: list[Problem]) -> list[Response]:
        """The responses in ``out`` to ``requests``, each with its environ; cookies stored."""
        responses: list[Response] = []
        pos = 0
        for index, req in enumerate(requests):
            if pos >= len(out) and closed:
                break
            parsed = parse_response(out, pos, method=req.method, eof=closed)
            if parsed is None:
                raise MalformedResponse("incomplete response, and the server waits for more input",
                                        out[pos:], len(out) - pos)
            result, pos = parsed
            last = pos >= len(out)
            response = Response(
                result, url=req.url, request=req.raw,
                environ=environs[index] if index < len(environs) else None,
                keep_alive=not (last and closed),
                problems=problems if index == len(requests) - 1 or last else [],
            )
            for line in response.headers.get_all("set-cookie"):
                self.cookies.store(line, req.host, req.path)
            responses.append(response)
        if pos < len(out):
            raise MalformedResponse("bytes after the last response", out[pos:], 0)
        return responses

    def raw(self, data: bytes | Iterable[bytes], *, close: bool = True) -> bytes:
        """Send raw bytes (or pieces, delivered one at a time) on a new connection and return every
        byte the server wrote; ``close`` sends EOF afterwards. For protocol tests: nothing is
        checked; :func:`~wsgidrivers.testing.parse_responses` parses the result strictly."""
        memory = self._new_connection()
        out = memory.send(data)
        if close:
            out += memory.close()
        return out

    # ------------------------------------------------------------------ the methods

    def get(self, url: str = "/", **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str = "/", **kwargs: Any) -> Response:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str = "/", **kwargs: Any) -> Response:
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str = "/", **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str = "/", **kwargs: Any) -> Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str = "/", **kwargs: Any) -> Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str = "/", **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)


def _pieces(requests: Iterable[Request]) -> list[bytes]:
    """The bytes to deliver, in the pieces a real client's writes would arrive in: everything in
    one piece, except that a request with ``Expect: 100-continue`` has its body held back until
    the server asks for it (RFC 9110 §10.1.1), so the ``100 Continue`` is really sent."""
    pieces = [b""]
    for request in requests:
        head_end = request.raw.find(b"\r\n\r\n") + 4
        if _EXPECT_CONTINUE.search(request.raw, 0, head_end) and len(request.raw) > head_end:
            pieces[-1] += request.raw[:head_end]
            pieces.append(request.raw[head_end:])
        else:
            pieces[-1] += request.raw
    return pieces
