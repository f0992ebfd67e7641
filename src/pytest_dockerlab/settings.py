"""The plugin's settings: options > environment > ini keys, resolved once into a frozen
:class:`Settings`. Free of pytest: :mod:`.options` hands in what pytest parsed, and the
``dockerlab`` command may read the same settings without loading pytest.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import DockerlabError
from .labels import SESSION_ID
from .scheduling import check_durations
from .spec.model import parse_size

LAB_FILE_NAME = "dockerlab.yml"
KEEP_MODES = ("always", "on-failure", "never")
CACHE_MODES = ("on", "off", "refresh")
DEFAULT_CACHE_BYTES = 10 * 1024**3
BASE_SOURCES = ("auto", "registry", "bootstrap")
# --dockerlab-reuse with no id: the newest kept lab of the lab file.
NEWEST = "newest"
SWITCHES = {"on": True, "true": True, "yes": True, "1": True,
            "off": False, "false": False, "no": False, "0": False}  # fmt: skip
# A repository as docker names one, without a tag: [HOST[:PORT]/]PATH, the path in lower case
# (the first part is a host when it has a dot or a port, or is localhost).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = (
    r"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*:[0-9]+|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+"
    r"|localhost|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
)
REPOSITORY_NAME = re.compile(rf"(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*")
# docker's rule for a context's name
CONTEXT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]*")
# An image as docker names one: the repository and an optional tag.
IMAGE_REFERENCE = re.compile(rf"{REPOSITORY_NAME.pattern}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?")


# The options' dests (pytest's command line; None when not given) and the ini keys with their
# defaults: what :class:`Given` holds.
OPTIONS = (
    "dockerlab_file", "dockerlab_keep", "dockerlab_reuse", "dockerlab_molecule",
    "dockerlab_ansible_verbosity", "dockerlab_cache", "dockerlab_artifacts",
    "dockerlab_boot_timeout", "dockerlab_base", "dockerlab_idempotence", "dockerlab_image",
    "dockerlab_registry", "dockerlab_registry_push", "dockerlab_registry_required",
    "dockerlab_molecule_privileged", "dockerlab_shard", "dockerlab_durations",
    "dockerlab_engines", "dockerlab_engines_required", "dockerlab_retry_lost_labs",
)  # fmt: skip
INI_DEFAULTS: dict[str, Any] = {
    "dockerlab_file": "", "dockerlab_keep": "never", "dockerlab_cache": "on",
    "dockerlab_cache_size": "10G", "dockerlab_molecule": "", "dockerlab_artifacts": "",
    "dockerlab_boot_timeout": "120", "dockerlab_base": "auto", "dockerlab_image": "",
    "dockerlab_registry": "", "dockerlab_registry_push": "", "dockerlab_base_mirror": "",
    "dockerlab_idempotence": False, "dockerlab_durations": "", "dockerlab_engines": "",
}  # fmt: skip


class SettingsError(DockerlabError):
    """An option, a variable or an ini key with a value the plugin cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the plugin reads from the command line, the environment and ini files."""

    lab_file: Path | None = None
    keep: str = "never"  # always | on-failure | never
    reuse: str | None = None  # a kept session's id, NEWEST, or None: a new lab
    cache: str = "on"  # on | off | refresh
    cache_max_bytes: int = DEFAULT_CACHE_BYTES
    ansible_verbosity: int | None = None  # over the lab file's ansible.verbosity
    molecule: Path | None = None  # a Molecule scenario folder to run instead of a lab file
    molecule_privileged: bool = False  # a platform's privileged: true is kept
    boot_timeout: float = 120.0
    base_source: str = "auto"
    idempotence: bool = False
    image: str | None = None  # every host that does not pin an image runs this one
    image_origin: str = ""  # where ``image`` was set, for messages
    artifacts: Path | None = None  # where each lab's evidence is written before it goes
    shard: tuple[int, int] | None = None  # (I, N): only the labs of CI shard I of N
    durations: Path | None = None  # where lab durations are kept (else pytest's cache)
    # The engine pool: (address, weight) each; xdist workers are spread over them by weight.
    engines: tuple[tuple[str, int], ...] = ()
    engines_required: bool = False  # an engine of the pool that does not answer fails the run
    engines_required_by: str = "CI=true"  # what asked for it, for the message
    retry_lost_labs: bool = False  # a lab lost with its engine runs once more on another
    registry: str | None = None  # a repository images and cache entries are shared through
    registry_push: bool = True  # this run may push there (off: read only, e.g. forks' PRs)
    registry_required: bool = False  # a registry that fails fails the session (CI's default)
    base_mirror: str | None = None  # where registry-only bases are pulled from instead
    outputs: tuple[Path, ...] = ()  # files the run writes (pytest's --junitxml): never read

    @property
    def keeps(self) -> bool:
        """The lab stays after the session whatever happens (kept, or a kept one reused)."""
        return self.keep == "always" or self.reuse is not None


@dataclass(frozen=True)
class Given:
    """What the command line and the ini file said (None: not at all), where pytest runs."""

    options: Mapping[str, Any]  # by option dest: dockerlab_file, dockerlab_keep, ...
    ini: Mapping[str, Any]  # by ini key: dockerlab_file, ...; "" or None is unset
    rootpath: Path
    args: tuple[str, ...] = ()  # the paths pytest was given
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def from_environment(environ: Mapping[str, str] | None = None, **options: Any) -> Settings:
    """The settings of a run without pytest (the ``dockerlab`` command): ``options`` as the
    command line would give them (``registry="..."``), then the environment, then defaults."""
    given = Given(
        options={name: options.get(name.removeprefix("dockerlab_")) for name in OPTIONS},
        ini=INI_DEFAULTS,
        rootpath=Path.cwd(),
        environ=dict(os.environ if environ is None else environ),
    )
    return resolve(given)


def resolve(given: Given) -> Settings:
    """Read options, environment and ini keys once, in that order of precedence.

    A bad value is a :class:`SettingsError` that names where it came from.
    """
    option, ini, env = given.options, given.ini, given.environ
    if option["dockerlab_file"] is not None and not option["dockerlab_file"].strip():
        raise SettingsError("--dockerlab-file is empty; name a lab file or leave it out")
    if option["dockerlab_file"]:
        lab_file: Path | None = Path(option["dockerlab_file"]).resolve()
    elif ini["dockerlab_file"]:
        lab_file = (given.rootpath / str(ini["dockerlab_file"])).resolve()
    else:
        lab_file = discover_lab_file(given.rootpath, given.args)

    timeout_origin, raw_timeout = first_set(
        ("--dockerlab-boot-timeout", option["dockerlab_boot_timeout"]),
        ("ini dockerlab_boot_timeout", ini["dockerlab_boot_timeout"]),
    )
    try:
        boot_timeout = float(raw_timeout)
    except ValueError:
        boot_timeout = math.nan
    if not math.isfinite(boot_timeout) or boot_timeout <= 0:
        raise SettingsError(
            f"{timeout_origin} must be a positive number of seconds, not {raw_timeout!r}"
        )

    base_origin, base_source = first_set(
        ("--dockerlab-base", option["dockerlab_base"]),
        ("ini dockerlab_base", ini["dockerlab_base"]),
    )
    _one_of(base_origin, base_source, BASE_SOURCES)

    image_origin, image = first_set(
        ("--dockerlab-image", option["dockerlab_image"]),
        # An empty variable is an unset one, as shells and CI matrices mean it.
        ("DOCKERLAB_IMAGE", env.get("DOCKERLAB_IMAGE") or None),
        ("ini dockerlab_image", ini["dockerlab_image"] or None),
    )
    if image is not None and not str(image).strip():
        raise SettingsError(f"{image_origin} is empty; name an image or leave it out")
    keep_origin, keep = first_set(
        ("--dockerlab-keep", option["dockerlab_keep"]),
        ("DOCKERLAB_KEEP", env.get("DOCKERLAB_KEEP") or None),
        ("ini dockerlab_keep", ini["dockerlab_keep"]),
    )
    keep = _keep_mode(keep_origin, str(keep))
    cache_origin, cache = first_set(
        ("--dockerlab-cache", option["dockerlab_cache"]),
        ("DOCKERLAB_CACHE", env.get("DOCKERLAB_CACHE") or None),
        ("ini dockerlab_cache", ini["dockerlab_cache"]),
    )
    _one_of(cache_origin, cache, CACHE_MODES)
    size_origin, size = first_set(
        ("DOCKERLAB_CACHE_SIZE", env.get("DOCKERLAB_CACHE_SIZE") or None),
        ("ini dockerlab_cache_size", ini["dockerlab_cache_size"]),
    )
    try:
        cache_max_bytes = parse_size(str(size))
    except ValueError:
        raise SettingsError(
            f"{size_origin} must be a size such as 10G or 500M, not {size!r}"
        ) from None
    reuse = option["dockerlab_reuse"]
    if reuse is not None and reuse != NEWEST and not SESSION_ID.fullmatch(reuse):
        raise SettingsError(
            f"--dockerlab-reuse takes a session id (8 hex digits, as the header of the kept "
            f"run printed), not {reuse!r}"
        )
    molecule = option["dockerlab_molecule"] or ini["dockerlab_molecule"] or None
    molecule_path = None
    if molecule and option["dockerlab_file"]:
        raise SettingsError("--dockerlab-molecule and --dockerlab-file name two labs; pass one")
    if molecule:
        base = Path.cwd() if option["dockerlab_molecule"] else given.rootpath
        molecule_path = (base / str(molecule)).resolve()
        if molecule_path.name == "molecule.yml":  # the file named instead of its folder
            molecule_path = molecule_path.parent
        from .spec.molecule import scenario_folders

        if not scenario_folders(molecule_path):
            raise SettingsError(
                f"--dockerlab-molecule {molecule}: no molecule.yml in {molecule_path}, nor in "
                "a scenario folder under it (molecule/*, extensions/molecule/*)"
            )
    artifacts_origin, artifacts = first_set(
        ("--dockerlab-artifacts", option["dockerlab_artifacts"]),
        ("DOCKERLAB_ARTIFACTS", env.get("DOCKERLAB_ARTIFACTS") or None),
        ("ini dockerlab_artifacts", ini["dockerlab_artifacts"] or None),
    )
    artifacts_path = None
    if artifacts:
        # The ini's path is the project's; an option's or a variable's, the shell's.
        base = given.rootpath if artifacts_origin.startswith("ini") else Path.cwd()
        artifacts_path = (base / str(artifacts)).resolve()
        existing = next(p for p in (artifacts_path, *artifacts_path.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise SettingsError(
                f"{artifacts_origin} {artifacts}: {existing} is not a folder this user can write to"
            )
    idempotence = option["dockerlab_idempotence"]
    registry_origin, registry = first_set(
        ("--dockerlab-registry", option["dockerlab_registry"]),
        ("DOCKERLAB_REGISTRY", env.get("DOCKERLAB_REGISTRY") or None),
        ("ini dockerlab_registry", ini["dockerlab_registry"] or None),
    )
    mirror_origin, mirror = first_set(
        ("DOCKERLAB_BASE_MIRROR", env.get("DOCKERLAB_BASE_MIRROR") or None),
        ("ini dockerlab_base_mirror", ini["dockerlab_base_mirror"] or None),
    )
    push_origin, push = first_set(
        ("--dockerlab-registry-push", option["dockerlab_registry_push"]),
        ("DOCKERLAB_REGISTRY_PUSH", env.get("DOCKERLAB_REGISTRY_PUSH") or None),
        ("ini dockerlab_registry_push", ini["dockerlab_registry_push"] or "on"),
    )
    required_origin, required = first_set(
        ("--dockerlab-registry-required", option["dockerlab_registry_required"]),
        ("DOCKERLAB_REGISTRY_REQUIRED", env.get("DOCKERLAB_REGISTRY_REQUIRED") or None),
        # A CI job whose registry fails would quietly build everything again: say it instead.
        (
            "CI",
            "on" if SWITCHES.get(env.get("CI", "").strip().lower(), bool(env.get("CI"))) else "off",
        ),
    )
    shard = None
    if option["dockerlab_shard"]:
        shard = shard_argument(str(option["dockerlab_shard"]))
    if option["dockerlab_durations"] is not None and not str(option["dockerlab_durations"]).strip():
        raise SettingsError("--dockerlab-durations is empty: name a file (durations.json)")
    durations = option["dockerlab_durations"] or ini["dockerlab_durations"] or None
    durations_path = None
    if durations:
        base = Path.cwd() if option["dockerlab_durations"] else given.rootpath
        durations_path = (base / str(durations)).resolve()
        why = check_durations(durations_path)
        if why:
            origin = (
                "--dockerlab-durations"
                if option["dockerlab_durations"]
                else "ini dockerlab_durations"
            )
            raise SettingsError(f"{origin} {durations}: {why}")
    engines_origin, engines = first_set(
        ("--dockerlab-engines", option["dockerlab_engines"]),
        ("DOCKERLAB_ENGINES", env.get("DOCKERLAB_ENGINES") or None),
        ("ini dockerlab_engines", ini["dockerlab_engines"] or None),
    )
    pool = engine_pool(engines_origin, str(engines)) if engines is not None else ()
    all_engines = option["dockerlab_engines_required"]
    ci = SWITCHES.get(env.get("CI", "").strip().lower(), bool(env.get("CI")))
    required_by = "--dockerlab-engines-required" if all_engines else "CI=true"
    return Settings(
        lab_file=lab_file,
        shard=shard,
        durations=durations_path,
        engines=pool,
        engines_required=bool(ci if all_engines is None else all_engines),
        engines_required_by=required_by,
        retry_lost_labs=bool(option["dockerlab_retry_lost_labs"]),
        molecule=molecule_path,
        molecule_privileged=bool(option["dockerlab_molecule_privileged"]),
        artifacts=artifacts_path,
        keep=keep,
        reuse=reuse,
        cache=str(cache),
        cache_max_bytes=cache_max_bytes,
        ansible_verbosity=option["dockerlab_ansible_verbosity"],
        boot_timeout=boot_timeout,
        base_source=str(base_source),
        idempotence=bool(ini["dockerlab_idempotence"] if idempotence is None else idempotence),
        image=None if image is None else str(image).strip(),
        image_origin=image_origin if image is not None else "",
        registry=repository(registry_origin, registry, shared=True),
        registry_push=switch(push_origin, push),
        registry_required=switch(required_origin, required),
        base_mirror=repository(mirror_origin, mirror),
    )


def repository(origin: str, value: Any, *, shared: bool = False) -> str | None:
    """A repository a setting names (``ghcr.io/acme/dockerlab``), or None when it names none.

    ``shared``: the plugin's images go under it, so it must be one's own (HOST/PATH or
    USER/NAME), never a bare name of Docker Hub's library.
    """
    if value is None:
        return None
    text = str(value).strip().rstrip("/")
    if not REPOSITORY_NAME.fullmatch(text) or (shared and "/" not in text):
        raise SettingsError(
            f"{origin} {value!r} is not a repository docker takes: HOST[:PORT]/PATH in lower "
            "case, without a tag (ghcr.io/acme/dockerlab, 127.0.0.1:5000/dockerlab)"
        )
    return text


def switch(origin: str, value: Any) -> bool:
    """on/off (true/false, yes/no, 1/0) as a setting says it; a bool as an option gives it."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in SWITCHES:
        raise SettingsError(f"{origin} must be on or off, not {value!r}")
    return SWITCHES[word]


