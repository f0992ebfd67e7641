"""The model of what users write: frozen specs of a lab file and of an image recipe.

Every field a user can set carries its key's documentation and the JSON Schema of its value
(:func:`doc`): the parsers take their key lists from these fields, and
:func:`~pytest_dockerlab.spec.schema.schema` builds the lab file's JSON Schema from them, so
the contract is written once. The rules the two share (names, patterns, ranges) are the
constants here. Pure: no file is read in this module.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# What each field's metadata holds.
_DESCRIPTION, _SCHEMA, _SECTION = "description", "schema", "section"
_FLATTEN = "flatten"


def doc(
    description: str, schema: Mapping[str, Any] | None = None, *, section: type | None = None
) -> dict[str, Any]:
    """A field's metadata: the key's description and the JSON Schema of its value (or the
    spec class whose keys form the section it opens)."""
    return {_DESCRIPTION: description, _SCHEMA: dict(schema or {}), _SECTION: section}


# The fields whose keys sit beside their owner's in the file (a host's container settings).
FLATTENED: dict[str, Any] = {_FLATTEN: True}


def key_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields of spec class ``cls`` that users write, in order; flattened ones expanded."""
    found = []
    for spec_field in dataclasses.fields(cls):
        if spec_field.metadata.get(_FLATTEN):
            found += key_fields(_field_type(cls, spec_field))
        elif _DESCRIPTION in spec_field.metadata:
            found.append(spec_field)
    return found


def keys(cls: type) -> tuple[str, ...]:
    """The keys a section of spec class ``cls`` allows, sorted as messages list them."""
    return tuple(sorted(f.name for f in key_fields(cls)))


def described(spec_field: dataclasses.Field[Any]) -> tuple[str, dict[str, Any], type | None]:
    """A key field's description, value schema and section class."""
    meta = spec_field.metadata
    return meta[_DESCRIPTION], meta[_SCHEMA], meta[_SECTION]


def _field_type(cls: type, spec_field: dataclasses.Field[Any]) -> type:
    # Annotations are strings here (postponed evaluation): the flattened ones name a class
    # of this module.
    found = globals()[str(spec_field.type)]
    assert isinstance(found, type), f"{cls.__name__}.{spec_field.name}"
    return found


def _json_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def anchored(pattern: re.Pattern[str] | str) -> str:
    """A Python pattern used with ``fullmatch``, as a JSON Schema pattern (which searches)."""
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return f"^(?:{text})$"


def one_of(words: tuple[str, ...]) -> str:
    """Alternatives as a pattern group (the words are patterns themselves)."""
    return "(" + "|".join(words) + ")"


def section(cls: type) -> dict[str, Any]:
    """In a value's schema: the mapping whose keys are the fields of spec class ``cls``."""
    return {_SECTION: cls}


# Names

DEFAULT_IMAGE = "debian12"
# Host names become container hostnames and DNS names on the lab network, so they must be
# valid DNS labels; lower case keeps Ansible's inventory and DNS in agreement. Network names
# and aliases follow the same rule.
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
DNS_LABEL_RULE = "(lower-case letters, digits and '-', at most 63 characters)"
# A host's name: a DNS label, or one with '_' as Ansible inventories and Molecule platforms
# name hosts (ubuntu_2204): Docker's DNS resolves it, and the container takes it as hostname.
HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?")
HOST_LABEL_RULE = (
    "(lower-case letters, digits, '-' and '_', not first or last, at most 63 characters)"
)
# A recipe's folder name is its image's repository name: the engine takes only this form.
IMAGE_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")
# The images the plugin builds: REPOSITORY/<recipe>:<digest of the recipe>.
REPOSITORY = "pytest-dockerlab"
# Ansible warns of a '-' or '.' in a group name (not a valid variable name) and takes it;
# a space, ':' or ',' would split its host patterns.
GROUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
RESERVED_GROUPS = ("all", "ungrouped")
# Any host name /etc/hosts takes (dots allowed).
HOST_NAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
# The init families a recipe may name (recipe.yml ``init:``); :mod:`..init` has a strategy each.
INIT_NAMES = ("systemd", "sysvinit")
CGROUP_VERSIONS = (1, 2)
MAX_VERBOSITY = 6

