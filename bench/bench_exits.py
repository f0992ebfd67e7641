"""Benchmark of the ways out of a session, and of parallel runs.

    ./run bench exits [--runs N] [--json FILE]

- SIGTERM during the session converge: seconds from the signal to the pytest process's exit
  (its teardown included), and whether anything labelled with the session was left;
- SIGKILL during a test: seconds from the kill until the engine holds nothing labelled with
  the session, with no other pytest run (the reaper's work);
- the example lab with `-n 0` and `-n 2 --dist loadfile`: wall time, and which hosts each
  worker created (from the engine's container create events).
Prints median, min and max of each.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parents[1]
NS = "pytest-dockerlab"
SESSION = f"{NS}.session"

SLOW_SITE = """
- hosts: all
  gather_facts: false
  tasks:
    - {name: take a while, command: sleep 120}
"""


def pytest(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], text: str) -> str:
    """Read output until ``text``; return the session id from the header."""
    assert proc.stdout is not None
    session = ""
    for line in proc.stdout:
        # The header only: a sweep's "removing leftovers of dead session ..." names another.
        if line.startswith("dockerlab: ") and "(hosts: " in line and "session " in line:
            session = line.rsplit("session ", 1)[1].strip(")\n")
        if text in line:
            return session
    raise SystemExit(f"never saw {text!r}")


def labelled(client: Any, session: str) -> int:
    filters = {"label": f"{SESSION}={session}"}
    return len(client.api.containers(all=True, filters=filters)) + len(
        client.api.networks(filters=filters)
    )


def sigterm_during_converge(client: Any) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp)
        (lab / "dockerlab.yml").write_text("ansible: {playbooks: [site.yml]}\nhosts:\n  web: {}\n")
        (lab / "site.yml").write_text(SLOW_SITE)
        (lab / "test_x.py").write_text("def test_x(lab): pass\n")
        proc = pytest([], lab)
        session = read_until(proc, "converging site.yml")
        time.sleep(1)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        return time.perf_counter() - sent, labelled(client, session)


def sigkill_to_gone(client: Any) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp)
        (lab / "dockerlab.yml").write_text("hosts:\n  web: {}\n  db: {}\n")
        (lab / "test_x.py").write_text(
            "import time\ndef test_x(lab):\n    print('in test', flush=True)\n    time.sleep(60)\n"
        )
        proc = pytest(["-s"], lab)
        session = read_until(proc, "in test")
        killed = time.perf_counter()
        proc.kill()
        proc.wait()
        while labelled(client, session):
            if time.perf_counter() - killed > 60:
                raise SystemExit(f"session {session} still on the engine 60 s after SIGKILL")
            time.sleep(0.1)
        return time.perf_counter() - killed


def example(client: Any, args: list[str]) -> tuple[float, dict[str, list[str]]]:
    """Wall time of `pytest examples`, and the hosts each worker created (seen by polling)."""
    seen: dict[str, tuple[str, str]] = {}  # container id -> (worker, host)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for c in client.api.containers(all=True, filters={"label": SESSION}):
                labels = c.get("Labels") or {}
                seen.setdefault(
                    c["Id"],
                    (labels.get(f"{NS}.worker", "?"), labels.get(f"{NS}.host", "?")),
                )
            done.wait(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "examples", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"pytest examples {args} failed:\n{proc.stdout[-3000:]}")
    created: dict[str, list[str]] = {}
    for worker, host in seen.values():
        created.setdefault(worker, []).append(host)
    return elapsed, {w: sorted(h) for w, h in sorted(created.items())}


def row(name: str, values: list[float]) -> dict[str, float]:
    out = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    print(
        f"{name:<34}" + "".join(f"{out[k]:>8.2f}" for k in ("median", "min", "max")),
        flush=True,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-signals", action="store_true", help="only the xdist figures")
    parser.add_argument("--examples", type=int, default=1, help="example runs per -n setting")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.pop("PYTEST_XDIST_WORKER", None)
    client = docker.from_env()
    out: dict[str, Any] = {}
    print(f"{'figure (seconds)':<34}{'median':>8}{'min':>8}{'max':>8}", flush=True)
    runs = 0 if args.skip_signals else args.runs
    terms = [sigterm_during_converge(client) for _ in range(runs)] or [(0.0, 0)]
    out["sigterm_to_exit_s"] = row("SIGTERM in converge -> exit", [t for t, _ in terms])
    out["left_after_sigterm"] = sum(left for _, left in terms)
    out["sigkill_to_gone_s"] = row(
        "SIGKILL in test -> lab gone", [sigkill_to_gone(client) for _ in range(runs)] or [0.0]
    )
    print(f"resources left after SIGTERM: {out['left_after_sigterm']}", flush=True)
    for label, extra in (("-n 0", []), ("-n 2 --dist loadfile", ["-n", "2", "--dist", "loadfile"])):
        runs = [example(client, extra) for _ in range(args.examples)]
        out[label] = {
            "wall_s": row(f"example {label}", [t for t, _ in runs]),
            "created_by_worker": runs[-1][1],
        }
        print(f"  containers created per worker: {runs[-1][1]}", flush=True)
    client.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
