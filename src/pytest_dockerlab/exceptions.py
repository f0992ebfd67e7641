"""Errors raised by pytest-dockerlab.

Each error carries the structured facts a person needs next (which file, which
host, which container, what the engine said) and builds its message from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class DockerlabError(Exception):
    """Base class of every error pytest-dockerlab raises on purpose."""


class LabFileError(DockerlabError):
    """The lab file is missing, does not parse, or describes an impossible lab."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"lab file {self.path}: {problem}")


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


class EngineUnavailableError(DockerlabError):
    """No container engine answered."""

    def __init__(self, tried: str, cause: str) -> None:
        self.tried = tried
        self.cause = cause
        super().__init__(
            f"no Docker engine reachable at {tried} ({cause}). "
            "Start one (as root on Debian: scripts/engine.sh start) or set DOCKER_HOST."
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


class UnknownImageError(DockerlabError):
    """A host names an image that is neither in the catalogue nor a user recipe."""

    def __init__(self, image: str, host: str, known: Sequence[str]) -> None:
        self.image = image
        self.host = host
        self.known = tuple(known)
        super().__init__(
            f"host {host!r} uses unknown image {image!r}; known images: {', '.join(self.known)}"
        )


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

    def __init__(self, host: str, container: str, timeout: float, state: str, journal: str) -> None:
        self.host = host
        self.container = container
        self.timeout = timeout
        self.state = state
        self.journal = journal
        super().__init__(
            f"host {host!r} (container {container}) did not finish booting within "
            f"{timeout:g}s; last state: {state or 'unknown'}\n--- journal tail ---\n{journal}"
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

    ``result`` is the :class:`~pytest_dockerlab.ansible.ConvergeResult` with the whole story.
    """

    def __init__(self, message: str, result: Any) -> None:
        self.result = result
        super().__init__(message)


class IdempotenceError(DockerlabError):
    """A second run of a playbook still changed something."""

    def __init__(self, playbook: Path, changed: Sequence[Any]) -> None:
        self.playbook = playbook
        self.changed = tuple(changed)
        by_host: dict[str, list[str]] = {}
        for task in self.changed:
            by_host.setdefault(task.host, []).append(f"TASK [{task.task}] ({task.action})")
        lines = [f"playbook {playbook.name} is not idempotent: the second run changed"]
        for host, tasks in sorted(by_host.items()):
            lines += [f"  {host}: {task}" for task in tasks]
        super().__init__("\n".join(lines))
