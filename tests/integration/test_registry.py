"""Images and converged hosts shared through a real registry (Debian's docker-registry on
127.0.0.1), between the main engine and a second dockerd whose store starts empty."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    RECORD_SESSION,
    RegistryServer,
    SecondEngine,
    another_engine,
    leftovers,
    registry_server,
    run,
    session_id,
)

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with registry_server(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="module")
def engine_b(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecondEngine]:
    """A second engine whose image store starts empty: a CI runner, a colleague's machine."""
    with another_engine(tmp_path_factory.mktemp("engine-b"), index=3) as engine:
        yield engine


@pytest.fixture(autouse=True)
def _cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKERLAB_CACHE", "on")


def test_a_second_engine_runs_the_example_from_the_registry_alone(
    registry: RegistryServer,
    engine_b: SecondEngine,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
) -> None:
    """Engine A (the main one) runs the example and fills the registry; engine B, empty,
    then runs it with no bootstrap, no build and no converge: everything comes from there."""
    repository = registry.repository("example")
    # In a folder of its own: what the runs write beside it (pytest's temporary folders, the
    # recorded session id) is not part of what the converge reads.
    shutil.copytree(EXAMPLES, pytester.path / "example")
    pytester.makeconftest(RECORD_SESSION)
    monkeypatch.setenv("DOCKERLAB_REGISTRY", repository)
    monkeypatch.setenv("CI", "true")  # any registry failure fails the session
    first = run(pytester, "example")
    first.assert_outcomes(passed=10)
    first.stdout.fnmatch_lines(
        [
            f"dockerlab: registry {repository} (push on, required)",
            "dockerlab: pushed debian12:*",
            "dockerlab: pushed cache:*-web in *",
            "dockerlab: pushed cache:*-db in *",
        ]
    )
    marker = re.search(r"pushed cache:([0-9a-f]{12}) in", first.stdout.str())
    assert marker, "the entry's marker is pushed last"
    assert leftovers(docker_client, session_id(pytester)) == []

    monkeypatch.setenv("DOCKER_HOST", engine_b.tcp)
    second = run(pytester, "example")
    second.assert_outcomes(passed=10)
    output = second.stdout.str()
    second.stdout.fnmatch_lines(
        [
            "dockerlab: pulled debian12:*",
            "dockerlab: converge cache: hit (registry) for web, db (entry *): started from "
            "their converged images, converge and idempotence pass skipped",
        ]
    )
    for work in ("bootstrapping", "building image", "converging site.yml", "idempotence pass:"):
        assert work not in output, output
    assert "pushed" not in output  # it had everything: nothing to give back
    assert engine_b.labelled() == []


SMALL_LAB = """
hosts:
  node: {image: debian12}
"""
SMALL_TEST = """
import pytest

@pytest.mark.lab("node")
def test_node_boots(lab):
    assert lab.exec("node", "true").rc == 0
"""
# Stops the registry once the session has started, before its first look at the registry.
STOPS_THE_REGISTRY = (
    RECORD_SESSION
    + """
import os, signal

def pytest_collection_finish(session):
    os.kill(int(os.environ["REGISTRY_PID"]), signal.SIGTERM)
"""
)


@pytest.mark.parametrize("required", ["off", "on"])
def test_a_registry_that_stops_mid_run_is_said_in_one_line(
    registry: RegistryServer,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    required: str,
) -> None:
    repository = registry.repository("stopped")
    pytester.makefile(".yml", dockerlab=SMALL_LAB)
    pytester.makeconftest(STOPS_THE_REGISTRY)
    pytester.makepyfile(SMALL_TEST)
    assert registry.process is not None
    monkeypatch.setenv("REGISTRY_PID", str(registry.process.pid))
    monkeypatch.setenv("DOCKERLAB_REGISTRY_REQUIRED", required)
    try:
        started = time.monotonic()
        result = run(pytester, f"--dockerlab-registry={repository}")
        elapsed = time.monotonic() - started
    finally:
        registry.stop()
        registry.start()
    line = f"*registry {repository}: cannot look up debian12:*: *connection refused*"
    if required == "off":
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"dockerlab: {line}; building and converging without it*"])
        assert result.stdout.str().count(f"registry {repository}:") == 1
    else:
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([f"E  *RegistryError: {line}"])
    assert elapsed < 60


