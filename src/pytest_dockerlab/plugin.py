"""pytest-dockerlab's pytest hooks and fixtures.

Thin on purpose: options and ini keys, the ``lab`` marker, collection (which hosts
the selected tests need), report sections, and the fixtures. The work lives in
:mod:`.lab`, :mod:`.images`, :mod:`.engine` and :mod:`.labfile`.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pytest

from . import config as cfg
from .exceptions import DockerlabError
from .images import Recipe, catalogue
from .labfile import LabSpec, load_lab_file
from .markers import MARKER, MARKER_HELP, check_known, parse_lab_marker

if TYPE_CHECKING:
    from .ansible import AnsibleSettings
    from .engine import Engine
    from .lab import LabPool, LabView


@dataclass
class _State:
    """What one session knows about its lab; lives in ``config.stash``."""

    settings: cfg.Settings
    spec: LabSpec | None = None
    recipes: dict[str, Recipe] = field(default_factory=dict)
    ansible: AnsibleSettings | None = None
    needed: tuple[str, ...] = ()
    engine: Engine | None = None
    kept: str = ""  # how to enter and remove a lab kept with --dockerlab-keep


STATE_KEY = pytest.StashKey[_State]()
HOSTS_KEY = pytest.StashKey[tuple[str, ...]]()
VIEW_KEY = pytest.StashKey["LabView"]()
ANSIBLE_OUTPUT_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    cfg.add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    settings = cfg.resolve(config)
    state = _State(settings=settings)
    config.stash[STATE_KEY] = state
    if settings.lab_file is None:
        return
    try:
        state.spec = load_lab_file(settings.lab_file)
        extra = [state.spec.root / str(p) for p in state.spec.images.get("recipes", []) or []]
        state.recipes = catalogue(extra)
        state.ansible = _ansible_settings(state.spec)
    except DockerlabError as exc:
        raise pytest.UsageError(f"dockerlab: {exc}") from exc
    image = settings.image
    if image is not None:
        if image not in state.recipes:
            raise pytest.UsageError(
                f"dockerlab: --dockerlab-image {image}: unknown image; "
                f"known images: {', '.join(sorted(state.recipes))}"
            )
        # One image for the whole run: it replaces the lab file's default and its matrix.
        state.spec = replace(state.spec.on_image(image), images={**state.spec.images, "matrix": []})
    for name in state.spec.matrix:
        if name not in state.recipes:
            raise pytest.UsageError(
                f"dockerlab: lab file {state.spec.path}: images.matrix names unknown image "
                f"{name!r}; known images: {', '.join(sorted(state.recipes))}"
            )
    for host in state.spec.hosts.values():
        if host.image not in state.recipes:
            raise pytest.UsageError(
                f"dockerlab: lab file {state.spec.path}: host {host.name!r} uses unknown image "
                f"{host.image!r}; known images: {', '.join(sorted(state.recipes))}"
            )


def _ansible_settings(spec: LabSpec) -> AnsibleSettings | None:
    if not spec.ansible:
        return None
    from .ansible import AnsibleSettings
    from .exceptions import LabFileError

    try:
        settings = AnsibleSettings.from_lab(spec.ansible, spec.root)
    except DockerlabError as exc:
        raise LabFileError(spec.path, str(exc)) from exc
    for playbook in settings.playbooks:
        if not playbook.is_file():
            raise LabFileError(spec.path, f"ansible.playbooks: playbook not found: {playbook}")
    return settings


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.spec is None:
        return None
    return f"dockerlab: {state.spec.path} (hosts: {', '.join(state.spec.host_names)})"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = config.stash[STATE_KEY]
    problems = []
    for item in items:
        marker = item.get_closest_marker(MARKER)
        uses_lab = "lab" in getattr(item, "fixturenames", ())
        if marker is None and not uses_lab:
            continue
        if state.spec is None:
            problems.append(
                f"{item.nodeid}: uses the lab but no {cfg.LAB_FILE_NAME} was found "
                "(put one beside the tests, or pass --dockerlab-file)"
            )
            continue
        try:
            if marker is None:
                names = state.spec.host_names
            else:
                names = parse_lab_marker(marker.args, marker.kwargs)
                check_known(names, state.spec.host_names, item.nodeid)
        except DockerlabError as exc:
            problems.append(f"{item.nodeid}: {exc}" if item.nodeid not in str(exc) else str(exc))
            continue
        item.stash[HOSTS_KEY] = names
    if problems:
        raise pytest.UsageError("dockerlab: " + "\n".join(problems))


@pytest.hookimpl(tryfirst=True)  # before the terminal reports the collection
def pytest_collection_finish(session: pytest.Session) -> None:
    """Work out which hosts the selected tests need, and reach the engine before any test runs."""
    state = session.config.stash[STATE_KEY]
    if state.spec is None:
        return
    wanted = {name for item in session.items for name in item.stash.get(HOSTS_KEY, ())}
    state.needed = tuple(name for name in state.spec.host_names if name in wanted)
    if not state.needed or session.config.option.collectonly:
        return
    from .engine import connect

    try:
        state.engine = connect(state.settings.engine)
        if state.settings.image:
            _check_explicit_image(state, state.settings.image, session.config)
    except DockerlabError as exc:
        raise pytest.UsageError(f"dockerlab: {exc}") from exc


def _check_explicit_image(state: _State, image: str, config: pytest.Config) -> None:
    """An image asked for by name must be usable here: say why not before anything starts."""
    from .images import ImageBuilder

    assert state.engine is not None
    recipe = state.recipes[image]
    reason = recipe.cannot_run_on(state.engine.facts())
    if reason:
        raise DockerlabError(reason)
    ImageBuilder(state.engine, _progress(config), state.settings.base_source).ensure(recipe)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--dockerlab-info``: what the engine is, and how each image would run on it."""
    if not config.option.dockerlab_info:
        return None
    from .engine import connect
    from .images import catalogue, describe_engine

    # As pytest's own --help does: configure (so the terminal is ours), answer, unconfigure.
    config._do_configure()
    writer = config.get_terminal_writer()
    try:
        engine = connect()
    except DockerlabError as exc:
        writer.line(f"dockerlab: {exc}")
        config._ensure_unconfigure()
        return int(pytest.ExitCode.USAGE_ERROR)
    try:
        state = config.stash.get(STATE_KEY, None)
        recipes = state.recipes if state is not None and state.recipes else catalogue()
        for line in describe_engine(engine, recipes):
            writer.line(line)
    finally:
        engine.close()
        config._ensure_unconfigure()
    return int(pytest.ExitCode.OK)


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    state = config.stash[STATE_KEY]
    if state.spec is None:
        return None
    needed = ", ".join(state.needed) or "none"
    return f"dockerlab: hosts needed by the selected tests: {needed}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    output = item.stash.get(ANSIBLE_OUTPUT_KEY, None)
    if output and report.failed:
        report.sections.append(("dockerlab: ansible output", output))
    view = item.stash.get(VIEW_KEY, None)
    if view is not None and report.failed and call.when != "teardown":
        for section, text in view.diagnostics():
            report.sections.append((section, text))
    return report


