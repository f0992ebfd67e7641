"""Init systems: how each family reports readiness, shuts down, and shows its logs.

One class per family, chosen once per host from its recipe's ``init:``; the lab asks
the host's init and never branches on its name. Pure logic and commands: the engine
calls go through the :class:`HostShell` each method is handed.
"""

from __future__ import annotations

import math
import re
import shlex
import time
from collections.abc import Sequence
from typing import ClassVar, Protocol

from .engine import ExecResult

POLL_INTERVAL = 0.2  # how often a waiting loop asks a host again
PROBE_WAIT = 5  # the longest a readiness probe waits inside a host before it answers
STOP_TIMEOUT = 20.0

# Exit statuses with which systemd reports sandboxing it could not set up, and what to do.
_SANDBOX_STATUS = {
    "217": "the unit asks for a user namespace (PrivateUsers=) and could not make one. The "
    "default profile's seccomp allows it on Docker; a host's own seccomp or AppArmor option, "
    "Podman's defaults, or SYS_ADMIN in its capabilities (systemd then sets the namespace up "
    "another way, which fails in a container) take that away",
    "226": "the unit's sandboxing needs mounts of its own (BindPaths=, BindReadOnlyPaths=, "
    "TemporaryFileSystem=, RootDirectory=, ...), which need CAP_SYS_ADMIN; the default "
    "profile does not grant it. `capabilities: [SYS_ADMIN]` on this host does (on a cgroup v1 "
    "engine that also lets the container mount cgroup hierarchies: use it on machines you "
    "can throw away; PrivateUsers= units on that host then fail), or put such units on a "
    "host of their own",
}


# Between units in one call's output.
_MARK = "--dockerlab-unit:"

# What a unit's status and journal say when the container, not the unit, is the cause: a
# kernel module (a container loads none), a device it does not have, a capability or a
# kernel setting it may not use.
_CONTAINER_CAUSES = (
    (
        re.compile(r"modprobe:? (?:FATAL: )?Module ([\w-]+) not found|Exec\w*=\S*modprobe "
                   r"(?:-\w+ )*([\w-]+) \(code=exited, status=(?!0/)|"
                   r"[Ff]ailed to (?:insert|load) (?:kernel )?module '?([\w-]+)"),
        "it needs kernel module {}, and a container cannot load kernel modules: load it on "
        "the engine's machine ('modprobe {}'), or leave the unit out of the lab",
    ),
    (
        re.compile(r"(/dev/[\w/.-]+)\W+(?:No such (?:file or directory|device)|"
                   r"Operation not permitted)"),
        "it needs device {}, which a lab host does not have",
    ),
    (
        re.compile(r"[Ff]ailed to (?:keep|set|apply|raise) (?:capability )?(CAP_[A-Z_]+)"),
        "it needs capability {}, which the container was not given ('capabilities:' on the "
        "host adds it)",
    ),
    (
        re.compile(r"\b(?:nft|iptables|ip6tables|ebtables|netlink)\b[^\n]*?"
                   r"(?:Operation not permitted|Permission denied)()"),
        "it changes the firewall, which needs capability CAP_NET_ADMIN ('capabilities: "
        "[NET_ADMIN]' on the host adds it)",
    ),
    (
        re.compile(r"status=226/NAMESPACE()|mount: [^\n]*(?:[Pp]ermission denied|Operation not "
                   r"permitted|must be superuser)()"),
        "it mounts file systems of its own (a namespaced unit, a remount), which needs "
        "capability CAP_SYS_ADMIN ('capabilities: [SYS_ADMIN]' on the host, or the Molecule "
        "platform, adds it)",
    ),
    (
        re.compile(r"status=218/CAPABILITIES|[Ff]ailed to (?:drop|set|apply|keep) "
                   r"capabilit(?:y|ies)()"),
        "it needs a capability the container was not given ('capabilities:' on the host adds "
        "one)",
    ),
    (
        re.compile(r"(/proc/sys/[\w/.-]+)\W+(?:Read-only file system|Permission denied)"),
        "it writes kernel setting {}, which a container may not change ('sysctls:' on the "
        "host sets the namespaced ones)",
    ),
)  # fmt: skip


def container_cause(text: str) -> str:
    """Why a unit whose status and journal are ``text`` cannot work in a container, when
    they say so ("" when they do not)."""
    for pattern, why in _CONTAINER_CAUSES:
        found = pattern.search(text)
        if found:
            thing = next((g for g in found.groups() if g), "")
            return why.format(thing, thing)
    return ""


class HostShell(Protocol):
    """What an init strategy may do to one host's container."""

    def run(self, argv: Sequence[str]) -> ExecResult:
        """Run a command; an engine error comes back as rc -1 with its message."""
        ...

    def logs(self, lines: int) -> str:
        """The container's console output (the init's own log when it has no journal)."""
        ...

    def stop(self, timeout: float) -> None: ...

    def kill(self, signal: str) -> None: ...


