"""Benchmark of booting N hosts at once, phase by phase.

    ./run bench boot [--hosts 2 20] [--runs 5] [--json FILE]

Each run boots a lab of N debian12 hosts as a session does (network, then every host in
parallel: create and start the container, then wait until systemd says running) and
removes it. Per run: the wall time of ``Lab.start`` (the issue's "N hosts to running"),
the slowest host's create+start call to the engine and its wait for systemd, the execs the
waits cost (each ~0.1 s of the engine's CPU), and the teardown; then systemd's own view of
one host's boot (its userspace time, from its start and finish timestamps). Then the
engine's floor: N containers of the same image, profile and kind of network, created and
started in parallel, running ``sleep infinity`` instead of systemd. Prints median (min-max)
of each over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

from pytest_dockerlab.address import exported, resolve
from pytest_dockerlab.docker_engine import DockerEngine, _create_kwargs
from pytest_dockerlab.images import ImageBuilder, catalogue
from pytest_dockerlab.lab import Lab
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.profiles import choose_profile
from pytest_dockerlab.spec import load_lab_file


class TimedEngine(DockerEngine):
    """The engine, with each host's create+start call timed and its execs counted."""

    def __init__(self) -> None:
        super().__init__()
        self.create_start: dict[str, float] = {}  # container -> seconds
        self.execs = 0
        self._lock = threading.Lock()

    def exec(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.execs += 1
        return super().exec(*args, **kwargs)

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
    engine.execs = 0
    lab = Lab(spec, engine, catalogue(), SessionIdentity.create(), progress=lambda _: None)
    with lab:
        t0 = time.perf_counter()
        failures = lab.start(names, {"debian12": tag})
        booted = time.perf_counter() - t0
        assert not failures, failures
        boots = [lab.running[n].boot_seconds for n in names]
        waits = [h.boot_seconds - engine.create_start[h.container] for h in lab.running.values()]
        execs = engine.execs
        # Microseconds since the kernel booted; the difference is systemd-analyze's
        # "(userspace)", which it prints in ms, s or min.
        show = lab.exec(
            names[0], "systemctl show -p UserspaceTimestampMonotonic -p FinishTimestampMonotonic"
        ).output
        t_down = time.perf_counter()
    teardown = time.perf_counter() - t_down
    stamps = dict(line.split("=", 1) for line in show.split())
    userspace = (
        int(stamps["FinishTimestampMonotonic"]) - int(stamps["UserspaceTimestampMonotonic"])
    ) / 1e6
    return {
        "all_running_s": booted,
        "slowest_create_start_s": max(engine.create_start.values()),
        "slowest_host_s": max(boots),
        "slowest_wait_s": max(waits),
        "execs_per_host": execs / hosts,
        "systemd_userspace_s": userspace,
        "teardown_s": teardown,
    }


def engine_floor(engine: DockerEngine, hosts: int, tag: str) -> float:
    """Seconds to create and start ``hosts`` containers at once that run ``sleep infinity``
    with the hosts' profile on a network of their own: what the engine alone takes."""
    kwargs = _create_kwargs(choose_profile(engine.facts()))
    with exported(resolve()):
        client = docker.from_env(timeout=300)
    network = client.networks.create("dockerlab-bench-floor")
    made: list[Any] = []

    def one(_: int) -> None:
        container = client.containers.create(
            tag, ["sleep", "infinity"], network=network.name, detach=True, **kwargs
        )
        made.append(container)
        container.start()

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=hosts) as pool:
            list(pool.map(one, range(hosts)))
        return time.perf_counter() - started
    finally:
        for container in made:
            container.remove(force=True)
        network.remove()
        client.close()


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
            runs = []
            for _ in range(args.runs):  # the floor right after each lab: the same load
                runs.append(one_run(engine, lab_file, hosts, tag))
                runs[-1]["engine_floor_s"] = engine_floor(engine, hosts, tag)
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
