"""The interactive commands: ``up``, ``down``, ``shell`` and ``bake`` a lab without tests.

``up`` boots (and converges) hosts of a lab file and keeps them, as a session with
``--dockerlab-keep`` would; ``shell`` enters a host of a kept lab; ``down`` removes a kept
lab; ``bake`` saves a converged host as an ordinary image that ``docker run`` boots.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from . import labels as lbl
from .cleanup import kept_lab, labs_on, remove_temp, temp_entries
from .config import LAB_FILE_NAME, Settings
from .engine import Engine
from .exceptions import DockerlabError, UnknownHostError
from .images import catalogue
from .labels import SessionIdentity
from .labfile import LabSpec, load_lab_file
from .session import LabSession
from .signals import handling, raise_interrupt

Say = Callable[[str], None]

BAKED = f"{lbl.NAMESPACE}.baked-from"  # the lab file and host a baked image comes from


def lab_file_here(path: str | None) -> Path | None:
    """``--lab PATH``, else ``dockerlab.yml`` in the current folder, else None."""
    if path:
        return Path(path).resolve()
    here = Path.cwd() / LAB_FILE_NAME
    return here if here.is_file() else None


def _load(path: Path | None) -> LabSpec:
    if path is None:
        raise DockerlabError(f"no {LAB_FILE_NAME} in {Path.cwd()}: pass --lab PATH")
    return load_lab_file(path)


def _hosts(spec: LabSpec, names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in spec.hosts]
    if unknown:
        raise UnknownHostError(unknown, spec.host_names, where=str(spec.path))
    return list(names) or list(spec.host_names)


def _session(spec: LabSpec, engine: Engine, names: Sequence[str], say: Say) -> LabSession:
    settings = Settings(lab_file=spec.path)
    recipes = catalogue(spec.images.recipes)
    for name in names:
        if spec.hosts[name].image not in recipes:
            raise DockerlabError(f"host {name!r} uses unknown image {spec.hosts[name].image!r}")
    return LabSession(spec, engine, recipes, SessionIdentity.create(), settings, names, say)


def up(engine: Engine, path: Path | None, names: Sequence[str], converge: bool, say: Say) -> int:
    """Boot ``names`` (every host by default), converge them if asked, and keep them."""
    spec = _load(path)
    hosts = _hosts(spec, names)
    if not converge:
        spec = replace(spec, ansible=replace(spec.ansible, playbooks=()))
    # Until the lab is up, Ctrl-C or SIGTERM removes what was made; afterwards it is kept.
    with handling((signal.SIGTERM,), raise_interrupt, only_default=True):
        session = _session(spec, engine, hosts, say)
        with session:
            session.lab.keep_now()
    for name, error in {**session.unavailable, **session.setup_failures}.items():
        say(f"host {name}: {error}")
    say(session.keep_instructions())
    return 1 if session.setup_failures or session.unavailable else 0


def down(engine: Engine, path: Path | None, session_id: str | None, say: Say) -> int:
    """Remove a kept lab: the one named, else the newest kept lab of the lab file here."""
    lab = kept_lab(labs_on(engine), session_id=session_id, lab_file=None if session_id else path)
    found = engine.find({lbl.SESSION: lab.session_id})
    engine.remove(found)
    remove_temp(temp_entries(Path(tempfile.gettempdir()), lab.session_id).get(lab.session_id, []))
    say(f"removed kept lab {lab.session_id}: {found.describe()}")
    return 0


def shell(engine: Engine, path: Path | None, host: str, session_id: str | None) -> int:
    """Replace this process with a login shell in ``host`` of a kept lab (``molecule login``)."""
    labs = labs_on(engine)
    lab = kept_lab(labs, session_id=session_id, lab_file=None if session_id else path, host=host)
    container = lab.containers[host]
    if not engine.state(container).running:
        engine.start(container)  # a kept lab survives a reboot of the engine stopped
    docker = shutil.which("docker")
    if docker is None:
        raise DockerlabError("the docker command is not installed: it opens the terminal")
    login = "command -v bash >/dev/null && exec bash -l || exec sh -l"
    try:
        os.execv(docker, ["docker", "exec", "-it", container, "/bin/sh", "-c", login])
    except OSError as exc:
        raise DockerlabError(f"cannot run {docker}: {exc.strerror}") from exc
    return 0  # not reached


def bake(engine: Engine, path: Path | None, host: str, ref: str, say: Say) -> int:
    """Converge ``host`` alone (or take its cache entry) and save it as image ``ref``."""
    spec = _load(path)
    _hosts(spec, [host])
    with handling((signal.SIGTERM,), raise_interrupt, only_default=True):
        session = _session(spec, engine, [host], say)
        with session:
            error = session.unavailable.get(host) or session.setup_failures.get(host)
            if error:
                raise DockerlabError(f"cannot bake host {host!r}: {error}")
            running = session.lab.running[host]
            # Stopped as a shutdown would: the image is a disk at rest, not one mid-write.
            running.init.shut_down(session.lab.shell(host))
            labels = {BAKED: f"{spec.path}:{host}"}
            if session.last_run is not None:
                labels[f"{lbl.NAMESPACE}.baked-key"] = session.last_run.key
            image = engine.flatten(running.container, ref, labels)
            flags = " ".join(running.profile.docker_run_flags())
    say(f"baked {host} of {spec.path} as {ref} ({image.removeprefix('sha256:')[:12]})")
    say(f"boot it with:\n  docker run -d --name {host} --hostname {host} {flags} {ref}")
    if "sandbox.json" in flags:
        say("  (sandbox.json: python -m pytest_dockerlab seccomp > sandbox.json)")
    return 0
