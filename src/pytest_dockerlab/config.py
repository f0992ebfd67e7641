"""Options and ini keys, resolved once into a frozen :class:`Settings`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .images import BASE_SOURCES

LAB_FILE_NAME = "dockerlab.yml"


@dataclass(frozen=True)
class Settings:
    """Everything the plugin reads from the command line and ini files."""

    lab_file: Path | None
    lab_file_explicit: bool
    keep: bool = False
    boot_timeout: float = 120.0
    base_source: str = "auto"
    idempotence: bool = False
    image: str | None = None  # every host that does not pin an image runs this one
    info: bool = False
    engine: str = "docker"


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
        action="store_true",
        default=None,
        help="keep the lab after the session for debugging, and print how to enter and remove it",
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
    parser.addini(
        "dockerlab_keep", type="bool", default=False, help="keep the lab after the session"
    )
    parser.addini(
        "dockerlab_idempotence", type="bool", default=False, help="check idempotence after converge"
    )
    parser.addini("dockerlab_boot_timeout", default="120", help="seconds a host may take to boot")
    parser.addini(
        "dockerlab_base", default="auto", help="base image source: auto|registry|bootstrap"
    )


def resolve(config: pytest.Config) -> Settings:
    """Read options and ini keys once; a bad value is a usage error at start-up."""
    option = config.option
    explicit = option.dockerlab_file or config.getini("dockerlab_file") or None
    if option.dockerlab_file:
        lab_file: Path | None = Path(option.dockerlab_file).resolve()
    elif explicit:
        lab_file = (config.rootpath / str(explicit)).resolve()
    else:
        lab_file = discover_lab_file(config.rootpath, config.args)

    raw_timeout = option.dockerlab_boot_timeout or config.getini("dockerlab_boot_timeout")
    try:
        boot_timeout = float(raw_timeout)
    except ValueError:
        raise pytest.UsageError(
            f"dockerlab_boot_timeout must be a number of seconds, not {raw_timeout!r}"
        ) from None
    if boot_timeout <= 0:
        raise pytest.UsageError("--dockerlab-boot-timeout must be positive")

    base_source = option.dockerlab_base or config.getini("dockerlab_base")
    if base_source not in BASE_SOURCES:
        raise pytest.UsageError(
            f"dockerlab_base must be one of {', '.join(BASE_SOURCES)}, not {base_source!r}"
        )
    keep = (
        option.dockerlab_keep
        if option.dockerlab_keep is not None
        else config.getini("dockerlab_keep")
    )
    idempotence = option.dockerlab_idempotence
    if idempotence is None:
        idempotence = config.getini("dockerlab_idempotence")
    image = (
        option.dockerlab_image
        or os.environ.get("DOCKERLAB_IMAGE")
        or config.getini("dockerlab_image")
        or None
    )
    return Settings(
        image=image,
        info=bool(option.dockerlab_info),
        lab_file=lab_file,
        idempotence=bool(idempotence),
        lab_file_explicit=bool(explicit),
        keep=bool(keep),
        boot_timeout=boot_timeout,
        base_source=base_source,
    )


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
