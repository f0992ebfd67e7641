"""Another engine than the local default: one reached over TCP, one named by a docker context.

A second dockerd, started here with its own data root, exec root, bridge and a localhost
TCP port, stands in for a remote machine: nothing it holds is on the first engine, so a
client that talked to the wrong one (the SDK, Ansible's connection or testinfra) fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab import labels as lbl

from .conftest import RECORD_SESSION, SecondEngine, another_engine, leftovers, run, session_id

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def second_engine(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecondEngine]:
    """A dockerd of its own on 127.0.0.1:PORT and a socket that is not the default one."""
    with another_engine(tmp_path_factory.mktemp("engine2"), index=2) as engine:
        yield engine


def test_two_machines_building_on_one_engine_build_each_image_once(
    second_engine: SecondEngine,
) -> None:
    """The build lock is on the engine: a second client waits, then finds the image built."""
    env = {**os.environ, "DOCKER_HOST": second_engine.tcp}
    argv = [sys.executable, "-m", "pytest_dockerlab", "images", "build", "debian12"]
    first = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    time.sleep(1)
    second = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    outputs = [p.communicate(timeout=900)[0] for p in (first, second)]
    both = "\n".join(outputs)
    assert (first.returncode, second.returncode) == (0, 0), both
    # One build: in one mmdebstrap pass, or a bootstrapped base and the Dockerfile.
    assert both.count("bootstrapping Debian bookworm") <= 1, both
    assert both.count("building image debian12") == 1, both
    assert "waiting for pid" in outputs[1], outputs[1]
    locks = second_engine.client.containers.list(all=True, filters={"label": lbl.LOCK})
    assert locks == []  # released


def test_the_example_passes_on_an_engine_over_tcp(
    second_engine: SecondEngine,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
) -> None:
    shutil.copytree(EXAMPLES, pytester.path, dirs_exist_ok=True)
    pytester.makeconftest(RECORD_SESSION)
    monkeypatch.setenv("DOCKER_HOST", second_engine.tcp)
    result = run(pytester, "--dockerlab-artifacts", str(pytester.path / "artifacts"))
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines([f"dockerlab: engine {second_engine.tcp} (DOCKER_HOST)"])
    sid = session_id(pytester)
    assert second_engine.labelled() == []
    assert leftovers(docker_client, sid) == []  # nothing went to the first engine either
    # What CI uploads: each host's journal and failed units, each Ansible run.
    lab = pytester.path / "artifacts" / f"dockerlab-{sid}-main"
    journal = (lab / "hosts" / "web" / "journal.txt").read_text()
    assert "nginx" in journal
    assert (lab / "hosts" / "db" / "failed-units.txt").read_text().strip() == "(no failed units)"
    runs = sorted(p.name for p in (lab / "ansible").iterdir())
    assert runs == ["01-site", "02-site"]  # the converge and the idempotence pass
    assert (lab / "ansible" / "01-site" / "rc").read_text().strip() == "0"
    assert "PLAY RECAP" in (lab / "ansible" / "01-site" / "stdout").read_text()
    command = json.loads((lab / "ansible" / "01-site" / "command").read_text())
    assert set(command) == {"command", "cwd"}  # not the environment: no CI secrets


CONTEXT_LAB = """
hosts:
  node: {image: debian12}
ansible:
  playbooks: [site.yml]
"""

BARE_LAB = "hosts:\n  node: {image: debian12}\n"

CONTEXT_PLAY = """
- hosts: all
  tasks:
    - copy: {dest: /etc/motd, content: "reached through a context\\n"}
"""

CONTEXT_TEST = """
import pytest

@pytest.mark.lab("node")
def test_the_converge_and_testinfra_reach_the_contexts_engine(lab):
    assert lab.host("node").file("/etc/motd").content_string == "reached through a context\\n"
"""


def test_a_docker_context_on_another_socket_is_used_by_every_client(
    second_engine: SecondEngine,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: Any,
) -> None:
    """No DOCKER_HOST: the current context of the CLI's config names the second engine. The
    container exists there only: Ansible's connection or testinfra on the default socket
    would not find it."""
    config = pytester.path / "docker-config"
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    for argv in (
        ["docker", "context", "create", "second", "--docker", f"host={second_engine.unix}"],
        ["docker", "context", "use", "second"],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    pytester.makefile(".yml", dockerlab=CONTEXT_LAB, site=CONTEXT_PLAY)
    pytester.makeconftest(RECORD_SESSION)
    pytester.makepyfile(CONTEXT_TEST)
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"dockerlab: engine {second_engine.unix} (docker context 'second')"]
    )
    assert second_engine.labelled() == []
    assert leftovers(docker_client, session_id(pytester)) == []


DIES = """
import os, signal, pytest

@pytest.mark.lab("node")
def test_dies(lab):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_session_on_a_remote_engine_is_reaped(
    second_engine: SecondEngine, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reaper talks to the engine the session used (the address handed to it)."""
    monkeypatch.setenv("DOCKER_HOST", second_engine.tcp)
    pytester.makefile(".yml", dockerlab=BARE_LAB)
    pytester.makeconftest(RECORD_SESSION)
    pytester.makepyfile(DIES)
    run(pytester)
    sid = session_id(pytester)
    deadline = time.monotonic() + 20
    while leftovers(second_engine.client, sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(second_engine.client, sid) == []


def test_the_sweep_never_guesses_about_another_machines_lab(
    second_engine: SecondEngine, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a shared engine, a lab whose owner is another machine is never swept (its pid
    means nothing here); one whose owner was a process on this machine that is gone is."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    owners = {
        "e15e0000": {lbl.OWNER_HOST: "another-machine", lbl.OWNER_PID: str(dead.pid)},
        "dead0000": {lbl.OWNER_HOST: socket.gethostname(), lbl.OWNER_PID: str(dead.pid)},
    }
    for name, owner in owners.items():
        labels = {lbl.SESSION: name, lbl.WORKER: "main", **owner}
        second_engine.client.networks.create(f"dockerlab-{name}-main-net", labels=labels)
    monkeypatch.setenv("DOCKER_HOST", second_engine.tcp)
    pytester.makefile(".yml", dockerlab=BARE_LAB)
    pytester.makepyfile("import pytest\n@pytest.mark.lab('node')\ndef test_ok(lab): pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*removing leftovers of dead session dead0000*"])
    remaining = [n.name for n in second_engine.client.networks.list(filters={"label": lbl.SESSION})]
    assert remaining == ["dockerlab-e15e0000-main-net"]
    second_engine.client.networks.get("dockerlab-e15e0000-main-net").remove()
