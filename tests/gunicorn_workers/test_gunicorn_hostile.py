"""The hostile-request table and the shared corpus through real gunicorn processes: the same
verdicts as every other driver (graded by the hardening suite's own graders)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardening._util import grade_corpus, grade_hostile, load_corpus, parse_responses, random_splits, send_raw
from hardening.hostile_table import HOSTILE_CASES, VALID_FOLLOW_UP, HostileCase

from .gunicorn_support import Gunicorn
from .names import WORKERS

# The table's limits are the core's defaults; gunicorn's own defaults are smaller, so set ours, as
# gunicorn counts them: a field line with its CRLF (8192 + 2). Its request line limit stops at 8190.
LIMITS = ("--limit-request-line", "8190", "--limit-request-field_size", "8194",
          "--limit-request-fields", "100")
# Cases that need other Config values (max_body_bytes, a smaller head limit...) have no gunicorn
# option, or one the serving tests cover: they run under the other drivers only. So does the
# request line of exactly 8192 bytes, which gunicorn's largest limit refuses.
CASES = [case for case in HOSTILE_CASES if not case.config and case.name != "request_line_at_limit"]
CORPUS = load_corpus()


class FileRecord:
    """The hardening RecordingApp's view (``calls``, ``entered``, ``served``) of the requests the
    gunicorn workers' ``record_app`` appended to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def reset(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def _events(self, kind: str) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            items = [json.loads(line) for line in file.read().splitlines()]
        records = []
        for item in items:
            if item["event"] == kind:
                record = item["record"]
                if "body_hex" in record:
                    record["body"] = bytes.fromhex(record.pop("body_hex"))
                records.append(record)
        return records

    @property
    def entered(self) -> list[dict[str, Any]]:
        return self._events("enter")

    @property
    def calls(self) -> int:
        return len(self.entered)

    @property
    def served(self) -> list[dict[str, Any]]:
        return self._events("served")


@pytest.fixture(scope="module", params=WORKERS)
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[tuple[str, int], FileRecord]]:
    record = tmp_path_factory.mktemp("record") / "requests.jsonl"
    server = Gunicorn(str(request.param), *LIMITS, app="gunicorn_app:record_app",
                      env={"WSGICORE_RECORD": str(record)})
    with server:
        yield server.address, FileRecord(record)


def _follow_up_problems(address: tuple[str, int]) -> list[str]:
    result = send_raw(address, [VALID_FOLLOW_UP], half_close=False)
    finals = [r for r in parse_responses(result.data).responses if r.status >= 200]
    if len(finals) != 1 or finals[0].status != 200 or finals[0].body != b"ok /f":
        return [f"follow-up request not served: {result}"]
    return []


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request(served: tuple[tuple[str, int], FileRecord], case: HostileCase) -> None:
    address, record = served
    modes: list[tuple[str, list[bytes]]] = [("whole", [case.raw])]
    if len(case.raw) <= 4096:
        modes.append(("split", random_splits(case.raw, random.Random(case.name))))
    for mode, pieces in modes:
        record.reset()
        result = send_raw(address, pieces, pause=0.001 if len(pieces) > 1 else 0.0)
        problems = grade_hostile(case, result.data, record)  # type: ignore[arg-type]
        if result.timed_out:
            problems.append("the server neither answered nor closed within the time limit")
        assert not problems, f"{case.name} sent {mode}: {problems}\n{result}"
    assert not _follow_up_problems(address)


@pytest.mark.skipif(not CORPUS, reason="shared corpus not found (../shared/corpus/requests)")
@pytest.mark.parametrize("entry", CORPUS, ids=[f"{e['kind']}/{e['name']}" for e in CORPUS])
def test_corpus_entry(served: tuple[tuple[str, int], FileRecord], entry: dict[str, Any]) -> None:
    address, record = served
    raw: bytes = entry["raw"]
    rng = random.Random(entry["name"])
    modes: list[tuple[str, list[bytes]]] = [("whole", [raw])]
    modes += [(f"split{i}", random_splits(raw, rng)) for i in range(3)]
    modes.append(("bytewise", [raw[i : i + 1] for i in range(len(raw))]))
    for mode, pieces in modes:
        record.reset()
        result = send_raw(address, pieces, timeout=10.0)
        problems = grade_corpus(entry, result.data, record, buffered=True)  # type: ignore[arg-type]
        if result.timed_out:
            problems.append("the server neither answered nor closed within the time limit")
        assert not problems, f"{entry['name']} sent {mode}: {problems}\n{result}"
