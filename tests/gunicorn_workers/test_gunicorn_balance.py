"""Balanced workers (the load board, ``_board``) with real gunicorn processes: connections opened at
once or spaced are shared by the workers; a worker killed, a reload or a worker added never leaves
connections waiting; connections piled on one worker are handed back to another. Which worker
served is read from the response (``/pid``); no timing is measured."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from .gunicorn_support import Gunicorn, body_of, raw_exchange, running

CONNECTIONS = 16
#: Each of two workers gets at least this many of 16 connections. Without the board one worker
#: usually takes 15 or 16 of them (benchmarks/BALANCE.md).
FAIR = 6
GET_PID = b"GET /pid HTTP/1.1\r\nHost: test\r\n\r\n"


@contextlib.contextmanager
def connections(server: Gunicorn, count: int, gap: float = 0.0) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(server.address, timeout=10))
            if gap:
                time.sleep(gap)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def served_by(socks: list[socket.socket]) -> list[int]:
    """One request on each connection: the pid of the worker that holds it."""
    return [int(body_of(raw_exchange(sock, GET_PID, 1)[0])) for sock in socks]


def split(pids: list[int], workers: int = 2) -> list[int]:
    """Connections per worker, most first."""
    counts = collections.Counter(pids)
    return sorted(counts.values(), reverse=True) + [0] * (workers - len(counts))


def live_workers(server: Gunicorn, expected: int, timeout: float = 20.0) -> list[int]:
    """The pids of the master's live children, once there are ``expected`` of them."""
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    while True:
        children = _children(server.proc.pid)
        if len(children) == expected or time.monotonic() > deadline:
            return children
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def ready(server: Gunicorn, workers: int) -> None:
    """Every worker has booted and serves (its loop runs and it is on the board)."""
    pids = set(live_workers(server, workers))
    deadline = time.monotonic() + 20
    seen: set[int] = set()
    while seen != pids and time.monotonic() < deadline:
        with connections(server, CONNECTIONS) as socks:
            seen |= set(served_by(socks))
    time.sleep(0.2)


pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc"),
                                reason="needs Linux")


@pytest.mark.parametrize("gap", [0.0, 0.02], ids=["at-once", "spaced"])
def test_connections_are_shared_by_the_workers(worker: str, gap: float) -> None:
    with running(worker, "--threads", "4") as server:
        ready(server, 2)
        for _ in range(2):
            with connections(server, CONNECTIONS, gap) as socks:
                shares = split(served_by(socks))
            assert min(shares) >= FAIR, shares
            time.sleep(0.1)  # the closes reach the board


def test_a_killed_worker_holds_nobody_back(worker: str) -> None:
    # A worker killed with SIGKILL leaves its slot as it was (accepting, no connections): the
    # other worker must not wait for it, and its replacement takes a share.
    with running(worker, "--threads", "4") as server:
        ready(server, 2)
        victim = live_workers(server, 2)[0]
        os.kill(victim, signal.SIGKILL)
        with connections(server, CONNECTIONS) as socks:
            pids = served_by(socks)
        assert victim not in pids
        server.wait_count(r"Booting worker with pid: (\d+)", 3, timeout=20)
        ready(server, 2)
        with connections(server, CONNECTIONS) as socks:
            shares = split(served_by(socks))
        assert min(shares) >= FAIR, shares


def test_after_a_reload_the_new_workers_share_the_connections(worker: str) -> None:
    with running(worker, "--threads", "4") as server:
        ready(server, 2)
        old = set(live_workers(server, 2))
        server.signal(signal.SIGHUP)
        server.wait_count(r"Booting worker with pid: (\d+)", 4, timeout=20)
        deadline = time.monotonic() + 20
        while set(live_workers(server, 2)) & old and time.monotonic() < deadline:
            time.sleep(0.05)
        ready(server, 2)
        with connections(server, CONNECTIONS) as socks:
            pids = served_by(socks)
        assert not set(pids) & old
        assert min(split(pids)) >= FAIR


def test_connections_piled_on_one_worker_are_handed_back(worker: str) -> None:
    # One worker holds 16 kept-alive connections when a second boots (TTIN): it answers some of
    # their requests with "Connection: close", and their clients' new connections go to the new
    # worker, until the two hold a share each.
    with running(worker, "--threads", "4", "--keep-alive", "30", workers=1) as server:
        ready(server, 1)
        first = live_workers(server, 1)[0]
        with connections(server, CONNECTIONS) as socks:
            assert set(served_by(socks)) == {first}
            server.signal(signal.SIGTTIN)
            server.wait_count(r"Booting worker with pid: (\d+)", 2, timeout=20)
            live_workers(server, 2)
            time.sleep(0.5)  # the new worker's loop runs
            closed = 0
            shares = [CONNECTIONS, 0]
            for _round in range(300):  # bounded; ends once both hold a share
                pids = []
                for number, sock in enumerate(socks):
                    response = raw_exchange(sock, GET_PID, 1)[0]
                    if b"connection: close" in response.lower():
                        closed += 1
                        sock.close()
                        socks[number] = socket.create_connection(server.address, timeout=10)
                    else:
                        pids.append(int(body_of(response)))
                shares = split(pids)
                if len(pids) == CONNECTIONS and min(shares) >= FAIR:
                    break
        assert min(shares) >= FAIR, shares
        assert closed >= FAIR, closed
