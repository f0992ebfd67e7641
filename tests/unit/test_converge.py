"""The session converge's bookkeeping: which hosts a run makes unusable, and why."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_dockerlab.converge import (
    CONVERGE_SKIP_TAGS,
    IDEMPOTENCE_SKIP_TAGS,
    converge_session,
)
from pytest_dockerlab.exceptions import (
    ConvergeError,
    DockerlabError,
    IdempotenceError,
    PlaybookNotFoundError,
)
from pytest_dockerlab.results import ConvergeResult, TaskResult

PREPARE, SITE = Path("/lab/prepare.yml"), Path("/lab/site.yml")


class Runs:
    """Stands in for ansible-runner: answers each (playbook, pass) from a script."""

    def __init__(self, script: dict[tuple[Path, bool], ConvergeResult | DockerlabError]) -> None:
        self.script = script
        self.calls: list[tuple[str, tuple[str, ...], bool]] = []

    def __call__(
        self, playbook: Path, hosts: Sequence[str], skip_tags: Sequence[str], second: bool
    ) -> ConvergeResult:
        # Molecule's tags: notest ones in every converge, one more on the idempotence pass.
        assert tuple(skip_tags) == (IDEMPOTENCE_SKIP_TAGS if second else CONVERGE_SKIP_TAGS)
        self.calls.append((playbook.name, tuple(hosts), second))
        answer = self.script.get((playbook, second), ConvergeResult(playbook=playbook))
        if isinstance(answer, DockerlabError):
            raise answer
        return answer


def failed(playbook: Path, host: str) -> ConvergeResult:
    task = TaskResult(host, "Install nginx", "ansible.builtin.apt", "No package matching")
    return ConvergeResult(playbook=playbook, rc=2, failed_tasks=[task])


def changed(playbook: Path, host: str) -> ConvergeResult:
    task = TaskResult(host, "Write config", "ansible.builtin.template")
    return ConvergeResult(playbook=playbook, changed_tasks=[task])


def test_playbooks_run_in_order_on_every_host_and_nobody_fails() -> None:
    runs = Runs({})
    assert converge_session(runs, [PREPARE, SITE], ["web", "db"], idempotence=False) == {}
    assert runs.calls == [
        ("prepare.yml", ("web", "db"), False),
        ("site.yml", ("web", "db"), False),
    ]


def test_a_failed_run_stops_the_converge_and_marks_every_host_of_it() -> None:
    runs = Runs({(PREPARE, False): failed(PREPARE, "web")})
    failures = converge_session(runs, [PREPARE, SITE], ["web", "db"], idempotence=True)
    assert set(failures) == {"web", "db"}
    error = failures["db"]
    assert isinstance(error, ConvergeError)
    assert "web: TASK [Install nginx] (ansible.builtin.apt): No package matching" in str(error)
    assert [call[0] for call in runs.calls] == ["prepare.yml"]


def test_a_run_that_cannot_start_marks_every_host_with_its_error() -> None:
    missing = PlaybookNotFoundError(SITE)
    failures = converge_session(Runs({(SITE, False): missing}), [SITE], ["web"], False)
    assert failures == {"web": missing}


def test_the_idempotence_pass_marks_only_the_hosts_that_changed_and_goes_on() -> None:
    runs = Runs({(PREPARE, True): changed(PREPARE, "db")})
    failures = converge_session(runs, [PREPARE, SITE], ["web", "db"], idempotence=True)
    assert list(failures) == ["db"]
    assert isinstance(failures["db"], IdempotenceError)
    assert "db: TASK [Write config] (ansible.builtin.template)" in str(failures["db"])
    assert [(c[0], c[2]) for c in runs.calls] == [
        ("prepare.yml", False),
        ("prepare.yml", True),
        ("site.yml", False),
        ("site.yml", True),
    ]


def test_a_failure_on_the_idempotence_pass_keeps_earlier_marks() -> None:
    runs = Runs({(PREPARE, True): changed(PREPARE, "db"), (SITE, True): failed(SITE, "web")})
    failures = converge_session(runs, [PREPARE, SITE], ["web", "db"], idempotence=True)
    assert isinstance(failures["web"], ConvergeError)
    assert isinstance(failures["db"], ConvergeError)  # the failed run overrides: not converged


def test_a_change_on_the_controller_fails_every_hosts_idempotence() -> None:
    """A localhost play runs on the controller: its change is no lab host's alone."""
    runs = Runs({(SITE, True): changed(SITE, "localhost")})
    failures = converge_session(runs, [SITE], ["web", "db"], idempotence=True)
    assert set(failures) == {"web", "db"}
    assert all(isinstance(e, IdempotenceError) for e in failures.values())


def test_a_failure_on_the_controller_is_every_hosts() -> None:
    from pytest_dockerlab.ansible import raise_for_failure

    result = failed(SITE, "localhost")
    with pytest.raises(ConvergeError):
        raise_for_failure(result, ["web"])
    raise_for_failure(failed(SITE, "db"), ["web"])  # another lab host's failure: not web's


def test_a_playbook_that_matched_no_host_of_the_lab_fails_the_converge(tmp_path: Path) -> None:
    """A Molecule scenario whose plays target a group of inventory links passed as converged."""
    from pytest_dockerlab.results import HostStats

    site = tmp_path / "site.yml"
    site.write_text("- hosts: molecule\n  tasks: []\n")
    runs = Runs({})  # every run: no host processed
    failures = converge_session(runs, [site], ["web"], idempotence=True, lab_hosts=["web"])
    assert str(failures["web"]) == (
        "site.yml ran no task: none of its plays (hosts: molecule) matched a host of the lab "
        "(web) or the controller (localhost)"
    )
    # On some hosts only (pytest -k): a play for the others matches none of them, rightly.
    assert converge_session(runs, [site], ["web"], False, lab_hosts=["web", "db"]) == {}
    matched = ConvergeResult(playbook=site, hosts={"web": HostStats()})
    ran = Runs({(site, False): matched, (site, True): matched})
    assert converge_session(ran, [site], ["web"], idempotence=True, lab_hosts=["web"]) == {}
