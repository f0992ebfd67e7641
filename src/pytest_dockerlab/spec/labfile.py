"""The lab file (``dockerlab.yml``): its sections read into a :class:`~.model.LabSpec`.

A host's container settings are :mod:`.container`'s; the line-keeping reader and the value
readers every section shares are :mod:`.yamlfile`'s.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import LabFileError
from .container import Published, parse_container
from .model import (
    DEFAULT_IMAGE,
    DNS_LABEL,
    DNS_LABEL_RULE,
    GROUP_NAME,
    HOST_LABEL,
    HOST_LABEL_RULE,
    MAX_VERBOSITY,
    RESERVED_GROUPS,
    AnsibleSpec,
    HostSpec,
    ImagesSpec,
    LabNetworkSpec,
    LabSpec,
    RunOptions,
    keys,
)
from .yamlfile import (
    KeyPath,
    YamlFile,
    ansible_variables,
    environment,
    existing_file,
    key_kind_of,
    kind_of,
    paths,
    strings,
)


def load_lab_file(path: Path | str, environ: Mapping[str, str] | None = None) -> LabSpec:
    """Read and check a lab file, its ``${VAR:-default}`` expanded from ``environ`` (this
    process's by default); every problem is a :class:`LabFileError` naming it."""
    doc = YamlFile(Path(path).resolve(), LabFileError)
    data = expand_variables(doc, (), doc.load(), os.environ if environ is None else environ)
    return _parse_lab(doc, data)


# ``${NAME}``, ``${NAME:-default}`` (unset or empty), ``${NAME-default}`` (unset), and
# ``$${`` for a literal ``${``: the braced forms of Molecule's and Compose's files only, so
# a ``$HOME`` meant for a shell in the container stays as written.
_VARIABLE = re.compile(r"\$\$\{|\$\{(?:(\w+)(?:(:?-)([^}]*))?)?\}?|\$\{[^}]*\}?")
# Ansible's variables are Jinja's and the play's, not this file's: left as written.
_NOT_EXPANDED = ("vars", "extra_vars")


def expand_variables(doc: YamlFile, at: KeyPath, value: Any, environ: Mapping[str, str]) -> Any:
    """``value`` with the environment variables of its strings expanded."""
    if isinstance(value, dict):
        named = at in (("hosts",), ("networks",))  # a host called vars is still a host
        return {
            key: item
            if key in _NOT_EXPANDED and not named
            else expand_variables(doc, (*at, key), item, environ)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [expand_variables(doc, (*at, i), item, environ) for i, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def one(match: re.Match[str]) -> str:
        if match[0] == "$${":
            return "${"
        name, how, default = match[1], match[2], match[3]
        if name is None or not match[0].endswith("}") or "${" in (default or ""):
            written = re.match(r"\$\{[^}]*\}?", value[match.start() :])
            token = written[0] if written else match[0]
            doc.fail(
                at,
                f"{token!r} is not a variable this file expands: write ${{NAME}}, "
                "${NAME:-default} or ${NAME-default} (no nesting, no :?)",
            )
        current = environ.get(name)
        if how == ":-":
            return current or default
        if how == "-":
            return default if current is None else current
        if current is None:
            doc.fail(at, f"${{{name}}} is not set: set it, or give a default: ${{{name}:-value}}")
        return current

    return _VARIABLE.sub(one, value)


def parse_lab(data: Any, path: Path) -> LabSpec:
    """Check an already loaded lab document and build the model (errors carry no line)."""
    return _parse_lab(YamlFile(Path(path), LabFileError), data)


def _parse_lab(doc: YamlFile, data: Any) -> LabSpec:
    if data is None:
        doc.fail_file("the file is empty; a lab needs a 'hosts' mapping of host name to settings")
    if not isinstance(data, dict):
        doc.fail((), f"the top level must be a mapping with a 'hosts' key, not {kind_of(data)}")
    doc.refuse_unknown((), data, keys(LabSpec))
    if "molecule" in data:
        # The lab is a Molecule scenario's: the plugin reads it from there.
        extra = sorted(set(data) - {"molecule"})
        if extra:
            doc.fail((extra[0],), "cannot be set beside 'molecule': the scenario says it")
        scenario = data["molecule"]
        if not isinstance(scenario, str) or not (doc.path.parent / scenario).is_dir():
            doc.fail(
                ("molecule",), f"must be a scenario folder (molecule/default), not {scenario!r}"
            )
        return LabSpec(path=doc.path, hosts={}, molecule=(doc.path.parent / scenario).resolve())
    if "hosts" not in data:
        doc.fail_file("no 'hosts': a lab needs a mapping of host name to settings")

    default_image = data.get("image", DEFAULT_IMAGE)
    if not isinstance(default_image, str) or not default_image:
        doc.fail(
            ("image",),
            f"must be an image name (the lab's default image), not {kind_of(default_image)}",
        )

    raw_hosts = data["hosts"]
    if not isinstance(raw_hosts, dict):
        doc.fail(
            ("hosts",), f"must be a mapping of host name to settings, not {kind_of(raw_hosts)}"
        )
    if not raw_hosts:
        doc.fail(("hosts",), "must name at least one host")
    root = doc.path.parent
    hosts: dict[str, HostSpec] = {}
    published: Published = {}
    for key, raw in raw_hosts.items():
        name = _host_name(doc, key)
        hosts[name] = _parse_host(doc, name, raw, default_image, root, published)

    networks = _parse_networks(doc, data.get("networks"), hosts)
    return LabSpec(
        path=doc.path,
        hosts=hosts,
        networks=networks,
        image=default_image,
        ansible=_parse_ansible(doc, root, data.get("ansible")),
        images=_parse_images(doc, root, data.get("images")),
    )


def _parse_networks(
    doc: YamlFile, raw: Any, hosts: Mapping[str, HostSpec]
) -> dict[str, LabNetworkSpec]:
    """The lab networks' settings, and the hosts' fixed addresses checked against them."""
    networks: dict[str, LabNetworkSpec] = {}
    if raw is not None and not isinstance(raw, dict):
        doc.fail(
            ("networks",), f"must be a mapping of network name to settings, not {kind_of(raw)}"
        )
    for name, settings in (raw or {}).items():
        at = ("networks", name)
        if not isinstance(name, str) or not DNS_LABEL.fullmatch(name):
            doc.fail(at, f"network name {name!r} is not a valid DNS label {DNS_LABEL_RULE}")
        section = doc.section(at, settings, keys(LabNetworkSpec), "settings must be a mapping")
        subnet = section.get("subnet", "")
        if subnet:
            try:
                net = ipaddress.IPv4Network(str(subnet))
            except ValueError as exc:
                doc.fail((*at, "subnet"), f"{subnet!r} is not an IPv4 subnet ({exc})")
            if net.num_addresses < 4:
                doc.fail((*at, "subnet"), f"{subnet} is too small for hosts")
        gateway = str(section.get("gateway", ""))
        if gateway:
            if not subnet:
                doc.fail((*at, "gateway"), "a gateway needs the network's subnet beside it")
            try:
                inside = ipaddress.IPv4Address(gateway) in ipaddress.IPv4Network(str(subnet))
            except ValueError:
                doc.fail((*at, "gateway"), f"{gateway!r} is not an IPv4 address")
            if not inside:
                doc.fail((*at, "gateway"), f"{gateway} is not in the subnet {subnet}")
        networks[name] = LabNetworkSpec(subnet=str(subnet), gateway=gateway)
    taken: dict[tuple[str, str], str] = {}  # (network, address) -> host
    for host in hosts.values():
        for index, network in enumerate(host.container.networks):
            if not network.ipv4_address:
                continue
            where = ("hosts", host.name, "networks", index, "ipv4_address")
            settings = networks.get(network.name, LabNetworkSpec())
            subnet = settings.subnet
            if not subnet:
                doc.fail(
                    where,
                    f"a fixed address needs the network's subnet: add networks: "
                    f"{{{network.name}: {{subnet: ...}}}} to the lab file",
                )
            address = ipaddress.IPv4Address(network.ipv4_address)
            usable = ipaddress.IPv4Network(subnet)
            first = usable.network_address + 1
            gateway_address = ipaddress.IPv4Address(settings.gateway) if settings.gateway else first
            if address not in usable or address in (usable.network_address,
                                                     usable.broadcast_address):  # fmt: skip
                doc.fail(where, f"{address} is no host address of {network.name}'s subnet {subnet}")
            if address == gateway_address:
                doc.fail(where, f"{address} is the gateway of {network.name}'s subnet {subnet}")
            other = taken.setdefault((network.name, str(address)), host.name)
            if other != host.name:
                doc.fail(where, f"{address} is {other}'s address on {network.name} already")
    return networks


def _host_name(doc: YamlFile, key: Any) -> str:
    if isinstance(key, str) and HOST_LABEL.fullmatch(key):
        return key
    at = ("hosts", key)
    text = doc.key_text(at)
    if not isinstance(key, str) and HOST_LABEL.fullmatch(text):
        doc.fail(
            ("hosts",),
            f"host name {text!r} is read by YAML as {key_kind_of(key)}; "
            f"quote it ({text!r}) or pick another name",
            at=at,
        )
    doc.fail(
        ("hosts",),
        f"host name {text!r} is not a valid host name {HOST_LABEL_RULE}",
        at=at,
    )


def _parse_host(
    doc: YamlFile,
    name: str,
    raw: Any,
    default_image: str,
    root: Path,
    published: Published,
) -> HostSpec:
    at = ("hosts", name)
    settings = doc.section(at, raw, keys(HostSpec), "settings must be a mapping")

    image = settings.get("image", default_image)
    if not isinstance(image, str) or not image:
        doc.fail((*at, "image"), f"must be an image name, not {kind_of(image)}")

    groups = strings(
        doc,
        (*at, "groups"),
        settings.get("groups", []),
        "a group name",
        "group names",
        lone_ok=True,
        null_ok=False,
    )
    for where, group in groups:
        if not GROUP_NAME.fullmatch(group) or group in RESERVED_GROUPS:
            doc.fail(
                where,
                f"{group!r} is not a usable Ansible group name (letters, digits, '_', '-' "
                "and '.'; not 'all' or 'ungrouped')",
            )

    privileged = settings.get("privileged", False)
    if not isinstance(privileged, bool):
        doc.fail((*at, "privileged"), f"must be true or false, not {kind_of(privileged)}")

    return HostSpec(
        name=name,
        image=image,
        groups=tuple(dict.fromkeys(group for _, group in groups)),
        vars=ansible_variables(doc, (*at, "vars"), settings.get("vars")),
        privileged=privileged,
        env=environment(doc, (*at, "env"), settings.get("env")),
        pinned="image" in settings,
        container=parse_container(doc, at, settings, root, published),
    )


def _parse_ansible(doc: YamlFile, root: Path, value: Any) -> AnsibleSpec:
    at = ("ansible",)
    raw = doc.section(at, value, keys(AnsibleSpec), "must be a mapping")
    stages = {
        stage: tuple(_playbook(doc, where, root, text) for where, text in paths(
            doc, (*at, stage), raw.get(stage)
        ))
        for stage in ("playbooks", "prepare", "cleanup")
    }  # fmt: skip
    roles = paths(doc, (*at, "roles_path"), raw.get("roles_path"))
    requirements = []
    for where, text in paths(doc, (*at, "requirements"), raw.get("requirements")):
        requirements.append(existing_file(doc, where, root, text))
        try:
            yaml.safe_load(requirements[-1].read_text())
        except yaml.YAMLError as exc:
            doc.fail(where, f"{requirements[-1]} does not parse: {exc}")
    flags = {"idempotence": False, "cache": True}
    for key, default in flags.items():
        flags[key] = raw.get(key, default)
        if not isinstance(flags[key], bool):
            doc.fail((*at, key), f"must be true or false, not {kind_of(flags[key])}")
    return AnsibleSpec(
        playbooks=stages["playbooks"],
        roles_path=tuple((root / text).resolve() for _, text in roles),
        extra_vars=ansible_variables(doc, (*at, "extra_vars"), raw.get("extra_vars")),
        idempotence=flags["idempotence"],
        cache=flags["cache"],
        prepare=stages["prepare"],
        cleanup=stages["cleanup"],
        requirements=tuple(requirements),
        cache_env=_names(doc, (*at, "cache_env"), raw.get("cache_env")),
        run=parse_run_options(doc, at, root, raw),
    )


def parse_run_options(doc: YamlFile, at: KeyPath, root: Path, raw: Mapping[str, Any]) -> RunOptions:
    """check, diff, tags, skip_tags, verbosity, vault_password_file, config and env."""
    flags = {}
    for key in ("check", "diff"):
        flags[key] = raw.get(key, False)
        if not isinstance(flags[key], bool):
            doc.fail((*at, key), f"must be true or false, not {kind_of(flags[key])}")
    tags = {
        key: tuple(text for _, text in strings(
            doc, (*at, key), raw.get(key), "a tag", "tags", lone_ok=True, null_ok=True
        ))
        for key in ("tags", "skip_tags")
    }  # fmt: skip
    verbosity = raw.get("verbosity", 0)
    in_range = isinstance(verbosity, int) and 0 <= verbosity <= MAX_VERBOSITY
    if isinstance(verbosity, bool) or not in_range:
        doc.fail(
            (*at, "verbosity"),
            f"must be a number from 0 to {MAX_VERBOSITY} (-v to -vvvvvv), not {verbosity!r}",
        )
    vault = None
    if raw.get("vault_password_file") is not None:
        vault = existing_file(doc, (*at, "vault_password_file"), root, raw["vault_password_file"])
    config: Path | dict[str, dict[str, Any]] | None = None
    value = raw.get("config")
    if isinstance(value, str):
        config = existing_file(doc, (*at, "config"), root, value)
    elif isinstance(value, dict):
        config = {}
        for section, settings in value.items():
            if not isinstance(settings, dict):
                doc.fail((*at, "config", section), "must be a mapping of ansible.cfg settings "
                         f"(e.g. defaults: {{forks: 10}}), not {kind_of(settings)}")  # fmt: skip
            config[str(section)] = {str(k): v for k, v in settings.items()}
    elif value is not None:
        doc.fail((*at, "config"), "must be an ansible.cfg path or a mapping of its sections, "
                 f"not {kind_of(value)}")  # fmt: skip
    return RunOptions(
        check=flags["check"],
        diff=flags["diff"],
        tags=tags["tags"],
        skip_tags=tags["skip_tags"],
        verbosity=verbosity,
        vault_password_file=vault,
        config=config,
        env=environment(doc, (*at, "env"), raw.get("env")),
    )


def _names(doc: YamlFile, keypath: KeyPath, value: Any) -> tuple[str, ...]:
    """Environment variable names (a list; null is none)."""
    names = strings(
        doc, keypath, value, "a variable name", "variable names", lone_ok=False, null_ok=True
    )
    for where, name in names:
        if "=" in name:
            doc.fail(where, f"{name!r} is not a usable environment variable name (no '=')")
    return tuple(dict.fromkeys(name for _, name in names))


def _playbook(doc: YamlFile, where: KeyPath, root: Path, text: str) -> Path:
    playbook = (root / text).resolve()
    if playbook.is_dir():
        doc.fail(where, f"{playbook} is a folder, not a playbook")
    if not playbook.is_file():
        doc.fail(where, f"playbook not found: {playbook}")
    return playbook


def _parse_images(doc: YamlFile, root: Path, value: Any) -> ImagesSpec:
    at = ("images",)
    raw = doc.section(at, value, keys(ImagesSpec), "must be a mapping")
    recipes = []
    if "recipes" in raw:
        for where, text in strings(
            doc,
            (*at, "recipes"),
            raw["recipes"],
            "a folder",
            "folders",
            lone_ok=False,
            null_ok=False,
        ):
            folder = (root / text).resolve()
            if not folder.exists():
                doc.fail(where, f"no such folder: {folder}")
            if not folder.is_dir():
                doc.fail(where, f"not a folder: {folder}")
            recipes.append(folder)
    matrix: list[str] = []
    if "matrix" in raw:
        images = strings(
            doc,
            (*at, "matrix"),
            raw["matrix"],
            "an image name",
            "image names",
            lone_ok=False,
            null_ok=False,
        )
        for where, name in images:
            if name in matrix:
                doc.fail(where, f"{name!r} is listed twice")
            matrix.append(name)
    return ImagesSpec(recipes=tuple(recipes), matrix=tuple(matrix))
