"""Molecule scenarios read as labs: ``molecule.yml`` into a lab document.

:func:`convert` turns a scenario folder into what a ``dockerlab.yml`` would say (platforms
become hosts, the provisioner's inventory vars, env, config options and playbooks carry
over), with a note for each thing it could not carry. ``pytest --dockerlab-molecule DIR``
runs that lab, its stages as test items (:mod:`pytest_dockerlab.scenario_items`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import DockerlabError, ScenarioError
from .model import DEFAULT_IMAGE, HOST_LABEL, HOST_LABEL_RULE

# ${VAR}, ${VAR:-default}, ${VAR-default} and $VAR, as Molecule expands molecule.yml; $$ is
# a $ that stays one.
_VARIABLE = re.compile(r"\$\$|\$(?:\{(\w+)(?:(:?-)([^}]*))?\}|(\w+))")

# Images that say their distribution and release, by any owner and registry: systemd test
# images (geerlingguy/docker-debian12-ansible, rndmh3ro/docker-debian12-ansible) and
# distribution images (debian:12, debian:bookworm-slim, mrlesmithjr/debian:12, ubuntu:24.04,
# quay.io/rockylinux/rockylinux:9).
_WELL_KNOWN = (
    re.compile(r"(?:[\w.:-]+/)*docker-(?P<name>[a-z]+[0-9]+)-ansible(?::[\w.-]+)?"),
    re.compile(
        r"(?:[\w.:-]+/)*(?P<distro>debian|ubuntu|rockylinux|centos)"
        r":(?P<version>[a-z]+|[0-9][0-9.]*)(?:-[\w.-]+)?"
    ),
    # quay.io/foundata/debian13-itt, someone/rockylinux9-systemd:latest
    re.compile(
        r"(?:[\w.:-]+/)*(?P<name>(?:debian|ubuntu|rockylinux|centos)[0-9]+)-[\w.-]+"
        r"(?::[\w.-]+)?"
    ),
    # jdubz/ci-systemd:1.1-bookworm: a release's code name in the tag
    re.compile(
        r"(?:[\w.:-]+/)*[\w.-]+:(?:[\w.]+-)*(?P<codename>bullseye|bookworm|trixie|jammy|"
        r"noble)(?:-[\w.-]+)?"
    ),
)
_CODENAMES = {"bullseye": "debian11", "bookworm": "debian12", "trixie": "debian13",
              "jammy": "ubuntu2204", "noble": "ubuntu2404"}  # fmt: skip
_VERSIONS = {"bullseye": "11", "bookworm": "12", "trixie": "13", "jammy": "22.04", "noble": "24.04"}
# What the mapping takes, for the error that says it did not.
_MAPPED = (
    "*/docker-<distro><release>-ansible (geerlingguy/docker-debian12-ansible), "
    "[*/]<distro>:<release> (debian:12, debian:bookworm, ubuntu:24.04, rockylinux:9, centos:7)"
)
# Molecule's own playbooks by stage, in the scenario folder unless the provisioner says.
_STAGES = ("prepare", "converge", "side_effect", "cleanup", "verify")
# Platform keys carried as a host's container settings, with our name for them.
_CONTAINER_KEYS = ("capabilities", "security_opts", "tmpfs", "volumes", "published_ports",
                   "etc_hosts", "env", "ulimits", "hostname")  # fmt: skip
# Platform keys our run profile replaces: said once, not carried.
_PROFILE_KEYS = ("privileged", "cgroupns_mode", "command", "override_command")


NOTE_KINDS = ("mapped", "dropped", "unsupported")


@dataclass
class Scenario:
    """A scenario read as a lab: the lab document and what did not carry over."""

    folder: Path
    lab: dict[str, Any]
    # What the conversion said, by kind: "mapped" (carried in another form), "dropped"
    # (gives way to the run profile), "unsupported" (not carried at all).
    notes: list[tuple[str, str]] = field(default_factory=list)
    verify: Path | None = None  # verify.yml (the Ansible verifier), a test item
    side_effect: Path | None = None  # side_effect.yml, a test item before verify
    tests: Path | None = None  # the testinfra verifier's folder
    testinfra: bool = False  # the verifier is testinfra: tests/ runs on every platform
    environment: dict[str, str] = field(default_factory=dict)  # MOLECULE_* for the runs
    # The stages that are test items, in the order of the scenario's test_sequence (or
    # Molecule's default): converge, idempotence, check, side_effect, verify, with the
    # playbook each runs (None: the lab's converge does it).
    stages: list[tuple[str, Path | None]] = field(default_factory=list)
    # Where each key path of the lab came from in molecule.yml ("hosts.ns1.volumes[1]" ->
    # "platforms[0].volumes[2]"), so the lab's errors name molecule.yml's own keys.
    origins: dict[str, str] = field(default_factory=dict)
    # Platforms that connect as a user of their own (ansible_user), which our images lack:
    # host -> user, created with passwordless sudo before the prepare stage.
    users: dict[str, str] = field(default_factory=dict)
    # Bind-mount sources that do not exist: Docker creates them (as folders), so a run
    # creates them before the lab file's check, which refuses a missing one.
    missing_sources: list[Path] = field(default_factory=list)
    # A platform image that picks the distribution by a variable with a default
    # (geerlingguy/docker-${MOLECULE_DISTRO:-debian12}-ansible): the lab file's image keeps
    # it (${MOLECULE_DISTRO:-debian12}), so the file runs the same matrix. Host -> image.
    image_variables: dict[str, str] = field(default_factory=dict)
    # Platform images that name no recipe of ours: built on the image itself, where a
    # registry answers (recipe name -> image), and what to do where none does (host -> hint).
    foreign_images: dict[str, str] = field(default_factory=dict)
    foreign_hints: dict[str, str] = field(default_factory=dict)
    # provisioner.inventory's host_vars and group_vars, which Molecule also writes as files
    # of its ephemeral inventory (a verify may read inventory/host_vars/NAME).
    inventory_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The platforms the lab was made from, as molecule.yml writes them (an ansible-native
    # scenario's from its inventory): under shared_state, every scenario's.
    platforms: list[Any] = field(default_factory=list)

    @property
    def path(self) -> Path:
        """The scenario's molecule.yml."""
        return self.folder / "molecule.yml"

    def origin(self, problem: str) -> str:
        """A lab-file error's problem ("hosts.ns1.volumes[1]: ...") with molecule.yml's key
        path instead, where the conversion knows it."""
        where, sep, rest = problem.partition(": ")
        known = [k for k in self.origins if where == k or where.startswith((f"{k}.", f"{k}["))]
        if not sep or not known:
            return problem
        longest = max(known, key=len)
        host = ".".join(longest.split(".")[:2])  # hosts.NAME

        def sibling(match: re.Match[str]) -> str:  # "(also volumes[0])", in the same host
            mapped = self.origins.get(f"{host}.{match[0]}")
            return mapped.split(".", 1)[1] if mapped else match[0]

        rest = re.sub(r"\bvolumes\[\d+\]", sibling, rest)
        return f"{self.origins[longest]}{where[len(longest) :]}: {rest}"

    def note(self, kind: str, text: str) -> None:
        self.notes.append((kind, text))

    def summary(self) -> list[str]:
        """The notes as short lines, mapped first, then dropped, then unsupported; a note
        several platforms share is one line naming them all ("web, db: ...")."""
        platforms = set(self.lab.get("hosts") or ())
        lines: list[str] = []
        for kind in NOTE_KINDS:
            merged: dict[str, list[str]] = {}
            for text in (text for k, text in self.notes if k == kind):
                name, _, rest = text.partition(": ")
                if name in platforms and rest:
                    merged.setdefault(rest, []).append(name)
                else:
                    merged.setdefault(text, [])
            lines += [f"{kind}: {', '.join(names) + ': ' if names else ''}{text}"
                      for text, names in merged.items()]  # fmt: skip
        return lines


