"""The load board: which of the workers of one gunicorn master should take the next connection.

Processes that share a listening socket share one accept queue, and nothing in the kernel balances
them (benchmarks/BALANCE.md has the measurements): a burst of connections (wrk, or a proxy filling its
keep-alive pool) is drained by whichever worker runs first, and ``EPOLLEXCLUSIVE`` wakes the first
*registered* waiter, so spaced connections all go to the worker that booted first. Keep-alive
connections then stay where they landed, and one worker serves while the other idles. A rule on
requests in flight cannot split a connect burst (no request has come yet when the connections do);
``SO_REUSEPORT`` spreads only by a hash, and drops the queue of a socket that closes.

So the workers publish their open connections on a board and admit by *least open connections*:

- **Decline.** A worker that holds more open connections than a live sibling that accepts stops
  polling the listeners (``over_share``): the next connections wake the sibling. It looks again
  after :data:`RECHECK` seconds (up to :data:`RECHECK_IDLE` while the board stays as it was), and
  still counts as a
  worker that accepts, so a sibling that gets above it leaves the next connections to it: in a
  burst the two take turns. The connection a worker was woken for is taken whatever the board
  says (an exclusive wake-up is told to nobody else); within one wake-up's accept burst the board
  is read before each further accept, so two workers woken by one burst share it.
- **Never strand.** A declining worker that finds connections that nobody has taken for
  :data:`RESCUE_AFTER` seconds (the sibling is gone, stopped or starved) takes one itself at each look,
  and a sibling whose process is gone is struck off (``kill(pid, 0)``).
- **Hand back.** A worker holding more than its share of the open connections (:func:`share`) by
  more than :data:`HAND_BACK_SLACK` answers one kept-alive request at a time with
  ``Connection: close`` (RFC 9112 §9.6): the client reconnects, and the decline rule sends the new
  connection to a sibling with fewer. This repairs what admission cannot: connections opened while
  a sibling was down or booting (a ``--max-requests`` restart, a HUP).

The board is an anonymous shared mapping (``MAP_SHARED``) made in the master by the first worker
object (workers are constructed in the master, before their fork) and inherited by every worker the
master forks afterwards, across HUPs too. One cache line per worker slot, 64-bit cells: a header
line (cell 0: how many slots have been handed out), then per slot its pid, the monotonic time
(``CLOCK_MONOTONIC`` is system-wide on Linux) until which it counts as live, its open connections and
whether it accepts. The master picks each new worker's slot among those whose last holder's process
is gone, and clears it; from the fork on, the worker alone writes its slot. Readers take values as
they find them: every decision is a heuristic taken again within milliseconds, so a stale value
costs balance for a moment, never correctness. A worker's slot counts only while it is fresh
(renewed with the heartbeat, so a stuck worker drops out) and accepting (a full, paused, stopping
or retiring worker is no reason to decline).
"""

from __future__ import annotations

import mmap
import os
import time
from typing import Any, Final

__all__ = ["HAND_BACK_INTERVAL", "HAND_BACK_SLACK", "LIVE_BEATS", "RECHECK", "RECHECK_IDLE",
           "RESCUE_AFTER", "SLOTS", "BoardSeat", "LoadBoard", "share"]

#: Worker slots on one board: workers at once (old and new overlap during a HUP); a worker that finds
#: none free serves without the board.
SLOTS: Final = 64
#: Seconds between two looks of a declining worker at the board while it changes. Short: when the
#: sibling it declined for has got above it and declines in turn, nobody accepts until one of them
#: looks again, and with a connection per request the clients' next requests wait meanwhile.
RECHECK: Final = 0.001
#: Seconds connections may wait, with nobody taking them, before a declining worker takes one
#: itself at each look (the sibling is gone, stopped or starved).
RESCUE_AFTER: Final = 0.005
#: Seconds between two looks at most, for a worker that has declined for a while and found the board
#: as it was at each look (a keep-alive load that stays as it landed, 9 connections here and 7
#: there): each look costs a wake-up, and nothing it could decide on has changed. It looks every
#: RECHECK again as soon as anything has.
RECHECK_IDLE: Final = 0.05
#: A slot is live for this many heartbeat intervals after its worker's last heartbeat.
LIVE_BEATS: Final = 3
#: Seconds between two looks at the board for a hand-back (at a request's start): the look is no
#: cost of every request, and a hand-back's connection has time to close before the next look.
HAND_BACK_INTERVAL: Final = 0.01
#: Open connections a worker may hold above its share before it hands one back: one, so that an
#: odd count or a connection on its way (closed here, not yet reopened there) does not swing
#: connections back and forth.
HAND_BACK_SLACK: Final = 1

_CELLS: Final = 8  # 64-bit cells per line: one cache line, so workers do not share lines
_PID, _LIVE_UNTIL, _OPEN, _ACCEPTING = range(4)
_USED: Final = 0  # header cell: slots handed out so far (the readers' scan stops there)


