"""``up``, ``down``, ``shell`` and ``bake``: one lab by hand, without tests.

``up`` boots (and converges) hosts of a lab file and keeps them, as a session with
``--dockerlab-keep`` would; ``shell`` enters a host of a kept lab; ``down`` removes a kept
lab; ``bake`` saves a converged host as an ordinary image that ``docker run`` boots.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import labels as lbl
from ..exceptions import DockerlabError, UnknownHostError
from ..settings import IMAGE_REFERENCE, LAB_FILE_NAME, Settings
from ..signals import handling, raise_interrupt
from ..spec import ContainerSpec, LabSpec, Recipe
from .common import command, connected, say

if TYPE_CHECKING:
    from ..engine import Engine
    from ..session import LabSession
    from .common import Commands

Say = Callable[[str], None]

BAKED = f"{lbl.NAMESPACE}.baked-from"  # the lab file and host a baked image comes from
# The longest repository name docker takes (the tag may add 128 more).
_MAX_NAME = 255
_MAX_TAG = 128  # docker's limits on a name and on a tag


def register(commands: Commands) -> None:
    up_command = command(
        commands,
        "up",
        _run,
        "boot hosts of the lab file (and converge them) without tests, and keep them",
        "Boot HOSTS (default: every host) of the lab file as a session would, converge them "
        "with --converge (the converge cache applies), and keep the lab: `shell` enters a host, "
        "`pytest --dockerlab-reuse` runs tests on it, `down` removes it.",
    )
    up_command.add_argument("hosts", nargs="*", metavar="HOST", help="lab hosts (default: all)")
    up_command.add_argument(
        "--converge", action="store_true", help="apply the lab file's playbooks"
    )
    down_command = command(
        commands,
        "down",
        _run,
        "remove a kept lab",
        "Remove a kept lab: session ID, else the newest kept lab of the lab file.",
    )
    shell_command = command(
        commands,
        "shell",
        _run,
        "open a login shell in a host of a kept lab (like molecule login)",
        "Open a login shell (bash, else sh) in HOST of a kept lab: session ID, else the newest "
        "kept lab of the lab file that has HOST. A stopped host is started.",
        "login",
    )
    shell_command.add_argument("host", metavar="HOST", help="a lab host's name")
    for parser in (down_command, shell_command):
        parser.add_argument(
            "--session", type=lbl.session_id_argument, help="the kept lab's session id (see `list`)"
        )
    bake_command = command(
        commands,
        "bake",
        _run,
        "save a converged host as an ordinary image (as Packer would)",
        "Converge HOST of the lab file alone (or take its converge cache entry), stop it as a "
        "shutdown would, and save its disk as image NAME:TAG with its init as the command; "
        "prints the docker run flags that boot it.",
    )
    bake_command.add_argument("host", metavar="HOST", help="a lab host's name")
    bake_command.add_argument(
        "--tag", required=True, type=_reference, metavar="NAME:TAG", help="the image to make"
    )
    for parser in (up_command, down_command, shell_command, bake_command):
        parser.add_argument(
            "--lab", metavar="FILE", help=f"the lab file (default: ./{LAB_FILE_NAME})"
        )


def _run(args: argparse.Namespace) -> int:
    path = lab_file_here(args.lab)
    with connected() as engine:
        if args.command == "up":
            return up(engine, path, args.hosts, args.converge, say)
        if args.command == "down":
            return down(engine, path, args.session, say)
        if args.command == "bake":
            return bake(engine, path, args.host, args.tag, say)
        return shell(engine, path, args.host, args.session)


def lab_file_here(path: str | None) -> Path | None:
    """``--lab PATH``, else ``dockerlab.yml`` in the current folder, else None."""
    if path:
        return Path(path).resolve()
    here = Path.cwd() / LAB_FILE_NAME
    return here if here.is_file() else None


def _load(path: Path | None) -> tuple[LabSpec, dict[str, Recipe]]:
    """The lab of ``path`` (or of the Molecule scenario it names) and its recipes."""
    from ..loading import load_lab

    if path is None:
        raise DockerlabError(f"no {LAB_FILE_NAME} in {Path.cwd()}: pass --lab PATH")
    spec, recipes, _ = load_lab(Settings(lab_file=path))
    assert spec is not None  # a lab file was given
    return spec, recipes


def _hosts(spec: LabSpec, names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in spec.hosts]
    if unknown:
        raise UnknownHostError(unknown, spec.host_names, where=str(spec.path))
    return list(names) or list(spec.host_names)


def _session(
    spec: LabSpec, recipes: dict[str, Recipe], engine: Engine, names: Sequence[str], say: Say
) -> LabSession:
    from ..session import LabSession

    settings = Settings(lab_file=spec.path)
    return LabSession(spec, engine, recipes, lbl.SessionIdentity.create(), settings, names, say)


def up(engine: Engine, path: Path | None, names: Sequence[str], converge: bool, say: Say) -> int:
    """Boot ``names`` (every host by default), converge them if asked, and keep them."""
    spec, recipes = _load(path)
    hosts = _hosts(spec, names)
    if not converge:
        spec = replace(spec, ansible=replace(spec.ansible, playbooks=()))
    # Until the lab is up, Ctrl-C or SIGTERM removes what was made; afterwards it is kept.
    with handling((signal.SIGTERM,), raise_interrupt, only_default=True):
        session = _session(spec, recipes, engine, hosts, say)
        with session:
            session.lab.keep_now()
    for name, error in {**session.unavailable, **session.setup_failures}.items():
        say(f"host {name}: {error}")
    say(session.keep_instructions())
    return 1 if session.setup_failures or session.unavailable else 0


def _which_lab(path: Path | None, session_id: str | None) -> Path | None:
    """The lab file to pick the newest kept lab of; None when a session id names it."""
    if session_id is None and path is None:
        # The newest kept lab of the whole engine may be anyone's: never guess it.
        raise DockerlabError(
            f"no {LAB_FILE_NAME} in {Path.cwd()}: pass --lab PATH, or --session ID "
            "(dockerlab list shows them)"
        )
    return None if session_id else path


def down(engine: Engine, path: Path | None, session_id: str | None, say: Say) -> int:
    """Remove a kept lab: the one named, else the newest kept lab of the lab file here."""
    from ..cleanup import kept_lab, labs_on, remove_temp, temp_entries

    lab = kept_lab(labs_on(engine), session_id=session_id, lab_file=_which_lab(path, session_id))
    found = engine.find({lbl.SESSION: lab.session_id})
    engine.remove(found)
    remove_temp(temp_entries(Path(tempfile.gettempdir()), lab.session_id).get(lab.session_id, []))
    say(f"removed kept lab {lab.session_id}: {found.describe()}")
    return 0


def shell(engine: Engine, path: Path | None, host: str, session_id: str | None) -> int:
    """Replace this process with a login shell in ``host`` of a kept lab (``molecule login``)."""
    from ..cleanup import kept_lab, labs_on

    lab_file = _which_lab(path, session_id)
    lab = kept_lab(labs_on(engine), session_id=session_id, lab_file=lab_file, host=host)
    container = lab.containers[host]
    if not engine.state(container).running:
        # A kept lab survives a restart of the engine stopped: boot it as `up` would.
        engine.start(container)
        _wait_for_init(engine, container, lab.images.get(host, ""))
    docker = shutil.which("docker")
    if docker is None:
        raise DockerlabError("the docker command is not installed: it opens the terminal")
    login = "command -v bash >/dev/null && exec bash -l || exec sh -l"
    # Without a terminal (a pipe, CI), a shell still reads its commands from stdin.
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    try:
        os.execv(docker, ["docker", "exec", *tty, container, "/bin/sh", "-c", login])
    except OSError as exc:
        raise DockerlabError(f"cannot run {docker}: {exc.strerror}") from exc
    return 0  # not reached


def _wait_for_init(engine: Engine, container: str, image: str, timeout: float = 120) -> None:
    """Until the host's init says it has booted (the recipe's init, systemd if unknown)."""
    from ..images import catalogue
    from ..init import POLL_INTERVAL, init_system

    recipe = catalogue().get(image)
    init = init_system(recipe.init if recipe else "systemd")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = init.booted(engine.exec(container, init.readiness(deadline)))
        except DockerlabError:
            done = False
        if done:
            return
        time.sleep(POLL_INTERVAL)
    raise DockerlabError(f"{container} did not finish booting in {timeout:.0f}s")


def check_reference(ref: str) -> None:
    """Refuse a tag docker would refuse, before anything boots or converges."""
    tag = ref.rpartition(":")[2] if re.search(r":[^/]*$", ref) else ""
    if len(tag) > _MAX_TAG:
        raise DockerlabError(
            f"--tag: the tag {tag[:20]!r}... is {len(tag)} characters long; docker takes "
            f"{_MAX_TAG} at most"
        )
    if not IMAGE_REFERENCE.fullmatch(ref):
        raise DockerlabError(
            f"--tag {ref!r} is not an image name docker takes: NAME[:TAG] with NAME in lower "
            "case (letters, digits, . _ -, / between parts), e.g. myorg/web:1"
        )
    name = ref.rpartition(":")[0] if re.search(r":[^/]*$", ref) else ref
    if len(name) > _MAX_NAME:
        raise DockerlabError(
            f"--tag: the name {name[:40]!r}... is {len(name)} characters long; docker takes "
            f"{_MAX_NAME} at most"
        )


def _reference(ref: str) -> str:
    """``--tag``, refused on the command line when docker would refuse it at the end."""
    try:
        check_reference(ref)
    except DockerlabError as exc:
        raise argparse.ArgumentTypeError(
            str(exc).removeprefix("--tag ").removeprefix("--tag: ")
        ) from None
    return ref


def bake(engine: Engine, path: Path | None, host: str, ref: str, say: Say) -> int:
    """Converge ``host`` alone (or take its cache entry) and save it as image ``ref``."""
    check_reference(ref)
    spec, recipes = _load(path)
    _hosts(spec, [host])
    settings = spec.hosts[host].container
    if settings.named_volumes:
        say(
            f"note: {host}'s named volumes ({', '.join(settings.named_volumes)}) are not part "
            "of an image: what the converge wrote there is not baked"
        )
    with handling((signal.SIGTERM,), raise_interrupt, only_default=True):
        session = _session(spec, recipes, engine, [host], say)
        with session:
            error = session.unavailable.get(host) or session.setup_failures.get(host)
            if error:
                raise DockerlabError(f"cannot bake host {host!r}: {error}")
            running = session.lab.running[host]
            # Every container of the image gets its own machine id at boot, and no journal
            # of the lab's; then stopped as a shutdown would: a disk at rest.
            session.lab.exec(host, _FORGET_IDENTITY)
            running.init.shut_down(session.lab.shell(host))
            labels = {BAKED: f"{spec.path}:{host}"}
            if session.last_run is not None:
                labels[f"{lbl.NAMESPACE}.baked-key"] = session.last_run.key
            image = engine.flatten(running.container, ref, labels)
            flags = " ".join(running.profile.docker_run_flags())
    say(f"baked {host} of {spec.path} as {ref} ({image.removeprefix('sha256:')[:12]})")
    say(f"boot it with:\n  docker run -d --name {host} --hostname {host} {flags} {ref}")
    if "sandbox.json" in flags:
        say("  (sandbox.json: dockerlab seccomp > sandbox.json)")
    own = [f.name for f in dataclasses.fields(settings) if f.name != "networks"
           and getattr(settings, f.name) != getattr(ContainerSpec(), f.name)]  # fmt: skip
    if own:
        say(f"  (plus the flags of {host}'s own settings in the lab file: {', '.join(own)})")
    return 0


_FORGET_IDENTITY = (
    ": > /etc/machine-id 2>/dev/null; rm -f /var/lib/dbus/machine-id; rm -rf /var/log/journal/*"
)