# Limits every host gets unless it sets its own. A fork bomb or a leak in a role under test
# stops at its host instead of taking the engine's machine down: 4096 tasks are far more than
# a systemd host with its services runs (threads count), 2 GiB more than most roles' services
# need. Fixed numbers, so a host behaves the same on a laptop and a CI runner. No CPU quota:
# the scheduler shares CPUs fairly, and a quota only makes boots slower on small machines.
DEFAULT_MEMORY = 2 * 1024**3
DEFAULT_PIDS_LIMIT = 4096
MIN_MEMORY = 6 * 1024**2  # the engine refuses less
MIN_CPUS = 0.01  # the engine's smallest share
# Fewer than this and systemd itself cannot start its first services; more than the kernel's
# own ceiling is a number the engine cannot take.
MIN_PIDS, MAX_PIDS = 32, 4_194_304
UNLIMITED = "unlimited"
# The lab network of hosts that name none; a host's `networks` may name it too.
DEFAULT_NETWORK = "default"
# Where published ports listen unless an address is given: a lab's services (with their test
# passwords) stay off the network; write 0.0.0.0:8080:80 to publish on every interface.
DEFAULT_PUBLISH_ADDRESS = "127.0.0.1"

CAPABILITIES = (
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE",
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER",
    "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP",
    "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT",
    "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG",
    "WAKE_ALARM",
)  # fmt: skip
SECURITY_OPTS = "apparmor=..., label=..., no-new-privileges, seccomp=..., systempaths=unconfined"
SECURITY_OPT = re.compile(
    r"no-new-privileges([:=](true|false))?|(seccomp|apparmor|label)[=:].+|systempaths[=:]unconfined"
)
# Sysctls with a namespace of their own: the only ones the engine sets per container.
SYSCTL_NAME = re.compile(
    r"net(\.[A-Za-z0-9_-]+)+|fs\.mqueue\.[a-z_]+"
    r"|kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)"
)
SYSCTLS = (
    "net.<name>, fs.mqueue.<name>, kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, "
    "kernel.shmall, kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced"
)
ULIMITS = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
    "rss", "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip
# A named volume (the engine's rule); any other source is a path, relative to the lab file.
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PROPAGATION = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
BIND_MODES = ("ro", "rw", "z", "Z", *PROPAGATION)
VOLUME_MODES = ("ro", "rw", "z", "Z", "nocopy")
TMPFS_FLAGS = (
    "ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime",
    "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "sync", "async",
)  # fmt: skip
TMPFS_SETTINGS = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "huge", "mpol")
CGROUP = Path("/sys/fs/cgroup")
# Mount points init needs as the engine and the run profile set them up; nothing may be
# mounted at them, nor anywhere in the kernel's trees.
INIT_MOUNTS = {
    "/": "the host's root file system",
    "/dev": "the engine's /dev",
    "/proc": "the kernel's /proc",
    "/sys": "the kernel's /sys",
    "/run": "the tmpfs the run profile mounts for init",
}
KERNEL_TREES = ("/proc", "/sys")
PROTOCOLS = ("tcp", "udp", "sctp")
_PORT_RANGE = r"[0-9]+(?:-[0-9]+)?"
PUBLISHED_PORT = re.compile(
    rf"(?:(?:(\[[^\]]*\]|[^:\[\]]*):)?({_PORT_RANGE})?:)?({_PORT_RANGE})(?:/([a-z]+))?"
)
# A size: bytes, or a number with a unit in powers of 1024 ("512m", "1.5 GiB", "10G").
SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?")


def parse_size(text: str) -> int:
    """``"10G"``, ``"512m"``, ``"1.5 GiB"``, ``"1024"`` (bytes) -> bytes; ValueError otherwise."""
    match = SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size")
    return int(float(match[1]) * 1024 ** "bkmgtp".index(match[2].lower() or "b"))


