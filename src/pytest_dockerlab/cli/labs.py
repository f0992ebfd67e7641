"""``list`` and ``clean``: every lab on the engine, and removing those left behind."""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import labels as lbl
from .common import age, command, complain, connected, pool_names, say

if TYPE_CHECKING:
    from ..cleanup import LabSummary
    from ..engine import Engine
    from .common import Commands


def register(commands: Commands) -> None:
    listing = command(
        commands,
        "list",
        run_list,
        "every lab on the engine: session, owner and whether it lives, kept, hosts, age",
        "Every lab on the engine, oldest first. STATE is the owner process's: alive or dead on "
        "this machine, unknown on another one.",
        "ls",
    )
    clean = command(
        commands,
        "clean",
        run_clean,
        "remove labs left on the engine (kept or orphaned)",
        "Remove one session's lab, or every kept or orphaned lab. Exit 1 when nothing was removed.",
    )
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--session",
        type=lbl.session_id_argument,
        action="append",
        help="a session id, as the run's header or --dockerlab-keep printed (repeatable); "
        "a session whose process is still running is left unless --force",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="every kept lab, and every lab whose owner process on this machine is gone",
    )
    clean.add_argument(
        "--force",
        action="store_true",
        help="also labs of sessions still running here, or owned by another machine",
    )
    for each in (listing, clean):
        each.add_argument(
            "--engines",
            metavar="A,B",
            help="these engines of a pool (docker contexts or addresses), each said by name "
            "(default: DOCKERLAB_ENGINES, else the engine the docker CLI would use)",
        )


def run_list(args: argparse.Namespace) -> int:
    from ..cleanup import labs_on
    from ..exceptions import DockerlabError

    names, source = pool_names(args.engines), engines_source(args.engines)
    status = 0
    for name in names:
        try:
            with connected(name, source) as engine:
                labs = labs_on(engine)
                if len(names) > 1:
                    say(f"engine {name}:")
                if not labs:
                    say(f"no lab on {engine.address}")
                    continue
                for line in lab_table(labs, time.time()):
                    say(line)
        except DockerlabError as exc:
            if len(names) == 1:
                raise
            complain(f"engine {name}: {exc}")  # the others are still listed
            status = 1
    return status


def lab_table(labs: Sequence[LabSummary], now: float) -> list[str]:
    """``list``'s lines: a header, then one line per lab."""
    owners = max(len("OWNER"), *(len(lab.owner) for lab in labs))
    lines = [f"{'SESSION':<8}  {'OWNER':<{owners}}  {'STATE':<7}  {'KEPT':<4}  {'AGE':>5}  HOSTS"]
    for lab in labs:
        hosts = ", ".join(lab.hosts) or "-"
        if lab.variants:
            hosts += f" (on {', '.join(lab.variants)})"
        created = age(now - lab.created) if lab.created else "?"
        lines.append(
            f"{lab.session_id:<8}  {lab.owner:<{owners}}  {lab.state:<7}  "
            f"{'yes' if lab.kept else 'no':<4}  {created:>5}  {hosts}"
        )
    return lines


def run_clean(args: argparse.Namespace) -> int:
    from ..exceptions import DockerlabError

    names, source = pool_names(args.engines), engines_source(args.engines)
    if len(names) == 1:
        with connected(names[0], source) as engine:
            return clean(engine, args.session, args.force)
    removed, unreached = False, False
    for name in names:
        try:
            with connected(name, source) as engine:
                say(f"engine {name}:")
                removed = clean(engine, args.session, args.force) == 0 or removed
        except DockerlabError as exc:
            complain(f"engine {name}: {exc}")  # the others are still cleaned
            unreached = True  # what it holds is not known to be gone
    return 0 if removed and not unreached else 1


def engines_source(given: str | None) -> str:
    """What named the engines, for messages about one of them."""
    return "--engines" if given else "DOCKERLAB_ENGINES"


def clean(engine: Engine, sessions: Sequence[str] | None, force: bool) -> int:
    """Remove the labs of ``sessions`` (None: every kept or orphaned lab)."""
    from ..cleanup import ALIVE, DEAD, owner_state

    here = socket.gethostname()
    owners = engine.sessions()
    targets = []
    for sid in sessions if sessions is not None else list(owners):
        owner = owners.get(sid)
        if owner is None:
            continue  # nothing carries it: said below
        state = owner_state(owner, here)
        kept = owner.get(lbl.KEEP) == "true"
        # A lab whose session still runs is in use, kept or not: only --force takes it away.
        # --all also takes kept labs whose owner is on another machine; a session named by
        # its id must be over (its owner here is gone).
        if force or state == DEAD or (sessions is None and kept and state != ALIVE):
            targets.append(sid)
        else:
            where = "still running" if state == ALIVE else f"owned by {owner.get(lbl.OWNER_HOST)}"
            say(f"left session {sid} ({where}; --force removes it)")
    removed = 0
    for sid in targets:
        found = engine.find({lbl.SESSION: sid})
        if found:
            engine.remove(found)
            say(f"removed session {sid}: {found.describe()}")
            removed += 1
    if not removed:
        if sessions is not None:
            missing = [sid for sid in sessions if sid not in owners]
            if not missing:
                return 1  # each was left, for the reason said above
            what = f"no resource carries session {', '.join(missing)}"
        else:
            what = "no kept or orphaned lab"
        complain(f"nothing removed: {what} on {engine.address}")
        return 1
    return 0
