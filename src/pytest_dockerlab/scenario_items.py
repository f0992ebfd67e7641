"""A Molecule scenario's stages as pytest items: ``molecule.yml::converge``, ``::idempotence``,
``::side_effect`` and ``::verify``, run on the lab :mod:`.spec.molecule` read from it.

A scenario with no tests, like most roles' ``molecule/default``, still reports pass or fail
with the failing task; its testinfra ``tests/`` get a ``host`` per platform from the plugin.
A folder of scenarios (Molecule's ``--all``) runs each scenario's lab in turn
(:class:`ScenarioLabs`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pytest

from .exceptions import ConvergeError, DockerlabError, IdempotenceError
from .outcomes import ANSIBLE_OUTPUT_KEY, SERVED, warn_deprecations

if TYPE_CHECKING:
    from .session import LabSession
    from .spec.molecule import Scenario


class ScenarioLabs:
    """The labs of a folder of scenarios, one at a time: a scenario's lab starts when the
    first of its items asks for it, and goes (with the scenario's ``MOLECULE_*`` variables)
    when an item of another scenario does, or when the session ends. pytest runs a folder's
    items together, so each scenario's lab starts once, as in ``molecule test --all``."""

    def __init__(
        self,
        scenario_of: Callable[[Path], Path | None],
        make: Callable[[Path], contextlib.AbstractContextManager[LabSession]],
        environments: Mapping[Path, Mapping[str, str]],
    ) -> None:
        self._scenario_of = scenario_of
        self._make = make
        self._environments = environments
        self._stack = contextlib.ExitStack()
        self.folder: Path | None = None
        self.open: LabSession | None = None
        self._failed: dict[Path, BaseException] = {}  # a lab that did not start: said again

    def for_node(self, node: pytest.Item) -> LabSession:
        folder = self._scenario_of(node.path)
        if folder is None:
            raise DockerlabError(f"{node.nodeid} is in none of the scenarios")
        if folder in self._failed:
            raise self._failed[folder].with_traceback(None)
        if folder != self.folder or self.open is None:
            self.close()
            self.folder = folder
            environment = pytest.MonkeyPatch()
            self._stack.callback(environment.undo)
            for name, value in self._environments.get(folder, {}).items():
                environment.setenv(name, value)
            try:
                self.open = self._stack.enter_context(self._make(folder))
            except Exception as exc:  # its items error with it; the next scenario still runs
                self._failed[folder] = exc
                self.close()
                raise
        return self.open

    def close(self) -> None:
        """Remove the open scenario's lab (or keep it, as the session's settings say)."""
        self.folder, self.open = None, None
        stack, self._stack = self._stack, contextlib.ExitStack()
        stack.close()

    def __enter__(self) -> ScenarioLabs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def lab_of(labs: LabSession | ScenarioLabs, node: pytest.Item) -> LabSession:
    """The lab of the scenario ``node`` belongs to (the session's one lab, without a folder
    of scenarios)."""
    return labs.for_node(node) if isinstance(labs, ScenarioLabs) else labs


class ScenarioFile(pytest.File):
    """``molecule.yml`` under ``--dockerlab-molecule``: its converge, idempotence pass and
    verify playbook, each a test item."""

    def __init__(self, *, scenario: Scenario | DockerlabError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def collect(self) -> Iterator[pytest.Item]:
        """The stages in the order of the scenario's test_sequence; a stage that comes
        again (verify after a second side_effect) is ``verify_2``. A scenario of a folder
        that cannot run is one failing ``converge``: Molecule's ``--all`` fails it too."""
        if isinstance(self.scenario, DockerlabError):
            error = str(self.scenario)
            yield _Stage.from_parent(
                self, name="converge", callobj=lambda: pytest.fail(error, pytrace=False)
            )
            return
        seen: dict[str, int] = {}
        for stage, playbook in self.scenario.stages:
            seen[stage] = seen.get(stage, 0) + 1
            name = stage if seen[stage] == 1 else f"{stage}_{seen[stage]}"
            item = _Stage.from_parent(self, name=name, callobj=_STAGES[stage])
            if playbook is not None:
                item.stash[PLAYBOOK_KEY] = playbook
            yield item


class _Stage(pytest.Function):
    """A stage item: its failure is headed ``default/molecule.yml::converge`` (the
    scenario's name first), not by a Python path made of the folders' names."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.parent.name}/{self.path.name}::{self.name}"


# The playbook a stage item runs (its side_effect or verify playbook, or the converge for
# check).
PLAYBOOK_KEY = pytest.StashKey[Path]()


def _failures(current: LabSession) -> dict[str, DockerlabError]:
    names = current.lab.spec.host_names
    current.ensure(names)
    failures = {n: current.setup_failures[n] for n in names if n in current.setup_failures}
    missing = [f"platform {n}: {current.unavailable[n]}" for n in names if n in current.unavailable]
    if missing:
        # Molecule fails a scenario it cannot create: a skip would pass a CI job. What the
        # platforms that were created said goes with it, or it would be hidden.
        said = dict.fromkeys(str(error) for error in failures.values())
        pytest.fail("\n".join([*missing, *said]), pytrace=False)
    warn_deprecations(current.converger)
    return failures


def _converge(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """The scenario's converge: every platform converged."""
    current = lab_of(_dockerlab_lab, request.node)
    failures = {
        n: e for n, e in _failures(current).items()
        if not isinstance(e, IdempotenceError)
    }  # fmt: skip
    if failures:
        error = next(iter(failures.values()))
        if isinstance(error, ConvergeError):
            request.node.stash[ANSIBLE_OUTPUT_KEY] = error.result.output
        pytest.fail(str(error), pytrace=False)
    _say_if_served(current, request)


def _idempotence(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """The scenario's idempotence pass: the converge again changed nothing."""
    current = lab_of(_dockerlab_lab, request.node)
    failures = _failures(current)
    changed = [e for e in failures.values() if isinstance(e, IdempotenceError)]
    if changed:
        pytest.fail(str(changed[0]), pytrace=False)
    if failures:
        pytest.skip("the converge failed: no idempotence pass")
    _say_if_served(current, request)


def _say_if_served(current: LabSession, request: pytest.FixtureRequest) -> None:
    """A stage whose hosts came converged (a cache hit, a reused lab) ran nothing: its pass
    says where they came from (see the plugin's ``pytest_report_teststatus``)."""
    served = sorted({current.served[n] for n in current.lab.spec.host_names if n in current.served})
    if served:
        request.node.user_properties.append((SERVED, "; ".join(served)))


def _verify(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """The scenario's verify.yml (Molecule's Ansible verifier) on every platform."""
    current = lab_of(_dockerlab_lab, request.node)
    failures = _failures(current)
    if failures:
        pytest.skip("the converge failed: nothing to verify")
    _run_stage(current, request)


def _side_effect(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """The scenario's side_effect.yml, before its verify (Molecule's sequence)."""
    current = lab_of(_dockerlab_lab, request.node)
    if _failures(current):
        pytest.skip("the converge failed: no side effect")
    _run_stage(current, request)


def _check(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """Molecule's check step: the converge playbook again in check mode (--check)."""
    current = lab_of(_dockerlab_lab, request.node)
    if _failures(current):
        pytest.skip("the converge failed: no check")
    _run_stage(current, request, check=True)


def _run_stage(current: LabSession, request: pytest.FixtureRequest, check: bool = False) -> None:
    from .ansible import ran_nothing
    from .converge import CONVERGE_SKIP_TAGS

    playbook = request.node.stash[PLAYBOOK_KEY]
    options = current.lab.spec.ansible.run
    result = current.converger.run(
        playbook,
        list(current.lab.running),
        skip_tags=CONVERGE_SKIP_TAGS,
        options=replace(options, check=True) if check else options,
    )
    if not result.ok:
        request.node.stash[ANSIBLE_OUTPUT_KEY] = result.output
        pytest.fail(result.describe_failure(), pytrace=False)
    nothing = ran_nothing(result, current.lab.spec.host_names)
    if nothing:
        request.node.stash[ANSIBLE_OUTPUT_KEY] = result.output
        pytest.fail(nothing, pytrace=False)


_STAGES = {
    "converge": _converge,
    "idempotence": _idempotence,
    "check": _check,
    "side_effect": _side_effect,
    "verify": _verify,
}
