"""The running lab: a network and VM-like hosts on an engine, from start to removal.

:class:`Lab` is a context manager. Everything it makes carries the session's labels,
and leaving the ``with`` block removes everything with those labels, whatever
happened inside. Which images exist and what Ansible applies are not its business:
:mod:`.images` hands it image tags, :mod:`.converge` works on the hosts it started.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from . import labels as lbl
from .engine import Engine, ExecResult, Leftovers, Progress, Resource
from .exceptions import (
    BootTimeoutError,
    ContainerGoneError,
    DockerlabError,
    EngineLostError,
    HostCommandError,
    HostGoneError,
    HostStartError,
    UnknownHostError,
)
from .init import POLL_INTERVAL, InitSystem, init_system
from .labels import SessionIdentity
from .profiles import RunProfile, choose_profile
from .signals import deferred
from .spec import DEFAULT_NETWORK, HostSpec, LabNetworkSpec, LabSpec, Recipe

log = logging.getLogger(__name__)

# How long a readiness probe (systemctl is-system-running) may stay silent: it answers at
# once on a live host; a hung engine must not hold the boot for the long exec bound.
PROBE_SILENCE = 30


@dataclass
class RunningHost:
    """A lab host that has a container."""

    spec: HostSpec
    recipe: Recipe
    container: str
    profile: RunProfile
    init: InitSystem
    image: str = ""  # the engine's tag of the image it runs
    boot_seconds: float = 0.0
    _testinfra: Any = field(default=None, repr=False)  # testinfra's Host: it has no types

    @property
    def name(self) -> str:
        return self.spec.name

    def testinfra(self) -> Any:
        """A testinfra ``Host`` bound to this host's container (made once)."""
        if self._testinfra is None:
            import testinfra

            self._testinfra = testinfra.get_host(f"docker://{self.container}")
        return self._testinfra


def _uninterrupted(progress: Progress) -> contextlib.AbstractContextManager[None]:
    """Let a removal finish: Ctrl-C or SIGTERM now would leave half a lab behind.

    Removal is already forced (no graceful stop) and takes about a second, so a second
    Ctrl-C only says so; the signal is raised once the removal is done.
    """
    return deferred(lambda: progress("removing the lab (forced); it takes a moment"))


class _Shell:
    """One container as an init strategy sees it (:class:`~.init.HostShell`)."""

    def __init__(self, engine: Engine, container: str, timeout: int | None = None) -> None:
        """``timeout``: how long a command may stay silent (probes are quick)."""
        self.engine = engine
        self.container = container
        self.timeout = timeout

    def run(self, argv: Sequence[str]) -> ExecResult:
        try:
            return self.engine.exec(self.container, argv, self.timeout)
        except EngineLostError:
            raise  # the lab's news, not this command's
        except DockerlabError as exc:  # the engine may refuse exec while the init starts
            return ExecResult(rc=-1, output=str(exc))

    def logs(self, lines: int) -> str:
        return self.engine.logs(self.container, tail=lines)

    def stop(self, timeout: float) -> None:
        self.engine.stop(self.container, timeout=timeout)

    def kill(self, signal: str) -> None:
        self.engine.kill(self.container, signal)


