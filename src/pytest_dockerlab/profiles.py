"""What kind of engine host we are on, and how to run a VM-like container there.

The run profile follows from the engine's own report (cgroup version, rootless,
Podman, Docker Desktop), least privilege first. Pure logic: no engine calls here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

SYSTEMD_STOP_SIGNAL = "SIGRTMIN+3"


@dataclass(frozen=True)
class EngineFacts:
    """The facts about an engine that decide how systemd can run in its containers."""

    name: str = "docker"  # "docker" or "podman"
    version: str = ""
    cgroup_version: int = 2
    rootless: bool = False
    desktop: bool = False
    operating_system: str = ""
    # One per daemon however it is named: docker 20.10's ID is the host's key (shared by
    # the daemons of one machine), so with the host's name and the data root.
    engine_id: str = ""

    @classmethod
    def from_docker_info(
        cls, info: Mapping[str, Any], version: Mapping[str, Any] | None = None
    ) -> EngineFacts:
        """Read the facts from ``docker info`` (and ``docker version``) as the API returns them."""
        security = [str(opt) for opt in info.get("SecurityOptions") or []]
        components = (version or {}).get("Components") or []
        podman = any("podman" in str(c.get("Name", "")).lower() for c in components)
        os_name = str(info.get("OperatingSystem", ""))
        try:
            cgroup_version = int(info.get("CgroupVersion") or 1)
        except ValueError:
            cgroup_version = 1
        return cls(
            name="podman" if podman else "docker",
            version=str(info.get("ServerVersion", "")),
            cgroup_version=cgroup_version,
            rootless=any("rootless" in opt for opt in security),
            desktop="docker desktop" in os_name.lower(),
            operating_system=os_name,
            engine_id="|".join(
                str(info.get(key) or "") for key in ("ID", "Name", "DockerRootDir")
            ).strip("|"),
        )

    def describe(self) -> str:
        parts = [f"{self.name} {self.version}".strip(), f"cgroup v{self.cgroup_version}"]
        if self.rootless:
            parts.append("rootless")
        if self.desktop:
            parts.append("Docker Desktop")
        return ", ".join(parts)


@dataclass(frozen=True)
class RunProfile:
    """How to run one container so its init boots: keyword arguments for the engine."""

    name: str
    reason: str
    cgroupns: str | None = None
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = SYSTEMD_STOP_SIGNAL
    privileged: bool = False
    capabilities: tuple[str, ...] = ()  # added to the engine's default set
    security_opts: tuple[str, ...] = ()  # e.g. a seccomp profile for sandboxed units
    sysctls: Mapping[str, str] = field(default_factory=dict)

    def docker_run_flags(self) -> list[str]:
        """The same profile as ``docker run`` flags, for people reproducing a host by hand."""
        flags = [f"-e {k}={v}" for k, v in self.environment.items()]
        flags.append(f"--stop-signal {self.stop_signal}")
        for path, opts in self.tmpfs.items():
            flags.append(f"--tmpfs {path}:{opts}" if opts else f"--tmpfs {path}")
        for src, spec in self.volumes.items():
            flags.append(f"-v {src}:{spec['bind']}:{spec.get('mode', 'rw')}")
        if self.cgroupns:
            flags.append(f"--cgroupns={self.cgroupns}")
        flags += [f"--cap-add {cap}" for cap in self.capabilities]
        flags += [f"--sysctl {key}={value}" for key, value in self.sysctls.items()]
        for opt in self.security_opts:
            # The profile's JSON is long: name it; `python -m pytest_dockerlab seccomp` prints it.
            shown = "seccomp=sandbox.json" if opt == _SANDBOX[0] else opt
            flags.append(f"--security-opt {shown}")
        if self.privileged:
            flags.append("--privileged")
        return flags


# The seccomp profile of systemd hosts: Docker's default allow list (refusing whatever it does
# not name, a call a future kernel adds included) plus the calls packaged units' sandboxing
# makes. Docker's default allows those only with CAP_SYS_ADMIN, so every unit with
# PrivateUsers= (redis-server's, ...) dies with status=217/USER. No capability is added: in
# the container's own namespaces mount and unshare(CLONE_NEWNS) still fail for want of
# CAP_SYS_ADMIN; only inside a user namespace a unit makes for itself do they work, on that
# namespace's own mounts. Measured with Debian's redis-server, memcached, nginx, cron, rsyslog
# and ssh units under each candidate, then the conformance lab (tests/integration/labs/services)
# on debian12 and debian13: Docker's default alone fails redis-server (status=217/USER);
# unshare alone is enough on Debian 13 (systemd 257), Debian 12 (systemd 252) also needs mount;
# umount2 and setns, allowed before, were needed by none.
SANDBOX_SECCOMP_ALLOWED = (
    # PrivateUsers=: a user namespace; then, inside it, the unit's own mount namespace
    "unshare",
    # ProtectSystem=, PrivateTmp=, ReadOnlyPaths=, ...: mounts in that namespace
    "mount",
)


def docker_default_seccomp() -> dict[str, Any]:
    """Docker's default seccomp profile (moby/profiles, vendored unchanged)."""
    text = resources.files(__package__).joinpath("seccomp/docker-default.json").read_text()
    return dict(json.loads(text))


