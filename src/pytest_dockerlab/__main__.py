"""``dockerlab`` (or ``python -m pytest_dockerlab``): labs and images without pytest.

``up``/``shell``/``down`` work a kept lab by hand, ``bake`` saves a converged host as an
image, ``list``/``clean`` find and remove labs, ``images`` builds, lists, prunes, saves and
loads images and converge cache entries.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import labels as lbl
from .cache import ENTRY as CACHE_ENTRY
from .config import LAB_FILE_NAME, SESSION_ID
from .exceptions import DockerlabError

if TYPE_CHECKING:
    from .cleanup import LabSummary
    from .engine import Engine


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return _run(parser, parse_args(parser, argv))


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "images" and not any(e.startswith("-") for e in extra):
        # argparse gives `images save --dir D debian12` no place for the names after a flag.
        args.names = [*args.names, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("pytest-dockerlab")
    except PackageNotFoundError:  # run from a checkout that was never installed
        mine = "unknown"
    return f"%(prog)s {mine} (Python {sys.version.split()[0]})"


def build_parser() -> argparse.ArgumentParser:
    """The command line: every command and flag with its help line."""
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="pytest-dockerlab's labs and images on the engine: DOCKER_HOST, else "
        "DOCKER_CONTEXT, else the docker CLI's current context, else a local engine socket",
    )
    parser.add_argument("--version", action="version", version=_version())
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

    up = commands.add_parser(
        "up",
        help="boot hosts of the lab file (and converge them) without tests, and keep them",
        description="Boot HOSTS (default: every host) of the lab file as a session would, "
        "converge them with --converge (the converge cache applies), and keep the lab: "
        "`shell` enters a host, `pytest --dockerlab-reuse` runs tests on it, `down` removes it.",
    )
    up.add_argument("hosts", nargs="*", metavar="HOST", help="lab hosts (default: all)")
    up.add_argument("--converge", action="store_true", help="apply the lab file's playbooks")
    down = commands.add_parser(
        "down",
        help="remove a kept lab",
        description="Remove a kept lab: session ID, else the newest kept lab of the lab file.",
    )
    shell = commands.add_parser(
        "shell",
        aliases=["login"],
        help="open a login shell in a host of a kept lab (like molecule login)",
        description="Open a login shell (bash, else sh) in HOST of a kept lab: session ID, "
        "else the newest kept lab of the lab file that has HOST. A stopped host is started.",
    )
    shell.add_argument("host", metavar="HOST", help="a lab host's name")
    for command in (up, down, shell):
        if command is not up:
            command.add_argument(
                "--session", type=_session_id, help="the kept lab's session id (see `list`)"
            )
        command.add_argument(
            "--lab", metavar="FILE", help=f"the lab file (default: ./{LAB_FILE_NAME})"
        )
    bake = commands.add_parser(
        "bake",
        help="save a converged host as an ordinary image (as Packer would)",
        description="Converge HOST of the lab file alone (or take its converge cache entry), "
        "stop it as a shutdown would, and save its disk as image NAME:TAG with its init as "
        "the command; prints the docker run flags that boot it.",
    )
    bake.add_argument("host", metavar="HOST", help="a lab host's name")
    bake.add_argument("--tag", required=True, metavar="NAME:TAG", help="the image to make")
    bake.add_argument("--lab", metavar="FILE", help=f"the lab file (default: ./{LAB_FILE_NAME})")

    importer = commands.add_parser(
        "import-molecule",
        help="write the dockerlab.yml equivalent of a Molecule scenario",
        description="Read SCENARIO/molecule.yml (platforms, provisioner inventory vars, env, "
        "config options, playbooks) and write the equivalent lab file; list what could not "
        "carry over. pytest --dockerlab-molecule SCENARIO runs a scenario without this step.",
    )
    importer.add_argument(
        "scenario", metavar="SCENARIO", help="a scenario folder (molecule/default)"
    )
    importer.add_argument(
        "--output", metavar="FILE", help="where to write it (default: SCENARIO/dockerlab.yml)"
    )
    importer.add_argument("--force", action="store_true", help="overwrite an existing file")

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
        choices=["build", "list", "prune", "save", "load"],
        help="build: build the images whose current recipe is not built yet; list: name, tag, "
        "size, age, users, current or outdated, then the converge cache's entries; prune: "
        "remove outdated images (with --all, every image) that no container uses, or with "
        "--cache the converge cache's entries; save: write the built images to --dir (one "
        "NAME.tar each, for a CI cache); load: load every archive of --dir",
    )
    images.add_argument(
        "--dir",
        metavar="DIR",
        help="save, load: the folder of image archives (e.g. a CI cache's path)",
    )
    images.add_argument(
        "--cache", action="store_true", help="prune: remove converge cache entries instead"
    )
    images.add_argument(
        "--older-than",
        metavar="AGE",
        type=_duration,
        default=0.0,
        help="prune --cache: only entries not used for AGE (e.g. 7d, 12h, 30m)",
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

    return parser


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "images" and (args.action in ("save", "load")) != bool(args.dir):
        parser.error("--dir goes with `images save` and `images load`, and they need it")
    if args.command == "images" and args.older_than and not (args.action == "prune" and args.cache):
        parser.error("--older-than applies to `images prune --cache` only")
    if args.command == "seccomp":
        import json

        from .profiles import sandbox_seccomp

        _say(json.dumps(json.loads(sandbox_seccomp()), indent=2))
        return 0
    if args.command == "import-molecule":
        return _import_molecule(args.scenario, args.output, args.force)
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
        from .address import resolve
        from .engine import connect

        address = resolve()
        # Ansible's connection and the shell's `docker exec` reach the same engine as the SDK.
        for name, value in address.environment().items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        engine = connect(address=address)
        if args.command in ("list", "ls"):
            return _list(engine)
        if args.command == "clean":
            return _clean(engine, args.session, args.force)
        if args.command in ("up", "down", "shell", "login", "bake"):
            return _lab_command(engine, args)
        if args.command == "info":
            from .images import catalogue, describe_engine

            for line in describe_engine(engine, catalogue()):
                _say(line)
            return 0
        if args.action == "prune" and args.cache:
            return _prune_cache(engine, args.older_than)
        if args.action in ("save", "load"):
            try:
                return _archives(engine, args.action, Path(args.dir), args.names)
            except OSError as exc:
                sys.stderr.write(f"dockerlab: images {args.action} --dir {args.dir}: {exc}\n")
                return 1
        status = _images(engine, args.action, args.names, args.base, args.all)
        if args.action == "list" and not args.names:
            _list_cache(engine)
        return status
    except DockerlabError as exc:
        sys.stderr.write(f"dockerlab: {exc}\n")
        return 1
    except BrokenPipeError:  # `dockerlab images list | head`: the reader has enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        # What up or bake had made is removed already (their sessions' exits ran).
        sys.stderr.write("dockerlab: interrupted\n")
        return 130


def _import_molecule(scenario: str, output: str | None, force: bool) -> int:
    from .images import catalogue
    from .labfile import parse_lab
    from .molecule import convert, write_lab_file

    try:
        converted = convert(Path(scenario), catalogue())
        parse_lab(converted.lab, converted.path)  # what pytest would refuse, refused now
    except DockerlabError as exc:
        sys.stderr.write(f"dockerlab: {exc}\n")
        return 1
    target = Path(output) if output else converted.folder / "dockerlab.yml"
    if target.exists() and not force:
        sys.stderr.write(f"dockerlab: {target} exists; --force overwrites it\n")
        return 1
    write_lab_file(converted, target.resolve())
    _say(f"wrote {target} ({len(converted.lab['hosts'])} hosts from {converted.path})")
    for note in converted.notes:
        _say(f"not carried: {note}")
    _say(f"run it with: pytest {target.parent}")
    return 0


def _prog() -> str:
    name = os.path.basename(sys.argv[0])
    return "dockerlab" if name == "dockerlab" else "python -m pytest_dockerlab"


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhms]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 7d, 12h or 30m")
    return float(match[1]) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[match[2]]


def _lab_command(engine: Engine, args: argparse.Namespace) -> int:
    from . import commands

    path = commands.lab_file_here(args.lab)
    if args.command == "up":
        return commands.up(engine, path, args.hosts, args.converge, _say)
    if args.command == "down":
        return commands.down(engine, path, args.session, _say)
    if args.command == "bake":
        return commands.bake(engine, path, args.host, args.tag, _say)
    return commands.shell(engine, path, args.host, args.session)


def _list_cache(engine: Engine) -> None:
    from .cache import ConvergeCache

    entries = ConvergeCache(engine, _say).entries()
    if not entries:
        _say("converge cache: no entries")
        return
    now = time.time()
    _say(f"\n{'CACHE KEY':<12}  {'HOSTS':<16} {'SIZE':>7} {'AGE':>5} {'USED':>5} {'HITS':>4}  LAB")
    for entry in reversed(entries):
        used = _age(now - entry.last_used) if entry.last_used else "-"
        _say(
            f"{entry.key[:12]:<12}  {', '.join(entry.hosts):<16} {entry.size / 1e6:>5.0f}MB "
            f"{_age(now - entry.created):>5} {used:>5} {entry.hits:>4}  {entry.lab_file}"
        )


def _prune_cache(engine: Engine, older_than: float) -> int:
    from .cache import ConvergeCache

    cache = ConvergeCache(engine, _say)
    now = time.time()
    for entry in cache.entries():
        if now - max(entry.last_used, entry.created) < older_than:
            continue
        if entry.in_use:
            _say(f"left cache entry {entry.key[:12]}: {entry.in_use} containers use it")
            continue
        cache.drop(entry.key)
        _say(
            f"removed cache entry {entry.key[:12]} ({', '.join(entry.hosts)}, "
            f"{entry.size / 1e6:.0f}MB)"
        )
    return 0


def _session_id(text: str) -> str:
    # An empty or partial id would match far more than one session's resources.
    if not SESSION_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a session id (8 hex digits, as printed in the run's header)"
        )
    return text


def _list(engine: Engine) -> int:
    from .cleanup import labs_on

    labs = labs_on(engine)
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


def _archives(engine: Engine, action: str, folder: Path, names: Sequence[str]) -> int:
    """``images save/load --dir``: the built images as one archive each, for a CI cache.

    A saved image keeps its tag (the recipe's hash): after a load, sessions find it built."""
    from .images import catalogue

    if folder.exists() and not folder.is_dir():
        sys.stderr.write(f"dockerlab: images {action} --dir {folder}: not a folder\n")
        return 1
    if action == "load":
        archives = sorted(folder.glob("*.tar")) if folder.is_dir() else []
        for archive in archives:
            with archive.open("rb") as data:
                engine.load_images(data)
            _say(f"loaded {archive}")
        if not archives:
            _say(f"no image archives in {folder}: the images will be built")
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    for recipe in [r for n, r in catalogue().items() if not names or n in names]:
        archive = folder / f"{recipe.name}.tar"
        if not engine.image_exists(recipe.tag):
            # Its recipe changed or it was never built: an old archive would load in vain.
            archive.unlink(missing_ok=True)
            if names:
                _say(f"{recipe.name}: not built ({recipe.tag}); `images build {recipe.name}`")
            continue
        partial = archive.with_suffix(".tar.partial")
        with partial.open("wb") as data:
            engine.save_image(recipe.tag, data)
        partial.replace(archive)
        _say(f"saved {recipe.tag} to {archive}")
    return 0


def _images(
    engine: Engine, action: str, names: Sequence[str], base: str, prune_all: bool = False
) -> int:
    from .images import ImageBuilder, catalogue

    recipes = catalogue()
    chosen = [recipes[n] for n in (names or list(recipes))]
    if action == "build":
        from .labels import SessionIdentity

        # Its build locks carry this process as their owner: a sweep removes them if it dies.
        builder = ImageBuilder(engine, _say, base, SessionIdentity.create().labels())
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
        _say(f"{'NAME':<18} {'TAG':<50} {'SIZE':>7} {'AGE':>5}  {'IN USE':<13} RECIPE")
    for image in sorted(engine.images(lbl.IMAGE), key=lambda i: i.labels.get(lbl.IMAGE, "")):
        name = image.labels.get(lbl.IMAGE, "?")
        if (names and name not in wanted) or image.labels.get(CACHE_ENTRY) == "true":
            continue  # a converge cache entry is listed and pruned with the cache
        tag = image.tags[0] if image.tags else image.id[7:19]
        outdated = not any(t in current for t in image.tags) and not name.startswith("rootfs-")
        if action == "list":
            users = f"{image.containers} containers" if image.containers else "no"
            _say(
                f"{name:<18} {tag:<50} {image.size / 1e6:>5.0f}MB {_age(now - image.created):>5}"
                f"  {users:<13} {'outdated' if outdated else 'current'}"
            )
        elif (outdated or prune_all) and not image.containers:
            try:
                engine.remove_image(image.id)
            except DockerlabError as exc:  # e.g. converge cache entries are built on it
                _say(f"left {name} {tag}: {exc} (images prune --cache removes cache entries)")
                continue
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
