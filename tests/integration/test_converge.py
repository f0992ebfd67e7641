"""Real playbooks through ansible-runner against real hosts: results, failures, idempotence."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from .conftest import labelled, leftovers, remove_cache_entries, run, session_id

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"

LAB = """
ansible:
  playbooks: [site.yml]
  extra_vars: {greeting: hello}
hosts:
  web: {groups: [webservers], vars: {port: 8080}}
  db: {groups: [dbservers]}
"""

SITE = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Write the greeting
      ansible.builtin.copy:
        dest: /etc/greeting
        content: "{{ greeting }} from {{ inventory_hostname }} ({{ group_names | join(',') }})\\n"
"""


@pytest.fixture
def converge_lab(labdir: pytest.Pytester) -> pytest.Pytester:
    labdir.makefile(".yml", dockerlab=LAB, site=SITE)
    return labdir


def test_session_converge_uses_lab_vars_groups_and_limits_to_started_hosts(
    converge_lab: pytest.Pytester, docker_client: Any
) -> None:
    converge_lab.makepyfile(
        """
        import pytest

        @pytest.mark.lab("web")
        def test_converged(lab):
            web = lab.host("web")
            assert web.file("/etc/greeting").content_string == "hello from web (webservers)\\n"
            result = lab.converge("site.yml")
            assert result.ok
            assert result.changed == 0
            assert set(result.hosts) == {"web"}
            assert result.hosts["web"].ok == 1
        """
    )
    result = run(converge_lab)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "dockerlab: hosts needed by the selected tests: web",
            "dockerlab: converging site.yml on web",
            "dockerlab:   TASK ?Write the greeting? hosts=1 changed=1 failed=0 (*s)",
            "dockerlab: converged site.yml in *s: changed=1 failed=0 unreachable=0 rc=0",
        ]
    )
    assert leftovers(docker_client, session_id(converge_lab)) == []


def test_a_failing_task_errors_every_test_of_that_converge(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makefile(
        ".yml",
        dockerlab=LAB,
        site="""
- hosts: dbservers
  gather_facts: false
  tasks:
    - name: Install a package that does not exist
      ansible.builtin.command: /bin/false --not-a-package
- hosts: webservers
  gather_facts: false
  tasks:
    - ansible.builtin.copy: {dest: /etc/ok, content: "ok\\n"}
""",
    )
    before = labelled(docker_client)
    labdir.makepyfile(
        """
        import pytest

        @pytest.mark.lab("db")
        def test_db(lab): pass

        @pytest.mark.lab("web")
        def test_web(lab):
            assert lab.host("web").file("/etc/ok").exists
        """
    )
    result = run(labdir, "--junitxml=junit.xml")
    # Ansible ended the run when db's play had no host left, so web never got its play either.
    result.assert_outcomes(errors=2)
    errors = ElementTree.parse(labdir.path / "junit.xml").findall(".//testcase/error")
    assert any("dockerlab: ansible output" in (e.text or "") for e in errors)
    assert any("fatal: [db]: FAILED!" in (e.text or "") for e in errors)
    result.stdout.fnmatch_lines(
        [
            "E *ConvergeError: playbook */site.yml failed (rc=2)",
            "E *  db: TASK ?Install a package that does not exist? (ansible.builtin.command): *",
            "*- dockerlab: ansible output -*",
            "*fatal: [[]db[]]: FAILED!*",
        ]
    )
    # The whole output once per failed run; the other test points to it.
    assert result.stdout.str().count("fatal: [db]: FAILED!") == 1
    result.stdout.fnmatch_lines(["(the whole output of this run is in the report of *::test_*)"])
    assert labelled(docker_client) == before


def test_a_failed_service_task_carries_the_units_status_and_journal(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    """A loop over services: each failed item's own message heads the error, its unit's
    status and journal follow, and a unit that needs what a container lacks says so."""
    labdir.makefile(
        ".yml",
        dockerlab="ansible: {playbooks: [site.yml]}\nhosts:\n  web: {}\n",
        site="""
- hosts: all
  gather_facts: false
  tasks:
    - name: Install units that cannot start
      ansible.builtin.copy:
        dest: "/etc/systemd/system/{{ item.name }}.service"
        content: "[Service]\\nType=oneshot\\n{{ item.exec }}\\n"
      loop:
        - name: broken
          exec: "ExecStart=/bin/sh -c 'echo cannot open /etc/broken.conf >&2; exit 3'"
        - {name: fabric, exec: "ExecStartPre=/sbin/modprobe nvme-fabrics\\nExecStart=/bin/true"}
    - name: Start them
      ansible.builtin.systemd_service: {name: "{{ item }}", state: started, daemon_reload: true}
      loop: [systemd-journald, broken, fabric]
""",
    )
    labdir.makepyfile("def test_web(lab): pass\n")
    result = run(labdir)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *  web: TASK ?Start them? (ansible.builtin.systemd_service): 2 of 3 items failed: "
            "item broken: Unable to start service broken*; item fabric: Unable to start service "
            "fabric*",
            "E *--- web, right after the run ---",
            "E *broken (status and journal):",
            "E *broken.service*",
            "E *cannot open /etc/broken.conf*",
            "E *fabric (status and journal):",
            "E *ExecStartPre=/sbin/modprobe nvme-fabrics (code=exited, status=203/EXEC)*",
            "E *fabric: the cause is the container: it needs kernel module nvme-fabrics, and a "
            "container cannot load kernel modules*",
            "E *systemctl --failed:",
            "E *broken.service*failed*",
        ]
    )
    assert "One or more items failed" not in result.stdout.str()


