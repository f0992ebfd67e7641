"""Leaving nothing behind: the session's last-resort removal, sweeping dead sessions, listing labs.

Resources are found by label only; nothing without the plugin's labels is touched,
and a lab kept on purpose is never swept. The watcher that removes a SIGKILLed
session's lab without waiting for a next session is :mod:`.reaper`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import labels as lbl
from .engine import Engine, Leftovers, Progress, Resource
from .exceptions import DockerlabError, NoKeptLabError
from .labels import SessionIdentity
from .signals import handling, raise_interrupt

# What :func:`owner_state` says of a session's owner process.
ALIVE, DEAD, UNKNOWN = "alive", "dead", "unknown"

# Temporary folders and files of a session (the converge's data dirs, the reaper's log) are
# named dockerlab-<session id>-...; the session id is what ties them to a session.
_TEMP_NAME = re.compile(rf"dockerlab-({lbl.SESSION_ID.pattern})-")
# Temporary entries whose owner nothing tells (a session on another engine, or from a version
# without the reaper) go only once nothing has touched them for this long.
UNCLAIMED_TEMP_AGE = 3600.0
# The first line of the reaper's log names the owner: the sweep reads it to know whether the
# session that made a temporary folder is alive, even when its engine is another one.
_OWNER_LINE = re.compile(r"owner (\d+)@(\S*)")


@contextlib.contextmanager
def session_guard(engine: Engine, identity: SessionIdentity, keep: bool) -> Iterator[None]:
    """Make every way out of a session remove its resources.

    SIGTERM (a CI job cancelled, ``timeout``) unwinds like Ctrl-C, so fixture teardown
    runs; an interpreter that exits without running it still removes the session's
    resources at exit. Both are undone when the block ends. (SIGKILL is the reaper's.)
    """

    def remove_all() -> None:
        if not keep:
            engine.remove(engine.find({lbl.SESSION: identity.session_id}))

    atexit.register(remove_all)
    try:
        with handling((signal.SIGTERM,), raise_interrupt, only_default=True):
            yield
    finally:
        atexit.unregister(remove_all)


def sweep_stale(
    engine: Engine, me: SessionIdentity, progress: Progress, tmpdir: Path | None = None
) -> Leftovers:
    """Remove what sessions on this machine left behind when their process died without cleaning.

    Only resources whose owner process was on this machine and is gone are touched,
    and never a lab kept on purpose. Temporary folders of dead sessions go too.
    """
    removed = Leftovers()
    sessions = engine.sessions()
    for session_id, owner in sessions.items():
        if session_id == me.session_id or owner.get(lbl.KEEP) == "true":
            continue
        if owner_state(owner, me.owner_host) != DEAD:
            continue
        found = engine.find({lbl.SESSION: session_id})
        if found:
            progress(
                f"removing leftovers of dead session {session_id} "
                f"(pid {owner.get(lbl.OWNER_PID)}): {found.describe()}"
            )
            engine.remove(found)
            removed = combined(removed, found)
    sweep_temp(tmpdir or Path(tempfile.gettempdir()), sessions, me, progress)
    return removed


def sweep_temp(
    tmpdir: Path,
    sessions: Mapping[str, Mapping[str, str]],
    me: SessionIdentity,
    progress: Progress,
    now: float | None = None,
) -> list[Path]:
    """Remove the temporary folders of sessions that are certainly over; return what went.

    A session's entries go when its owner process, named by its reaper's log or by its labels
    on the engine, was on this machine and is gone. Entries that nothing ties to an owner go
    only when untouched for :data:`UNCLAIMED_TEMP_AGE`: a live session's never do.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    for session_id, paths in temp_entries(tmpdir).items():
        if session_id == me.session_id:
            continue
        if sessions.get(session_id, {}).get(lbl.KEEP) == "true":
            continue  # a kept lab's runner folder: --dockerlab-reuse finds it again
        owner = temp_owner(tmpdir, session_id) or sessions.get(session_id)
        if owner is not None:
            if owner_state(owner, me.owner_host) != DEAD:
                continue
        elif now - max(_mtime(p) for p in paths) < UNCLAIMED_TEMP_AGE:
            continue
        progress(f"removing temporary folders of dead session {session_id}: {len(paths)}")
        remove_temp(paths)
        removed += paths
    return removed


def temp_entries(tmpdir: Path, session_id: str | None = None) -> dict[str, list[Path]]:
    """The ``dockerlab-<session id>-*`` entries in ``tmpdir`` (of one session, or all), by id."""
    found: dict[str, list[Path]] = {}
    try:
        names = sorted(os.listdir(tmpdir))
    except OSError:
        return found
    for name in names:
        match = _TEMP_NAME.match(name)
        if match and (session_id is None or match[1] == session_id):
            found.setdefault(match[1], []).append(tmpdir / name)
    return found


def reaper_log(tmpdir: Path, session_id: str) -> Path:
    """Where the reaper of ``session_id`` logs; its first line names the owner (``owner_line``)."""
    return tmpdir / f"dockerlab-{session_id}-reaper.log"


def owner_line(identity: SessionIdentity) -> str:
    return f"owner {identity.owner_pid}@{identity.owner_host}\n"


def temp_owner(tmpdir: Path, session_id: str) -> dict[str, str] | None:
    """The owner labels the reaper's log of ``session_id`` names, or None without a readable one."""
    try:
        with open(reaper_log(tmpdir, session_id), encoding="utf-8", errors="replace") as log:
            first = log.readline()
    except OSError:
        return None
    match = _OWNER_LINE.match(first)
    if not match:
        return None
    return {lbl.OWNER_PID: match[1], lbl.OWNER_HOST: match[2]}


def remove_temp(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def owner_state(
    labels: Mapping[str, str], here: str, alive: Callable[[int], bool] | None = None
) -> str:
    """ALIVE or DEAD for an owner process on this machine; UNKNOWN elsewhere or unreadable."""
    if labels.get(lbl.OWNER_HOST) != here:
        return UNKNOWN
    try:
        pid = int(labels.get(lbl.OWNER_PID, ""))
    except ValueError:
        return UNKNOWN
    if pid <= 0:
        return UNKNOWN
    return ALIVE if (alive or pid_alive)(pid) else DEAD


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def combined(first: Leftovers, second: Leftovers) -> Leftovers:
    return Leftovers(
        first.containers + second.containers,
        first.networks + second.networks,
        first.volumes + second.volumes,
    )


@dataclass(frozen=True)
class LabSummary:
    """One session's lab on the engine, as ``python -m pytest_dockerlab list`` shows it."""

    session_id: str
    owner: str  # pid@host
    state: str  # ALIVE, DEAD or UNKNOWN (an owner on another machine)
    kept: bool
    hosts: tuple[str, ...]  # lab host names, sorted
    variants: tuple[str, ...]  # the images of a matrix lab
    created: float  # epoch seconds of its oldest resource; 0 when the engine does not say
    lab_file: str = ""  # the lab file it came from ("" from versions that did not say)
    worker: str = "main"
    containers: Mapping[str, str] = field(default_factory=dict)  # host -> container name
    images: Mapping[str, str] = field(default_factory=dict)  # host -> its image's name


def summarize(
    resources: Iterable[Resource], here: str, alive: Callable[[int], bool] | None = None
) -> list[LabSummary]:
    """Every session among ``resources``, oldest first."""
    by_session: dict[str, list[Resource]] = {}
    for resource in resources:
        session_id = resource.labels.get(lbl.SESSION)
        if session_id:
            by_session.setdefault(session_id, []).append(resource)
    labs = []
    for session_id, items in by_session.items():
        # A reused lab's resources have its first owner and the one using it now: the lab
        # is in use while any of them lives.
        states = [owner_state(r.labels, here, alive) for r in items]
        labels = items[states.index(ALIVE)].labels if ALIVE in states else items[0].labels
        dates = [r.created for r in items if r.created > 0]
        labs.append(
            LabSummary(
                session_id=session_id,
                owner=f"{labels.get(lbl.OWNER_PID, '?')}@{labels.get(lbl.OWNER_HOST, '?')}",
                state=ALIVE if ALIVE in states else states[0],
                kept=any(r.labels.get(lbl.KEEP) == "true" for r in items),
                hosts=tuple(sorted({r.labels[lbl.HOST] for r in items if lbl.HOST in r.labels})),
                variants=tuple(
                    sorted({r.labels[lbl.VARIANT] for r in items if r.labels.get(lbl.VARIANT)})
                ),
                created=min(dates, default=0.0),
                lab_file=labels.get(lbl.LAB_FILE, ""),
                worker=labels.get(lbl.WORKER, "main"),
                containers={
                    r.labels[lbl.HOST]: r.name
                    for r in items
                    if r.kind == "container" and lbl.HOST in r.labels
                },
                images={
                    r.labels[lbl.HOST]: r.labels.get(lbl.IMAGE, "")
                    for r in items
                    if r.kind == "container" and lbl.HOST in r.labels
                },
            )
        )
    return sorted(labs, key=lambda lab: (lab.created or float("inf"), lab.session_id))


def labs_on(engine: Engine) -> list[LabSummary]:
    """Every lab on ``engine``, oldest first."""
    resources = engine.labelled({lbl.SESSION: ""})
    # A session's build lock is not part of a lab (the sweep still removes it with the rest).
    labs = [r for r in resources if lbl.LOCK not in r.labels]
    return summarize(labs, socket.gethostname())


def kept_lab(
    labs: Sequence[LabSummary],
    *,
    session_id: str | None = None,
    lab_file: Path | None = None,
    host: str | None = None,
) -> LabSummary:
    """The kept lab named by ``session_id``, else the newest kept one of ``lab_file``
    (with ``host``); :class:`NoKeptLabError` saying which kept labs there are otherwise.

    A lab whose session still runs is in use, not kept for later: never chosen.
    """
    kept_labs = [lab for lab in labs if lab.kept and lab.state != ALIVE]
    kept = [lab.session_id for lab in kept_labs]
    if session_id is not None:
        chosen = [lab for lab in labs if lab.session_id == session_id]
        if not chosen:
            raise NoKeptLabError(f"no lab of session {session_id} on the engine", kept)
        lab = chosen[0]
        if lab.state == ALIVE:
            what = "kept lab" if lab.kept else "the lab of session"
            raise DockerlabError(
                f"{what} {session_id} is in use by a running session ({lab.owner}); "
                "wait for it to end"
            )
        if not lab.kept:
            raise NoKeptLabError(f"the lab of session {session_id} was not kept", kept)
    else:
        candidates = [
            lab
            for lab in kept_labs
            if (lab_file is None or lab.lab_file == str(lab_file))
            and (host is None or host in lab.containers)
        ]
        if not candidates:
            what = f" of {lab_file}" if lab_file else ""
            what += f" with host {host!r}" if host else ""
            busy = [
                lab
                for lab in labs
                if lab.kept and lab.state == ALIVE
                and (lab_file is None or lab.lab_file == str(lab_file))
                and (host is None or host in lab.containers)
            ]  # fmt: skip
            if busy:
                raise DockerlabError(
                    f"the kept lab{what} ({busy[-1].session_id}) is in use by a running "
                    f"session ({busy[-1].owner}); wait for it to end"
                )
            raise NoKeptLabError(f"no kept lab{what}", kept)
        lab = max(candidates, key=lambda lab: (lab.created, lab.session_id))
    if host is not None and host not in lab.containers:
        raise NoKeptLabError(
            f"kept lab {lab.session_id} has no host {host!r} (it has: "
            f"{', '.join(lab.containers) or 'none'})",
            kept,
        )
    return lab
