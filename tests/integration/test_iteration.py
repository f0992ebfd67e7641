"""Fast iteration: the converge cache, keep on failure, reuse, up/shell/down and bake."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.cache import LAB_FILE

from .conftest import RECORD_SESSION, leftovers, remove_cache_entries, run, session_id

pytestmark = pytest.mark.integration

LAB = """
ansible:
  playbooks: [site.yml]
hosts:
  web: {groups: [webservers]}
  db: {groups: [dbservers]}
"""

SITE = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Write the motd
      ansible.builtin.template: {src: templates/motd.j2, dest: /etc/motd-lab}
    - name: Install a service
      ansible.builtin.copy:
        dest: /etc/systemd/system/hello.service
        content: |
          [Unit]
          Description=a service the converge installs
          [Service]
          ExecStart=/bin/sleep infinity
          [Install]
          WantedBy=multi-user.target
    - name: Enable and start it
      ansible.builtin.systemd: {name: hello, enabled: true, state: started, daemon_reload: true}
"""

TESTS = """
import pytest

@pytest.mark.lab("web,db")
def test_converged(lab):
    for name in ("web", "db"):
        host = lab.host(name)
        assert host.file("/etc/motd-lab").content_string == f"{MOTD} on {name}\\n"
        assert host.service("hello").is_running
"""


def cli(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=check,
        timeout=600,
    )


@pytest.fixture
def small_lab(pytester: pytest.Pytester, docker_client: Any) -> Iterator[pytest.Pytester]:
    """A two-host lab with a small converge; its cache entries are removed afterwards."""
    # In a folder of its own: the outer folder gets pytester's and the recorder's files,
    # which the lab's cache key would read.
    folder = pytester.mkdir("lab")
    (folder / "dockerlab.yml").write_text(LAB)
    (folder / "site.yml").write_text(SITE)
    (folder / "templates").mkdir()
    motd(pytester, "hello")
    pytester.makeconftest(RECORD_SESSION)
    pytester.makeini("[pytest]\ndockerlab_file = lab/dockerlab.yml\n")
    yield pytester
    remove_cache_entries(docker_client, folder / "dockerlab.yml")


def motd(pytester: pytest.Pytester, text: str) -> None:
    (pytester.path / "lab" / "templates" / "motd.j2").write_text(
        "{{ '" + text + "' }} on {{ inventory_hostname }}\n"
    )
    write_tests(pytester, TESTS.replace("{MOTD}", text))


def write_tests(pytester: pytest.Pytester, source: str, name: str = "test_lab.py") -> None:
    (pytester.path / "lab" / name).write_text(textwrap.dedent(source))


def test_the_cache_skips_an_unchanged_converge_and_misses_on_an_edit(
    small_lab: pytest.Pytester,
) -> None:
    cold = run(small_lab, "--dockerlab-cache=on")
    cold.assert_outcomes(passed=1)
    cold.stdout.fnmatch_lines(
        [
            "dockerlab: converge cache: miss for web, db (entry *): no entry yet*",
            "dockerlab: converging site.yml on web, db",
            "dockerlab: converge cache: saved web, db as entry * in *s",
        ]
    )
    hit = run(small_lab, "--dockerlab-cache=on")
    hit.assert_outcomes(passed=1)  # the converged files and the enabled service are there
    hit.stdout.fnmatch_lines(["dockerlab: converge cache: hit for web, db (entry *): started*"])
    assert "converging site.yml" not in hit.stdout.str()

    # A test and a README are not what a converge reads: still a hit.
    (small_lab.path / "lab" / "README.md").write_text("# notes\n")
    write_tests(small_lab, "def test_more(lab): pass\n", "test_more.py")
    run(small_lab, "--dockerlab-cache=on").stdout.fnmatch_lines(
        ["*converge cache: hit for web, db*"]
    )

    motd(small_lab, "changed")
    edited = run(small_lab, "--dockerlab-cache=on")
    edited.assert_outcomes(passed=2)
    edited.stdout.fnmatch_lines(
        ["dockerlab: converge cache: miss for web, db (entry *): changed templates/motd.j2"]
    )

    off = run(small_lab, "--dockerlab-cache=off")
    off.assert_outcomes(passed=2)
    assert "converge cache" not in off.stdout.str()
    assert "converging site.yml on web, db" in off.stdout.str()

    listing = cli("images", "list").stdout
    assert str(small_lab.path / "lab" / "dockerlab.yml") in listing
    assert "db, web" in listing or "web, db" in listing


