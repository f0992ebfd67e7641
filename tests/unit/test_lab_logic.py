from __future__ import annotations

import os
import subprocess

import pytest

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.engine import ExecResult
from pytest_dockerlab.lab import _boot_state, sweep_stale
from pytest_dockerlab.labels import SessionIdentity

from .fakes import FakeEngine


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
def test_boot_state_reads_the_init(init: str, output: str, done: bool) -> None:
    assert _boot_state(init, ExecResult(rc=0, output=output))[0] is done


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_sweep_removes_only_dead_local_sessions_that_were_not_kept() -> None:
    me = SessionIdentity(session_id="me000000", owner_pid=os.getpid(), owner_host="here")
    dead = _dead_pid()

    def owned(sid: str, pid: int, host: str = "here", keep: bool = False) -> dict[str, str]:
        labels = SessionIdentity(sid, "main", pid, host).labels()
        if keep:
            labels[lbl.KEEP] = "true"
        return labels

    engine = FakeEngine()
    engine.resources = {
        "c-mine": owned("me000000", os.getpid()),
        "c-dead": owned("dead0000", dead),
        "c-alive": owned("alive000", os.getppid()),
        "c-other-machine": owned("far00000", dead, host="elsewhere"),
        "c-kept": owned("kept0000", dead, keep=True),
    }
    messages: list[str] = []
    removed = sweep_stale(engine, me, messages.append)
    assert removed.containers == ("c-dead",)
    assert set(engine.resources) == {"c-mine", "c-alive", "c-other-machine", "c-kept"}
    assert messages == [
        f"removing leftovers of dead session dead0000 (pid {dead}): "
        "1 containers, 0 networks, 0 volumes"
    ]
