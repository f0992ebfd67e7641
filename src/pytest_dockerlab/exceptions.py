"""Errors raised by pytest-dockerlab.

Each error carries the structured facts a person needs next (which file, which
host, which container, what the engine said) and builds its message from them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .results import ConvergeResult, TaskResult


class DockerlabError(Exception):
    """Base class of every error pytest-dockerlab raises on purpose."""


class SpecFileError(DockerlabError):
    """A file users write does not parse or says something impossible: which file, where."""

    what: ClassVar[str] = "file"  # how messages name the kind of file

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.line = line
        where = f", line {line}" if line is not None else ""
        super().__init__(f"{self.what} {self.path}{where}: {problem}")


class LabFileError(SpecFileError):
    """The lab file is missing, does not parse, or describes an impossible lab."""

    what = "lab file"


class RecipeFileError(SpecFileError):
    """An image recipe's ``recipe.yml`` does not parse or says something impossible."""

    what = "recipe file"


class ScenarioError(DockerlabError):
    """A Molecule scenario that cannot be read, or run here."""

    def __init__(self, folder: Path, problem: str) -> None:
        self.folder = folder
        self.problem = problem
        super().__init__(f"Molecule scenario {folder}: {problem}")


class UnknownHostError(DockerlabError):
    """A marker or an API call names a host that the lab file does not define."""

    def __init__(self, names: Sequence[str], known: Sequence[str], where: str = "") -> None:
        self.names = tuple(names)
        self.known = tuple(known)
        self.where = where
        plural = "s" if len(self.names) > 1 else ""
        origin = f" in {where}" if where else ""
        super().__init__(
            f"unknown lab host{plural} {', '.join(map(repr, self.names))}{origin}; "
            f"the lab defines: {', '.join(self.known) or '(no hosts)'}"
        )


class MarkerError(DockerlabError):
    """A ``lab`` marker was written in a form we cannot read."""


class HostNotSelectedError(DockerlabError):
    """A test asked for a host that its ``lab`` marker does not name."""

    def __init__(self, name: str, selected: Sequence[str]) -> None:
        self.name = name
        self.selected = tuple(selected)
        super().__init__(
            f"host {name!r} is not in this test's lab marker "
            f"(it names: {', '.join(self.selected)}); add it to @pytest.mark.lab(...)"
        )


class EngineError(DockerlabError):
    """The container engine refused or failed an operation.

    ``cause`` is the engine's own explanation, shortened; ``status`` is the HTTP status
    of its answer, or None when there was no answer (connection lost, timeout).
    """

    def __init__(self, operation: str, target: str, cause: str, status: int | None = None) -> None:
        self.operation = operation
        self.target = target
        self.cause = cause
        self.status = status
        super().__init__(self._describe())

    def _describe(self) -> str:
        what = f"{self.operation} {self.target}" if self.target else self.operation
        return f"engine: {what} failed: {self.cause}"


class EngineLostError(EngineError):
    """The engine stopped answering in the middle of an operation: its socket refuses or is
    gone, or it said nothing for longer than the call may wait."""

    def _describe(self) -> str:
        what = f"{self.operation} {self.target}" if self.target else self.operation
        return f"engine: no answer to {what}: {self.cause}"


class LabLostError(DockerlabError):
    """A lab whose engine stopped answering: its hosts are gone with it, and what the
    session made may remain there once it answers again."""

    def __init__(
        self,
        engine: str,
        session_id: str,
        hosts: Sequence[str],
        lost: EngineError,
        prefix: str = "",
    ):
        """``prefix``: what the clean line needs before it to reach that engine (an engine
        of a pool: ``DOCKER_HOST=... ``)."""
        self.engine = engine
        self.session_id = session_id
        self.hosts = tuple(hosts)
        self.lost = lost
        self.clean = f"{prefix}dockerlab clean --session {session_id}"
        what = f"{lost.operation} {lost.target}" if lost.target else lost.operation
        super().__init__(
            f"lab lost: the engine at {engine} stopped answering ({lost.cause}, on {what}); "
            f"hosts {', '.join(self.hosts)} went with it. What session {session_id} made may "
            f"remain there: once the engine answers, '{self.clean}' removes it."
        )


