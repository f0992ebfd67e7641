"""A real engine: boot, name resolution, restart, selection, diagnostics, clean-up."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any
from xml.etree import ElementTree

import pytest

from pytest_dockerlab.images import catalogue

from .conftest import leftovers, run, session_id, write_recipe

pytestmark = pytest.mark.integration


def test_the_issue_example_boots_resolves_restarts_and_leaves_nothing(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makepyfile(
        """
        import pytest

        @pytest.mark.lab("web,db")
        def test_db_resolves_from_web(lab):
            web = lab.host("web")
            assert web.run("getent hosts db").rc == 0
            assert web.service("systemd-journald").is_running
            assert web.check_output("hostname") == "web"
            assert web.check_output("cat /proc/1/comm") == "systemd"
            assert lab.exec("db", "systemctl is-system-running").output.strip() == "running"

        @pytest.mark.lab("web")
        def test_survives_restart(lab):
            lab.exec("web", "touch /var/tmp/marker && echo gone > /run/volatile", check=True)
            lab.restart("web")
            web = lab.host("web")
            assert web.system_info.type == "linux"
            assert web.file("/var/tmp/marker").exists      # disk survives, like a reboot
            assert not web.file("/run/volatile").exists    # tmpfs does not
            assert web.run("getent hosts db").rc == 0      # still on the lab network
        """
    )
    result = run(labdir)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["dockerlab: booted web, db on debian12 in *s (* profile, *)"])
    assert leftovers(docker_client, session_id(labdir)) == []


def test_only_the_hosts_selected_tests_name_are_started(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makepyfile(
        """
        import docker, pytest

        @pytest.mark.lab("web")
        def test_web(lab):
            client = docker.from_env()
            mine = client.containers.list(
                filters={"label": f"pytest-dockerlab.session={lab.session_id}"})
            assert sorted(c.labels["pytest-dockerlab.host"] for c in mine) == ["web"]
            client.close()

        @pytest.mark.lab("db")
        def test_db(lab):
            raise AssertionError("deselected: must not run")
        """
    )
    result = run(labdir, "-k", "test_web")
    result.assert_outcomes(passed=1, deselected=1)
    assert leftovers(docker_client, session_id(labdir)) == []


def test_a_host_outside_the_marker_is_refused_by_name(labdir: pytest.Pytester) -> None:
    labdir.makepyfile(
        """
        import pytest
        from pytest_dockerlab.exceptions import HostNotSelectedError

        @pytest.mark.lab("web")
        def test_x(lab):
            assert lab.hosts == ("web",)
            with pytest.raises(HostNotSelectedError, match="host 'db' is not in this test's lab"):
                lab.host("db")
        """
    )
    run(labdir).assert_outcomes(passed=1)


def test_a_failing_test_shows_failed_units_and_journal_and_still_cleans_up(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makepyfile(
        """
        import pytest

        @pytest.mark.lab("web")
        def test_broken_service(lab):
            lab.exec("web", "systemd-run --unit=brokenapp /bin/false")
            assert lab.host("web").service("brokenapp").is_running
        """
    )
    result = run(labdir, "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- dockerlab web: systemctl --failed -*",
            "*brokenapp.service*failed*",
            "*- dockerlab web: journal tail -*",
        ]
    )
    assert leftovers(docker_client, session_id(labdir)) == []
    # CI's view: the JUnit failure carries the diagnostics, with pytest's default settings.
    failure = ElementTree.parse(labdir.path / "junit.xml").find(".//testcase/failure")
    assert failure is not None and failure.text is not None
    assert "dockerlab web: systemctl --failed" in failure.text
    assert "brokenapp.service" in failure.text
    assert "dockerlab web: journal tail" in failure.text


def test_a_host_that_never_finishes_booting_errors_with_its_journal(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    base = catalogue()["debian12"].tag
    write_recipe(
        pytester.path,
        "hangs",
        "ARG BASE\nFROM ${BASE}\n"
        "RUN printf '[Unit]\\nDescription=never ready\\n[Service]\\nType=oneshot\\n"
        "ExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' "
        "> /etc/systemd/system/neverready.service && systemctl enable neverready.service\n",
        f"init: systemd\nbase: {base}\n",
    )
    pytester.makefile(
        ".yml",
        dockerlab="images: {recipes: [recipes]}\nhosts:\n  slow: {image: hangs}\n",
    )
    pytester.makepyfile("def test_x(lab): pass\ndef test_y(lab): pass\n")
    before = {c.id for c in docker_client.containers.list(all=True)}
    result = run(pytester, "--dockerlab-boot-timeout=4")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*BootTimeoutError: host 'slow' (container dockerlab-*-slow) did not finish booting "
            "within 4s; last state: starting",
            "*--- journal tail ---*",
            "*never ready*",
        ]
    )
    assert {c.id for c in docker_client.containers.list(all=True)} == before
    # The wait ends at the boot timeout, not when a probe that waits inside the host (up to
    # 5 s) next answers: with the image built, the setup is the boot and the 2 s wait.
    result = run(pytester, "--dockerlab-boot-timeout=2", "--durations=0", "-vv")
    result.assert_outcomes(errors=2)
    setup = re.search(r"([\d.]+)s setup\s+\S+::test_x", result.stdout.str())
    assert setup is not None, result.stdout.str()
    assert float(setup[1]) < 4.5, result.stdout.str()
    assert {c.id for c in docker_client.containers.list(all=True)} == before


def test_a_host_command_that_replaces_the_init_is_named_as_the_cause(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    pytester.makefile(
        ".yml",
        dockerlab="hosts:\n  plain: {command: sleep infinity}\n  dies: {command: /bin/true}\n",
    )
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.lab('plain')\ndef test_plain(lab): pass\n"
        "@pytest.mark.lab('dies')\ndef test_dies(lab): pass\n"
    )
    before = {c.id for c in docker_client.containers.list(all=True)}
    result = run(pytester, "--dockerlab-boot-timeout=2")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*host 'plain' (container dockerlab-*-plain) did not finish booting within 2s; last "
            "state: *; PID 1 is 'sleep', not systemd (the host's command: sleep infinity)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*cannot start host 'dies': the container stopped while booting (container "
            "dockerlab-*-dies exited, exit code 0)*",
        ]
    )
    # Restarting a host whose command exits would only exit again.
    assert "lab.restart('dies')" not in result.stdout.str()
    assert {c.id for c in docker_client.containers.list(all=True)} == before


def test_privileged_is_honoured_or_refused_with_the_reason(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    pytester.makefile(".yml", dockerlab="hosts:\n  priv: {privileged: true}\n")
    pytester.makepyfile(
        "def test_x(lab):\n"
        "    assert lab.exec('priv', 'systemctl is-system-running').output.strip() == 'running'\n"
    )
    before = {c.id for c in docker_client.containers.list(all=True)}
    result = run(pytester)
    outcomes = result.parseoutcomes()
    if outcomes.get("errors"):
        # This sandbox refuses --privileged; the error must say so and name the way out.
        result.stdout.fnmatch_lines(
            [
                "*cannot start host 'priv': *(the engine refused a privileged container; drop "
                "'privileged: true'*"
            ]
        )
    else:
        result.assert_outcomes(passed=1)
    assert {c.id for c in docker_client.containers.list(all=True)} == before


def test_keep_leaves_the_lab_and_says_how_to_enter_and_remove_it(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makepyfile("import pytest\n@pytest.mark.lab('db')\ndef test_x(lab): pass\n")
    result = run(labdir, "--dockerlab-keep")
    result.assert_outcomes(passed=1)
    sid = session_id(labdir)
    result.stdout.fnmatch_lines(
        [
            f"kept lab {sid} (*dockerlab.yml); enter a host with:",
            f"  dockerlab shell db --session {sid}"
            f"   # or: docker exec -it dockerlab-{sid}-main-db bash",
            "run the tests on it again:",
            f"  pytest --dockerlab-reuse={sid}",
            "remove it with:",
            f"  dockerlab down --session {sid}",
        ]
    )
    kept = leftovers(docker_client, sid)
    assert sorted(kept) == sorted([f"dockerlab-{sid}-main-db", f"dockerlab-{sid}-main-net"])
    # Another session must not sweep a lab that was kept on purpose.
    run(labdir).assert_outcomes(passed=1)
    assert leftovers(docker_client, sid) == kept
    clean = subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", "clean", "--session", sid],
        capture_output=True,
        text=True,
        check=True,
    )
    assert clean.stdout.strip() == f"removed session {sid}: 1 container, 1 network, 0 volumes"
    assert leftovers(docker_client, sid) == []
    again = subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", "clean", "--session", sid],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1
    assert f"nothing removed: no resource carries session {sid}" in again.stderr


def test_sigterm_tears_the_lab_down(labdir: pytest.Pytester, docker_client: Any) -> None:
    labdir.makepyfile(
        """
        import os, signal, pytest

        @pytest.mark.lab("web")
        def test_terminated(lab):
            os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    run(labdir)
    assert leftovers(docker_client, session_id(labdir)) == []


def test_a_host_that_cannot_start_errors_only_its_own_tests(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    # The engine refuses more CPUs than the machine has; the other host is not its business.
    pytester.makefile(".yml", dockerlab="hosts:\n  good: {}\n  greedy: {cpus: 1000}\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lab("good")
        def test_good(lab):
            assert lab.exec("good", "true").rc == 0

        @pytest.mark.lab("greedy")
        def test_greedy(lab):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*HostStartError: cannot start host 'greedy': *CPUs*"])