@pytest.mark.parametrize(
    ("playbook", "expected"),
    [
        ("- hosts: all\n  tasks:\n    - name: broken\n      copy: {dest: /x\n", "*ERROR*"),
        ("- hosts: all\n  roles: [no_such_role]\n", "*no_such_role*"),
    ],
    ids=["yaml-does-not-parse", "role-not-found"],
)
def test_a_play_that_cannot_load_errors_every_test_with_the_reason(
    labdir: pytest.Pytester, docker_client: Any, playbook: str, expected: str
) -> None:
    before = labelled(docker_client)
    labdir.makefile(".yml", dockerlab=LAB, site=playbook)
    labdir.makepyfile("def test_x(lab): pass\n")
    result = run(labdir)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E *ConvergeError: playbook */site.yml failed (rc=*)", expected])
    assert labelled(docker_client) == before


def test_idempotence_failures_list_each_changed_task_per_host(
    converge_lab: pytest.Pytester,
) -> None:
    converge_lab.makefile(
        ".yml",
        churn="""
- hosts: all
  gather_facts: false
  tasks:
    - name: Always changes
      ansible.builtin.command: date
    - name: Skipped on the idempotence pass
      ansible.builtin.command: date
      tags: [molecule-idempotence-notest]
""",
    )
    converge_lab.makepyfile(
        """
        import pytest

        @pytest.mark.lab("web,db")
        def test_churn(lab):
            assert lab.converge("churn.yml").changed == 4
            lab.assert_idempotent("churn.yml")

        @pytest.mark.lab("web")
        def test_site_is_idempotent(lab):
            lab.assert_idempotent("site.yml")
        """
    )
    result = run(converge_lab)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: playbook churn.yml is not idempotent: the second run changed",
            "E *  db: TASK ?Always changes? (ansible.builtin.command)",
            "E *  web: TASK ?Always changes? (ansible.builtin.command)",
        ]
    )
    assert "Skipped on the idempotence pass] (" not in result.stdout.str()


def test_automatic_idempotence_pass_errors_tests_of_hosts_that_changed(
    labdir: pytest.Pytester,
) -> None:
    labdir.makefile(
        ".yml",
        dockerlab=LAB,
        site="- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Not idempotent\n      ansible.builtin.command: date\n",
    )
    labdir.makepyfile("def test_x(lab): pass\n")
    result = run(labdir, "--dockerlab-idempotence")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E *IdempotenceError: playbook site.yml is not idempotent*"])


def test_a_dead_host_is_reported_unreachable(converge_lab: pytest.Pytester) -> None:
    converge_lab.makepyfile(
        """
        import docker, pytest
        from pytest_dockerlab.exceptions import PlaybookNotFoundError

        @pytest.mark.lab("web")
        def test_dead(lab):
            with pytest.raises(PlaybookNotFoundError, match="playbook not found: .*/nope.yml"):
                lab.converge("nope.yml")
            client = docker.from_env()
            client.containers.get(lab.container("web")).kill()
            client.close()
            result = lab.converge("site.yml")
            assert not result.ok
            assert [t.host for t in result.unreachable] == ["web"]
            assert "web: UNREACHABLE" in result.describe_failure()
        """
    )
    run(converge_lab).assert_outcomes(passed=1)


def test_the_example_lab_passes(pytester: pytest.Pytester, docker_client: Any) -> None:
    """The README's first quick-start command: nginx + PostgreSQL, converged and checked."""
    shutil.copytree(EXAMPLES, pytester.path / "examples")
    before = labelled(docker_client)
    try:
        cold = run(pytester, "examples", "--dockerlab-cache=refresh", timeout=1200)
        cold.assert_outcomes(passed=10)
        cold.stdout.fnmatch_lines(["*idempotence pass of site.yml in *s: changed=0 failed=0*"])
        # The same suite on a cache hit: the hosts are the converged hosts after a reboot.
        hit = run(pytester, "examples", "--dockerlab-cache=on", timeout=600)
        hit.assert_outcomes(passed=10)
        hit.stdout.fnmatch_lines(["dockerlab: converge cache: hit for web, db *"])
    finally:
        remove_cache_entries(docker_client, pytester.path / "examples" / "dockerlab.yml")
    assert labelled(docker_client) == before


def test_a_run_limited_to_some_hosts_still_sees_the_whole_lab(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makefile(
        ".yml",
        dockerlab=LAB,
        site="""
- hosts: webservers
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: /etc/upstream
        content: "{{ groups['dbservers'] | join(',') }}\\n"
""",
    )
    labdir.makepyfile(
        """
        import pytest

        @pytest.mark.lab("web")
        def test_web(lab):
            assert lab.host("web").file("/etc/upstream").content_string == "db\\n"
        """
    )
    result = run(labdir)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["dockerlab: hosts needed by the selected tests: web"])