class ContainerGoneError(EngineError):
    """A container exited or was removed while we needed it running.

    ``state`` is the engine's status ("exited", "dead", "removed", ...); ``log_tail`` the
    container's last output, when the engine still has it.
    """

    def __init__(
        self,
        container: str,
        state: str,
        exit_code: int | None = None,
        oom_killed: bool = False,
        log_tail: str = "",
        *,
        operation: str = "",
        cause: str = "",
        status: int | None = None,
    ) -> None:
        self.container = container
        self.state = state
        self.exit_code = exit_code
        self.oom_killed = oom_killed
        self.log_tail = log_tail
        super().__init__(operation, container, cause or f"the container is {state}", status)

    def details(self, oom: str = "killed by the OOM killer") -> str:
        """State, exit code and OOM kill, as one phrase."""
        details = [self.state]
        if self.exit_code is not None:
            details.append(f"exit code {self.exit_code}")
        if self.oom_killed:
            details.append(oom)
        return ", ".join(details)

    def last_output(self) -> str:
        """The container's last lines as a block to append, or nothing."""
        tail = self.log_tail.rstrip()
        return f"\n--- last output ---\n{tail}" if tail.strip() else ""

    def _describe(self) -> str:
        return f"container {self.container} is not running ({self.details()}){self.last_output()}"


class HostGoneError(DockerlabError):
    """A lab host's container exited or was removed in the middle of the session."""

    def __init__(self, host: str, gone: ContainerGoneError) -> None:
        self.host = host
        self.container = gone.container
        self.state = gone.state
        self.exit_code = gone.exit_code
        self.oom_killed = gone.oom_killed
        self.log_tail = gone.log_tail
        details = gone.details(oom="killed by the OOM killer (raise the host's memory limit)")
        #: what happened, without what to do about it
        self.cause = f"container {gone.container} {details}{gone.last_output()}"
        hint = (
            f"lab.restart({host!r}) boots it again"
            if gone.state != "removed"
            else "something removed its container; it cannot be restarted"
        )
        message = f"host {host!r} is down: container {gone.container} {details}; {hint}"
        message += gone.last_output()
        super().__init__(message)


class ImageNotFoundError(EngineError):
    """The engine has no such image, or the registry does not know it."""

    def __init__(self, operation: str, image: str, cause: str, status: int | None = 404) -> None:
        self.image = image
        super().__init__(operation, image, cause, status)


class EngineUnavailableError(EngineError):
    """No container engine answered."""

    def __init__(self, tried: str, cause: str, hint: str | None = None) -> None:
        """``hint``: what to do, when it is not to install and start an engine (a setting
        that is wrong, a package that is missing)."""
        self.tried = tried
        self.hint = hint
        super().__init__("connect", tried, cause)

    def _describe(self) -> str:
        hint = engine_hint() if self.hint is None else self.hint
        return f"no Docker engine reachable at {self.tried} ({self.cause}). {hint}"


def engine_hint(platform: str = sys.platform) -> str:
    """What a pip user installs and starts on their OS to give the plugin an engine."""
    if platform == "darwin":
        how = (
            "Install and start Docker Desktop, OrbStack or Colima ('brew install colima docker; "
            "colima start'): their docker context is found by itself"
        )
    elif platform == "win32":
        how = (
            "Install Docker Desktop with its WSL 2 backend and run pytest inside WSL "
            "(the lab's hosts are Linux containers with systemd)"
        )
    else:
        how = (
            "Install and start an engine: on Debian or Ubuntu 'sudo apt-get install docker.io; "
            "sudo systemctl start docker', on Fedora 'sudo dnf install moby-engine; sudo "
            "systemctl start docker' (or Podman: 'sudo systemctl start podman.socket'), "
            "then join the docker group or run as root"
        )
    return (
        f"{how}. An engine elsewhere: set DOCKER_HOST (tcp://, ssh://) or DOCKER_CONTEXT "
        "('docker context ls')."
    )


class ImageBuildError(DockerlabError):
    """An image of the catalogue could not be built."""

    def __init__(self, image: str, cause: str, log_tail: str = "") -> None:
        self.image = image
        self.cause = cause
        self.log_tail = log_tail
        message = f"cannot build image {image!r}: {cause}"
        if log_tail:
            message += f"\n--- last build output ---\n{log_tail}"
        super().__init__(message)


