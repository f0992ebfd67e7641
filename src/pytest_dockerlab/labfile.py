"""The lab model and the recipe model: what ``dockerlab.yml`` and ``recipe.yml`` say, checked.

Both files are read by one YAML reader that remembers where each key was written, so every
complaint names the file, the line and the key path (``hosts.web.groups[1]``). The rules for
the lab file are also published as a JSON Schema (:func:`schema`) for editors; the unit tests
keep the two in agreement.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import json
import math
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .exceptions import LabFileError, RecipeFileError
from .init import INIT_NAMES

DEFAULT_IMAGE = "debian12"
_SCHEMA_PATH = Path(__file__).with_name("dockerlab.schema.json")

# Host names become container hostnames and DNS names on the lab network, so they
# must be valid DNS labels; lower case keeps Ansible's inventory and DNS in agreement.
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A recipe's folder name is its image's repository name: the engine takes only this form.
_IMAGE_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_GROUPS = ("all", "ungrouped")
_DNS_LABEL = "(lower-case letters, digits and '-', at most 63 characters)"

_TOP_KEYS = ("ansible", "hosts", "image", "images", "molecule")
# A host's container settings, named as Molecule's docker platforms name them.
_CONTAINER_KEYS = (
    "cap_drop",
    "capabilities",
    "command",
    "cpus",
    "etc_hosts",
    "memory",
    "networks",
    "pids_limit",
    "published_ports",
    "security_opts",
    "sysctls",
    "tmpfs",
    "ulimits",
    "volumes",
)
_HOST_KEYS = tuple(sorted(("env", "groups", "image", "privileged", "vars", *_CONTAINER_KEYS)))
_ANSIBLE_KEYS = (
    "cache", "check", "cleanup", "config", "diff", "env", "extra_vars", "idempotence",
    "playbooks", "prepare", "requirements", "roles_path", "skip_tags", "tags",
    "vault_password_file", "verbosity",
)  # fmt: skip
_IMAGES_KEYS = ("matrix", "recipes")
_RECIPE_KEYS = ("base", "bootstrap", "cgroup", "cgroup_reason", "dockerfile", "init", "python")
_CGROUP_VERSIONS = (1, 2)

_MERGE_TAG = "tag:yaml.org,2002:merge"

# A place in a YAML document: mapping keys as YAML read them, and list indices.
_KeyPath = tuple[Any, ...]
# Host ports published so far in a lab: (port, protocol) -> [(address, key path)].
_Published = dict[tuple[int, str], list[tuple[str, _KeyPath]]]

# Limits every host gets unless it sets its own. A fork bomb or a leak in a role under test
# stops at its host instead of taking the engine's machine down: 4096 tasks are far more than
# a systemd host with its services runs (threads count), 2 GiB more than most roles' services
# need. Fixed numbers, so a host behaves the same on a laptop and a CI runner. No CPU quota:
# the scheduler shares CPUs fairly, and a quota only makes boots slower on small machines.
DEFAULT_MEMORY = 2 * 1024**3
DEFAULT_PIDS_LIMIT = 4096
# The lab network of hosts that name none; a host's `networks` may name it too.
DEFAULT_NETWORK = "default"
# Where published ports listen unless an address is given: a lab's services (with their test
# passwords) stay off the network; write 0.0.0.0:8080:80 to publish on every interface.
DEFAULT_PUBLISH_ADDRESS = "127.0.0.1"

_MIN_MEMORY = 6 * 1024**2  # the engine refuses less
_MIN_CPUS = 0.01  # the engine's smallest share
_UNLIMITED = "unlimited"
_CAPABILITIES = (
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE",
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER",
    "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP",
    "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT",
    "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG",
    "WAKE_ALARM",
)  # fmt: skip
_SECURITY_OPTS = "apparmor=..., label=..., no-new-privileges, seccomp=..., systempaths=unconfined"
# Sysctls with a namespace of their own: the only ones the engine sets per container.
_SYSCTL_NAME = re.compile(
    r"net(\.[A-Za-z0-9_-]+)+|fs\.mqueue\.[a-z_]+"
    r"|kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)"
)
_SYSCTLS = (
    "net.<name>, fs.mqueue.<name>, kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, "
    "kernel.shmall, kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced"
)
_ULIMITS = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
    "rss", "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip
_NETWORK_KEYS = ("aliases", "name")
# A named volume (the engine's rule); any other source is a path, relative to the lab file.
_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PROPAGATION = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_BIND_MODES = ("ro", "rw", "z", "Z", *_PROPAGATION)
_VOLUME_MODES = ("ro", "rw", "z", "Z", "nocopy")
_TMPFS_FLAGS = (
    "ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime",
    "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "sync", "async",
)  # fmt: skip
_TMPFS_SETTINGS = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "huge", "mpol")
_CGROUP = Path("/sys/fs/cgroup")
# Mount points init needs as the engine and the run profile set them up.
_INIT_MOUNTS = {
    "/": "the host's root file system",
    "/dev": "the engine's /dev",
    "/proc": "the kernel's /proc",
    "/sys": "the kernel's /sys",
    "/run": "the tmpfs the run profile mounts for init",
}
_PROTOCOLS = ("tcp", "udp", "sctp")
_PORT_RANGE = r"[0-9]+(?:-[0-9]+)?"
_PUBLISHED_PORT = re.compile(
    rf"(?:(?:(\[[^\]]*\]|[^:\[\]]*):)?({_PORT_RANGE})?:)?({_PORT_RANGE})(?:/([a-z]+))?"
)
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kmgtp]?)i?b?", re.IGNORECASE)
_DNS_NAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


@dataclass(frozen=True)
class PublishedPort:
    """A port of a host, published on the engine's machine."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = DEFAULT_PUBLISH_ADDRESS
    host_port: int | None = None  # None: the engine picks a free port


@dataclass(frozen=True)
class Mount:
    """A volume of a host: one of the lab's named volumes, or a folder or file bound in."""

    source: str  # the volume's name, or an absolute path on the engine's machine
    target: str  # an absolute path in the host
    mode: str = "rw"  # as the engine takes it: "ro", "rw,z", "ro,rslave", ...
    named: bool = False


@dataclass(frozen=True)
class Ulimit:
    name: str  # "nofile", "nproc", ...
    soft: int  # -1: unlimited
    hard: int


