"""What a lab leaves behind for a look later (``--dockerlab-artifacts DIR``), for CI to upload.

Written just before the lab goes, whether its tests passed or not::

    DIR/<lab prefix>/hosts/<host>/journal.txt      the whole log (syslog.txt on SysV hosts)
    DIR/<lab prefix>/hosts/<host>/failed-units.txt the failed services, each with its status
    DIR/<lab prefix>/hosts/<host>/down.txt         instead, when the container is not running
    DIR/<lab prefix>/ansible/<NN>-<playbook>/      each run's stdout, rc, status, job_events,
                                                   command and inventory (ansible-runner's)

The lab prefix carries the session id, the xdist worker and the matrix image (a reused kept
lab's next session writes ``<prefix>.2``). What Ansible logged is there as it logged it:
task arguments and hostvars not marked ``no_log`` included, as in any Ansible output.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .exceptions import DockerlabError

if TYPE_CHECKING:
    from .lab import Lab

log = logging.getLogger(__name__)

_WHOLE_LOG = 1_000_000  # lines: the whole boot's log, in practice


def write_artifacts(lab: Lab, runs: Path, folder: Path) -> Path:
    """Write ``lab``'s hosts' logs and the Ansible runs kept under ``runs`` to ``folder``."""
    target = folder / lab.identity.prefix
    again = 1
    while target.exists():  # a reused kept lab: each session's evidence apart
        again += 1
        target = folder / f"{lab.identity.prefix}.{again}"
    for name, host in lab.running.items():
        where = target / "hosts" / name
        where.mkdir(parents=True, exist_ok=True)
        try:
            down = lab.down(name, host)
            if down is not None:
                (where / "down.txt").write_text(f"{down}\n", encoding="utf-8")
                continue
            shell = lab.shell(name)
            log_text = host.init.log_tail(shell, _WHOLE_LOG) + "\n"
            (where / host.init.log_file).write_text(log_text, encoding="utf-8")
            report = [host.init.failed(shell) or "(no failed units)"]
            report += [
                f"\n--- {unit} ---\n{host.init.unit_report(shell, unit, lines=200)}"
                for unit in host.init.failed_units(shell)
            ]
            (where / "failed-units.txt").write_text("\n".join(report) + "\n", encoding="utf-8")
        except DockerlabError as exc:  # the engine went away: write what is known
            (where / "down.txt").write_text(f"no evidence: {exc}\n", encoding="utf-8")
    for number, run in enumerate(sorted(runs.glob("run-*"), key=_mtime), start=1):
        for artifacts in sorted((run / "artifacts").glob("*")):
            where = target / "ansible" / f"{number:02d}-{_playbook(artifacts)}"
            shutil.copytree(artifacts, where, dirs_exist_ok=True, ignore=_skipped)
            _write_command(artifacts / "command", where / "command")
            inventory = run / "inventory" / "hosts.json"
            if inventory.is_file():
                shutil.copy2(inventory, where / "inventory.json")
    return target


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def _playbook(artifacts: Path) -> str:
    """The playbook a run applied, from ansible-runner's ``command`` file."""
    try:
        argv = json.loads((artifacts / "command").read_text())["command"]
    except (OSError, ValueError, KeyError, TypeError):
        return "run"
    playbooks = [Path(a).stem for a in argv if str(a).endswith((".yml", ".yaml"))]
    return playbooks[-1] if playbooks else "run"


def _skipped(folder: str, names: list[str]) -> set[str]:
    """The fact cache is bulky and says nothing new; ``command`` holds the environment."""
    return {n for n in names if n in ("fact_cache", "command")}


def _write_command(source: Path, target: Path) -> None:
    """The run's argv and folder, without its environment: an uploaded artifact must not
    carry a CI job's secrets."""
    try:
        command = json.loads(source.read_text())
    except (OSError, ValueError):
        return
    if isinstance(command, dict):
        kept = {k: command[k] for k in ("command", "cwd") if k in command}
        target.write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8")
