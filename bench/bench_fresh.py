"""A fresh machine to a green example, phase by phase.

    ./run bench fresh [--runs N] [--packages] [--pip-cache] [--json FILE]

Each run is `./run example` as on a machine that never ran it: a dockerd of its own on an
empty data root (no image at all: the offline base is bootstrapped and the recipe built), a
new virtualenv installed with pip's cache off, empty pytest-dockerlab caches. The engine
this machine ran is stopped for the run and started again after it (only one that
scripts/engine.sh started: the bench refuses to stop another). --packages also removes
docker.io and mmdebstrap first, so the engine phase includes their apt install (from the
mirror; apt's own .deb cache is kept); --pip-cache keeps pip's cache.

The phases are read from the run's own lines as they arrive: engine (until engine.sh says
it answers), venv (until pytest starts), images (bootstrap and recipe), boot (until the
converge starts), converge, idempotence, tests (and teardown, until the run ends).
Prints median and min-max of each phase over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "scripts" / "engine.sh"
# The first line that ends each phase, in order.
MARKS = [
    ("engine", ("engine.sh: dockerd answers", "engine.sh: engine reachable")),
    ("venv", (" test session starts ",)),
    ("images", ("dockerlab: booting ",)),
    ("boot", ("dockerlab: converging site.yml",)),
    ("converge", ("dockerlab: converged site.yml",)),
    ("idempotence", ("dockerlab: idempotence pass of site.yml in",)),
]


def engine(command: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["bash", str(ENGINE), command], check=True, env=env, capture_output=True)


def one_run(packages: bool, pip_cache: bool) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="bench-fresh-"))
    env = {
        **os.environ,
        "DOCKERLAB_VENV": str(state / "venv"),
        "DOCKERLAB_STATE_DIR": str(state / "run"),
        "DOCKERLAB_DOCKERD_ARGS": f"--data-root {state / 'docker'}",
        "XDG_CACHE_HOME": str(state / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    if not pip_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    if packages:
        subprocess.run(
            ["apt-get", "remove", "-y", "-qq", "docker.io", "mmdebstrap"],
            check=True, capture_output=True,
        )  # fmt: skip
    lines: list[tuple[float, str]] = []
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [str(ROOT / "run"), "example", "-p", "no:cacheprovider"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
        proc.wait()
        ended = time.monotonic() - started
    finally:
        engine("stop", env)
        shutil.rmtree(state, ignore_errors=True)
    if proc.returncode != 0:
        text = "\n".join(line for _, line in lines[-60:])
        raise SystemExit(f"./run example failed (exit {proc.returncode}):\n{text}")
    return phases(lines, ended)


def phases(lines: list[tuple[float, str]], ended: float) -> dict[str, float]:
    """Each phase's seconds from the time each mark's line arrived."""
    found: dict[str, float] = {}
    before = 0.0
    for name, starts in MARKS:
        at = next((t for t, line in lines if any(mark in line for mark in starts)), None)
        if at is None:
            raise SystemExit(f"no line for the end of {name} ({starts[0]!r})")
        found[name] = at - before
        before = at
    found["tests"] = ended - before
    found["total"] = ended
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", action="store_true", help="remove docker.io first")
    parser.add_argument("--pip-cache", action="store_true", help="keep pip's cache")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("a fresh engine of its own takes root")
    was_running = (Path("/run/pytest-dockerlab/dockerd.pid")).exists()
    answers = subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    if answers and not was_running:
        parser.error("an engine that scripts/engine.sh did not start answers: stop it first")
    engine("stop")
    figures: dict[str, list[float]] = {}
    try:
        for round_ in range(args.runs):
            print(f"run {round_ + 1}/{args.runs}", flush=True)
            for name, value in one_run(args.packages, args.pip_cache).items():
                figures.setdefault(name, []).append(value)
    finally:
        if was_running:
            engine("start")
    print(f"\n{'phase (seconds)':<14}{'median':>9}{'min':>9}{'max':>9}")
    out = {}
    for name, values in figures.items():
        out[name] = {"median": statistics.median(values), "runs": values}
        print(f"{name:<14}{statistics.median(values):>9.1f}{min(values):>9.1f}{max(values):>9.1f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
