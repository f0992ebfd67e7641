"""An engine that dies or hangs under a session: one error per lost lab, naming the engine and
the hosts, no library traceback, the exact line that removes what may remain, and no wait
longer than the call's bound.

The engine is a second dockerd of the test's own (the main one serves the rest of the
suite), in a network namespace of its own (see ``another_engine``), given the base image
from the main engine rather than building it again.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.docker_engine import CALL_TIMEOUT
from pytest_dockerlab.images import catalogue

from .conftest import SecondEngine, another_engine

pytestmark = pytest.mark.integration

LAB = """
ansible:
  playbooks: [site.yml]
hosts:
  web: {}
  db: {}
"""
SLOW_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Take a while
      ansible.builtin.command: sleep 30
"""
QUICK_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
"""
TESTS = """
import pathlib, time
import pytest

@pytest.mark.lab("web")
def test_web(lab):
    pathlib.Path("session-id").write_text(lab.session_id)
    pathlib.Path("in-test").touch()
    time.sleep(8)  # the engine goes meanwhile
    assert lab.host("web").file("/etc").is_directory

@pytest.mark.lab("db")
def test_db(lab):
    assert lab.host("db").file("/etc").is_directory

def test_both(lab):
    assert lab.exec("db", "true").rc == 0
"""


@pytest.fixture(scope="module")
def mortal(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondEngine]:
    """An engine to kill, holding the main engine's debian12 image."""
    tag = catalogue()["debian12"].tag
    subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", "images", "build", "debian12"],
        check=True, capture_output=True,
    )  # fmt: skip
    with another_engine(tmp_path_factory.mktemp("mortal"), index=5, isolated=True) as engine:
        engine.client.images.load(b"".join(docker_client.images.get(tag).save(named=tag)))
        yield engine


@pytest.fixture(autouse=True)
def _alive(mortal: SecondEngine) -> None:
    """Each test starts with the engine up, whatever the one before left."""
    if mortal.process is None or mortal.process.poll() is not None:
        mortal.start()
    mortal.thaw()


def session(folder: Path, engine: SecondEngine) -> subprocess.Popen[str]:
    """A pytest session on ``engine`` in ``folder``, its output read line by line."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=folder,
        env={**_environ(), "DOCKER_HOST": engine.unix, "DOCKERLAB_CACHE": "off"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def when_seen(process: subprocess.Popen[str], line: str, act: Any) -> list[str]:
    """All of ``process``'s output; ``act()`` runs once, in a thread, when ``line`` shows."""
    assert process.stdout is not None
    lines: list[str] = []
    with process.stdout:
        for text in process.stdout:
            lines.append(text.rstrip("\n"))
            if line in text and len([x for x in lines if line in x]) == 1:
                threading.Thread(target=act, daemon=True).start()
    process.wait(600)
    return lines


def frozen_when(
    process: subprocess.Popen[str], line: str, engine: SecondEngine, ready: Any
) -> tuple[list[str], float]:
    """``process``'s output, with ``engine`` frozen once ``line`` shows and ``ready()`` is
    true; the seconds from the freeze to the session's end. The engine is thawed after."""
    frozen: list[float] = []

    def freeze() -> None:
        while not ready():
            time.sleep(0.2)
        engine.freeze()
        frozen.append(time.monotonic())

    lines = when_seen(process, line, freeze)
    waited = time.monotonic() - frozen[0]
    engine.thaw()
    return lines, waited


def seconds_later(seconds: float) -> Any:
    """True once ``seconds`` have passed since it was first asked."""
    first: list[float] = []

    def ready() -> bool:
        first.append(time.monotonic())
        return first[-1] - first[0] >= seconds

    return ready


def lab_folder(tmp_path: Path, play: str) -> Path:
    (tmp_path / "dockerlab.yml").write_text(LAB)
    (tmp_path / "site.yml").write_text(play)
    (tmp_path / "test_lab.py").write_text(TESTS)
    return tmp_path