@dataclass(frozen=True)
class NetworkSpec:
    """A lab network a host is on, and the extra names it answers to there."""

    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerSpec:
    """How a host's container runs, on top of the run profile that boots its init."""

    capabilities: tuple[str, ...] = ()  # added, without the CAP_ prefix
    cap_drop: tuple[str, ...] = ()
    security_opts: tuple[str, ...] = ()  # a seccomp profile file is given as its JSON
    tmpfs: Mapping[str, str] = field(default_factory=dict)  # mount point -> options
    volumes: tuple[Mount, ...] = ()
    published_ports: tuple[PublishedPort, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    networks: tuple[NetworkSpec, ...] = (NetworkSpec(DEFAULT_NETWORK),)  # never empty
    command: tuple[str, ...] = ()  # empty: the image's own command (its init)
    etc_hosts: Mapping[str, str] = field(default_factory=dict)  # name -> address
    ulimits: tuple[Ulimit, ...] = ()
    memory: int | None = DEFAULT_MEMORY  # bytes; None: no limit
    cpus: float | None = None  # None: every CPU
    pids_limit: int | None = DEFAULT_PIDS_LIMIT  # None: no limit

    @property
    def named_volumes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.source for m in self.volumes if m.named))

    def on_engine(
        self, network: Callable[[str], str], volume: Callable[[str], str]
    ) -> ContainerSpec:
        """The same settings with networks and named volumes under their engine names."""
        return replace(
            self,
            networks=tuple(replace(n, name=network(n.name)) for n in self.networks),
            volumes=tuple(
                replace(m, source=volume(m.source)) if m.named else m for m in self.volumes
            ),
        )


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
    container: ContainerSpec = field(default_factory=ContainerSpec)


@dataclass(frozen=True)
class AnsibleSpec:
    """The ``ansible:`` section, with paths resolved against the lab file's folder."""

    playbooks: tuple[Path, ...] = ()  # each an existing file, applied in order
    roles_path: tuple[Path, ...] = ()
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    idempotence: bool = False  # run the playbooks a second time after the session converge
    cache: bool = True  # the converge cache may hold this lab's converges
    prepare: tuple[Path, ...] = ()  # once after boot, before the converge; not idempotence-checked
    cleanup: tuple[Path, ...] = ()  # before the lab is removed
    requirements: tuple[Path, ...] = ()  # requirements.yml files: roles and collections
    run: RunOptions = field(default_factory=lambda: RunOptions())


@dataclass(frozen=True)
class RunOptions:
    """How ansible-playbook runs: what its command line and environment would say."""

    check: bool = False
    diff: bool = False
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    verbosity: int = 0
    vault_password_file: Path | None = None
    config: Path | Mapping[str, Mapping[str, Any]] | None = None  # ansible.cfg or its sections
    env: Mapping[str, str] = field(default_factory=dict)

    def shared(self) -> RunOptions:
        """What every run takes (config, env, vault, diff, verbosity); ``check``, ``tags``
        and ``skip_tags`` are the session converge's: a prepare, a cleanup, a verify or a
        test's ``lab.converge`` runs whole unless it says otherwise."""
        return replace(self, check=False, tags=(), skip_tags=())


@dataclass(frozen=True)
class ImagesSpec:
    """The ``images:`` section: users' recipe folders and the images tests run on."""

    recipes: tuple[Path, ...] = ()  # each an existing folder, resolved
    matrix: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabSpec:
    """A whole lab file: its hosts in file order, its Ansible settings and its images."""

    path: Path
    hosts: Mapping[str, HostSpec]
    ansible: AnsibleSpec = field(default_factory=AnsibleSpec)
    images: ImagesSpec = field(default_factory=ImagesSpec)
    molecule: Path | None = None  # a lab file that names a Molecule scenario, and no hosts

    @property
    def root(self) -> Path:
        """The folder the lab file lives in; relative paths in it start here."""
        return self.path.parent

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(self.hosts)

    def on_image(self, image: str) -> LabSpec:
        """The same lab with every host that does not pin an image on ``image``."""
        hosts = {
            name: host if host.pinned else replace(host, image=image)
            for name, host in self.hosts.items()
        }
        return replace(self, hosts=hosts)


