"""Benchmark of booting N hosts at once, phase by phase.

    ./run bench boot [--hosts 2 20] [--runs 5] [--json FILE]

Each run boots a lab of N debian12 hosts as a session does (network, then every host in
parallel: create and start the container, then wait until systemd says running) and
removes it. Per run: the wall time of ``Lab.start`` (the issue's "N hosts to running"),
the slowest host's create+start call to the engine and its wait for systemd, and the
teardown; then systemd's own view of one host's boot (``systemd-analyze``, userspace
time). Prints median (min-max) of each over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pytest_dockerlab.docker_engine import DockerEngine
from pytest_dockerlab.images import ImageBuilder, catalogue
from pytest_dockerlab.lab import Lab
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.spec import load_lab_file


class TimedEngine(DockerEngine):
    """The engine, with each host's create+start call timed."""

    def __init__(self) -> None:
        super().__init__()
        self.create_start: dict[str, float] = {}  # container -> seconds
        self._lock = threading.Lock()

    def run_container(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().run_container(*args, **kwargs)
        finally:
            with self._lock:
                self.create_start[kwargs["name"]] = time.perf_counter() - started


def one_run(engine: TimedEngine, lab_file: Path, hosts: int, tag: str) -> dict[str, float]:
    spec = load_lab_file(lab_file)
    names = [f"h{i:02d}" for i in range(hosts)]
    engine.create_start.clear()
    lab = Lab(spec, engine, catalogue(), SessionIdentity.create(), progress=lambda _: None)
    with lab:
        t0 = time.perf_counter()
        failures = lab.start(names, {"debian12": tag})
        booted = time.perf_counter() - t0
        assert not failures, failures
        boots = [lab.running[n].boot_seconds for n in names]
        waits = [h.boot_seconds - engine.create_start[h.container] for h in lab.running.values()]
        analyze = lab.exec(names[0], "systemd-analyze").output
        t_down = time.perf_counter()
    teardown = time.perf_counter() - t_down
    userspace = float(analyze.split("in ", 1)[1].split("ms", 1)[0]) / 1000 if "ms" in analyze else 0
    return {
        "all_running_s": booted,
        "slowest_create_start_s": max(engine.create_start.values()),
        "slowest_host_s": max(boots),
        "slowest_wait_s": max(waits),
        "systemd_userspace_s": userspace,
        "teardown_s": teardown,
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[2, 20])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = TimedEngine()
    tag = ImageBuilder(engine, print).ensure(catalogue()["debian12"])
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lab_file = Path(tmp) / "dockerlab.yml"
        most = max(args.hosts)
        lab_file.write_text(
            "hosts:\n" + "".join(f"  h{i:02d}: {{image: debian12}}\n" for i in range(most))
        )
        one_run(engine, lab_file, 2, tag)  # warm-up: the image's layers in the page cache
        for hosts in args.hosts:
            runs = [one_run(engine, lab_file, hosts, tag) for _ in range(args.runs)]
            out[str(hosts)] = runs
            print(f"{hosts} hosts, median (min-max) of {args.runs} runs, seconds:")
            for key in runs[0]:
                print(f"  {key:<24}{spread([r[key] for r in runs])}", flush=True)
    engine.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
