"""The in-memory test client: real request bytes through the real core, strict responses back.

Each request is serialized as a client would send it, fed to a :class:`wsgidrivers.memory.MemoryConnection`
(the same loop a socket driver runs, without the socket), and the bytes the server wrote are parsed
strictly. The connection is kept alive between requests while the server keeps it open, as a browser
does, so keep-alive and pipelining are exercised by ordinary tests.
"""

from __future__ import annotations

import difflib
import inspect
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from wsgicore import Config, Problem
from wsgidrivers._common.settings import driver_defaults
from wsgidrivers.memory import MemoryConnection

from .auth import AuthInput
from .cookies import CookieJar
from .environ_keys import check_address, environ_settings
from .headers import HeadersInput
from .request import ConnectionKey, FilesInput, ParamsInput, Request, build_request
from .response import MalformedResponse, Response, parse_response

__all__ = ["Client", "TooManyRedirects"]

WSGIApp = Callable[..., Iterable[bytes]]

_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*\r\n", re.IGNORECASE)

#: The memory driver's settings when none is given: the Client serves as it does (each default is
#: written once, in the settings module).
_DEFAULTS = driver_defaults("memory")

#: Redirects followed at most by one request (browsers allow about 20; a test loops sooner).
MAX_REDIRECTS = 10


class TooManyRedirects(Exception):
    """``follow_redirects`` met more than :data:`MAX_REDIRECTS` redirects; ``history`` has them."""

    def __init__(self, history: list[Response]) -> None:
        self.history = history
        super().__init__(f"more than {MAX_REDIRECTS} redirects: {[r.url for r in history][-3:]}")


#: What other test clients take that ours spells differently, or that means nothing in memory.
_FOREIGN_OPTIONS = {
    "query_string": "params= (werkzeug's query_string)",
    "content_type": "headers={'Content-Type': ...} (or data=/json=/files=, which set it)",
    "input_stream": "data= (a file object's content is the body)",
    "allow_redirects": "follow_redirects= (off by default, as in werkzeug's client)",
    "extra_environ": "environ_base= (WebTest's extra_environ)",
    "upload_files": "files=[(field, (filename, content)), ...] (WebTest's upload_files)",
    "status": "assert response.status_code == ... (WebTest's status=)",
    "expect_errors": "nothing: every status is returned (response.raise_for_status() checks)",
    "timeout": "nothing: an in-memory request cannot time out (live_server serves real sockets)",
    "stream": "nothing: the body is read whole (response.iter_content() still works)",
    "verify": "nothing: there is no TLS in memory (base_url='https://...' sets the scheme)",
    "cert": "nothing: there is no TLS in memory (base_url='https://...' sets the scheme)",
    "proxies": "nothing: the client talks to the app directly",
    "buffered": "nothing: the body is always read whole",
}


