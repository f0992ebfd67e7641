"""A Molecule scenario's stages as pytest items: ``molecule.yml::converge``, ``::idempotence``,
``::side_effect`` and ``::verify``, run on the lab :mod:`.spec.molecule` read from it.

A scenario with no tests, like most roles' ``molecule/default``, still reports pass or fail
with the failing task; its testinfra ``tests/`` get a ``host`` per platform from the plugin.
A folder of scenarios (Molecule's ``--all``) runs each scenario's lab in turn
(:class:`ScenarioLabs`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pytest

from .exceptions import ConvergeError, DockerlabError, IdempotenceError
from .outcomes import ANSIBLE_OUTPUT_KEY, SERVED, warn_deprecations

if TYPE_CHECKING:
    from .labels import SessionIdentity
    from .loading import ScenarioLab
    from .session import LabSession
    from .spec import LabSpec, Recipe
    from .spec.molecule import Scenario


class ScenarioLabs:
    """The labs of a folder of scenarios, one at a time: a scenario's lab starts when the
    first of its items asks for it, and goes when an item of another scenario does, or when
    the session ends; each scenario's items run with its ``MOLECULE_*`` variables. pytest
    runs a folder's items together, so each lab starts once, as in ``molecule test --all``.

    Under ``shared_state`` (``shared``: the default scenario) there is one lab, the default
    scenario's, booted with no playbook; each scenario's converge item runs its own prepare
    and converge (and idempotence pass) on it, as Molecule runs every sequence between the
    default's create and destroy."""

    def __init__(
        self,
        scenario_of: Callable[[Path], Path | None],
        make: Callable[[Path], contextlib.AbstractContextManager[LabSession]],
        environments: Mapping[Path, Mapping[str, str]],
        specs: Mapping[Path, LabSpec],
        shared: Path | None = None,
    ) -> None:
        self._scenario_of = scenario_of
        self._make = make
        self._environments = environments
        self._specs = specs
        self.shared = shared
        self._lab_stack = contextlib.ExitStack()
        self._environment = pytest.MonkeyPatch()
        self.lab_folder: Path | None = None  # whose lab is open (the default's when shared)
        self.folder: Path | None = None  # whose items run
        self.open: LabSession | None = None
        self._failed: dict[Path, BaseException] = {}  # a lab that did not start: said again
        self._converged: dict[Path, dict[str, DockerlabError]] = {}  # shared: by scenario

    def for_node(self, node: pytest.Item) -> LabSession:
        folder = self._scenario_of(node.path)
        if folder is None:
            raise DockerlabError(f"{node.nodeid} is in none of the scenarios")
        key = self.shared or folder
        if key in self._failed:
            raise self._failed[key].with_traceback(None)
        if key != self.lab_folder or self.open is None:
            self.close()
        if folder != self.folder:
            self._cleanup_shared()
            self._environment.undo()
            for name, value in self._environments.get(folder, {}).items():
                self._environment.setenv(name, value)
            self.folder = folder
        if self.open is None:
            try:
                self.open = self._lab_stack.enter_context(self._make(key))
            except Exception as exc:  # its items error with it; the next scenario still runs
                self._failed[key] = exc
                self.close()
                raise
            self.lab_folder = key
        return self.open

    def converge_shared(self, current: LabSession) -> dict[str, DockerlabError]:
        """Under shared_state: the running scenario's prepare, then its converge (and
        idempotence pass), on the shared instances, once; why each host is unusable."""
        from .converge import converge_session

        folder = self.folder
        assert self.shared is not None and folder is not None
        if folder not in self._converged:
            ansible = self._specs[folder].ansible
            hosts = current.lab.spec.host_names

            def run(playbook: Path, on: Sequence[str], skip: Sequence[str], again: bool) -> Any:
                return current.converger.run(
                    playbook,
                    on,
                    extra_vars=ansible.extra_vars,
                    skip_tags=skip,
                    idempotence=again,
                    options=ansible.run,
                )

            failures = converge_session(run, ansible.prepare, hosts, False, hosts)
            if not failures:
                failures = converge_session(
                    run, ansible.playbooks, hosts, ansible.idempotence, hosts
                )
            self._converged[folder] = failures
        return self._converged[folder]

    def _cleanup_shared(self) -> None:
        """Under shared_state, the cleanup playbooks of the scenario that ran, as its own
        sequence's cleanup step (the lab's removal runs none: the lab is the default's).
        A failure is said; the next scenario still runs."""
        folder, current = self.folder, self.open
        if self.shared is None or folder not in self._converged or current is None:
            return
        ansible = self._specs[folder].ansible
        for playbook in ansible.cleanup:
            try:
                result = current.converger.run(
                    playbook, list(current.lab.running), options=ansible.run
                )
            except DockerlabError as exc:
                current.progress(f"cleanup {playbook.name} of {folder.name} could not run: {exc}")
                continue
            if not result.ok:
                current.progress(
                    f"cleanup {playbook.name} of {folder.name} failed: {result.describe_failure()}"
                )

    def close(self) -> None:
        """Remove the open lab (or keep it, as the session's settings say), and give back
        the variables of the scenario that ran."""
        stack, self._lab_stack = self._lab_stack, contextlib.ExitStack()
        try:
            self._cleanup_shared()
        finally:  # the lab goes, whatever its cleanup did
            self.folder, self.lab_folder, self.open = None, None, None
            try:
                stack.close()
            finally:
                self._environment.undo()

    def __enter__(self) -> ScenarioLabs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._converged.clear()  # Ctrl-C asked for no more runs: no cleanup playbook
        self.close()


