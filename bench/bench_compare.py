"""Cold session, cache hit and reuse side by side, with the plain tools for a ratio.

    ./run bench compare [--runs N] [--json FILE] [--molecule VENV] [--only A,B]

Each round runs, interleaved so that a slow minute of the machine hits every case alike:
- example cold: `pytest examples --dockerlab-cache=off` (boot, converge, idempotence pass,
  tests, teardown);
- example hit: the same with the converge cache on and an entry in place;
- example reuse: `pytest examples --dockerlab-reuse=ID` on a lab kept beforehand, and the
  seconds from pytest's start to the first test's call;
- nginx cold / hit: the two-host nginx work of ANCHORS.md (bench/nginx) through the plugin;
- nginx plain: the same work by hand: `docker run` x2, `ansible-playbook` twice (the second
  pass must change nothing), pytest-testinfra's docker backend, `docker rm -f`;
- example cold / nginx cold through Mitogen (its strategy and docker connection, set in a
  copy's lab file: `ansible.env` and `ansible_connection: docker`), when Mitogen is
  installed. Issue 20 asked for it as an option if it took >= 25% off both the nginx cold
  run and the example's converge; it did not (README, Figures), so it is measured here,
  not shipped;
- molecule: `molecule test` of the same nginx work (same role and play, same two hosts, same
  image and least-privilege flags, the same checks through its testinfra verifier), when
  --molecule names a venv holding molecule, 'molecule-plugins[docker]' and pytest-testinfra.
Prints median and min-max per case, and ratios (medians, and run by run: each round's pair);
--json writes every figure.
"""

from __future__ import annotations

import argparse
import importlib.util
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
# ansible-core's deprecation of third-party strategies: proof a run went through Mitogen.
MITOGEN_SAID = "strategy plugins not included in ansible.builtin"

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


def through_mitogen(folder: Path, workdir: Path) -> Path:
    """A copy of the lab in ``folder`` whose converges go through Mitogen's strategy and
    docker connection: a user's own lab-file settings, no option of the plugin."""
    import yaml

    copy = workdir / f"{folder.name}-mitogen"
    shutil.copytree(folder, copy)
    lab = yaml.safe_load((copy / "dockerlab.yml").read_text())
    spec = importlib.util.find_spec("ansible_mitogen")
    assert spec is not None and spec.origin is not None
    strategies = Path(spec.origin).parent / "plugins" / "strategy"
    env = {"ANSIBLE_STRATEGY_PLUGINS": str(strategies), "ANSIBLE_STRATEGY": "mitogen_linear"}
    lab["ansible"]["env"] = {**lab["ansible"].get("env", {}), **env}
    for host in lab["hosts"].values():  # Mitogen swaps the "docker" connection for its own
        host.setdefault("vars", {})["ansible_connection"] = "docker"
    (copy / "dockerlab.yml").write_text(yaml.safe_dump(lab))
    return copy


def example_cold(folder: Path = ROOT / "examples", suffix: str = "") -> dict[str, float]:
    elapsed, out = pytest(str(folder), "--dockerlab-cache=off")
    figures = {f"example_cold{suffix}_s": elapsed}
    for name, pattern in (
        (f"example_cold{suffix}_converge_s", r"converged site\.yml in ([\d.]+)s"),
        (f"example_cold{suffix}_idempotence_s", r"idempotence pass of site\.yml in ([\d.]+)s"),
    ):
        found = re.search(pattern, out)
        if found:
            figures[name] = float(found[1])
    if suffix:
        assert MITOGEN_SAID in out, out[-2000:]
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


def nginx_cold(folder: Path = NGINX) -> float:
    elapsed, out = pytest("test_nginx.py", "--dockerlab-cache=off", cwd=folder)
    if folder != NGINX:
        assert MITOGEN_SAID in out, out[-2000:]
    return elapsed


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


def molecule_scenario(workdir: Path) -> Path:
    """The nginx work as a Molecule user writes it: the same role and play, the same two
    hosts, the same image and least-privilege flags, the same five checks through its
    testinfra verifier. The project folder to run ``molecule test`` in."""
    import yaml

    from pytest_dockerlab.docker_engine import DockerEngine
    from pytest_dockerlab.images import ImageBuilder, catalogue
    from pytest_dockerlab.profiles import choose_profile

    engine = DockerEngine()
    recipe = catalogue()["debian12"]
    tag = ImageBuilder(engine, lambda _: None).ensure(recipe)
    profile = choose_profile(engine.facts(), recipe.init)
    engine.close()
    project = workdir / "molecule-nginx"
    shutil.copytree(NGINX / "roles", project / "roles")
    shutil.copy(NGINX / "site.yml", project / "site.yml")
    scenario = project / "molecule" / "default"
    (scenario / "tests").mkdir(parents=True)
    shutil.copy(NGINX / "plain" / "test_nginx_plain.py", scenario / "tests" / "test_nginx.py")
    platform = {
        "image": tag,
        "pre_build_image": True,
        "command": "/sbin/init",  # its driver runs a sleep loop unless told
        "groups": ["web"],
        "env": dict(profile.environment),
        "tmpfs": [f"{path}:{mode}" if mode else path for path, mode in profile.tmpfs.items()],
        "volumes": [f"{src}:{v['bind']}:{v['mode']}" for src, v in profile.volumes.items()],
        "cgroupns_mode": profile.cgroupns,
        "stop_signal": profile.stop_signal,
        "security_opts": list(profile.security_opts),  # the API takes a seccomp profile inline
        "sysctls": dict(profile.sysctls),
        "capabilities": list(profile.capabilities),
    }
    molecule = {
        "driver": {"name": "docker"},
        "platforms": [{"name": name, **platform} for name in ("web1", "web2")],
        "provisioner": {
            "name": "ansible",
            "playbooks": {"converge": "../../site.yml"},
            "env": {"ANSIBLE_ROLES_PATH": str(project / "roles")},
            "config_options": {"defaults": {"pipelining": True}},
        },
        "verifier": {"name": "testinfra"},
    }
    (scenario / "molecule.yml").write_text(yaml.safe_dump(molecule, sort_keys=False))
    return project


