"""Coverage-guided fuzzing of wsgicore with atheris (libFuzzer). Optional, not part of CI.

Invariant: whatever the bytes, the core raises nothing but its own ``RemoteProtocolError`` (from
``next_event``) — never another exception, never a hang (a bounded event loop, plus libFuzzer's
``-timeout``), never output that does not parse as HTTP responses; the app side (``run_app`` with
fuzzed ``start_response`` arguments) never raises at all.

With ``WSGICORE_FUZZ_FINDINGS=DIR`` the harness keeps going after an invariant violation: it writes
one reproducer per distinct failure (exception type + first line of its message, digits masked) to
``DIR`` and continues, so a 10-minute run reports every kind of finding, not just the first one.
(libFuzzer's ``-fork`` mode does not work with atheris.)

The first input byte picks a mode: 0 raw bytes whole, 1 raw bytes split at fuzzer-chosen points,
2 a chunked body behind a fixed valid head, 3 fuzzed ``start_response`` arguments and body chunks.

Usage (from the repository root; see tests/fuzz/README.md):

    pip install atheris
    python tests/fuzz/atheris_harness.py --make-seeds /tmp/wsgicore-seeds
    python tests/fuzz/atheris_harness.py /tmp/wsgicore-corpus /tmp/wsgicore-seeds \
        -max_total_time=600 -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(_ROOT / "src"), str(_ROOT / "tests"), str(_ROOT)]

MAX_EVENTS = 100_000
CHUNKED_HEAD = b"POST /f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def _seeds() -> list[bytes]:
    from hardening._util import load_corpus
    from hardening.hostile_table import HOSTILE_CASES

    raws = [c.raw for c in HOSTILE_CASES] + [e["raw"] for e in load_corpus()]
    seeds = [b"\x00" + r for r in raws if len(r) < 8000]
    seeds += [b"\x01" + r for r in raws if len(r) < 2000]
    seeds += [b"\x02" + r[len(CHUNKED_HEAD):] for r in raws if r.startswith(CHUNKED_HEAD)]
    seeds += [b"\x03\x05200 OK\x02X-A\x01b\x05hello", b"\x03\x03204\x00\x01x"]
    return seeds


def make_seeds(directory: str) -> None:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(_seeds()):
        (path / f"seed-{i:04d}").write_bytes(seed)
    print(f"wrote {len(_seeds())} seeds to {path}")


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["wsgicore", "h11"]):
        import wsgicore
    from hardening._util import RecordingApp, drive_in_memory, parse_responses

    config = wsgicore.Config(clock=None, max_body_bytes=1 << 20)

    def drive(pieces: list[bytes], app: Any) -> bytes:
        return drive_in_memory(pieces, app, config, MAX_EVENTS)

    def check(out: bytes, app: Any) -> None:
        parsed = parse_responses(out, [r.get("REQUEST_METHOD", "GET") for r in app.entered])
        if parsed.error is not None or parsed.rest:
            raise RuntimeError(f"unparseable output {parsed.error}: {out[:200]!r}")

    def app_mode(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        status: Any = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24))
        if fdp.ConsumeBool():
            status = fdp.PickValueInList(["200 OK", "204 No Content", "304 X", "404 N", "500 E"])
        headers = [(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 16)),
                    fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24)))
                   for _ in range(fdp.ConsumeIntInRange(0, 4))]
        body: list[Any] = [fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 32))
                           for _ in range(fdp.ConsumeIntInRange(0, 3))]
        if fdp.ConsumeBool():
            body.append(fdp.ConsumeUnicodeNoSurrogates(4))
        method = fdp.PickValueInList(["GET", "HEAD"])

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            start_response(status, headers)
            return body

        request = f"{method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        out = drive([request], app)
        parsed = parse_responses(out, [method])
        if parsed.error is not None or not parsed.responses:
            raise RuntimeError(f"unparseable output {parsed.error}: {out[:200]!r}")

    def test_one_input(data: bytes) -> None:
        if not data:
            return
        mode, rest = data[0] % 4, data[1:]
        app = RecordingApp()
        if mode == 0:
            check(drive([rest], app), app)
        elif mode == 1:
            cuts = sorted({b * len(rest) // 256 for b in rest[:6]})
            bounds = [0, *cuts, len(rest)]
            check(drive([rest[a:b] for a, b in itertools.pairwise(bounds)], app), app)
        elif mode == 2:
            check(drive([CHUNKED_HEAD, rest], app), app)
        else:
            app_mode(rest)

    findings = os.environ.get("WSGICORE_FUZZ_FINDINGS")
    seen: set[str] = set()

    def keep_going(data: bytes) -> None:
        try:
            test_one_input(data)
        except Exception as exc:
            first = (str(exc).splitlines() or [""])[0]
            kind = f"{type(exc).__name__}: " + re.sub(r"[0-9]+", "N", first)[:120]
            if kind in seen:
                return
            seen.add(kind)
            digest = hashlib.sha1(kind.encode()).hexdigest()[:12]
            base = Path(findings or ".") / f"finding-{digest}"
            base.with_suffix(".bin").write_bytes(data)
            base.with_suffix(".txt").write_text(kind + "\n\n" + traceback.format_exc())
            print(f"FINDING {digest}: {kind}", flush=True)

    atheris.Setup(sys.argv, keep_going if findings else test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--make-seeds":
        make_seeds(sys.argv[2])
    else:
        main()