# JSON Schema fragments of values several keys share.
_PATHS = _json_ref("paths")
_NULLABLE_STRINGS = {"type": ["array", "null"]}
_TEXT_OR_NUMBER = {"type": ["string", "number"]}
_TAGS = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}},
        {"type": "null"},
    ]
}
_MOUNT_OPTIONS = one_of((*TMPFS_FLAGS, *(f"{setting}=[^,]*" for setting in TMPFS_SETTINGS)))
# Where nothing may be mounted: init's own mount points, and the kernel's trees.
_INIT_MOUNT_POINTS = (
    "(/+(" + "|".join(m.strip("/") for m in INIT_MOUNTS if m not in ("/", *KERNEL_TREES))
    + "|" + "|".join(t.strip("/") for t in KERNEL_TREES) + ")?/*(:|$)"
    + "|/+(" + "|".join(t.strip("/") for t in KERNEL_TREES) + ")/)"
)  # fmt: skip
_VOLUME_MODE = one_of(tuple(dict.fromkeys((*BIND_MODES, *VOLUME_MODES))))


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

    name: str = field(metadata=doc("The lab network.", _json_ref("networkName")))
    aliases: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "More names the host answers to on this network: one or a list.",
            {
                "anyOf": [
                    {"type": "null"},
                    _json_ref("hostName"),
                    {"type": "array", "items": _json_ref("hostName")},
                ]
            },
        ),
    )
    ipv4_address: str = field(
        default="",
        metadata=doc(
            "A fixed IPv4 address on this network, inside the subnet the lab file's "
            "networks: gives it.",
            {"type": "string", "format": "ipv4"},
        ),
    )  # empty: the engine picks one


@dataclass(frozen=True)
class LabNetworkSpec:
    """A lab network's own settings (a network hosts name needs none)."""

    subnet: str = field(
        default="",
        metadata=doc(
            "Its IPv4 subnet (10.10.0.0/24), for hosts with a fixed ipv4_address on it. It must "
            "be free on the engine: one lab at a time can have it.",
            {"type": "string", "pattern": r"^\d+\.\d+\.\d+\.\d+/\d+$"},
        ),
    )
    gateway: str = field(
        default="",
        metadata=doc(
            "The subnet's gateway address (default: its first address).",
            {"type": "string", "format": "ipv4"},
        ),
    )