def _one_of(origin: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{origin} must be one of {', '.join(allowed)}, not {value!r}")


def _keep_mode(origin: str, value: str) -> str:
    # An ini file written for the old boolean key still means what it said.
    word = value.strip().lower()
    mode = word if word not in SWITCHES else "always" if SWITCHES[word] else "never"
    if mode not in KEEP_MODES:
        raise SettingsError(f"{origin} must be one of {', '.join(KEEP_MODES)}, not {value!r}")
    return mode


def first_set(*candidates: tuple[str, Any]) -> tuple[str, Any]:
    """The first ``(origin, value)`` whose value is set (not None), else the last one.

    An empty string counts as set, so ``--dockerlab-image ""`` is an error, not a no-op.
    """
    for origin, value in candidates:
        if value is not None:
            return origin, value
    return candidates[-1]


def discover_lab_file(rootpath: Path, args: Iterable[str]) -> Path | None:
    """The nearest lab file to the paths being tested: from each up to the rootdir."""
    starts = []
    for arg in args:
        path = (Path.cwd() / arg.split("::")[0]).resolve()
        if path.exists():
            starts.append(path if path.is_dir() else path.parent)
    starts.append(rootpath)
    for start in starts:
        for folder in [start, *start.parents]:
            candidate = folder / LAB_FILE_NAME
            if candidate.is_file():
                return candidate
            if folder == rootpath or rootpath not in folder.parents:
                break
    return None


def shard_argument(text: str) -> tuple[int, int]:
    """``I/N``: shard I of N, counted from 1."""
    index, slash, count = text.strip().partition("/")
    if not (slash and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise SettingsError(
            f"--dockerlab-shard {text}: write I/N, shard I of N counted from 1 (1/4 .. 4/4)"
        )
    return int(index), int(count)


def engine_pool(origin: str, text: str) -> tuple[tuple[str, int], ...]:
    """``A,B:3,ssh://build@host``: docker context names or addresses, each with an optional
    weight (how many of the xdist workers it takes, relatively; 1 by default): ``big:3``,
    ``tcp://host:2375:3`` (an address's last ``:N`` is its port unless it has one)."""
    if not text.strip():
        raise SettingsError(f"{origin} is empty: name the engines of the pool (default,big:3)")
    pool = []
    for part in (p.strip() for p in text.split(",")):
        name, weight = part, "1"
        head, colon, tail = part.rpartition(":")
        # An address's own port is no weight: tcp://h:2375 is one engine, tcp://h:2375:3
        # weighs 3 (a socket path has no port: unix:///run/docker.sock:3).
        rest = part.partition("://")[2].rpartition("]")[2]  # an IPv6 host's colons are not
        address_port = "://" in part and not part.startswith("unix://") and rest.count(":") < 2
        if colon and head and not address_port and ("://" not in part or tail.isdigit()):
            name, weight = head, tail
        # A context name is docker's (letters, digits, _.+-): a:x, a::3 or a:-1 is a typo.
        if not (
            name
            and ("://" in name or CONTEXT_NAME.fullmatch(name))
            and weight.isdigit()
            and int(weight) >= 1
        ):
            raise SettingsError(
                f"{origin} {text}: {part!r} is no engine: a docker context name or an address "
                "(unix://, tcp://, ssh://), each with an optional weight of at least 1 (big:3)"
            )
        pool.append((name, int(weight)))
    names = [n for n, _ in pool]
    if len(set(names)) != len(names):
        raise SettingsError(f"{origin} {text}: an engine is named twice")
    return tuple(pool)
