"""The Ansible boundary: inventory from the lab, playbooks through ansible-runner, events.

Nothing here parses Ansible's text output for results: counts, changed tasks and
failures come from the runner's structured events.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import shutil
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .engine import Progress
from .exceptions import ConvergeError, DockerlabError, EngineLostError, PlaybookNotFoundError
from .results import ConvergeResult, Deprecation, HostStats, TaskResult
from .signals import noted
from .spec import AnsibleSpec, RunOptions

log = logging.getLogger(__name__)

CONNECTION = "community.docker.docker"
CONNECTION_PACKAGE = "ansible (the collection community.docker ships with it)"


@dataclass(frozen=True)
class InventoryHost:
    """What the inventory needs to know about one started host."""

    name: str
    container: str
    groups: Sequence[str] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    python: str = "/usr/bin/python3"


def build_inventory(hosts: Iterable[InventoryHost]) -> dict[str, Any]:
    """An Ansible YAML inventory: every host in ``all``, one group per lab group."""
    all_hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for host in hosts:
        all_hosts[host.name] = {
            "ansible_connection": CONNECTION,
            "ansible_host": host.container,
            "ansible_python_interpreter": host.python,
            **host.vars,
        }
        for group in host.groups:
            groups.setdefault(group, {"hosts": {}})["hosts"][host.name] = None
    inventory: dict[str, Any] = {"all": {"hosts": all_hosts}}
    if groups:
        inventory["all"]["children"] = dict(sorted(groups.items()))
    return inventory


class _EventCollector:
    """Turns runner events into a :class:`ConvergeResult` and one progress line per task."""

    def __init__(self, result: ConvergeResult, progress: Progress) -> None:
        self.result = result
        self.progress = progress
        self.task: str | None = None
        self.task_counts: dict[str, int] = {}
        self.task_started = 0.0

    def __call__(self, event: Mapping[str, Any]) -> bool:
        name = event.get("event", "")
        data = event.get("event_data") or {}
        if name == "playbook_on_task_start":
            self._flush()
            self.task = str(data.get("task") or data.get("name") or "?")
            self.task_counts = {"done": 0, "changed": 0, "failed": 0}
            self.task_started = time.monotonic()
        elif name in (
            "runner_on_ok",
            "runner_on_failed",
            "runner_on_unreachable",
            "runner_on_skipped",
        ):
            self._host_result(name, data)
        elif name == "playbook_on_play_start":
            self.result.plays += 1
        elif name == "playbook_on_no_hosts_matched":
            self.result.unmatched_plays += 1
        elif name == "playbook_on_stats":
            self._flush()
            self._stats(data)
        return True

    def _host_result(self, name: str, data: Mapping[str, Any]) -> None:
        host = str(data.get("host", "?"))
        res = data.get("res") or {}
        action = str(data.get("task_action", "?"))
        task = TaskResult(
            host=host,
            task=str(data.get("task", "?")),
            action=action,
            message=_message(res),
            units=_units(action, res) if name == "runner_on_failed" else (),
        )
        self.task_counts["done"] = self.task_counts.get("done", 0) + 1
        if name == "runner_on_ok" and res.get("changed"):
            self.result.changed_tasks.append(task)
            self.task_counts["changed"] = self.task_counts.get("changed", 0) + 1
        elif name == "runner_on_failed" and not data.get("ignore_errors"):
            self.result.failed_tasks.append(task)
            self.task_counts["failed"] = self.task_counts.get("failed", 0) + 1
        elif name == "runner_on_unreachable":
            self.result.unreachable.append(task)
            self.task_counts["failed"] = self.task_counts.get("failed", 0) + 1

    def _stats(self, data: Mapping[str, Any]) -> None:
        for host in data.get("processed") or {}:  # a play matched it, tasks or none
            self.result.hosts.setdefault(host, HostStats())
        for key, attr in (
            ("ok", "ok"),
            ("changed", "changed"),
            ("failures", "failed"),
            ("dark", "unreachable"),
            ("skipped", "skipped"),
        ):
            for host, count in (data.get(key) or {}).items():
                stats = self.result.hosts.setdefault(host, HostStats())
                setattr(stats, attr, int(count))

    def _flush(self) -> None:
        if self.task is None:
            return
        counts = self.task_counts
        self.progress(
            f"  TASK [{self.task}] hosts={counts.get('done', 0)} "
            f"changed={counts.get('changed', 0)} failed={counts.get('failed', 0)} "
            f"({time.monotonic() - self.task_started:.1f}s)"
        )
        self.task = None


# What modules say when the command they ran says why (in its stderr or stdout).
_GENERIC = (
    "non-zero return code",
    "failed to validate",
    "module failure",
    "unexpected failure during module execution",
    "action failed: unknown error",
)


def _message(res: Mapping[str, Any]) -> str:
    items = _failed_items(res)
    if items:
        # A loop's own "One or more items failed" says nothing: each failed item's words do.
        total = len(res.get("results") or ())
        shown = "; ".join(
            f"item {_label(item)}: {(_message(item).splitlines() or [''])[0]}" for item in items[:3]
        )
        more = f"; and {len(items) - 3} more" if len(items) > 3 else ""
        return f"{len(items)} of {total} items failed: {shown}{more}"
    msg = str(res.get("msg") or "")
    modules = res.get("failed_modules")
    if isinstance(modules, Mapping) and modules:
        # Gathering facts: "The following modules failed to execute" names no cause; the
        # module's own message does ("unable to find user ansible").
        first = next(iter(modules.values()))
        if isinstance(first, Mapping):
            return f"{msg.strip()} {_message(first)}".strip()[:1000]
    if msg == "Assertion failed" and res.get("assertion"):
        return f"Assertion failed: {res['assertion']}"
    said = [
        str(res.get(key) or "").strip()
        for key in ("message", "stderr", "module_stderr", "stdout", "module_stdout")
    ]
    tail = next((text.splitlines()[-1] for text in said if text), "")
    if tail and msg.lower().startswith(_GENERIC):
        # A module's generic words say nothing; the command's own last line does.
        return f"{msg.splitlines()[0].rstrip('.')}: {tail[:500]}"
    for key in ("msg", "stderr", "reason", "stdout"):
        value = res.get(key)
        if value:
            return str(value).strip().splitlines()[0][:500] if key != "msg" else str(value)[:1000]
    return ""


def _failed_items(res: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The items of a looped task that failed (none for a task without a loop)."""
    results = res.get("results")
    if not isinstance(results, list):
        return []
    return [i for i in results if isinstance(i, Mapping) and i.get("failed")]