@dataclass(frozen=True)
class ContainerSpec:
    """How a host's container runs, on top of the run profile that boots its init.

    Its keys are a host's own, named as Molecule's docker platforms name them.
    """

    capabilities: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Linux capabilities added to the engine's default set, e.g. [NET_ADMIN] for a "
            "firewall role. An engine in a sandbox, or a rootless one, can only give those it "
            "holds.",
            _json_ref("capabilities"),
        ),
    )  # without the CAP_ prefix
    cap_drop: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Linux capabilities taken from the engine's default set. Dropping what init needs "
            "(SETUID, SETGID, ALL, ...) keeps the host from booting.",
            _json_ref("capabilities"),
        ),
    )
    security_opts: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Security options (docker run --security-opt): apparmor=PROFILE, label=..., "
            "no-new-privileges, seccomp=unconfined or seccomp=FILE (a JSON profile, relative "
            "to the lab file), systempaths=unconfined. A seccomp or AppArmor profile replaces "
            "the run profile's.",
            {
                **_NULLABLE_STRINGS,
                "items": {
                    "description": "One security option.",
                    "type": "string",
                    "pattern": anchored(SECURITY_OPT),
                },
            },
        ),
    )  # a seccomp profile file is given as its JSON
    tmpfs: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            "tmpfs mounts, as /path or /path:options (size=64m,mode=1777, ...), added to the "
            "run profile's; one at the same path replaces the profile's (a bigger /tmp). Not "
            "at /, /run, /dev, nor in /proc or /sys: init needs those as they are.",
            {
                **_NULLABLE_STRINGS,
                "items": {
                    "description": "A mount point in the host, then ':' and tmpfs options, if any.",
                    "type": "string",
                    "pattern": f"^/[^:]*(:({_MOUNT_OPTIONS}(,{_MOUNT_OPTIONS})*)?)?$",
                    "not": {"pattern": f"^{_INIT_MOUNT_POINTS}"},
                },
            },
        ),
    )  # mount point -> options
    volumes: tuple[Mount, ...] = field(
        default=(),
        metadata=doc(
            "Volumes, as SOURCE:/path or SOURCE:/path:mode. A SOURCE that is a name (data) is "
            "a named volume of the lab: made for the session, shared by the hosts that mount "
            "it, removed with the lab. Any other SOURCE (./data, ../x, /srv) is a file or "
            "folder bound in, relative to the lab file; it must exist. Modes: ro, rw, z, Z; "
            "nocopy for named volumes; propagation (rslave, ...) for bind mounts.",
            {
                **_NULLABLE_STRINGS,
                "items": {
                    "description": "SOURCE:/path or SOURCE:/path:mode.",
                    "type": "string",
                    "pattern": f"^[^:]+:/[^:]*(:{_VOLUME_MODE}(,{_VOLUME_MODE})*)?$",
                    "not": {"pattern": f"^[^:]+:{_INIT_MOUNT_POINTS}"},
                },
            },
        ),
    )
    published_ports: tuple[PublishedPort, ...] = field(
        default=(),
        metadata=doc(
            "Ports of the host published on the engine's machine, as "
            "[ADDRESS:][HOST_PORT:]PORT[/PROTOCOL]: 80, 8080:80, 0.0.0.0:8080:80, "
            "127.0.0.1::53/udp, 8000-8001:8000-8001. Without an address a port listens on "
            f"{DEFAULT_PUBLISH_ADDRESS} only; without a host port the engine picks a free one. "
            "Quote 22:22 (YAML 1.1 reads it as a number).",
            {
                **_NULLABLE_STRINGS,
                "items": {
                    "description": "A port to publish.",
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 65535},
                        {
                            "type": "string",
                            "pattern": anchored(
                                PUBLISHED_PORT.pattern.replace("[a-z]+", one_of(PROTOCOLS))
                            ),
                        },
                    ],
                },
            },
        ),
    )
    sysctls: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            f"Kernel parameters of the host's own namespaces (docker run --sysctl): "
            f"{SYSCTLS.replace('<name>', '*')}.",
            {
                "type": ["object", "null"],
                "propertyNames": {
                    "description": "A sysctl the engine sets in one container.",
                    "type": "string",
                    "pattern": anchored(SYSCTL_NAME),
                },
                "additionalProperties": {
                    "description": "The value; quote values YAML would read as booleans ('yes').",
                    **_TEXT_OR_NUMBER,
                },
            },
        ),
    )
    networks: tuple[NetworkSpec, ...] = field(
        default=(NetworkSpec(DEFAULT_NETWORK),),
        metadata=doc(
            f"Lab networks the host is on (default: [{DEFAULT_NETWORK}], the lab's own "
            "network). A host resolves the hosts it shares a network with, by name and by their "
            "aliases there. Each network is made for the session and removed with the lab.",
            {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {
                    "description": "A network name, or a mapping of its name and the host's "
                    "aliases on it.",
                    "anyOf": [_json_ref("networkName"), section(NetworkSpec)],
                },
            },
        ),
    )  # never empty
    command: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Replaces the image's command (its init): a command line, or a list of words. The "
            "host must still boot: run the init (/sbin/init --log-level=debug), or expect a "
            "boot timeout.",
            {
                "anyOf": [
                    {"type": "string", "pattern": "\\S"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"description": "A word of the command.", **_TEXT_OR_NUMBER},
                    },
                ]
            },
        ),
    )  # empty: the image's own command (its init)
    hostname: str = field(
        default="",
        metadata=doc(
            "The container's own host name (hostname -f), when not the host's name: "
            "ns1.example.com. Other hosts reach it by both.",
            {"type": "string", "pattern": anchored(HOST_NAME)},
        ),
    )  # empty: the host's name
    etc_hosts: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            "Extra lines of /etc/hosts: host name to IP address (or host-gateway, the engine's "
            "machine).",
            {
                "type": ["object", "null"],
                "propertyNames": {
                    "description": "A host name.",
                    "type": "string",
                    "pattern": anchored(HOST_NAME),
                },
                "additionalProperties": {
                    "description": "An IPv4 or IPv6 address, or host-gateway.",
                    "type": "string",
                    "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}, {"const": "host-gateway"}],
                },
            },
        ),
    )  # name -> address
    ulimits: tuple[Ulimit, ...] = field(
        default=(),
        metadata=doc(
            "Resource limits of the host's processes, as name:soft or name:soft:hard "
            f"(nofile:1024:4096; {UNLIMITED} for none).",
            {
                **_NULLABLE_STRINGS,
                "items": {
                    "description": "One limit.",
                    "type": "string",
                    "pattern": f"^{one_of(ULIMITS)}(:([0-9]+|-1|{UNLIMITED})){{1,2}}$",
                },
            },
        ),
    )
    memory: int | None = field(
        default=DEFAULT_MEMORY,
        metadata=doc(
            "The host's memory limit: bytes, a size with a unit (512m, 2g: powers of 1024), or "
            "unlimited. Default 2g, so a leak in a role under test stops at its host.",
            {
                "default": "2g",
                "anyOf": [
                    {"type": "integer", "minimum": MIN_MEMORY},
                    {"type": "string", "pattern": anchored(SIZE)},
                    {"const": UNLIMITED},
                ],
            },
        ),
    )  # bytes; None: no limit
    cpus: float | None = field(
        default=None,
        metadata=doc(
            "How many CPUs' worth of time the host may use (1.5); default: no quota.",
            {"type": "number", "minimum": MIN_CPUS},
        ),
    )  # None: every CPU
    pids_limit: int | None = field(
        default=DEFAULT_PIDS_LIMIT,
        metadata=doc(
            "How many processes and threads the host may run, or unlimited. Default "
            f"{DEFAULT_PIDS_LIMIT}, so a fork bomb in a role under test stops at its host.",
            {
                "default": DEFAULT_PIDS_LIMIT,
                "anyOf": [
                    {"type": "integer", "minimum": MIN_PIDS, "maximum": MAX_PIDS},
                    {"const": UNLIMITED},
                ],
            },
        ),
    )  # None: no limit

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
    image: str = field(
        default=DEFAULT_IMAGE,
        metadata=doc(
            "Pins this host's image: the lab's default image and --dockerlab-image leave it alone.",
            _json_ref("imageName"),
        ),
    )
    groups: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Ansible groups of the host: one name or a list.",
            {
                "anyOf": [
                    _json_ref("groupName"),
                    {"type": "array", "items": _json_ref("groupName")},
                ]
            },
        ),
    )
    vars: Mapping[str, Any] = field(
        default_factory=dict, metadata=doc("Ansible host variables.", _json_ref("variables"))
    )
    privileged: bool = field(
        default=False,
        metadata=doc(
            "Ask the engine for --privileged (rarely needed).",
            {"type": "boolean", "default": False},
        ),
    )
    env: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            "Environment of the container's init, by variable name.",
            {
                "type": ["object", "null"],
                "propertyNames": {
                    "description": "An environment variable name: not empty, no '='.",
                    "type": "string",
                    "pattern": "^[^=]+$",
                },
                "additionalProperties": {
                    "description": "The value; quote values YAML would read as booleans or "
                    "null ('yes', 'off').",
                    **_TEXT_OR_NUMBER,
                },
            },
        ),
    )
    pinned: bool = False  # the host names its own image: --dockerlab-image leaves it alone
    container: ContainerSpec = field(default_factory=ContainerSpec, metadata=FLATTENED)


