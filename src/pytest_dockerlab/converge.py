"""Applying Ansible to a running lab: the session converge, ``lab.converge``, idempotence.

:mod:`.ansible` knows how to run one playbook through ansible-runner; this module
knows which hosts of the lab it runs on, in what order the lab file's playbooks go,
and which hosts a failure makes unusable.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ansible import ran_nothing
from .evidence import evidence
from .exceptions import ConvergeError, DockerlabError, IdempotenceError
from .init import container_cause
from .results import ConvergeResult, Deprecation, TaskResult

if TYPE_CHECKING:
    from .ansible import Ansible, InventoryHost
    from .engine import Progress
    from .lab import Lab
    from .spec import AnsibleSpec, RunOptions

# In the runner's folder of a lab: the cache key each set of hosts was last converged with.
RUNS_FILE = "converged.json"

# Tags Molecule skips in every converge, and also on its idempotence pass; users'
# playbooks already carry them.
CONVERGE_SKIP_TAGS = ("notest", "molecule-notest")
IDEMPOTENCE_SKIP_TAGS = (*CONVERGE_SKIP_TAGS, "molecule-idempotence-notest")

# (playbook, hosts, tags to skip, whether it is the idempotence pass) -> what the run did
RunPlaybook = Callable[[Path, Sequence[str], Sequence[str], bool], ConvergeResult]


def converge_session(
    run: RunPlaybook,
    playbooks: Sequence[Path],
    hosts: Sequence[str],
    idempotence: bool,
    lab_hosts: Sequence[str] = (),
) -> dict[str, DockerlabError]:
    """Apply ``playbooks`` in order to ``hosts``; return why each unusable host is unusable.

    A failed run stops the converge and marks every host of it: Ansible may have ended
    the run before later plays reached the others, so none can be trusted. With
    ``idempotence``, each playbook runs twice and a host that changed on the second run
    is marked with what changed; the others go on. A run on every host of the lab
    (``lab_hosts``) whose plays matched none of them is a failure: it converged nothing.
    """
    failures: dict[str, DockerlabError] = {}
    for playbook in playbooks:
        passes = [CONVERGE_SKIP_TAGS, IDEMPOTENCE_SKIP_TAGS][: 2 if idempotence else 1]
        for again, skip_tags in enumerate(passes):
            try:
                result = run(playbook, hosts, skip_tags, bool(again))
            except DockerlabError as exc:
                return {**failures, **dict.fromkeys(hosts, exc)}
            if not result.ok:
                error = ConvergeError(result.describe_failure(), result)
                return {**failures, **dict.fromkeys(hosts, error)}
            nothing = ran_nothing(result, lab_hosts) if set(hosts) == set(lab_hosts) else ""
            if nothing:
                return {**failures, **dict.fromkeys(hosts, ConvergeError(nothing, result))}
            if again and result.changed_tasks:
                changed = IdempotenceError(result.playbook, result.changed_tasks)
                for task in result.changed_tasks:
                    # A change on the controller (a localhost play) is every host's.
                    for host in [task.host] if task.host in hosts else hosts:
                        failures.setdefault(host, changed)
    return failures


class Converger:
    """Runs playbooks against the hosts a :class:`~.lab.Lab` started.

    The inventory always holds every host of the lab file (a play may read other hosts'
    groups and vars); ``hosts`` limits where tasks run. The runner's private data dirs and
    the fact cache live in one temporary folder named for the lab, made on the first run
    and removed by :meth:`close` unless the lab is kept (a reuse finds it again).
    """

    def __init__(self, lab: Lab, spec: AnsibleSpec, progress: Progress) -> None:
        self.lab = lab
        self.spec = spec
        self.progress = progress
        self._ansible: Ansible | None = None
        self._extra_paths: tuple[list[Path], list[Path]] | None = None
        self.deprecations: list[Deprecation] = []  # Ansible's, not yet shown as pytest warnings
        self._said: set[Deprecation] = set()  # each once a session: runs repeat them

    @property
    def workdir(self) -> Path:
        """Where the runner's private data dirs and the fact cache live."""
        return Path(tempfile.gettempdir()) / f"{self.lab.identity.prefix}-ansible"

    @property
    def ansible(self) -> Ansible:
        if self._ansible is None:
            from .ansible import Ansible

            workdir = self.workdir
            if self.lab.reuse:  # a kept lab's hosts were restarted since: their facts are stale
                shutil.rmtree(workdir / "facts", ignore_errors=True)
            workdir.mkdir(mode=0o700, exist_ok=True)
            # A predictable name in a shared folder: it must be ours, not a link planted there.
            info = os.lstat(workdir)
            if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
                raise DockerlabError(f"{workdir} is not a folder of this user's: remove it")
            self._ansible = Ansible(
                self.spec, workdir, self.progress, answers=self.lab.engine.answers
            )
        return self._ansible

    @property
    def extra_paths(self) -> tuple[list[Path], list[Path]]:
        """Roles and collections paths before the lab file's: the role or collection under
        test, linked by its names; the installed requirements. Found on the first run."""
        if self._extra_paths is None:
            from .cache import cache_home
            from .project import install_requirements, link_under_test, under_test

            roles: list[Path] = []
            collections: list[Path] = []
            found = under_test(self.lab.spec.root.resolve())
            if found is not None:
                linked_roles, linked_collections = link_under_test(found, self.workdir)
                roles += [linked_roles] if linked_roles else []
                collections += [linked_collections] if linked_collections else []
                self.progress(found.describe())
            for requirements in self.spec.requirements:
                installed = install_requirements(
                    requirements, cache_home() / "requirements", self.progress
                )
                roles.append(installed[0])
                collections.append(installed[1])
            missing = found.missing(collections) if found is not None else []
            if missing:
                # Molecule's prerun would fetch them from Galaxy; this run installs only
                # what the requirements name.
                self.progress(
                    f"galaxy.yml depends on {', '.join(missing)}, which is not installed: "
                    "name it in a requirements file (ansible.requirements, a scenario's "
                    "requirements.yml) or install it"
                )
            self._extra_paths = (roles, collections)
        return self._extra_paths

    def converged_runs(self) -> dict[tuple[str, ...], str]:
        """The cache key of each set of hosts this lab's converges ran on, as recorded."""
        try:
            runs = json.loads((self.workdir / RUNS_FILE).read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(runs, dict):
            return {}
        return {tuple(k.split(",")): v for k, v in runs.items() if isinstance(v, str)}

    def record_converged(self, hosts: Sequence[str], key: str) -> None:
        """Remember what the hosts' converge read, for a later ``--dockerlab-reuse``."""
        path = self.workdir / RUNS_FILE
        try:
            runs = json.loads(path.read_text())
        except (OSError, ValueError):
            runs = {}
        runs[",".join(sorted(hosts))] = key
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_text(json.dumps(runs))

    def inventory(self) -> list[InventoryHost]:
        """Every host of the lab file, started or not.

        Plays read ``groups`` and other hosts' vars (a web host's template naming the first
        of ``groups['dbservers']``), so a run limited to some hosts (``-k``, an xdist
        worker) must still see the whole lab; ``--limit`` keeps tasks off the others.
        """
        from .ansible import InventoryHost

        lab = self.lab
        return [
            InventoryHost(
                name,
                lab.identity.container_name(name),
                spec.groups,
                spec.vars,
                lab.recipes[spec.image].python,
            )
            for name, spec in lab.spec.hosts.items()
        ]

    def run(
        self,
        playbook: str | Path,
        hosts: Sequence[str],
        *,
        extra_vars: Mapping[str, Any] | None = None,
        skip_tags: Sequence[str] = (),
        idempotence: bool = False,
        options: RunOptions | None = None,
    ) -> ConvergeResult:
        """Run a playbook (relative to the lab file) on ``hosts``; failures are in the result.

        A host whose container is down is UNREACHABLE with the reason (exit code, OOM),
        whether it was down before the run or went down during it.
        """
        path = (self.lab.spec.root / playbook).resolve()
        down = {name: self.lab.down(name) for name in hosts}
        alive = [name for name in hosts if down[name] is None]
        if alive:
            result = self.ansible.run(
                path,
                self.inventory(),
                limit=alive,
                extra_vars=extra_vars,
                skip_tags=skip_tags,
                idempotence=idempotence,
                options=options,
                roles_path=self.extra_paths[0],
                collections_path=self.extra_paths[1],
            )
            # The lab's hosts only: a play for the controller (localhost) fails there.
            for name in result.failed_hosts() & set(alive):
                down[name] = self.lab.down(name)
            # Before anything can remove the hosts: what the failed ones say about themselves.
            failed = {t.host for t in result.failed_tasks if t.host in alive}
            for name in {name for name in failed if down[name] is None}:
                units = [u for t in result.failed_tasks if t.host == name for u in t.units]
                try:
                    result.evidence[name] = evidence(self.lab, name, list(dict.fromkeys(units)))
                except DockerlabError as exc:  # the failure stays the news, not the engine's
                    result.evidence[name] = f"(no evidence: {exc})"
                # A task that failed for what the container may not do (remount /proc).
                causes = {container_cause(t.message) for t in result.failed_tasks
                          if t.host == name} - {""}  # fmt: skip
                result.evidence[name] += "".join(
                    f"\nthe cause is the container: {cause}" for cause in sorted(causes)
                )
            self.deprecations.extend(d for d in result.deprecations if d not in self._said)
            self._said.update(result.deprecations)
        else:
            result = ConvergeResult(playbook=path, rc=4)
        for name, gone in down.items():
            if gone is not None:
                # Ansible's own words for a dead container are a deserialization error.
                result.failed_tasks = [t for t in result.failed_tasks if t.host != name]
                result.unreachable = [t for t in result.unreachable if t.host != name]
                result.unreachable.append(TaskResult(name, "(host down)", "", str(gone)))
        return result

    def assert_idempotent(self, playbook: str | Path, hosts: Sequence[str]) -> ConvergeResult:
        """Run ``playbook`` again; raise :class:`IdempotenceError` listing what still changed."""
        from .ansible import raise_for_failure

        result = self.run(playbook, hosts, skip_tags=IDEMPOTENCE_SKIP_TAGS, idempotence=True)
        raise_for_failure(result)
        if result.changed_tasks:
            raise IdempotenceError(result.playbook, result.changed_tasks)
        return result

    def converge_session(
        self, hosts: Sequence[str], idempotence: bool
    ) -> dict[str, DockerlabError]:
        """The lab file's playbooks on ``hosts``: see :func:`converge_session`."""
        if not self.spec.playbooks or not hosts:
            return {}
        return converge_session(
            lambda playbook, on, skip, again: self.run(
                playbook, on, skip_tags=skip, idempotence=again, options=self.spec.run
            ),
            self.spec.playbooks,
            hosts,
            idempotence,
            self.lab.spec.host_names,
        )

    def forget_facts(self, host: str) -> None:
        """Drop a restarted host's cached facts (its uptime, mounts and pids changed)."""
        if self._ansible is not None:
            self._ansible.forget_facts(host)

    def close(self) -> None:
        if not self.lab.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._ansible = None