class Client:
    """Test client for a WSGI ``app``: the app runs behind ``wsgicore``'s parser, in memory.

    ``config`` is the core's :class:`wsgicore.Config` (default ``Config()``). The Client is a driver
    without a clock: no ``Date`` unless the Config names a clock (``clock=time.time``), so
    responses are byte-for-byte reproducible. ``base_url`` gives the scheme, Host and a default
    for relative URLs; the app sees its scheme, host and port as a server at that address would
    (``https``: ``wsgi.url_scheme`` https and port 443 unless the URL names one).
    ``raise_app_exceptions``: an exception the app raised (which the core turned into a 500) is
    raised again from the call, with its traceback; False: the 500 is returned and the exception
    is in ``response.problems``. ``errors`` is ``wsgi.errors`` (default ``sys.stderr``, which
    pytest captures). ``peer`` is the client's ``(address, port)``: the port of its first
    connection; the next ones count up from it. ``environ_base`` (also an attribute, which may be
    changed between requests) holds environ keys for every request, as werkzeug's: see
    :mod:`wsgidrivers.testing.environ_keys` (``{"REMOTE_ADDR": ...}`` sets the client's address).

    Connections are kept alive per server address, scheme and client address, as a browser's pool
    keeps them: a request to another origin, or from another ``remote_addr``, goes on a connection
    of its own, which the core serves with that peer and local address.

    ``stream_chunked_body`` is the drivers' setting of that name, as every server applies it: off
    (the default), a chunked request body (``chunked=True``) is read whole before the app runs and
    given a ``CONTENT_LENGTH``, so an app that reads ``CONTENT_LENGTH`` bytes (Django) gets it, also
    with a ``config`` given only to set a limit; on, it streams to the app with
    ``wsgi.input_terminated`` and no ``CONTENT_LENGTH``. The bytes sent are the same either way.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        config: Config | None = None,
        stream_chunked_body: bool = _DEFAULTS.stream_chunked_body,
        base_url: str = "http://localhost",
        raise_app_exceptions: bool = True,
        errors: IO[str] | None = None,
        peer: tuple[str, int] = ("127.0.0.1", 50000),
        environ_base: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI callable, not {type(app).__name__}")
        if config is not None and not isinstance(config, Config):
            raise TypeError(f"config must be a wsgicore.Config or None, not {type(config).__name__}")
        if not isinstance(stream_chunked_body, bool):
            raise ValueError(f"stream_chunked_body must be a bool, not {stream_chunked_body!r}")
        if not isinstance(peer, tuple) or len(peer) != 2 or not isinstance(peer[1], int):
            raise TypeError(f"peer must be an (address, port) tuple, not {peer!r}")
        self.app = app
        self.config = config if config is not None else Config()
        self.stream_chunked_body = stream_chunked_body
        self.base_url = base_url
        self.raise_app_exceptions = raise_app_exceptions
        self.errors = errors
        self.peer = (check_address(peer[0], "peer's address"), peer[1])
        self.environ_base: dict[str, Any] = dict(environ_base or {})
        environ_settings(self.environ_base)  # a key the client cannot honour fails here, not later
        build_request("GET", "/", base_url=base_url)  # so does a base_url that is not http(s)
        self.cookies = CookieJar()
        self._pool: dict[ConnectionKey, MemoryConnection] = {}
        # The connections' Configs by (secure, script_name), for the Config they were made from.
        self._served: tuple[Config, dict[tuple[bool, str], Config]] | None = None
        self._connections = 0
        self._environs: list[dict[str, Any]] = []
        self._problems: list[Problem] = []
        self._marks: list[float] = []
        self._sending: tuple[Request, ...] = ()

    # ------------------------------------------------------------------ connections

    def _recording_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        index = len(self._environs)
        self._marks.append(time.perf_counter())  # the previous request's response is complete
        if index < len(self._sending) and self._sending[index].extensions:
            # Keys no server sets (REMOTE_USER, myapp.*): added as a middleware in front would.
            environ.update(self._sending[index].extensions)
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

    def _config_for(self, secure: bool, script_name: str = "") -> Config:
        """The connection's Config: https served as over TLS (``wsgi.url_scheme`` https, as
        ``wsgicore.serving_config`` does for a TLS socket); http keeps the config's own scheme.
        ``script_name``: the mount of ``base_url``'s path. The Client is a driver without a clock:
        ``clock="driver"`` (the default) sends no ``Date``, so responses are byte-for-byte
        reproducible; a clock given explicitly sends it."""
        served = self._served
        if served is None or served[0] is not self.config:
            served = self._served = (self.config, {})
        config = served[1].get((secure, script_name))
        if config is None:
            config = self.config
            if isinstance(config.clock, str):  # "driver"
                config = config.replace(clock=None)
            if secure and config.url_scheme != "https":
                config = config.replace(url_scheme="https")
            if script_name and not config.script_name:
                config = config.replace(script_name=script_name)
            served[1][(secure, script_name)] = config
        return config

    def _new_connection(self, request: Request | None = None) -> MemoryConnection:
        """A connection as ``request`` needs it (default: to ``base_url``, from the client's
        address): the core gets the peer, the local address and the scheme, and builds the environ
        from them."""
        if request is None:
            request = self.build_request("GET", "/")
        # Each connection from its own client port, as a real client's would be (REMOTE_PORT).
        port = (request.remote_port if request.remote_port is not None
                else self.peer[1] + self._connections % 10000)
        peer = (request.remote_addr or self.peer[0], port)
        self._connections += 1
        return MemoryConnection(self._recording_app,
                                config=self._config_for(request.secure, request.script_name),
                                stream_chunked_body=self.stream_chunked_body, peer=peer,
                                sockname=(request.server_name or request.host, request.port),
                                errors=self.errors, on_problem=self._on_problem)

    def _connection(self, request: Request,
                    key: ConnectionKey) -> MemoryConnection:
        memory = self._pool.get(key)
        if memory is None or memory.closed:
            memory = self._pool[key] = self._new_connection(request)
        return memory

    def close(self) -> None:
        """Close the kept-alive connections (the client's EOF); the next request opens a new one."""
        for memory in self._pool.values():
            if not memory.closed:
                memory.close()
        self._pool.clear()

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
        params: ParamsInput | None = None,
        headers: HeadersInput | None = None,
        data: Any = None,
        json: Any = None,
        files: FilesInput | None = None,
        cookies: Mapping[str, str] | None = None,
        chunked: bool = False,
        auth: AuthInput | None = None,
        environ_base: Mapping[str, Any] | None = None,
        environ_overrides: Mapping[str, Any] | None = None,
        remote_addr: str | None = None,
    ) -> Request:
        """The request :meth:`request` would send (with the jar's cookies and the client's
        ``environ_base`` under the one given), without sending it."""
        if self.environ_base:
            environ_base = {**self.environ_base, **(environ_base or {})}
        return build_request(method, url, base_url=self.base_url, params=params, headers=headers,
                             data=data, json=json, files=files, cookies=cookies, jar=self.cookies,
                             chunked=chunked, auth=auth, environ_base=environ_base,
                             environ_overrides=environ_overrides, remote_addr=remote_addr)

    def request(
        self,
        method: str,
        url: str = "/",
        *,
        params: ParamsInput | None = None,
        headers: HeadersInput | None = None,
        data: Any = None,
        json: Any = None,
        files: FilesInput | None = None,
        cookies: Mapping[str, str] | None = None,
        chunked: bool = False,
        auth: AuthInput | None = None,
        environ_base: Mapping[str, Any] | None = None,
        environ_overrides: Mapping[str, Any] | None = None,
        remote_addr: str | None = None,
        follow_redirects: bool = False,
    ) -> Response:
        """Send one request and return its :class:`Response`.

        ``params`` extend the query; the body is ``data`` (bytes, str, a file, a form mapping or
        pairs; a multipart form when it holds files, werkzeug's way, or with ``files``, requests'
        way), or ``json``; ``chunked`` sends it with ``Transfer-Encoding: chunked``. ``cookies``
        are sent besides the jar's (and not stored). ``auth``: ``(user, password)`` for Basic, or
        requests' callables (:mod:`wsgidrivers.testing.auth`). ``remote_addr``, ``environ_base``,
        ``environ_overrides``: the client's address and other environ keys, as werkzeug takes them
        (:mod:`wsgidrivers.testing.environ_keys`).
        ``follow_redirects`` follows 301/302/303/307/308 (303, and 301/302 after a POST, as GET
        without a body, as browsers do; RFC 9110 §15.4); ``response.history`` has the redirects;
        ``auth`` goes along to the same host only (as requests does).
        Raises :class:`~wsgidrivers.testing.MalformedResponse` when the server's bytes are not
        valid HTTP/1.1, and the app's exception when ``raise_app_exceptions`` is on.
        """
        req = self.build_request(method, url, params=params, headers=headers, data=data, json=json,
                                 files=files, cookies=cookies, chunked=chunked, auth=auth,
                                 environ_base=environ_base, environ_overrides=environ_overrides,
                                 remote_addr=remote_addr)
        response = self.send(req)
        if not follow_redirects:
            return response
        options: dict[str, Any] = {
            "headers": headers, "cookies": cookies, "auth": auth, "environ_base": environ_base,
            "environ_overrides": environ_overrides, "remote_addr": remote_addr}
        body: dict[str, Any] = {"data": data, "json": json, "files": files, "chunked": chunked}
        history: list[Response] = []
        while response.is_redirect:
            history.append(response)
            if len(history) > MAX_REDIRECTS:
                raise TooManyRedirects(history)
            target = urljoin(req.url, response.headers["location"])
            code = response.status_code
            next_options = dict(options)
            if auth is not None and (urlsplit(target).hostname or "").lower() != req.host:
                next_options["auth"] = None  # credentials stay with the host they were meant for
            if (code == 303 and req.method != "HEAD") or (code in (301, 302) and req.method == "POST"):
                next_options["headers"] = None
                req = self.build_request("GET", target, **next_options)
            else:  # 307/308 (and 301/302 but for POST) repeat the request as it was
                req = self.build_request(req.method, target, **body, **next_options)
            response = self.send(req)
        response.history = history
        return response

    def send(self, request: Request) -> Response:
        """Send a built request on the kept-alive connection for it (a new one if it was closed)."""
        return self.pipeline(request)[0]

    def pipeline(self, *requests: Request) -> list[Response]:
        """Send several built requests in one write, before reading any answer (RFC 9112 §9.3.2);
        return their responses in order. A request the server refused (or never read because the
        connection closed first) has no response: the list is then shorter. The requests must
        share a connection (one server address and scheme, one client address)."""
        if not requests:
            return []
        for request in requests:
            if not isinstance(request, Request):
                raise TypeError(f"send()/pipeline() take Request objects (client.build_request(...)), "
                                f"not {type(request).__name__}")
        key = requests[0].connection_key
        if len(requests) > 1 and any(r.connection_key != key for r in requests[1:]):
            raise ValueError("pipelined requests must go on one connection: the same scheme, server "
                             "address and client address")
        memory = self._connection(requests[0], key)
        self._environs, self._problems, self._marks, self._sending = [], [], [], requests
        started = time.perf_counter()
        try:
            out = memory.send(_pieces(requests))
            if memory.closed:
                out += memory.close()
        finally:
            self._sending = ()
        ended = time.perf_counter()
        environs, problems = self._environs, self._problems
        # Response i is complete when the app is called for request i + 1 (the core runs them in
        # turn), the last one when the write's processing ended.
        done = [*self._marks[1:], ended]
        elapsed = [timedelta(seconds=(done[i] if i < len(done) else ended) - started)
                   for i in range(len(requests))]
        app_error = next((p.exc_info[1] for p in problems
                          if p.exc_info is not None and p.exc_info[1] is not None), None)
        try:
            responses = self._parse(requests, out, memory.closed, environs, problems, elapsed=elapsed)
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
               environs: list[dict[str, Any]], problems: list[Problem], *,
               elapsed: list[timedelta]) -> list[Response]:
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
                elapsed=elapsed[index],
            )
            for line in response.headers.get_all("set-cookie"):
                self.cookies.store(line, req.host, req.path)
            responses.append(response)
        if pos < len(out):
            raise MalformedResponse("bytes after the last response", out[pos:], 0)
        return responses

    def raw(self, data: bytes | Iterable[bytes], *, close: bool = True) -> bytes:
        """Send raw bytes (or pieces, delivered one at a time) on a new connection to ``base_url``
        and return every byte the server wrote; ``close`` sends EOF afterwards. For protocol
        tests: nothing is checked; :func:`~wsgidrivers.testing.parse_responses` parses the result
        strictly."""
        memory = self._new_connection()
        out = memory.send(data)
        if close:
            out += memory.close()
        return out

    # ------------------------------------------------------------------ the methods

    def _call(self, caller: str, method: str, url: str, options: dict[str, Any]) -> Response:
        if options and not _REQUEST_OPTIONS.issuperset(options):
            unknown = next(name for name in options if name not in _REQUEST_OPTIONS)
            raise TypeError(_unknown_option(caller, unknown))
        return self.request(method, url, **options)

    def get(self, url: str = "/", **options: Any) -> Response:
        return self._call("get", "GET", url, options)

    def head(self, url: str = "/", **options: Any) -> Response:
        return self._call("head", "HEAD", url, options)

    def options(self, url: str = "/", **options: Any) -> Response:
        return self._call("options", "OPTIONS", url, options)

    def post(self, url: str = "/", **options: Any) -> Response:
        return self._call("post", "POST", url, options)

    def put(self, url: str = "/", **options: Any) -> Response:
        return self._call("put", "PUT", url, options)

    def patch(self, url: str = "/", **options: Any) -> Response:
        return self._call("patch", "PATCH", url, options)

    def delete(self, url: str = "/", **options: Any) -> Response:
        return self._call("delete", "DELETE", url, options)


_REQUEST_OPTIONS = frozenset(name for name, parameter in inspect.signature(Client.request).parameters.items()
                             if parameter.kind is inspect.Parameter.KEYWORD_ONLY)


def _unknown_option(caller: str, name: str) -> str:
    """The message for an option the client does not take: what to write instead."""
    hint = _FOREIGN_OPTIONS.get(name)
    if hint is not None:
        return f"Client.{caller}() got an unexpected keyword argument {name!r}: use {hint}"
    close = difflib.get_close_matches(name, _REQUEST_OPTIONS, n=1)
    suggestion = f"; did you mean {close[0]!r}?" if close else ""
    return (f"Client.{caller}() got an unexpected keyword argument {name!r}{suggestion} "
            f"(it takes {', '.join(sorted(_REQUEST_OPTIONS))})")


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
