from __future__ import annotations

from typing import Any

import pytest

from pytest_dockerlab.profiles import EngineFacts, choose_profile

DOCKER_V1 = {"CgroupVersion": "1", "ServerVersion": "20.10.24", "SecurityOptions": []}
DOCKER_V2 = {
    "CgroupVersion": "2",
    "ServerVersion": "27.3.1",
    "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
}
ROOTLESS_V2 = {**DOCKER_V2, "SecurityOptions": ["name=seccomp", "name=rootless", "name=cgroupns"]}
DESKTOP = {**DOCKER_V2, "OperatingSystem": "Docker Desktop"}
PODMAN_VERSION = {"Components": [{"Name": "Podman Engine", "Version": "5.2.0"}]}


@pytest.mark.parametrize(
    ("info", "version", "expected"),
    [
        (DOCKER_V1, None, ("docker", 1, False, False)),
        (DOCKER_V2, None, ("docker", 2, False, False)),
        (ROOTLESS_V2, None, ("docker", 2, True, False)),
        (DESKTOP, None, ("docker", 2, False, True)),
        (DOCKER_V2, PODMAN_VERSION, ("podman", 2, False, False)),
        ({}, None, ("docker", 1, False, False)),
    ],
)
def test_engine_facts_come_from_docker_info(
    info: dict[str, Any], version: dict[str, Any] | None, expected: tuple[Any, ...]
) -> None:
    facts = EngineFacts.from_docker_info(info, version)
    assert (facts.name, facts.cgroup_version, facts.rootless, facts.desktop) == expected


def test_cgroup_v1_gets_the_least_privileged_profile() -> None:
    profile = choose_profile(EngineFacts(cgroup_version=1))
    flags = " ".join(profile.docker_run_flags())
    assert flags == (
        "-e container=docker --stop-signal SIGRTMIN+3 --tmpfs /run:exec --tmpfs /run/lock "
        "--tmpfs /tmp:exec --tmpfs /sys/fs/cgroup "
        "-v /sys/fs/cgroup/systemd:/sys/fs/cgroup/systemd:rw --cgroupns=host "
        "--sysctl net.ipv6.conf.lo.disable_ipv6=0 --security-opt seccomp=sandbox.json"
    )
    assert not profile.privileged
    assert not profile.capabilities


def test_systemd_hosts_run_dockers_allow_list_plus_what_sandboxed_units_need() -> None:
    import json

    from pytest_dockerlab.profiles import docker_default_seccomp, sandbox_seccomp

    for facts in (EngineFacts(cgroup_version=1), EngineFacts(cgroup_version=2)):
        (opt,) = choose_profile(facts).security_opts
        assert opt == f"seccomp={sandbox_seccomp()}"
    profile, default = json.loads(sandbox_seccomp()), docker_default_seccomp()
    # An allow list: a call no rule names (one a future kernel adds) is refused.
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["syscalls"][:-1] == default["syscalls"]  # Docker's rules, untouched
    added = profile["syscalls"][-1]
    assert added["action"] == "SCMP_ACT_ALLOW"
    assert sorted(added["names"]) == ["mount", "unshare"]
    allowed = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW"
               and not r.get("includes") for n in r["names"]}  # fmt: skip
    # What reaches outside the container stays refused, as in Docker's default.
    assert not {"keyctl", "bpf", "open_by_handle_at", "init_module", "kexec_load"} & allowed
    # SysV hosts and Podman keep the engine's default seccomp.
    assert choose_profile(EngineFacts(cgroup_version=1), init="sysvinit").security_opts == ()


def test_seccomp_diff_names_each_added_call() -> None:
    from pytest_dockerlab.profiles import seccomp_diff

    lines = seccomp_diff()
    assert [line for line in lines if line.startswith("  + ")] == ["  + unshare", "  + mount"]


@pytest.mark.parametrize(
    ("facts", "name"),
    [
        (EngineFacts(cgroup_version=2), "cgroup2"),
        (EngineFacts(cgroup_version=2, desktop=True), "cgroup2"),
        (EngineFacts(cgroup_version=2, rootless=True), "cgroup2-private"),
        (EngineFacts(name="podman", cgroup_version=2), "podman"),
        (EngineFacts(name="podman", cgroup_version=1), "podman"),
    ],
)
def test_profile_follows_the_detected_host(facts: EngineFacts, name: str) -> None:
    profile = choose_profile(facts)
    assert profile.name == name
    assert not profile.privileged
    # systemd stops on SIGRTMIN+3, and needs to know it is in a container.
    assert profile.stop_signal == "SIGRTMIN+3"
    assert profile.environment["container"] == "docker"


def test_privileged_is_only_added_when_the_host_asks() -> None:
    profile = choose_profile(EngineFacts(cgroup_version=1), privileged=True)
    assert profile.privileged
    assert profile.name == "cgroup1+privileged"
    assert "--privileged" in profile.docker_run_flags()


def test_sysvinit_hosts_need_no_cgroup_mounts_and_stop_on_ctrl_alt_del() -> None:
    profile = choose_profile(EngineFacts(cgroup_version=2), init="sysvinit")
    assert profile.volumes == {}
    assert profile.stop_signal == "SIGINT"