@dataclass(frozen=True)
class RunOptions:
    """How ansible-playbook runs: what its command line and environment would say."""

    check: bool = field(
        default=False, metadata=doc("Run in check mode (--check).", {"type": "boolean"})
    )
    diff: bool = field(default=False, metadata=doc("Show diffs (--diff).", {"type": "boolean"}))
    tags: tuple[str, ...] = field(
        default=(), metadata=doc("Only tasks with these tags (--tags).", _TAGS)
    )
    skip_tags: tuple[str, ...] = field(
        default=(), metadata=doc("Skip tasks with these tags (--skip-tags).", _TAGS)
    )
    verbosity: int = field(
        default=0,
        metadata=doc("-v to -vvvvvv.", {"type": "integer", "minimum": 0, "maximum": MAX_VERBOSITY}),
    )
    vault_password_file: Path | None = field(
        default=None, metadata=doc("--vault-password-file.", _json_ref("path"))
    )
    config: Path | Mapping[str, Mapping[str, Any]] | None = field(
        default=None,
        metadata=doc(
            "An ansible.cfg path, or its sections as a mapping (defaults: {forks: 10}).",
            {
                "oneOf": [
                    _json_ref("path"),
                    {"type": "object", "additionalProperties": {"type": "object"}},
                ]
            },
        ),
    )  # ansible.cfg or its sections
    env: Mapping[str, str] = field(
        default_factory=dict,
        metadata=doc(
            "Environment variables for Ansible.",
            {"type": ["object", "null"], "additionalProperties": _TEXT_OR_NUMBER},
        ),
    )

    def shared(self) -> RunOptions:
        """What every run takes (config, env, vault, diff, verbosity); ``check``, ``tags``
        and ``skip_tags`` are the session converge's: a prepare, a cleanup, a verify or a
        test's ``lab.converge`` runs whole unless it says otherwise."""
        return replace(self, check=False, tags=(), skip_tags=())


