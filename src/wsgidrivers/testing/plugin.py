"""The pytest plugin (entry point ``pytest11``: installed with the package, no conftest needed).

Fixtures:

- ``wsgi_client``: ``wsgi_client(app, **options)`` returns a :class:`~wsgidrivers.testing.Client`
  (options as the Client's); closed after the test.
- ``live_server``: ``live_server(app, driver="threading", **settings)`` returns a running
  :class:`~wsgidrivers.testing.LiveServer` (``.url``, ``.host``, ``.port``, ``.stop()``), stopped
  after the test; every thread it started is joined, or the teardown fails. Also named
  ``wsgicore_live_server``, the only name when pytest-django or pytest-flask (which have a
  ``live_server`` of their own) is installed.
- ``live_server_session``: the same factory, its servers shared by the whole session (per xdist
  worker).

An exception the app raises inside a live server is reported in the test that was running: its
traceback is added to the report ("live server" section), and a test that otherwise passed fails
with :class:`~wsgidrivers.testing.LiveServerError` (``raise_app_exceptions=False`` turns that off
for a server whose 500s are expected). This module imports the rest of the package only when a
fixture is used, so a pytest run that uses none pays nothing for it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .client import Client
    from .live import LiveServer

__all__ = ["LiveServerFactory", "live_server_session", "pytest_configure", "pytest_runtest_call",
           "wsgi_client", "wsgicore_live_server"]

_SERVERS = pytest.StashKey[set["LiveServer"]]()


def _servers(config: pytest.Config) -> set[LiveServer]:
    """The live servers running in this session (all scopes), to check after each test."""
    servers = config.stash.get(_SERVERS, None)
    if servers is None:
        servers = config.stash[_SERVERS] = set()
    return servers


class LiveServerFactory:
    """``factory(app, driver="threading", **settings)``: start a live server (see
    :func:`~wsgidrivers.testing.start_live_server`); ``close()`` stops every server it started."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self.servers: list[LiveServer] = []

    def __call__(self, app: Callable[..., Iterable[bytes]], driver: str = "threading",
                 **settings: Any) -> LiveServer:
        from .live import start_live_server

        server = start_live_server(app, driver, **settings)
        self.servers.append(server)
        _servers(self._config).add(server)
        return server

    def close(self) -> None:
        """Stop every server; raise the first problem (a thread that did not end, or an app
        exception recorded after the test's own check)."""
        from .live import LiveServerError

        first: BaseException | None = None
        for server in self.servers:
            _servers(self._config).discard(server)
            try:
                server.stop()
                server.check()
            except LiveServerError as exc:
                first = first or exc
        self.servers.clear()
        if first is not None:
            raise first


@pytest.fixture
def wsgi_client() -> Generator[Callable[..., Client], None, None]:
    """A factory of in-memory clients: ``wsgi_client(app, **options)`` (see ``Client``)."""
    from .client import Client

    clients: list[Client] = []

    def make(app: Callable[..., Iterable[bytes]], **options: Any) -> Client:
        client = Client(app, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def wsgicore_live_server(request: pytest.FixtureRequest) -> Generator[LiveServerFactory, None, None]:
    """A factory of live servers stopped after the test: ``live_server(app, driver=..., **settings)``
    (also named ``live_server`` unless pytest-django or pytest-flask provide one)."""
    factory = LiveServerFactory(request.config)
    yield factory
    factory.close()


#: Plugins with a ``live_server`` fixture of their own; with one of them, ours is only
#: ``wsgicore_live_server`` (which of two same-named plugin fixtures wins depends on load order).
_OTHER_LIVE_SERVERS = ("django", "flask")


class _LiveServerName:
    """Registered as a plugin to give ``wsgicore_live_server`` its short name."""

    @pytest.fixture
    def live_server(self, wsgicore_live_server: LiveServerFactory) -> LiveServerFactory:
        """A factory of live servers stopped after the test: ``live_server(app, driver=..., **settings)``."""
        return wsgicore_live_server


def pytest_configure(config: pytest.Config) -> None:
    manager = config.pluginmanager
    if not any(manager.hasplugin(name) for name in _OTHER_LIVE_SERVERS):
        manager.register(_LiveServerName(), "wsgicore-live-server")


@pytest.fixture(scope="session")
def live_server_session(request: pytest.FixtureRequest) -> Generator[LiveServerFactory, None, None]:
    """The ``live_server`` factory whose servers live until the end of the session."""
    factory = LiveServerFactory(request.config)
    yield factory
    factory.close()


def _collect(item: pytest.Item) -> BaseException | None:
    """Report the app exceptions the session's live servers recorded during this test (a report
    section each); return the first one of a server that raises them."""
    servers = item.config.stash.get(_SERVERS, None)
    if not servers:
        return None
    first: BaseException | None = None
    for server in list(servers):
        errors = server.take_errors()
        if not errors:
            continue
        text = "\n".join("".join(traceback.format_exception(type(e), e, e.__traceback__))
                         for e in errors)
        item.add_report_section("call", f"live server {server.url}", text)
        if server.raise_app_exceptions and first is None:
            first = errors[0]
    return first


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    __tracebackhide__ = True  # the report shows the app's frames, not this hook's
    try:
        result = yield
    except BaseException:
        _collect(item)  # the test failed anyway: the tracebacks join its report
        raise
    error = _collect(item)
    if error is not None:
        from .live import LiveServerError

        raise LiveServerError(f"the app raised in a live server during this test: {error!r} "
                              "(traceback in the 'live server' section)") from error
    return result
