"""Options and ini keys, resolved once into a frozen :class:`Settings`."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, MutableSequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .cache import DEFAULT_MAX_BYTES, MODES, parse_size
from .images import BASE_SOURCES

LAB_FILE_NAME = "dockerlab.yml"
KEEP_MODES = ("always", "on-failure", "never")
# --dockerlab-reuse with no id: the newest kept lab of the lab file.
NEWEST = "newest"
SESSION_ID = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True)
class Settings:
    """Everything the plugin reads from the command line and ini files."""

    lab_file: Path | None = None
    keep: str = "never"  # always | on-failure | never
    reuse: str | None = None  # a kept session's id, NEWEST, or None: a new lab
    cache: str = "on"  # on | off | refresh
    cache_max_bytes: int = DEFAULT_MAX_BYTES
    ansible_verbosity: int | None = None  # over the lab file's ansible.verbosity
    molecule: Path | None = None  # a Molecule scenario folder to run instead of a lab file
    boot_timeout: float = 120.0
    base_source: str = "auto"
    idempotence: bool = False
    image: str | None = None  # every host that does not pin an image runs this one
    image_origin: str = ""  # where ``image`` was set, for messages
    engine: str = "docker"
    artifacts: Path | None = None  # where each lab's evidence is written before it goes

    @property
    def keeps(self) -> bool:
        """The lab stays after the session whatever happens (kept, or a kept one reused)."""
        return self.keep == "always" or self.reuse is not None


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("dockerlab", "pytest-dockerlab: disposable labs of VM-like hosts")
    group.addoption(
        "--dockerlab-file",
        dest="dockerlab_file",
        metavar="PATH",
        help=f"lab file to use (default: the nearest {LAB_FILE_NAME} beside the tests). "
        "ini: dockerlab_file",
    )
    group.addoption(
        "--dockerlab-keep",
        dest="dockerlab_keep",
        nargs="?",
        const="always",
        metavar="WHEN",
        help="keep the lab after the session: always (the default of a bare --dockerlab-keep), "
        "on-failure or never; a kept lab's end of run says how to enter, reuse and remove it. "
        "env DOCKERLAB_KEEP, ini dockerlab_keep",
    )
    group.addoption(
        "--no-dockerlab-keep",
        dest="dockerlab_keep",
        action="store_const",
        const="never",
        help="remove the lab after the session whatever an ini file or DOCKERLAB_KEEP says "
        "(--dockerlab-keep=never)",
    )
    group.addoption(
        "--dockerlab-reuse",
        dest="dockerlab_reuse",
        nargs="?",
        const=NEWEST,
        metavar="SESSION",
        help="run on a kept lab of the same lab file (the newest, or session SESSION) instead "
        "of a new one: its hosts are not created again, the converge runs again only if what "
        "it reads changed, and the lab stays kept",
    )
    group.addoption(
        "--dockerlab-molecule",
        dest="dockerlab_molecule",
        metavar="DIR",
        help="run a Molecule scenario (molecule/default): its platforms as the lab, its "
        "converge, idempotence pass and verify.yml as test items, its testinfra tests on "
        "every platform. ini: dockerlab_molecule",
    )
    group.addoption(
        "--dockerlab-ansible-verbosity",
        dest="dockerlab_ansible_verbosity",
        type=int,
        choices=range(7),
        metavar="N",
        help="Ansible's verbosity, 0 to 6 (as -v to -vvvvvv), over the lab file's "
        "ansible.verbosity; the output is in a failed test's report",
    )
    group.addoption(
        "--dockerlab-cache",
        dest="dockerlab_cache",
        choices=MODES,
        help="converge cache: on (start hosts from the images of a converge that read the same "
        "content, else converge and save them), off, or refresh (converge and save again). "
        "env DOCKERLAB_CACHE, ini dockerlab_cache; default on",
    )
    group.addoption(
        "--no-dockerlab-cache",
        dest="dockerlab_cache",
        action="store_const",
        const="off",
        help="converge every run, whatever an ini file or DOCKERLAB_CACHE says "
        "(--dockerlab-cache=off)",
    )
    group.addoption(
        "--dockerlab-artifacts",
        dest="dockerlab_artifacts",
        metavar="DIR",
        help="write each lab's evidence to DIR before it goes: per host the journal (or "
        "syslog) and the failed units' status, and each Ansible run's output and events "
        "(for CI to upload). env DOCKERLAB_ARTIFACTS, ini dockerlab_artifacts",
    )
    group.addoption(
        "--dockerlab-boot-timeout",
        dest="dockerlab_boot_timeout",
        metavar="SECONDS",
        type=float,
        help="how long a host may take to boot (default 120). ini: dockerlab_boot_timeout",
    )
    group.addoption(
        "--dockerlab-base",
        dest="dockerlab_base",
        choices=BASE_SOURCES,
        help="where base images come from: a registry, an offline Debian bootstrap, or "
        "auto (registry if it answers, else bootstrap). ini: dockerlab_base",
    )
    group.addoption(
        "--dockerlab-idempotence",
        dest="dockerlab_idempotence",
        action="store_true",
        default=None,
        help="after the session converge, run the lab file's playbooks again and make tests "
        "of any host that still changed error. ini: dockerlab_idempotence",
    )
    group.addoption(
        "--no-dockerlab-idempotence",
        dest="dockerlab_idempotence",
        action="store_false",
        help="no idempotence pass, whatever an ini file says (the lab file's "
        "ansible.idempotence still applies)",
    )
    group.addoption(
        "--dockerlab-image",
        dest="dockerlab_image",
        metavar="NAME",
        help="run every host that does not pin an image on image NAME (env DOCKERLAB_IMAGE, "
        "ini dockerlab_image); an image that cannot be had or booted here is an error",
    )
    group.addoption(
        "--dockerlab-info",
        dest="dockerlab_info",
        action="store_true",
        default=False,
        help="show the detected engine and the run profile each image would get, then exit",
    )
    parser.addini("dockerlab_image", help="image for every host that does not pin one")
    parser.addini("dockerlab_file", help=f"lab file (default: nearest {LAB_FILE_NAME})")
    parser.addini("dockerlab_keep", default="never", help="keep the lab: always|on-failure|never")
    parser.addini("dockerlab_cache", default="on", help="converge cache: on|off|refresh")
    parser.addini("dockerlab_molecule", help="a Molecule scenario folder to run as the lab")
    parser.addini("dockerlab_artifacts", help="folder for each lab's journals and Ansible runs")
    parser.addini(
        "dockerlab_cache_size",
        default="10G",
        help="converge cache size cap (e.g. 10G, 500M); least recently used entries go first",
    )
    parser.addini(
        "dockerlab_idempotence", type="bool", default=False, help="check idempotence after converge"
    )
    parser.addini("dockerlab_boot_timeout", default="120", help="seconds a host may take to boot")
    parser.addini(
        "dockerlab_base", default="auto", help="base image source: auto|registry|bootstrap"
    )


def resolve(config: pytest.Config) -> Settings:
    """Read options, environment and ini keys once, in that order of precedence.

    A bad value is a :class:`pytest.UsageError` at start-up that names where it came from.
    """
    option = config.option
    if option.dockerlab_file is not None and not option.dockerlab_file.strip():
        raise pytest.UsageError(
            "dockerlab: --dockerlab-file is empty; name a lab file or leave it out"
        )
    if option.dockerlab_file:
        lab_file: Path | None = Path(option.dockerlab_file).resolve()
    elif config.getini("dockerlab_file"):
        lab_file = (config.rootpath / str(config.getini("dockerlab_file"))).resolve()
    else:
        lab_file = discover_lab_file(config.rootpath, config.args)

    timeout_origin, raw_timeout = first_set(
        ("--dockerlab-boot-timeout", option.dockerlab_boot_timeout),
        ("ini dockerlab_boot_timeout", config.getini("dockerlab_boot_timeout")),
    )
    try:
        boot_timeout = float(raw_timeout)
    except ValueError:
        boot_timeout = math.nan
    if not math.isfinite(boot_timeout) or boot_timeout <= 0:
        raise pytest.UsageError(
            f"dockerlab: {timeout_origin} must be a positive number of seconds, not {raw_timeout!r}"
        )

    base_origin, base_source = first_set(
        ("--dockerlab-base", option.dockerlab_base),
        ("ini dockerlab_base", config.getini("dockerlab_base")),
    )
    if base_source not in BASE_SOURCES:
        raise pytest.UsageError(
            f"dockerlab: {base_origin} must be one of {', '.join(BASE_SOURCES)}, "
            f"not {base_source!r}"
        )

    image_origin, image = first_set(
        ("--dockerlab-image", option.dockerlab_image),
        # An empty variable is an unset one, as shells and CI matrices mean it.
        ("DOCKERLAB_IMAGE", os.environ.get("DOCKERLAB_IMAGE") or None),
        ("ini dockerlab_image", config.getini("dockerlab_image") or None),
    )
    if image is not None and not str(image).strip():
        raise pytest.UsageError(
            f"dockerlab: {image_origin} is empty; name an image or leave it out"
        )
    keep_origin, keep = first_set(
        ("--dockerlab-keep", option.dockerlab_keep),
        ("DOCKERLAB_KEEP", os.environ.get("DOCKERLAB_KEEP") or None),
        ("ini dockerlab_keep", config.getini("dockerlab_keep")),
    )
    keep = _keep_mode(keep_origin, str(keep))
    cache_origin, cache = first_set(
        ("--dockerlab-cache", option.dockerlab_cache),
        ("DOCKERLAB_CACHE", os.environ.get("DOCKERLAB_CACHE") or None),
        ("ini dockerlab_cache", config.getini("dockerlab_cache")),
    )
    if cache not in MODES:
        raise pytest.UsageError(
            f"dockerlab: {cache_origin} must be one of {', '.join(MODES)}, not {cache!r}"
        )
    size_origin, size = first_set(
        ("DOCKERLAB_CACHE_SIZE", os.environ.get("DOCKERLAB_CACHE_SIZE") or None),
        ("ini dockerlab_cache_size", config.getini("dockerlab_cache_size")),
    )
    try:
        cache_max_bytes = parse_size(str(size))
    except ValueError:
        raise pytest.UsageError(
            f"dockerlab: {size_origin} must be a size such as 10G or 500M, not {size!r}"
        ) from None
    reuse = option.dockerlab_reuse
    if reuse is not None and reuse != NEWEST and not SESSION_ID.fullmatch(reuse):
        raise pytest.UsageError(
            f"dockerlab: --dockerlab-reuse takes a session id (8 hex digits, as the header of "
            f"the kept run printed), not {reuse!r}"
        )
    molecule = option.dockerlab_molecule or config.getini("dockerlab_molecule") or None
    molecule_path = None
    if molecule and option.dockerlab_file:
        raise pytest.UsageError(
            "dockerlab: --dockerlab-molecule and --dockerlab-file name two labs; pass one"
        )
    if molecule:
        base = Path.cwd() if option.dockerlab_molecule else config.rootpath
        molecule_path = (base / str(molecule)).resolve()
        if molecule_path.name == "molecule.yml":  # the file named instead of its folder
            molecule_path = molecule_path.parent
        if not (molecule_path / "molecule.yml").is_file():
            raise pytest.UsageError(
                f"dockerlab: --dockerlab-molecule {molecule}: no molecule.yml in {molecule_path}"
            )
    artifacts_origin, artifacts = first_set(
        ("--dockerlab-artifacts", option.dockerlab_artifacts),
        ("DOCKERLAB_ARTIFACTS", os.environ.get("DOCKERLAB_ARTIFACTS") or None),
        ("ini dockerlab_artifacts", config.getini("dockerlab_artifacts") or None),
    )
    artifacts_path = None
    if artifacts:
        # The ini's path is the project's; an option's or a variable's, the shell's.
        base = config.rootpath if artifacts_origin.startswith("ini") else Path.cwd()
        artifacts_path = (base / str(artifacts)).resolve()
        existing = next(p for p in (artifacts_path, *artifacts_path.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise pytest.UsageError(
                f"dockerlab: {artifacts_origin} {artifacts}: {existing} is not a folder this "
                "user can write to"
            )
    return Settings(
        lab_file=lab_file,
        molecule=molecule_path,
        artifacts=artifacts_path,
        keep=keep,
        reuse=reuse,
        cache=str(cache),
        cache_max_bytes=cache_max_bytes,
        ansible_verbosity=option.dockerlab_ansible_verbosity,
        boot_timeout=boot_timeout,
        base_source=str(base_source),
        idempotence=_flag(option.dockerlab_idempotence, _ini_flag(config, "dockerlab_idempotence")),
        image=None if image is None else str(image).strip(),
        image_origin=image_origin if image is not None else "",
    )


def _keep_mode(origin: str, value: str) -> str:
    # An ini file written for the old boolean key still means what it said.
    word = value.strip().lower()
    booleans = {"true": "always", "yes": "always", "1": "always", "on": "always",
                "false": "never", "no": "never", "0": "never", "off": "never"}  # fmt: skip
    mode = booleans.get(word, word)
    if mode not in KEEP_MODES:
        raise pytest.UsageError(
            f"dockerlab: {origin} must be one of {', '.join(KEEP_MODES)}, not {value!r}"
        )
    return mode


def split_optional_values(args: MutableSequence[str]) -> None:
    """Let ``--dockerlab-keep tests/`` mean keep always and test ``tests/``.

    The two flags take an optional value, and argparse would take the next word as it
    whatever it is; a word that is not a valid value is given back as a separate argument.
    """
    valid = {"--dockerlab-keep": set(KEEP_MODES), "--dockerlab-reuse": None}
    for i, arg in enumerate(list(args[:-1])):
        if arg not in valid or args[i + 1].startswith("-"):
            continue
        choices, word = valid[arg], args[i + 1]
        if choices is None:
            choices = {word} if word == NEWEST or SESSION_ID.fullmatch(word) else set()
        if word in choices:
            continue
        args[i] = f"{arg}={'always' if arg == '--dockerlab-keep' else NEWEST}"


def first_set(*candidates: tuple[str, Any]) -> tuple[str, Any]:
    """The first ``(origin, value)`` whose value is set (not None), else the last one.

    An empty string counts as set, so ``--dockerlab-image ""`` is an error, not a no-op.
    """
    for origin, value in candidates:
        if value is not None:
            return origin, value
    return candidates[-1]


def _flag(option: bool | None, ini: Any) -> bool:
    return bool(ini if option is None else option)


def _ini_flag(config: pytest.Config, name: str) -> bool:
    try:
        return bool(config.getini(name))
    except (ValueError, pytest.UsageError) as exc:
        # From an ini file, pytest says only "invalid truth value 'maybe'" (a UsageError from
        # pytest 9 on); from native TOML it names the file and the key itself.
        prefix = "invalid truth value "
        if not str(exc).startswith(prefix):
            raise
        raise pytest.UsageError(
            f"dockerlab: ini {name} must be true or false (or yes/no, on/off, 1/0), "
            f"not {str(exc).removeprefix(prefix)}"
        ) from exc


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
