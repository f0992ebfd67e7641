"""Benchmark of the lab core on a real engine: boot, restart and teardown of a two-host lab.

    ./run bench [--runs N] [--json FILE]

Each run goes through the same code path as a pytest session (engine connect,
sweep, image check, network, parallel boot until systemd reports running), with
the debian12 image already built (the first, untimed round builds it if needed).
Prints the median, min and max of each phase over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_dockerlab.docker_engine import DockerEngine
from pytest_dockerlab.images import ImageBuilder, catalogue
from pytest_dockerlab.lab import Lab
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.spec import load_lab_file

LAB = "hosts:\n  web: {image: debian12}\n  db: {image: debian12}\n"


def one_run(lab_file: Path, progress: Callable[[str], None]) -> dict[str, float]:
    t0 = time.perf_counter()
    engine = DockerEngine()
    spec = load_lab_file(lab_file)
    recipes = catalogue()
    tags = {"debian12": ImageBuilder(engine, progress).ensure(recipes["debian12"])}
    lab = Lab(spec, engine, recipes, SessionIdentity.create(), progress=progress)
    with lab:
        failures = lab.start(["web", "db"], tags)
        assert not failures, failures
        t_booted = time.perf_counter()
        restart = lab.restart("web")
        t_exec = time.perf_counter()
        for _ in range(20):
            lab.exec("web", "true")
        exec_each = (time.perf_counter() - t_exec) / 20
        t_down = time.perf_counter()
    t_end = time.perf_counter()
    engine.close()
    return {
        "start_to_2_hosts_booted_s": t_booted - t0,
        "restart_s": restart,
        "exec_s": exec_each,
        "teardown_s": t_end - t_down,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab_file = Path(tmp) / "dockerlab.yml"
        lab_file.write_text(LAB)
        one_run(lab_file, lambda line: print(line, file=sys.stderr))  # warm-up, builds images
        runs = [one_run(lab_file, lambda _: None) for _ in range(args.runs)]
    summary = {}
    print(f"{'phase':<28}{'median':>10}{'min':>10}{'max':>10}   ({args.runs} runs)")
    for key in runs[0]:
        values = [r[key] for r in runs]
        summary[key] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
        print(f"{key:<28}" + "".join(f"{summary[key][s]:>10.3f}" for s in ("median", "min", "max")))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
