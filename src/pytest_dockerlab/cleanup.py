"""Leaving nothing behind: the session's last-resort removal, and sweeping dead sessions.

Resources are found by label only; nothing without the plugin's labels is touched,
and a lab kept on purpose is never swept.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType

from . import labels as lbl
from .engine import Engine, Leftovers, Progress
from .labels import SessionIdentity


@contextlib.contextmanager
def session_guard(engine: Engine, identity: SessionIdentity, keep: bool) -> Iterator[None]:
    """Make every way out of a session remove its resources.

    SIGTERM (a CI job cancelled, ``timeout``) unwinds like Ctrl-C, so fixture teardown
    runs; an interpreter that exits without running it still removes the session's
    resources at exit. Both are undone when the block ends.
    """
    previous = None
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def remove_all() -> None:
        if not keep:
            engine.remove(engine.find({lbl.SESSION: identity.session_id}))

    atexit.register(remove_all)
    try:
        yield
    finally:
        atexit.unregister(remove_all)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def sweep_stale(engine: Engine, me: SessionIdentity, progress: Progress) -> Leftovers:
    """Remove what sessions on this machine left behind when their process died without cleaning.

    Only resources whose owner process was on this machine and is gone are touched,
    and never a lab kept on purpose.
    """
    removed = Leftovers()
    for session_id, owner in engine.sessions().items():
        if session_id == me.session_id or owner.get(lbl.KEEP) == "true":
            continue
        if owner.get(lbl.OWNER_HOST) != me.owner_host:
            continue
        try:
            pid = int(owner.get(lbl.OWNER_PID, "0"))
        except ValueError:
            continue
        if pid <= 0 or pid_alive(pid):
            continue
        found = engine.find({lbl.SESSION: session_id})
        if found:
            progress(
                f"removing leftovers of dead session {session_id} (pid {pid}): {found.describe()}"
            )
            engine.remove(found)
            removed = Leftovers(
                removed.containers + found.containers,
                removed.networks + found.networks,
                removed.volumes + found.volumes,
            )
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