def _label(item: Mapping[str, Any]) -> str:
    """A loop item as Ansible names it: its loop_control label, else the item itself."""
    label = item.get("_ansible_item_label", item.get(str(item.get("ansible_loop_var", "item"))))
    text = label if isinstance(label, str) else json.dumps(label, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_SERVICE_ACTIONS = ("service", "systemd", "systemd_service", "sysvinit")
_UNIT_IN_MESSAGE = re.compile(
    r"(?:Unable to (?:start|stop|restart|reload) service|Could not find the requested service)"
    r" ([\w@.:-]+)"
)


def _units(action: str, res: Mapping[str, Any]) -> tuple[str, ...]:
    """The services a failed service task was about (each failed item's, for a loop): the
    ``name`` argument, or the one its message names."""
    if action.rsplit(".", 1)[-1] not in _SERVICE_ACTIONS:
        return ()
    found = []
    for one in _failed_items(res) or [res]:
        invocation = one.get("invocation") or {}
        name = (invocation.get("module_args") or {}).get("name")
        named = _UNIT_IN_MESSAGE.search(str(one.get("msg") or ""))
        if name:
            found.append(str(name))
        elif named:
            found.append(named.group(1).rstrip(":"))
    return tuple(dict.fromkeys(found))


_ORIGIN = re.compile(r"^Origin: (?P<file>.+?):(?P<line>\d+)(?::\d+)?$")
_TASK_HEADING = re.compile(r"^TASK \[(?P<task>.*)\] \**$")


def deprecations(output: str) -> list[Deprecation]:
    """Ansible's ``[DEPRECATION WARNING]:`` messages in ``output``, each joined into one line,
    with the file and line of its ``Origin:`` (ansible-core 2.19), else the running task."""
    found: list[Deprecation] = []
    current: list[str] | None = None  # the lines of the message being read
    task = ""
    for line in [*output.splitlines(), ""]:
        if current is not None and line.startswith(" ") and line.strip():
            current.append(line.strip())
            continue
        if current is not None:
            found.append(Deprecation(" ".join(current), task=task))
            current = None
            origin = _ORIGIN.match(line)
            if origin:
                found[-1] = replace(found[-1], file=origin["file"], line=int(origin["line"]))
        heading = _TASK_HEADING.match(line)
        if heading:
            task = heading["task"]
        elif line.startswith("[DEPRECATION WARNING]:"):
            current = [line.removeprefix("[DEPRECATION WARNING]:").strip()]
    return list(dict.fromkeys(found))


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    """An ``ansible.cfg`` from a mapping of its sections (lists joined with commas)."""
    lines = []
    for section, settings in sections.items():
        lines.append(f"[{section}]")
        for key, value in settings.items():
            if isinstance(value, bool):
                value = str(value)
            elif isinstance(value, (list, tuple)):
                value = ",".join(map(str, value))
            lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def ansible_search_path() -> str:
    """PATH for the runner: this interpreter's scripts first (a virtualenv need not be on PATH)."""
    search = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    if shutil.which("ansible-playbook", path=search) is None:
        raise DockerlabError("ansible-playbook not found: install ansible (pip install ansible)")
    return search


def read_inventory(
    sources: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float = 60.0
) -> dict[str, Any]:
    """What Ansible reads from inventory ``sources`` (files, folders with host_vars,
    plugins): ``ansible-inventory --list``, its hosts' variables merged as a play sees them."""
    import subprocess

    search = ansible_search_path()
    command = shutil.which("ansible-inventory", path=search) or "ansible-inventory"
    argv = [command, *(f"--inventory={source}" for source in sources), "--list"]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env={**env, "PATH": search, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerlabError(
            f"ansible-inventory could not read {', '.join(sources)}: {exc}"
        ) from None
    said = [line for line in done.stderr.splitlines() if line.startswith(("[WARNING]", "[ERROR]"))]
    if done.returncode != 0:
        why = " ".join(said or done.stderr.splitlines()[-1:]) or f"exit status {done.returncode}"
        raise DockerlabError(f"ansible-inventory could not read {', '.join(sources)}: {why}")
    try:
        listing = json.loads(done.stdout)
    except ValueError:
        raise DockerlabError(
            f"ansible-inventory printed no inventory for {', '.join(sources)} (not JSON: "
            f"{done.stdout[:80]!r})"
        ) from None
    return listing if isinstance(listing, dict) else {}


def check_connection_plugin() -> None:
    """Fail clearly when the Docker connection plugin is not installed."""
    if importlib.util.find_spec("ansible_collections.community.docker") is None:
        raise DockerlabError(
            f"Ansible's connection plugin {CONNECTION} is missing: install {CONNECTION_PACKAGE}, "
            "e.g. pip install ansible"
        )


class EngineWatch:
    """Pings the engine from a thread while a run lasts: Ansible's connection (the docker CLI)
    waits on a hung engine forever; ``gone`` says it stayed silent ``quiet`` seconds."""

    def __init__(self, answers: Callable[[], bool], quiet: float = 30.0, every: float = 5.0):
        self.answers = answers
        self.quiet = quiet
        self.every = every
        self.gone = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="dockerlab-watch", daemon=True)

    def _watch(self) -> None:
        heard = time.monotonic()
        while not self._stop.wait(self.every):
            if self.answers():
                heard = time.monotonic()
            elif time.monotonic() - heard >= self.quiet:
                self.gone = True
                return

    def __enter__(self) -> EngineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


class Ansible:
    """Runs playbooks against a lab's hosts through ansible-runner."""

    def __init__(
        self,
        settings: AnsibleSpec,
        workdir: Path,
        progress: Progress,
        pipelining: bool = True,
        answers: Callable[[], bool] | None = None,
    ) -> None:
        """``answers``: whether the engine answers, asked while a run lasts (none: not)."""
        self.answers = answers
        self.settings = settings
        self.pipelining = pipelining
        self.workdir = workdir
        self.progress = progress
        self.fact_cache = workdir / "facts"

    def run(
        self,
        playbook: Path,
        hosts: Sequence[InventoryHost],
        *,
        limit: Sequence[str] | None = None,
        extra_vars: Mapping[str, Any] | None = None,
        skip_tags: Sequence[str] = (),
        idempotence: bool = False,
        options: RunOptions | None = None,
        roles_path: Sequence[Path] = (),
        collections_path: Sequence[Path] = (),
    ) -> ConvergeResult:
        """Run one playbook; failures are in the result, not raised.

        ``options`` (the lab file's by default) are what ansible-playbook's command line
        would say; ``roles_path`` and ``collections_path`` come before the lab file's (the
        role under test, installed requirements). ``idempotence`` only names the run in
        progress lines: an idempotence pass.
        """
        options = options or self.settings.run.shared()
        import ansible_runner

        if not playbook.is_file():
            raise PlaybookNotFoundError(playbook)
        check_connection_plugin()
        result = ConvergeResult(playbook=playbook)
        collector = _EventCollector(result, self.progress)
        private = Path(tempfile.mkdtemp(prefix="run-", dir=self.workdir))
        envvars = {
            "ANSIBLE_PIPELINING": str(self.pipelining),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            # Shown: the plugin turns them into pytest warnings.
            "ANSIBLE_DEPRECATION_WARNINGS": "True",
            "ANSIBLE_GATHERING": "smart",
            "ANSIBLE_CACHE_PLUGIN": "jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(self.fact_cache),
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "7200",
            "ANSIBLE_FORCE_COLOR": "False",
            "ANSIBLE_NOCOLOR": "True",
            "PATH": ansible_search_path(),
        }
        roles = [*roles_path, *self.settings.roles_path]
        if roles:
            envvars["ANSIBLE_ROLES_PATH"] = ":".join(str(p) for p in roles)
        if collections_path:
            # Ansible's own default after ours: the collections the ansible package ships.
            default = "~/.ansible/collections:/usr/share/ansible/collections"
            envvars["ANSIBLE_COLLECTIONS_PATH"] = ":".join([*map(str, collections_path), default])
        if options.vault_password_file is not None:
            envvars["ANSIBLE_VAULT_PASSWORD_FILE"] = str(options.vault_password_file)
        if isinstance(options.config, Path):
            envvars["ANSIBLE_CONFIG"] = str(options.config)
        elif options.config is not None:
            envvars["ANSIBLE_CONFIG"] = str(write_config(private / "ansible.cfg", options.config))
        envvars.update(options.env)
        started = time.monotonic()
        on = ", ".join(limit or [h.name for h in hosts])
        if idempotence:
            self.progress(f"idempotence pass: running {playbook.name} again on {on}")
        elif options.check:
            self.progress(f"checking {playbook.name} on {on} (--check: nothing is changed)")
        else:
            self.progress(f"converging {playbook.name} on {on}")
        # A cancel callback of ours keeps ansible-runner from installing signal handlers of
        # its own, which it never restores (Ctrl-C would be ignored for the rest of the run).
        watch = EngineWatch(self.answers or (lambda: True))
        with noted() as signals, _runner_errors(playbook), watch:
            runner = ansible_runner.run(
                private_data_dir=str(private),
                project_dir=str(playbook.parent),
                playbook=playbook.name,
                inventory=build_inventory(hosts),
                # The limit keeps tasks off the lab's other hosts, never off the controller:
                # plays for hosts: localhost run there, as Ansible and Molecule run them.
                limit=",".join([*limit, "localhost"]) if limit else None,
                extravars={**self.settings.extra_vars, **(extra_vars or {})},
                envvars=envvars,
                skip_tags=",".join([*options.skip_tags, *skip_tags]) or None,
                tags=",".join(options.tags) or None,
                verbosity=options.verbosity or None,
                cmdline=" ".join(
                    flag
                    for flag, on in (("--check", options.check), ("--diff", options.diff))
                    if on
                )
                or None,
                forks=max(5, len(hosts)),
                quiet=True,
                event_handler=collector,
                cancel_callback=lambda: bool(signals) or watch.gone,
                # The runner asks cancel_callback once per pexpect timeout: 5 s by default,
                # so a Ctrl-C would wait that long.
                settings={"suppress_ansible_output": True, "pexpect_timeout": 1},
            )
        if signals:
            # The user asked the whole session to stop, not just this run.
            raise KeyboardInterrupt(f"signal {signals[0]} while converging {playbook.name}")
        if watch.gone:  # the run was cancelled: its docker exec calls would wait for ever
            raise EngineLostError(
                "converge", playbook.name, f"no answer to a ping for {watch.quiet:.0f} s"
            )
        result.rc = int(runner.rc if runner.rc is not None else -1)
        result.status = str(runner.status)
        with runner.stdout as stdout:  # a new file object on each access
            result.output = stdout.read()
        # Playbook-level errors (syntax, missing roles) come before any task: no event carries
        # them, so their lines are all there is. Older cores say "ERROR!", newer "[ERROR]:".
        result.errors = [
            line.strip()
            for line in result.output.splitlines()
            if line.startswith(("ERROR!", "[ERROR]:"))
        ]
        result.deprecations = deprecations(result.output)
        result.elapsed = time.monotonic() - started
        done = "idempotence pass of" if idempotence else "converged"
        self.progress(
            f"{done} {playbook.name} in {result.elapsed:.1f}s: "
            f"changed={result.changed} failed={len(result.failed_tasks)} "
            f"unreachable={len(result.unreachable)} rc={result.rc}"
        )
        return result

    def forget_facts(self, host: str) -> None:
        """Drop a host's cached facts (after a restart its uptime, mounts, pids change)."""
        (self.fact_cache / host).unlink(missing_ok=True)


@contextlib.contextmanager
def _runner_errors(playbook: Path) -> Iterator[None]:
    """ansible-runner's own failures (its configuration, pexpect, the file system) as ours."""
    try:
        yield
    except DockerlabError:
        raise
    except Exception as exc:  # the boundary: whatever the runner raises, the user gets one error
        raise ConvergeError(
            f"ansible-runner could not run {playbook}: {type(exc).__name__}: {exc}",
            ConvergeResult(playbook=playbook, rc=-1, errors=[str(exc)]),
        ) from exc


def ran_nothing(result: ConvergeResult, lab_hosts: Sequence[str]) -> str:
    """Why a run whose plays matched no host at all is a failure ("" when one did): it
    checked or changed nothing, and must not pass as if it had."""
    if not result.ok or result.hosts or result.unmatched_plays < result.plays:
        return ""  # a play matched hosts (it may have had no task to run)
    return (
        f"{result.playbook.name} ran no task: none of its plays ({play_targets(result.playbook)}) "
        f"matched a host of the lab ({', '.join(lab_hosts)}) or the controller (localhost)"
    )


def play_targets(playbook: Path) -> str:
    """The ``hosts:`` of a playbook's plays, as written ("?" where it cannot say)."""
    import yaml

    try:
        plays = yaml.safe_load(playbook.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "hosts: ?"
    found = [
        str(play.get("hosts", "?"))
        for play in (plays if isinstance(plays, list) else [])
        if isinstance(play, dict) and "import_playbook" not in play
    ]
    return "hosts: " + ", ".join(found or ["?"])


def raise_for_failure(result: ConvergeResult, hosts: Iterable[str] | None = None) -> None:
    """Raise :class:`ConvergeError` if ``result`` failed for any of ``hosts`` (all if None)."""
    if result.ok:
        return
    failed = result.failed_hosts()
    # Another host's failure is not these hosts'; the controller's (a localhost play) is
    # every host's.
    if hosts is not None and failed and not (failed & {*hosts, "localhost"}):
        return
    raise ConvergeError(result.describe_failure(), result)
