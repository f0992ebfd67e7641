"""The running lab: a network and VM-like hosts on an engine, from start to removal.

:class:`Lab` is a context manager; the plugin's session fixture is a thin wrapper
around it. Everything it makes carries the session's labels, and leaving the
``with`` block removes everything with those labels, whatever happened inside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import labels as lbl
from .engine import Engine, ExecResult, Leftovers, Progress
from .exceptions import (
    BootTimeoutError,
    ConvergeError,
    DockerlabError,
    HostCommandError,
    HostNotSelectedError,
    HostStartError,
    IdempotenceError,
    ImageBuildError,
    UnknownHostError,
    UnknownImageError,
)
from .images import ImageBuilder, Recipe
from .labels import SessionIdentity
from .labfile import HostSpec, LabSpec
from .profiles import RunProfile, choose_profile

if TYPE_CHECKING:
    from .ansible import Ansible, AnsibleSettings, ConvergeResult, InventoryHost

log = logging.getLogger(__name__)

_POLL_INTERVAL = 0.2
_STOP_TIMEOUT = 20.0


@dataclass
class RunningHost:
    """A lab host that has a container."""

    spec: HostSpec
    recipe: Recipe
    container: str
    profile: RunProfile
    container_id: str = ""
    boot_seconds: float = 0.0
    _testinfra: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name


class Lab:
    """One session's lab on one engine."""

    def __init__(
        self,
        spec: LabSpec,
        engine: Engine,
        recipes: dict[str, Recipe],
        identity: SessionIdentity,
        *,
        progress: Progress,
        boot_timeout: float = 120.0,
        keep: bool = False,
        base_source: str = "auto",
        ansible: AnsibleSettings | None = None,
    ) -> None:
        self.spec = spec
        self.ansible_settings = ansible
        self.engine = engine
        self.recipes = recipes
        self.identity = identity
        self.progress = progress
        self.boot_timeout = boot_timeout
        self.keep = keep
        self.builder = ImageBuilder(engine, progress, base_source)
        self.network: str | None = None
        self.running: dict[str, RunningHost] = {}
        # Why a host cannot be handed to tests (its session converge failed), by host.
        self.setup_failures: dict[str, DockerlabError] = {}
        # Hosts whose image cannot be had or cannot boot on this engine, with the reason:
        # their tests skip. Images named explicitly (--dockerlab-image) raise instead.
        self.unavailable: dict[str, str] = {}
        self._ansible: Ansible | None = None
        self._workdir: Path | None = None
        self._lock = threading.Lock()

    # Lifecycle

    def __enter__(self) -> Lab:
        sweep_stale(self.engine, self.identity, self.progress)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if not self.keep:
            self.teardown()

    def labels(self, **extra: str) -> dict[str, str]:
        if self.keep:
            extra = {"keep": "true", **extra}
        return self.identity.labels(**extra)

    def teardown(self) -> Leftovers:
        """Remove every container, network and volume of this lab, found by its labels."""
        started = time.monotonic()
        mine = {lbl.SESSION: self.identity.session_id}
        if self.identity.variant:
            # One lab of a matrix: its siblings share the session id and go on their own exit.
            mine[lbl.VARIANT] = self.identity.variant
        found = self.engine.find(mine)
        if found:
            self.engine.remove(found)
            log.info("dockerlab: removed %s in %.1fs", found.describe(), time.monotonic() - started)
        self.running.clear()
        self.network = None
        return found

    # Starting hosts

    def check_images(self, names: Iterable[str]) -> None:
        """Fail before anything starts when a host names an image we have no recipe for."""
        for name in names:
            host = self.spec.hosts[name]
            if host.image not in self.recipes:
                raise UnknownImageError(host.image, name, sorted(self.recipes))

    def start(self, names: Sequence[str]) -> None:
        """Boot the named hosts that are not running yet, in parallel, and wait for them."""
        with self._lock:
            unknown = [n for n in names if n not in self.spec.hosts]
            if unknown:
                raise UnknownHostError(unknown, self.spec.host_names)
            wanted = [n for n in names if n not in self.running]
            if not wanted:
                return
            self.check_images(wanted)
            tags = self._prepare_images(wanted)
            wanted = [n for n in wanted if n not in self.unavailable]
            if not wanted:
                return
            if self.network is None:
                self.network = self.engine.create_network(
                    self.identity.network_name(), self.labels()
                )
            facts = self.engine.facts()
            started = time.monotonic()
            hosts = []
            for name in wanted:
                spec = self.spec.hosts[name]
                recipe = self.recipes[spec.image]
                hosts.append(
                    RunningHost(
                        spec=spec,
                        recipe=recipe,
                        container=self.identity.container_name(name),
                        profile=choose_profile(facts, recipe.init, spec.privileged),
                    )
                )
            with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
                futures = [pool.submit(self._boot, h, tags[h.spec.image]) for h in hosts]
                errors = [f.exception() for f in futures]
            for host, error in zip(hosts, errors):
                if error is None:
                    self.running[host.name] = host
            first_error = next((e for e in errors if e is not None), None)
            if first_error is not None:
                raise first_error
            images = ", ".join(dict.fromkeys(h.recipe.name for h in hosts))
            profiles = ", ".join(dict.fromkeys(h.profile.name for h in hosts))
            self.progress(
                f"booted {', '.join(wanted)} on {images} in {time.monotonic() - started:.1f}s "
                f"({profiles} profile, {facts.describe()})"
            )

    def _prepare_images(self, names: Sequence[str]) -> dict[str, str]:
        """Build the images ``names`` need; mark hosts whose image cannot be had or booted."""
        facts = self.engine.facts()
        tags: dict[str, str] = {}
        for image in dict.fromkeys(self.spec.hosts[n].image for n in names):
            recipe = self.recipes[image]
            reason = recipe.cannot_run_on(facts)
            if not reason:
                try:
                    tags[image] = self.builder.ensure(recipe)
                except ImageBuildError as exc:
                    reason = str(exc)
            if reason:
                log.warning("dockerlab: %s", reason)
                for name in names:
                    if self.spec.hosts[name].image == image:
                        self.unavailable[name] = reason
        return tags

    def _boot(self, host: RunningHost, image_tag: str) -> None:
        started = time.monotonic()
        assert self.network is not None
        host.container_id = self.engine.run_container(
            name=host.container,
            image=image_tag,
            hostname=host.name,
            network=self.network,
            labels=self.labels(
                host=host.name, image=host.recipe.name, recipe_hash=host.recipe.digest
            ),
            profile=host.profile,
            environment=host.spec.env,
        )
        self.wait_until_booted(host)
        host.boot_seconds = time.monotonic() - started

    def wait_until_booted(self, host: RunningHost) -> None:
        """Poll the host's init until it reports a usable state, or raise with its journal."""
        deadline = time.monotonic() + self.boot_timeout
        state = ""
        while time.monotonic() < deadline:
            if not self.engine.is_running(host.container):
                raise HostStartError(
                    host.name,
                    "the container exited while booting",
                    "last output:\n" + self.engine.logs(host.container, tail=30),
                )
            done, state = _boot_state(
                host.recipe.init, self._exec_quiet(host.container, host.recipe.init)
            )
            if done:
                if state == "degraded":
                    log.warning(
                        "dockerlab: host %s booted degraded; failed units:\n%s",
                        host.name,
                        self.failed_units(host.name),
                    )
                return
            time.sleep(_POLL_INTERVAL)
        raise BootTimeoutError(
            host.name, host.container, self.boot_timeout, state, self.journal_tail(host.name)
        )

    def _exec_quiet(self, container: str, init: str) -> ExecResult:
        argv = _READINESS_COMMANDS.get(init, _READINESS_COMMANDS["systemd"])
        try:
            return self.engine.exec(container, argv)
        except Exception as exc:  # the engine may refuse exec while the container starts
            return ExecResult(rc=-1, output=str(exc))

    # Using hosts

    def get(self, name: str) -> RunningHost:
        try:
            return self.running[name]
        except KeyError:
            if name in self.spec.hosts:
                raise DockerlabError(f"host {name!r} is defined but was not started") from None
            raise UnknownHostError([name], self.spec.host_names) from None

    def exec(self, name: str, command: str | Sequence[str], check: bool = False) -> ExecResult:
        """Run a command in a host; a string goes through ``/bin/sh -c``."""
        host = self.get(name)
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        result = self.engine.exec(host.container, argv)
        if check and result.rc != 0:
            raise HostCommandError(name, shlex.join(argv), result.rc, result.output)
        return result

    def testinfra_host(self, name: str) -> Any:
        host = self.get(name)
        if host._testinfra is None:
            import testinfra

            host._testinfra = testinfra.get_host(f"docker://{host.container}")
        return host._testinfra

    def restart(self, name: str) -> float:
        """Stop and start a host the way a reboot would, and wait until it has booted again."""
        host = self.get(name)
        started = time.monotonic()
        self._shut_down(host)
        self.engine.start(host.container)
        self.wait_until_booted(host)
        if self._ansible is not None:
            self._ansible.forget_facts(name)
        elapsed = time.monotonic() - started
        log.info("dockerlab: restarted %s in %.2fs", name, elapsed)
        return elapsed

    def _shut_down(self, host: RunningHost) -> None:
        if host.recipe.init != "sysvinit":
            # systemd halts and exits on its stop signal, like a real shutdown.
            self.engine.stop(host.container, timeout=_STOP_TIMEOUT)
            return
        # SysV init runs the rc0 scripts on its stop signal (ctrl-alt-del) but cannot power
        # off inside a container: wait for runlevel 0 to be done, then end the container.
        self.engine.kill(host.container, host.profile.stop_signal)
        deadline = time.monotonic() + _STOP_TIMEOUT
        while time.monotonic() < deadline:
            level, rc_done = _sysv_state(self._exec_quiet(host.container, host.recipe.init))
            if level == "0" and rc_done:
                break
            time.sleep(_POLL_INTERVAL)
        self.engine.stop(host.container, timeout=0)

    # Ansible

    @property
    def ansible(self) -> Ansible:
        if self._ansible is None:
            from .ansible import Ansible, AnsibleSettings

            self._workdir = Path(tempfile.mkdtemp(prefix=f"dockerlab-{self.identity.session_id}-"))
            self._ansible = Ansible(
                self.ansible_settings or AnsibleSettings(), self._workdir, self.progress
            )
        return self._ansible

    def inventory_hosts(self) -> list[InventoryHost]:
        from .ansible import InventoryHost

        return [
            InventoryHost(h.name, h.container, h.spec.groups, h.spec.vars, h.recipe.python)
            for h in self.running.values()
        ]

    def resolve_playbook(self, playbook: str | Path) -> Path:
        return (self.spec.root / playbook).resolve()

    def converge(
        self,
        playbook: str | Path,
        hosts: Sequence[str],
        *,
        extra_vars: dict[str, Any] | None = None,
        skip_tags: Sequence[str] = (),
    ) -> ConvergeResult:
        """Run a playbook (relative to the lab file) on ``hosts``; the inventory has every host."""
        for name in hosts:
            self.get(name)
        return self.ansible.run(
            self.resolve_playbook(playbook),
            self.inventory_hosts(),
            limit=hosts,
            extra_vars=extra_vars,
            skip_tags=skip_tags,
        )

    def assert_idempotent(self, playbook: str | Path, hosts: Sequence[str]) -> ConvergeResult:
        """Run ``playbook`` again; raise :class:`IdempotenceError` listing what still changed."""
        from .ansible import IDEMPOTENCE_SKIP_TAGS, raise_for_failure

        result = self.converge(playbook, hosts, skip_tags=IDEMPOTENCE_SKIP_TAGS)
        raise_for_failure(result)
        if result.changed_tasks:
            raise IdempotenceError(result.playbook, result.changed_tasks)
        return result

    def converge_session(self, names: Sequence[str], idempotence: bool = False) -> None:
        """Apply the lab file's playbooks in order to ``names``; remember who failed."""
        settings = self.ansible_settings
        if settings is None or not settings.playbooks:
            return
        healthy = [n for n in names if n not in self.setup_failures and n in self.running]
        for playbook in settings.playbooks:
            if not healthy:
                return
            try:
                result = self.converge(playbook, healthy)
                if result.ok and idempotence:
                    self._idempotence_pass(playbook, healthy)
                    continue
            except DockerlabError as exc:
                for name in healthy:
                    self.setup_failures[name] = exc
                return
            if not result.ok:
                # Ansible may have ended the run before later plays reached the other hosts,
                # so none of them can be trusted to be converged.
                error = ConvergeError(result.describe_failure(), result)
                for name in healthy:
                    self.setup_failures[name] = error
                return

    def _idempotence_pass(self, playbook: Path, hosts: Sequence[str]) -> None:
        try:
            self.assert_idempotent(playbook, hosts)
        except IdempotenceError as exc:
            for task in exc.changed:
                self.setup_failures.setdefault(task.host, exc)

    # Diagnostics

    def failed_units(self, name: str) -> str:
        return self._diagnostic(name, "systemctl --failed --no-legend --no-pager")

    def journal_tail(self, name: str, lines: int = 40) -> str:
        host = self.running.get(name)
        if host is not None and host.recipe.init != "systemd":
            return self.engine.logs(host.container, tail=lines)
        text = self._diagnostic(name, f"journalctl --no-pager -n {lines} -o short-monotonic")
        return text or self.engine.logs(self.identity.container_name(name), tail=lines)

    def _diagnostic(self, name: str, command: str) -> str:
        container = self.identity.container_name(name)
        try:
            return self.engine.exec(container, ["/bin/sh", "-c", command]).output.strip()
        except Exception as exc:
            return f"({command} failed: {exc})"

    def keep_instructions(self) -> str:
        sid = self.identity.session_id
        lines = [f"kept lab {sid} (--dockerlab-keep); enter a host with:"]
        lines += [
            f"  docker exec -it {h.container} bash   # {h.name}" for h in self.running.values()
        ]
        lines.append(f"remove it with:\n  python -m pytest_dockerlab clean --session {sid}")
        return "\n".join(lines)


