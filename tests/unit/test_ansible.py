from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.ansible import (
    CONNECTION,
    InventoryHost,
    _EventCollector,
    _message,
    build_inventory,
    check_connection_plugin,
    raise_for_failure,
    ran_nothing,
)
from pytest_dockerlab.exceptions import ConvergeError, DockerlabError, IdempotenceError
from pytest_dockerlab.results import ConvergeResult


def test_inventory_has_every_host_its_groups_vars_and_the_docker_connection() -> None:
    inventory = build_inventory(
        [
            InventoryHost("web", "dockerlab-s1-main-web", ("webservers",), {"http_port": 80}),
            InventoryHost("db", "dockerlab-s1-main-db", ("dbservers", "backends"), {}),
        ]
    )
    assert inventory == {
        "all": {
            "hosts": {
                "web": {
                    "ansible_connection": CONNECTION,
                    "ansible_host": "dockerlab-s1-main-web",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "http_port": 80,
                },
                "db": {
                    "ansible_connection": CONNECTION,
                    "ansible_host": "dockerlab-s1-main-db",
                    "ansible_python_interpreter": "/usr/bin/python3",
                },
            },
            "children": {
                "backends": {"hosts": {"db": None}},
                "dbservers": {"hosts": {"db": None}},
                "webservers": {"hosts": {"web": None}},
            },
        }
    }
    assert CONNECTION == "community.docker.docker"


def test_host_vars_may_override_connection_defaults() -> None:
    inventory = build_inventory(
        [InventoryHost("web", "c", (), {"ansible_python_interpreter": "/usr/bin/python3.11"})]
    )
    assert inventory["all"]["hosts"]["web"]["ansible_python_interpreter"] == "/usr/bin/python3.11"


def _task(name: str) -> dict[str, Any]:
    return {"event": "playbook_on_task_start", "event_data": {"task": name}}


def _res(event: str, host: str, task: str, action: str, **res: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"host": host, "task": task, "task_action": action, "res": res}
    if res.pop("ignore_errors", False):
        data["ignore_errors"] = True
    return {"event": event, "event_data": data}


# The shape of ansible-runner's events for a run where db fails a task and web changes one.
RECORDED = [
    {"event": "playbook_on_start", "event_data": {}},
    _task("Gathering Facts"),
    _res("runner_on_ok", "web", "Gathering Facts", "gather_facts", changed=False),
    _res("runner_on_ok", "db", "Gathering Facts", "gather_facts", changed=False),
    _task("Install packages"),
    _res("runner_on_ok", "web", "Install packages", "ansible.builtin.apt", changed=True),
    _res(
        "runner_on_failed",
        "db",
        "Install packages",
        "ansible.builtin.apt",
        changed=False,
        msg="No package matching 'postgresql-99' is available",
    ),
    _task("Probe"),
    _res("runner_on_failed", "web", "Probe", "command", rc=1, stderr="nope", ignore_errors=True),
    {
        "event": "playbook_on_stats",
        "event_data": {
            "ok": {"web": 3, "db": 1},
            "changed": {"web": 1},
            "failures": {"db": 1},
            "dark": {},
            "skipped": {},
        },
    },
]


def test_results_come_from_events() -> None:
    result = ConvergeResult(playbook=Path("site.yml"), rc=2)
    lines: list[str] = []
    collector = _EventCollector(result, lines.append)
    for event in RECORDED:
        assert collector(event) is True
    assert result.hosts["web"].ok == 3
    assert result.hosts["web"].changed == 1
    assert result.hosts["db"].failed == 1
    assert result.changed == 1
    assert [t.describe() for t in result.changed_tasks] == [
        "web: TASK [Install packages] (ansible.builtin.apt)"
    ]
    # An ignored failure is not a failure.
    assert [t.describe() for t in result.failed_tasks] == [
        "db: TASK [Install packages] (ansible.builtin.apt): "
        "No package matching 'postgresql-99' is available"
    ]
    assert not result.ok
    assert result.failed_hosts() == {"db"}
    assert [line.split(" (")[0] for line in lines] == [
        "  TASK [Gathering Facts] hosts=2 changed=0 failed=0",
        "  TASK [Install packages] hosts=2 changed=1 failed=1",
        "  TASK [Probe] hosts=1 changed=0 failed=0",
    ]


def test_a_failure_names_host_task_and_message() -> None:
    result = ConvergeResult(playbook=Path("/lab/site.yml"), rc=2)
    collector = _EventCollector(result, lambda _: None)
    for event in RECORDED:
        collector(event)
    with pytest.raises(ConvergeError) as info:
        raise_for_failure(result)
    assert str(info.value) == (
        "playbook /lab/site.yml failed (rc=2)\n"
        "  db: TASK [Install packages] (ansible.builtin.apt): "
        "No package matching 'postgresql-99' is available"
    )
    assert info.value.result is result
    raise_for_failure(result, hosts=["web"])  # web's tests are not affected


def _item(name: str, failed: bool, msg: str = "") -> dict[str, Any]:
    """One item of a looped service task's result, as ansible-runner reports it."""
    return {"item": name, "ansible_loop_var": "item", "failed": failed, "msg": msg,
            "invocation": {"module_args": {"name": name, "state": "started"}}}  # fmt: skip