def _alive(pid: Any) -> bool:
    """Whether process ``pid`` exists (a pid that is not an int yet: a worker being forked)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def share(total: int, workers: int) -> int:
    """Each worker's share of ``total`` open connections over ``workers``: rounded up."""
    return -(-total // workers)


class LoadBoard:
    """The shared mapping (see the module's docstring); :meth:`reserve` runs in the master."""

    def __init__(self, slots: int = SLOTS) -> None:
        if not 1 <= slots <= 4096:
            raise ValueError(f"slots must be in 1..4096, not {slots!r}")
        self.slots = slots
        # mmap(-1, ...) is MAP_SHARED | MAP_ANONYMOUS: the children forked later share the pages.
        self._map = mmap.mmap(-1, (slots + 1) * _CELLS * 8)
        self.cells = memoryview(self._map).cast("q")
        #: Master only: the worker object each slot was last given to (its ``pid`` is set by the
        #: arbiter after the fork).
        self._holders: dict[int, Any] = {}

    def reserve(self, holder: Any) -> int | None:
        """Master, before ``holder`` (a worker object) is forked: a slot for it, cleared; None when
        all are held by live workers."""
        for index in range(self.slots):
            previous = self._holders.get(index)
            if previous is not None and _alive(getattr(previous, "pid", None)):
                continue
            self._holders[index] = holder
            base = (index + 1) * _CELLS
            for cell in range(base, base + _CELLS):
                self.cells[cell] = 0
            self.cells[_USED] = max(self.cells[_USED], index + 1)
            return index
        return None

    def seat(self, index: int, pid: int, live_for: float) -> BoardSeat:
        """In the worker, after the fork: its view of the board at slot ``index``."""
        return BoardSeat(self.cells, index, pid, live_for)


class BoardSeat:
    """One worker's place on the board: it writes its own slot and reads the others'."""

    def __init__(self, cells: memoryview, index: int, pid: int, live_for: float) -> None:
        self.cells = cells
        self.base = (index + 1) * _CELLS
        self.pid = pid
        self._live_ns = int(live_for * 1e9)
        #: Pids found gone (their slots are skipped until the master gives them to a new worker).
        self._gone: set[int] = set()
        #: The pid of the sibling the last decline was in favour of (checked while declining).
        self.favoured = 0
        #: What the last over_share() saw: this worker's count and the fewest a sibling held.
        self.view: tuple[int, int] = (0, 0)
        self._seen = self.view
        self._look = RECHECK
        self._open_cell = self.base + _OPEN
        cells[self.base + _OPEN] = 0
        cells[self.base + _ACCEPTING] = 0
        cells[self.base + _LIVE_UNTIL] = time.monotonic_ns() + self._live_ns
        cells[self.base + _PID] = pid

    # -- this worker's slot ---------------------------------------------------------------------

    def publish(self, open_connections: int) -> None:
        """This worker's open connections now (any thread: one store)."""
        self.cells[self._open_cell] = open_connections

    def set_accepting(self, accepting: bool) -> None:
        """Whether this worker takes connections: it polls the listeners, or declines for now (not:
        full, paused, stopping, retiring). Siblings decline only in favour of such workers."""
        self.cells[self.base + _ACCEPTING] = 1 if accepting else 0

    def renew(self) -> None:
        """The heartbeat: this slot counts as live for a while longer."""
        self.cells[self.base + _LIVE_UNTIL] = time.monotonic_ns() + self._live_ns

    def leave(self) -> None:
        """The worker exits: its slot no longer counts (the master gives it to a new worker)."""
        base = self.base
        self.cells[base + _ACCEPTING] = 0
        self.cells[base + _LIVE_UNTIL] = 0
        self.cells[base + _PID] = 0

    # -- the siblings -----------------------------------------------------------------------------

    def _siblings(self) -> list[tuple[int, int]]:
        """(pid, open connections) of every live, accepting sibling."""
        cells = self.cells
        found: list[tuple[int, int]] = []
        now = 0
        for base in range(_CELLS, (cells[_USED] + 1) * _CELLS, _CELLS):
            if base == self.base or not cells[base + _ACCEPTING]:
                continue
            pid = cells[base + _PID]
            if pid <= 0 or pid in self._gone:
                continue
            if not now:
                now = time.monotonic_ns()
            if cells[base + _LIVE_UNTIL] > now:
                found.append((pid, cells[base + _OPEN]))
        return found

    def over_share(self, mine: int) -> bool:
        """Whether a live, accepting sibling holds fewer open connections than ``mine`` (then this
        worker should leave the next connection to it). Cheap when alone: one read."""
        cells = self.cells
        if cells[_USED] <= 1:
            return False
        fewest = None
        for pid, theirs in self._siblings():
            if theirs < mine and (fewest is None or theirs < fewest[1]):
                fewest = (pid, theirs)
        if fewest is None:
            return False
        self.favoured = fewest[0]
        self.view = (mine, fewest[1])
        return True

    def next_look(self, fresh: bool) -> float:
        """Seconds until a declining worker's next look at the board: RECHECK when its decline is
        ``fresh`` or the board changed since the last look, then twice as long at each look that
        finds it as it was, up to RECHECK_IDLE."""
        view = self.view
        if fresh or view != self._seen:
            self._look = RECHECK
        else:
            self._look = min(self._look * 2, RECHECK_IDLE)
        self._seen = view
        return self._look

    def check_favoured(self) -> None:
        """While declining: strike off the favoured sibling if its process is gone (a worker killed
        with SIGKILL leaves its slot as it was)."""
        pid = self.favoured
        if pid and not _alive(pid):
            self._gone.add(pid)
            self.favoured = 0

    def hand_back_due(self, mine: int) -> bool:
        """Whether this worker, holding ``mine`` open connections, holds more than its share by more
        than :data:`HAND_BACK_SLACK` while a live, accepting sibling holds less than the share."""
        if self.cells[_USED] <= 1:
            return False
        siblings = self._siblings()
        if not siblings:
            return False
        total = mine + sum(theirs for _, theirs in siblings)
        target = share(total, len(siblings) + 1)
        return mine > target + HAND_BACK_SLACK and min(theirs for _, theirs in siblings) < target