@dataclass(frozen=True)
class AnsibleSpec:
    """The ``ansible:`` section, with paths resolved against the lab file's folder."""

    playbooks: tuple[Path, ...] = field(
        default=(),
        metadata=doc(
            "Playbooks applied in order once the needed hosts have booted; each must be an "
            "existing file.",
            _PATHS,
        ),
    )
    roles_path: tuple[Path, ...] = field(
        default=(),
        metadata=doc("Folders Ansible searches for roles (ANSIBLE_ROLES_PATH).", _PATHS),
    )
    extra_vars: Mapping[str, Any] = field(
        default_factory=dict,
        metadata=doc("Extra variables passed to every playbook run (-e).", _json_ref("variables")),
    )
    cache: bool = field(
        default=True,
        metadata=doc(
            "Whether the converge cache may hold this lab's converges (default true); false "
            "for plays that bake run-time facts of other hosts (addresses) into files.",
            {"type": "boolean"},
        ),
    )
    idempotence: bool = field(
        default=False,
        metadata=doc(
            "Run the playbooks a second time after the session converge; hosts that still "
            "changed make their tests error (as --dockerlab-idempotence).",
            {"type": "boolean"},
        ),
    )
    prepare: tuple[Path, ...] = field(
        default=(),
        metadata=doc(
            "Playbooks run once after boot, before the converge; never in the idempotence "
            "pass (Molecule's prepare).",
            _PATHS,
        ),
    )
    cleanup: tuple[Path, ...] = field(
        default=(),
        metadata=doc(
            "Playbooks run before the lab is removed; a failure is reported and the removal "
            "goes on (Molecule's cleanup).",
            _PATHS,
        ),
    )
    requirements: tuple[Path, ...] = field(
        default=(),
        metadata=doc(
            "requirements.yml files of roles and collections, installed once per content into "
            "a cache shared by sessions.",
            _PATHS,
        ),
    )
    cache_env: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Environment variables the converge reads that the converge cache cannot find "
            "in the plays (a lookup('env', ...) whose name is built at run time): a change of "
            "their values makes a new entry.",
            {"type": ["array", "null"], "items": {"type": "string", "pattern": "^[^=]+$"}},
        ),
    )
    run: RunOptions = field(default_factory=RunOptions, metadata=FLATTENED)


