"""Every way out of a session: signals at each stage end it promptly, say where, leave nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from .conftest import leftovers, write_recipe

SLOW_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: take a while
      command: sleep 60
"""


FAST_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
"""


def start(pytester: pytest.Pytester, *args: str) -> subprocess.Popen[str]:
    process: subprocess.Popen[str] = pytester.popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        # A suite started in the background (`.ci/run &`) inherits SIGINT ignored, and so
        # would the session: Python installs its Ctrl-C handler only where SIGINT is not.
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    return process


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(proc: subprocess.Popen[str], text: str, timeout: float = 300) -> list[str]:
    """Read the session's output until a line contains ``text``."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; output:\n{''.join(seen)}")


def session_of(lines: list[str]) -> str:
    """The session id from the run's header."""
    header = next(line for line in lines if line.startswith("dockerlab: ") and "session " in line)
    return header.rsplit("session ", 1)[1].rstrip(")\n")


def interrupt(proc: subprocess.Popen[str], signum: int) -> tuple[float, str]:
    """Send ``signum``; return seconds until the session exited, and the rest of its output."""
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        rest, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()  # closes its pipe: a later test must not find it unclosed
        raise
    return time.monotonic() - sent, rest


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_the_converge_ends_the_session(
    pytester: pytest.Pytester, docker_client: Any, signum: int
) -> None:
    pytester.makefile(".yml", dockerlab="ansible: {playbooks: [site.yml]}\nhosts:\n  web: {}\n")
    (pytester.path / "site.yml").write_text(SLOW_PLAYBOOK)
    pytester.makepyfile("def test_a(lab): pass\ndef test_b(lab): pass\n")
    proc = start(pytester)
    sid = session_of(wait_for(proc, "converging site.yml on web"))
    time.sleep(2)  # inside the task now
    elapsed, rest = interrupt(proc, signum)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, rest
    assert elapsed < 15, rest
    assert "dockerlab: interrupted while setting up " in rest
    assert "(last lab step: converging site.yml on web); removing the lab of session" in rest
    assert "1 passed" not in rest and "2 error" not in rest  # the session did not go on
    assert leftovers(docker_client, sid) == []


def test_a_signal_while_a_host_hangs_in_boot_does_not_wait_for_the_timeout(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    write_recipe(
        pytester.path,
        "neverready",
        'ARG BASE\nFROM ${BASE}\nCMD ["sleep", "infinity"]\n',
        "init: systemd\nbase: debian:12\nbootstrap: bookworm\n",
    )
    pytester.makefile(
        ".yml", dockerlab="images: {recipes: [recipes]}\nhosts:\n  stuck: {image: neverready}\n"
    )
    pytester.makepyfile("def test_x(lab): pass\n")
    proc = start(pytester, "--dockerlab-boot-timeout", "300")
    sid = session_of(wait_for(proc, "booting stuck"))
    time.sleep(2)
    elapsed, rest = interrupt(proc, signal.SIGTERM)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, rest
    assert elapsed < 10, rest
    assert "(last lab step: booting stuck)" in rest
    assert leftovers(docker_client, sid) == []


@pytest.mark.parametrize(
    ("playbook", "signum"),
    [
        ("", signal.SIGINT),
        # ansible-runner's own handlers used to stay after a run: Ctrl-C was ignored from then.
        ("site.yml", signal.SIGINT),
        ("site.yml", signal.SIGTERM),
    ],
    ids=["SIGINT", "SIGINT-after-a-playbook", "SIGTERM-after-a-playbook"],
)
def test_a_signal_during_a_test_removes_the_lab(
    pytester: pytest.Pytester, docker_client: Any, playbook: str, signum: int
) -> None:
    ansible = f"ansible: {{playbooks: [{playbook}]}}\n" if playbook else ""
    pytester.makefile(".yml", dockerlab=f"{ansible}hosts:\n  web: {{}}\n")
    (pytester.path / "site.yml").write_text(FAST_PLAYBOOK)
    pytester.makepyfile(
        """
        import time

        def test_slow(lab):
            print("test started", flush=True)
            time.sleep(120)
        """
    )
    proc = start(pytester, "-s")
    sid = session_of(wait_for(proc, "test started"))
    elapsed, rest = interrupt(proc, signum)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, rest
    assert elapsed < 10, rest
    assert "dockerlab: interrupted while running test_a_signal_during_a_test" in rest
    assert leftovers(docker_client, sid) == []


def test_a_host_killed_mid_session_is_named_with_its_exit_code(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    pytester.makefile(".yml", dockerlab="hosts:\n  web: {}\n")
    pytester.makepyfile(
        """
        import subprocess

        def test_dead(lab):
            subprocess.run(["docker", "kill", lab.container("web")], check=True)
            subprocess.run(["docker", "wait", lab.container("web")], check=True)
            lab.exec("web", "true")

        def test_testinfra_on_a_dead_host(lab):
            lab.host("web")

        def test_restart_brings_it_back(lab):
            lab.restart("web")
            assert lab.exec("web", "true").rc == 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=600)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*HostGoneError: host 'web' is down: container dockerlab-*-web exited, exit code 137;"
            " lab.restart('web') boots it again",
        ]
    )
    assert "Windows" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*- dockerlab web: host is down -*"])


def test_a_signal_during_an_image_build_ends_the_session(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    write_recipe(
        pytester.path,
        "slowbuild",
        'ARG BASE\nFROM ${BASE}\nRUN sleep 120\nCMD ["/sbin/init"]\n',
        "init: systemd\nbase: debian:12\nbootstrap: bookworm\n",
    )
    pytester.makefile(
        ".yml", dockerlab="images: {recipes: [recipes]}\nhosts:\n  web: {image: slowbuild}\n"
    )
    pytester.makepyfile("def test_x(lab): pass\n")
    proc = start(pytester, "-rs")
    sid = session_of(wait_for(proc, "RUN sleep 120"))
    time.sleep(1)
    if proc.poll() is not None:  # the build ended by itself: say why, not "not interrupted"
        raise AssertionError("the build did not last:\n" + proc.communicate()[0])
    elapsed, rest = interrupt(proc, signal.SIGTERM)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, rest
    assert elapsed < 15, rest
    assert "(last lab step: " in rest and "slowbuild" in rest
    assert leftovers(docker_client, sid) == []
    built = [t for i in docker_client.images.list() for t in i.tags if "slowbuild" in t]
    assert built == [], "an interrupted build must not leave a tagged image"