def assert_one_story(lines: list[str], engine: SecondEngine, sid: str) -> None:
    """One error names the engine, the hosts and the clean-up line; the others point to it;
    no library traceback anywhere."""
    output = "\n".join(lines)
    clean = f"dockerlab clean --session {sid}"
    # Not the short summary at the end, whose lines CI shows whole.
    errors = [x for x in lines if not x.startswith(("ERROR ", "FAILED "))]
    assert sum(f"lab lost: the engine at {engine.unix} (DOCKER_HOST) stopped answering" in x
               for x in errors) == 1, output  # fmt: skip
    assert "hosts web, db went with it" in output, output
    assert f"'{clean}' removes it" in output, output
    assert f"does not answer. Once it does: {clean}" in output, output
    assert sum(f"lab lost with the engine at {engine.unix} (DOCKER_HOST): see" in x
               for x in errors) == 2, output  # fmt: skip
    for noise in ("urllib3", "requests.exceptions", "Traceback (most recent call last)"):
        assert noise not in output, output
    assert len(lines) < 120, output


def then_clean(engine: SecondEngine, sid: str) -> None:
    """Once the engine answers again, the line the session printed removes what remained."""
    cleaned = subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", "clean", "--session", sid],
        env={**_environ(), "DOCKER_HOST": engine.unix},
        capture_output=True, text=True,
    )  # fmt: skip
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.startswith(f"removed session {sid}: 2 containers"), cleaned.stdout
    assert engine.labelled() == []


def test_an_engine_killed_mid_converge_loses_the_lab_in_one_error(
    mortal: SecondEngine, tmp_path: Path
) -> None:
    folder = lab_folder(tmp_path, SLOW_PLAY)
    process = session(folder, mortal)

    def kill() -> None:
        time.sleep(5)
        mortal.kill()

    lines = when_seen(process, "converging site.yml", kill)
    output = "\n".join(lines)
    assert process.returncode == 1, output
    assert lines[-1].startswith("=") and "3 errors" in lines[-1], output
    sid = next(x for x in lines if "; session " in x).rsplit("session ", 1)[1].rstrip(")")
    assert_one_story(lines, mortal, sid)
    mortal.start()
    then_clean(mortal, sid)


def test_an_engine_that_hangs_mid_test_is_given_up_on_within_its_bound(
    mortal: SecondEngine, tmp_path: Path
) -> None:
    folder = lab_folder(tmp_path, QUICK_PLAY)
    process = session(folder, mortal)
    in_test = (folder / "in-test").exists
    lines, waited = frozen_when(process, "converged site.yml", mortal, in_test)
    output = "\n".join(lines)
    assert process.returncode == 1, output
    assert "1 failed, 2 errors" in lines[-1], output
    assert f"nothing for {CALL_TIMEOUT} s, on inspect" in output, output
    # The test slept 8 s after the freeze; one call's bound after that, and no more waits.
    assert waited < 8 + CALL_TIMEOUT + 15, output
    assert_one_story(lines, mortal, (folder / "session-id").read_text())
    then_clean(mortal, (folder / "session-id").read_text())


def test_an_engine_that_hangs_mid_converge_is_given_up_on_within_30_s_of_silence(
    mortal: SecondEngine, tmp_path: Path
) -> None:
    """Ansible's connection (the docker CLI) would wait on a hung engine forever."""
    folder = lab_folder(tmp_path, SLOW_PLAY)
    process = session(folder, mortal)
    lines, waited = frozen_when(process, "converging site.yml", mortal, seconds_later(5))
    output = "\n".join(lines)
    assert process.returncode == 1, output
    assert lines[-1].startswith("=") and "3 errors" in lines[-1], output
    assert "no answer to a ping for 30 s, on converge" in output, output
    # 30 s of silence, a ping's own bound and the watch's period; the play alone takes 30 s.
    assert waited < 30 + 10 + 5 + 15, output
    sid = next(x for x in lines if "; session " in x).rsplit("session ", 1)[1].rstrip(")")
    assert_one_story(lines, mortal, sid)
    then_clean(mortal, sid)