def expand(text: str, environ: Mapping[str, str]) -> str:
    """Environment variables in ``text`` as Molecule expands them (``${X:-default}``)."""

    def value(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name = match[1] or match[4]
        current = environ.get(name)
        if match[2] == ":-":
            return current if current else match[3]
        if match[2] == "-":
            return match[3] if current is None else current
        return current or ""

    return _VARIABLE.sub(value, text)


def scenario_folders(path: Path) -> list[Path]:
    """The scenarios ``path`` names, as Molecule's ``--all`` finds them: ``path`` itself when
    it holds a molecule.yml, else its scenario folders (``molecule/*``), else a role's or a
    collection's (``molecule/*``, ``extensions/molecule/*``)."""
    if (path / "molecule.yml").is_file():
        return [path]
    for under in (path, path / "molecule", path / "extensions" / "molecule"):
        found = sorted(p.parent for p in under.glob("*/molecule.yml") if p.is_file())
        if found:
            return found
    return []


def project_of(folder: Path) -> Path:
    """The project a scenario folder belongs to: a role's (``molecule/default``) or a
    collection's (``extensions/molecule/default``)."""
    project = folder.parent.parent
    if project.name == "extensions" and folder.parent.name == "molecule":
        return project.parent
    return project


def molecule_environment(folder: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment with the variables Molecule sets for a scenario (its own
    win, as in Molecule)."""
    project = project_of(folder)
    return {
        **environ,
        "MOLECULE_SCENARIO_NAME": folder.name,
        "MOLECULE_FILE": str(folder / "molecule.yml"),
        "MOLECULE_SCENARIO_DIRECTORY": str(folder),
        "MOLECULE_PROJECT_DIRECTORY": str(project),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(folder / ".dockerlab"),
    }


def foreign_recipe_name(image: str) -> str:
    """The name of the recipe built on a platform image no recipe names: the image's own
    name made an image name (``quay.io/acme/fedora:40`` -> ``molecule-quay-io-acme-fedora-40``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", image.lower()).strip("-")[:80].strip("-")
    return f"molecule-{slug or 'image'}"


def recipe_for(image: str, known: Collection[str]) -> str | None:
    """Our recipe for a platform's image: one named so, or an image whose name says a
    distribution and release we build (``*/docker-debian12-ansible``, ``*/debian:12``)."""
    name = image.rsplit("/", 1)[-1].split(":", 1)[0]
    if image in known:
        return image
    for pattern in _WELL_KNOWN:
        match = pattern.fullmatch(image)
        if match is None:
            continue
        if "name" in pattern.groupindex:
            candidate = match["name"]
        elif "codename" in pattern.groupindex:
            candidate = _CODENAMES[match["codename"]]
        else:
            version = _VERSIONS.get(match["version"], match["version"])
            if match["distro"] != "ubuntu":  # debian:12.5 is Debian 12; ubuntu:24.04 is 2404
                version = version.split(".")[0]
            candidate = f"{match['distro']}{version.replace('.', '')}"
        if candidate in known:
            return candidate
    return name if name in known else None


def convert(
    folder: Path,
    known: Collection[str],
    environ: Mapping[str, str] | None = None,
    image: str | None = None,
    privileged: bool = False,
    platforms: list[Any] | None = None,
    read_inventory: InventoryReader | None = None,
) -> Scenario:
    """Read ``folder/molecule.yml`` into a lab document; what cannot carry is in ``notes``.

    ``image`` (``--dockerlab-image``) replaces every platform's image, as the run's one
    image replaces a lab file's. ``privileged`` (``--dockerlab-molecule-privileged``) keeps
    a platform's ``privileged: true``. ``platforms`` replaces the scenario's own: the
    default scenario's, whose instances every scenario uses under ``shared_state``.
    ``read_inventory`` reads an ansible-native scenario's inventory (``ansible-inventory
    --list``); without it, such a scenario is refused."""
    folder = folder.resolve()
    path = folder / "molecule.yml"
    if not path.is_file():
        raise ScenarioError(folder, "no molecule.yml there")
    environ = dict(os.environ if environ is None else environ)
    env = molecule_environment(folder, environ)
    data = read_config(folder, env)
    said: list[tuple[str, str]] = []
    if _is_native(data):
        data, said = _from_native(folder, data, env, read_inventory)
    if platforms is not None:
        data["platforms"] = platforms
    try:
        scenario = _convert(folder, data, env, known, image, privileged)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        # A shape the checks below do not name: still the scenario's error, not a traceback.
        raise ScenarioError(
            folder, f"molecule.yml has a setting of an unexpected shape ({exc})"
        ) from None
    if image:
        scenario.notes.insert(0, ("mapped", f"every platform's image: {image} (--dockerlab-image)"))
    else:
        scenario.image_variables = _image_variables(path, known)
    if platforms is not None:
        scenario.notes.insert(
            0, ("mapped", "platforms: the default scenario's instances (shared_state)")
        )
    scenario.notes[:0] = said
    scenario.platforms = list(data.get("platforms") or [])
    return scenario


# Reads inventory sources as Ansible does (``ansible-inventory --list``), run from a folder
# with an environment: injected, so that reading molecule.yml runs nothing itself.
InventoryReader = Callable[[Sequence[str], Path, Mapping[str, str]], dict[str, Any]]

# The connections whose hosts are containers: the instances an ansible-native scenario's
# create.yml makes, which the lab makes instead.
_CONTAINER_CONNECTIONS = ("community.docker.docker", "community.docker.docker_api", "docker",
                          "containers.podman.podman", "podman")  # fmt: skip
# How the inventory reached its containers: the lab's own inventory says that instead.
_CONNECTION_VARS = re.compile(r"ansible_(connection|host|port|python_interpreter|docker_\w+|"
                              r"podman_\w+|remote_tmp)")  # fmt: skip
_MOLECULE_DIRECTORY = re.compile(r"\{\{\s*molecule_(scenario|project|ephemeral)_directory\s*\}\}")


def _is_native(data: Mapping[str, Any]) -> bool:
    """Molecule's ansible-native configuration: an ``ansible:`` section, no platforms."""
    return isinstance(data.get("ansible"), dict) and not data.get("platforms")


def _inventory_sources(
    folder: Path, ansible: Mapping[str, Any], env: Mapping[str, str]
) -> list[str]:
    """Where an ansible-native scenario's inventory is: the executor's ``--inventory``
    arguments, ``ANSIBLE_INVENTORY``, or ansible.cfg's ``inventory``."""
    executor = _mapping(folder, "ansible.executor", ansible.get("executor"))
    args = _mapping(folder, "ansible.executor.args", executor.get("args")).get("ansible_playbook")
    args = [str(a) for a in args] if isinstance(args, list) else []
    sources = []
    for index, arg in enumerate(args):
        if arg.startswith(("--inventory=", "-i=")):
            sources.append(arg.split("=", 1)[1])
        elif arg in ("--inventory", "-i") and index + 1 < len(args):
            sources.append(args[index + 1])
        elif arg.startswith("-i") and len(arg) > 2:
            sources.append(arg[2:])
    environ = _mapping(folder, "ansible.env", ansible.get("env"))
    cfg = _mapping(folder, "ansible.cfg", ansible.get("cfg"))
    config = _mapping(folder, "ansible.cfg.defaults", cfg.get("defaults"))
    if not sources and environ.get("ANSIBLE_INVENTORY"):
        sources = str(environ["ANSIBLE_INVENTORY"]).split(",")
    if not sources and config.get("inventory"):
        sources = str(config["inventory"]).split(",")
    directories = {"scenario": env["MOLECULE_SCENARIO_DIRECTORY"],
                   "project": env["MOLECULE_PROJECT_DIRECTORY"],
                   "ephemeral": env["MOLECULE_EPHEMERAL_DIRECTORY"]}  # fmt: skip
    named = [_MOLECULE_DIRECTORY.sub(lambda m: directories[m[1]], s.strip()) for s in sources]
    return [os.path.normpath(s) if os.path.isabs(s) else s for s in named]


def _from_native(
    folder: Path,
    data: dict[str, Any],
    env: Mapping[str, str],
    read_inventory: InventoryReader | None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """An ansible-native scenario in the classic shape: the docker- or podman-connected
    hosts of its inventory as platforms (the lab makes them; its create.yml and destroy.yml
    do not run), ``ansible.playbooks``/``env``/``cfg`` as the provisioner's."""
    ansible = _mapping(folder, "ansible", data["ansible"])
    sources = _inventory_sources(folder, ansible, env)
    if not sources:
        raise ScenarioError(
            folder,
            "an ansible-native scenario (ansible: section, no platforms) with no inventory "
            "(ansible.executor.args.ansible_playbook: [--inventory=...]): nothing says which "
            "instances it tests",
        )
    if read_inventory is None:
        raise ScenarioError(folder, "an ansible-native scenario: its inventory cannot be read here")
    try:
        listing = read_inventory(sources, folder, env)
    except DockerlabError as exc:
        raise ScenarioError(folder, str(exc)) from None
    hostvars = _mapping(
        folder, "the inventory's hostvars", listing.get("_meta", {}).get("hostvars")
    )
    members: dict[str, set[str]] = {}

    def hosts_of(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        body = listing.get(group) if group not in seen else None
        if not isinstance(body, dict):
            return set()
        found = set(body.get("hosts") or [])
        for child in body.get("children") or []:
            found |= hosts_of(child, seen | {group})
        return found

    for group in listing:
        if group not in ("_meta", "all", "ungrouped"):
            for host in hosts_of(group):
                members.setdefault(host, set()).add(group)
    said = []
    platforms = []
    host_vars = {}
    named = ", ".join(sources)
    for host, variables in hostvars.items():
        variables = variables if isinstance(variables, dict) else {}
        connection = str(variables.get("ansible_connection") or "ssh")
        if connection not in _CONTAINER_CONNECTIONS:
            said.append(("unsupported", f"inventory host {host} ({connection}): not a container"))
            continue
        platform: dict[str, Any] = {"name": host, "groups": sorted(members.get(host, ()))}
        if variables.get("image"):
            platform["image"] = str(variables["image"])
        else:
            platform["image"] = DEFAULT_IMAGE
            said.append(("mapped", f"{host}: no image variable in the inventory: {DEFAULT_IMAGE}"))
        platforms.append(platform)
        host_vars[host] = {k: v for k, v in variables.items() if not _CONNECTION_VARS.fullmatch(k)}
    if not platforms:
        raise ScenarioError(
            folder,
            f"an ansible-native scenario whose inventory ({named}) names no docker or podman "
            "instance: the lab makes containers, not the hosts its create.yml reaches; run it "
            "with Molecule",
        )
    said.insert(0, ("mapped", f"inventory {named}: its container hosts are the platforms, made "
                    "by the lab (create.yml and destroy.yml do not run)"))  # fmt: skip
    playbooks = _mapping(folder, "ansible.playbooks", ansible.get("playbooks"))
    provisioner = {
        "playbooks": {k: v for k, v in playbooks.items() if k not in ("create", "destroy")},
        "env": ansible.get("env"),
        "config_options": ansible.get("cfg"),
        "inventory": {"host_vars": host_vars},
    }
    executor = _mapping(folder, "ansible.executor", ansible.get("executor"))
    backend = str(executor.get("backend") or "ansible-playbook")
    if backend != "ansible-playbook":
        said.append(("mapped", f"ansible.executor.backend {backend}: ansible-runner runs the "
                     "playbooks"))  # fmt: skip
    classic = {k: v for k, v in data.items() if k != "ansible"}
    return {**classic, "platforms": platforms, "provisioner": provisioner}, said


def read_config(folder: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """A scenario's molecule.yml merged onto Molecule's base config: the first there of the
    project's ``.config/molecule/config.yml``, a collection's ``extensions/molecule/
    config.yml`` and the user's ``~/.config/molecule/config.yml``, as Molecule looks."""
    project = project_of(folder)
    bases = [project / BASE_CONFIG, project / "extensions" / "molecule" / "config.yml"]
    if env.get("HOME"):
        bases.append(Path(env["HOME"]) / BASE_CONFIG)
    data: dict[str, Any] = {}
    base = next((b for b in bases if b.is_file()), None)
    if base is not None:
        data = _read(folder, base, env)
    return _merged(data, _read(folder, folder / "molecule.yml", env))


_DISTRO_VARIABLE = re.compile(r"\$\{(\w+):?-([^}]*)\}")


def _image_variables(path: Path, known: Collection[str]) -> dict[str, str]:
    """The platforms whose image, as written, chooses the distribution by one variable whose
    default is one of our recipes' names: platform -> ``${VAR:-recipe}``."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return {}  # read once already: what it says is the expanded file's
    platforms = raw.get("platforms") if isinstance(raw, dict) else None
    found = {}
    for platform in platforms if isinstance(platforms, list) else []:
        if not isinstance(platform, dict) or not isinstance(platform.get("image"), str):
            continue
        image = platform["image"]
        variables = _DISTRO_VARIABLE.findall(image)
        if len(variables) != 1 or "$" in _DISTRO_VARIABLE.sub("", image):
            continue
        ((name, default),) = variables
        if default in known and recipe_for(_DISTRO_VARIABLE.sub(default, image), known) == default:
            found[str(platform.get("name"))] = f"${{{name}:-{default}}}"
    return found


# What Molecule's inventory defines for every host, as Molecule defines it (from the
# MOLECULE_* variables a run sets; not written by import-molecule, whose file has none).
MOLECULE_VARS = {
    "molecule_file": "{{ lookup('env', 'MOLECULE_FILE') }}",
    "molecule_ephemeral_directory": "{{ lookup('env', 'MOLECULE_EPHEMERAL_DIRECTORY') }}",
    "molecule_scenario_directory": "{{ lookup('env', 'MOLECULE_SCENARIO_DIRECTORY') }}",
    "molecule_yml": "{{ lookup('file', molecule_file) | from_yaml }}",
    "molecule_no_log": "{{ lookup('env', 'MOLECULE_NO_LOG') | default(false, true) | bool }}",
}

# Where Molecule keeps a base config that every scenario's molecule.yml is merged onto.
BASE_CONFIG = Path(".config", "molecule", "config.yml")


def _read(folder: Path, path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """A Molecule config file, its variables expanded; any problem is the scenario's error
    naming the file."""
    name = "molecule.yml" if path == folder / "molecule.yml" else str(path)
    try:
        data = yaml.safe_load(expand(path.read_text(encoding="utf-8"), env)) or {}
    except yaml.YAMLError as exc:
        raise ScenarioError(folder, f"{name} does not parse: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            folder,
            f"{name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}): save it as UTF-8",
        ) from None
    except RecursionError:  # PyYAML reads nested lists and mappings recursively
        raise ScenarioError(folder, f"{name} nests lists or mappings too deeply") from None
    except OSError as exc:
        raise ScenarioError(folder, f"cannot read {name}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(folder, f"{name} must be a mapping")
    return data


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on ``base`` as Molecule merges configs: mappings key by key, anything else
    (lists included) replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _mapping(folder: Path, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(folder, f"{where} must be a mapping, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean"}.get(type(value), type(value).__name__)  # fmt: skip


def _convert(
    folder: Path,
    data: dict[str, Any],
    env: Mapping[str, str],
    known: Collection[str],
    image_override: str | None,
    privileged: bool,
) -> Scenario:
    scenario = Scenario(folder, {})
    note = scenario.note
    scenario.environment = {k: v for k, v in env.items() if k.startswith("MOLECULE_")}
    driver = str(_mapping(folder, "driver", data.get("driver")).get("name", "docker"))
    if driver not in ("docker", "podman", "default", "delegated"):
        note("mapped", f"driver {driver}: the lab runs on the Docker engine instead")
    platforms = data.get("platforms") or []
    if not isinstance(platforms, list):
        raise ScenarioError(
            folder, f"platforms must be a list of platforms (- name: ...), not {_kind(platforms)}"
        )
    if not platforms:
        raise ScenarioError(folder, "no platforms: a lab needs at least one host")
    provisioner = _mapping(folder, "provisioner", data.get("provisioner"))
    inventory = _mapping(folder, "provisioner.inventory", provisioner.get("inventory"))
    host_vars = _mapping(folder, "provisioner.inventory.host_vars", inventory.get("host_vars"))
    group_vars = _mapping(folder, "provisioner.inventory.group_vars", inventory.get("group_vars"))
    scenario.inventory_vars = {"host_vars": dict(host_vars), "group_vars": dict(group_vars)}
    hosts: dict[str, dict[str, Any]] = {}
    images: dict[str, str] = {}
    lab_networks: dict[str, dict[str, str]] = {}
    for index, platform in enumerate(platforms):
        platform = _mapping(folder, f"platforms[{index}]", platform)
        name = "" if platform.get("name") is None else str(platform["name"])
        if not name:
            unset = " (an unset variable?)" if "name" in platform else ""
            raise ScenarioError(folder, f"platforms[{index}] has no name{unset}")
        if not HOST_LABEL.fullmatch(name):
            raise ScenarioError(
                folder,
                f"platforms[{index}].name {name!r}: hosts here resolve each other by name, so a "
                f"name is a host name {HOST_LABEL_RULE}: rename the platform",
            )
        host: dict[str, Any] = {}
        scenario.origins[f"hosts.{name}"] = f"platforms[{index}]"
        groups = [
            *_names(folder, f"platforms[{index}].groups", platform.get("groups")),
            *_names(folder, f"platforms[{index}].children", platform.get("children")),
        ]
        if platform.get("children"):
            note("mapped", f"{name}: children groups are groups the host is in (no nesting)")
        if groups:
            host["groups"] = list(dict.fromkeys(map(str, groups)))
        if name in hosts:
            raise ScenarioError(folder, f"platforms[{index}].name {name!r} appears twice")
        image = str(platform.get("image") or "")
        if not image and not image_override:
            why = "an unset variable?"
            if driver not in ("docker", "podman", "default", "delegated"):
                why = (
                    f"the scenario's driver is {driver}, whose platforms are not containers: "
                    "give it an image (debian:12), or run it with --dockerlab-image NAME"
                )
            raise ScenarioError(folder, f"platforms[{index}] ({name}) has no image ({why})")
        dockerfile = platform.get("dockerfile") or (
            "Dockerfile.j2" if (folder / "Dockerfile.j2").is_file() else None
        )
        if dockerfile and not platform.get("pre_build_image", False) and not image_override:
            # Molecule builds this platform from a template of its own: no recipe of ours
            # would run its steps.
            raise ScenarioError(
                folder,
                f"platform {name} is built from Molecule's {dockerfile} (pre_build_image is "
                "not true): its steps would not run here; use a prebuilt image such as "
                f"geerlingguy/docker-debian12-ansible, or a recipe ({', '.join(known)})",
            )
        recipe = image_override or recipe_for(image, known)
        if recipe is None:
            # Built on the image itself where a registry answers; why not, if none does.
            recipe = foreign_recipe_name(image)
            scenario.foreign_images[recipe] = image
            scenario.foreign_hints[name] = (
                f"its image {image} names no distribution and release this plugin builds "
                f"({', '.join(known)}). Images mapped by name: {_MAPPED}. Give platforms"
                f"[{index}] such an image (image: debian:12), or run every platform on one of "
                "ours with --dockerlab-image NAME"
            )
            note(
                "mapped",
                f"{name}: image {image} names no distribution of ours: built on it where a "
                "registry answers (systemd, python3 and sudo added if missing)",
            )
        elif recipe != image and not image_override:
            note("mapped", f"{name}: image {image} runs as this plugin's {recipe}")
        images[name] = recipe
        for key in _CONTAINER_KEYS:
            if key in platform:
                value = platform[key]
                if key in ("volumes", "capabilities", "security_opts", "published_ports") and (
                    not isinstance(value, list)
                ):
                    raise ScenarioError(folder, f"platforms[{index}].{key} must be a list")
                if key == "volumes":
                    kept = [
                        i for i, v in enumerate(value) if not str(v).startswith("/sys/fs/cgroup")
                    ]
                    for j, i in enumerate(kept):
                        scenario.origins[f"hosts.{name}.volumes[{j}]"] = (
                            f"platforms[{index}].volumes[{i}]"
                        )
                    value = [value[i] for i in kept]
                    if len(value) < len(platform[key]):
                        note("dropped", f"{name}: the cgroup mount: the run profile gives "
                             "systemd what it needs")  # fmt: skip
                    if not value:
                        continue
                    for volume in value:
                        source = str(volume).split(":", 1)[0]
                        if source.startswith(("/", ".")) and not (folder / source).exists():
                            scenario.missing_sources.append(folder / source)
                            note("mapped", f"{name}: bind source {source} does not exist: "
                                 "created as an empty folder, as Docker creates it")  # fmt: skip
                if key == "env":
                    where = f"platforms[{index}].env"
                    host["env"] = {
                        str(k): str(v) for k, v in _mapping(folder, where, value).items()
                    }
                    continue
                host[key] = value
        if platform.get("privileged") is True and privileged:
            host["privileged"] = True
            note("mapped", f"{name}: privileged: true is kept (--dockerlab-molecule-privileged)")
        elif platform.get("privileged") is True:
            note("dropped", f"{name}: privileged: true: the least-privileged profile runs "
                 "the image's init (--dockerlab-molecule-privileged keeps it)")  # fmt: skip
        for key in _PROFILE_KEYS:
            if key == "privileged":
                continue
            if platform.get(key) and not (key == "command" and _is_init(platform[key])):
                note("dropped", f"{name}: {key}: {_words(platform[key])}: the least-privileged "
                     "profile for the engine runs the image's init")  # fmt: skip
        _networks(folder, index, platform, host, lab_networks, scenario)
        other = set(platform) - {"name", "groups", "children", "image", "dockerfile",
                                 "pre_build_image", "networks", "docker_networks",
                                 *_CONTAINER_KEYS, *_PROFILE_KEYS}  # fmt: skip
        for key in sorted(other):
            note("unsupported", f"{name}: {key}")
        # What Molecule's inventory gives every host, under the scenario's own vars:
        # roles test molecule_yml.driver.name to skip what a container cannot do.
        variables: dict[str, Any] = dict(MOLECULE_VARS)
        # Ansible's order: all, then groups of one depth by name (a later one wins); a host
        # of no group is in ungrouped.
        for group in ["all", *(sorted(map(str, groups)) or ["ungrouped"])]:
            where = f"provisioner.inventory.group_vars.{group}"
            variables.update(_mapping(folder, where, group_vars.get(group)))
        variables.update(
            _mapping(folder, f"provisioner.inventory.host_vars.{name}", host_vars.get(name))
        )
        if variables:
            host["vars"] = variables
        user = variables.get("ansible_user") or variables.get("ansible_ssh_user")
        if isinstance(user, str) and user not in ("root", ""):
            scenario.users[name] = user
            note("mapped", f"{name}: user {user} (ansible_user) is created with passwordless "
                 "sudo, as the platform's image had it")  # fmt: skip
        hosts[name] = host
    if group_vars:
        note(
            "mapped",
            "inventory group_vars became host vars of the group's hosts (host vars still "
            "win; so do they over a group_vars/ folder, unlike in Molecule)",
        )
    distinct = set(images.values())
    lab: dict[str, Any] = {}
    if len(distinct) == 1:
        lab["image"] = distinct.pop()  # unpinned hosts: --dockerlab-image moves them all
    else:
        for name, recipe in images.items():
            hosts[name]["image"] = recipe
    lab["hosts"] = hosts
    if lab_networks:
        lab["networks"] = lab_networks
    lab["ansible"] = _ansible(folder, data, provisioner, scenario)
    scenario.origins.update(
        {"ansible.config": "provisioner.config_options", "ansible.env": "provisioner.env"}
    )
    scenario.lab = lab
    verifier = _mapping(folder, "verifier", data.get("verifier"))
    scenario.testinfra = verifier.get("name", "ansible") == "testinfra"
    scenario.tests = folder / str(verifier.get("directory") or "tests")
    if not scenario.testinfra:
        if scenario.tests.is_dir():
            note("dropped", f"{scenario.tests.name}/ is not run: the verifier is ansible, as "
                 "in Molecule (verifier: {name: testinfra} runs it)")  # fmt: skip
    else:
        scenario.verify = None
    sequence = _mapping(folder, "scenario", data.get("scenario")).get("test_sequence")
    converge = next(map(Path, lab["ansible"]["playbooks"]), None)
    scenario.stages = _stages(folder, sequence, scenario, converge)
    if not any(stage == "idempotence" for stage, _ in scenario.stages):
        lab["ansible"]["idempotence"] = False
    lab["ansible"].setdefault("env", {}).update(scenario.environment)
    return scenario


# Molecule's own steps that are no test item here: the lab does them (prepare before the
# converge, cleanup and destroy at its end) or they have no meaning for it.
_LAB_STEPS = ("dependency", "cleanup", "destroy", "syntax", "create", "prepare", "lint")


def _stages(
    folder: Path, sequence: Any, scenario: Scenario, converge: Path | None
) -> list[tuple[str, Path | None]]:
    """The test items of ``scenario`` in the order its ``test_sequence`` gives (Molecule's
    default without one). A stage may name its playbook (``side_effect reboot.yml``). A
    sequence without converge starts with ``create``: the platforms boot, nothing more."""
    if sequence is None:
        default: list[tuple[str, Path | None]] = [("converge", None), ("idempotence", None)]
        default += [(s, p) for s, p in (("side_effect", scenario.side_effect),
                                        ("verify", scenario.verify)) if p is not None]  # fmt: skip
        return default
    if not isinstance(sequence, list) or not all(isinstance(s, str) for s in sequence):
        raise ScenarioError(folder, "scenario.test_sequence must be a list of step names")
    stages: list[tuple[str, Path | None]] = [("converge" if converge else "create", None)]
    converged = converge is None
    for index, step in enumerate(sequence):
        name, _, argument = step.strip().partition(" ")
        converged = converged or name == "converge"
        if name in _LAB_STEPS or name == "converge":
            continue
        if not converged and name in ("check", "side_effect", "verify"):
            scenario.note(
                "unsupported",
                f"scenario.test_sequence[{index}]: {step} comes before "
                "converge there; here it runs after it (the lab converges first)",
            )
        if name == "idempotence":
            stages.append(("idempotence", None))
        elif name == "check":
            if converge is None:
                scenario.note("unsupported", f"scenario.test_sequence[{index}]: check without "
                              "converge (nothing to run in check mode)")  # fmt: skip
            else:
                stages.append(("check", converge))
        elif name in ("side_effect", "verify"):
            playbook = folder / argument.strip() if argument.strip() else getattr(scenario, name)
            if playbook is None or not playbook.is_file():
                if argument.strip():
                    raise ScenarioError(
                        folder, f"scenario.test_sequence[{index}]: {step}: no such playbook"
                    )
                continue  # Molecule skips a stage without its playbook too
            stages.append((name, playbook))
        else:
            raise ScenarioError(
                folder,
                f"scenario.test_sequence[{index}]: {step!r} is no Molecule step ("
                + ", ".join((*_LAB_STEPS, "converge", "idempotence", "check", "side_effect",
                             "verify")) + ")",
            )  # fmt: skip
    return stages


def _networks(
    folder: Path,
    index: int,
    platform: dict[str, Any],
    host: dict[str, Any],
    lab_networks: dict[str, dict[str, str]],
    scenario: Scenario,
) -> None:
    """A platform's docker_networks (with their ipam_config subnet) become lab networks, its
    networks (with aliases and a fixed ipv4_address) the host's."""
    where = f"platforms[{index}]"
    for number, network in enumerate(platform.get("docker_networks") or []):
        network = _mapping(folder, f"{where}.docker_networks[{number}]", network)
        name = str(network.get("name", ""))
        ipam = network.get("ipam_config") or []
        pools = [c for c in ipam if isinstance(c, dict) and c.get("subnet")]
        settings = {"subnet": str(pools[0]["subnet"])} if pools else {}
        if pools and pools[0].get("gateway"):
            settings["gateway"] = str(pools[0]["gateway"])
        if lab_networks.setdefault(name, settings) != settings:
            raise ScenarioError(
                folder, f"{where}.docker_networks[{number}]: network {name} has another subnet "
                "on another platform"
            )  # fmt: skip
        scenario.origins[f"networks.{name}"] = f"{where}.docker_networks[{number}]"
    networks = platform.get("networks")
    if not networks:
        return
    if not isinstance(networks, list):
        raise ScenarioError(folder, f"{where}.networks must be a list")
    host["networks"] = []
    for number, network in enumerate(networks):
        network = _mapping(folder, f"{where}.networks[{number}]", network)
        carried = {k: network[k] for k in ("name", "aliases", "ipv4_address") if k in network}
        host["networks"].append(carried)
        for key in sorted(set(network) - set(carried)):
            scenario.note("unsupported", f"{platform.get('name')}: networks[{number}].{key}")
    scenario.origins[f"hosts.{platform.get('name')}.networks"] = f"{where}.networks"


def _names(folder: Path, where: str, value: Any) -> list[str]:
    """Group names as a platform gives them: a list, or one name (never its letters)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, (str, int)) for item in value):
        return [str(item) for item in value]
    raise ScenarioError(folder, f"{where} must be a group name or a list of them, not {value!r}")


def _words(value: Any) -> str:
    """``value`` as molecule.yml writes it (``true``, ``[a, b]``), not as Python does."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def _is_init(command: Any) -> bool:
    text = " ".join(command) if isinstance(command, list) else str(command)
    return text.strip() in ("", '""', "/sbin/init", "/lib/systemd/systemd", "/usr/sbin/init",
                            "/usr/lib/systemd/systemd")  # fmt: skip


def _ansible(
    folder: Path, data: dict[str, Any], provisioner: dict[str, Any], scenario: Scenario
) -> dict[str, Any]:
    note = scenario.note
    playbooks = _mapping(folder, "provisioner.playbooks", provisioner.get("playbooks"))
    found = {}
    for stage in _STAGES:
        named = playbooks.get(stage)
        candidate = folder / str(named or f"{stage}.yml")
        if candidate.is_file():
            found[stage] = candidate
        elif named:
            raise ScenarioError(folder, f"the {stage} playbook {named} is not there")
    sequence = _mapping(folder, "scenario", data.get("scenario")).get("test_sequence")
    converges = not isinstance(sequence, list) or "converge" in sequence
    if "converge" not in found and converges:
        raise ScenarioError(folder, "no converge playbook (converge.yml)")
    # A sequence without converge (a shared_state default scenario's [create, destroy])
    # converges nothing, and needs no converge.yml.
    ansible: dict[str, Any] = {
        "playbooks": [str(found["converge"])] if converges else [],
        "idempotence": True,
    }
    for stage in ("prepare", "cleanup"):
        if stage in found:
            ansible[stage] = [str(found[stage])]
    scenario.verify = found.get("verify")
    scenario.side_effect = found.get("side_effect")
    env = _mapping(folder, "provisioner.env", provisioner.get("env"))
    if env:
        ansible["env"] = {str(k): str(v) for k, v in env.items()}
    config = _mapping(folder, "provisioner.config_options", provisioner.get("config_options"))
    if config:
        ansible["config"] = config
    options = _mapping(folder, "provisioner.options", provisioner.get("options"))
    verbosity = max((len(k) for k in options if re.fullmatch(r"v+", str(k)) and options[k]),
                    default=0)  # fmt: skip
    if verbosity:
        ansible["verbosity"] = verbosity
    if options.get("diff"):
        ansible["diff"] = True
    for key in sorted(set(options) - {"diff"} - {k for k in options if re.fullmatch(r"v+", k)}):
        note("unsupported", f"provisioner option {key}")
    dependency = _mapping(folder, "dependency", data.get("dependency"))
    dep_options = _mapping(folder, "dependency.options", dependency.get("options"))
    # Molecule's role-file (requirements.yml) and requirements-file (collections.yml): both,
    # in the scenario's folder; a file named in the options is the project's (Molecule runs
    # from the project's root), or the scenario's.
    found_files = []
    for option, default in (("role-file", "requirements.yml"),
                            ("requirements-file", "collections.yml")):  # fmt: skip
        named = dep_options.get(option)
        places = (
            [project_of(folder) / str(named), folder / str(named)] if named else [folder / default]
        )
        located = next((p for p in places if p.is_file()), None)
        if located is not None:
            found_files.append(str(located))
        elif named:
            note("unsupported", f"dependency.options.{option} {named}: no such file in the "
                 "project or the scenario")  # fmt: skip
    if found_files and dependency.get("enabled", True) and dependency.get("name") != "shell":
        ansible["requirements"] = found_files
    elif dependency.get("name") == "shell":
        note("unsupported", "the shell dependency command (not run)")
    inventory = _mapping(folder, "provisioner.inventory", provisioner.get("inventory"))
    for key in ("links", "hosts"):
        if inventory.get(key):
            # Typically groups a custom create playbook puts the instances in (foundata's
            # `molecule` group): what the platforms' groups: key says here.
            note(
                "unsupported",
                f"provisioner.inventory.{key}: its groups and vars are not in the lab's "
                "inventory (give the platforms groups: to put them in a group)",
            )
    return ansible


def users_playbook(users: Mapping[str, str]) -> str:
    """A play that creates each host's connecting user (host -> user) as root, with sudo."""
    play = [
        {
            "name": "Users the platforms connect as (pytest-dockerlab, from molecule.yml)",
            "hosts": ",".join(users),
            "gather_facts": False,
            # Play vars beat inventory host vars: connect as root to make the user.
            "vars": {"ansible_user": "root", "dockerlab_users": dict(users)},
            "tasks": [
                {
                    "name": "Install sudo",
                    "ansible.builtin.raw": "command -v sudo >/dev/null || { apt-get update -qq "
                    "&& apt-get install -y -qq sudo; } || dnf -y -q install sudo || yum -y -q "
                    "install sudo",
                    "changed_when": False,
                },
                {
                    "ansible.builtin.user": {
                        "name": "{{ dockerlab_users[inventory_hostname] }}",
                        "shell": "/bin/bash",
                    }
                },
                {
                    "ansible.builtin.copy": {
                        "dest": "/etc/sudoers.d/{{ dockerlab_users[inventory_hostname] }}",
                        "content": "{{ dockerlab_users[inventory_hostname] }} ALL=(ALL) "
                        "NOPASSWD: ALL\n",
                        "mode": "0440",
                    }
                },
            ],
        }
    ]
    return yaml.safe_dump(play, sort_keys=False)


def write_lab_file(scenario: Scenario, target: Path) -> None:
    """The scenario as a ``dockerlab.yml`` at ``target``, paths relative to its folder,
    headed by what did not carry over."""
    lab = _relative(scenario.lab, target.parent)
    lab["hosts"] = {name: dict(host) for name, host in lab["hosts"].items()}
    # An image the scenario chooses by a variable keeps it: the file runs the same matrix.
    chosen = scenario.image_variables
    if "image" in lab and set(chosen) == set(lab["hosts"]) and len(set(chosen.values())) == 1:
        lab["image"] = next(iter(chosen.values()))
    else:
        for name, host in lab["hosts"].items():
            if name in chosen:
                host["image"] = chosen[name]
    for host in lab["hosts"].values():
        own = {k: v for k, v in (host.get("vars") or {}).items() if MOLECULE_VARS.get(k) != v}
        if own:
            host["vars"] = own
        else:
            host.pop("vars", None)
    # What this machine's Molecule variables were at import: not for a file to commit.
    env = {k: v for k, v in (lab["ansible"].get("env") or {}).items()
           if k not in scenario.environment}  # fmt: skip
    if env:
        lab["ansible"]["env"] = env
    else:
        lab["ansible"].pop("env", None)
    source = os.path.relpath(scenario.path, target.parent)
    header = [f"# Converted from {source} by `dockerlab import-molecule`."]
    if scenario.testinfra:
        header.append(
            "# tests/ uses testinfra's host fixture: under this file it would be this machine;"
            " run the scenario with --dockerlab-molecule, or use lab.host(NAME) in them."
        )
    if scenario.verify:
        verify = os.path.relpath(scenario.verify, target.parent)
        header.append(f"# verify: {verify} runs as test_verify in {STAGE_TESTS}.")
    for variable in sorted(set(chosen.values())):
        header.append(
            f"# image: {variable}, as molecule.yml chooses it: "
            f"{variable[2:].split(':')[0]}=NAME runs another of this plugin's images."
        )
    header += [f"# {line}" for line in scenario.summary()]
    target.write_text("\n".join(header) + "\n" + yaml.safe_dump(lab, sort_keys=False))


# Beside the lab file: the scenario's stages as tests, so ``pytest FOLDER`` runs them.
STAGE_TESTS = "test_molecule_stages.py"


def write_stage_tests(scenario: Scenario, target: Path) -> list[str]:
    """The scenario's stages as tests at ``target``, beside its lab file: without them a
    folder with no tests of its own would run nothing. Returns the stages written."""
    converge = next((Path(p).name for p in scenario.lab["ansible"]["playbooks"]), None)
    stages = ["converge", "idempotence"] if converge else ["create"]
    source = os.path.relpath(scenario.path, target.parent)
    # Names go in as string literals (json's escapes are Python's): a backslash or quotes in
    # a file name cannot break the file.
    body = [
        f"# The stages of {_comment(source)} as tests (written by `dockerlab import-molecule`).",
        "# The lab converges every host and runs the idempotence pass when a test first needs",
        "# them: a failed task or a changed one errors these tests, naming the host and the task.",
        "",
        "",
        "def test_converge(lab):" if converge else "def test_create(lab):",
        "    "
        + json.dumps(
            f"{converge} ran on every host, and a second run changed nothing."
            if converge
            else "Every platform booted (the scenario's sequence converges nothing)."
        ),
        "    assert lab.hosts",
    ]
    for stage in ("side_effect", "verify"):  # Molecule's order
        playbook = getattr(scenario, stage)
        if playbook is None:
            continue
        stages.append(stage)
        relative = os.path.relpath(playbook, target.parent)
        body += [
            "",
            "",
            f"def test_{stage}(lab):",
            f"    {json.dumps(f'{playbook.name} on every host, as Molecule runs its {stage}.')}",
            f"    result = lab.converge({json.dumps(relative)})",
            "    assert result.ok, result.describe_failure()",
        ]
    target.write_text("\n".join(body) + "\n")
    return stages


def _comment(text: str) -> str:
    """``text`` safe on one comment line."""
    return " ".join(text.splitlines())


def _relative(lab: dict[str, Any], base: Path) -> dict[str, Any]:
    """The lab with its playbook and requirements paths relative to ``base`` (nothing else:
    a var that happens to name a path stays as written)."""
    ansible = dict(lab.get("ansible") or {})
    for key in ("playbooks", "prepare", "cleanup", "requirements"):
        if key in ansible:
            ansible[key] = [os.path.relpath(p, base) for p in ansible[key]]
    return {**lab, "ansible": ansible}
