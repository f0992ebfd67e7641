"""pytest-dockerlab's pytest hooks and fixtures.

Thin on purpose: the ``lab`` marker, collection (which hosts the selected tests need),
report sections, and the fixtures. Options and ini keys are :mod:`.options`'; a Molecule
scenario's items are :mod:`.scenario_items`'; the work lives in :mod:`.session`, :mod:`.lab`,
:mod:`.images`, :mod:`.engine` and :mod:`.spec`.
"""

from __future__ import annotations

import contextlib
import copy
import shlex
import signal
import sys
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pytest

from . import options
from .exceptions import (
    ConvergeError,
    DockerlabError,
    EngineLostError,
    EngineUnavailableError,
    LabLostError,
)
from .images import cannot_run, catalogue
from .loading import load_lab, scenario_labs
from .markers import MARKER, MARKER_HELP, check_known, parse_lab_marker
from .outcomes import ANSIBLE_OUTPUT_KEY, SERVED, warn_deprecations
from .settings import LAB_FILE_NAME, NEWEST, Settings
from .signals import handling, raise_interrupt
from .spec import LabSpec, Recipe

if TYPE_CHECKING:
    from pathlib import Path

    from .address import EngineAddress
    from .distribution import Controller, Pool, Recorder
    from .engine import Engine, Progress
    from .labels import SessionIdentity
    from .loading import ScenarioLab
    from .registry import Registry
    from .scenario_items import ScenarioLabs
    from .scheduling import Collected
    from .session import LabSession, LabView
    from .spec.molecule import Scenario


@dataclass
class _State:
    """What one session knows about its lab; lives in ``config.stash``."""

    settings: Settings
    spec: LabSpec | None = None
    scenario: Scenario | None = None  # the Molecule scenario the lab comes from, if any
    # --dockerlab-molecule naming a folder of scenarios (Molecule's --all): each scenario's
    # lab, or why it cannot run; each runs as a lab of its own, one after another.
    scenarios: dict[Path, ScenarioLab] = field(default_factory=dict)
    shared: Path | None = None  # shared_state: the default scenario, whose lab all run on
    shared_said: str = ""  # why shared_state is not honoured
    inventories: dict[Path, Path] = field(default_factory=dict)  # a scenario's inventory
    environments: dict[Path, dict[str, str]] = field(default_factory=dict)  # its MOLECULE_*
    recipes: dict[str, Recipe] = field(default_factory=dict)
    needed: tuple[str, ...] = ()
    identity: SessionIdentity | None = None  # made at start-up, so the header can show it
    address: EngineAddress | None = None  # resolved once; every client is handed it
    engine: Engine | None = None
    registry: Registry | None = None  # shared by the session's labs
    kept: list[str] = field(default_factory=list)  # how to enter and remove kept labs
    # Labs lost with their engine: what may remain there, and the line that removes it.
    left: list[str] = field(default_factory=list)
    shard_said: str = ""  # this CI shard holds no lab (it passes)
    start_error: DockerlabError | None = None  # an xdist worker's: each of its tests says it
    signals: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    # Where the session is, for the line an interrupt prints.
    where: str = "start-up"
    last_step: str = ""
    collection_failed: bool = False  # a marker error: nothing more to say about hosts
    lab_failures: int = 0  # reports of tests using the lab that failed: keep on failure
    # The first test that showed a failed run's whole Ansible output, by run.
    shown_output: dict[int, str] = field(default_factory=dict)
    pool: Pool | None = None  # the engine pool: the engines that answered, what each is
    controller: Controller | None = None  # an xdist controller's part
    recorder: Recorder | None = None  # one session's: its labs' durations

    @property
    def has_lab(self) -> bool:
        return self.spec is not None or bool(self.scenarios)

    def scenario_of(self, path: Path) -> Path | None:
        """The scenario of a folder of scenarios that ``path`` is in (None: none of them)."""
        return next((f for f in self.scenarios if f == path or f in path.parents), None)

    def all_scenarios(self) -> list[Scenario]:
        """The scenarios of this session that can run: its one, or those of its folder."""
        if self.scenario is not None:
            return [self.scenario]
        return [lab.scenario for lab in self.scenarios.values() if lab.scenario is not None]