@dataclass(frozen=True)
class RecipeSpec:
    """What an image recipe's ``recipe.yml`` says (the defaults where it is silent or absent)."""

    path: Path  # the recipe.yml, or where it would be
    init: str = "systemd"  # one of init.INIT_NAMES
    base: str = ""  # registry image the Dockerfile starts from, e.g. debian:12
    bootstrap: str = ""  # Debian suite to bootstrap offline instead, e.g. bookworm
    python: str = "/usr/bin/python3"
    cgroup: tuple[int, ...] = (1, 2)  # cgroup versions whose hosts can boot the image
    cgroup_reason: str = ""
    dockerfile: str = "Dockerfile"  # as written, relative to the recipe folder


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the lab file, as shipped for editors."""
    # Beside this module, like the recipes: importlib.resources cannot open files of a
    # namespace package (no __init__.py) on Python 3.9.
    loaded: dict[str, Any] = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def load_lab_file(path: Path | str) -> LabSpec:
    """Read and check a lab file; every problem is a :class:`LabFileError` naming it."""
    doc = _YamlFile(Path(path).resolve(), LabFileError)
    return _parse_lab(doc, doc.load())


def parse_lab(data: Any, path: Path) -> LabSpec:
    """Check an already loaded lab document and build the model (errors carry no line)."""
    return _parse_lab(_YamlFile(Path(path), LabFileError), data)


def load_recipe_spec(folder: Path) -> RecipeSpec:
    """Read and check ``folder/recipe.yml`` (the defaults if there is none).

    Every problem is a :class:`RecipeFileError`, including a Dockerfile that is not there.
    """
    folder = Path(folder)
    doc = _YamlFile(folder / "recipe.yml", RecipeFileError)
    if not _IMAGE_NAME.fullmatch(folder.name):
        doc.fail_file(
            f"the folder name {folder.name!r} is the image's name, and the engine cannot tag "
            "it: use lower-case letters and digits, with '.', '_' or '-' between them"
        )
    data = doc.load() if doc.path.exists() else None
    if data is None:
        settings: dict[Any, Any] = {}
    elif isinstance(data, dict):
        settings = data
        doc.refuse_unknown((), settings, _RECIPE_KEYS)
    else:
        doc.fail((), f"the top level must be a mapping of recipe settings, not {_kind(data)}")

    init = settings.get("init", "systemd")
    if not isinstance(init, str) or init not in INIT_NAMES:
        got = repr(init) if isinstance(init, str) and init else _kind(init)
        doc.fail(("init",), f"must be one of {', '.join(INIT_NAMES)}, not {got}")

    dockerfile = _recipe_text(doc, settings, "dockerfile", "Dockerfile", "a path", empty_ok=False)
    target = (folder / dockerfile).resolve()
    if not target.is_file():
        if "dockerfile" not in settings:
            doc.fail_file(
                f"no Dockerfile at {target}; add one, or name another in recipe.yml "
                "with 'dockerfile:'"
            )
        doc.fail(
            ("dockerfile",), f"{'not a file' if target.exists() else 'no such file'}: {target}"
        )

    return RecipeSpec(
        path=doc.path,
        init=init,
        base=_recipe_text(doc, settings, "base", "", "an image name"),
        bootstrap=_recipe_text(doc, settings, "bootstrap", "", "a Debian suite name"),
        python=_recipe_text(doc, settings, "python", "/usr/bin/python3", "a path", empty_ok=False),
        cgroup=_cgroup_versions(doc, settings.get("cgroup", list(_CGROUP_VERSIONS))),
        cgroup_reason=_recipe_text(doc, settings, "cgroup_reason", "", "a string"),
        dockerfile=dockerfile,
    )


class _YamlFile:
    """A YAML file being checked: where each key path of it was written, and how.

    ``lines`` maps a key path to the line of its key (or list item); ``key_texts`` and
    ``value_texts`` keep scalars as written, so ``on:`` is reported as ``on``, not ``True``.
    Without a loaded file (:func:`parse_lab`) they are empty and errors carry no line.
    """

    def __init__(self, path: Path, error: type[LabFileError] | type[RecipeFileError]) -> None:
        self.path = path
        self.error = error
        self.lines: dict[_KeyPath, int] = {}
        self.key_texts: dict[_KeyPath, str] = {}
        self.value_texts: dict[_KeyPath, str] = {}

    def load(self) -> Any:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise self.error(self.path, "file not found") from None
        except OSError as exc:
            raise self.error(self.path, f"cannot read it: {exc.strerror or exc}") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(
                self.path,
                f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded; "
                "save the file as UTF-8",
                raw.count(b"\n", 0, exc.start) + 1,
            ) from exc
        try:
            return self._construct(text)
        except yaml.YAMLError as exc:
            problem, line = _yaml_problem(exc, text)
            raise self.error(self.path, f"not valid YAML: {problem}", line) from exc
        except RecursionError:
            # PyYAML reads nested lists and mappings recursively.
            raise self.error(self.path, "lists or mappings nested too deeply to read") from None

    def _construct(self, text: str) -> Any:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            self.lines[()] = node.start_mark.line + 1
            self._index(loader, node, (), set())
            return loader.construct_document(node)
        finally:
            loader.dispose()

    def _index(self, loader: yaml.SafeLoader, node: Node, path: _KeyPath, seen: set[int]) -> None:
        """Record lines and texts under ``node``; refuse a key written twice in one mapping."""
        if id(node) in seen:
            return  # an alias: its keys were indexed where its anchor is
        if isinstance(node, MappingNode):
            seen.add(id(node))
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                # Keys merged in with '<<' are indexed where they are written; a key that is a
                # list or a mapping is refused when the document is constructed.
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in first:
                    raise self.error(
                        self.path,
                        self._message(
                            path, f"duplicate key {key_node.value!r} (first on line {first[key]})"
                        ),
                        line,
                    )
                first[key] = line
                here = (*path, key)
                self.lines[here] = line
                self.key_texts[here] = key_node.value
                self._index_value(loader, value_node, here, seen)
        elif isinstance(node, SequenceNode):
            seen.add(id(node))
            for index, item in enumerate(node.value):
                here = (*path, index)
                self.lines[here] = item.start_mark.line + 1
                self._index_value(loader, item, here, seen)

    def _index_value(
        self, loader: yaml.SafeLoader, node: Node, here: _KeyPath, seen: set[int]
    ) -> None:
        if isinstance(node, ScalarNode):
            self.value_texts[here] = node.value
        else:
            self._index(loader, node, here, seen)

    def line(self, keypath: _KeyPath) -> int | None:
        """The line of ``keypath``, or of its nearest ancestor that has one."""
        for end in range(len(keypath), -1, -1):
            line = self.lines.get(keypath[:end])
            if line is not None:
                return line
        return None

    def key_text(self, keypath: _KeyPath) -> str:
        """The last key of ``keypath`` as written in the file."""
        text = self.key_texts.get(keypath)
        return _as_written(keypath[-1]) if text is None else text

    def fail(self, keypath: _KeyPath, problem: str, *, at: _KeyPath | None = None) -> NoReturn:
        """Raise the file's error about ``keypath``, on the line of ``at`` (default: keypath)."""
        line = self.line(keypath if at is None else at)
        raise self.error(self.path, self._message(keypath, problem), line)

    def fail_file(self, problem: str) -> NoReturn:
        raise self.error(self.path, problem)

    @staticmethod
    def _message(keypath: _KeyPath, problem: str) -> str:
        where = _path_text(keypath)
        return f"{where}: {problem}" if where else problem

    def section(
        self, keypath: _KeyPath, value: Any, allowed: tuple[str, ...], what: str
    ) -> dict[Any, Any]:
        """A mapping of known keys (empty when the value is null)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(keypath, f"{what}, not {_kind(value)}")
        self.refuse_unknown(keypath, value, allowed)
        return value

    def refuse_unknown(
        self, keypath: _KeyPath, mapping: Mapping[Any, Any], allowed: tuple[str, ...]
    ) -> None:
        unknown = [key for key in mapping if key not in allowed]
        if not unknown:
            return
        names = ", ".join(repr(self.key_text((*keypath, key))) for key in unknown)
        plural = "s" if len(unknown) > 1 else ""
        top = "" if keypath else " at the top level"
        self.fail(
            keypath,
            f"unknown key{plural} {names}{top} (allowed: {', '.join(allowed)})",
            at=(*keypath, unknown[0]),
        )


def _parse_lab(doc: _YamlFile, data: Any) -> LabSpec:
    if data is None:
        doc.fail_file("the file is empty; a lab needs a 'hosts' mapping of host name to settings")
    if not isinstance(data, dict):
        doc.fail((), f"the top level must be a mapping with a 'hosts' key, not {_kind(data)}")
    doc.refuse_unknown((), data, _TOP_KEYS)
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
            f"must be an image name (the lab's default image), not {_kind(default_image)}",
        )

    raw_hosts = data["hosts"]
    if not isinstance(raw_hosts, dict):
        doc.fail(("hosts",), f"must be a mapping of host name to settings, not {_kind(raw_hosts)}")
    if not raw_hosts:
        doc.fail(("hosts",), "must name at least one host")
    root = doc.path.parent
    hosts: dict[str, HostSpec] = {}
    published: _Published = {}
    for key, raw in raw_hosts.items():
        name = _host_name(doc, key)
        hosts[name] = _parse_host(doc, name, raw, default_image, root, published)

    return LabSpec(
        path=doc.path,
        hosts=hosts,
        ansible=_parse_ansible(doc, root, data.get("ansible")),
        images=_parse_images(doc, root, data.get("images")),
    )


def _host_name(doc: _YamlFile, key: Any) -> str:
    if isinstance(key, str) and _HOST_NAME.fullmatch(key):
        return key
    at = ("hosts", key)
    text = doc.key_text(at)
    if not isinstance(key, str) and _HOST_NAME.fullmatch(text):
        doc.fail(
            ("hosts",),
            f"host name {text!r} is read by YAML as {_key_kind(key)}; "
            f"quote it ({text!r}) or pick another name",
            at=at,
        )
    doc.fail(
        ("hosts",),
        f"host name {text!r} is not a valid DNS label {_DNS_LABEL}",
        at=at,
    )


def _parse_host(
    doc: _YamlFile,
    name: str,
    raw: Any,
    default_image: str,
    root: Path,
    published: _Published,
) -> HostSpec:
    at = ("hosts", name)
    settings = doc.section(at, raw, _HOST_KEYS, "settings must be a mapping")

    image = settings.get("image", default_image)
    if not isinstance(image, str) or not image:
        doc.fail((*at, "image"), f"must be an image name, not {_kind(image)}")

    groups = _strings(
        doc,
        (*at, "groups"),
        settings.get("groups", []),
        "a group name",
        "group names",
        lone_ok=True,
        null_ok=False,
    )
    for where, group in groups:
        if not _GROUP_NAME.fullmatch(group) or group in _RESERVED_GROUPS:
            doc.fail(
                where,
                f"{group!r} is not a usable Ansible group name (letters, digits and '_', "
                "not starting with a digit; not 'all' or 'ungrouped')",
            )

    privileged = settings.get("privileged", False)
    if not isinstance(privileged, bool):
        doc.fail((*at, "privileged"), f"must be true or false, not {_kind(privileged)}")

    return HostSpec(
        name=name,
        image=image,
        groups=tuple(dict.fromkeys(group for _, group in groups)),
        vars=_ansible_variables(doc, (*at, "vars"), settings.get("vars")),
        privileged=privileged,
        env=_environment(doc, (*at, "env"), settings.get("env")),
        pinned="image" in settings,
        container=_parse_container(doc, at, settings, root, published),
    )


def _parse_ansible(doc: _YamlFile, root: Path, value: Any) -> AnsibleSpec:
    at = ("ansible",)
    raw = doc.section(at, value, _ANSIBLE_KEYS, "must be a mapping")
    stages = {
        stage: tuple(_playbook(doc, where, root, text) for where, text in _paths(
            doc, (*at, stage), raw.get(stage)
        ))
        for stage in ("playbooks", "prepare", "cleanup")
    }  # fmt: skip
    roles = _paths(doc, (*at, "roles_path"), raw.get("roles_path"))
    requirements = []
    for where, text in _paths(doc, (*at, "requirements"), raw.get("requirements")):
        requirements.append(_existing_file(doc, where, root, text))
        try:
            yaml.safe_load(requirements[-1].read_text())
        except yaml.YAMLError as exc:
            doc.fail(where, f"{requirements[-1]} does not parse: {exc}")
    flags = {"idempotence": False, "cache": True}
    for key, default in flags.items():
        flags[key] = raw.get(key, default)
        if not isinstance(flags[key], bool):
            doc.fail((*at, key), f"must be true or false, not {_kind(flags[key])}")
    return AnsibleSpec(
        playbooks=stages["playbooks"],
        roles_path=tuple((root / text).resolve() for _, text in roles),
        extra_vars=_ansible_variables(doc, (*at, "extra_vars"), raw.get("extra_vars")),
        idempotence=flags["idempotence"],
        cache=flags["cache"],
        prepare=stages["prepare"],
        cleanup=stages["cleanup"],
        requirements=tuple(requirements),
        run=parse_run_options(doc, at, root, raw),
    )


def parse_run_options(
    doc: _YamlFile, at: _KeyPath, root: Path, raw: Mapping[str, Any]
) -> RunOptions:
    """check, diff, tags, skip_tags, verbosity, vault_password_file, config and env."""
    flags = {}
    for key in ("check", "diff"):
        flags[key] = raw.get(key, False)
        if not isinstance(flags[key], bool):
            doc.fail((*at, key), f"must be true or false, not {_kind(flags[key])}")
    tags = {
        key: tuple(text for _, text in _strings(
            doc, (*at, key), raw.get(key), "a tag", "tags", lone_ok=True, null_ok=True
        ))
        for key in ("tags", "skip_tags")
    }  # fmt: skip
    verbosity = raw.get("verbosity", 0)
    if isinstance(verbosity, bool) or not isinstance(verbosity, int) or not 0 <= verbosity <= 6:
        doc.fail(
            (*at, "verbosity"), f"must be a number from 0 to 6 (-v to -vvvvvv), not {verbosity!r}"
        )
    vault = None
    if raw.get("vault_password_file") is not None:
        vault = _existing_file(doc, (*at, "vault_password_file"), root, raw["vault_password_file"])
    config: Path | dict[str, dict[str, Any]] | None = None
    value = raw.get("config")
    if isinstance(value, str):
        config = _existing_file(doc, (*at, "config"), root, value)
    elif isinstance(value, dict):
        config = {}
        for section, settings in value.items():
            if not isinstance(settings, dict):
                doc.fail((*at, "config", section), "must be a mapping of ansible.cfg settings "
                         f"(e.g. defaults: {{forks: 10}}), not {_kind(settings)}")  # fmt: skip
            config[str(section)] = {str(k): v for k, v in settings.items()}
    elif value is not None:
        doc.fail((*at, "config"), "must be an ansible.cfg path or a mapping of its sections, "
                 f"not {_kind(value)}")  # fmt: skip
    return RunOptions(
        check=flags["check"],
        diff=flags["diff"],
        tags=tags["tags"],
        skip_tags=tags["skip_tags"],
        verbosity=verbosity,
        vault_password_file=vault,
        config=config,
        env=_environment(doc, (*at, "env"), raw.get("env")),
    )


def _playbook(doc: _YamlFile, where: _KeyPath, root: Path, text: str) -> Path:
    playbook = (root / text).resolve()
    if playbook.is_dir():
        doc.fail(where, f"{playbook} is a folder, not a playbook")
    if not playbook.is_file():
        doc.fail(where, f"playbook not found: {playbook}")
    return playbook


def _existing_file(doc: _YamlFile, where: _KeyPath, root: Path, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        doc.fail(where, f"must be a path, not {_kind(value)}")
    path = (root / value).resolve()
    if not path.is_file():
        doc.fail(where, f"file not found: {path}")
    return path


def _parse_images(doc: _YamlFile, root: Path, value: Any) -> ImagesSpec:
    at = ("images",)
    raw = doc.section(at, value, _IMAGES_KEYS, "must be a mapping")
    recipes = []
    if "recipes" in raw:
        for where, text in _strings(
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
        images = _strings(
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


def _strings(
    doc: _YamlFile,
    keypath: _KeyPath,
    value: Any,
    one: str,
    many: str,
    *,
    lone_ok: bool,
    null_ok: bool,
) -> list[tuple[_KeyPath, str]]:
    """The non-empty strings of a list (or, if ``lone_ok``, of a lone string), with key paths."""
    if value is None and null_ok:
        return []
    if lone_ok and isinstance(value, str):
        items = [(keypath, value)]
    elif isinstance(value, list):
        items = [((*keypath, index), item) for index, item in enumerate(value)]
    else:
        doc.fail(keypath, f"must be a list of {many}, not {_kind(value)}")
    for where, item in items:
        if not isinstance(item, str) or not item:
            doc.fail(where, f"must be {one}, not {_kind(item)}")
    return items


def _paths(doc: _YamlFile, keypath: _KeyPath, value: Any) -> list[tuple[_KeyPath, str]]:
    """A path or a list of paths (null is none), as written."""
    return _strings(doc, keypath, value, "a path", "paths", lone_ok=True, null_ok=True)


def _variables(
    doc: _YamlFile,
    keypath: _KeyPath,
    value: Any,
    names: str = "variable name",
    values: str = "value",
) -> dict[str, Any]:
    """A mapping of names (strings) to any value; null is none."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        doc.fail(keypath, f"must be a mapping of {names} to {values}, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            text = doc.key_text((*keypath, key))
            doc.fail(
                keypath,
                f"{names} {text!r} is read by YAML as {_key_kind(key)}; "
                "quote it or pick another name",
                at=(*keypath, key),
            )
    return dict(value)


