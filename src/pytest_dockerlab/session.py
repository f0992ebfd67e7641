"""One lab of a pytest session, from images to removal, and the view a test gets of it.

:class:`LabSession` is what the plugin's session fixture wraps: it prepares the images
the needed hosts use, boots those hosts, applies the lab file's playbooks and removes
everything on exit. :class:`LabView` is the ``lab`` fixture's value.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from . import labels as lbl
from .cache import ConvergeCache
from .converge import CONVERGE_SKIP_TAGS, Converger
from .evidence import diagnostics
from .exceptions import (
    ConvergeError,
    DockerlabError,
    EngineLostError,
    HostNotSelectedError,
    IdempotenceError,
    LabLostError,
    UnknownHostError,
)
from .faults import NetworkFaults, host_names
from .images import ImageBuilder
from .lab import Lab
from .registry import RegistryError
from .runkey import RunKey, run_key

if TYPE_CHECKING:
    from .engine import Engine, ExecResult, Progress
    from .labels import SessionIdentity
    from .registry import Registry
    from .results import ConvergeResult
    from .settings import Settings
    from .spec import LabSpec, Recipe


class LabSession:
    """The hosts ``needed`` of ``spec``, booted and converged for as long as the block lasts.

    More hosts can join later with :meth:`ensure` (an xdist worker learns which hosts its
    tests need only as they arrive); they are converged on their own run.
    """

    def __init__(
        self,
        spec: LabSpec,
        engine: Engine,
        recipes: Mapping[str, Recipe],
        identity: SessionIdentity,
        settings: Settings,
        needed: Sequence[str],
        progress: Progress,
        registry: Registry | None = None,
        prefix: str = "",
        prefix_host: str = "",
    ) -> None:
        """``registry``: the session's, shared by its labs (one per image of a matrix);
        ``prefix``: what the printed commands need before them to reach this engine (an
        engine of a pool: ``DOCKER_HOST=... ``), ``prefix_host`` that engine's address."""
        self.settings = settings
        self.prefix = prefix
        self.prefix_host = prefix_host  # the engine it names, as --dockerlab-engines takes it
        if settings.ansible_verbosity is not None:  # --dockerlab-ansible-verbosity
            run = replace(spec.ansible.run, verbosity=settings.ansible_verbosity)
            spec = replace(spec, ansible=replace(spec.ansible, run=run))
        self.needed = tuple(needed)
        self.progress = progress
        # Its build locks carry the session: the reaper removes them if the session dies.
        self.builder = ImageBuilder(
            engine,
            progress,
            settings.base_source,
            identity.labels(),
            registry=registry,
            base_mirror=settings.base_mirror,
        )
        self.lab = Lab(
            spec,
            engine,
            recipes,
            identity,
            progress=progress,
            boot_timeout=settings.boot_timeout,
            keep=settings.keeps,
            reuse=settings.reuse is not None,
        )
        self.converger = Converger(self.lab, spec.ansible, progress)
        self.cache = ConvergeCache(engine, progress, settings.cache_max_bytes, registry=registry)
        self.last_run: RunKey | None = None  # the key of the last converge run started
        self._base_ids: dict[str, str] = {}  # host -> the id of the image it boots from
        self._said_skipped = False  # what the key does not read, said once
        self._broken: set[str] = set()  # keys of entries that did not boot: replaced there too
        # Hosts whose image cannot be had or booted on this engine, with the reason: their
        # tests skip. (An image named with --dockerlab-image is checked at start-up instead.)
        self.unavailable: dict[str, str] = {}
        # Hosts whose session converge failed, with the error their tests raise.
        self.setup_failures: dict[str, DockerlabError] = {}
        # Hosts that were not converged because their converged state was at hand, and
        # from where ("the converge cache's entry 0123456789ab"): reports say nothing ran.
        self.served: dict[str, str] = {}
        # Set when the engine stopped answering: every host's tests get it, none waits again.
        self.lost: LabLostError | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> LabSession:
        with self._stack as stack:
            stack.push(self._remove)
            stack.callback(self.converger.close)
            stack.push(self._cleanup)
            stack.push(self._write_artifacts)  # first at the end: before cleanup and removal
            try:
                self._start(self.needed)
            except EngineLostError as exc:
                if self.lose(exc) is None:  # each test says so; the exit says what may remain
                    raise
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def ensure(self, names: Sequence[str]) -> None:
        """Boot and converge those of ``names`` that were not tried yet.

        A host that could not boot keeps its error: later tests get it without a retry.
        """
        tried = {*self.lab.running, *self.unavailable, *self.setup_failures}
        missing = [n for n in names if n not in tried]
        if not missing:
            return
        try:
            self._start(missing)
        except EngineLostError as exc:
            if self.lose(exc) is None:  # slow, not gone: these hosts' own failure
                for name in missing:
                    self.setup_failures.setdefault(name, exc)
        except DockerlabError as exc:
            # The hosts that did boot were never converged: none of them is usable either.
            for name in missing:
                self.setup_failures.setdefault(name, exc)

    def lose(self, error: EngineLostError) -> LabLostError | None:
        """The engine stopped answering: the lab is gone with it, for every test after. None
        when it answers a ping after all (a call that was slow on a busy engine)."""
        if self.lost is None:
            if self.lab.engine.answers():
                return None
            lab = self.lab
            hosts = [n for n in lab.spec.host_names if n in lab.running] or self.needed
            self.lost = LabLostError(
                lab.engine.address,
                lab.identity.session_id,
                hosts or lab.spec.host_names,
                error,
                self.prefix,
            )
        self.setup_failures.update(dict.fromkeys(self.lab.spec.host_names, self.lost))
        return self.lost

    def _remove(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """The lab goes (or stays, kept); with an engine that no longer answers, one line
        says what may remain and how to remove it, instead of a wait and a traceback."""
        if self.lost is None:
            try:
                self.lab.__exit__(exc_type, exc, tb)
                return
            except EngineLostError as error:
                if self.lose(error) is None:
                    raise
        assert self.lost is not None
        self.lab.running.clear()
        self.progress(
            f"could not remove the lab: the engine at {self.lost.engine} does not answer. Once "
            f"it does: dockerlab clean --session {self.lost.session_id}"
        )

    def _start(self, names: Sequence[str]) -> None:
        spec, recipes = self.lab.spec, self.lab.recipes
        images = dict.fromkeys(spec.hosts[n].image for n in names)
        tags, reasons, build_errors = self.builder.prepare(recipes[i] for i in images)
        for name in names:
            image = spec.hosts[name].image
            if image in reasons:
                self.unavailable[name] = reasons[image]
            elif image in build_errors:
                self.setup_failures[name] = build_errors[image]
        bootable = [n for n in names if n in spec.hosts and spec.hosts[n].image in tags]
        run = self.last_run = self._run_key(bootable, tags)
        cacheable = run is not None and self._cacheable(run)
        if run is not None and self._skip_converge(run, tags, cacheable):
            return
        self.setup_failures.update(_unless_lost(self.lab.start(bootable, tags)))
        booted = [n for n in bootable if n in self.lab.running]
        failures = self._prepare(booted) or self.converger.converge_session(
            booted, self._idempotence
        )
        self.setup_failures.update(_unless_lost(failures))
        if run is None or failures or booted != bootable:
            return
        self.converger.record_converged(run.hosts, run.key)
        # A reused lab's hosts hold more than this converge: earlier ones, hands, tests.
        if cacheable and self.settings.cache != "off" and not self.lab.reuse:
            self._store(run)

    def _prepare(self, hosts: Sequence[str]) -> dict[str, DockerlabError]:
        """``ansible.prepare`` on freshly booted hosts: once, before the converge, never in
        the idempotence pass (a cache hit's image has it done already)."""
        # A reused lab's hosts were prepared when they were made.
        fresh = [h for h in hosts if h not in self.lab.kept_hosts()]
        for playbook in self.lab.spec.ansible.prepare if fresh else ():
            try:
                result = self.converger.run(playbook, fresh, skip_tags=CONVERGE_SKIP_TAGS)
            except DockerlabError as exc:
                return dict.fromkeys(fresh, exc)
            if not result.ok:
                error = ConvergeError(f"prepare: {result.describe_failure()}", result)
                return dict.fromkeys(fresh, error)
        return {}

    def _cleanup(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """``ansible.cleanup`` before the lab goes; its failure is said, the removal goes on.
        Not after Ctrl-C: the user asked the session to stop."""
        if self.lab.keep or (exc_type is not None and issubclass(exc_type, KeyboardInterrupt)):
            return  # a kept lab stays as it was for a look; Ctrl-C asked for no more runs
        if self.lost is not None:
            if self.lab.spec.ansible.cleanup:
                self.progress("cleanup playbooks not run: the engine does not answer")
            return
        try:
            hosts = [name for name in self.lab.running if self.lab.down(name) is None]
        except EngineLostError as error:
            if self.lose(error) is None:
                self.progress(f"cleanup did not run: {error}")
            return
        for playbook in self.lab.spec.ansible.cleanup if hosts else ():
            try:
                result = self.converger.run(playbook, hosts, skip_tags=CONVERGE_SKIP_TAGS)
            except DockerlabError as exc:
                self.progress(f"cleanup {Path(playbook).name} could not run: {exc}")
                continue
            if not result.ok:
                self.progress(f"cleanup {result.describe_failure()}")

    def _write_artifacts(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """``--dockerlab-artifacts``: each host's log and failed units, each Ansible run,
        before anything goes. Also after SIGTERM and in CI (a cancelled or timed-out job is
        the one whose evidence matters); not after a Ctrl-C at a terminal."""
        from .artifacts import write_artifacts

        folder = self.settings.artifacts
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        terminated = str(exc) == f"signal {signal.SIGTERM}"
        if folder is None or (interrupted and not terminated and not os.environ.get("CI")):
            return
        if self.lost is not None:
            self.progress(f"artifacts not written to {folder}: {self.lost.engine} does not answer")
            return
        try:
            where = write_artifacts(self.lab, self.converger.workdir, folder)
        except EngineLostError as error:
            lost = self.lose(error)
            why = f"{lost.engine} does not answer" if lost else str(error)
            self.progress(f"artifacts not written to {folder}: {why}")
            return
        except (OSError, DockerlabError) as exc:
            self.progress(f"artifacts could not be written to {folder}: {exc}")
            return
        self.progress(f"artifacts of the lab written to {where}")

    def _store(self, run: RunKey) -> None:
        containers = {h: self.lab.running[h].container for h in run.hosts}
        sizes = {i.id: i.size for i in self.lab.engine.images(lbl.IMAGE)}
        bases = {h: sizes.get(self._base_ids[h], 0) for h in run.hosts}
        try:
            seconds = self.cache.store(run, containers, bases, self.lab.spec.path)
        except DockerlabError as exc:  # the lab is converged: a cache is only a saving
            self.progress(f"converge cache: could not save entry {run.short}: {exc}")
            return
        self.progress(
            f"converge cache: saved {', '.join(run.hosts)} as entry {run.short} in {seconds:.1f}s"
        )
        # A refresh, or an entry that would not boot: what the registry holds goes too.
        self._publish(run, replace=self.settings.cache == "refresh" or run.key in self._broken)

    def _publish(self, run: RunKey, *, replace: bool = False) -> None:
        """Push the entry to the registry, if one is set; its own failures are said there
        (and end the session when it is required), the engine's here: a cache is a saving."""
        try:
            self.cache.publish(run, replace=replace)
        except RegistryError:
            raise
        except DockerlabError as exc:
            self.progress(f"converge cache: could not push entry {run.short}: {exc}")

    @property
    def _idempotence(self) -> bool:
        # In check mode nothing is applied: a second pass would change it all again.
        wanted = self.settings.idempotence or self.lab.spec.ansible.idempotence
        return wanted and not self.lab.spec.ansible.run.check

    def _run_key(self, hosts: Sequence[str], tags: Mapping[str, str]) -> RunKey | None:
        """The key of converging ``hosts``; None when nothing converges or nothing needs it."""
        spec, settings = self.lab.spec, self.settings
        if not spec.ansible.playbooks or not hosts:
            return None
        if settings.cache == "off" and settings.keep == "never" and settings.reuse is None:
            return None  # neither the cache nor a later reuse will ask
        self._base_ids = {h: self.lab.engine.image_id(tags[spec.hosts[h].image]) for h in hosts}
        run = self._key(hosts, self._base_ids)
        if run.skipped and not self._said_skipped:
            self._said_skipped = True
            listed = ", ".join(f"{path} ({why})" for path, why in sorted(run.skipped.items()))
            self.progress(
                f"converge cache: not read for the key (only its presence counts): {listed}"
            )
        return run

    def _key(self, hosts: Sequence[str], base_ids: Mapping[str, str]) -> RunKey:
        """The key of converging ``hosts`` from ``base_ids``; the artifacts folder is never
        read (each run would change it)."""
        artifacts = [self.settings.artifacts] if self.settings.artifacts else []
        outputs = [*self.settings.outputs, *artifacts]
        return run_key(
            self.lab.spec, hosts, base_ids, idempotence=self._idempotence, outputs=outputs
        )

    def _cacheable(self, run: RunKey) -> bool:
        """Whether the cache may hold this run (said once, when it may not)."""
        if self.settings.cache == "off" or self.lab.reuse:
            return False
        if not self.lab.spec.ansible.cache:
            self.progress("converge cache: off for this lab (ansible.cache: false)")
            return False
        # A named volume's content is not in a container's image: a hit would lose it.
        with_volumes = [h for h in run.hosts if self.lab.spec.hosts[h].container.named_volumes]
        if with_volumes:
            self.progress(
                f"converge cache: not used for {', '.join(run.hosts)}: "
                f"{', '.join(with_volumes)} keeps data in named volumes, which no image holds"
            )
        return not with_volumes

    def _skip_converge(self, run: RunKey, tags: Mapping[str, str], cacheable: bool) -> bool:
        """Start the hosts of ``run`` without a converge if what it reads did not change.

        A reused lab skips when its last converge of these hosts had the same key; otherwise
        the cache is asked. True when the hosts run, converged, and nothing is left to do.
        """
        variant = self.lab.identity.variant  # a matrix: say which image's lab this is
        hosts = ", ".join(run.hosts) + (f" on {variant}" if variant else "")
        if self.lab.reuse:
            missing = [h for h in run.hosts if h not in self.lab.kept_hosts()]
            if missing:
                self.progress(f"reused lab: {hosts} converge ({', '.join(missing)} not in it)")
                return False
            if not self._converged_before(run):
                self.progress(f"reused lab: {hosts} converge again (what it reads changed)")
                return False
            self.setup_failures.update(_unless_lost(self.lab.start(run.hosts, tags)))
            self.progress(f"reused lab: {hosts} converged with the same content; no converge")
            self.served.update(dict.fromkeys(run.hosts, "the reused lab, converged before"))
            return True
        if self.settings.cache != "on" or not cacheable:
            return False
        hit, source = self.cache.lookup(run), ""
        if hit is None:
            # What changed since the entries here, asked before the registry adds any.
            why = self.cache.why_missed(run, self.lab.spec.path)
            hit, source = self.cache.fetch(run), " (registry)"
            if hit is None:
                self.progress(f"converge cache: miss for {hosts} (entry {run.short}): {why}")
                return False
        failures = _unless_lost(self.lab.start(run.hosts, tags, host_images=hit))
        if failures:
            # A broken entry (an image that no longer boots) costs a converge, never a session.
            reason = next(iter(failures.values()))
            self.progress(
                f"converge cache: entry {run.short} did not boot ({reason}); removing it "
                "and converging"
            )
            self.lab.remove_hosts(run.hosts)
            self.cache.drop(run.key)
            self._broken.add(run.key)
            return False
        self.converger.record_converged(run.hosts, run.key)
        served = f"the converge cache{source}: entry {run.short}"
        self.served.update(dict.fromkeys(run.hosts, served))
        skipped = "converge and idempotence pass" if self._idempotence else "converge"
        self.progress(
            f"converge cache: hit{source} for {hosts} (entry {run.short}): started from their "
            f"converged images, {skipped} skipped"
        )
        if not source:
            self._publish(run)  # an entry made before the registry was set fills it
        return True

    def _converged_before(self, run: RunKey) -> bool:
        """Whether a converge of this reused lab ran on these hosts (or more) with what
        the converge reads now: a reuse with ``-k`` that selects fewer hosts needs none."""
        spec, engine = self.lab.spec, self.lab.engine
        for hosts, key in self.converger.converged_runs().items():
            if not set(run.hosts) <= set(hosts) or not set(hosts) <= set(spec.hosts):
                continue
            if sorted(hosts) == sorted(run.hosts):
                if key == run.key:
                    return True
                continue
            try:
                ids = {
                    h: self._base_ids.get(h)
                    or engine.image_id(self.lab.recipes[spec.hosts[h].image].tag)
                    for h in hosts
                }
            except DockerlabError:
                continue  # an image of that run is gone: it cannot be the same run
            if self._key(hosts, ids).key == key:
                return True
        return False

    def keep_if_failed(self, failed: bool) -> None:
        """``--dockerlab-keep=on-failure``: keep the lab when one of its tests failed."""
        if self.lost is not None:
            return  # nothing can be marked on an engine that does not answer
        if self.settings.keep == "on-failure" and failed and not self.lab.keep and self.lab.running:
            self.lab.keep_now()

    def keep_instructions(self) -> str:
        """How to enter each host of a kept lab, reuse it, and remove it."""
        sid = self.lab.identity.session_id
        lines = [f"kept lab {sid} ({self.lab.spec.path}); enter a host with:"]
        containers = {
            **self.lab.kept_hosts(),
            **{h.name: h.container for h in self.lab.running.values()},
        }
        on = self.prefix  # an engine of a pool: the commands name it
        for name in (n for n in self.lab.spec.host_names if n in containers):
            lines.append(
                f"  {on}dockerlab shell {name} --session {sid}"
                f"   # or: {on}docker exec -it {containers[name]} bash"
            )
        # A pool in the ini file or DOCKERLAB_ENGINES would win over DOCKER_HOST: name it.
        pool = f"--dockerlab-engines={self.prefix_host} " if self.prefix_host else ""
        lines.append(f"run the tests on it again:\n  {on}pytest {pool}--dockerlab-reuse={sid}")
        lines.append(f"remove it with:\n  {on}dockerlab down --session {sid}")
        if self.converger.workdir.is_dir():
            lines.append(f"ansible-runner's data (inventory, artifacts): {self.converger.workdir}")
        return "\n".join(lines)

    def view(self, names: Sequence[str]) -> LabView:
        return LabView(self, names)


def _unless_lost(failures: dict[str, DockerlabError]) -> dict[str, DockerlabError]:
    """Hosts' own failures; an engine that stopped answering is the lab's, raised."""
    for error in failures.values():
        if isinstance(error, EngineLostError):
            raise error
    return failures


P = ParamSpec("P")
R = TypeVar("R")


def _lab_or_lost(
    method: Callable[Concatenate[LabView, P], R],
) -> Callable[Concatenate[LabView, P], R]:
    """A test's call that finds the engine gone raises the lab's story (which engine, which
    hosts, what to run), from the test's own line, not the engine's internals."""

    @functools.wraps(method)
    def call(view: LabView, /, *args: P.args, **kwargs: P.kwargs) -> R:
        __tracebackhide__ = True
        try:
            return method(view, *args, **kwargs)
        except EngineLostError as exc:
            lost = view._session.lose(exc)
            if lost is None:
                raise
        raise lost.with_traceback(None) from None

    return call


class LabView:
    """The lab as one test sees it: the hosts its ``lab`` marker names.

    ``host(name)`` gives a testinfra Host; ``exec``, ``restart`` act on a host by name.
    """

    def __init__(self, session: LabSession, names: Sequence[str]) -> None:
        self._session = session
        self._lab = session.lab
        self._converger = session.converger
        self._faults = NetworkFaults(session.lab)
        self._names = tuple(names)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The names of the hosts this test may use, in lab-file order."""
        return self._names

    @property
    def session_id(self) -> str:
        return self._lab.identity.session_id

    def _check(self, name: str) -> str:
        if name not in self._names:
            if name not in self._lab.spec.hosts:
                raise UnknownHostError([name], self._lab.spec.host_names)
            raise HostNotSelectedError(name, self._names)
        return name

    @_lab_or_lost
    def host(self, name: str) -> Any:
        """A testinfra ``Host`` bound to the container of lab host ``name``."""
        host = self._lab.get(self._check(name))
        # testinfra would only say that it cannot tell the system (its probe found no shell).
        down = self._lab.down(name, host)
        if down is not None:
            raise down
        return host.testinfra()

    @_lab_or_lost
    def container(self, name: str) -> str:
        """The engine's name of the container behind lab host ``name``."""
        return self._lab.get(self._check(name)).container

    @_lab_or_lost
    def exec(self, name: str, command: str | Sequence[str], check: bool = False) -> ExecResult:
        """Run a raw command in host ``name``; returns ``rc`` and combined ``output``."""
        return self._lab.exec(self._check(name), command, check=check)

    @_lab_or_lost
    def restart(self, name: str, *more: str) -> float:
        """Stop and start host ``name`` (as a reboot would) and wait until it has booted again;
        with ``more`` names, those hosts at once, as a power cut of several machines would.

        Returns the seconds it took (for several, the longest one's).
        """
        names = [self._check(n) for n in dict.fromkeys((name, *more))]
        if len(names) == 1:
            elapsed = self._lab.restart(names[0])
        else:
            with ThreadPoolExecutor(max_workers=len(names)) as pool:
                elapsed = max(pool.map(self._lab.restart, names))
        for each in names:
            self._converger.forget_facts(each)
        return elapsed

    @_lab_or_lost
    def converge(
        self,
        playbook: str | Path,
        *,
        hosts: Sequence[str] | None = None,
        extra_vars: dict[str, Any] | None = None,
        skip_tags: Sequence[str] = (),
        tags: Sequence[str] = (),
        check: bool = False,
        diff: bool | None = None,
        verbosity: int | None = None,
    ) -> ConvergeResult:
        """Run a playbook (path relative to the lab file) on this test's hosts.

        As ``ansible-playbook`` would with ``--tags``, ``--skip-tags``, ``--check``,
        ``--diff`` and ``-v``, with the lab file's config, env, vault password, diff and
        verbosity (its tags and check mode are the session converge's). Tasks tagged
        ``notest`` or ``molecule-notest`` are skipped, as in every converge. Returns a
        ``ConvergeResult`` (``.ok``, ``.changed``, ``.hosts``, ``.failed_tasks``,
        ``.changed_tasks``); a failed run is in the result, not raised.
        """
        targets = [self._check(n) for n in hosts] if hosts else list(self._names)
        if verbosity is not None and not 0 <= verbosity <= 6:
            raise ValueError(f"verbosity must be 0 to 6 (-v to -vvvvvv), not {verbosity!r}")
        # A lone tag is one tag, not its letters.
        tags = (tags,) if isinstance(tags, str) else tuple(tags)
        skip_tags = (skip_tags,) if isinstance(skip_tags, str) else tuple(skip_tags)
        base = self._lab.spec.ansible.run.shared()
        options = replace(
            base,
            tags=tags,
            check=check,
            diff=base.diff if diff is None else diff,
            verbosity=base.verbosity if verbosity is None else verbosity,
        )
        return self._converger.run(
            playbook,
            targets,
            extra_vars=extra_vars,
            skip_tags=(*CONVERGE_SKIP_TAGS, *skip_tags),
            options=options,
        )

    @_lab_or_lost
    def assert_idempotent(
        self, playbook: str | Path, *, hosts: Sequence[str] | None = None
    ) -> None:
        """Run ``playbook`` once more and fail listing each task that changed, per host.

        Tasks tagged ``notest``, ``molecule-notest`` or ``molecule-idempotence-notest``
        are skipped on that pass, as Molecule does.
        """
        __tracebackhide__ = True
        targets = [self._check(n) for n in hosts] if hosts else list(self._names)
        try:
            self._converger.assert_idempotent(playbook, targets)
        except IdempotenceError as exc:
            raise AssertionError(str(exc)) from None

    @_lab_or_lost
    def disconnect(self, name: str, network: str | None = None) -> None:
        """Take host ``name`` off ``network`` (all its lab networks by default): its peers
        can neither reach it nor resolve its name until :meth:`connect`."""
        self._faults.disconnect(self._check(name), network)

    @_lab_or_lost
    def connect(self, name: str, network: str | None = None) -> None:
        """Put host ``name`` back on ``network`` (all its lab networks by default)."""
        self._faults.connect(self._check(name), network)

    def partition(
        self, side_a: str | Sequence[str], side_b: str | Sequence[str]
    ) -> contextlib.AbstractContextManager[None]:
        """``with lab.partition(["web"], ["db"]):`` no traffic between the two sides inside
        the block (names still resolve; connections fail with "No route to host"); restored
        on leaving it, whatever happens inside."""
        return self._faults.partition(
            *([self._check(n) for n in host_names(side)] for side in (side_a, side_b))
        )

    def diagnostics(self) -> list[tuple[str, str]]:
        """Report sections for a failed test: each host's failed units and log tail."""
        if self._session.lost is not None:
            return []  # nothing to ask an engine that does not answer
        return diagnostics(self._lab, self._names)

    def __repr__(self) -> str:
        return f"<lab {self.session_id}: {', '.join(self._names)}>"