class NoBaseImageError(ImageBuildError):
    """No source of a recipe's base answers here (no registry, no bootstrap for it): the
    image cannot be had on this machine, which is not the recipe's fault."""


class UnknownImageError(DockerlabError):
    """An option, the environment or the lab file names an image there is no recipe for."""

    def __init__(self, image: str, where: str, known: Sequence[str]) -> None:
        self.image = image
        self.where = where  # the sentence that names it, e.g. "--dockerlab-image centos5: ..."
        self.known = tuple(known)
        super().__init__(f"{where}; known images: {', '.join(self.known)}")


class HostStartError(DockerlabError):
    """The engine refused to create or start a host's container."""

    def __init__(self, host: str, cause: str, hint: str = "") -> None:
        self.host = host
        self.cause = cause
        self.hint = hint
        message = f"cannot start host {host!r}: {cause}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class BootTimeoutError(DockerlabError):
    """A host's init did not reach a usable state in time."""

    def __init__(
        self, host: str, container: str, timeout: float, state: str, journal: str, why: str = ""
    ) -> None:
        self.host = host
        self.container = container
        self.timeout = timeout
        self.state = state
        self.journal = journal
        self.why = why
        super().__init__(
            f"host {host!r} (container {container}) did not finish booting within "
            f"{timeout:g}s; last state: {state or 'unknown'}{f'; {why}' if why else ''}\n"
            f"--- journal tail ---\n{journal}"
        )


class HostCommandError(DockerlabError):
    """A raw command in a host failed where success was required."""

    def __init__(self, host: str, command: str, rc: int, output: str) -> None:
        self.host = host
        self.command = command
        self.rc = rc
        self.output = output
        super().__init__(f"on host {host!r}, {command!r} exited {rc}: {output.strip()}")


class PlaybookNotFoundError(DockerlabError):
    """A playbook named in the lab file or in ``lab.converge`` does not exist."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"playbook not found: {path}")


class ConvergeError(DockerlabError):
    """A playbook run failed: a task failed, a host was unreachable, or the play did not load.

    ``result`` is the :class:`~pytest_dockerlab.results.ConvergeResult` with the whole story.
    """

    def __init__(self, message: str, result: ConvergeResult) -> None:
        self.result = result
        super().__init__(message)


class RequirementsError(DockerlabError):
    """``ansible.requirements`` could not be installed: which requirement, and why."""

    def __init__(self, path: Path, requirement: str, cause: str) -> None:
        self.path = path
        self.requirement = requirement
        self.cause = cause
        what = f"requirement {requirement}" if requirement else "requirements"
        super().__init__(f"{path}: {what} could not be installed: {cause}")


class IdempotenceError(DockerlabError):
    """A second run of a playbook still changed something."""

    def __init__(self, playbook: Path, changed: Sequence[TaskResult]) -> None:
        self.playbook = playbook
        self.changed = tuple(changed)
        by_host: dict[str, list[str]] = {}
        for task in self.changed:
            by_host.setdefault(task.host, []).append(f"TASK [{task.task}] ({task.action})")
        lines = [f"playbook {playbook.name} is not idempotent: the second run changed"]
        for host, tasks in sorted(by_host.items()):
            lines += [f"  {host}: {task}" for task in tasks]
        super().__init__("\n".join(lines))


class NoKeptLabError(DockerlabError):
    """``--dockerlab-reuse``, ``shell`` or ``down`` found no kept lab to act on."""

    def __init__(self, problem: str, kept: Sequence[str]) -> None:
        """``kept``: the session ids of the kept labs there are."""
        self.problem = problem
        self.kept = list(kept)
        listing = (
            f"kept labs: {', '.join(self.kept)} (dockerlab list)"
            if self.kept
            else "no lab is kept: run with --dockerlab-keep, or `dockerlab up`"
        )
        super().__init__(f"{problem}; {listing}")


class AnsibleDeprecationWarning(UserWarning):
    """A deprecation Ansible announced while applying the lab's playbooks."""