def molecule_test(project: Path, venv: Path) -> float:
    """``molecule test``: destroy, syntax, create, prepare, converge, idempotence, verify,
    destroy, as its users run it."""
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(venv / "bin" / "molecule"), "test"], cwd=project, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"molecule test failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return elapsed


def summarise(name: str, values: list[float]) -> dict[str, object]:
    row = {"median": statistics.median(values), "min": min(values), "max": max(values),
           "runs": values}  # fmt: skip
    figures = f"{row['median']:>9.1f}{min(values):>9.1f}{max(values):>9.1f}"
    print(f"{name:<30}{figures}   (n={len(values)})", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (at least 3)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--molecule",
        type=Path,
        metavar="VENV",
        default=os.environ.get("DOCKERLAB_BENCH_MOLECULE"),
        help="a venv with molecule, 'molecule-plugins[docker]' and pytest-testinfra: adds "
        "`molecule test` of the same nginx work (env: DOCKERLAB_BENCH_MOLECULE)",
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="A,B",
        help="only these cases (example_cold, example_cold_mitogen, example_hit, nginx_cold, "
        "nginx_cold_mitogen, nginx_hit, nginx_plain, molecule, reuse)",
    )
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3: a median of fewer says little")
    workdir = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    (workdir / "bench_clock.py").write_text(CLOCK_PLUGIN)
    sys.path.insert(0, str(workdir))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(workdir), os.environ.get("PYTHONPATH")])
    )
    mitogen = importlib.util.find_spec("ansible_mitogen") is not None
    every: dict[str, Callable[[], dict[str, float]]] = {
        "example_cold": example_cold,
        "example_cold_mitogen": lambda: example_cold(mitogen_example, suffix="_mitogen"),
        "example_hit": lambda: {"example_hit_s": example_hit()},
        "nginx_cold": lambda: {"nginx_cold_s": nginx_cold()},
        "nginx_cold_mitogen": lambda: {"nginx_cold_mitogen_s": nginx_cold(mitogen_nginx)},
        "nginx_hit": lambda: {"nginx_hit_s": nginx_hit()},
        "nginx_plain": lambda: {"nginx_plain_s": nginx_plain(workdir)},
        "molecule": lambda: {"molecule_test_s": molecule_test(project, args.molecule)},
    }
    wanted = [name for name in args.only.split(",") if name] or [*every, "reuse"]
    unknown = set(wanted) - {*every, "reuse"}
    if unknown:
        parser.error(f"--only: no case {', '.join(sorted(unknown))}")
    if not mitogen:
        print("Mitogen is not installed: no accelerated rows (pip install mitogen)", flush=True)
        wanted = [name for name in wanted if not name.endswith("_mitogen")]
    else:
        mitogen_example = through_mitogen(ROOT / "examples", workdir)
        mitogen_nginx = through_mitogen(NGINX, workdir)
    if args.molecule is None:
        print("no Molecule venv (--molecule VENV): no molecule row", flush=True)
        wanted = [name for name in wanted if name != "molecule"]
    # Untimed: images built, cache entries in place, a kept lab of the example to reuse.
    print("preparing: images, cache entries, a kept lab ...", flush=True)
    if "example_hit" in wanted:
        pytest("examples", "--dockerlab-cache=refresh")
    if "nginx_hit" in wanted:
        pytest("test_nginx.py", "--dockerlab-cache=refresh", cwd=NGINX)
    if "molecule" in wanted:
        project = molecule_scenario(workdir)
    session = ""
    if "reuse" in wanted:
        session = kept_session(pytest("examples", "--dockerlab-keep", "--dockerlab-cache=off")[1])
        every["reuse"] = reuse_case(session, workdir)
    figures: dict[str, list[float]] = {}
    try:
        for round_ in range(args.runs):
            print(f"round {round_ + 1}/{args.runs}", flush=True)
            for name in wanted:
                for figure, value in every[name]().items():
                    figures.setdefault(figure, []).append(value)
    finally:
        if session:
            subprocess.run(
                [str(BIN / "dockerlab"), "down", "--session", session], capture_output=True
            )
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{'figure (seconds)':<30}{'median':>9}{'min':>9}{'max':>9}", flush=True)
    out: dict[str, dict[str, object]] = {
        name: summarise(name, values) for name, values in figures.items()
    }
    ratios = [
        ("nginx_cold_s", "nginx_plain_s"),
        ("nginx_hit_s", "nginx_plain_s"),
        ("nginx_cold_s", "molecule_test_s"),
        ("nginx_cold_mitogen_s", "molecule_test_s"),
        ("nginx_hit_s", "molecule_test_s"),
        ("nginx_cold_mitogen_s", "nginx_cold_s"),
        ("example_cold_mitogen_converge_s", "example_cold_converge_s"),
        ("example_cold_mitogen_s", "example_cold_s"),
    ]
    for name, base in ratios:
        if name in figures and base in figures:
            ratio = statistics.median(figures[name]) / statistics.median(figures[base])
            pairs = [a / b for a, b in zip(figures[name], figures[base], strict=True)]
            out[f"{name}_vs_{base}"] = {"ratio": ratio, "pairs": pairs}
            print(f"{name} / {base} = {ratio:.2f} (run by run {min(pairs):.2f}-{max(pairs):.2f})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