class InitSystem:
    """The common shape; subclasses fill in the family's commands."""

    name: ClassVar[str]
    #: what PID 1 is called (``/proc/1/comm``) when this init runs
    pid1_names: ClassVar[frozenset[str]]
    #: (report section title, shell command) for "what is broken" on a failed test
    failed_report: ClassVar[tuple[str, str]]
    #: report section title of :meth:`log_tail`
    log_title: ClassVar[str]
    #: the whole log's file name in an artifacts folder
    log_file: ClassVar[str]

    def readiness(self, deadline: float | None = None) -> tuple[str, ...]:
        """The readiness probe's command line. It may wait in the host, up to
        :data:`PROBE_WAIT` seconds and never past ``deadline`` (``time.monotonic()``)."""
        raise NotImplementedError

    def booted(self, probe: ExecResult) -> tuple[bool, str]:
        """Read the readiness probe: (finished booting, the state it reported)."""
        raise NotImplementedError

    def degraded(self, state: str) -> bool:
        """True when the host booted but something failed on the way."""
        return False

    def shut_down(self, shell: HostShell) -> None:
        """Stop the host as a shutdown would, before it is started again."""
        shell.stop(STOP_TIMEOUT)

    def log_tail(self, shell: HostShell, lines: int) -> str:
        raise NotImplementedError

    def failed(self, shell: HostShell, reported: Sequence[str] = ()) -> str:
        """The failed-units report's text; ``reported``: units whose own report is given
        already (their last words are not repeated)."""
        return shell.run(["/bin/sh", "-c", self.failed_report[1]]).output.strip()

    def failed_units(self, shell: HostShell) -> list[str]:
        """The names of the failed services (none where the family cannot tell)."""
        return []

    def unit_report(self, shell: HostShell, unit: str, lines: int = 30) -> str:
        """What one service says about itself: its status and its own log lines."""
        raise NotImplementedError


class Systemd(InitSystem):
    name = "systemd"
    pid1_names = frozenset({"systemd"})
    failed_report = ("systemctl --failed", "systemctl --failed --no-legend --no-pager")
    log_title = "journal tail"
    log_file = "journal.txt"

    def readiness(self, deadline: float | None = None) -> tuple[str, ...]:
        left = PROBE_WAIT if deadline is None else math.ceil(deadline - time.monotonic())
        within = max(1, min(PROBE_WAIT, left))
        # One exec per host and boot: systemd answers when its boot is done (--wait, systemd
        # 240 on), and until its socket is there the probe waits inside the host, where a
        # test costs nothing, not in another exec (each costs the engine ~0.1 s of CPU:
        # twenty hosts on two cores made 40-odd of them). Bounded, so that a Ctrl-C or the
        # boot timeout ends a wait within seconds; an older systemd (CentOS 7's 219) refuses
        # --wait and is asked plainly.
        return (
            "/bin/sh", "-c",
            f"timeout {within} sh -c 'until [ -S /run/systemd/private ]; do sleep 0.1 ||"
            " sleep 1; done; systemctl is-system-running --wait' 2>/dev/null"
            " || systemctl is-system-running",
        )  # fmt: skip

    def booted(self, probe: ExecResult) -> tuple[bool, str]:
        lines = probe.output.strip().splitlines()
        state = lines[-1] if lines else ""
        return state in {"running", "degraded"}, state

    def degraded(self, state: str) -> bool:
        return state == "degraded"

    # systemd halts and exits on its stop signal, like a real shutdown: the base method.

    def failed_units(self, shell: HostShell) -> list[str]:
        return self._units(super().failed(shell))

    @staticmethod
    def _units(listing: str) -> list[str]:
        units = [line.split()[1] for line in listing.splitlines() if line.startswith("●")]
        return units or [line.split()[0] for line in listing.splitlines() if line.strip()]

    def failed(self, shell: HostShell, reported: Sequence[str] = ()) -> str:
        listing = super().failed(shell)
        units = self._units(listing)
        if not units:
            return listing
        # One call for every failed unit: blocks of Id= and ExecMainStatus= lines.
        show = shell.run(["systemctl", "show", "-p", "Id,ExecMainStatus", *units]).output
        hints = []
        for block in show.strip().split("\n\n"):
            props = dict(line.partition("=")[::2] for line in block.splitlines())
            status = props.get("ExecMainStatus", "")
            if status in _SANDBOX_STATUS:
                hints.append(f"{props.get('Id', '?')}: status={status}: {_SANDBOX_STATUS[status]}")
        known = {u if "." in u else f"{u}.service" for u in reported}
        quiet = [u for u in units if u not in known]
        return "\n".join([listing, *hints, *(self._last_words(shell, quiet) if quiet else [])])

    @staticmethod
    def _last_words(shell: HostShell, units: Sequence[str], lines: int = 5) -> list[str]:
        """Each failed unit's failed processes and last journal lines (one call for all),
        and a line saying so where the cause is the container rather than the unit."""
        script = "; ".join(
            f"echo {_MARK}{shlex.quote(unit)}; systemctl status --no-pager -l -n 0 "
            f"{shlex.quote(unit)} | grep -E '^ *Process:'; journalctl --no-pager -o cat "
            f"-n {lines} -u {shlex.quote(unit)}"
            for unit in units
        )
        output = shell.run(["/bin/sh", "-c", script]).output
        words = []
        for block in output.split(_MARK)[1:]:
            unit, _, text = block.partition("\n")
            said = [line.strip() for line in text.splitlines() if line.strip()]
            words.append(f"{unit}, its last words:")
            words += [f"  {line}" for line in said] or ["  (nothing in its journal)"]
            cause = container_cause(text)
            if cause:
                words.append(f"  {unit}: the cause is the container: {cause}")
        return words

    def unit_report(self, shell: HostShell, unit: str, lines: int = 30) -> str:
        command = (
            f"systemctl status --no-pager -l -n 0 {shlex.quote(unit)}; "
            f"journalctl --no-pager -o short-monotonic -n {lines} -u {shlex.quote(unit)}"
        )
        return shell.run(["/bin/sh", "-c", command]).output.strip()

    def log_tail(self, shell: HostShell, lines: int) -> str:
        result = shell.run(["journalctl", "--no-pager", "-n", str(lines), "-o", "short-monotonic"])
        text = result.output.strip()
        return text if result.rc == 0 and text else shell.logs(lines)