def test_refused_credentials_are_said_and_the_run_goes_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if not shutil.which("htpasswd"):
        pytest.fail("htpasswd is not installed (apt-get install apache2-utils)")
    htpasswd = tmp_path / "htpasswd"
    made = subprocess.run(
        ["htpasswd", "-Bbn", "alice", "secret"], capture_output=True, text=True, check=True
    )
    htpasswd.write_text(made.stdout)
    with registry_server(tmp_path, htpasswd) as guarded:
        config = tmp_path / "docker-config"
        config.mkdir()
        auth = __import__("base64").b64encode(b"alice:wrong").decode()
        (config / "config.json").write_text(
            f'{{"auths": {{"{guarded.address}": {{"auth": "{auth}"}}}}}}'
        )
        monkeypatch.setenv("DOCKER_CONFIG", str(config))
        monkeypatch.setenv("DOCKERLAB_REGISTRY_REQUIRED", "off")
        pytester.makefile(".yml", dockerlab=SMALL_LAB)
        pytester.makepyfile(SMALL_TEST)
        result = run(pytester, f"--dockerlab-registry={guarded.repository('lab')}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "dockerlab: registry *: cannot look up debian12:*: unauthorized: authentication "
            "required; building and converging without it this session"
        ]
    )


# Two hosts: the second one's converged image is large (random bytes do not compress), so a
# kill after the first host's push lands while the second one is on its way.
KILLED_LAB = """
hosts:
  small: {image: debian12}
  large: {image: debian12}
ansible:
  playbooks: [site.yml]
"""
KILLED_PLAY = """
- hosts: all
  tasks:
    - copy: {dest: /etc/motd, content: "UNIQUE\\n"}
- hosts: large
  tasks:
    - shell: head -c 300M /dev/urandom > /var/tmp/blob
      args: {creates: /var/tmp/blob}
"""


KILLED_TEST = """
import pytest

@pytest.mark.lab("small,large")
def test_both_converged(lab):
    assert lab.exec("large", "test -s /var/tmp/blob").rc == 0
"""


def test_a_push_killed_half_way_is_never_a_hit(
    registry: RegistryServer,
    engine_b: SecondEngine,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
) -> None:
    repository = registry.repository("killed")
    unique = f"{os.getpid()}-{time.time()}"
    lab = pytester.path / "lab"  # apart from what the runs write beside it
    lab.mkdir()
    (lab / "dockerlab.yml").write_text(KILLED_LAB)
    (lab / "site.yml").write_text(KILLED_PLAY.replace("UNIQUE", unique))
    (lab / "test_killed.py").write_text(KILLED_TEST)
    pytester.makeconftest(RECORD_SESSION)
    monkeypatch.setenv("DOCKERLAB_REGISTRY", repository)
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "lab"],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as session:  # fmt: skip
        assert session.stdout is not None
        seen = []
        for line in session.stdout:
            seen.append(line)
            if re.search(r"pushed cache:[0-9a-f]{12}-small in", line):
                session.send_signal(signal.SIGKILL)
                break
        session.wait(30)
    output = "".join(seen)
    assert session.returncode == -signal.SIGKILL, output
    key = re.search(r"converge cache: saved small, large as entry ([0-9a-f]{12})", output)
    assert key, output
    tags = registry.tags("killed/cache")
    assert any(t.startswith(key[1]) and t.endswith("-small") for t in tags), tags
    assert not [t for t in tags if t.startswith(key[1]) and "-" not in t], "no marker went"

    # Another engine: no entry here, and the hosts pushed without a marker are none.
    monkeypatch.setenv("DOCKER_HOST", engine_b.tcp)
    result = run(pytester, "lab")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"dockerlab: converge cache: miss for small, large (entry {key[1]})*"]
    )
    assert "hit (registry)" not in result.stdout.str()
    assert engine_b.labelled() == []
    killed = re.search(r"session ([0-9a-f]{8})\)", output)
    assert killed, output
    deadline = time.monotonic() + 20  # the killed session's reaper removes its lab
    while leftovers(docker_client, killed[1]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(docker_client, killed[1]) == []


def dockerlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", *args], capture_output=True, text=True
    )


