"""A cold run against one shared through a registry: the example on an engine that starts
empty, then on another empty one that has only the registry.

    ./run bench registry [--runs N] [--json FILE]

Each round starts a registry (Debian's docker-registry on 127.0.0.1) and two fresh dockerds
(A and B: own data roots, nothing built, nothing cached), then:
- A cold: `pytest examples/` with --dockerlab-registry: bootstrap, build, converge,
  idempotence pass, tests, and the pushes of the image and of the converge cache entry;
- B from the registry: the same session; the image and the entry are pulled, nothing built
  or converged.
Prints per round and as median (min-max): both sessions' seconds and their ratio, each step's
seconds as the sessions said them, and the bytes the registry stores per image and entry.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the engines and registries the tests start, shared

from tests.support.engines import another_engine, registry_server  # noqa: E402

BIN = Path(sys.executable).parent
STEPS = {
    "bootstrap": r"bootstrapped \w+ as \S+ in ([\d.]+)s",
    "build": r"built image \S+ in ([\d.]+)s",
    "converge": r"converged site\.yml in ([\d.]+)s",
    "idempotence": r"idempotence pass of site\.yml in ([\d.]+)s",
    "cache save": r"converge cache: saved .* in ([\d.]+)s",
    "push image": r"pushed debian12:\S+ in ([\d.]+)s",
    "push entry": r"pushed cache:\S+ in ([\d.]+)s",
    "pull image": r"pulled debian12:\S+ in ([\d.]+)s",
    "pull entry": r"pulled cache:\S+ in ([\d.]+)s",
}


def session(lab: Path, engine: str, registry: str) -> tuple[float, str]:
    """One example session on ``engine`` with ``registry``: its seconds and output."""
    env = {
        **os.environ,
        "DOCKER_HOST": engine,
        "DOCKERLAB_REGISTRY": registry,
        "DOCKERLAB_CACHE": "on",
        "DOCKERLAB_REGISTRY_REQUIRED": "on",
        "XDG_CACHE_HOME": str(lab.parent / "xdg"),  # this round's own cache bookkeeping
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "pytest"), "-p", "no:cacheprovider", str(lab)],
        cwd=lab.parent, env=env, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench: the session failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    return elapsed, done.stdout


def steps(output: str) -> dict[str, float]:
    return {
        step: round(sum(float(s) for s in re.findall(pattern, output)), 1)
        for step, pattern in STEPS.items()
        if re.search(pattern, output)
    }


def stored(registry: str) -> dict[str, int]:
    """Compressed bytes the registry stores for the image, and what the entry adds."""
    from pytest_dockerlab.registry_api import RegistryAPI

    api = RegistryAPI(registry)
    image = {d: n for tag in api.walk(["debian12"]) for d, n in tag.layers}
    entry = {d: n for tag in api.walk(["cache"]) for d, n in tag.layers}
    return {
        "image": sum(image.values()),
        "entry (beyond the image)": sum(n for d, n in entry.items() if d not in image),
    }


def one_round(index: int, work: Path) -> dict[str, Any]:
    lab = work / "example"
    shutil.copytree(ROOT / "examples", lab)
    with (
        registry_server(work / "registry") as server,
        another_engine(work / "engine-a", index=6) as a,
        another_engine(work / "engine-b", index=7) as b,
    ):
        repository = server.repository("bench")
        cold, cold_output = session(lab, a.tcp, repository)
        hit, hit_output = session(lab, b.tcp, repository)
        sizes = stored(repository)
    if "hit (registry)" not in hit_output or "building image" in hit_output:
        sys.exit(f"bench: B did not run from the registry:\n{hit_output[-3000:]}")
    figures = {
        "cold on A": round(cold, 1),
        "from the registry on B": round(hit, 1),
        "ratio B/A": round(hit / cold, 3),
        "A steps": steps(cold_output),
        "B steps": steps(hit_output),
        "registry bytes": sizes,
    }
    print(json.dumps({"round": index, **figures}), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rounds = []
    for index in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="dockerlab-bench-registry-") as tmp:
            work = Path(tmp)
            (work / "registry").mkdir()
            for name in ("engine-a", "engine-b"):
                (work / name).mkdir()
            rounds.append(one_round(index, work))
    for key in ("cold on A", "from the registry on B", "ratio B/A"):
        values = [r[key] for r in rounds]
        print(f"{key:<24} {statistics.median(values):>8.3g}  ({min(values):.3g}-{max(values):.3g})")
    for side in ("A steps", "B steps"):
        names = dict.fromkeys(n for r in rounds for n in r[side])
        for name in names:
            values = [r[side].get(name, 0.0) for r in rounds]
            middle = statistics.median(values)
            print(f"{side[0]} {name:<22} {middle:>8.1f}s ({min(values)}-{max(values)})")
    for name in rounds[0]["registry bytes"]:
        values = [r["registry bytes"][name] for r in rounds]
        print(f"registry {name:<26} {statistics.median(values) / 1e6:>6.0f}MB compressed")
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2))


if __name__ == "__main__":
    main()