def test_a_cache_image_that_does_not_boot_falls_back_to_a_converge(
    small_lab: pytest.Pytester, docker_client: Any
) -> None:
    run(small_lab, "--dockerlab-cache=on").assert_outcomes(passed=1)
    lab_file = str(small_lab.path / "lab" / "dockerlab.yml")
    (web,) = [
        i
        for i in docker_client.images.list(filters={"label": f"{LAB_FILE}={lab_file}"})
        if i.labels.get("pytest-dockerlab.host") == "web"
    ]
    # Replace the entry's web image by an empty one with the same labels and tag.
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    repository, tag = web.tags[0].rsplit(":", 1)
    labels = [f"LABEL {json.dumps(k)}={json.dumps(v)}" for k, v in web.labels.items()]
    docker_client.api.import_image_from_data(
        empty.getvalue(), repository=repository, tag=tag, changes=[*labels, 'CMD ["/sbin/init"]']
    )
    docker_client.images.remove(web.id, force=True)

    result = run(small_lab, "--dockerlab-cache=on")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "dockerlab: converge cache: entry * did not boot (*); removing it and converging",
            "dockerlab: converging site.yml on web, db",
            "dockerlab: converge cache: saved web, db as entry *",
        ]
    )
    assert leftovers(docker_client, session_id(small_lab)) == []


FAILING = """
def test_leaves_a_mark_then_fails(lab):
    lab.exec("web", "echo from-the-first-run > /root/mark", check=True)
    assert False, "a failure to look into"
"""

REUSED = """
def test_same_host_as_before(lab):
    assert lab.host("web").file("/root/mark").content_string == "from-the-first-run\\n"
"""


def test_keep_on_failure_keeps_the_lab_and_reuse_runs_on_it(
    small_lab: pytest.Pytester, docker_client: Any
) -> None:
    write_tests(small_lab, "def test_passes(lab): pass\n")
    run(small_lab, "--dockerlab-keep=on-failure").assert_outcomes(passed=1)
    assert leftovers(docker_client, session_id(small_lab)) == []  # passed: nothing kept

    write_tests(small_lab, FAILING)
    failed = run(small_lab, "--dockerlab-keep=on-failure", "--dockerlab-cache=off")
    failed.assert_outcomes(failed=1)
    sid = session_id(small_lab)
    failed.stdout.fnmatch_lines(
        [
            f"kept lab {sid} (*); enter a host with:",
            f"  dockerlab shell web --session {sid}"
            f"   # or: docker exec -it dockerlab-{sid}-main-web bash",
            f"  pytest --dockerlab-reuse={sid}",
            f"  dockerlab down --session {sid}",
            "ansible-runner's data (inventory, artifacts): *",
        ]
    )
    runner_dir = Path(failed.stdout.str().split("artifacts): ")[1].split()[0])
    assert list(runner_dir.glob("run-*/inventory/hosts*"))
    kept = leftovers(docker_client, sid)
    assert f"dockerlab-{sid}-main-web" in kept

    write_tests(small_lab, REUSED)
    reused = run(small_lab, "--dockerlab-reuse")
    reused.assert_outcomes(passed=1)
    reused.stdout.fnmatch_lines(
        [
            f"dockerlab: reusing kept lab {sid} (db, web)",
            "dockerlab: reused lab: web, db converged with the same content; no converge",
        ]
    )
    assert "converging" not in reused.stdout.str()
    assert session_id(small_lab) == sid
    assert sorted(leftovers(docker_client, sid)) == sorted(kept)  # still kept, nothing new

    motd(small_lab, "edited")
    write_tests(small_lab, REUSED)
    again = run(small_lab, f"--dockerlab-reuse={sid}", "--dockerlab-cache=on")
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["dockerlab: reused lab: web, db converge again*"])
    # Hosts that hold earlier converges and a failed test's doings are no cache entry.
    assert "converge cache" not in again.stdout.str()

    # Its network removed by hand: refused before anything starts, the lab left as it was.
    network = f"dockerlab-{sid}-main-net"
    for name in ("web", "db"):
        docker_client.api.stop(f"dockerlab-{sid}-main-{name}")
    docker_client.networks.get(network).remove()
    broken = run(small_lab, f"--dockerlab-reuse={sid}")
    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    broken.stderr.fnmatch_lines(
        [
            f"ERROR: dockerlab: kept lab {sid} cannot be reused: its network {network} was "
            f"removed, and its hosts cannot start without it. 'dockerlab down --session {sid}' "
            "removes the rest of it; a run without --dockerlab-reuse makes a new lab."
        ]
    )
    assert sorted(leftovers(docker_client, sid)) == sorted(set(kept) - {network})

    down = cli("down", "--session", sid, cwd=small_lab.path / "lab")
    # web and db, and the volume that marks the lab as kept
    assert down.stdout.strip() == f"removed kept lab {sid}: 2 containers, 0 networks, 1 volume"
    assert leftovers(docker_client, sid) == []
    assert not runner_dir.exists()
    gone = run(small_lab, f"--dockerlab-reuse={sid}")
    assert gone.ret == pytest.ExitCode.USAGE_ERROR
    gone.stderr.fnmatch_lines([f"ERROR: dockerlab: no lab of session {sid} on the engine; *"])