def test_what_the_registry_holds_is_listed_and_pruned(
    registry: RegistryServer, tmp_path: Path, docker_client: Any
) -> None:
    """After the example's run (the first test): its image and entry, listed by kind; pruned
    (only ours, only older than asked; a current image stays without --all)."""
    repository = registry.repository("example")
    listed = dockerlab("images", "list", f"--registry={repository}")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == f"registry {repository}:"
    assert any(re.match(r"debian12 +[0-9a-f]{12} +image .* current$", line) for line in lines)
    kinds = [line.split()[2:4] for line in lines[2:] if line.startswith("cache ")]
    assert ["cache", "marker"] in kinds and kinds.count(["cache", "host"]) == 2
    pruned = dockerlab("images", "prune", f"--registry={repository}", "--older-than=0s")
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted cache:" in pruned.stdout and "debian12" not in pruned.stdout
    assert [t for t in registry.tags("example/cache")] == []
    assert registry.tags("example/debian12")  # current: kept
    with registry_server(tmp_path, deletes=False) as keeper:
        base = keeper.repository("keep")
        image = next(
            i for i in docker_client.images.list() if any("debian12:" in t for t in i.tags)
        )
        image.tag(f"{base}/debian12", "outdated")
        docker_client.images.push(f"{base}/debian12", "outdated")
        docker_client.images.remove(f"{base}/debian12:outdated")
        refused = dockerlab("images", "prune", f"--registry={base}", "--older-than=0s")
    assert refused.returncode == 1
    assert "refuses deletes (405)" in refused.stderr


def test_a_platform_image_of_no_distribution_of_ours_is_built_on_from_the_registry(
    registry: RegistryServer, pytester: pytest.Pytester, docker_client: Any
) -> None:
    """A Molecule platform's image that names no recipe (a company's own OS image) is
    pulled where the registry has it and made a VM-like host: a plain Debian rootfs (no
    systemd, python3 or sudo) gets them and boots. One the registry lacks fails its platform
    naming the pull and what to do instead."""
    plain = docker_client.images.list(name="pytest-dockerlab/rootfs-bookworm")
    plain = plain or docker_client.images.list(name="pytest-dockerlab/rootfs-trixie")
    base = plain[0] if plain else docker_client.images.list(name="pytest-dockerlab/debian12")[0]
    image = registry.repository("acme/our-os:1")
    base.tag(image)
    try:
        docker_client.images.push(image)
    finally:
        docker_client.images.remove(image)
    molecule_yml = (
        f"platforms:\n  - {{name: odd, image: '{image}'}}\n"
        f"  - {{name: gone, image: '{registry.repository('acme/nothere:1')}'}}\n"
    )
    scenario = pytester.path / "molecule" / "default"
    scenario.mkdir(parents=True)
    (scenario / "molecule.yml").write_text(molecule_yml)
    (scenario / "converge.yml").write_text(
        "- hosts: odd\n  tasks:\n    - ansible.builtin.command: systemctl is-system-running\n"
        "      changed_when: false\n"
    )
    result = run(pytester, "--dockerlab-molecule", str(scenario), "--dockerlab-cache", "off")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*mapped: odd: image */acme/our-os:1 names no distribution of ours: built on it "
            "where a registry answers*",
            "dockerlab: built image molecule-127-0-0-1-*-acme-our-os-1 in *",
            "dockerlab: booted odd on molecule-127-0-0-1-*-acme-our-os-1 in *",
            "platform gone: cannot build image *: no base image: pull */acme/nothere:1 failed: "
            "*; its image */acme/nothere:1 names no distribution and release this plugin builds "
            "*Give platforms[[]1[]] such an image (image: debian:12), or run every platform on "
            "one of ours with --dockerlab-image NAME",
        ]
    )
    assert "converged converge.yml" in result.stdout.str()  # odd booted and converged
    for found in docker_client.images.list(name="pytest-dockerlab/molecule-127-0-0-1-*"):
        for tag in found.tags:  # a throwaway registry's image: no other run can pull it again
            docker_client.images.remove(tag)


POOL_TESTS = """
import json, os, pathlib, signal, pytest

HOSTS = ["h1", "h2", "h3"]

@pytest.mark.parametrize("name", [pytest.param(h, marks=pytest.mark.lab(h)) for h in HOSTS])
def test_host(lab, request, name):
    engine = os.environ["DOCKER_HOST"]
    with open(pathlib.Path(request.config.rootpath, "ran"), "a") as out:
        out.write(json.dumps([request.node.callspec.id, engine]) + "\\n")
    if engine == os.environ.get("KILL_ON"):  # this engine dies under the test
        os.kill(int(os.environ["KILL_PID"]), signal.SIGKILL)
    assert lab.exec(name, "hostname").output.strip() == name
"""
POOL_LAB = "images: {matrix: [debian12, debian13]}\nhosts: {h1: {}, h2: {}, h3: {}}\n"


