"""The lab model: what a ``dockerlab.yml`` describes, read and checked before anything starts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .exceptions import LabFileError

DEFAULT_IMAGE = "debian12"

# Host names become container hostnames and DNS names on the lab network, so they
# must be valid DNS labels; lower case keeps Ansible's inventory and DNS in agreement.
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_TOP_KEYS = {"hosts", "ansible", "images", "image"}
_HOST_KEYS = {"image", "groups", "vars", "privileged", "env"}


@dataclass(frozen=True)
class HostSpec:
    """One VM-like host of the lab."""

    name: str
    image: str = DEFAULT_IMAGE
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    privileged: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    pinned: bool = False  # the host names its own image: --dockerlab-image leaves it alone


@dataclass(frozen=True)
class LabSpec:
    """A whole lab file: its hosts in file order, and the raw sections later parts read."""

    path: Path
    hosts: Mapping[str, HostSpec]
    ansible: Mapping[str, Any] = field(default_factory=dict)
    images: Mapping[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The folder the lab file lives in; relative paths in it start here."""
        return self.path.parent

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(self.hosts)

    @property
    def matrix(self) -> tuple[str, ...]:
        """Images that tests are parametrized over (``images.matrix``), if any."""
        return tuple(str(i) for i in self.images.get("matrix") or ())

    def on_image(self, image: str) -> LabSpec:
        """The same lab with every host that does not pin an image on ``image``."""
        hosts = {
            name: host if host.pinned else replace(host, image=image)
            for name, host in self.hosts.items()
        }
        return replace(self, hosts=hosts)

    def images_used(self) -> set[str]:
        return {host.image for host in self.hosts.values()}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys instead of keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_lab_file(path: Path | str) -> LabSpec:
    """Read and validate a lab file; every problem is a :class:`LabFileError` naming it."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabFileError(path, "file not found") from None
    except OSError as exc:
        raise LabFileError(path, f"cannot read it: {exc.strerror or exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise LabFileError(path, f"not valid YAML: {_yaml_problem(exc)}") from exc
    return parse_lab(data, path)


def parse_lab(data: Any, path: Path) -> LabSpec:
    """Check the structure of an already loaded lab document and build the model."""
    if not isinstance(data, dict):
        raise LabFileError(path, "the top level must be a mapping with a 'hosts' key")
    _reject_unknown(path, "the top level", data, _TOP_KEYS)
    raw_hosts = data.get("hosts")
    if not isinstance(raw_hosts, dict) or not raw_hosts:
        raise LabFileError(path, "'hosts' must be a non-empty mapping of host name to settings")
    default_image = data.get("image", DEFAULT_IMAGE)
    if not isinstance(default_image, str) or not default_image:
        raise LabFileError(path, "'image' (the lab's default image) must be an image name")
    hosts = {
        str(name): _parse_host(path, name, spec, default_image) for name, spec in raw_hosts.items()
    }
    ansible = data.get("ansible") or {}
    if not isinstance(ansible, dict):
        raise LabFileError(path, "'ansible' must be a mapping")
    images = data.get("images") or {}
    if not isinstance(images, dict):
        raise LabFileError(path, "'images' must be a mapping")
    _reject_unknown(path, "images", images, {"recipes", "matrix"})
    for key in ("recipes", "matrix"):
        value = images.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise LabFileError(path, f"images.{key} must be a list of names")
    return LabSpec(path=path, hosts=hosts, ansible=ansible, images=images)


def _parse_host(path: Path, name: Any, raw: Any, default_image: str) -> HostSpec:
    if not isinstance(name, str) or not _HOST_NAME.match(name):
        raise LabFileError(
            path,
            f"host name {name!r} is not a valid DNS label "
            "(lower-case letters, digits and '-', at most 63 characters)",
        )
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise LabFileError(path, f"host {name!r}: settings must be a mapping, not {_kind(raw)}")
    _reject_unknown(path, f"host {name!r}", raw, _HOST_KEYS)

    image = raw.get("image", default_image)
    if not isinstance(image, str) or not image:
        raise LabFileError(path, f"host {name!r}: 'image' must be an image name")

    groups = raw.get("groups", [])
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise LabFileError(path, f"host {name!r}: 'groups' must be a list of group names")
    for group in groups:
        if not _GROUP_NAME.match(group) or group in {"all", "ungrouped"}:
            raise LabFileError(
                path,
                f"host {name!r}: {group!r} is not a usable Ansible group name "
                "(letters, digits and '_', not starting with a digit; not 'all' or 'ungrouped')",
            )

    host_vars = raw.get("vars", {}) or {}
    if not isinstance(host_vars, dict):
        raise LabFileError(path, f"host {name!r}: 'vars' must be a mapping")

    privileged = raw.get("privileged", False)
    if not isinstance(privileged, bool):
        raise LabFileError(path, f"host {name!r}: 'privileged' must be true or false")

    env = raw.get("env", {}) or {}
    if not isinstance(env, dict):
        raise LabFileError(path, f"host {name!r}: 'env' must be a mapping")

    return HostSpec(
        name=name,
        image=image,
        groups=tuple(dict.fromkeys(groups)),
        vars=dict(host_vars),
        privileged=privileged,
        env={str(k): str(v) for k, v in env.items()},
        pinned="image" in raw,
    )


def _reject_unknown(path: Path, where: str, raw: Mapping[Any, Any], allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise LabFileError(
            path,
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed))})",
        )


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)