def test_a_failed_loop_item_heads_the_error_and_names_its_unit() -> None:
    """Not Ansible's "One or more items failed": each failed item's own first line."""
    result = ConvergeResult(playbook=Path("/lab/site.yml"), rc=2)
    collector = _EventCollector(result, lambda _: None)
    busy = "Unable to start service apache2: Job for apache2.service failed.\nSee systemctl"
    items = [_item("ssh", False), _item("apache2", True, busy), _item("nginx", True, "gone")]
    collector(_task("Start them"))
    collector(_res("runner_on_failed", "web", "Start them", "ansible.builtin.systemd_service",
                   msg="One or more items failed", results=items))  # fmt: skip
    (task,) = result.failed_tasks
    assert task.message == (
        "2 of 3 items failed: item apache2: Unable to start service apache2: Job for "
        "apache2.service failed.; item nginx: gone"
    )
    assert task.units == ("apache2", "nginx")  # each gets its status and journal


def test_a_play_that_never_loaded_shows_its_error_lines() -> None:
    result = ConvergeResult(
        playbook=Path("/lab/site.yml"),
        rc=1,
        errors=["[ERROR]: the role 'nginxx' was not found in /lab/roles"],
        output="...\n[ERROR]: the role 'nginxx' was not found in /lab/roles\n",
    )
    assert "the role 'nginxx' was not found" in result.describe_failure()


def test_a_play_that_never_loaded_shows_its_error_lines_beside_host_evidence() -> None:
    """Evidence gathered after the run (failed units) does not hide why the play failed."""
    result = ConvergeResult(
        playbook=Path("/lab/site.yml"),
        rc=1,
        errors=["[ERROR]: couldn't resolve module/action 'nosuch.module'"],
        evidence={"web": "failed units: apache2.service"},
    )
    text = result.describe_failure()
    assert text.index("couldn't resolve module/action 'nosuch.module'") < text.index(
        "--- web, right after the run ---\nfailed units: apache2.service"
    )


def test_unreachable_host_is_a_failure() -> None:
    result = ConvergeResult(playbook=Path("p.yml"))
    collector = _EventCollector(result, lambda _: None)
    collector(_task("Gathering Facts"))
    collector(
        _res(
            "runner_on_unreachable",
            "web",
            "Gathering Facts",
            "gather_facts",
            msg="container not running",
        )
    )
    assert not result.ok
    assert "web: UNREACHABLE: container not running" in result.describe_failure()


def test_idempotence_error_lists_changed_tasks_per_host() -> None:
    result = ConvergeResult(playbook=Path("site.yml"))
    collector = _EventCollector(result, lambda _: None)
    for event in RECORDED:
        collector(event)
    error = IdempotenceError(Path("/lab/site.yml"), result.changed_tasks)
    assert str(error) == (
        "playbook site.yml is not idempotent: the second run changed\n"
        "  web: TASK [Install packages] (ansible.builtin.apt)"
    )


def test_missing_connection_plugin_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(
        DockerlabError, match=r"community\.docker\.docker is missing: install ansible"
    ):
        check_connection_plugin()


@pytest.mark.parametrize(
    ("res", "headline"),
    [
        ({"msg": "failed to validate", "stderr": "/tmp/x:12: option 'dnssec-enable' no longer "
          "exists\n"}, "failed to validate: /tmp/x:12: option 'dnssec-enable' no longer exists"),
        ({"msg": "non-zero return code", "stderr": "", "stdout": "step 1\nport 80 in use"},
         "non-zero return code: port 80 in use"),
        ({"msg": "MODULE FAILURE", "module_stderr": "Traceback ...\nImportError: no apt_pkg"},
         "MODULE FAILURE: ImportError: no apt_pkg"),
        ({"msg": "checked on the controller"}, "checked on the controller"),
        ({"msg": "Action failed: Unknown error.",
          "message": "Could not find or access '.dockerlab/inventory/host_vars/bookworm'"},
         "Action failed: Unknown error: Could not find or access "
         "'.dockerlab/inventory/host_vars/bookworm'"),
        ({"msg": "No package matching 'nginxx' is available", "stdout": "Reading lists"},
         "No package matching 'nginxx' is available"),
    ],
)  # fmt: skip
def test_a_generic_message_gets_the_commands_own_last_line(
    res: dict[str, str], headline: str
) -> None:
    assert _message(res) == headline


def test_gathering_facts_and_asserts_say_their_cause() -> None:
    facts = {
        "msg": "The following modules failed to execute: ansible.legacy.setup.",
        "failed_modules": {"ansible.legacy.setup": {"msg": "unable to find user ansible: no "
                                                    "matching entries in passwd file"}},
    }  # fmt: skip
    assert _message(facts) == (
        "The following modules failed to execute: ansible.legacy.setup. unable to find user "
        "ansible: no matching entries in passwd file"
    )
    assertion = {"msg": "Assertion failed", "assertion": "molecule_yml is defined"}
    assert _message(assertion) == "Assertion failed: molecule_yml is defined"


@pytest.mark.parametrize(
    ("plays", "unmatched", "nothing"), [(1, 1, True), (2, 2, True), (1, 0, False), (2, 1, False)]
)
def test_a_run_ran_nothing_only_when_no_play_matched_a_host(
    tmp_path: Path, plays: int, unmatched: int, nothing: bool
) -> None:
    """A play that matched its hosts but has no task (a default scenario's placeholder
    converge) ran what it says; one that matched no host at all checked nothing."""
    playbook = tmp_path / "converge.yml"
    playbook.write_text("- hosts: web\n  tasks: []\n")
    result = ConvergeResult(playbook=playbook, plays=plays, unmatched_plays=unmatched)
    said = ran_nothing(result, ["db"])
    assert bool(said) is nothing
    if nothing:
        assert said == (
            "converge.yml ran no task: none of its plays (hosts: web) matched a host of the lab "
            "(db) or the controller (localhost)"
        )