def share(client: Any, registry: RegistryServer, names: tuple[str, ...]) -> str:
    """Push this engine's images NAMES where the registry's repository REPO looks for them."""
    repository = registry.repository("pool")
    dockerlab("images", "build", *names).check_returncode()  # built once, if not yet
    for name in names:
        ours = client.images.list(name=f"pytest-dockerlab/{name}")[0].tags[0]
        shared = f"{repository}/{ours.split('/', 1)[1]}"  # as the registry names it
        client.images.get(ours).tag(shared)
        try:
            client.images.push(shared)
        finally:
            client.images.remove(shared)
    return repository


@pytest.fixture(scope="module")
def engine_c(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecondEngine]:
    with another_engine(tmp_path_factory.mktemp("engine-c"), index=4) as engine:
        yield engine


def test_a_run_spreads_its_labs_over_a_pool_of_engines(
    registry: RegistryServer,
    engine_b: SecondEngine,
    engine_c: SecondEngine,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
) -> None:
    """Six labs (three hosts on a two-image matrix), three workers, three engines (this
    machine's and two more dockerds, whose stores start empty and pull from the registry):
    each worker on its own engine, each lab on exactly one engine, every engine used,
    nothing left on any."""
    repository = share(docker_client, registry, ("debian12", "debian13"))
    monkeypatch.setenv("DOCKERLAB_REGISTRY", repository)
    pytester.makefile(".yml", dockerlab=POOL_LAB)
    pytester.makepyfile(test_pool=POOL_TESTS)
    pool = f"default,{engine_b.tcp},{engine_c.tcp}"
    result = run(pytester, "-n", "3", "--dockerlab-engines", pool, "--dockerlab-cache", "off")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines_random(
        [
            "dockerlab: engine default (docker *): gw0",
            f"dockerlab: engine {engine_b.tcp} (docker *): gw1",
            f"dockerlab: engine {engine_c.tcp} (docker *): gw2",
        ]
    )
    ran = ran_where(pytester.path / "ran")
    every = [f"{image}-h{i}" for image in ("debian12", "debian13") for i in (1, 2, 3)]
    assert sorted(ran) == every
    assert all(len(engines) == 1 for engines in ran.values()), ran
    (pytester.path / "ran").unlink()
    assert {e for engines in ran.values() for e in engines} >= {engine_b.tcp, engine_c.tcp}
    assert engine_b.labelled() == [] and engine_c.labelled() == []  # this engine: conftest
    listed = dockerlab("list", "--engines", f"{engine_b.tcp},{engine_c.tcp},tcp://127.0.0.1:1")
    assert listed.returncode == 1  # the engine that does not answer, said in one line
    assert listed.stdout.splitlines() == [
        f"engine {engine_b.tcp}:", f"no lab on {engine_b.tcp} (--engines)",
        f"engine {engine_c.tcp}:", f"no lab on {engine_c.tcp} (--engines)",
    ]  # fmt: skip
    assert listed.stderr.startswith("dockerlab: engine tcp://127.0.0.1:1: no Docker engine")
    # The same suite as two CI shards, each over the two engines started here: each shard
    # runs whole labs, the two together every lab, none twice.
    shard: dict[str, set[str]] = {}
    for index in ("1/2", "2/2"):
        result = run(
            pytester, "-n", "2", "--dockerlab-engines", f"{engine_b.tcp},{engine_c.tcp}",
            "--dockerlab-cache", "off", "--dockerlab-shard", index,
        )  # fmt: skip
        shard[index] = set(ran_where(pytester.path / "ran"))
        # (Under xdist the workers deselect; the controller counts only what they run.)
        assert result.parseoutcomes() == {"passed": len(shard[index])}, result.stdout.str()
        (pytester.path / "ran").unlink()
    assert shard["1/2"] and shard["2/2"] and not shard["1/2"] & shard["2/2"], shard
    assert sorted(shard["1/2"] | shard["2/2"]) == every
    assert engine_b.labelled() == [] and engine_c.labelled() == []


def ran_where(record: Path) -> dict[str, set[str]]:
    """Each test of POOL_TESTS that ran: the engines it ran on."""
    ran: dict[str, set[str]] = {}
    for line in record.read_text().splitlines():
        name, engine = json.loads(line)
        ran.setdefault(name, set()).add(engine)
    return ran
