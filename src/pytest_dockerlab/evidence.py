"""What hosts say about themselves when something failed, for reports and errors.

A failed test gets report sections (each host's failed units and log tail); a failed converge
gets, per failed host and right after the run, its failed units and the status and log of the
service a failed task was about. A host whose container is down says that instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .init import container_cause

if TYPE_CHECKING:
    from .lab import Lab


def diagnostics(lab: Lab, names: Sequence[str]) -> list[tuple[str, str]]:
    """Report sections for a failed test: each host's failed units and log tail."""
    sections = []
    for name in names:
        host = lab.running.get(name)
        if host is None:
            continue
        down = lab.down(name, host)
        if down is not None:
            sections.append((f"dockerlab {name}: host is down", str(down)))
            continue
        shell = lab.shell(name)
        title = host.init.failed_report[0]
        sections.append((f"dockerlab {name}: {title}", host.init.failed(shell) or "(none)"))
        sections.append((f"dockerlab {name}: {host.init.log_title}", host.init.log_tail(shell, 25)))
    return sections


def evidence(lab: Lab, name: str, units: Sequence[str] = ()) -> str:
    """What host ``name`` says about itself now: failed units, and each of ``units``."""
    host = lab.running.get(name)
    if host is None:
        return ""
    down = lab.down(name, host)
    if down is not None:
        return str(down)
    shell = lab.shell(name)
    parts = []
    for unit in units:  # the task's own services first: what the failed item was about
        report = host.init.unit_report(shell, unit)
        cause = container_cause(report)
        parts.append(f"{unit} (status and journal):\n{report}")
        if cause:
            parts.append(f"{unit}: the cause is the container: {cause}")
    failed = host.init.failed(shell, reported=units)
    parts.append(f"{host.init.failed_report[0]}:\n{failed or '(none)'}")
    return "\n".join(parts)