STATE_KEY = pytest.StashKey[_State]()
HOSTS_KEY = pytest.StashKey[tuple[str, ...]]()
VIEW_KEY = pytest.StashKey["LabView"]()
LOST_KEY = pytest.StashKey[str]()  # a lab lost with its engine during the test: what to do


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """``--dockerlab-keep tests/``: the path is a path, not the flag's value."""
    before = list(args)
    options.split_optional_values(args)
    if args != before:
        # The first parse already took the path as the value: parse again for the conftests.
        confcutdir = early_config.known_args_namespace.confcutdir
        early_config.known_args_namespace = parser.parse_known_args(
            args, namespace=copy.copy(early_config.option)
        )
        early_config.known_args_namespace.confcutdir = confcutdir


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    state = _State(settings=options.resolve(config))
    config.stash[STATE_KEY] = state
    try:
        state.spec, state.recipes, state.scenario = load_lab(state.settings)
        found = scenario_labs(state.settings)
        if found is not None:
            state.scenarios, state.shared, state.shared_said = found.labs, found.shared, found.said
            state.recipes.update(found.recipes)  # the images of every scenario
    except DockerlabError as exc:
        raise pytest.UsageError(f"dockerlab: {exc}") from exc
    if not state.has_lab:
        return
    workerinput = getattr(config, "workerinput", None)
    controller = workerinput is None and bool(getattr(config.option, "numprocesses", None))
    if state.settings.engines and workerinput is None:
        from .distribution import Pool

        try:  # the controller (or the one session) asks once
            state.pool = Pool.check(state.settings)
        except DockerlabError as exc:
            raise pytest.UsageError(f"dockerlab: {exc}") from exc
    _hand_out_address(state, workerinput)
    if workerinput is not None:  # the kept labs' lines, for the controller's summary
        from .distribution import KEPT

        config.workeroutput[KEPT] = state.kept  # type: ignore[attr-defined]
    # From here on a SIGTERM (a CI job cancelled, `timeout`) unwinds like Ctrl-C, so a build
    # or a boot before the first test is cleaned up like the rest.
    state.signals.enter_context(handling((signal.SIGTERM,), raise_interrupt, only_default=True))
    if controller:
        # Each worker is a session of its own, with its own id; the controller hands out
        # engines and labs, and keeps the durations.
        from .distribution import Controller

        state.controller = Controller(config, state.settings, state.pool)
        config.pluginmanager.register(state.controller, "dockerlab-distribution")
        return
    from .labels import SessionIdentity

    config.pluginmanager.register(_InterruptLine(config), "dockerlab-interrupt")
    if workerinput is None:  # one session: it records its labs' durations itself
        from .distribution import Recorder

        state.recorder = Recorder(config, state.settings)
        config.pluginmanager.register(state.recorder, "dockerlab-durations")
    state.identity = SessionIdentity.create(workerinput["workerid"] if workerinput else None)
    if state.scenario is not None or state.scenarios:
        _scenario_verifier(config, state)


def _hand_out_address(state: _State, workerinput: dict[str, Any] | None) -> None:
    """Resolve the engine once, and hand it to this process's children (Ansible's connection,
    testinfra's backend, the reaper) until the session ends: the one the docker CLI would
    use, or the pool's engine this worker was given (the first that answered, without -n)."""
    from .address import exported, pool_member, resolve
    from .distribution import ENGINE

    try:
        if workerinput is not None and workerinput.get(ENGINE):
            state.address = pool_member(workerinput[ENGINE])
        elif state.pool is not None:
            state.address = pool_member(state.pool.live[0])
        else:
            state.address = resolve()
    except DockerlabError as exc:
        raise pytest.UsageError(f"dockerlab: {exc}") from exc
    state.signals.enter_context(exported(state.address))


def _inventory(state: _State, spec: LabSpec, identity: SessionIdentity) -> Path:
    """A scenario's inventory for testinfra (see :func:`.scenario_items.write_inventory`),
    removed when the session ends."""
    from .scenario_items import write_inventory

    inventory = write_inventory(state.recipes, spec, identity)
    state.signals.callback(inventory.unlink, missing_ok=True)
    return inventory


