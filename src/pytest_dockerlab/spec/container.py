"""A host's container settings (capabilities, mounts, ports, limits, ...), read into a
:class:`~.model.ContainerSpec`: named as Molecule's docker platforms name them, checked so the
engine never sees what it would refuse or what would keep init from booting.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import posixpath
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .model import (
    BIND_MODES,
    CAPABILITIES,
    CGROUP,
    DEFAULT_NETWORK,
    DEFAULT_PUBLISH_ADDRESS,
    DNS_LABEL,
    DNS_LABEL_RULE,
    HOST_NAME,
    INIT_MOUNTS,
    KERNEL_TREES,
    MAX_PIDS,
    MIN_CPUS,
    MIN_MEMORY,
    MIN_PIDS,
    PROPAGATION,
    PROTOCOLS,
    PUBLISHED_PORT,
    SECURITY_OPTS,
    SYSCTL_NAME,
    SYSCTLS,
    TMPFS_FLAGS,
    TMPFS_SETTINGS,
    ULIMITS,
    UNLIMITED,
    VOLUME_MODES,
    VOLUME_NAME,
    ContainerSpec,
    Mount,
    NetworkSpec,
    PublishedPort,
    Ulimit,
    keys,
    parse_size,
)
from .yamlfile import (
    KeyPath,
    YamlFile,
    key_kind_of,
    kind_of,
    path_text,
    strings,
    text_value,
    variables,
)

# Host ports published so far in a lab: (port, protocol) -> [(address, key path)].
Published = dict[tuple[int, str], list[tuple[str, KeyPath]]]


def parse_container(
    doc: YamlFile,
    at: KeyPath,
    settings: Mapping[Any, Any],
    root: Path,
    published: Published,
) -> ContainerSpec:
    added = _capabilities(doc, (*at, "capabilities"), settings.get("capabilities"))
    dropped = _capabilities(doc, (*at, "cap_drop"), settings.get("cap_drop"))
    for where, name in dropped:
        if name in {added_name for _, added_name in added}:
            doc.fail(where, f"{name} is also in capabilities: add it or drop it, not both")
    targets: dict[str, KeyPath] = {}  # mount point -> where it is mounted
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
    if "hostname" in settings:
        name = settings["hostname"]
        if not isinstance(name, str) or not HOST_NAME.fullmatch(name):
            doc.fail((*at, "hostname"), f"{name!r} is not a host name (letters, digits, '-', '.')")
        chosen["hostname"] = name
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


def _capabilities(doc: YamlFile, keypath: KeyPath, value: Any) -> list[tuple[KeyPath, str]]:
    """Capability names as the engine takes them (no CAP_ prefix), with their key paths."""
    found = []
    for where, text in strings(
        doc, keypath, value, "a capability", "capabilities", lone_ok=False, null_ok=True
    ):
        name = text[4:] if text.startswith("CAP_") else text
        if name != "ALL" and name not in CAPABILITIES:
            upper = name.upper()
            upper = upper[4:] if upper.startswith("CAP_") else upper
            if upper == "ALL" or upper in CAPABILITIES:
                hint = f"; write it in capitals: {upper}"
            else:
                close = difflib.get_close_matches(upper, CAPABILITIES, n=1)
                hint = f"; did you mean {close[0]}?" if close else " (see capabilities(7))"
            doc.fail(where, f"{text!r} is not a Linux capability{hint}")
        found.append((where, name))
    return found


def _security_opts(doc: YamlFile, keypath: KeyPath, value: Any, root: Path) -> tuple[str, ...]:
    opts = []
    for where, text in strings(
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
            doc.fail(where, f"{text!r} is not a security option the engine knows ({SECURITY_OPTS})")
    return tuple(opts)


def _seccomp(doc: YamlFile, where: KeyPath, setting: str, root: Path) -> str:
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
    doc: YamlFile, keypath: KeyPath, value: Any, targets: dict[str, KeyPath]
) -> dict[str, str]:
    mounts = {}
    for where, text in strings(
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
            if option not in TMPFS_FLAGS and not (equals and name in TMPFS_SETTINGS):
                settings = ", ".join(f"{setting}=" for setting in TMPFS_SETTINGS)
                doc.fail(
                    where,
                    f"{option!r} is not a tmpfs option ({settings}; or {', '.join(TMPFS_FLAGS)})",
                )
        mounts[_mount_point(doc, where, path, targets)] = options
    return mounts


def _volumes(
    doc: YamlFile, keypath: KeyPath, value: Any, root: Path, targets: dict[str, KeyPath]
) -> tuple[Mount, ...]:
    mounts = []
    sources: dict[str, KeyPath] = {}
    for where, text in strings(
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
        named = bool(VOLUME_NAME.fullmatch(source))
        if not named:
            path = (root / source).resolve()
            if path == CGROUP or CGROUP in path.parents:
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
            also = path_text(sources[source][2:])
            doc.fail(where, f"{parts[0]!r} is mounted twice in this host (also {also})")
        sources[source] = where
        mounts.append(Mount(source=source, target=target, mode=mode, named=named))
    return tuple(mounts)


def _mount_mode(doc: YamlFile, where: KeyPath, mode: str, named: bool) -> None:
    allowed = VOLUME_MODES if named else BIND_MODES
    options = mode.split(",")
    for option in options:
        if option not in allowed:
            kind = "a named volume" if named else "a bind mount"
            doc.fail(where, f"{option!r} is not a mode of {kind} ({', '.join(allowed)})")
    for exclusive in (("ro", "rw"), ("z", "Z"), PROPAGATION):
        both = [option for option in options if option in exclusive]
        if len(both) > 1:
            doc.fail(where, f"mode {mode!r} says both {both[0]} and {both[1]}")


def _mount_point(doc: YamlFile, where: KeyPath, path: str, targets: dict[str, KeyPath]) -> str:
    """An absolute path in the host where init's own file systems are not, mounted once."""
    if not path.startswith("/"):
        doc.fail(where, f"the mount point {path!r} must be an absolute path in the host")
    target = "/" + posixpath.normpath(path).lstrip("/")
    if target == str(CGROUP) or target.startswith(f"{CGROUP}/"):
        doc.fail(
            where,
            f"{target}: the run profile gives init the cgroup file system there (a Molecule "
            "scenario's /sys/fs/cgroup volume is not needed); drop this mount",
        )
    tree = next((t for t in KERNEL_TREES if target.startswith(f"{t}/")), target)
    if tree in INIT_MOUNTS:
        inside = "in" if tree != target else "is"
        doc.fail(where, f"{target} {inside} {INIT_MOUNTS[tree]}, which init needs; mount elsewhere")
    if target in targets:
        doc.fail(
            where,
            f"{target} is mounted twice in this host (also {path_text(targets[target][2:])})",
        )
    targets[target] = where
    return target


