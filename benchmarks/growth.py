"""How the cost of each input family grows with its size: the parsing-cost audit, as numbers.

For every family of ``benchmarks.input_families`` the input is built at k, 2k, 4k and 8k bytes of its
variable part (within the default limits) and processed fed whole and in two pieces. Each sample is
the best of ``--repeat`` runs (the least disturbed by other work); sizes are interleaved in every
round so both ends of a ratio saw the same machine.

Reported per family and feeding:
  * the growth exponent from k to 8k: log(t(8k) / t(k)) / log(8); 1.0 is linear, 2.0 quadratic
    (a per-request fixed cost makes it less than 1 for small inputs);
  * per-byte cost at 8k relative to a plain input of the same size (a GET whose field lines hold
    letters; for response and wsgi.input families, the plain variant named in the family).

Goals (issue 10): every exponent <= 1.3 and every per-byte ratio <= 25.

    python -m benchmarks.growth              # all families, 5 rounds
    python -m benchmarks.growth --output benchmarks/GROWTH.md   # also write the report there
    python -m benchmarks.growth --quick      # 2 rounds
    python -m benchmarks.growth --family value-inner-spaces --rounds 9
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from collections.abc import Sequence

from benchmarks._common import machine_lines
from benchmarks.input_families import FAMILIES, Family, family_input, runner

MAX_EXPONENT = 1.3
MAX_RATIO = 25.0


def _best_of(family: Family, k: int, *, split: bool, baseline: bool, repeat: int) -> float:
    data = family_input(family, k, baseline=baseline)
    run = runner(family, baseline=baseline)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run(data, split)
        best = min(best, time.perf_counter() - start)
    return best


def measure(family: Family, *, rounds: int, repeat: int) -> dict[str, float]:
    """The family's exponent and per-byte ratio, whole and split (medians over rounds)."""
    small, large = family.sizes
    sizes = [small, small * 2, small * 4, large]
    samples: dict[tuple[bool, int | str], list[float]] = {}
    for _ in range(rounds):
        for split in (False, True):
            for k in sizes:
                samples.setdefault((split, k), []).append(
                    _best_of(family, k, split=split, baseline=False, repeat=repeat))
            samples.setdefault((split, "plain"), []).append(
                _best_of(family, large, split=split, baseline=True, repeat=repeat))
    result: dict[str, float] = {}
    for split in (False, True):
        tag = "split" if split else "whole"

        def median(key: int | str, split: bool = split) -> float:
            values = sorted(samples[(split, key)])
            return values[len(values) // 2]

        result[f"{tag}_exponent"] = math.log(median(large) / median(small)) / math.log(large / small)
        result[f"{tag}_ratio"] = median(large) / median("plain")
        result[f"{tag}_ms"] = median(large) * 1000
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.growth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per family (default 5)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per sample; the best counts")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 runs")
    parser.add_argument("--family", action="append", choices=[f.name for f in FAMILIES],
                        help="only this family (repeatable)")
    parser.add_argument("--output", help="also write the report to this file (markdown)")
    args = parser.parse_args(argv)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    rounds, repeat = (2, 3) if args.quick else (args.rounds, args.repeat)
    families = [f for f in FAMILIES if not args.family or f.name in args.family]
    command = "python -m benchmarks.growth " + " ".join(argv if argv is not None else sys.argv[1:])
    say("# Input growth: the parsing-cost audit\n")
    say(f"Written by `{command.strip()}`; what each family stresses is in benchmarks/input_families.py.\n")
    for line in machine_lines():
        say(f"- {line}")
    say(f"- {rounds} rounds, best of {repeat} runs per sample; goals: exponent <= {MAX_EXPONENT}, "
        f"per-byte ratio to a plain input of the same size <= {MAX_RATIO}\n")
    say("| family | k .. 8k | whole: exponent | ratio | ms at 8k | split: exponent | ratio | ms at 8k |")
    say("|---|---|---|---|---|---|---|---|")
    failed = []
    gc.disable()  # a collection in one sample and not the other is noise, not growth
    try:
        for family in families:
            r = measure(family, rounds=rounds, repeat=repeat)
            worst_exp = max(r["whole_exponent"], r["split_exponent"])
            worst_ratio = max(r["whole_ratio"], r["split_ratio"])
            ok = worst_exp <= MAX_EXPONENT and worst_ratio <= MAX_RATIO
            if not ok:
                failed.append(family.name)
            small, large = family.sizes
            say(f"| {family.name}{'' if ok else ' **FAIL**'} | {small}..{large} "
                f"| {r['whole_exponent']:.2f} | {r['whole_ratio']:.1f} | {r['whole_ms']:.2f} "
                f"| {r['split_exponent']:.2f} | {r['split_ratio']:.1f} | {r['split_ms']:.2f} |")
            gc.collect()
    finally:
        gc.enable()
    say(f"\n{len(families) - len(failed)} of {len(families)} families meet both goals"
        + (f"; failing: {', '.join(failed)}" if failed else ""))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as report:
            report.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