_READINESS_COMMANDS: dict[str, list[str]] = {
    "systemd": ["systemctl", "is-system-running"],
    # SysV init (and Upstart) set the runlevel when they enter it, before its rc scripts
    # finish: booted means a multi-user runlevel and no rc script still running.
    "sysvinit": [
        "/bin/sh",
        "-c",
        "runlevel; if pgrep -f '/etc/(init.d/)?rc' >/dev/null; then echo rc-running; "
        "else echo rc-done; fi",
    ],
}


def _boot_state(init: str, result: ExecResult) -> tuple[bool, str]:
    """Read a readiness probe: (finished booting, the state it reported)."""
    if init == "sysvinit":
        level, rc_done = _sysv_state(result)
        return level in {"2", "3", "4", "5"} and rc_done, " ".join(result.output.split())
    lines = result.output.strip().splitlines()
    text = lines[-1] if lines else ""
    return text in {"running", "degraded"}, text


def _sysv_state(result: ExecResult) -> tuple[str, bool]:
    """(current runlevel, no rc script running) from the SysV readiness probe."""
    lines = result.output.strip().splitlines()
    words = lines[0].split() if len(lines) == 2 else []
    level = words[1] if len(words) == 2 else ""
    return level, bool(lines) and lines[-1] == "rc-done"


