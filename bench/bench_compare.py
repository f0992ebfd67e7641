"""Cold session, cache hit and reuse side by side, with the plain tools for a ratio.

    ./run bench compare [--runs N] [--json FILE]

Each round runs, interleaved so that a slow minute of the machine hits every case alike:
- example cold: `pytest examples --dockerlab-cache=off` (boot, converge, idempotence pass,
  tests, teardown);
- example hit: the same with the converge cache on and an entry in place;
- example reuse: `pytest examples --dockerlab-reuse=ID` on a lab kept beforehand, and the
  seconds from pytest's start to the first test's call;
- nginx cold / hit: the two-host nginx work of ANCHORS.md (bench/nginx) through the plugin;
- nginx plain: the same work by hand: `docker run` x2, `ansible-playbook` twice (the second
  pass must change nothing), pytest-testinfra's docker backend, `docker rm -f`.
Prints median and min-max per case; --json writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NGINX = ROOT / "bench" / "nginx"
FIRST_CALL = "DOCKERLAB_BENCH_FIRST_CALL"

# Loaded into the timed pytest with -p: records when the first test's call starts.
CLOCK_PLUGIN = """
import os, time
_done = []
def pytest_runtest_call(item):
    if not _done:
        _done.append(1)
        with open(os.environ["DOCKERLAB_BENCH_FIRST_CALL"], "w") as f:
            f.write(str(time.time()))
