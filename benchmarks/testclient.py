"""Test clients side by side: the cost of one simple GET to the same Flask app, in one process.

Contenders (each one's response is checked once before timing: a 200 with the app's body):

* ``wsgidrivers.testing.Client``: builds the request bytes, feeds them through the real core
  (``MemoryConnection``, keep-alive: one connection for all requests, as a browser), parses the
  response bytes strictly, keeps the cookie jar.
* ``Client (new connection)``: the same, with the connection closed after every request.
* ``Flask test client`` (``app.test_client()``, werkzeug's ``Client``): builds the environ
  directly, no HTTP bytes.
* ``WebTest`` (``webtest.TestApp``): builds the environ with WebOb, checks the app with its lint
  middleware.

The goal (issue 13): ours at most 1.2x Flask's test client per GET. Rounds are interleaved (every
contender runs one batch per round, in a rotating order) and the ratios are paired round by round,
so both sides of a ratio saw the same machine noise.

    python -m benchmarks.testclient              # 15 rounds x 1000 GETs
    python -m benchmarks.testclient --quick      # 5 rounds x 300 GETs
    python -m benchmarks.testclient --profile    # cProfile of our client's GET, top entries
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks._common import Summary, fmt, machine_lines, paired_ratios, print_profile

BODY = b"Hello, world!"
GOAL = 1.2  # ours / Flask's test client, per GET (issue 13)


def make_app() -> Any:
    import flask

    app = flask.Flask("bench")

    @app.get("/")
    def hello() -> Any:
        return BODY.decode()

    return app


def make_contenders(app: Any) -> tuple[dict[str, Callable[[], Any]], list[str]]:
    from wsgidrivers.testing import Client

    kept = Client(app)
    fresh = Client(app)

    def ours_new_connection() -> Any:
        response = fresh.get("/")
        fresh.close()
        return response

    contenders: dict[str, Callable[[], Any]] = {
        "wsgidrivers.testing.Client": lambda: kept.get("/"),
        "Client (new connection)": ours_new_connection,
        "Flask test client": lambda: flask_client.get("/"),
    }
    flask_client = app.test_client()
    skipped: list[str] = []
    try:
        import webtest
    except ImportError:
        skipped.append("WebTest: not installed (pip install webtest)")
    else:
        webtest_app = webtest.TestApp(app)
        contenders["WebTest"] = lambda: webtest_app.get("/")
    return contenders, skipped


def _body(response: Any) -> bytes:
    for name in ("content", "data", "body"):
        value = getattr(response, name, None)
        if isinstance(value, bytes):
            return value
    raise TypeError(f"no body on {response!r}")


def check(contenders: dict[str, Callable[[], Any]]) -> None:
    for name, get in contenders.items():
        response = get()
        status = getattr(response, "status_code", None) or getattr(response, "status_int", None)
        if status != 200 or _body(response) != BODY:
            raise SystemExit(f"{name}: unexpected response {status} {_body(response)[:60]!r}")


def measure(contenders: dict[str, Callable[[], Any]], rounds: int,
            iterations: int) -> dict[str, list[float]]:
    """Seconds per GET, one sample per contender per round."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_no in range(rounds):
        order = names[round_no % len(names):] + names[:round_no % len(names)]
        for name in order:
            get = contenders[name]
            for _ in range(iterations // 10):  # warm
                get()
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            for _ in range(iterations):
                get()
            samples[name].append((time.perf_counter() - start) / iterations)
            gc.enable()
    return samples


def report(samples: dict[str, list[float]]) -> list[str]:
    flask = samples["Flask test client"]
    lines = ["", "| client | µs per GET (median) | min | max | ratio to Flask's test client "
             "(median of paired) |", "|---|---|---|---|---|"]
    for name, values in samples.items():
        s = Summary.of([v * 1e6 for v in values])
        ratio = Summary.of(paired_ratios(values, flask))
        lines.append(f"| {name} | {fmt(s.median)} | {fmt(s.minimum)} | {fmt(s.maximum)} | "
                     f"{fmt(ratio.median, 2)} (min {fmt(ratio.minimum, 2)}, max {fmt(ratio.maximum, 2)}) |")
    ours = Summary.of(paired_ratios(samples["wsgidrivers.testing.Client"], flask)).median
    verdict = "met" if ours <= GOAL else "NOT met"
    lines += ["", f"goal: Client <= {GOAL}x Flask's test client per GET: {fmt(ours, 2)}x, {verdict}"]
    return lines


def profile(contenders: dict[str, Callable[[], Any]], iterations: int, top: int) -> int:
    get = contenders["wsgidrivers.testing.Client"]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        get()
    profiler.disable()
    print_profile(pstats.Stats(profiler), top)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.testclient", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--iterations", type=int, default=1000, help="GETs per batch (default 1000)")
    parser.add_argument("--quick", action="store_true", help="5 rounds x 300 GETs")
    parser.add_argument("--profile", action="store_true", help="profile our client instead")
    parser.add_argument("--top", type=int, default=25, help="profile entries shown (default 25)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.rounds, args.iterations = 5, 300
    try:
        app = make_app()
    except ImportError:
        print("Flask is not installed (pip install flask): nothing to compare with")
        return 1
    contenders, skipped = make_contenders(app)
    check(contenders)
    if args.profile:
        return profile(contenders, args.iterations * 5, args.top)
    samples = measure(contenders, args.rounds, args.iterations)
    for line in machine_lines():
        print(line)
    shown = sys.argv[1:] if argv is None else list(argv)
    print("command: python -m benchmarks.testclient " + " ".join(shown))
    for message in skipped:
        print(message)
    for line in report(samples):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
