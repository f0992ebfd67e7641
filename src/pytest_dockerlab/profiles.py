"""What kind of engine host we are on, and how to run a VM-like container there.

The run profile follows from the engine's own report (cgroup version, rootless,
Podman, Docker Desktop), least privilege first. Pure logic: no engine calls here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
        flags += [f"--security-opt {opt}" for opt in self.security_opts]
        if self.privileged:
            flags.append("--privileged")
        return flags


_BASE_TMPFS = {"/run": "exec", "/run/lock": "", "/tmp": "exec"}
_CONTAINER_ENV = {"container": "docker"}

CGROUP_V1 = RunProfile(
    name="cgroup1",
    reason=(
        "cgroup v1: a private tmpfs at /sys/fs/cgroup with only the name=systemd hierarchy "
        "bound in, no extra capability"
    ),
    cgroupns="host",
    tmpfs={**_BASE_TMPFS, "/sys/fs/cgroup": ""},
    volumes={"/sys/fs/cgroup/systemd": {"bind": "/sys/fs/cgroup/systemd", "mode": "rw"}},
    environment=_CONTAINER_ENV,
)

CGROUP_V2 = RunProfile(
    name="cgroup2",
    reason=(
        "cgroup v2: systemd needs a writable unified hierarchy; bind it rw with the host "
        "cgroup namespace (no release_agent exists on v2), no extra capability"
    ),
    cgroupns="host",
    tmpfs=_BASE_TMPFS,
    volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
    environment=_CONTAINER_ENV,
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
