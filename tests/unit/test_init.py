from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_dockerlab.engine import ExecResult
from pytest_dockerlab.init import Systemd, SysVInit, container_cause, init_system
from pytest_dockerlab.spec.model import INIT_NAMES


@pytest.mark.parametrize(
    ("init", "output", "done"),
    [
        ("systemd", "initializing\n", False),
        ("systemd", "starting\n", False),
        ("systemd", "running\n", True),
        ("systemd", "degraded\n", True),
        ("systemd", "Failed to connect to bus: No such file or directory\n", False),
        ("systemd", "", False),
        ("sysvinit", "unknown\nrc-running\n", False),
        ("sysvinit", "N 2\nrc-running\n", False),
        ("sysvinit", "N 2\nrc-done\n", True),
        ("sysvinit", "N 3\nrc-done\n", True),
        ("sysvinit", "N S\nrc-done\n", False),
        ("sysvinit", "2 0\nrc-done\n", False),
    ],
)
def test_each_init_reads_its_own_readiness_probe(init: str, output: str, done: bool) -> None:
    assert init_system(init).booted(ExecResult(rc=0, output=output))[0] is done


def test_every_recipe_init_name_has_a_strategy() -> None:
    assert INIT_NAMES == ("systemd", "sysvinit")
    assert isinstance(init_system("systemd"), Systemd)
    assert isinstance(init_system("sysvinit"), SysVInit)


class Recorder:
    """A host shell that answers commands from a script and records what was done."""

    def __init__(self, answers: dict[str, ExecResult], logs: str = "console output") -> None:
        self.answers = answers
        self.console = logs
        self.calls: list[str] = []

    def run(self, argv: Sequence[str]) -> ExecResult:
        command = " ".join(argv)
        self.calls.append(command)
        for prefix, result in self.answers.items():
            if command.startswith(prefix):
                return result
        return ExecResult(rc=127, output="sh: not found")

    def logs(self, lines: int) -> str:
        self.calls.append(f"logs {lines}")
        return self.console

    def stop(self, timeout: float) -> None:
        self.calls.append(f"stop {timeout:g}")

    def kill(self, signal: str) -> None:
        self.calls.append(f"kill {signal}")


def test_a_sysv_host_reports_its_rc_scripts_not_systemctl() -> None:
    status = " [ + ]  cron\n [ - ]  nginx\n"
    shell = Recorder({"/bin/sh -c service --status-all": ExecResult(0, status)})
    init = SysVInit()
    assert init.failed_report[0] == "service --status-all"
    assert init.failed(shell) == status.strip()
    assert not any("systemctl" in call for call in shell.calls)


def test_a_sysv_log_tail_falls_back_to_the_console_without_a_syslog() -> None:
    shell = Recorder({}, logs="INIT: Entering runlevel: 2")
    assert SysVInit().log_tail(shell, 10) == "INIT: Entering runlevel: 2"
    with_syslog = Recorder({"/bin/sh -c for f in": ExecResult(0, "Nov 27 cron[12]: started")})
    assert SysVInit().log_tail(with_syslog, 10) == "Nov 27 cron[12]: started"


def test_a_systemd_log_tail_is_the_journal_or_else_the_console() -> None:
    journal = Recorder({"journalctl": ExecResult(0, "[ 1.0] systemd[1]: Started cron")})
    assert Systemd().log_tail(journal, 5) == "[ 1.0] systemd[1]: Started cron"
    assert journal.calls == ["journalctl --no-pager -n 5 -o short-monotonic"]
    no_journal = Recorder({"journalctl": ExecResult(-1, "container is not running")})
    assert Systemd().log_tail(no_journal, 5) == "console output"


def test_a_sysv_shutdown_waits_for_runlevel_0_then_ends_the_container() -> None:
    shell = Recorder({"/bin/sh -c runlevel": ExecResult(0, "2 0\nrc-done\n")})
    SysVInit().shut_down(shell)
    assert shell.calls[0] == "kill SIGINT"
    assert shell.calls[-1] == "stop 0"


def test_a_systemd_shutdown_is_the_engine_stop_with_its_grace_period() -> None:
    shell = Recorder({})
    Systemd().shut_down(shell)
    assert shell.calls == ["stop 20"]