def sweep_stale(engine: Engine, me: SessionIdentity, progress: Progress) -> Leftovers:
    """Remove what sessions on this machine left behind when their process died without cleaning.

    Only resources whose owner process was on this machine and is gone are touched,
    and never a lab kept on purpose.
    """
    removed = Leftovers()
    for session_id, owner in engine.sessions().items():
        if session_id == me.session_id or owner.get(lbl.KEEP) == "true":
            continue
        if owner.get(lbl.OWNER_HOST) != me.owner_host:
            continue
        try:
            pid = int(owner.get(lbl.OWNER_PID, "0"))
        except ValueError:
            continue
        if pid <= 0 or _pid_alive(pid):
            continue
        found = engine.find({lbl.SESSION: session_id})
        if found:
            progress(
                f"removing leftovers of dead session {session_id} (pid {pid}): {found.describe()}"
            )
            engine.remove(found)
            removed = Leftovers(
                removed.containers + found.containers,
                removed.networks + found.networks,
                removed.volumes + found.volumes,
            )
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LabPool:
    """The session's labs: one, or one per image of a lab file's ``images.matrix``.

    Each is created, booted and converged on first use, and all are removed together.
    """

    def __init__(
        self,
        spec: LabSpec,
        identity: SessionIdentity,
        needed: Sequence[str],
        *,
        idempotence: bool = False,
        **lab_kwargs: Any,
    ) -> None:
        self.spec = spec
        self.identity = identity
        self.needed = tuple(needed)
        self.idempotence = idempotence
        self.lab_kwargs = lab_kwargs
        self.labs: dict[str | None, Lab] = {}
        self.errors: dict[str | None, BaseException] = {}  # a lab that failed to come up
        self._stack = contextlib.ExitStack()

    def get(self, image: str | None = None) -> Lab:
        """The lab with every unpinned host on ``image`` (None: as the lab file says)."""
        if image in self.errors:
            # Every test of a lab that could not boot gets the same error, once per test.
            raise self.errors[image]
        lab = self.labs.get(image)
        if lab is None:
            spec = self.spec.on_image(image) if image else self.spec
            identity = self.identity.with_variant(image) if image else self.identity
            lab = Lab(spec, identity=identity, **self.lab_kwargs)
            self.labs[image] = lab
            self._stack.enter_context(lab)
            try:
                lab.start(self.needed)
                lab.converge_session(self.needed, idempotence=self.idempotence)
            except BaseException as exc:
                self.errors[image] = exc
                raise
        return lab

    def __enter__(self) -> LabPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stack.close()

    @property
    def keep_instructions(self) -> str:
        return "\n".join(lab.keep_instructions() for lab in self.labs.values() if lab.running)