def _ansible_variables(doc: _YamlFile, keypath: _KeyPath, value: Any) -> dict[str, Any]:
    variables = _variables(doc, keypath, value)
    _check_passable(doc, keypath, value, ())
    return variables


def _check_passable(doc: _YamlFile, keypath: _KeyPath, value: Any, within: tuple[int, ...]) -> None:
    """Refuse what cannot reach Ansible: ansible-runner hands variables over as JSON."""
    if isinstance(value, (dict, list)):
        if id(value) in within:
            doc.fail(keypath, "refers to itself through a YAML alias; Ansible cannot be given it")
        within = (*within, id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            here = (*keypath, key)
            if isinstance(key, (datetime.date, bytes)):
                text = doc.key_text(here)
                doc.fail(
                    keypath,
                    f"variable name {text!r} is read by YAML as {_kind(key)}; "
                    "quote it or pick another name",
                    at=here,
                )
            _check_passable(doc, here, item, within)
    elif isinstance(value, (datetime.date, bytes, set)):
        problem = f"{_kind(value)} cannot be handed to Ansible"
        written = doc.value_texts.get(keypath)
        if written and isinstance(value, datetime.date):
            problem += f"; quote it ({written!r}) to pass it as written"
        doc.fail(keypath, problem)


def _environment(doc: _YamlFile, keypath: _KeyPath, value: Any) -> dict[str, str]:
    env = {}
    for key, item in _variables(doc, keypath, value).items():
        here = (*keypath, key)
        if not key or "=" in key:
            doc.fail(
                keypath,
                f"{key!r} is not a usable environment variable name (not empty, no '=')",
                at=here,
            )
        env[key] = _text_value(doc, here, item)
    return env


def _text_value(doc: _YamlFile, keypath: _KeyPath, value: Any) -> str:
    """A string or a number, as text; what YAML read as a boolean or null is refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problem = f"must be a string or a number, not {_kind(value)}"
        text = doc.value_texts.get(keypath)
        if text:
            problem += f"; quote it ({text!r}) to pass it as written"
        doc.fail(keypath, problem)
    return str(value)


# A host's container settings


def _parse_container(
    doc: _YamlFile,
    at: _KeyPath,
    settings: Mapping[Any, Any],
    root: Path,
    published: _Published,
) -> ContainerSpec:
    added = _capabilities(doc, (*at, "capabilities"), settings.get("capabilities"))
    dropped = _capabilities(doc, (*at, "cap_drop"), settings.get("cap_drop"))
    for where, name in dropped:
        if name in {added_name for _, added_name in added}:
            doc.fail(where, f"{name} is also in capabilities: add it or drop it, not both")
    targets: dict[str, _KeyPath] = {}  # mount point -> where it is mounted
    tmpfs = _tmpfs(doc, (*at, "tmpfs"), settings.get("tmpfs"), targets)
    volumes = _volumes(doc, (*at, "volumes"), settings.get("volumes"), root, targets)
    chosen: dict[str, Any] = {}  # the settings whose default is not "none"
    if "networks" in settings:
        chosen["networks"] = _networks(doc, (*at, "networks"), settings["networks"])
    if "command" in settings:
        chosen["command"] = _command(doc, (*at, "command"), settings["command"])
    if "memory" in settings:
        chosen["memory"] = _memory(doc, (*at, "memory"), settings["memory"])
    if "cpus" in settings:
        chosen["cpus"] = _cpus(doc, (*at, "cpus"), settings["cpus"])
    if "pids_limit" in settings:
        chosen["pids_limit"] = _pids_limit(doc, (*at, "pids_limit"), settings["pids_limit"])
    return ContainerSpec(
        capabilities=tuple(dict.fromkeys(name for _, name in added)),
        cap_drop=tuple(dict.fromkeys(name for _, name in dropped)),
        security_opts=_security_opts(
            doc, (*at, "security_opts"), settings.get("security_opts"), root
        ),
        tmpfs=tmpfs,
        volumes=volumes,
        published_ports=_published_ports(
            doc, (*at, "published_ports"), settings.get("published_ports"), published
        ),
        sysctls=_sysctls(doc, (*at, "sysctls"), settings.get("sysctls")),
        etc_hosts=_etc_hosts(doc, (*at, "etc_hosts"), settings.get("etc_hosts")),
        ulimits=_ulimits(doc, (*at, "ulimits"), settings.get("ulimits")),
        **chosen,
    )


def _capabilities(doc: _YamlFile, keypath: _KeyPath, value: Any) -> list[tuple[_KeyPath, str]]:
    """Capability names as the engine takes them (no CAP_ prefix), with their key paths."""
    found = []
    for where, text in _strings(
        doc, keypath, value, "a capability", "capabilities", lone_ok=False, null_ok=True
    ):
        name = text[4:] if text.startswith("CAP_") else text
        if name != "ALL" and name not in _CAPABILITIES:
            upper = name.upper()
            upper = upper[4:] if upper.startswith("CAP_") else upper
            if upper == "ALL" or upper in _CAPABILITIES:
                hint = f"; write it in capitals: {upper}"
            else:
                close = difflib.get_close_matches(upper, _CAPABILITIES, n=1)
                hint = f"; did you mean {close[0]}?" if close else " (see capabilities(7))"
            doc.fail(where, f"{text!r} is not a Linux capability{hint}")
        found.append((where, name))
    return found


def _security_opts(doc: _YamlFile, keypath: _KeyPath, value: Any, root: Path) -> tuple[str, ...]:
    opts = []
    for where, text in _strings(
        doc, keypath, value, "a security option", "security options", lone_ok=False, null_ok=True
    ):
        match = re.fullmatch(r"([a-z-]+)(?:[=:](.*))?", text, re.DOTALL)
        key, setting = (match[1], match[2]) if match else ("", None)
        if key == "seccomp" and setting:
            opts.append(_seccomp(doc, where, setting, root))
        elif (
            (key == "no-new-privileges" and setting in (None, "true", "false"))
            or (key in ("apparmor", "label") and setting)
            or (key == "systempaths" and setting == "unconfined")
        ):
            opts.append(text)
        else:
            doc.fail(
                where, f"{text!r} is not a security option the engine knows ({_SECURITY_OPTS})"
            )
    return tuple(opts)


def _seccomp(doc: _YamlFile, where: _KeyPath, setting: str, root: Path) -> str:
    """``seccomp=...`` as the engine takes it: a profile file is handed over as its JSON."""
    if setting in ("unconfined", "builtin") or setting.lstrip().startswith("{"):
        return f"seccomp={setting}"
    path = (root / setting).resolve()
    if not path.is_file():
        doc.fail(where, f"{'not a file' if path.exists() else 'no such file'}: {path}")
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        doc.fail(where, f"{path} is not a JSON seccomp profile: {exc}")
    return "seccomp=" + json.dumps(profile, separators=(",", ":"))


def _tmpfs(
    doc: _YamlFile, keypath: _KeyPath, value: Any, targets: dict[str, _KeyPath]
) -> dict[str, str]:
    mounts = {}
    for where, text in _strings(
        doc,
        keypath,
        value,
        "a mount point (/path or /path:options)",
        "mount points",
        lone_ok=False,
        null_ok=True,
    ):
        path, _, options = text.partition(":")
        for option in filter(None, options.split(",")):
            name, equals, _ = option.partition("=")
            if option not in _TMPFS_FLAGS and not (equals and name in _TMPFS_SETTINGS):
                settings = ", ".join(f"{setting}=" for setting in _TMPFS_SETTINGS)
                doc.fail(
                    where,
                    f"{option!r} is not a tmpfs option ({settings}; or {', '.join(_TMPFS_FLAGS)})",
                )
        mounts[_mount_point(doc, where, path, targets)] = options
    return mounts


def _volumes(
    doc: _YamlFile, keypath: _KeyPath, value: Any, root: Path, targets: dict[str, _KeyPath]
) -> tuple[Mount, ...]:
    mounts = []
    sources: dict[str, _KeyPath] = {}
    for where, text in _strings(
        doc,
        keypath,
        value,
        "a volume (source:/path or source:/path:mode)",
        "volumes",
        lone_ok=False,
        null_ok=True,
    ):
        parts = text.split(":")
        if len(parts) == 1 or not parts[0]:
            doc.fail(
                where,
                f"{text!r} names no source: write NAME:/path for a named volume of the lab, "
                "or PATH:/path to bind a file or folder in",
            )
        if len(parts) > 3:
            doc.fail(where, f"{text!r} is not source:/path or source:/path:mode")
        source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"
        target = _mount_point(doc, where, target, targets)
        named = bool(_VOLUME_NAME.fullmatch(source))
        if not named:
            path = (root / source).resolve()
            if path == _CGROUP or _CGROUP in path.parents:
                doc.fail(
                    where,
                    f"{path}: how the cgroup file system reaches init is the run profile's "
                    "business; drop this volume",
                )
            if not path.exists():
                doc.fail(where, f"no such file or folder: {path}")
            source = str(path)
        _mount_mode(doc, where, mode, named)
        if source in sources:
            also = _path_text(sources[source][2:])
            doc.fail(where, f"{parts[0]!r} is mounted twice in this host (also {also})")
        sources[source] = where
        mounts.append(Mount(source=source, target=target, mode=mode, named=named))
    return tuple(mounts)


def _mount_mode(doc: _YamlFile, where: _KeyPath, mode: str, named: bool) -> None:
    allowed = _VOLUME_MODES if named else _BIND_MODES
    options = mode.split(",")
    for option in options:
        if option not in allowed:
            kind = "a named volume" if named else "a bind mount"
            doc.fail(where, f"{option!r} is not a mode of {kind} ({', '.join(allowed)})")
    for exclusive in (("ro", "rw"), ("z", "Z"), _PROPAGATION):
        both = [option for option in options if option in exclusive]
        if len(both) > 1:
            doc.fail(where, f"mode {mode!r} says both {both[0]} and {both[1]}")


def _mount_point(doc: _YamlFile, where: _KeyPath, path: str, targets: dict[str, _KeyPath]) -> str:
    """An absolute path in the host where init's own file systems are not, mounted once."""
    if not path.startswith("/"):
        doc.fail(where, f"the mount point {path!r} must be an absolute path in the host")
    target = "/" + posixpath.normpath(path).lstrip("/")
    if target == str(_CGROUP) or target.startswith(f"{_CGROUP}/"):
        doc.fail(
            where,
            f"{target}: the run profile gives init the cgroup file system there (a Molecule "
            "scenario's /sys/fs/cgroup volume is not needed); drop this mount",
        )
    tree = next((t for t in ("/proc", "/sys") if target.startswith(f"{t}/")), target)
    if tree in _INIT_MOUNTS:
        inside = "in" if tree != target else "is"
        doc.fail(
            where, f"{target} {inside} {_INIT_MOUNTS[tree]}, which init needs; mount elsewhere"
        )
    if target in targets:
        doc.fail(
            where,
            f"{target} is mounted twice in this host (also {_path_text(targets[target][2:])})",
        )
    targets[target] = where
    return target


def _published_ports(
    doc: _YamlFile,
    keypath: _KeyPath,
    value: Any,
    published: _Published,
) -> tuple[PublishedPort, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        doc.fail(keypath, f"must be a list of ports ('8080:80', '9000/udp'), not {_kind(value)}")
    ports: list[PublishedPort] = []
    for index, item in enumerate(value):
        where = (*keypath, index)
        written = doc.value_texts.get(where, "")
        if isinstance(item, int) and not isinstance(item, bool) and ":" in written:
            doc.fail(
                where,
                f"YAML reads {written} as the number {item} (base 60); quote it ('{written}')",
            )
        if isinstance(item, bool) or not isinstance(item, (int, str)) or item == "":
            doc.fail(where, f"must be a port ('8080:80', '9000/udp', 80), not {_kind(item)}")
        for port in _published_port(doc, where, str(item)):
            if port.host_port is not None:
                for address, other in published.get((port.host_port, port.protocol), []):
                    if _WILDCARD & {address, port.host_ip} or address == port.host_ip:
                        doc.fail(
                            where,
                            f"{_address(port.host_ip)}:{port.host_port}/{port.protocol} is "
                            f"published twice (also {_path_text(other)})",
                        )
                published.setdefault((port.host_port, port.protocol), []).append(
                    (port.host_ip, where)
                )
            ports.append(port)
    return tuple(ports)


_WILDCARD = {"0.0.0.0", "::"}


def _address(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _published_port(doc: _YamlFile, where: _KeyPath, text: str) -> list[PublishedPort]:
    """``[ADDRESS:][HOST_PORT:]PORT[/PROTOCOL]``; ranges of the same length map port to port."""
    match = _PUBLISHED_PORT.fullmatch(text)
    if not match:
        doc.fail(
            where,
            f"{text!r} is not a port to publish: write [ADDRESS:][HOST_PORT:]PORT[/PROTOCOL], "
            "as in 80, 8080:80, 127.0.0.1:8080:80/udp or [::1]:8080:80",
        )
    address, host, container, protocol = match.groups()
    protocol = protocol or "tcp"
    if protocol not in _PROTOCOLS:
        doc.fail(where, f"{protocol!r} is not a protocol ({', '.join(_PROTOCOLS)})")
    ip = DEFAULT_PUBLISH_ADDRESS
    address = (address or "").strip("[]")
    if address:
        try:
            ip = str(ipaddress.ip_address(address))
        except ValueError:
            doc.fail(where, f"{address!r} is not an IP address")
    inside = _port_range(doc, where, container)
    if not host:
        return [PublishedPort(port, protocol, ip) for port in inside]
    outside = _port_range(doc, where, host)
    if len(outside) != len(inside):
        doc.fail(
            where,
            f"{text!r} maps {len(outside)} ports of the engine's machine to {len(inside)} "
            "of the host; give ranges of the same length",
        )
    return [PublishedPort(p, protocol, ip, h) for p, h in zip(inside, outside, strict=True)]


def _port_range(doc: _YamlFile, where: _KeyPath, text: str) -> list[int]:
    first, _, last = text.partition("-")
    low, high = int(first), int(last or first)
    if not 1 <= low <= high <= 65535:
        doc.fail(where, f"{text!r} is not a port or a range of ports (1-65535, low-high)")
    return list(range(low, high + 1))


def _sysctls(doc: _YamlFile, keypath: _KeyPath, value: Any) -> dict[str, str]:
    sysctls = _variables(doc, keypath, value, "sysctl name")
    for name in sysctls:
        if not _SYSCTL_NAME.fullmatch(name):
            doc.fail(
                keypath,
                f"{name!r} cannot be set in one container: the engine sets only sysctls with "
                f"a namespace of their own ({_SYSCTLS})",
                at=(*keypath, name),
            )
    return {name: _text_value(doc, (*keypath, name), item) for name, item in sysctls.items()}


def _etc_hosts(doc: _YamlFile, keypath: _KeyPath, value: Any) -> dict[str, str]:
    entries = _variables(doc, keypath, value, "host name", "address")
    hosts = {}
    for name, address in entries.items():
        here = (*keypath, name)
        if not _DNS_NAME.fullmatch(name):
            doc.fail(
                keypath, f"{name!r} is not a host name (letters, digits, '-' and '.')", at=here
            )
        if not isinstance(address, str):
            doc.fail(here, f"must be an IP address, not {_kind(address)}")
        if address == "host-gateway":
            hosts[name] = address
            continue
        try:
            hosts[name] = str(ipaddress.ip_address(address))
        except ValueError:
            doc.fail(
                here, f"{address!r} is not an IP address (or host-gateway: the engine's machine)"
            )
    return hosts


def _ulimits(doc: _YamlFile, keypath: _KeyPath, value: Any) -> tuple[Ulimit, ...]:
    limits: dict[str, tuple[Ulimit, _KeyPath]] = {}
    for where, text in _strings(
        doc,
        keypath,
        value,
        "a limit (name:soft or name:soft:hard)",
        "limits ('nofile:1024:4096')",
        lone_ok=False,
        null_ok=True,
    ):
        name, *values = text.split(":")
        if len(values) not in (1, 2):
            doc.fail(where, f"{text!r} is not name:soft or name:soft:hard (nofile:1024:4096)")
        if name not in _ULIMITS:
            close = difflib.get_close_matches(name, _ULIMITS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            doc.fail(where, f"{name!r} is not a limit ({hint}{', '.join(_ULIMITS)})")
        if name in limits:
            doc.fail(where, f"{name!r} is limited twice (also {_path_text(limits[name][1][2:])})")
        soft, hard = (_limit_value(doc, where, v) for v in (values[0], values[-1]))
        if hard != -1 and (soft == -1 or soft > hard):
            doc.fail(where, f"the soft limit {values[0]} is above the hard limit {values[-1]}")
        limits[name] = (Ulimit(name, soft, hard), where)
    return tuple(limit for limit, _ in limits.values())


def _limit_value(doc: _YamlFile, where: _KeyPath, text: str) -> int:
    if text in (_UNLIMITED, "-1"):
        return -1
    if not text.isdigit():
        doc.fail(where, f"{text!r} is not a number of the limit's units (or unlimited)")
    return int(text)


def _networks(doc: _YamlFile, keypath: _KeyPath, value: Any) -> tuple[NetworkSpec, ...]:
    if not isinstance(value, list):
        doc.fail(keypath, f"must be a list of network names, not {_kind(value)}")
    if not value:
        doc.fail(
            keypath,
            "must name at least one network (a host without 'networks' is on the lab's "
            f"{DEFAULT_NETWORK!r} network)",
        )
    networks: dict[str, NetworkSpec] = {}
    for index, item in enumerate(value):
        where = (*keypath, index)
        aliases: list[tuple[_KeyPath, str]] = []
        if isinstance(item, dict):
            doc.refuse_unknown(where, item, _NETWORK_KEYS)
            if "name" not in item:
                doc.fail(where, "names no network: add 'name:'")
            aliases = _strings(
                doc,
                (*where, "aliases"),
                item.get("aliases"),
                "a host name",
                "host names",
                lone_ok=True,
                null_ok=True,
            )
            item, where = item["name"], (*where, "name")
        for alias_at, alias in aliases:
            if not _HOST_NAME.fullmatch(alias):
                doc.fail(alias_at, f"alias {alias!r} is not a valid DNS label {_DNS_LABEL}")
        text = doc.value_texts.get(where, "")
        if not isinstance(item, str) and _HOST_NAME.fullmatch(text):
            doc.fail(
                where,
                f"network name {text!r} is read by YAML as {_key_kind(item)}; "
                f"quote it ({text!r}) or pick another name",
            )
        if not isinstance(item, str) or not item:
            doc.fail(where, f"must be a network name, not {_kind(item)}")
        if not _HOST_NAME.fullmatch(item):
            doc.fail(where, f"network name {item!r} is not a valid DNS label {_DNS_LABEL}")
        if item in networks:
            doc.fail(where, f"{item!r} is listed twice")
        networks[item] = NetworkSpec(item, tuple(dict.fromkeys(alias for _, alias in aliases)))
    return tuple(networks.values())


def _command(doc: _YamlFile, keypath: _KeyPath, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            doc.fail(keypath, f"cannot be split into words: {exc}")
        if not argv:
            doc.fail(keypath, f"must name a program, not {_kind(value.strip())}")
        return tuple(argv)
    if not isinstance(value, list) or not value:
        got = "an empty list" if value == [] else _kind(value)
        doc.fail(keypath, f"must be a command line or a list of words, not {got}")
    argv = [_text_value(doc, (*keypath, index), word) for index, word in enumerate(value)]
    if not argv[0]:
        doc.fail((*keypath, 0), "must name a program, not an empty string")
    return tuple(argv)


def _memory(doc: _YamlFile, keypath: _KeyPath, value: Any) -> int | None:
    if value == _UNLIMITED:
        return None
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif match:
        size = int(float(match[1]) * 1024 ** "bkmgtp".index(match[2].lower() or "b"))
    else:
        got = repr(value) if isinstance(value, str) and value else _kind(value)
        doc.fail(keypath, f"must be a size (512m, 2g, a number of bytes) or unlimited, not {got}")
    if size < _MIN_MEMORY:
        doc.fail(keypath, f"{value} is below the engine's minimum of 6m")
    return size


def _cpus(doc: _YamlFile, keypath: _KeyPath, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        doc.fail(keypath, f"must be a number of CPUs (0.5, 2), not {_kind(value)}")
    if not (math.isfinite(value) and value >= _MIN_CPUS):
        doc.fail(
            keypath, f"must be at least {_MIN_CPUS} (the engine's smallest share), not {value}"
        )
    return float(value)


_MIN_PIDS, _MAX_PIDS = 32, 4_194_304


def _pids_limit(doc: _YamlFile, keypath: _KeyPath, value: Any) -> int | None:
    if value == _UNLIMITED:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        got = repr(value) if isinstance(value, str) and value else _kind(value)
        doc.fail(keypath, f"must be a number of processes or unlimited, not {got}")
    # Fewer than this and systemd itself cannot start its first services; more than the
    # kernel's own ceiling is a number the engine cannot take.
    if not _MIN_PIDS <= value <= _MAX_PIDS:
        doc.fail(
            keypath,
            f"must be from {_MIN_PIDS} (what an init and a few services need) to {_MAX_PIDS} "
            f"(the kernel's ceiling), not {value}; write unlimited for no limit",
        )
    return value


def _recipe_text(
    doc: _YamlFile,
    settings: Mapping[Any, Any],
    key: str,
    default: str,
    what: str,
    *,
    empty_ok: bool = True,
) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str) or not (value or empty_ok):
        doc.fail((key,), f"must be {what}, not {_kind(value)}")
    return value


def _cgroup_versions(doc: _YamlFile, value: Any) -> tuple[int, ...]:
    allowed = " or ".join(map(str, _CGROUP_VERSIONS))
    if not isinstance(value, list):
        doc.fail(("cgroup",), f"must be a list of cgroup versions ({allowed}), not {_kind(value)}")
    if not value:
        doc.fail(("cgroup",), f"must name at least one cgroup version ({allowed})")
    for index, version in enumerate(value):
        if isinstance(version, bool) or version not in _CGROUP_VERSIONS:
            got = repr(version) if type(version) is int else _kind(version)
            doc.fail(("cgroup", index), f"must be {allowed}, not {got}")
    return tuple(dict.fromkeys(value))


def _path_text(keypath: _KeyPath) -> str:
    """A key path as messages write it: ``hosts.web.groups[1]``."""
    where = ""
    for key in keypath:
        if isinstance(key, int) and not isinstance(key, bool):
            where += f"[{key}]"
        else:
            where += f".{key}" if where else str(key)
    return where


def _kind(value: Any) -> str:
    """What a value is, for 'must be X, not <kind>'."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime.datetime):
        return "a date and time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, (set, frozenset)):
        return "a set"
    return type(value).__name__


def _key_kind(key: Any) -> str:
    return "null" if key is None else _kind(key)


def _as_written(key: Any) -> str:
    """A key's likely spelling when the file's own text is not at hand."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return str(key).lower()
    return str(key)


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """What PyYAML found wrong, and on which line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = f"{exc.problem} (column {mark.column + 1}"
        context = exc.context_mark
        if exc.context and context is not None and context.line != mark.line:
            problem += f"; {exc.context} from line {context.line + 1}"
        return problem + ")", mark.line + 1
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        line = text.count("\n", 0, exc.position) + 1
        return f"unacceptable character #x{exc.character:04x}: {exc.reason}", line
    return str(exc), None