def _scenario_verifier(config: pytest.Config, state: _State) -> None:
    """What a scenario's testinfra tests expect from Molecule's verifier: an inventory of the
    platforms (``MOLECULE_INVENTORY_FILE``), the ``MOLECULE_*`` variables, and testinfra's
    ``--hosts`` and ``--ansible-inventory`` naming the platforms (test ids stay the
    platforms' names: ``ansible://instance``). A folder of scenarios gets an inventory per
    scenario; its variables are set while the scenario runs (:class:`.ScenarioLabs`)."""
    from .ansible import ansible_search_path
    from .scenario_items import scenario_environments

    assert state.identity is not None
    # testinfra reads the inventory with ansible-inventory, from this environment's scripts.
    # pytest's MonkeyPatch sets them and gives back exactly what was there.
    environment = pytest.MonkeyPatch()
    state.signals.callback(environment.undo)
    environment.setenv("PATH", ansible_search_path())
    for folder, lab in state.scenarios.items():
        if lab.spec is not None:
            # Under shared_state, every scenario's platforms are the default's containers.
            identity = state.identity.with_variant((state.shared or folder).name)
            state.inventories[folder] = _inventory(state, lab.spec, identity)
    state.environments = scenario_environments(state.scenarios, state.inventories, state.shared)
    if state.scenario is None:
        return
    assert state.spec is not None
    inventory = _inventory(state, state.spec, state.identity)
    variables = {**state.scenario.environment, "MOLECULE_INVENTORY_FILE": str(inventory)}
    for name, value in variables.items():
        environment.setenv(name, value)
    if state.scenario.testinfra and getattr(config.option, "hosts", None) is None:
        config.option.hosts = ",".join(f"ansible://{name}" for name in state.spec.host_names)
        config.option.ansible_inventory = str(inventory)


