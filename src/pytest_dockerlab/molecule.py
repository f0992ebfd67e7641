"""Molecule scenarios as labs: ``molecule.yml`` read into a lab document, and its stages as
test items.

:func:`convert` turns a scenario folder into what a ``dockerlab.yml`` would say (platforms
become hosts, the provisioner's inventory vars, env, config options and playbooks carry
over), with a note for each thing it could not carry. ``pytest --dockerlab-molecule DIR``
runs that lab: the scenario's converge and idempotence pass, and its ``verify.yml``, are
test items of their own (``molecule/default/molecule.yml::converge``), and its testinfra
``tests/`` get a ``host`` per platform, as Molecule's testinfra verifier gives them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .exceptions import DockerlabError, IdempotenceError

# ${VAR}, ${VAR:-default}, ${VAR-default} and $VAR, as Molecule expands molecule.yml.
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?:(:?-)([^}]*))?\}|(\w+))")

# Images of systemd test containers that name a distribution our recipes build.
_WELL_KNOWN = (
    re.compile(r"(?:docker\.io/)?geerlingguy/docker-(?P<name>[a-z0-9]+)-ansible(?::[\w.-]+)?"),
    re.compile(
        r"(?:docker\.io/)?(?:library/)?(?P<distro>debian|ubuntu|rockylinux|centos)"
        r":(?P<version>[\w.]+)"
    ),
)
_VERSIONS = {"bullseye": "11", "bookworm": "12", "trixie": "13", "jammy": "22.04", "noble": "24.04"}
# Molecule's own playbooks by stage, in the scenario folder unless the provisioner says.
_STAGES = ("prepare", "converge", "side_effect", "cleanup", "verify")
# Platform keys carried as a host's container settings, with our name for them.
_CONTAINER_KEYS = {
    "capabilities": "capabilities",
    "security_opts": "security_opts",
    "tmpfs": "tmpfs",
    "volumes": "volumes",
    "published_ports": "published_ports",
    "etc_hosts": "etc_hosts",
    "env": "env",
    "ulimits": "ulimits",
}
# Platform keys our run profile replaces: said once, not carried.
_PROFILE_KEYS = ("privileged", "cgroupns_mode", "command", "override_command")


class ScenarioError(DockerlabError):
    """A Molecule scenario that cannot be read, or run here."""

    def __init__(self, folder: Path, problem: str) -> None:
        self.folder = folder
        self.problem = problem
        super().__init__(f"Molecule scenario {folder}: {problem}")


@dataclass
class Scenario:
    """A scenario read as a lab: the lab document and what did not carry over."""

    folder: Path
    lab: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    verify: Path | None = None  # verify.yml, run as a test item
    side_effect: Path | None = None
    tests: Path | None = None  # the testinfra verifier's folder

    @property
    def path(self) -> Path:
        return self.folder / "molecule.yml"


def expand(text: str, environ: Mapping[str, str]) -> str:
    """Environment variables in ``text`` as Molecule expands them (``${X:-default}``)."""

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[4]
        current = environ.get(name)
        if match[2] == ":-":
            return current if current else match[3]
        if match[2] == "-":
            return match[3] if current is None else current
        return current or ""

    return _VARIABLE.sub(value, text)


def molecule_environment(folder: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables Molecule sets for a scenario, under the caller's."""
    project = folder.parent.parent
    return {
        "MOLECULE_SCENARIO_NAME": folder.name,
        "MOLECULE_SCENARIO_DIRECTORY": str(folder),
        "MOLECULE_PROJECT_DIRECTORY": str(project),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(folder / ".dockerlab"),
        **environ,
    }


def recipe_for(image: str, known: Mapping[str, Any]) -> str | None:
    """Our recipe for a platform's image: one named so, or a well-known systemd image of a
    distribution we build (``geerlingguy/docker-debian12-ansible``, ``debian:12``)."""
    name = image.rsplit("/", 1)[-1].split(":", 1)[0]
    if image in known:
        return image
    for pattern in _WELL_KNOWN:
        match = pattern.fullmatch(image)
        if match is None:
            continue
        if "name" in pattern.groupindex:
            candidate = match["name"]
        else:
            version = _VERSIONS.get(match["version"], match["version"])
            candidate = f"{match['distro']}{version.replace('.', '')}"
        if candidate in known:
            return candidate
    return name if name in known else None


