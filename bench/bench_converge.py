"""Benchmark of the example lab (nginx + PostgreSQL): converge, idempotence, whole sessions.

    ./run bench converge [--runs N] [--sessions N] [--cold N] [--json FILE]

- converge / idempotence: fresh hosts, the example's site.yml through the plugin's Ansible
  boundary, then the idempotence pass (with pipelining on, and once more with it off);
- whole session warm: `pytest examples` with the images already built;
- whole session cold: the same after removing the plugin's images (bootstrap + build).
Prints median, min and max of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pytest_dockerlab.converge import Converger
from pytest_dockerlab.docker_engine import DockerEngine
from pytest_dockerlab.images import ImageBuilder, catalogue
from pytest_dockerlab.lab import Lab
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.spec import load_lab_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dockerlab.yml"


def converge_run() -> dict[str, float]:
    engine = DockerEngine()
    spec = load_lab_file(EXAMPLE)
    recipes = catalogue()
    image = spec.hosts["web"].image
    tags = {image: ImageBuilder(engine, lambda _: None).ensure(recipes[image])}
    lab = Lab(spec, engine, recipes, SessionIdentity.create(), progress=lambda _: None)
    converger = Converger(lab, spec.ansible, lambda _: None)
    figures = {}
    with lab:
        t0 = time.perf_counter()
        failures = lab.start(["web", "db"], tags)
        assert not failures, failures
        figures["boot_s"] = time.perf_counter() - t0
        result = converger.run("playbooks/site.yml", ["web", "db"])
        assert result.ok, result.describe_failure()
        figures["converge_s"] = result.elapsed
        again = converger.assert_idempotent("playbooks/site.yml", ["web", "db"])
        figures["idempotence_s"] = again.elapsed
        converger.ansible.pipelining = False
        again = converger.assert_idempotent("playbooks/site.yml", ["web", "db"])
        figures["idempotence_no_pipelining_s"] = again.elapsed
        converger.close()
    engine.close()
    return figures


def session_run(cold: bool) -> float:
    if cold:
        subprocess.run(
            "docker images -q --filter reference='pytest-dockerlab/*' | xargs -r docker rmi -f",
            shell=True,
            check=True,
            capture_output=True,
        )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "examples", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"pytest examples failed:\n{proc.stdout[-3000:]}")
    return elapsed


def summarise(name: str, values: list[float]) -> dict[str, float]:
    row = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    print(
        f"{name:<32}"
        + "".join(f"{row[k]:>9.1f}" for k in ("median", "min", "max"))
        + f"   (n={len(values)})",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="converge/idempotence runs")
    parser.add_argument("--sessions", type=int, default=3, help="warm whole-session runs")
    parser.add_argument("--cold", type=int, default=3, help="cold whole-session runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"{'figure (seconds)':<32}{'median':>9}{'min':>9}{'max':>9}", flush=True)
    out: dict[str, dict[str, float]] = {}
    runs = [converge_run() for _ in range(args.runs)]
    for key in runs[0] if runs else {}:
        out[key] = summarise(key, [r[key] for r in runs])
    if args.sessions:
        session_run(cold=False)  # make sure images exist before timing warm runs
        out["session_warm_s"] = summarise(
            "session_warm_s", [session_run(cold=False) for _ in range(args.sessions)]
        )
    if args.cold:
        out["session_cold_s"] = summarise(
            "session_cold_s", [session_run(cold=True) for _ in range(args.cold)]
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