def pytest_report_header(config: pytest.Config) -> str | list[str] | None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.has_lab:
        return None
    session = (
        f"session {state.identity.session_id}"
        if state.identity is not None
        else "one session per xdist worker: python -m pytest_dockerlab list"
    )
    if state.spec is not None:
        hosts = ", ".join(state.spec.host_names)
        lines = [f"dockerlab: {state.spec.path} (hosts: {hosts}; {session})"]
    else:
        how = (
            f"all on the instances of {state.shared.name} (shared_state)"
            if state.shared is not None
            else "each a lab of its own, one after another"
        )
        lines = [
            f"dockerlab: the Molecule scenarios in {state.settings.molecule}, {how} ({session}):"
        ]
        for folder, lab in state.scenarios.items():
            said = f"hosts: {', '.join(lab.spec.host_names)}" if lab.spec is not None else "error"
            lines.append(f"dockerlab:   {folder.name} ({said})")
    if state.pool is not None:
        workers = int(getattr(config.option, "numprocesses", 0) or 0)
        dist = str(getattr(config.option, "dist", "no"))
        pool_lines = state.pool.lines(state.settings, workers, dist)
        lines += [f"dockerlab: {line}" for line in pool_lines]
    elif state.address is not None:
        lines.append(f"dockerlab: engine {state.address.describe()}")
        if state.settings.retry_lost_labs:
            lines.append(
                "dockerlab: --dockerlab-retry-lost-labs: no effect here (it takes -n and a "
                "pool of engines, --dockerlab-engines)"
            )
    settings = state.settings
    if settings.registry:
        from .registry import describe

        words = describe(
            settings.registry, push=settings.registry_push, required=settings.registry_required
        )
        lines.append(f"dockerlab: registry {words}")
    if state.scenario is not None:
        lines += [f"dockerlab: molecule.yml {line}" for line in state.scenario.summary()]
    if state.shared_said:
        lines.append(f"dockerlab: {state.shared_said}")
    for folder, lab in state.scenarios.items():
        if lab.scenario is not None:
            lines += [
                f"dockerlab: {folder.name}/molecule.yml {line}" for line in lab.scenario.summary()
            ]
        else:
            lines.append(f"dockerlab: {folder.name} cannot run: {lab.error}")
    return lines


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A scenario's tests/ run only with the testinfra verifier, as in Molecule, and only
    the scenario's own: another scenario's tests (``pytest --dockerlab-molecule molecule/lh``
    from the role's root finds ``molecule/default/tests``) would get this machine as
    ``host``."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or (state.scenario is None and not state.scenarios):
        return None
    if collection_path.name == "tests" and (collection_path.parent / "molecule.yml").is_file():
        own = [s for s in state.all_scenarios() if s.tests == collection_path]
        return None if own and own[0].testinfra else True
    # Under the scenarios' folder (molecule/), only what they run: their molecule.yml and
    # their testinfra tests; other scenarios' test files (a shared verifier's, whose
    # imports may need what this machine lacks) would get this machine as ``host``.
    scenarios = state.all_scenarios()
    folders = {s.folder for s in scenarios} | set(state.scenarios)  # those that cannot run too
    if not any(folder.parent in collection_path.parents for folder in folders):
        return None
    wanted = [f / "molecule.yml" for f in folders] + [s.tests.resolve() for s in scenarios
                                                      if s.testinfra and s.tests]  # fmt: skip
    for path in wanted:
        if collection_path == path or path in collection_path.parents:
            return None
        if collection_path in path.parents:  # a folder on the way to one
            return None
    return True


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """A test module of a folder of scenarios is imported with its scenario's ``MOLECULE_*``
    variables set, as Molecule runs it (``AnsibleRunner(os.environ[
    "MOLECULE_INVENTORY_FILE"])`` at import is common)."""
    state = collector.config.stash.get(STATE_KEY, None)
    folder = (
        state.scenario_of(collector.path) if state and isinstance(collector, pytest.File) else None
    )
    if state is None or folder is None:
        return (yield)
    with pytest.MonkeyPatch.context() as environment:
        for name, value in state.environments.get(folder, {}).items():
            environment.setenv(name, value)
        return (yield)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A Molecule scenario's molecule.yml: its converge, idempotence pass and verify."""
    state = parent.config.stash.get(STATE_KEY, None)
    if state is None or file_path.name != "molecule.yml":
        return None
    from .scenario_items import ScenarioFile

    if state.scenario is not None and file_path == state.scenario.path:
        return ScenarioFile.from_parent(parent, path=file_path, scenario=state.scenario)
    lab = state.scenarios.get(file_path.parent)
    if lab is None:
        return None
    # A scenario that cannot run fails an item of its own: the others still run.
    scenario = lab.scenario or lab.error
    assert scenario is not None
    return ScenarioFile.from_parent(parent, path=file_path, scenario=scenario)


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """A pass that ran nothing (its hosts came converged from the cache or a reused lab)
    says so: ``::converge PASSED (nothing ran: the converge cache: entry 0123456789ab)``."""
    if report.when != "call" or not report.passed:
        return None
    served = dict(report.user_properties).get(SERVED)
    if served is None:
        return None
    return "passed", ".", f"PASSED (nothing ran: {served})"


@pytest.hookimpl(trylast=True)  # after -k and -m: the labs and shards of what runs
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = config.stash[STATE_KEY]
    problems = []
    for item in items:
        marker = item.get_closest_marker(MARKER)
        fixtures = getattr(item, "fixturenames", ())
        # A scenario's own items, and its testinfra tests (on every platform).
        uses_lab = (
            "lab" in fixtures
            or "_dockerlab_lab" in fixtures
            or (bool(state.all_scenarios()) and "_testinfra_host" in fixtures)
        )
        if marker is None and not uses_lab:
            continue
        spec = state.spec
        if state.scenarios:
            folder = state.scenario_of(item.path)
            lab = state.scenarios.get(folder) if folder is not None else None
            if lab is None:
                problems.append(
                    f"{item.nodeid}: uses the lab, but is in none of the scenarios of "
                    f"{state.settings.molecule}"
                )
                continue
            spec = lab.spec
            if spec is None:  # its scenario's item says why it cannot run
                item.stash[HOSTS_KEY] = ()
                continue
        if spec is None:
            problems.append(
                f"{item.nodeid}: uses the lab but no {LAB_FILE_NAME} was found "
                "(put one beside the tests, or pass --dockerlab-file)"
            )
            continue
        try:
            if marker is None:
                names = spec.host_names
            else:
                names = parse_lab_marker(marker.args, marker.kwargs)
                check_known(names, spec.host_names, item.nodeid)
        except DockerlabError as exc:
            problems.append(f"{item.nodeid}: {exc}" if item.nodeid not in str(exc) else str(exc))
            continue
        item.stash[HOSTS_KEY] = names
    if problems:
        state.collection_failed = True
        raise pytest.UsageError("dockerlab: " + "\n".join(problems))
    from .distribution import spread

    state.shard_said = spread(
        config, state.settings, items, _collected(state, items), state.recorder
    )


def _collected(state: _State, items: list[pytest.Item]) -> list[Collected]:
    """What the scheduler knows of each test: its hosts, and the image of the matrix or the
    Molecule scenario it runs on."""
    from .scheduling import Collected

    def variant(item: pytest.Item) -> str:
        callspec = getattr(item, "callspec", None)
        image = callspec.params.get("_dockerlab_image") if callspec is not None else None
        scenario = state.scenario_of(item.path) if state.scenarios else None
        return str(image or (scenario.name if scenario else ""))

    return [Collected(i.nodeid, i.stash.get(HOSTS_KEY, ()), variant(i)) for i in items]


@pytest.hookimpl(tryfirst=True)  # before the terminal reports the collection
def pytest_collection_finish(session: pytest.Session) -> None:
    """Work out which hosts the selected tests need, and reach the engine before any test runs."""
    state = session.config.stash[STATE_KEY]
    # pytest calls this even when collection failed: the marker error must stay the one shown.
    if not state.has_lab or state.collection_failed:
        return
    wanted = {name for item in session.items for name in item.stash.get(HOSTS_KEY, ())}
    if state.spec is not None:
        state.needed = tuple(name for name in state.spec.host_names if name in wanted)
    # A folder of scenarios: each scenario's lab boots what its items ask for.
    if not (state.needed or (state.scenarios and wanted)) or session.config.option.collectonly:
        return
    from .docker_engine import DockerEngine
    from .registry import Registry

    try:
        state.engine = DockerEngine(state.address)
        settings = state.settings
        if settings.registry:
            state.registry = Registry(
                state.engine,
                settings.registry,
                _progress(session.config),
                push=settings.registry_push,
                required=settings.registry_required,
            )
        if state.settings.image:
            _check_explicit_image(state, state.settings.image, session.config)
        if state.settings.reuse is not None:
            _reuse(state, session.config)
    except DockerlabError as exc:
        if getattr(session.config, "workerinput", None) is None:
            raise pytest.UsageError(f"dockerlab: {exc}") from exc
        # An xdist worker that stopped here would never send its collection, and the
        # controller would wait for it forever: its tests error with the cause instead (an
        # engine of the pool that died since the controller asked it is a lab lost).
        state.start_error = exc


def _reuse(state: _State, config: pytest.Config) -> None:
    """Take the identity of the kept lab to run on: its containers' names follow from it."""
    from .cleanup import kept_lab, labs_on

    if state.spec is None:
        raise DockerlabError(
            "--dockerlab-reuse runs one lab: name one scenario of the folder, not all of them"
        )
    assert state.engine is not None and state.identity is not None
    if _is_xdist_worker(config):
        raise DockerlabError("--dockerlab-reuse runs one session on one lab: drop -n")
    wanted = None if state.settings.reuse == NEWEST else state.settings.reuse
    lab = kept_lab(
        labs_on(state.engine), session_id=wanted, lab_file=None if wanted else state.spec.path
    )
    if lab.lab_file and lab.lab_file != str(state.spec.path):
        raise DockerlabError(
            f"kept lab {lab.session_id} comes from {lab.lab_file}, not {state.spec.path}"
        )
    state.identity = replace(state.identity, session_id=lab.session_id, worker=lab.worker)
    _check_networks(state.engine, state.spec, state.identity, lab.hosts)
    _progress(config)(f"reusing kept lab {lab.session_id} ({', '.join(lab.hosts) or 'no hosts'})")


def _check_networks(
    engine: Engine, spec: LabSpec, identity: SessionIdentity, hosts: Sequence[str]
) -> None:
    """A kept lab whose network was removed by hand cannot start its hosts again (each is
    still attached to the network that is gone): say so before anything starts."""
    from . import labels as lbl
    from .spec import DEFAULT_NETWORK

    session_id = identity.session_id
    there = {
        found.labels.get(lbl.NETWORK)
        for found in engine.labelled({lbl.SESSION: session_id})
        if found.kind == "network"
    }
    needed = {n.name for h in hosts if h in spec.hosts for n in spec.hosts[h].container.networks}
    missing = [
        identity.network_name("" if name == DEFAULT_NETWORK else name)
        for name in sorted(needed - there)
    ]
    if missing:
        were = "was" if len(missing) == 1 else "were"
        raise DockerlabError(
            f"kept lab {session_id} cannot be reused: its network {', '.join(missing)} {were} "
            f"removed, and its hosts cannot start without it. 'dockerlab down --session "
            f"{session_id}' removes the rest of it; a run without --dockerlab-reuse makes a new "
            "lab."
        )


def _check_explicit_image(state: _State, image: str, config: pytest.Config) -> None:
    """An image asked for by name must be usable here: say why not before anything starts."""
    from .images import ImageBuilder

    assert state.engine is not None
    recipe = state.recipes[image]
    reason = cannot_run(recipe, state.engine.facts())
    if reason:
        raise DockerlabError(reason)
    assert state.identity is not None
    builder = ImageBuilder(
        state.engine,
        _progress(config),
        state.settings.base_source,
        state.identity.labels(),
        registry=state.registry,
        base_mirror=state.settings.base_mirror,
    )
    builder.ensure(recipe)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--dockerlab-info``: what the engine is, and how each image would run on it."""
    if not config.option.dockerlab_info:
        return None
    from .docker_engine import DockerEngine
    from .images import describe_engine

    # Before pytest_configure: read the settings and the lab file's recipes ourselves.
    try:
        _, recipes, _ = load_lab(options.resolve(config))
        engine = DockerEngine()
    except (DockerlabError, pytest.UsageError) as exc:
        sys.stderr.write(f"dockerlab: {str(exc).removeprefix('dockerlab: ')}\n")
        return int(pytest.ExitCode.USAGE_ERROR)
    try:
        for line in describe_engine(engine, recipes or catalogue()):
            sys.stdout.write(line + "\n")
    finally:
        engine.close()
    return int(pytest.ExitCode.OK)


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    state = config.stash[STATE_KEY]
    if not state.has_lab or state.collection_failed:
        return None
    if state.spec is None:
        return None  # a folder of scenarios: the header listed each one's hosts
    needed = ", ".join(state.needed) or "none"
    return f"dockerlab: hosts needed by the selected tests: {needed}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    _ours_only(item, call)
    report = yield
    if report.failed and HOSTS_KEY in item.stash:
        item.config.stash[STATE_KEY].lab_failures += 1
    if not report.failed:
        return report
    current = _open_lab(item)
    lost = current.lost if current is not None else None
    state = item.config.stash[STATE_KEY]
    if lost is not None:  # the xdist controller gives this worker no more labs (see .distribution)
        from .distribution import ENGINE_LOST, SESSION_LOST

        report.user_properties += [(ENGINE_LOST, lost.engine), (SESSION_LOST, lost.session_id)]
    elif (
        isinstance(state.start_error, EngineUnavailableError)
        and state.address is not None
        and HOSTS_KEY in item.stash  # a test of the lab, not any test of this worker
    ):
        from .distribution import ENGINE_LOST, SESSION_LOST

        # Lost before it made anything there: no session to clean.
        report.user_properties += [(ENGINE_LOST, state.address.describe()), (SESSION_LOST, "")]
    sections = []
    if LOST_KEY in item.stash:
        sections.append(("dockerlab: lab lost", item.stash[LOST_KEY]))
    output = item.stash.get(ANSIBLE_OUTPUT_KEY, None)
    if output:
        sections.append(("dockerlab: ansible output", output))
    view = item.stash.get(VIEW_KEY, None)
    if view is not None and call.when != "teardown":
        try:
            sections.extend(view.diagnostics())
        except DockerlabError as exc:  # the engine went away: the failure is still the news
            sections.append(("dockerlab: no diagnostics", str(exc)))
    # In the failure's own text: the terminal shows it under the traceback, and JUnit XML
    # (whose <failure> is that text) carries it with no junit_logging setting needed.
    addsection = getattr(report.longrepr, "addsection", None)
    for name, content in sections:
        if addsection is not None:
            addsection(name, content)
        else:
            report.sections.append((name, content))
    return report


def _open_lab(item: pytest.Item) -> LabSession | None:
    """The lab this test ran on (of a folder of scenarios: the one that was open)."""
    from .scenario_items import ScenarioLabs

    current = getattr(item, "funcargs", {}).get("_dockerlab_lab")
    return current.open if isinstance(current, ScenarioLabs) else current


def _ours_only(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Before pytest writes the report: an error of ours is its message and our frames, not
    the SDK's, requests' and urllib3's under it (``--full-trace`` shows those). An engine
    that stopped answering during a test loses the lab for the tests after it."""
    error = call.excinfo.value if call.excinfo is not None else None
    if not isinstance(error, DockerlabError):
        return
    if isinstance(error, LabLostError):  # a test's own call found the engine gone
        item.config.stash[STATE_KEY].shown_output.setdefault(id(error), item.nodeid)
    if isinstance(error, EngineLostError):
        current = _open_lab(item)
        lost = current.lose(error) if current is not None else None
        if lost is not None:
            item.stash[LOST_KEY] = str(lost)
            # The tests after this one point to its report.
            item.config.stash[STATE_KEY].shown_output.setdefault(id(lost), item.nodeid)
    if not item.config.option.fulltrace:
        error.__cause__ = None
        error.__suppress_context__ = True


def _progress(config: pytest.Config) -> Progress:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    quiet = config.get_verbosity() < 0
    state = config.stash[STATE_KEY]

    def show(message: str) -> None:
        state.last_step = message.strip()
        if reporter is None or (quiet and message.startswith("  ")):
            return
        # Fixture set-up runs under output capture; progress belongs on the terminal now.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(f"dockerlab: {message}")

    return show


@pytest.fixture(scope="session")
def _dockerlab_session(request: pytest.FixtureRequest) -> Iterator[SessionIdentity]:
    """Who owns this session's resources; every way out of the session removes them."""
    from .cleanup import session_guard, sweep_stale
    from .reaper import watching

    state = request.config.stash[STATE_KEY]
    if state.start_error is not None:  # this worker could not start its lab
        raise state.start_error
    if not state.has_lab or state.engine is None or state.identity is None:
        raise DockerlabError("no lab for this session (no lab file, or no test needs a host)")
    identity = state.identity
    sweep_stale(state.engine, identity, _progress(request.config))
    guard = session_guard(state.engine, identity, state.settings.keeps)
    # The reaper covers SIGKILL, which no handler in this process can.
    with watching(identity), guard:
        yield identity


@pytest.fixture(scope="session")
def _dockerlab_image(request: pytest.FixtureRequest) -> str | None:
    """The image of ``images.matrix`` this test runs on (None without a matrix)."""
    return getattr(request, "param", None)


@pytest.hookimpl(tryfirst=True)  # before testinfra's, which reads testinfra_hosts
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash.get(STATE_KEY, None)
    if state is not None and state.scenarios and "_testinfra_host" in metafunc.fixturenames:
        _scenario_hosts(state, metafunc)
    if state is None or state.spec is None or not state.spec.images.matrix:
        return
    if "lab" in metafunc.fixturenames:
        # Session scope groups the tests by image: pytest boots each image's lab once and
        # removes it when the tests move on to the next image.
        matrix = state.spec.images.matrix
        metafunc.parametrize("_dockerlab_image", matrix, indirect=True, scope="session")


def _scenario_hosts(state: _State, metafunc: pytest.Metafunc) -> None:
    """A testinfra test of a folder of scenarios runs on its own scenario's platforms,
    through that scenario's inventory (``ansible://web?ansible_inventory=...``, test ids
    ``ansible://web``), unless ``--hosts`` names others."""
    folder = state.scenario_of(metafunc.definition.path)
    lab = state.scenarios.get(folder) if folder is not None else None
    if lab is None or lab.spec is None or getattr(metafunc.config.option, "hosts", None):
        return
    inventory = state.inventories[lab.folder]
    metafunc.module.testinfra_hosts = [
        f"ansible://{name}?ansible_inventory={inventory}" for name in lab.spec.host_names
    ]


@pytest.fixture(scope="session")
def _dockerlab_lab(
    request: pytest.FixtureRequest,
    _dockerlab_session: SessionIdentity,
    _dockerlab_image: str | None,
) -> Iterator[LabSession | ScenarioLabs]:
    """One lab: the hosts the selected tests need, on one image of the matrix (if any); for
    a folder of scenarios, each scenario's lab in turn (see :func:`lab_of`)."""
    state = request.config.stash[STATE_KEY]
    assert state.engine is not None  # checked by _dockerlab_session
    config, identity = request.config, _dockerlab_session
    if state.scenarios:
        from .scenario_items import ScenarioLabs

        def scenario(folder: Path) -> contextlib.AbstractContextManager[LabSession]:
            spec, error = state.scenarios[folder].spec, state.scenarios[folder].error
            if spec is None:  # a scenario's own failing item; or the shared_state default's
                assert error is not None
                raise error
            if folder == state.shared:  # every scenario's stages converge it in turn
                nothing = replace(spec.ansible, playbooks=(), prepare=(), cleanup=())
                spec = replace(spec, ansible=nothing)
            return _one_lab(config, spec, identity.with_variant(folder.name), ())

        specs = {f: lab.spec for f, lab in state.scenarios.items() if lab.spec is not None}
        environments = state.environments
        with ScenarioLabs(state.scenario_of, scenario, environments, specs, state.shared) as labs:
            yield labs
        return
    spec = state.spec
    assert spec is not None
    if _dockerlab_image is not None:
        spec, identity = spec.on_image(_dockerlab_image), identity.with_variant(_dockerlab_image)
    # An xdist worker collects every test but runs only some: it boots hosts as its tests
    # ask for them (see the `lab` fixture), not every host the whole run needs.
    needed = () if _is_xdist_worker(request.config) else state.needed
    with _one_lab(config, spec, identity, needed) as current:
        yield current


@contextlib.contextmanager
def _one_lab(
    config: pytest.Config, spec: LabSpec, identity: SessionIdentity, needed: Sequence[str]
) -> Iterator[LabSession]:
    """A lab from its start to its removal (or keeping, or loss with its engine)."""
    from .session import LabSession

    state = config.stash[STATE_KEY]
    assert state.engine is not None
    # An engine of a pool is not the one a shell's docker would reach: name it.
    prefix, host = "", ""
    if state.settings.engines and state.address is not None:
        env = state.address.environment().items()  # with its TLS settings, if any
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in env if v)
        host = shlex.quote(state.address.host)
    current = LabSession(
        spec,
        state.engine,
        state.recipes,
        identity,
        state.settings,
        needed,
        _progress(config),
        state.registry,
        prefix,
        host,
    )
    failed_before = state.lab_failures
    with current:
        yield current
        current.keep_if_failed(state.lab_failures > failed_before)
        if current.lab.keep and current.lab.running:
            state.kept.append(current.keep_instructions())
    if current.lost is not None:
        lost = current.lost
        state.left.append(
            f"the lab of session {lost.session_id} may remain on {lost.engine}, which stopped "
            f"answering; once it answers: {lost.clean}"
        )