def convert(
    folder: Path, known: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Scenario:
    """Read ``folder/molecule.yml`` into a lab document; what cannot carry is in ``notes``."""
    folder = folder.resolve()
    path = folder / "molecule.yml"
    if not path.is_file():
        raise ScenarioError(folder, "no molecule.yml there")
    env = molecule_environment(folder, dict(os.environ if environ is None else environ))
    try:
        data = yaml.safe_load(expand(path.read_text(), env)) or {}
    except yaml.YAMLError as exc:
        raise ScenarioError(folder, f"molecule.yml does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(folder, "molecule.yml must be a mapping")
    scenario = Scenario(folder, {})
    notes = scenario.notes
    driver = (data.get("driver") or {}).get("name", "docker")
    if driver not in ("docker", "podman", "default", "delegated"):
        notes.append(f"driver {driver!r}: the lab runs on the Docker engine instead")
    platforms = data.get("platforms") or []
    if not isinstance(platforms, list) or not platforms:
        raise ScenarioError(folder, "no platforms: a lab needs at least one host")
    provisioner = data.get("provisioner") or {}
    inventory = provisioner.get("inventory") or {}
    host_vars = inventory.get("host_vars") or {}
    group_vars = inventory.get("group_vars") or {}
    hosts: dict[str, dict[str, Any]] = {}
    images: dict[str, str] = {}
    for platform in platforms:
        name = str(platform.get("name", ""))
        if not name:
            raise ScenarioError(folder, "a platform has no name")
        host: dict[str, Any] = {}
        groups = [*(platform.get("groups") or []), *(platform.get("children") or [])]
        if platform.get("children"):
            notes.append(f"{name}: children groups are groups the host is in (no nesting)")
        if groups:
            host["groups"] = list(dict.fromkeys(map(str, groups)))
        image = str(platform.get("image") or "")
        recipe = recipe_for(image, known)
        if recipe is None:
            dockerfile = platform.get("dockerfile")
            raise ScenarioError(
                folder,
                f"platform {name}: image {image!r} is none of this plugin's images "
                f"({', '.join(known)}) nor a well-known systemd image of one"
                + (f"; its Dockerfile {dockerfile} is a Molecule template" if dockerfile else "")
                + ": set MOLECULE_DISTRO (or the image) to one of them",
            )
        images[name] = recipe
        if recipe != image:
            notes.append(f"{name}: image {image} runs as this plugin's {recipe}")
        for key, ours in _CONTAINER_KEYS.items():
            if key in platform:
                value = platform[key]
                if key == "volumes":
                    value = [v for v in value if not str(v).startswith("/sys/fs/cgroup")]
                    if len(value) < len(platform[key]):
                        notes.append(f"{name}: the cgroup mount is dropped: the run profile "
                                     "gives systemd what it needs")  # fmt: skip
                    if not value:
                        continue
                if key == "env":
                    host["env"] = {str(k): str(v) for k, v in value.items()}
                    continue
                host[ours] = value
        for key in _PROFILE_KEYS:
            if platform.get(key) and not (key == "command" and _is_init(platform[key])):
                notes.append(f"{name}: {key}: {platform[key]!r} is not carried: the least-"
                             "privileged profile for the engine runs the image's init")  # fmt: skip
        other = set(platform) - {"name", "groups", "children", "image", "dockerfile",
                                 "pre_build_image", *_CONTAINER_KEYS, *_PROFILE_KEYS}  # fmt: skip
        for key in sorted(other):
            notes.append(f"{name}: {key} is not carried")
        variables: dict[str, Any] = {}
        for group in ["all", *groups]:
            variables.update(group_vars.get(group) or {})
        variables.update(host_vars.get(name) or {})
        if variables:
            host["vars"] = variables
        hosts[name] = host
    if group_vars:
        notes.append("group_vars became host vars of the group's hosts (same values; host "
                     "vars still win)")  # fmt: skip
    distinct = set(images.values())
    lab: dict[str, Any] = {}
    if len(distinct) == 1:
        lab["image"] = distinct.pop()  # unpinned hosts: --dockerlab-image moves them all
    else:
        for name, recipe in images.items():
            hosts[name]["image"] = recipe
    lab["hosts"] = hosts
    lab["ansible"] = _ansible(folder, data, provisioner, scenario)
    scenario.lab = lab
    verifier = data.get("verifier") or {}
    tests = folder / str(verifier.get("directory") or "tests")
    if verifier.get("name", "ansible") == "testinfra" or tests.is_dir():
        scenario.tests = tests if tests.is_dir() else None
    return scenario


def _is_init(command: Any) -> bool:
    text = " ".join(command) if isinstance(command, list) else str(command)
    return text.strip() in ("", '""', "/sbin/init", "/lib/systemd/systemd", "/usr/sbin/init",
                            "/usr/lib/systemd/systemd")  # fmt: skip


def _ansible(
    folder: Path, data: dict[str, Any], provisioner: dict[str, Any], scenario: Scenario
) -> dict[str, Any]:
    notes = scenario.notes
    playbooks = provisioner.get("playbooks") or {}
    found = {}
    for stage in _STAGES:
        named = playbooks.get(stage)
        candidate = folder / str(named or f"{stage}.yml")
        if candidate.is_file():
            found[stage] = candidate
        elif named:
            raise ScenarioError(folder, f"the {stage} playbook {named} is not there")
    if "converge" not in found:
        raise ScenarioError(folder, "no converge playbook (converge.yml)")
    ansible: dict[str, Any] = {"playbooks": [str(found["converge"])], "idempotence": True}
    for stage in ("prepare", "cleanup"):
        if stage in found:
            ansible[stage] = [str(found[stage])]
    scenario.verify = found.get("verify")
    scenario.side_effect = found.get("side_effect")
    if scenario.side_effect:
        notes.append("side_effect.yml runs when a test calls lab.converge('side_effect.yml')")
    if provisioner.get("env"):
        ansible["env"] = {str(k): str(v) for k, v in provisioner["env"].items()}
    if provisioner.get("config_options"):
        ansible["config"] = provisioner["config_options"]
    options = provisioner.get("options") or {}
    verbosity = max((len(k) for k in options if re.fullmatch(r"v+", str(k)) and options[k]),
                    default=0)  # fmt: skip
    if verbosity:
        ansible["verbosity"] = verbosity
    if options.get("diff"):
        ansible["diff"] = True
    for key in sorted(set(options) - {"diff"} - {k for k in options if re.fullmatch(r"v+", k)}):
        notes.append(f"provisioner option {key} is not carried")
    dependency = data.get("dependency") or {}
    dep_options = dependency.get("options") or {}
    requirements = dep_options.get("requirements-file") or dep_options.get("role-file")
    for candidate in ([folder / str(requirements)] if requirements else [
        folder / "requirements.yml", folder / "collections.yml"
    ]):  # fmt: skip
        if candidate.is_file():
            ansible["requirements"] = str(candidate)
            break
    for key in ("links", "hosts"):
        if (provisioner.get("inventory") or {}).get(key):
            notes.append(f"provisioner inventory {key} is not carried")
    return ansible


def write_lab_file(scenario: Scenario, target: Path) -> None:
    """The scenario as a ``dockerlab.yml`` at ``target``, paths relative to its folder,
    headed by what did not carry over."""
    lab = _relative(scenario.lab, target.parent)
    header = [f"# Converted from {scenario.path} by `dockerlab import-molecule`."]
    if scenario.verify:
        verify = os.path.relpath(scenario.verify, target.parent)
        header.append(f"# verify: call lab.converge({verify!r}) in a test.")
    header += [f"# not carried: {note}" for note in scenario.notes]
    target.write_text("\n".join(header) + "\n" + yaml.safe_dump(lab, sort_keys=False))


def _relative(value: Any, base: Path) -> Any:
    if isinstance(value, dict):
        return {k: _relative(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    if isinstance(value, str) and value.startswith("/") and Path(value).exists():
        return os.path.relpath(value, base)
    return value


# The scenario as test items


class ScenarioFile(pytest.File):
    """``molecule.yml`` under ``--dockerlab-molecule``: its converge, idempotence pass and
    verify playbook, each a test item."""

    scenario: Scenario
    hosts: tuple[str, ...]

    def collect(self) -> Iterator[pytest.Item]:
        yield pytest.Function.from_parent(self, name="converge", callobj=_converge)
        yield pytest.Function.from_parent(self, name="idempotence", callobj=_idempotence)
        if self.scenario.verify is not None:
            yield pytest.Function.from_parent(self, name="verify", callobj=_verify)


def _failures(current: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    names = current.lab.spec.host_names
    current.ensure(names)
    for name in names:
        if name in current.unavailable:
            pytest.skip(f"host {name}: {current.unavailable[name]}")
    return {n: current.setup_failures[n] for n in names if n in current.setup_failures}


def _converge(_dockerlab_lab: Any, request: pytest.FixtureRequest) -> None:
    """The scenario's converge: every platform converged."""
    failures = {
        n: e for n, e in _failures(_dockerlab_lab, request).items()
        if not isinstance(e, IdempotenceError)
    }  # fmt: skip
    if failures:
        error = next(iter(failures.values()))
        result = getattr(error, "result", None)
        if result is not None:
            request.node.add_report_section("call", "ansible output", result.output)
        pytest.fail(str(error), pytrace=False)


def _idempotence(_dockerlab_lab: Any, request: pytest.FixtureRequest) -> None:
    """The scenario's idempotence pass: the converge again changed nothing."""
    failures = _failures(_dockerlab_lab, request)
    changed = [e for e in failures.values() if isinstance(e, IdempotenceError)]
    if changed:
        pytest.fail(str(changed[0]), pytrace=False)
    if failures:
        pytest.skip("the converge failed: no idempotence pass")


def _verify(_dockerlab_lab: Any, request: pytest.FixtureRequest) -> None:
    """The scenario's verify.yml (Molecule's Ansible verifier) on every platform."""
    failures = _failures(_dockerlab_lab, request)
    if failures:
        pytest.skip("the converge failed: nothing to verify")
    scenario = request.node.parent.scenario
    result = _dockerlab_lab.converger.run(scenario.verify, list(_dockerlab_lab.lab.running))
    if not result.ok:
        request.node.add_report_section("call", "ansible output", result.output)
        pytest.fail(result.describe_failure(), pytrace=False)