def test_up_shell_and_down_in_a_real_terminal(
    small_lab: pytest.Pytester, docker_client: Any
) -> None:
    import pexpect

    up = cli("up", "web", "--converge", cwd=small_lab.path / "lab")
    sid = up.stdout.split("kept lab ", 1)[1].split()[0]
    assert f"dockerlab shell web --session {sid}" in up.stdout
    try:
        dockerlab = Path(sys.executable).parent / "dockerlab"  # the console script
        shell = pexpect.spawn(
            str(dockerlab), ["shell", "web"], cwd=str(small_lab.path / "lab"), timeout=60,
            encoding="utf-8", env={**os.environ, "TERM": "dumb"},
        )  # fmt: skip
        shell.expect(r"[#$] ")
        shell.sendline("cat /etc/motd-lab; echo tty=$(tty | cut -c1-8); hostname")
        shell.expect("hello on web")
        shell.expect("tty=/dev/pts")
        shell.expect("web")
        shell.sendline("exit 3")
        shell.expect(pexpect.EOF)
        shell.close()
        assert shell.exitstatus == 3
    finally:
        down = cli("down", cwd=small_lab.path / "lab", check=False)
    assert down.stdout.startswith(f"removed kept lab {sid}")
    assert leftovers(docker_client, sid) == []
    nothing = cli("down", cwd=small_lab.path / "lab", check=False)
    assert nothing.returncode == 1
    assert "no kept lab of " in nothing.stderr


def test_a_baked_image_boots_outside_the_plugin_with_the_service_running(
    small_lab: pytest.Pytester, docker_client: Any, tmp_path: Path
) -> None:
    tag = f"dockerlab-test-baked:{os.getpid()}"
    baked = cli("bake", "web", "--tag", tag, "--lab", str(small_lab.path / "lab" / "dockerlab.yml"))
    assert f"baked web of {small_lab.path / 'lab' / 'dockerlab.yml'} as {tag}" in baked.stdout
    command = baked.stdout.split("boot it with:\n", 1)[1].splitlines()[0].strip()
    seccomp = tmp_path / "sandbox.json"
    seccomp.write_text(cli("seccomp").stdout)
    argv = shlex.split(command.replace("sandbox.json", str(seccomp)))
    argv[argv.index("--name") + 1] = name = f"baked-{os.getpid()}"
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True)
        state = ""
        for _ in range(100):
            probe = docker_client.containers.get(name).exec_run("systemctl is-system-running")
            state = probe.output.decode().strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        assert state in ("running", "degraded")
        active = docker_client.containers.get(name).exec_run("systemctl is-active hello")
        assert active.output.decode().strip() == "active"
        image = docker_client.images.get(tag)
        assert image.labels["pytest-dockerlab.baked-from"].endswith("dockerlab.yml:web")
        assert "pytest-dockerlab.session" not in image.labels  # not one of a session's
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