@pytest.fixture
def lab(request: pytest.FixtureRequest, _dockerlab_lab: LabSession | ScenarioLabs) -> LabView:
    """The lab hosts this test names in ``@pytest.mark.lab("web,db")`` (every host without one).

    ``lab.host("web")`` is a testinfra Host; ``lab.exec("web", "cmd")`` runs a raw command;
    ``lab.restart("web")`` stops and starts the host and waits until it has booted again;
    ``lab.converge(playbook)`` and ``lab.assert_idempotent(playbook)`` run Ansible;
    ``lab.hosts`` lists the names.
    """
    __tracebackhide__ = True
    from .scenario_items import lab_of, shared_converge

    current = lab_of(_dockerlab_lab, request.node)
    names = request.node.stash.get(HOSTS_KEY, current.lab.spec.host_names)
    current.ensure(names)
    for name in names:
        if name in current.unavailable:
            pytest.skip(f"host {name}: {current.unavailable[name]}")
    failures = [current.setup_failures[n] for n in names if n in current.setup_failures]
    if not failures:  # under shared_state: its scenario's converge, once
        converged = shared_converge(_dockerlab_lab, current)
        failures = [converged[n] for n in names if n in converged]
    if failures:
        # The session converge failed for a host this test needs: the test errors, it does not
        # fail, and its report carries Ansible's whole output.
        if isinstance(failures[0], ConvergeError):
            result = failures[0].result
            # The whole output once per run; the other tests of that run point to it.
            state = request.config.stash[STATE_KEY]
            first = state.shown_output.setdefault(id(result), request.node.nodeid)
            request.node.stash[ANSIBLE_OUTPUT_KEY] = (
                result.output
                if first == request.node.nodeid
                else f"(the whole output of this run is in the report of {first})"
            )
        if isinstance(failures[0], LabLostError):
            # The whole story once per lost lab; the tests after it point to it.
            state = request.config.stash[STATE_KEY]
            first = state.shown_output.setdefault(id(failures[0]), request.node.nodeid)
            if first != request.node.nodeid:
                lost = failures[0]
                raise DockerlabError(f"lab lost with the engine at {lost.engine}: see {first}")
        # One error object for many tests: without a fresh traceback, each raise would add
        # this test's frames to the ones before.
        raise failures[0].with_traceback(None)
    warn_deprecations(current.converger)
    view = current.view(names)
    request.node.stash[VIEW_KEY] = view
    return view