def test_failed_units_say_which_sandboxing_the_engine_could_not_give() -> None:
    listing = "● redis-server.service loaded failed failed redis\n● cron.service loaded failed"
    show = "ExecMainStatus=217\nId=redis-server.service\n\nExecMainStatus=1\nId=cron.service\n"
    shell = Recorder(
        {
            "/bin/sh -c systemctl --failed": ExecResult(0, listing),
            "systemctl show -p Id,ExecMainStatus": ExecResult(0, show),
        }
    )
    report = Systemd().failed(shell).splitlines()
    assert report[:2] == listing.splitlines()
    assert report[2].startswith("redis-server.service: status=217: the unit asks for a user")
    assert not any(line.startswith("cron.service: status") for line in report)  # its own
    assert "systemctl show -p Id,ExecMainStatus redis-server.service cron.service" in shell.calls


# As a Debian 12 host says it after installing nvme-cli: its unit runs modprobe, which a
# container has not (and could not use).
NVMF = """\
--dockerlab-unit:nvmf-autoconnect.service
    Process: 295 ExecStartPre=/sbin/modprobe nvme-fabrics (code=exited, status=203/EXEC)
Starting nvmf-autoconnect.service - Connect NVMe-oF subsystems automatically during boot...
nvmf-autoconnect.service: Control process exited, code=exited, status=203/EXEC
nvmf-autoconnect.service: Failed with result 'exit-code'.
--dockerlab-unit:apache2.service
AH00072: make_sock: could not bind to address [::]:80
(98)Address already in use: AH00072: make_sock: could not bind to address 0.0.0.0:80
"""


def test_each_failed_unit_gets_its_last_words_and_a_container_cause_is_named() -> None:
    listing = "● nvmf-autoconnect.service loaded failed failed x\n● apache2.service loaded failed"
    shell = Recorder(
        {
            "/bin/sh -c systemctl --failed": ExecResult(0, listing),
            "/bin/sh -c echo --dockerlab-unit:": ExecResult(0, NVMF),
        }
    )
    report = Systemd().failed(shell)
    assert "nvmf-autoconnect.service, its last words:\n  Process: 295 ExecStartPre" in report
    assert (
        "  nvmf-autoconnect.service: the cause is the container: it needs kernel module "
        "nvme-fabrics, and a container cannot load kernel modules: load it on the engine's "
        "machine ('modprobe nvme-fabrics'), or leave the unit out of the lab"
    ) in report
    assert "apache2.service, its last words:\n  AH00072: make_sock" in report
    assert "apache2.service: the cause is the container" not in report  # a port: its own


@pytest.mark.parametrize(
    ("said", "cause"),
    [
        ("modprobe: FATAL: Module br_netfilter not found in directory /lib/modules/6.1",
         "kernel module br_netfilter"),
        ("Failed to insert module 'ip_tables': Operation not permitted", "kernel module ip_tables"),
        ("Cannot open /dev/fuse: No such file or directory", "device /dev/fuse"),
        ("foo.service: Main process exited, code=exited, status=218/CAPABILITIES",
         "a capability"),
        ("haproxy.service: Main process exited, code=exited, status=226/NAMESPACE",
         "needs capability CAP_SYS_ADMIN ('capabilities: [SYS_ADMIN]' on the host"),
        ("mount: /proc: permission denied.", "mounts file systems of its own"),
        ("umount: /proc: must be superuser to unmount.", "CAP_SYS_ADMIN"),
        ("systemd-resolved.service: Failed to keep CAP_SYS_ADMIN: Operation not permitted",
         "capability CAP_SYS_ADMIN, which the container was not given"),
        ("netlink: Error: cache initialization failed: Operation not permitted",
         "the firewall, which needs capability CAP_NET_ADMIN"),
        ("iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied",
         "CAP_NET_ADMIN"),
        ("sysctl: permission denied on key /proc/sys/vm/overcommit_memory: Read-only file system",
         "kernel setting /proc/sys/vm/overcommit_memory"),
        ("Address already in use", ""),
        ("ExecStartPre=/sbin/modprobe nvme-fabrics (code=exited, status=0/SUCCESS)", ""),
    ],
)  # fmt: skip
def test_what_only_a_container_causes_is_recognised(said: str, cause: str) -> None:
    found = container_cause(said)
    assert (cause in found) if cause else found == ""