@dataclass(frozen=True)
class ImagesSpec:
    """The ``images:`` section: users' recipe folders and the images tests run on."""

    recipes: tuple[Path, ...] = field(
        default=(),
        metadata=doc(
            "Folders of your own image recipes (a folder per image, or one recipe folder); "
            "each must exist.",
            {"type": "array", "items": _json_ref("path")},
        ),
    )  # each an existing folder, resolved
    matrix: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "Images every lab test runs on, one lab per image; the test id shows the image.",
            {"type": "array", "uniqueItems": True, "items": _json_ref("imageName")},
        ),
    )


@dataclass(frozen=True)
class LabSpec:
    """A whole lab file: its hosts in file order, its Ansible settings and its images."""

    path: Path
    hosts: Mapping[str, HostSpec] = field(
        metadata=doc(
            "The hosts of the lab, by name, in the order they are listed. A host name is its "
            "container's hostname and its DNS name on the lab network.",
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": _json_ref("hostName"),
                "additionalProperties": _json_ref("host"),
            },
        )
    )
    image: str = field(
        default=DEFAULT_IMAGE,
        metadata=doc(
            "The lab's default image: every host that does not name its own runs on it (and "
            "--dockerlab-image replaces it).",
            {**_json_ref("imageName"), "default": DEFAULT_IMAGE},
        ),
    )
    ansible: AnsibleSpec = field(
        default_factory=AnsibleSpec,
        metadata=doc("How the lab is converged with Ansible.", section=AnsibleSpec),
    )
    images: ImagesSpec = field(
        default_factory=ImagesSpec,
        metadata=doc(
            "Where images come from, and which images the tests run on.", section=ImagesSpec
        ),
    )
    networks: Mapping[str, LabNetworkSpec] = field(
        default_factory=dict,
        metadata=doc(
            "Lab networks with settings of their own: network name to {subnet: ...}.",
            {
                "type": ["object", "null"],
                "propertyNames": _json_ref("networkName"),
                "additionalProperties": _json_ref("labNetwork"),
            },
        ),
    )
    molecule: Path | None = field(
        default=None,
        metadata=doc(
            "A Molecule scenario folder (molecule/default) whose platforms and playbooks are "
            "the lab; nothing else may be set beside it.",
            _json_ref("path"),
        ),
    )  # a lab file that names a Molecule scenario, and no hosts

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
        return replace(self, image=image, hosts=hosts)


@dataclass(frozen=True)
class Recipe:
    """One buildable image: its folder, and what its ``recipe.yml`` says (the defaults where
    it is silent or absent)."""

    name: str  # the folder's name: the image's repository name
    path: Path  # the recipe's folder
    dockerfile: Path = field(
        default=Path("Dockerfile"), metadata=doc("The Dockerfile, relative to the recipe folder.")
    )  # resolved: the recipe's own, or a shared one it names
    init: str = field(default="systemd", metadata=doc(f"The init family: {', '.join(INIT_NAMES)}."))
    base: str = field(
        default="", metadata=doc("The registry image the Dockerfile starts from (debian:12).")
    )
    bootstrap: str = field(
        default="", metadata=doc("The Debian suite to bootstrap offline instead (bookworm).")
    )
    python: str = field(
        default="/usr/bin/python3", metadata=doc("The Python Ansible runs on the host.")
    )
    cgroup: tuple[int, ...] = field(
        default=CGROUP_VERSIONS, metadata=doc("The cgroup versions whose hosts can boot it.")
    )
    cgroup_reason: str = field(default="", metadata=doc("Why not the others."))
    digest: str = ""  # of every file of the recipe: an unchanged recipe is never rebuilt

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}/{self.name}:{self.digest[:12]}"
