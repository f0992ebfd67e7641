"""pytest's side of the settings: the ``--dockerlab-*`` options and ``dockerlab_*`` ini keys,
read once into :class:`~.settings.Settings` (a bad value is a usage error naming its source).
"""

from __future__ import annotations

from collections.abc import MutableSequence
from dataclasses import replace
from pathlib import Path

import pytest

from .labels import SESSION_ID
from .settings import (
    BASE_SOURCES,
    CACHE_MODES,
    INI_DEFAULTS,
    KEEP_MODES,
    LAB_FILE_NAME,
    NEWEST,
    OPTIONS,
    Given,
    Settings,
    SettingsError,
)
from .settings import resolve as resolve_settings


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
        "--dockerlab-molecule-privileged",
        dest="dockerlab_molecule_privileged",
        action="store_true",
        default=None,
        help="keep a Molecule platform's privileged: true (the engine permitting; a host "
        "that can mount cgroups and load modules is not a throw-away one); without it, "
        "platforms run on the least-privileged profile",
    )
    group.addoption(
        "--dockerlab-shard",
        dest="dockerlab_shard",
        metavar="I/N",
        help="run only the labs of CI shard I of N: whole labs, balanced by recorded "
        "durations; the N shards together run the whole suite, no lab twice",
    )
    group.addoption(
        "--dockerlab-durations",
        dest="dockerlab_durations",
        metavar="FILE",
        help="where each lab's duration is kept (read for scheduling and shards, updated "
        "after the run); a file a project can commit. Default: pytest's cache. ini: "
        "dockerlab_durations",
    )
    group.addoption(
        "--dockerlab-engines",
        dest="dockerlab_engines",
        metavar="A,B:3",
        help="the engine pool: docker context names or addresses, each with an optional "
        "weight; with -n, each xdist worker runs on one of them, by weight. env: "
        "DOCKERLAB_ENGINES, ini: dockerlab_engines",
    )
    group.addoption(
        "--dockerlab-engines-required",
        dest="dockerlab_engines_required",
        action="store_true",
        default=None,
        help="an engine of the pool that does not answer at start fails the run (the "
        "default under CI=true); else the run goes on with the others",
    )
    group.addoption(
        "--dockerlab-retry-lost-labs",
        dest="dockerlab_retry_lost_labs",
        action="store_true",
        default=None,
        help="with -n and a pool of engines: the tests of a lab whose engine stops "
        "answering run once more on a worker of another engine, instead of erroring",
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
        choices=CACHE_MODES,
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
    group.addoption(
        "--dockerlab-registry",
        dest="dockerlab_registry",
        metavar="REPO",
        help="share built images and converge cache entries through this repository "
        "(ghcr.io/acme/dockerlab, 127.0.0.1:5000/dockerlab): pulled instead of built or "
        "converged, pushed after. env DOCKERLAB_REGISTRY, ini dockerlab_registry",
    )
    group.addoption(
        "--dockerlab-registry-push",
        dest="dockerlab_registry_push",
        choices=("on", "off"),
        help="whether this run may push to the registry (default on; off for read-only jobs "
        "such as pull requests from forks). env DOCKERLAB_REGISTRY_PUSH, ini "
        "dockerlab_registry_push",
    )
    group.addoption(
        "--dockerlab-registry-required",
        dest="dockerlab_registry_required",
        action="store_true",
        default=None,
        help="a registry that cannot be reached or refuses us fails the session, instead of "
        "building and converging without it (the default when CI is set). env "
        "DOCKERLAB_REGISTRY_REQUIRED",
    )
    group.addoption(
        "--no-dockerlab-registry-required",
        dest="dockerlab_registry_required",
        action="store_false",
        help="build and converge without a registry that fails, even in CI",
    )
    parser.addini("dockerlab_registry", help="repository to share images and cache entries")
    parser.addini("dockerlab_registry_push", help="push to the registry: on|off (default on)")
    parser.addini(
        "dockerlab_base_mirror",
        help="pull registry-only bases (rockylinux:9, quay.io/...) through this repository",
    )
    parser.addini("dockerlab_image", help="image for every host that does not pin one")
    parser.addini("dockerlab_file", help=f"lab file (default: nearest {LAB_FILE_NAME})")
    parser.addini(
        "dockerlab_keep",
        default=INI_DEFAULTS["dockerlab_keep"],
        help="keep the lab: always|on-failure|never",
    )
    parser.addini(
        "dockerlab_cache",
        default=INI_DEFAULTS["dockerlab_cache"],
        help="converge cache: on|off|refresh",
    )
    parser.addini("dockerlab_molecule", help="a Molecule scenario folder to run as the lab")
    parser.addini("dockerlab_durations", help="file where each lab's duration is kept")
    parser.addini("dockerlab_engines", help="the engine pool: A,B:3 (contexts or addresses)")
    parser.addini("dockerlab_artifacts", help="folder for each lab's journals and Ansible runs")
    parser.addini(
        "dockerlab_cache_size",
        default=INI_DEFAULTS["dockerlab_cache_size"],
        help="converge cache size cap (e.g. 10G, 500M); least recently used entries go first",
    )
    parser.addini(
        "dockerlab_idempotence", type="bool", default=False, help="check idempotence after converge"
    )
    parser.addini(
        "dockerlab_boot_timeout",
        default=INI_DEFAULTS["dockerlab_boot_timeout"],
        help="seconds a host may take to boot",
    )
    parser.addini(
        "dockerlab_base",
        default=INI_DEFAULTS["dockerlab_base"],
        help="base image source: auto|registry|bootstrap",
    )


def resolve(config: pytest.Config) -> Settings:
    """The settings of this run; a bad value is a :class:`pytest.UsageError` at start-up."""
    ini = {name: config.getini(name) for name in INI_DEFAULTS if name != "dockerlab_idempotence"}
    ini["dockerlab_idempotence"] = _ini_flag(config, "dockerlab_idempotence")
    given = Given(
        options={name: getattr(config.option, name) for name in OPTIONS},
        ini=ini,
        rootpath=config.rootpath,
        args=tuple(config.args),
    )
    try:
        settings = resolve_settings(given)
    except SettingsError as exc:
        raise pytest.UsageError(f"dockerlab: {exc}") from exc
    # What pytest itself writes (--junitxml): never part of what a converge reads.
    xmlpath = getattr(config.option, "xmlpath", None)
    return replace(settings, outputs=(Path(xmlpath).resolve(),)) if xmlpath else settings


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