def _published_ports(
    doc: YamlFile,
    keypath: KeyPath,
    value: Any,
    published: Published,
) -> tuple[PublishedPort, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        doc.fail(keypath, f"must be a list of ports ('8080:80', '9000/udp'), not {kind_of(value)}")
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
            doc.fail(where, f"must be a port ('8080:80', '9000/udp', 80), not {kind_of(item)}")
        for port in _published_port(doc, where, str(item)):
            if port.host_port is not None:
                for address, other in published.get((port.host_port, port.protocol), []):
                    if _WILDCARD & {address, port.host_ip} or address == port.host_ip:
                        doc.fail(
                            where,
                            f"{_address(port.host_ip)}:{port.host_port}/{port.protocol} is "
                            f"published twice (also {path_text(other)})",
                        )
                published.setdefault((port.host_port, port.protocol), []).append(
                    (port.host_ip, where)
                )
            ports.append(port)
    return tuple(ports)


_WILDCARD = {"0.0.0.0", "::"}


def _address(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _published_port(doc: YamlFile, where: KeyPath, text: str) -> list[PublishedPort]:
    """``[ADDRESS:][HOST_PORT:]PORT[/PROTOCOL]``; ranges of the same length map port to port."""
    match = PUBLISHED_PORT.fullmatch(text)
    if not match:
        doc.fail(
            where,
            f"{text!r} is not a port to publish: write [ADDRESS:][HOST_PORT:]PORT[/PROTOCOL], "
            "as in 80, 8080:80, 127.0.0.1:8080:80/udp or [::1]:8080:80",
        )
    address, host, container, protocol = match.groups()
    protocol = protocol or "tcp"
    if protocol not in PROTOCOLS:
        doc.fail(where, f"{protocol!r} is not a protocol ({', '.join(PROTOCOLS)})")
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


def _port_range(doc: YamlFile, where: KeyPath, text: str) -> list[int]:
    first, _, last = text.partition("-")
    low, high = int(first), int(last or first)
    if not 1 <= low <= high <= 65535:
        doc.fail(where, f"{text!r} is not a port or a range of ports (1-65535, low-high)")
    return list(range(low, high + 1))


def _sysctls(doc: YamlFile, keypath: KeyPath, value: Any) -> dict[str, str]:
    sysctls = variables(doc, keypath, value, "sysctl name")
    for name in sysctls:
        if not SYSCTL_NAME.fullmatch(name):
            doc.fail(
                keypath,
                f"{name!r} cannot be set in one container: the engine sets only sysctls with "
                f"a namespace of their own ({SYSCTLS})",
                at=(*keypath, name),
            )
    return {name: text_value(doc, (*keypath, name), item) for name, item in sysctls.items()}


def _etc_hosts(doc: YamlFile, keypath: KeyPath, value: Any) -> dict[str, str]:
    entries = variables(doc, keypath, value, "host name", "address")
    hosts = {}
    for name, address in entries.items():
        here = (*keypath, name)
        if not HOST_NAME.fullmatch(name):
            doc.fail(
                keypath, f"{name!r} is not a host name (letters, digits, '-' and '.')", at=here
            )
        if not isinstance(address, str):
            doc.fail(here, f"must be an IP address, not {kind_of(address)}")
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


def _ulimits(doc: YamlFile, keypath: KeyPath, value: Any) -> tuple[Ulimit, ...]:
    limits: dict[str, tuple[Ulimit, KeyPath]] = {}
    for where, text in strings(
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
        if name not in ULIMITS:
            close = difflib.get_close_matches(name, ULIMITS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            doc.fail(where, f"{name!r} is not a limit ({hint}{', '.join(ULIMITS)})")
        if name in limits:
            doc.fail(where, f"{name!r} is limited twice (also {path_text(limits[name][1][2:])})")
        soft, hard = (_limit_value(doc, where, v) for v in (values[0], values[-1]))
        if hard != -1 and (soft == -1 or soft > hard):
            doc.fail(where, f"the soft limit {values[0]} is above the hard limit {values[-1]}")
        limits[name] = (Ulimit(name, soft, hard), where)
    return tuple(limit for limit, _ in limits.values())


def _limit_value(doc: YamlFile, where: KeyPath, text: str) -> int:
    if text in (UNLIMITED, "-1"):
        return -1
    if not text.isdigit():
        doc.fail(where, f"{text!r} is not a number of the limit's units (or unlimited)")
    return int(text)


def _networks(doc: YamlFile, keypath: KeyPath, value: Any) -> tuple[NetworkSpec, ...]:
    if not isinstance(value, list):
        doc.fail(keypath, f"must be a list of network names, not {kind_of(value)}")
    if not value:
        doc.fail(
            keypath,
            "must name at least one network (a host without 'networks' is on the lab's "
            f"{DEFAULT_NETWORK!r} network)",
        )
    networks: dict[str, NetworkSpec] = {}
    for index, item in enumerate(value):
        where = (*keypath, index)
        aliases: list[tuple[KeyPath, str]] = []
        address = ""
        if isinstance(item, dict):
            doc.refuse_unknown(where, item, keys(NetworkSpec))
            if "name" not in item:
                doc.fail(where, "names no network: add 'name:'")
            aliases = strings(
                doc,
                (*where, "aliases"),
                item.get("aliases"),
                "a host name",
                "host names",
                lone_ok=True,
                null_ok=True,
            )
            if "ipv4_address" in item:
                address = str(item["ipv4_address"])
                try:
                    ipaddress.IPv4Address(address)
                except ValueError:
                    doc.fail((*where, "ipv4_address"), f"{address!r} is not an IPv4 address")
            item, where = item["name"], (*where, "name")
        for alias_at, alias in aliases:
            if not DNS_LABEL.fullmatch(alias):
                doc.fail(alias_at, f"alias {alias!r} is not a valid DNS label {DNS_LABEL_RULE}")
        text = doc.value_texts.get(where, "")
        if not isinstance(item, str) and DNS_LABEL.fullmatch(text):
            doc.fail(
                where,
                f"network name {text!r} is read by YAML as {key_kind_of(item)}; "
                f"quote it ({text!r}) or pick another name",
            )
        if not isinstance(item, str) or not item:
            doc.fail(where, f"must be a network name, not {kind_of(item)}")
        if not DNS_LABEL.fullmatch(item):
            doc.fail(where, f"network name {item!r} is not a valid DNS label {DNS_LABEL_RULE}")
        if item in networks:
            doc.fail(where, f"{item!r} is listed twice")
        networks[item] = NetworkSpec(
            item, tuple(dict.fromkeys(alias for _, alias in aliases)), ipv4_address=address
        )
    return tuple(networks.values())


def _command(doc: YamlFile, keypath: KeyPath, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            doc.fail(keypath, f"cannot be split into words: {exc}")
        if not argv:
            doc.fail(keypath, f"must name a program, not {kind_of(value.strip())}")
        return tuple(argv)
    if not isinstance(value, list) or not value:
        got = "an empty list" if value == [] else kind_of(value)
        doc.fail(keypath, f"must be a command line or a list of words, not {got}")
    argv = [text_value(doc, (*keypath, index), word) for index, word in enumerate(value)]
    if not argv[0]:
        doc.fail((*keypath, 0), "must name a program, not an empty string")
    return tuple(argv)


def _memory(doc: YamlFile, keypath: KeyPath, value: Any) -> int | None:
    if value == UNLIMITED:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(value)
        size = value if isinstance(value, int) else parse_size(value)
    except ValueError:
        got = repr(value) if isinstance(value, str) and value else kind_of(value)
        doc.fail(keypath, f"must be a size (512m, 2g, a number of bytes) or unlimited, not {got}")
    if size < MIN_MEMORY:
        doc.fail(keypath, f"{value} is below the engine's minimum of 6m")
    return size


def _cpus(doc: YamlFile, keypath: KeyPath, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        doc.fail(keypath, f"must be a number of CPUs (0.5, 2), not {kind_of(value)}")
    if not (math.isfinite(value) and value >= MIN_CPUS):
        doc.fail(keypath, f"must be at least {MIN_CPUS} (the engine's smallest share), not {value}")
    return float(value)


def _pids_limit(doc: YamlFile, keypath: KeyPath, value: Any) -> int | None:
    if value == UNLIMITED:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        got = repr(value) if isinstance(value, str) and value else kind_of(value)
        doc.fail(keypath, f"must be a number of processes or unlimited, not {got}")
    if not MIN_PIDS <= value <= MAX_PIDS:
        doc.fail(
            keypath,
            f"must be from {MIN_PIDS} (what an init and a few services need) to {MAX_PIDS} "
            f"(the kernel's ceiling), not {value}; write unlimited for no limit",
        )
    return value
