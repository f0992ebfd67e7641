from __future__ import annotations

import os
import subprocess

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.cleanup import sweep_stale
from pytest_dockerlab.labels import SessionIdentity

from .fakes import FakeEngine


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