def _progress(config: pytest.Config) -> Any:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    quiet = config.get_verbosity() < 0

    def show(message: str) -> None:
        if reporter is None or (quiet and message.startswith("  ")):
            return
        # Fixture set-up runs under output capture; progress belongs on the terminal now.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(f"dockerlab: {message}")

    return show


def _raise_interrupt(signum: int, frame: Any) -> None:
    # Turn SIGTERM (CI cancelling a job, `timeout`) into the same clean unwinding as Ctrl-C,
    # so fixture teardown removes the lab.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def _dockerlab_labs(request: pytest.FixtureRequest) -> Iterator[LabPool]:
    """The session's labs: hosts the selected tests need, booted once, removed at the end."""
    from .lab import LabPool
    from .labels import SessionIdentity

    state = request.config.stash[STATE_KEY]
    if state.spec is None or state.engine is None:
        raise DockerlabError("no lab for this session (no lab file, or no test needs a host)")
    workerinput = getattr(request.config, "workerinput", None)
    pool = LabPool(
        state.spec,
        SessionIdentity.create(worker=workerinput["workerid"] if workerinput else None),
        state.needed,
        idempotence=state.settings.idempotence,
        engine=state.engine,
        recipes=state.recipes,
        progress=_progress(request.config),
        boot_timeout=state.settings.boot_timeout,
        keep=state.settings.keep,
        base_source=state.settings.base_source,
        ansible=state.ansible,
    )
    previous = None
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    # Last resort if the interpreter exits without running fixture teardown.
    atexit.register(pool.__exit__, None, None, None)
    try:
        with pool:
            yield pool
            state.kept = pool.keep_instructions if state.settings.keep else ""
    finally:
        atexit.unregister(pool.__exit__)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def _dockerlab_image(request: pytest.FixtureRequest) -> str | None:
    """The image of ``images.matrix`` this test runs on (None without a matrix)."""
    return getattr(request, "param", None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash.get(STATE_KEY, None)
    if state is None or state.spec is None or not state.spec.matrix:
        return
    if "lab" in metafunc.fixturenames:
        # Session scope groups the tests by image, so each image's lab is up once.
        metafunc.parametrize("_dockerlab_image", state.spec.matrix, indirect=True, scope="session")


@pytest.fixture
def lab(
    request: pytest.FixtureRequest, _dockerlab_labs: LabPool, _dockerlab_image: str | None
) -> LabView:
    """The lab hosts this test names in ``@pytest.mark.lab("web,db")`` (every host without one).

    ``lab.host("web")`` is a testinfra Host; ``lab.exec("web", "cmd")`` runs a raw command;
    ``lab.restart("web")`` stops and starts the host and waits until it has booted again;
    ``lab.converge(playbook)`` and ``lab.assert_idempotent(playbook)`` run Ansible;
    ``lab.hosts`` lists the names.
    """
    __tracebackhide__ = True
    from .lab import LabView

    current = _dockerlab_labs.get(_dockerlab_image)
    names = request.node.stash.get(HOSTS_KEY, current.spec.host_names)
    for name in names:
        if name in current.unavailable:
            pytest.skip(f"host {name}: {current.unavailable[name]}")
    failures = [current.setup_failures[n] for n in names if n in current.setup_failures]
    if failures:
        # The session converge failed for a host this test needs: the test errors, it does not
        # fail, and its report carries Ansible's whole output.
        result = getattr(failures[0], "result", None)
        if result is not None:
            request.node.stash[ANSIBLE_OUTPUT_KEY] = result.output
        raise failures[0]
    view = LabView(current, names)
    request.node.stash[VIEW_KEY] = view
    return view


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE_KEY, None)
    if state is not None and state.kept:
        terminalreporter.section("dockerlab")
        terminalreporter.write_line(state.kept)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None and state.engine is not None:
        state.engine.close()
        state.engine = None