class Lab:
    """One lab on one engine: its network and the hosts that were started."""

    def __init__(
        self,
        spec: LabSpec,
        engine: Engine,
        recipes: Mapping[str, Recipe],
        identity: SessionIdentity,
        *,
        progress: Progress,
        boot_timeout: float = 120.0,
        keep: bool = False,
        reuse: bool = False,
    ) -> None:
        self.spec = spec
        self.engine = engine
        self.recipes = recipes
        self.identity = identity
        self.progress = progress
        self.boot_timeout = boot_timeout
        self.keep = keep
        self.networks: dict[str, str] = {}  # lab network name -> engine network id
        self.volumes: dict[str, str] = {}  # lab volume name -> engine volume name
        # (host, address) routes a network partition holds cut, so partitions cannot nest.
        self.cut: set[tuple[str, str]] = set()
        self.running: dict[str, RunningHost] = {}
        # A kept lab this one runs on: its hosts' containers, by host, found on first start.
        self.reuse = reuse
        self.adopted: dict[str, Resource] | None = None
        # Set when the session is interrupted: boot waits in worker threads give up.
        self._cancelled = threading.Event()

    # Lifecycle

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.keep:
            self.teardown()
        else:
            self.release()

    def labels(self, **extra: str) -> dict[str, str]:
        extra = {"lab_file": str(self.spec.path), **extra}
        if self.keep:
            extra = {"keep": "true", **extra}
        return self.identity.labels(**extra)

    def keep_now(self) -> None:
        """Keep this lab after all (a test failed): mark it on the engine, where sweeps,
        the reaper and ``--dockerlab-reuse`` look."""
        self.engine.create_volume(self.identity.kept_marker(), self.labels(keep="true"))
        self.keep = True

    def kept_hosts(self) -> dict[str, str]:
        """On a reused lab, its hosts' containers (host -> container); found once."""
        if self.reuse and self.adopted is None:
            self.adopted = self._adopt()
        return {host: found.name for host, found in (self.adopted or {}).items()}

    def _adopt(self) -> dict[str, Resource]:
        """The kept lab's networks, volumes and containers (by host), found by label; and a
        claim on it, so that no other session, ``down`` or ``clean`` takes it meanwhile."""
        mine = {lbl.SESSION: self.identity.session_id}
        if self.identity.variant:
            mine[lbl.VARIANT] = self.identity.variant
        containers = {}
        for found in self.engine.labelled(mine):
            labels = found.labels
            if found.kind == "network" and lbl.NETWORK in labels:
                self.networks[labels[lbl.NETWORK]] = found.id
            elif found.kind == "volume" and lbl.VOLUME in labels:
                self.volumes[labels[lbl.VOLUME]] = found.name
            elif found.kind == "container" and lbl.HOST in labels:
                containers[labels[lbl.HOST]] = found
        claim = self.identity.claim_marker()
        self.engine.remove(Leftovers(volumes=(claim,)))  # a dead session's claim
        self.engine.create_volume(claim, self.labels(keep="true"))
        return containers

    def release(self) -> None:
        """Give up the claim of a reused lab (it stays kept)."""
        if self.adopted is not None:
            self.engine.remove(Leftovers(volumes=(self.identity.claim_marker(),)))

    def remove_hosts(self, names: Sequence[str]) -> None:
        """Remove these hosts' containers (a broken cache image booted none of them)."""
        containers = tuple(self.identity.container_name(n) for n in names)
        with _uninterrupted(self.progress):
            self.engine.remove(Leftovers(containers=containers))
        for name in names:
            self.running.pop(name, None)

    def teardown(self) -> Leftovers:
        """Remove every container, network and volume of this lab, found by its labels."""
        started = time.monotonic()
        mine = {lbl.SESSION: self.identity.session_id}
        if self.identity.variant:
            # One lab of a matrix: its siblings share the session id and go on their own exit.
            mine[lbl.VARIANT] = self.identity.variant
        with _uninterrupted(self.progress):
            found = self.engine.find(mine)
            if found:
                self.engine.remove(found)
        if found:
            log.info("dockerlab: removed %s in %.1fs", found.describe(), time.monotonic() - started)
        self.running.clear()
        self.networks.clear()
        self.volumes.clear()
        return found

    # Starting hosts

    def start(
        self,
        names: Sequence[str],
        image_tags: Mapping[str, str],
        host_images: Mapping[str, str] | None = None,
    ) -> dict[str, DockerlabError]:
        """Boot the named hosts in parallel from ``image_tags`` (image name -> tag), and wait.

        ``host_images`` (host -> image) overrides a host's image: a converge cache entry.
        On a reused lab, a host whose container is there is started if stopped, not made.
        Returns why each host that did not boot did not: one bad host (a limit the engine
        refuses, an init that never comes up) is that host's failure, not the lab's. A
        Ctrl-C while they boot ends every wait within a poll, not at the boot timeout.
        """
        unknown = [n for n in names if n not in self.spec.hosts]
        if unknown:
            raise UnknownHostError(unknown, self.spec.host_names)
        wanted = [n for n in names if n not in self.running]
        if not wanted:
            return {}
        self.kept_hosts()
        # Networks and named volumes are the lab's: made when a host first needs them, once.
        for name in wanted:
            container = self.spec.hosts[name].container
            for network in container.networks:
                if network.name not in self.networks:
                    engine_name = self.identity.network_name(
                        "" if network.name == DEFAULT_NETWORK else network.name
                    )
                    own = self.spec.networks.get(network.name, LabNetworkSpec())
                    self.networks[network.name] = self.engine.create_network(
                        engine_name, self.labels(network=network.name), own.subnet, own.gateway
                    )
            for volume in container.named_volumes:
                if volume not in self.volumes:
                    self.volumes[volume] = self.engine.create_volume(
                        self.identity.volume_name(volume), self.labels(volume=volume)
                    )
        facts = self.engine.facts()
        started = time.monotonic()
        self.progress(f"booting {', '.join(wanted)}")
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
                    init=init_system(recipe.init),
                )
            )
        pool = ThreadPoolExecutor(max_workers=len(hosts))
        try:
            futures = [
                pool.submit(
                    self._boot,
                    h,
                    (host_images or {}).get(h.name) or image_tags[h.spec.image],
                    (self.adopted or {}).get(h.name),
                )
                for h in hosts
            ]
            errors = [f.exception() for f in futures]
        except BaseException:
            self._cancelled.set()
            # The boot threads stop within a poll; a second Ctrl-C must not let one create a
            # container after the teardown has looked for them.
            with _uninterrupted(self.progress):
                pool.shutdown(wait=True)
            raise
        pool.shutdown(wait=True)
        failures: dict[str, DockerlabError] = {}
        for host, error in zip(hosts, errors, strict=True):
            if error is None:
                self.running[host.name] = host
            elif isinstance(error, DockerlabError):
                failures[host.name] = error
            else:
                raise error  # a bug, not a host that would not boot
        booted = [h for h in hosts if h.name in self.running]
        if booted:
            images = ", ".join(dict.fromkeys(h.recipe.name for h in booted))
            profiles = ", ".join(dict.fromkeys(h.profile.name for h in booted))
            self.progress(
                f"booted {', '.join(h.name for h in booted)} on {images} in "
                f"{time.monotonic() - started:.1f}s ({profiles} profile, {facts.describe()})"
            )
        return failures

    def _boot(self, host: RunningHost, image_tag: str, existing: Resource | None = None) -> None:
        started = time.monotonic()
        host.image = image_tag
        if existing is not None:  # a kept lab's host: as it was left, rebooted if it stopped
            was = existing.labels.get(lbl.RECIPE_HASH)
            if was != host.recipe.digest:
                raise HostStartError(
                    host.name,
                    f"the kept lab's container runs another image ({existing.labels.get(lbl.IMAGE)}"
                    f", recipe {was}) than the lab file asks for now ({host.recipe.name}, recipe "
                    f"{host.recipe.digest})",
                    f"remove it (dockerlab down --session {self.identity.session_id}) and run "
                    "without --dockerlab-reuse",
                )
            host.container = existing.name
            if not self.engine.state(existing.name).running:
                self.engine.start(existing.name)
            self.wait_until_booted(host)
            host.boot_seconds = time.monotonic() - started
            return
        self.engine.run_container(
            name=host.container,
            image=image_tag,
            hostname=host.name,
            labels=self.labels(
                host=host.name, image=host.recipe.name, recipe_hash=host.recipe.digest
            ),
            profile=host.profile,
            environment=host.spec.env,
            settings=host.spec.container.on_engine(
                network=self.networks.__getitem__, volume=self.volumes.__getitem__
            ),
        )
        self.wait_until_booted(host)
        host.boot_seconds = time.monotonic() - started

    def wait_until_booted(self, host: RunningHost) -> None:
        """Poll the host's init until it reports a usable state, or raise with its journal."""
        shell = _Shell(self.engine, host.container, timeout=PROBE_SILENCE)
        deadline = time.monotonic() + self.boot_timeout
        state = ""
        while time.monotonic() < deadline:
            if self._cancelled.is_set():
                raise HostStartError(host.name, "boot interrupted")
            probe = shell.run(host.init.readiness(deadline))
            if probe.rc == -1:  # the engine refused the exec: is the container still there?
                down = self.down(host.name, host)
                if down is not None:
                    raise HostStartError(
                        host.name, "the container stopped while booting", down.cause
                    )
            done, state = host.init.booted(probe)
            if done:
                if host.init.degraded(state):
                    # Said at boot, per unit (with what the sandbox could not give it).
                    self.progress(
                        f"host {host.name} booted degraded; failed units:\n"
                        f"{host.init.failed(shell)}"
                    )
                return
            time.sleep(POLL_INTERVAL)
        # A host `command:` that is not an init never boots: say so, not only "offline".
        pid1 = shell.run(["cat", "/proc/1/comm"]).output.strip()
        why = ""
        if pid1 and pid1 not in host.init.pid1_names:
            why = f"PID 1 is {pid1!r}, not {host.init.name}"
            if host.spec.container.command:
                why += f" (the host's command: {shlex.join(host.spec.container.command)})"
        raise BootTimeoutError(
            host.name,
            host.container,
            self.boot_timeout,
            state,
            host.init.log_tail(shell, 40),
            why,
        )

    # Using hosts

    def get(self, name: str) -> RunningHost:
        try:
            return self.running[name]
        except KeyError:
            if name in self.spec.hosts:
                raise DockerlabError(f"host {name!r} is defined but was not started") from None
            raise UnknownHostError([name], self.spec.host_names) from None

    def down(self, name: str, host: RunningHost | None = None) -> HostGoneError | None:
        """Why host ``name`` is not running (its container exited or is gone), or None."""
        host = host or self.get(name)
        state = self.engine.state(host.container)
        if state.running:
            return None
        logs = self.engine.logs(host.container, tail=20) if state.exists else ""
        gone = ContainerGoneError(
            host.container, state.status, state.exit_code, state.oom_killed, logs
        )
        return HostGoneError(name, gone)

    def exec(self, name: str, command: str | Sequence[str], check: bool = False) -> ExecResult:
        """Run a command in a host; a string goes through ``/bin/sh -c``."""
        host = self.get(name)
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        try:
            result = self.engine.exec(host.container, argv)
        except ContainerGoneError as exc:
            # The cause is in the message; the SDK's chain under it is noise to a test's reader.
            raise HostGoneError(name, exc) from None
        if check and result.rc != 0:
            raise HostCommandError(name, shlex.join(argv), result.rc, result.output)
        return result

    def restart(self, name: str) -> float:
        """Stop and start a host the way a reboot would, and wait until it has booted again."""
        host = self.get(name)
        started = time.monotonic()
        try:
            if self.engine.state(host.container).running:
                host.init.shut_down(_Shell(self.engine, host.container))
            self.engine.start(host.container)
        except ContainerGoneError as exc:
            # The cause is in the message; the SDK's chain under it is noise to a test's reader.
            raise HostGoneError(name, exc) from None
        self.wait_until_booted(host)
        elapsed = time.monotonic() - started
        log.info("dockerlab: restarted %s in %.2fs", name, elapsed)
        return elapsed

    # Diagnostics

    def shell(self, name: str) -> _Shell:
        """Host ``name``'s container as its init strategy sees it."""
        return _Shell(self.engine, self.get(name).container)
