"""Benchmark of the sandbox seccomp profile: what an allow list costs a host.

    ./run bench seccomp [--runs N] [--json FILE]

Boots the debian12 image with the cgroup profile of this engine under three seccomp profiles
(Docker's default; the deny list the plugin used before; the allow list it uses now) and
measures, per profile: seconds from `docker start` to `systemctl is-system-running` saying
running; one `docker exec true`; and a syscall-heavy exec in the host (100,000 stat calls).
Prints median, min and max of each.
"""

from __future__ import annotations

import argparse
import errno
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_dockerlab.images import catalogue
from pytest_dockerlab.profiles import docker_default_seccomp, sandbox_seccomp

# The profile before the allow list: allow by default, refuse this list.
DENY_LIST = (
    "add_key", "keyctl", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_enter", "io_uring_register", "io_uring_setup", "create_module", "delete_module",
    "finit_module", "get_kernel_syms", "init_module", "query_module", "kexec_file_load",
    "kexec_load", "swapoff", "swapon", "acct", "quotactl", "syslog", "adjtimex",
    "clock_adjtime", "clock_settime", "settimeofday", "stime", "ioperm", "iopl",
    "name_to_handle_at", "open_by_handle_at", "get_mempolicy", "mbind", "migrate_pages",
    "move_pages", "set_mempolicy", "lookup_dcookie", "nfsservctl", "_sysctl", "sysfs",
    "uselib", "ustat", "vm86", "vm86old",
)  # fmt: skip
STATS = "python3 -c 'import os\nfor _ in range(100000): os.stat(\"/\")'"
BOOTED = "systemctl is-system-running --wait >/dev/null 2>&1; systemctl is-system-running"


def profiles() -> dict[str, dict[str, Any]]:
    old = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": docker_default_seccomp()["archMap"],
        "syscalls": [{"names": list(DENY_LIST), "action": "SCMP_ACT_ERRNO",
                      "errnoRet": errno.EPERM}],
    }  # fmt: skip
    return {
        "docker default": docker_default_seccomp(),
        "deny list (before)": old,
        "allow list (now)": json.loads(sandbox_seccomp()),
    }


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True).stdout


def flags(profile_file: Path) -> list[str]:
    """This machine's cgroup v1 profile (the one this sandbox boots), with ``profile_file``."""
    return [
        "-e", "container=docker", "--stop-signal", "SIGRTMIN+3",
        "--tmpfs", "/run:exec", "--tmpfs", "/run/lock", "--tmpfs", "/tmp:exec",
        "--tmpfs", "/sys/fs/cgroup", "-v", "/sys/fs/cgroup/systemd:/sys/fs/cgroup/systemd:rw",
        "--cgroupns=host", "--security-opt", f"seccomp={profile_file}",
    ]  # fmt: skip


def timed(*args: str) -> float:
    started = time.monotonic()
    docker(*args, check=args[-1] != BOOTED)  # "degraded" (exit 1) is booted too
    return time.monotonic() - started


def measure(image: str, profile_file: Path, runs: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"boot": [], "exec true": [], "100k stat": []}
    for _ in range(runs):
        name = f"dockerlab-bench-seccomp-{time.monotonic_ns()}"
        docker("create", "--name", name, *flags(profile_file), image)
        try:
            found["boot"].append(
                timed("start", name) + timed("exec", name, "/bin/sh", "-c", BOOTED)
            )
            found["exec true"].append(timed("exec", name, "true"))
            found["100k stat"].append(timed("exec", name, "/bin/sh", "-c", STATS))
        finally:
            docker("rm", "-f", name)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    image = catalogue()["debian12"].tag
    subprocess.run([sys.executable, "-m", "pytest_dockerlab", "images", "build", "debian12"],
                   check=True, capture_output=True)  # fmt: skip
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, profile in profiles().items():
            path = Path(folder) / "profile.json"
            path.write_text(json.dumps(profile))
            figures = measure(image, path, args.runs)
            results[label] = {
                what: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                for what, v in figures.items()
            }
            for what, f in results[label].items():
                print(f"{label:20} {what:10} median {f['median']:.3f}s "
                      f"(min {f['min']:.3f}, max {f['max']:.3f})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
