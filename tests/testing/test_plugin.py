"""The pytest plugin, tested with pytester: found through its entry point (no conftest), failures
reported with the server's traceback, teardown that keep-alive cannot block, xdist, no leaks."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

APP = '''
import http.client, json

def app(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise ZeroDivisionError("boom from the app")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"path": environ["PATH_INFO"]}).encode()]

def get(server, path, conn=None):
    conn = conn or http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()
'''


def test_entry_point_is_registered() -> None:
    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "wsgidrivers.testing.plugin" in names


def test_fixtures_are_found_without_a_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_use=APP + '''
def test_client(wsgi_client):
    assert wsgi_client(app).get("/x").json() == {"path": "/x"}

def test_live(live_server):
    server = live_server(app)
    assert get(server, "/y") == (200, b'{"path": "/y"}')

def test_live_asyncio(live_server):
    assert get(live_server(app, driver="asyncio", max_workers=2), "/z")[0] == 200
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    fixtures = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    listed = fixtures.stdout.str()
    assert "wsgi_client -- " in listed
    assert "live_server -- " in listed
    assert "live_server_session [session scope] -- " in listed


def test_live_server_name_yields_to_pytest_django_and_pytest_flask(pytester: pytest.Pytester) -> None:
    # A plugin registered as "flask" (as pytest-flask is) has its own live_server: ours then is
    # only wsgicore_live_server, so theirs is never shadowed, whatever the load order.
    pytester.makepyfile(flask="""
import pytest

@pytest.fixture
def live_server():
    return "theirs"
""")
    pytester.makepyfile(test_names=APP + '''
def test_theirs(live_server):
    assert live_server == "theirs"

def test_ours(wsgicore_live_server):
    assert get(wsgicore_live_server(app), "/a")[0] == 200
''')
    # In a subprocess, whose working directory (first on sys.path) holds this stand-in "flask".
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "flask")
    result.assert_outcomes(passed=2)


def test_app_exception_fails_the_test_with_its_traceback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail=APP + '''
def test_passes_but_the_app_raised(live_server):
    assert get(live_server(app), "/boom")[0] == 500

def test_fails_and_shows_the_server_traceback(live_server):
    assert get(live_server(app), "/boom")[0] == 200

def test_expected_500(live_server):
    assert get(live_server(app, raise_app_exceptions=False), "/boom")[0] == 500

def test_session_server_reports_in_the_test_that_ran(live_server_session):
    assert get(live_server_session(app), "/boom")[0] == 500
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines([
        "*LiveServerError: the app raised in a live server during this test*ZeroDivisionError*",
        "*live server http://127.0.0.1:*",
        "*ZeroDivisionError: boom from the app*",
    ])
    # The test whose own assertion failed shows the assertion *and* the server's traceback.
    out = result.stdout.str()
    section = out.split("test_fails_and_shows_the_server_traceback", 2)[-1]
    assert "assert 500 == 200" in section
    assert "boom from the app" in section


def test_teardown_is_not_blocked_by_keep_alive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_keep=APP + '''
import threading
OPEN = []

def test_leaves_connections_open(live_server):
    for driver in ("threading", "simple", "asyncio"):
        server = live_server(app, driver=driver, keep_alive=True, keep_alive_timeout=120.0)
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        assert get(server, "/", conn)[0] == 200
        OPEN.append(conn)  # never closed by the test

def test_connections_were_ended_by_the_teardown():
    for conn in OPEN:
        conn.request("GET", "/")
        try:
            conn.getresponse()
        except (http.client.HTTPException, OSError):
            continue
        raise AssertionError("a kept-alive connection outlived its server")
''')
    # 120 s keep-alive: a teardown that waited for it would exceed stop()'s 5 s and error.
    result = pytester.runpytest("-p", "no:cacheprovider", "--durations=0", "-vv")
    result.assert_outcomes(passed=2)


def test_no_thread_or_fd_left_behind(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaks=APP + '''
import os, threading, pytest
BEFORE = {}

def _state():
    return threading.active_count(), len(os.listdir("/proc/self/fd"))

def test_0_before():
    BEFORE["state"] = _state()

@pytest.mark.parametrize("driver", ["threading", "simple", "asyncio"] * 3)
def test_1_use(live_server, wsgi_client, driver):
    server = live_server(app, driver=driver)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    assert get(server, "/", conn)[0] == 200
    conn.close()
    assert wsgi_client(app).get("/").status_code == 200

def test_2_after():
    assert _state() == BEFORE["state"]
''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=11)


def test_works_under_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_x=APP + '''
import pytest

@pytest.mark.parametrize("n", range(6))
def test_function_scope(live_server, n):
    assert get(live_server(app), f"/{n}")[1] == ('{"path": "/%d"}' % n).encode()

@pytest.mark.parametrize("n", range(4))
def test_session_scope(live_server_session, wsgi_client, n):
    assert get(live_server_session(app, driver="asyncio"), "/s")[0] == 200
    assert wsgi_client(app).get("/c").json() == {"path": "/c"}
''')
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=10)