@pytest.fixture(autouse=True)
def _dockerlab_scenario_hosts(request: pytest.FixtureRequest) -> None:
    """A Molecule scenario's testinfra tests need the lab up (and converged) first."""
    state = request.config.stash.get(STATE_KEY, None)
    if state is not None and state.all_scenarios() and "_testinfra_host" in request.fixturenames:
        request.getfixturevalue("lab")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _where(item.config, f"setting up {item.nodeid}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _where(item.config, f"running {item.nodeid}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _where(item.config, f"tearing down {item.nodeid}")


def _where(config: pytest.Config, where: str) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.where = where


class _InterruptLine:
    """Says where Ctrl-C or SIGTERM caught the session, and what becomes of its lab.

    A plugin object, because ``pytest_keyboard_interrupt`` is not handed the config.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        state = self.config.stash.get(STATE_KEY, None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if state is None or state.identity is None or state.engine is None or reporter is None:
            return
        step = f" (last lab step: {state.last_step})" if state.last_step else ""
        what = "keeping" if state.settings.keeps else "removing"
        reporter.write_line(
            f"dockerlab: interrupted while {state.where}{step}; {what} the lab of session "
            f"{state.identity.session_id}"
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE_KEY, None)
    if state is not None and state.shard_said and state.controller is None:
        terminalreporter.write_line(f"dockerlab: {state.shard_said}")
    if state is not None and (state.kept or state.left):
        terminalreporter.section("dockerlab")
        for instructions in [*state.kept, *state.left]:
            terminalreporter.write_line(instructions)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A lab that may remain on an engine that stopped answering fails the run, even when
    every test passed: CI must not take it for a clean one."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None and state.left and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state is not None and state.shard_said and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.signals.close()
    if state is not None and state.engine is not None:
        state.engine.close()
        state.engine = None