PASSING = """
import pathlib, time

def test_passes(lab):
    pathlib.Path("session-id").write_text(lab.session_id)
    assert lab.host("web").file("/etc").is_directory
    pathlib.Path("in-test").touch()
    time.sleep(3)  # the engine hangs before the teardown
"""


def test_a_lab_left_on_a_hung_engine_fails_the_run_though_every_test_passed(
    mortal: SecondEngine, tmp_path: Path
) -> None:
    folder = lab_folder(tmp_path, QUICK_PLAY)
    (folder / "test_lab.py").write_text(PASSING)
    process = session(folder, mortal)
    lines, _ = frozen_when(process, "converged site.yml", mortal, (folder / "in-test").exists)
    output = "\n".join(lines)
    sid = (folder / "session-id").read_text()
    assert "1 passed" in lines[-1], output
    assert process.returncode == 1, output  # CI must not take it for a clean run
    assert (
        f"the lab of session {sid} may remain on {mortal.unix} (DOCKER_HOST), which stopped "
        f"answering; once it answers: dockerlab clean --session {sid}"
    ) in lines, output
    then_clean(mortal, sid)


POOL_TESTS = """
import os, pathlib, signal, pytest

@pytest.mark.parametrize("name", [pytest.param(h, marks=pytest.mark.lab(h))
                                  for h in ("h1", "h2", "h3", "h4", "h5", "h6")])
def test_host(lab, name):
    engine = os.environ["DOCKER_HOST"]
    if engine == os.environ["KILL_ON"] and not pathlib.Path("killed").exists():
        pathlib.Path("killed").touch()  # this engine dies under its first test
        os.kill(int(os.environ["KILL_PID"]), signal.SIGKILL)
    assert lab.exec(name, "hostname").output.strip() == name
"""


# The mortal engine dies as its worker starts, after the controller found it answering.
DIES_AT_START = """
import os, pathlib, signal

def pytest_configure(config):
    engine = getattr(config, "workerinput", {}).get("dockerlab_engine")
    if engine == os.environ["KILL_ON"] and not pathlib.Path("killed").exists():
        pathlib.Path("killed").touch()
        os.kill(int(os.environ["KILL_PID"]), signal.SIGKILL)
"""


def pool_run(folder: Path, mortal: SecondEngine, *options: str, at_start: bool = False) -> str:
    """Two workers over a pool of this machine's engine and the mortal one, which dies
    under its first test (``at_start``: as its worker starts); six labs of one host each.
    The run's output."""
    (folder / "dockerlab.yml").write_text(
        "hosts: {h1: {}, h2: {}, h3: {}, h4: {}, h5: {}, h6: {}}\n"
    )
    (folder / "test_pool.py").write_text(POOL_TESTS)
    if at_start:
        (folder / "conftest.py").write_text(DIES_AT_START)
    assert mortal.process is not None
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-n", "2", "-rfE", "--dockerlab-engines", f"default,{mortal.unix}", *options],
        cwd=folder, capture_output=True, text=True, timeout=600,
        env={**_environ(), "KILL_ON": mortal.unix, "KILL_PID": str(mortal.process.pid),
             "DOCKERLAB_CACHE": "off"},
    )  # fmt: skip
    return f"{result.stdout}\nexit status {result.returncode}"