def sandbox_seccomp() -> str:
    """The seccomp profile of systemd hosts, as the engine takes it (JSON text)."""
    profile = docker_default_seccomp()
    profile["syscalls"] = [
        *profile["syscalls"],
        {
            "names": list(SANDBOX_SECCOMP_ALLOWED),
            "action": "SCMP_ACT_ALLOW",
            "comment": "pytest-dockerlab: what sandboxed systemd units need, no capability",
        },
    ]
    return json.dumps(profile, separators=(",", ":"))


def seccomp_diff() -> list[str]:
    """What the sandbox profile allows beyond Docker's default, and why."""
    default = docker_default_seccomp()
    unconditional = {
        name
        for rule in default["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("includes") and not rule.get("args")
        for name in rule["names"]
    }
    added = [name for name in SANDBOX_SECCOMP_ALLOWED if name not in unconditional]
    return [
        f"Docker's default seccomp profile ({len(unconditional)} calls allowed outright, the rest "
        "by argument, architecture or capability; anything else refused), plus:",
        *(f"  + {name}" for name in added),
        "which Docker's default allows only with CAP_SYS_ADMIN (not given here): packaged units "
        "sandbox themselves with them (PrivateUsers=, ProtectSystem=, PrivateTmp=, ...); without "
        "a capability they work only inside a user namespace a unit makes for itself.",
    ]


_SANDBOX = (f"seccomp={sandbox_seccomp()}",)
_BASE_TMPFS = {"/run": "exec", "/run/lock": "", "/tmp": "exec"}
# A VM has ::1 on its loopback; Docker turns IPv6 off in a container on a network without it,
# and services that listen on localhost by both addresses (memcached and unbound as Debian
# ships them) then fail with "Cannot assign requested address". Only the loopback is
# touched: no IPv6 reaches the lab network. An engine whose kernel has no IPv6 at all
# refuses the setting; the host is then started without it.
LOOPBACK_IPV6 = {"net.ipv6.conf.lo.disable_ipv6": "0"}
_CONTAINER_ENV = {"container": "docker"}

CGROUP_V1 = RunProfile(
    name="cgroup1",
    reason=(
        "cgroup v1: a private tmpfs at /sys/fs/cgroup with only the name=systemd hierarchy "
        "bound in, no extra capability, seccomp that lets units make user namespaces"
    ),
    cgroupns="host",
    tmpfs={**_BASE_TMPFS, "/sys/fs/cgroup": ""},
    volumes={"/sys/fs/cgroup/systemd": {"bind": "/sys/fs/cgroup/systemd", "mode": "rw"}},
    environment=_CONTAINER_ENV,
    security_opts=_SANDBOX,
    sysctls=LOOPBACK_IPV6,
)

CGROUP_V2 = RunProfile(
    name="cgroup2",
    reason=(
        "cgroup v2: systemd needs a writable unified hierarchy; bind it rw with the host "
        "cgroup namespace (no release_agent exists on v2), no extra capability, seccomp that "
        "lets units make user namespaces"
    ),
    cgroupns="host",
    tmpfs=_BASE_TMPFS,
    volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
    environment=_CONTAINER_ENV,
    security_opts=_SANDBOX,
    sysctls=LOOPBACK_IPV6,
)

CGROUP_V2_PRIVATE = RunProfile(
    name="cgroup2-private",
    reason=(
        "rootless engine on cgroup v2: the engine delegates a private cgroup to the "
        "container, so nothing of the host is mounted"
    ),
    cgroupns="private",
    tmpfs=_BASE_TMPFS,
    environment=_CONTAINER_ENV,
    security_opts=_SANDBOX,
    sysctls=LOOPBACK_IPV6,
)

PODMAN = RunProfile(
    name="podman",
    reason="Podman runs an init command in systemd mode and sets up cgroups and tmpfs itself",
    environment=_CONTAINER_ENV,
)

SYSVINIT = RunProfile(
    name="sysvinit",
    reason="SysV init needs no cgroup access; only the usual tmpfs mounts",
    tmpfs=_BASE_TMPFS,
    # ctrl-alt-del to init: the recipes make it halt, running the rc0 scripts.
    stop_signal="SIGINT",
    sysctls=LOOPBACK_IPV6,
)


def choose_profile(
    facts: EngineFacts, init: str = "systemd", privileged: bool = False
) -> RunProfile:
    """Pick the least-privileged profile that boots ``init`` on this engine."""
    if init == "sysvinit":
        profile = SYSVINIT
    elif facts.name == "podman":
        profile = PODMAN
    elif facts.cgroup_version == 1:
        profile = CGROUP_V1
    elif facts.rootless:
        profile = CGROUP_V2_PRIVATE
    else:
        profile = CGROUP_V2
    if privileged:
        profile = replace(profile, name=f"{profile.name}+privileged", privileged=True)
    return profile
