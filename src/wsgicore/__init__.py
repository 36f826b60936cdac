"""wsgicore: a sans-IO WSGI (PEP 3333) server core on h11.

Feed it received bytes, ask it what to do next (run a request's application, receive, close) and take
the response bytes back; it never touches a socket, a thread, a clock or a log. See docs/core-api.md.
"""

from ._actions import BODY_DEADLINE, HEAD_DEADLINE, IDLE_DEADLINE, Close, Receive
from ._app_runner import ResponseInfo
from ._config import Config
from ._connection import Connection
from ._errors import (
    ApplicationError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RequestBodyError,
)
from ._events import (
    NEED_DATA,
    PAUSED,
    BodyReceived,
    ConnectionClosed,
    Event,
    RequestComplete,
    RequestReceived,
    Sentinel,
)
from ._filewrapper import FileWrapper
from ._input import InputStream
from ._problems import Problem
from ._response_heads import reason_phrase
from ._serving import SERVER_SOFTWARE, serving_config
from ._version import __version__

# Tracebacks and reprs name the public module, not the private one that defines the class.
for _public in (ApplicationError, LocalProtocolError, ProtocolError, RemoteProtocolError, RequestBodyError,
                Config, Connection, Problem, ResponseInfo, FileWrapper, InputStream, RequestReceived,
                BodyReceived, RequestComplete, ConnectionClosed, Receive, Close):
    _public.__module__ = __name__
del _public

__all__ = [
    "BODY_DEADLINE",
    "HEAD_DEADLINE",
    "IDLE_DEADLINE",
    "NEED_DATA",
    "PAUSED",
    "SERVER_SOFTWARE",
    "ApplicationError",
    "BodyReceived",
    "Close",
    "Config",
    "Connection",
    "ConnectionClosed",
    "Event",
    "FileWrapper",
    "InputStream",
    "LocalProtocolError",
    "Problem",
    "ProtocolError",
    "Receive",
    "RemoteProtocolError",
    "RequestBodyError",
    "RequestComplete",
    "RequestReceived",
    "ResponseInfo",
    "Sentinel",
    "__version__",
    "reason_phrase",
    "serving_config",
]