# SysV init (and Upstart) set the runlevel when they enter it, before its rc scripts
# finish: booted means a multi-user runlevel and no rc script still running.
_SYSV_PROBE = (
    "runlevel; if pgrep -f '/etc/(init.d/)?rc' >/dev/null; then echo rc-running; "
    "else echo rc-done; fi"
)
# Where a SysV host's daemons log, when a syslog daemon is installed.
_SYSV_LOGS = "for f in /var/log/daemon.log /var/log/syslog /var/log/messages; do "
_SYSV_LOGS += '[ -s "$f" ] && exec tail -n {lines} "$f"; done; exit 3'


def sysv_state(probe: ExecResult) -> tuple[str, bool]:
    """(current runlevel, no rc script running) from the SysV readiness probe."""
    lines = probe.output.strip().splitlines()
    words = lines[0].split() if len(lines) == 2 else []
    level = words[1] if len(words) == 2 else ""
    return level, bool(lines) and lines[-1] == "rc-done"


class SysVInit(InitSystem):
    name = "sysvinit"
    pid1_names = frozenset({"init"})  # SysV init and Upstart alike
    # What SysV has instead of failed units: each rc script's own status.
    failed_report = ("service --status-all", "service --status-all 2>&1")
    log_title = "syslog tail"
    log_file = "syslog.txt"

    def readiness(self, deadline: float | None = None) -> tuple[str, ...]:
        return ("/bin/sh", "-c", _SYSV_PROBE)  # it answers at once

    def booted(self, probe: ExecResult) -> tuple[bool, str]:
        level, rc_done = sysv_state(probe)
        return level in {"2", "3", "4", "5"} and rc_done, " ".join(probe.output.split())

    def shut_down(self, shell: HostShell) -> None:
        # init runs the rc0 scripts on its stop signal (ctrl-alt-del) but cannot power off
        # inside a container: wait for runlevel 0 to be done, then end the container.
        shell.kill("SIGINT")
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            level, rc_done = sysv_state(shell.run(self.readiness()))
            if level == "0" and rc_done:
                break
            time.sleep(POLL_INTERVAL)
        shell.stop(0)

    def unit_report(self, shell: HostShell, unit: str, lines: int = 30) -> str:
        status = shell.run(["/bin/sh", "-c", f"service {shlex.quote(unit)} status 2>&1"])
        return f"{status.output.strip()}\n--- syslog ---\n{self.log_tail(shell, lines)}"

    def log_tail(self, shell: HostShell, lines: int) -> str:
        result = shell.run(["/bin/sh", "-c", _SYSV_LOGS.format(lines=lines)])
        text = result.output.strip()
        return text if result.rc == 0 and text else shell.logs(lines)


# One strategy per init family a recipe may name (spec.model.INIT_NAMES).
INITS: dict[str, type[InitSystem]] = {cls.name: cls for cls in (Systemd, SysVInit)}


def init_system(name: str) -> InitSystem:
    """The strategy for init family ``name`` (a recipe's ``init:``, already validated)."""
    return INITS[name]()
