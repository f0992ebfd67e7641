"""``python -m pytest_dockerlab``: list and remove labs; prebuild, list or prune images."""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import labels as lbl
from .exceptions import DockerlabError

if TYPE_CHECKING:
    from .cleanup import LabSummary
    from .engine import Engine


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_dockerlab",
        description="pytest-dockerlab's labs and images on the engine of DOCKER_HOST",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "list",
        aliases=["ls"],
        help="every lab on the engine: session, owner and whether it lives, kept, hosts, age",
        description="Every lab on the engine, oldest first. STATE is the owner process's: "
        "alive or dead on this machine, unknown on another one.",
    )

    clean = commands.add_parser(
        "clean",
        help="remove labs left on the engine (kept or orphaned)",
        description="Remove one session's lab, or every kept or orphaned lab. "
        "Exit 1 when nothing was removed.",
    )
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--session",
        type=_session_id,
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

    commands.add_parser(
        "info",
        help="the detected engine and each image's run profile",
        description="The detected engine (cgroup version, rootless, Podman, Docker Desktop) "
        "and the run profile each image would get on it, or why it cannot run.",
    )

    commands.add_parser(
        "seccomp",
        help="print the seccomp profile of systemd hosts (for docker run --security-opt)",
        description="The seccomp profile systemd hosts run with, as JSON: save it as "
        "sandbox.json to reproduce a host by hand with the flags `info` shows.",
    )

    images = commands.add_parser(
        "images",
        help="prebuild, list or remove the plugin's images",
        description="The plugin's images: build them ahead of a session (CI caches), list "
        "them, or remove those no container uses.",
    )
    images.add_argument(
        "action",
        choices=["build", "list", "prune"],
        help="build: build the images whose current recipe is not built yet; list: name, tag, "
        "size, age, users, current or outdated; prune: remove outdated images (with --all, "
        "every image) that no container uses",
    )
    images.add_argument(
        "--all", action="store_true", help="prune: also current images (default: outdated only)"
    )
    images.add_argument("names", nargs="*", default=[], help="image names (default: all)")
    images.add_argument(
        "--base",
        choices=["auto", "registry", "bootstrap"],
        default="auto",
        help="build: where base images come from, as --dockerlab-base (default: auto)",
    )

    args = parser.parse_args(argv)
    if args.command == "seccomp":
        import json

        from .profiles import sandbox_seccomp

        _say(json.dumps(json.loads(sandbox_seccomp()), indent=2))
        return 0
    if args.command == "images":
        from .images import catalogue

        known = catalogue()
        unknown = [n for n in args.names if n not in known]
        if unknown:
            # Before asking the engine: a typo is a usage error wherever the engine is.
            parser.error(
                f"unknown image{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"known images: {', '.join(known)}"
            )
    try:
        from .engine import connect

        engine = connect()
        if args.command in ("list", "ls"):
            return _list(engine)
        if args.command == "clean":
            return _clean(engine, args.session, args.force)
        if args.command == "info":
            from .images import catalogue, describe_engine

            for line in describe_engine(engine, catalogue()):
                _say(line)
            return 0
        return _images(engine, args.action, args.names, args.base, args.all)
    except DockerlabError as exc:
        sys.stderr.write(f"dockerlab: {exc}\n")
        return 1


def _session_id(text: str) -> str:
    # An empty or partial id would match far more than one session's resources.
    if not re.fullmatch(r"[0-9a-f]{8}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a session id (8 hex digits, as printed in the run's header)"
        )
    return text


def _list(engine: Engine) -> int:
    from .cleanup import summarize

    labs = summarize(engine.labelled({lbl.SESSION: ""}), socket.gethostname())
    if not labs:
        _say(f"no lab on {engine.address}")
        return 0
    for line in lab_table(labs, time.time()):
        _say(line)
    return 0


def lab_table(labs: Sequence[LabSummary], now: float) -> list[str]:
    """``list``'s lines: a header, then one line per lab."""
    owners = max(len("OWNER"), *(len(lab.owner) for lab in labs))
    lines = [f"{'SESSION':<8}  {'OWNER':<{owners}}  {'STATE':<7}  {'KEPT':<4}  {'AGE':>5}  HOSTS"]
    for lab in labs:
        hosts = ", ".join(lab.hosts) or "-"
        if lab.variants:
            hosts += f" (on {', '.join(lab.variants)})"
        age = _age(now - lab.created) if lab.created else "?"
        lines.append(
            f"{lab.session_id:<8}  {lab.owner:<{owners}}  {lab.state:<7}  "
            f"{'yes' if lab.kept else 'no':<4}  {age:>5}  {hosts}"
        )
    return lines


def _clean(engine: Engine, sessions: Sequence[str] | None, force: bool) -> int:
    from .cleanup import ALIVE, DEAD, owner_state

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
            _say(f"left session {sid} ({where}; --force removes it)")
    removed = 0
    for sid in targets:
        found = engine.find({lbl.SESSION: sid})
        if found:
            engine.remove(found)
            _say(f"removed session {sid}: {found.describe()}")
            removed += 1
    if not removed:
        if sessions is not None:
            missing = [sid for sid in sessions if sid not in owners]
            what = f"no resource carries session {', '.join(missing or sessions)}"
        else:
            what = "no kept or orphaned lab"
        sys.stderr.write(f"dockerlab: nothing removed: {what} on {engine.address}\n")
        return 1
    return 0


def _images(
    engine: Engine, action: str, names: Sequence[str], base: str, prune_all: bool = False
) -> int:
    from .images import ImageBuilder, catalogue

    recipes = catalogue()
    chosen = [recipes[n] for n in (names or list(recipes))]
    if action == "build":
        builder = ImageBuilder(engine, _say, base)
        failed = 0
        for recipe in chosen:
            try:
                _say(f"{recipe.name}: {builder.ensure(recipe)}")
            except DockerlabError as exc:
                # Building "all" on a machine without a registry: say which could not, go on.
                sys.stderr.write(f"dockerlab: {exc}\n")
                failed += 1
        return 1 if failed else 0
    current = {r.tag for r in recipes.values()}
    wanted = {r.name for r in chosen}
    now = time.time()
    if action == "list":
        _say(f"{'NAME':<18} {'TAG':<44} {'SIZE':>7} {'AGE':>5}  {'IN USE':<13} RECIPE")
    for image in sorted(engine.images(lbl.IMAGE), key=lambda i: i.labels.get(lbl.IMAGE, "")):
        name = image.labels.get(lbl.IMAGE, "?")
        if names and name not in wanted:
            continue
        tag = image.tags[0] if image.tags else image.id[7:19]
        outdated = not any(t in current for t in image.tags) and not name.startswith("rootfs-")
        if action == "list":
            users = f"{image.containers} containers" if image.containers else "no"
            _say(
                f"{name:<18} {tag:<44} {image.size / 1e6:>5.0f}MB {_age(now - image.created):>5}"
                f"  {users:<13} {'outdated' if outdated else 'current'}"
            )
        elif (outdated or prune_all) and not image.containers:
            engine.remove_image(image.id)
            _say(f"removed {name} {tag} ({image.size / 1e6:.0f}MB)")
    return 0


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