class LabView:
    """The lab as one test sees it: the hosts its ``lab`` marker names.

    ``host(name)`` gives a testinfra Host; ``exec``, ``restart`` act on a host by name.
    """

    def __init__(self, lab: Lab, names: Sequence[str]) -> None:
        self._lab = lab
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

    def host(self, name: str) -> Any:
        """A testinfra ``Host`` bound to the container of lab host ``name``."""
        return self._lab.testinfra_host(self._check(name))

    def container(self, name: str) -> str:
        """The engine's name of the container behind lab host ``name``."""
        return self._lab.get(self._check(name)).container

    def exec(self, name: str, command: str | Sequence[str], check: bool = False) -> ExecResult:
        """Run a raw command in host ``name``; returns ``rc`` and combined ``output``."""
        return self._lab.exec(self._check(name), command, check=check)

    def restart(self, name: str) -> float:
        """Stop and start host ``name`` (as a reboot would) and wait until it has booted again.

        Returns the seconds it took.
        """
        return self._lab.restart(self._check(name))

    def converge(
        self,
        playbook: str | Path,
        *,
        hosts: Sequence[str] | None = None,
        extra_vars: dict[str, Any] | None = None,
        skip_tags: Sequence[str] = (),
    ) -> ConvergeResult:
        """Run a playbook (path relative to the lab file) on this test's hosts.

        Returns a ``ConvergeResult`` (``.ok``, ``.changed``, ``.hosts``, ``.failed_tasks``,
        ``.changed_tasks``); a failed run is in the result, not raised.
        """
        targets = [self._check(n) for n in hosts] if hosts else list(self._names)
        return self._lab.converge(playbook, targets, extra_vars=extra_vars, skip_tags=skip_tags)

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
            self._lab.assert_idempotent(playbook, targets)
        except IdempotenceError as exc:
            raise AssertionError(str(exc)) from None

    def diagnostics(self) -> list[tuple[str, str]]:
        """Report sections for a failed test: each host's failed units and journal tail."""
        sections = []
        for name in self._names:
            if name not in self._lab.running:
                continue
            failed = self._lab.failed_units(name) or "(none)"
            sections.append((f"dockerlab {name}: systemctl --failed", failed))
            sections.append((f"dockerlab {name}: journal tail", self._lab.journal_tail(name, 25)))
        return sections

    def __repr__(self) -> str:
        return f"<lab {self.session_id}: {', '.join(self._names)}>"