def write_inventory(
    recipes: Mapping[str, Recipe], spec: LabSpec, identity: SessionIdentity
) -> Path:
    """The inventory testinfra reaches a scenario's platforms through (``ansible://NAME``,
    and ``MOLECULE_INVENTORY_FILE``), in the temporary folder."""
    import tempfile

    import yaml

    from .ansible import InventoryHost, build_inventory

    inventory = Path(tempfile.gettempdir()) / f"{identity.prefix}-inventory.yml"
    hosts = [
        InventoryHost(
            name, identity.container_name(name), h.groups, h.vars, recipes[h.image].python
        )
        for name, h in spec.hosts.items()
    ]
    inventory.write_text(yaml.safe_dump(build_inventory(hosts)))
    return inventory


def scenario_environments(
    labs: Mapping[Path, ScenarioLab], inventories: Mapping[Path, Path], shared: Path | None
) -> dict[Path, dict[str, str]]:
    """The variables Molecule sets while each scenario of a folder of scenarios runs; under
    shared_state, one ephemeral state (and inventory): the default scenario's."""
    environments = {
        folder: {**lab.scenario.environment, "MOLECULE_INVENTORY_FILE": str(inventories[folder])}
        for folder, lab in labs.items()
        if lab.scenario is not None and folder in inventories
    }
    if shared in environments:
        for environment in environments.values():
            for name in ("MOLECULE_EPHEMERAL_DIRECTORY", "MOLECULE_INVENTORY_FILE"):
                environment[name] = environments[shared][name]
    return environments


def shared_converge(
    labs: LabSession | ScenarioLabs, current: LabSession
) -> dict[str, DockerlabError]:
    """Under shared_state, the running scenario's converge on the shared instances (once):
    why each host is unusable. Nothing to say otherwise: the lab's own converge says it."""
    if isinstance(labs, ScenarioLabs) and labs.shared is not None:
        return labs.converge_shared(current)
    return {}


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
    """A stage item: its failure is headed ``default: converge`` (the scenario's name
    first), not by a Python path made of the folders' names. (Not a suffix of the node id:
    pytest would print the id with the domain's dots made ``::``.)"""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.parent.name}: {self.name}"


# The playbook a stage item runs (its side_effect or verify playbook, or the converge for
# check).
PLAYBOOK_KEY = pytest.StashKey[Path]()


def _failures(
    labs: LabSession | ScenarioLabs, current: LabSession, request: pytest.FixtureRequest
) -> dict[str, DockerlabError]:
    """Why each platform is unusable: it did not boot, or did not converge. A platform
    whose image names no recipe of ours and that no registry gave says what to do."""
    names = current.lab.spec.host_names
    current.ensure(names)
    failures = {n: current.setup_failures[n] for n in names if n in current.setup_failures}
    hints = getattr(getattr(request.node.parent, "scenario", None), "foreign_hints", {})
    # A mapped image whose base no source here has (ubuntu:24.04 with no registry): one of
    # ours that bootstraps offline runs it.
    offline = "; --dockerlab-image debian12 runs every platform on one this machine builds"
    missing = [
        f"platform {n}: {current.unavailable[n]}"
        + (f"; {hints[n]}" if n in hints else offline if "no base image" in current.unavailable[n]
           else "")
        for n in names
        if n in current.unavailable
    ]  # fmt: skip
    if missing and request.node.name not in ("converge", "create"):
        pytest.skip("the platforms could not be created: see the converge item")
    if missing:
        # Molecule fails a scenario it cannot create: a skip would pass a CI job. What the
        # platforms that were created said goes with it, or it would be hidden.
        said = dict.fromkeys(str(error) for error in failures.values())
        pytest.fail("\n".join([*missing, *said]), pytrace=False)
    if not failures:
        failures = shared_converge(labs, current)
    warn_deprecations(current.converger)
    return failures


def _converge(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """The scenario's converge: every platform converged."""
    current = lab_of(_dockerlab_lab, request.node)
    failures = {
        n: e for n, e in _failures(_dockerlab_lab, current, request).items()
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
    failures = _failures(_dockerlab_lab, current, request)
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
    failures = _failures(_dockerlab_lab, current, request)
    if failures:
        pytest.skip("the converge failed: nothing to verify")
    _run_stage(current, request)


def _side_effect(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """The scenario's side_effect.yml, before its verify (Molecule's sequence)."""
    current = lab_of(_dockerlab_lab, request.node)
    if _failures(_dockerlab_lab, current, request):
        pytest.skip("the converge failed: no side effect")
    _run_stage(current, request)


def _create(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """Molecule's create, for a sequence with no converge: every platform boots."""
    current = lab_of(_dockerlab_lab, request.node)
    failures = _failures(_dockerlab_lab, current, request)
    if failures:
        pytest.fail(str(next(iter(failures.values()))), pytrace=False)


def _check(_dockerlab_lab: LabSession | ScenarioLabs, request: pytest.FixtureRequest) -> None:
    """Molecule's check step: the converge playbook again in check mode (--check)."""
    current = lab_of(_dockerlab_lab, request.node)
    if _failures(_dockerlab_lab, current, request):
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
    "create": _create,
    "converge": _converge,
    "idempotence": _idempotence,
    "check": _check,
    "side_effect": _side_effect,
    "verify": _verify,
}