"""


def pytest(*args: str, cwd: Path = ROOT) -> tuple[float, str]:
    """Run pytest; the wall seconds and its output. A failed run ends the benchmark."""
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    return elapsed, proc.stdout


def kept_session(output: str) -> str:
    match = re.search(r"kept lab ([0-9a-f]{8})", output)
    if match is None:
        raise SystemExit(f"no kept lab in:\n{output[-2000:]}")
    return match[1]


def example_cold() -> dict[str, float]:
    elapsed, out = pytest("examples", "--dockerlab-cache=off")
    figures = {"example_cold_s": elapsed}
    for name, pattern in (
        ("example_cold_converge_s", r"converged site\.yml in ([\d.]+)s"),
        ("example_cold_idempotence_s", r"idempotence pass of site\.yml in ([\d.]+)s"),
    ):
        found = re.search(pattern, out)
        if found:
            figures[name] = float(found[1])
    return figures


def example_hit() -> float:
    elapsed, out = pytest("examples", "--dockerlab-cache=on")
    assert "converge cache: hit" in out, out[-2000:]
    return elapsed


def reuse_case(session: str, clock_dir: Path) -> Callable[[], dict[str, float]]:
    def run() -> dict[str, float]:
        stamp = clock_dir / "first-call"
        stamp.unlink(missing_ok=True)
        env_before = os.environ.get(FIRST_CALL)
        os.environ[FIRST_CALL] = str(stamp)
        started = time.time()
        try:
            elapsed, out = pytest("examples", f"--dockerlab-reuse={session}", "-p", "bench_clock")
        finally:
            if env_before is None:
                os.environ.pop(FIRST_CALL, None)
        assert "no converge" in out, out[-2000:]
        return {
            "example_reuse_s": elapsed,
            "reuse_first_test_s": float(stamp.read_text()) - started,
        }

    return run


def nginx_cold() -> float:
    return pytest("test_nginx.py", "--dockerlab-cache=off", cwd=NGINX)[0]


def nginx_hit() -> float:
    elapsed, out = pytest("test_nginx.py", "--dockerlab-cache=on", cwd=NGINX)
    assert "converge cache: hit" in out, out[-2000:]
    return elapsed


def nginx_plain(workdir: Path) -> float:
    """The two-host nginx work with docker, ansible-playbook and testinfra by hand."""
    from pytest_dockerlab.docker_engine import DockerEngine
    from pytest_dockerlab.images import ImageBuilder, catalogue
    from pytest_dockerlab.profiles import choose_profile, sandbox_seccomp

    engine = DockerEngine()
    recipe = catalogue()["debian12"]
    tags = {recipe.name: ImageBuilder(engine, lambda _: None).ensure(recipe)}
    flags = choose_profile(engine.facts(), recipe.init).docker_run_flags()
    engine.close()
    seccomp = workdir / "sandbox.json"
    seccomp.write_text(sandbox_seccomp())
    flags = [f.replace("sandbox.json", str(seccomp)) for f in flags]
    names = {"web1": f"bench-plain-{os.getpid()}-web1", "web2": f"bench-plain-{os.getpid()}-web2"}
    inventory = workdir / "hosts.ini"
    inventory.write_text(
        "[web]\n"
        + "".join(
            f"{host} ansible_connection=community.docker.docker ansible_host={name} "
            "ansible_python_interpreter=/usr/bin/python3\n"
            for host, name in names.items()
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_ROLES_PATH": str(NGINX / "roles"),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    started = time.perf_counter()
    try:
        for host, name in names.items():
            argv = ["docker", "run", "-d", "--name", name, "--hostname", host]
            argv += [*shlex.split(" ".join(flags)), tags["debian12"]]
            subprocess.run(argv, check=True, capture_output=True)
        for name in names.values():  # systemd up, as a user's wait loop would check
            for _ in range(300):
                probe = subprocess.run(
                    ["docker", "exec", name, "systemctl", "is-system-running"],
                    capture_output=True,
                    text=True,
                )
                if probe.stdout.strip() in ("running", "degraded"):
                    break
                time.sleep(0.1)
        for attempt in ("converge", "idempotence"):
            play = subprocess.run(
                [str(BIN / "ansible-playbook"), "-i", str(inventory), str(NGINX / "site.yml")],
                capture_output=True,
                text=True,
                env=env,
            )
            if play.returncode != 0:
                raise SystemExit(f"plain {attempt} failed:\n{play.stdout[-3000:]}")
            if attempt == "idempotence" and re.search(r"changed=[1-9]", play.stdout):
                raise SystemExit(f"plain idempotence pass changed something:\n{play.stdout}")
        hosts = ",".join(f"docker://{name}" for name in names.values())
        check = subprocess.run(
            [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "-p", "no:dockerlab",
             f"--hosts={hosts}", str(NGINX / "plain")],
            capture_output=True, text=True, cwd=workdir,
        )  # fmt: skip
        if check.returncode != 0:
            raise SystemExit(f"plain testinfra checks failed:\n{check.stdout[-3000:]}")
    finally:
        subprocess.run(["docker", "rm", "-f", *names.values()], capture_output=True)
    return time.perf_counter() - started


def summarise(name: str, values: list[float]) -> dict[str, object]:
    row = {"median": statistics.median(values), "min": min(values), "max": max(values),
           "runs": values}  # fmt: skip
    figures = f"{row['median']:>9.1f}{min(values):>9.1f}{max(values):>9.1f}"
    print(f"{name:<24}{figures}   (n={len(values)})", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (at least 3)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3: a median of fewer says little")
    workdir = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    (workdir / "bench_clock.py").write_text(CLOCK_PLUGIN)
    sys.path.insert(0, str(workdir))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(workdir), os.environ.get("PYTHONPATH")])
    )
    # Untimed: images built, cache entries in place, a kept lab of the example to reuse.
    print("preparing: images, cache entries, a kept lab ...", flush=True)
    pytest("examples", "--dockerlab-cache=refresh")
    pytest("test_nginx.py", "--dockerlab-cache=refresh", cwd=NGINX)
    session = kept_session(pytest("examples", "--dockerlab-keep", "--dockerlab-cache=off")[1])
    reuse = reuse_case(session, workdir)
    figures: dict[str, list[float]] = {}
    try:
        for round_ in range(args.runs):
            print(f"round {round_ + 1}/{args.runs}", flush=True)
            for name, value in example_cold().items():
                figures.setdefault(name, []).append(value)
            cases: dict[str, Callable[[], float]] = {
                "example_hit_s": example_hit,
                "nginx_cold_s": nginx_cold,
                "nginx_hit_s": nginx_hit,
                "nginx_plain_s": lambda: nginx_plain(workdir),
            }
            for name, case in cases.items():
                figures.setdefault(name, []).append(case())
            for name, value in reuse().items():
                figures.setdefault(name, []).append(value)
    finally:
        subprocess.run([str(BIN / "dockerlab"), "down", "--session", session], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{'figure (seconds)':<24}{'median':>9}{'min':>9}{'max':>9}", flush=True)
    out = {name: summarise(name, values) for name, values in figures.items()}
    plain = statistics.median(figures["nginx_plain_s"])
    for name in ("nginx_cold_s", "nginx_hit_s"):
        ratio = statistics.median(figures[name]) / plain
        out[f"{name}_vs_plain"] = {"ratio": ratio}
        print(f"{name} / nginx_plain_s = {ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
