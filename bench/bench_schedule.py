"""The scheduling model: how long a run of labs takes on 1 to 16 engines, longest first.

    ./run bench schedule [--junit FILE] [--durations FILE] [--json FILE]

No machine here shows a real multi-machine speed-up (engines on one machine share its
cores), so this simulates list scheduling (each lab, longest first, to the worker that
frees first) over recorded lab durations: a run's own (a durations file the plugin
recorded, or a JUnit XML whose test cases are taken as labs, as the integration suite's
tests each run a lab of their own) and a synthetic 200-lab matrix (20 roles x 5 images x
2 scenarios, lengths log-normal around 30 s). Each row: the makespan against the ideal
(all the work spread evenly) and the longest lab; the ratio to the larger of the two must
stay within 1.15, or the script exits 1.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from xml.etree import ElementTree

from pytest_dockerlab.scheduling import read_durations, simulate

ENGINES = (1, 2, 4, 8, 16)
LIMIT = 1.15


def from_junit(path: Path) -> list[float]:
    """Each integration test case's seconds: a lab each (the unit and plugin tiers run none)."""
    cases = ElementTree.parse(path).getroot().iter("testcase")
    return [float(case.get("time", 0) or 0) for case in cases
            if "integration" in case.get("classname", "")]  # fmt: skip


def synthetic(count: int = 200, seed: int = 19) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(3.4, 0.5) for _ in range(count)]


def table(name: str, durations: list[float]) -> list[dict[str, float | int | str]]:
    rows: list[dict[str, float | int | str]] = []
    print(f"\n{name}: {len(durations)} labs, {sum(durations):.0f} s of work, "
          f"longest {max(durations):.1f} s")  # fmt: skip
    print(f"{'engines':>8} {'makespan s':>11} {'ideal s':>9} {'longest s':>10} {'ratio':>6}")
    for engines in ENGINES:
        found = simulate(durations, engines)
        print(f"{engines:>8} {found.makespan:>11.1f} {found.ideal:>9.1f} {found.longest:>10.1f} "
              f"{found.ratio:>6.3f}")  # fmt: skip
        figures = {"makespan": found.makespan, "ideal": found.ideal, "longest": found.longest}
        rows.append({"set": name, "engines": engines, **figures, "ratio": found.ratio})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, help="a JUnit XML whose test cases are labs")
    parser.add_argument("--durations", type=Path, help="a durations file the plugin recorded")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    sets = {"synthetic 200-lab matrix": synthetic()}
    if args.junit and args.junit.is_file():
        sets = {f"the suite's own ({args.junit.name})": from_junit(args.junit), **sets}
    if args.durations:
        recorded = list(read_durations(args.durations).values())
        if recorded:
            sets = {f"recorded ({args.durations.name})": recorded, **sets}
    rows = [row for name, durations in sets.items() if durations for row in table(name, durations)]
    worst = max(float(row["ratio"]) for row in rows)
    print(f"\nworst ratio to max(ideal, longest lab): {worst:.3f} (limit {LIMIT})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
