"""What an Ansible run did, per host and per task, as tests and errors read it.

Plain data, filled from ansible-runner's events by :mod:`.ansible`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class TaskResult:
    host: str
    task: str
    action: str
    message: str = ""
    # The services a service-managing task was about (its failed items', for a loop).
    units: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"{self.host}: TASK [{self.task}] ({self.action})"
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class Deprecation:
    """One of Ansible's deprecation warnings, and where it comes from: the file and line
    ansible-core 2.19 names (``Origin:``), else the task that was running."""

    message: str
    file: str = ""
    line: int = 0
    task: str = ""


@dataclass
class ConvergeResult:
    """What one playbook run did, per host, read from ansible-runner's events."""

    playbook: Path
    rc: int = 0
    status: str = ""
    hosts: dict[str, HostStats] = field(default_factory=dict)
    changed_tasks: list[TaskResult] = field(default_factory=list)
    failed_tasks: list[TaskResult] = field(default_factory=list)
    unreachable: list[TaskResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # playbook-level errors (syntax, roles)
    deprecations: list[Deprecation] = field(default_factory=list)
    # Per failed host, what it said about itself right after the run: failed units, and the
    # status and log of a service a failed task was about.
    evidence: dict[str, str] = field(default_factory=dict)
    plays: int = 0  # plays started, and those that matched no host
    unmatched_plays: int = 0
    output: str = ""
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the run finished with no failed task and no unreachable host."""
        return self.rc == 0 and not self.failed_tasks and not self.unreachable

    @property
    def changed(self) -> int:
        """How many task results reported a change, over all hosts."""
        return sum(stats.changed for stats in self.hosts.values())

    def failed_hosts(self) -> set[str]:
        return {t.host for t in self.failed_tasks} | {t.host for t in self.unreachable}

    def describe_failure(self) -> str:
        lines = [f"playbook {self.playbook} failed (rc={self.rc})"]
        lines += [f"  {t.describe()}" for t in self.failed_tasks]
        lines += [f"  {t.host}: UNREACHABLE: {t.message}" for t in self.unreachable]
        if len(lines) == 1:  # no task failed: Ansible's own [ERROR] lines, or its last words
            lines += [f"  {e}" for e in self.errors]
        if len(lines) == 1:
            tail = "\n".join(self.output.strip().splitlines()[-15:])
            lines.append(f"  no task failed; last output:\n{tail}")
        for host, text in self.evidence.items():
            lines.append(f"--- {host}, right after the run ---\n{text}")
        return "\n".join(lines)
