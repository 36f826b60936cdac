"""The load board (``_board``) in-process: slots handed out and reused, the decline rule, the hand-back
rule, liveness (stale or gone siblings never hold others back), and a board shared across a fork."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

from wsgidrivers.gunicorn._board import HAND_BACK_SLACK, SLOTS, LoadBoard, share


class Holder:
    """A worker object as the master sees it: ``pid`` is set by the arbiter after the fork."""

    def __init__(self, pid: Any = "[booting]") -> None:
        self.pid = pid


def _gone_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    return proc.pid


def _board_of(*opens: int, live_for: float = 60.0) -> tuple[LoadBoard, list[Any]]:
    """A board with one seat per value, each accepting and holding that many connections; the
    seats' pids are this process's parent and ours (alive), then made-up ones."""
    board = LoadBoard(8)
    seats = []
    for number, count in enumerate(opens):
        index = board.reserve(Holder())
        assert index == number
        seat = board.seat(index, 1000 + number, live_for)
        seat.publish(count)
        seat.set_accepting(True)
        seats.append(seat)
    return board, seats


def test_slots_are_distinct_and_a_gone_holders_slot_is_reused() -> None:
    board = LoadBoard(3)
    first, second = Holder(), Holder()
    assert (board.reserve(first), board.reserve(second)) == (0, 1)
    # The first worker's process is gone (killed and reaped): its slot goes to the next worker,
    # cleared, before a new slot is used.
    first.pid = _gone_pid()
    seat = board.seat(0, first.pid, 60.0)
    seat.publish(7)
    seat.set_accepting(True)
    third = Holder()
    assert board.reserve(third) == 0
    assert list(board.cells[8:16]) == [0] * 8
    # Live holders (and one still being forked) keep theirs; when all are held there is none.
    second.pid = os.getpid()
    third.pid = os.getppid()
    assert board.reserve(Holder()) == 2
    assert board.reserve(Holder()) is None


def test_the_default_board_fits_a_reload_of_many_workers() -> None:
    # Old and new workers overlap during a HUP: twice -w, and then some.
    assert SLOTS >= 64


def test_a_worker_declines_only_for_a_live_accepting_sibling_with_fewer() -> None:
    _board, (a, b) = _board_of(5, 3)
    assert a.over_share(5)
    assert a.favoured == 1001
    assert not b.over_share(3)
    assert not a.over_share(3)  # equal: both accept
    b.set_accepting(False)  # full, paused, stopping or retiring: no reason to decline
    assert not a.over_share(5)


def test_alone_a_worker_never_declines() -> None:
    board = LoadBoard(4)
    seat = board.seat(board.reserve(Holder()) or 0, 1000, 60.0)
    seat.set_accepting(True)
    assert not seat.over_share(1000)
    assert not seat.hand_back_due(1000)


def test_a_stale_sibling_is_ignored() -> None:
    # Its heartbeat stopped (stuck, or killed without a trace): it drops out after its live time.
    _board, (a, _b) = _board_of(5, 0, live_for=0.05)
    a.renew()
    assert a.over_share(5)
    time.sleep(0.1)
    assert not a.over_share(5)


def test_a_sibling_whose_process_is_gone_is_struck_off() -> None:
    board = LoadBoard(4)
    mine = board.seat(board.reserve(Holder()) or 0, os.getpid(), 60.0)
    dead = board.seat(board.reserve(Holder()) or 0, _gone_pid(), 60.0)
    dead.set_accepting(True)  # its last state: accepting, no connections
    mine.set_accepting(True)
    assert mine.over_share(3)
    mine.check_favoured()
    assert not mine.over_share(3)


def test_a_slot_left_does_not_count() -> None:
    _board, (a, b) = _board_of(5, 0)
    b.leave()
    assert not a.over_share(5)


def test_the_least_loaded_of_several_is_favoured() -> None:
    _board, (a, _b, _c) = _board_of(6, 4, 2)
    assert a.over_share(6)
    assert a.favoured == 1002


@pytest.mark.parametrize(("mine", "theirs", "due"), [
    (16, [0], True), (12, [4], True), (10, [6], True), (9, [7], False), (8, [8], False),
    (8, [0], True), (2, [0], False), (16, [16, 0], True), (11, [11, 10], False), (20, [12, 0], True),
    (30, [34], False),
])
def test_hand_back_only_above_the_share(mine: int, theirs: list[int], due: bool) -> None:
    _board, (seat, *_others) = _board_of(mine, *theirs)
    assert seat.hand_back_due(mine) is due
    total, workers = mine + sum(theirs), len(theirs) + 1
    if due:
        assert mine > share(total, workers) + HAND_BACK_SLACK


def test_the_board_is_shared_with_processes_forked_after_it() -> None:
    board = LoadBoard(4)
    index = board.reserve(Holder())
    mine = board.seat(board.reserve(Holder()) or 0, os.getpid(), 60.0)
    mine.set_accepting(True)
    pid = os.fork()
    if pid == 0:  # the "worker" takes its seat, accepts and holds 9 connections, then exits
        try:
            seat = board.seat(index or 0, os.getpid(), 60.0)
            seat.publish(9)
            seat.set_accepting(True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    # Its writes are seen here; it left no trace of its exit (as after a SIGKILL) ...
    assert mine.over_share(10)
    assert mine.favoured == pid
    assert not mine.over_share(9)
    # ... until the process is found gone.
    mine.check_favoured()
    assert not mine.over_share(10)


def _worker(**settings: Any) -> Any:
    from gunicorn.config import Config as GunicornConfig
    from gunicorn.glogging import Logger

    from wsgidrivers.gunicorn import ThreadWorker

    cfg = GunicornConfig()
    for name, value in settings.items():
        cfg.set(name, value)
    return ThreadWorker(1, os.getpid(), [], None, 30, cfg, Logger(cfg))


def test_a_worker_takes_its_seat_only_where_workers_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsgidrivers.gunicorn import _base

    worker = _worker()
    assert worker.board_slot is not None
    monkeypatch.setattr(_base, "_cpus", lambda: 2)
    worker.prepare()
    assert worker.seat is not None
    worker.seat.leave()
    # One CPU: the workers cannot run at once, so spreading connections gains nothing and costs
    # each worker its cache: no seat, no declines, no hand-backs.
    monkeypatch.setattr(_base, "_cpus", lambda: 1)
    worker.seat = None
    worker.prepare()
    assert worker.seat is None
    assert not worker.hand_back_due(100, True)


def test_no_board_with_a_socket_per_worker() -> None:
    # gunicorn 27's --reuse-port gives each worker its own socket: a declined connection would
    # wait in that worker's own queue, out of its siblings' reach.
    assert _worker(reuse_port=True).board_slot is None


def test_a_worker_past_the_boards_slots_serves_without_it(monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from wsgidrivers.gunicorn._base import CoreWorker

    monkeypatch.setattr(CoreWorker, "_board", LoadBoard(1))
    first = _worker()
    first.pid = os.getpid()  # alive: its slot stays held
    second = _worker()
    assert (first.board_slot, second.board_slot) == (0, None)
    assert "without the load board" in caplog.text


def test_a_declining_worker_looks_less_often_while_nothing_changes() -> None:
    from wsgidrivers.gunicorn._board import RECHECK, RECHECK_IDLE

    _board, (a, b) = _board_of(9, 7)
    assert a.over_share(9)
    assert a.next_look(fresh=True) == RECHECK
    looks = []
    for _ in range(8):
        assert a.over_share(9)
        looks.append(a.next_look(fresh=False))
    assert looks[0] == 2 * RECHECK
    assert looks == sorted(looks)
    assert looks[-1] == RECHECK_IDLE  # a keep-alive load that stays as it landed: few wake-ups
    b.publish(8)  # the board changed: back to looking soon
    assert a.over_share(9)
    assert a.next_look(fresh=False) == RECHECK