def test_an_engine_of_a_pool_that_dies_errors_only_its_labs(
    mortal: SecondEngine, tmp_path: Path
) -> None:
    """The tests of the labs on the engine that died fail naming it, its worker takes no
    more labs, the other engine runs every lab left, and the run says what may remain."""
    out = pool_run(tmp_path, mortal)
    assert out.endswith("exit status 1"), out
    failed = [line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert 1 <= len(failed) <= 2, out  # what was on the mortal engine when it died
    # Each names the engine; the first says what removes what may remain there.
    assert f"lab lost: the engine at {mortal.unix}" in out, out
    if len(failed) == 2:  # a second lab was on it already: it points to the first
        assert f"lab lost with the engine at {mortal.unix}" in out, out
    # The line names that engine: it is not the one a shell's docker reaches.
    clean = f"once the engine answers, 'DOCKER_HOST={mortal.unix} dockerlab clean --session "
    assert clean in out, out
    passed = int(out.rsplit(" passed", 1)[0].rsplit(" ", 1)[-1])
    assert passed == 6 - len(failed), out  # every other lab ran, on this machine's engine


def test_with_retries_a_lab_lost_with_its_engine_runs_again_on_another(
    mortal: SecondEngine, tmp_path: Path
) -> None:
    """--dockerlab-retry-lost-labs: the lost tests are reported as reruns and run again on
    the worker of the engine that answers, JUnit XML listing each once; the summary names
    the engine, both workers and the line that removes what may remain there, and the run
    fails while it may (the engine stays dead), as a lab lost without retries does."""
    out = pool_run(tmp_path, mortal, "--dockerlab-retry-lost-labs", "--junitxml=junit.xml")
    assert out.endswith("exit status 1"), out
    assert "a lab lost with its engine runs once more on another" in out, out
    assert re.search(r" 6 passed, [12] rerun in ", out), out
    moved = re.findall(
        r"lab (\S+) was lost with engine (\S+) on (gw\d): its lost test ran again "
        r"on (gw\d) \(--dockerlab-retry-lost-labs\)\. What session (\S+) made may remain "
        r"there, so the run fails; once it answers: dockerlab clean --session (\S+) "
        r"--engines (\S+)\n",
        out,
    )
    assert 1 <= len(moved) <= 2, out
    for _lab, engine, lost_on, ran_on, session, clean, engines in moved:
        assert (engine, lost_on, ran_on, clean, engines) == (
            mortal.unix, "gw1", "gw0", session, mortal.unix
        ), out  # fmt: skip
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    names = sorted(case.get("name", "") for case in cases)
    assert names == [f"test_host[h{i}]" for i in range(1, 7)], names  # each once
    # Once the engine answers, the printed line (as printed) removes what remained, unless
    # the lost worker's reaper, which waits for the engine, was there first.
    assert mortal.process is not None
    mortal.process.wait(timeout=30)
    mortal.start()
    for _lab, _engine, _lost_on, _ran_on, session, _clean, engines in moved:
        cleaned = subprocess.run(
            [sys.executable, "-m", "pytest_dockerlab", "clean", "--session", session,
             "--engines", engines],
            env=_environ(), capture_output=True, text=True,
        )  # fmt: skip
        reaped = f"no resource carries session {session} on {engines} (--engines)"
        assert cleaned.returncode == 0 or reaped in cleaned.stderr, cleaned.stderr
    assert mortal.labelled() == []


def test_an_engine_that_dies_as_its_worker_starts_loses_its_labs_and_the_run_ends(
    mortal: SecondEngine, tmp_path: Path
) -> None:
    """The worker whose engine no longer answered when it collected stopped there, and the
    controller waited for its collection forever. Its tests now error naming the engine,
    and with retries its labs run on the other engine: nothing was made on the dead one,
    so the run passes."""
    out = pool_run(tmp_path, mortal, "--dockerlab-retry-lost-labs", at_start=True)
    assert out.endswith("exit status 0"), out
    assert re.search(r" 6 passed, [1-9] rerun in ", out), out
    assert "It made nothing there (the engine did not answer when the worker started)." in out
    (tmp_path / "killed").unlink()
    mortal.process.wait(timeout=30)  # type: ignore[union-attr]
    mortal.start()
    out = pool_run(tmp_path, mortal, at_start=True)
    assert out.endswith("exit status 1"), out
    assert f"no Docker engine reachable at {mortal.unix}" in out, out
