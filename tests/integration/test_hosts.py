"""A real engine: each host container setting does what it says, on top of a booting init."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from .conftest import RECORD_SESSION, leftovers, run, session_id

pytestmark = pytest.mark.integration

# Inner tests read what the engine made of a host through the SDK, as a user's test could.
INSPECT = """
import docker

@pytest.fixture
def inspect(lab):
    def inspect(name):
        client = docker.from_env()
        try:
            return client.api.inspect_container(lab.container(name))
        finally:
            client.close()
    return inspect
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_capabilities_cap_drop_and_security_options(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    pytester.makefile(
        ".yml",
        dockerlab="""
hosts:
  fw:
    capabilities: [NET_ADMIN]
    cap_drop: [NET_RAW]
    security_opts: [seccomp=unconfined]
  plain: {}
""",
    )
    pytester.makeconftest(RECORD_SESSION + INSPECT)
    pytester.makepyfile(
        """
        import pytest

        NET_ADMIN, NET_RAW = 12, 13  # bits of the capability sets, capabilities(7)

        def status(lab, name):
            lines = lab.exec(name, "cat /proc/1/status", check=True).output.splitlines()
            return dict(line.split(":", 1) for line in lines if ":" in line)

        @pytest.mark.lab("fw,plain")
        def test_a_firewall_host_can_manage_links_and_a_plain_one_cannot(lab):
            # (a veth pair: the dummy link type is not in every engine's kernel)
            add = "ip link add v0 type veth peer name v1"
            assert lab.exec("fw", add).rc == 0
            assert "v0@v1" in lab.exec("fw", "ip -o link show v0").output
            refused = lab.exec("plain", add)
            assert refused.rc != 0
            assert "Operation not permitted" in refused.output

        @pytest.mark.lab("fw,plain")
        def test_the_capability_sets_and_seccomp_are_the_hosts_own(lab, inspect):
            fw, plain = status(lab, "fw"), status(lab, "plain")
            fw_caps, plain_caps = int(fw["CapBnd"], 16), int(plain["CapBnd"], 16)
            assert fw_caps >> NET_ADMIN & 1 and not plain_caps >> NET_ADMIN & 1
            assert plain_caps >> NET_RAW & 1 and not fw_caps >> NET_RAW & 1
            assert fw["Seccomp"].strip() == "0"       # unconfined
            assert plain["Seccomp"].strip() == "2"    # the run profile's filter
            host_config = inspect("fw")["HostConfig"]
            # (newer engines write CAP_NET_ADMIN)
            assert [c.removeprefix("CAP_") for c in host_config["CapAdd"]] == ["NET_ADMIN"]
            assert [c.removeprefix("CAP_") for c in host_config["CapDrop"]] == ["NET_RAW"]
            assert host_config["SecurityOpt"] == ["seccomp=unconfined"]
            for name in ("fw", "plain"):
                assert lab.exec(name, "systemctl is-system-running").output.strip() == "running"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert leftovers(docker_client, session_id(pytester)) == []


def test_a_capability_the_engine_cannot_give_is_refused_with_the_reason(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    pytester.makefile(".yml", dockerlab="hosts:\n  res: {capabilities: [SYS_RESOURCE]}\n")
    pytester.makepyfile(
        """
        SYS_RESOURCE = 24

        def test_res(lab):
            status = lab.exec("res", "grep CapBnd /proc/1/status", check=True).output
            assert int(status.split()[1], 16) >> SYS_RESOURCE & 1
        """
    )
    before = {c.id for c in docker_client.containers.list(all=True)}
    result = run(pytester)
    if result.parseoutcomes().get("errors"):
        # This sandbox's engine cannot hand on CAP_SYS_RESOURCE: the host errors, saying so.
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(
            [
                "*HostStartError: cannot start host 'res': *unable to apply caps: operation "
                "not permitted* (the engine could not add SYS_RESOURCE; drop from "
                "'capabilities' what it cannot give*"
            ]
        )
    else:
        result.assert_outcomes(passed=1)
    assert {c.id for c in docker_client.containers.list(all=True)} == before


def test_ports_tmpfs_sysctls_ulimits_etc_hosts_command_and_limits(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    fixed = free_port()
    pytester.makefile(
        ".yml",
        dockerlab=f"""
hosts:
  web:
    published_ports: ["8000", "127.0.0.1:{fixed}:8001"]
    tmpfs: ["/srv/scratch:size=16m"]
    sysctls: {{net.ipv4.ip_forward: 1, net.core.somaxconn: 1024}}
    ulimits: ["nofile:1024:2048"]
    etc_hosts: {{db.example.test: 10.1.2.3}}
    command: /lib/systemd/systemd --log-level=info
  small:
    memory: 256m
    cpus: 0.5
    pids_limit: 128
    hostname: small.example.test
""",
    )
    pytester.makeconftest(RECORD_SESSION + INSPECT)
    pytester.makepyfile(
        f"""
        import time, urllib.request
        import pytest

        def fetch(port):
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{{port}}/", timeout=2) as page:
                        return page.status
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

        @pytest.mark.lab("web")
        def test_published_ports_answer_on_the_engines_machine(lab, inspect):
            for port in (8000, 8001):
                lab.exec("web", f"systemd-run --unit=http{{port}} python3 -m http.server {{port}} "
                                "--directory /srv", check=True)
            bindings = inspect("web")["NetworkSettings"]["Ports"]
            [picked] = bindings["8000/tcp"]  # no host port given: the engine picked one
            assert picked["HostIp"] == "127.0.0.1"  # no address given: this machine only
            assert fetch(int(picked["HostPort"])) == 200
            assert bindings["8001/tcp"] == [{{"HostIp": "127.0.0.1", "HostPort": "{fixed}"}}]
            assert fetch({fixed}) == 200

        @pytest.mark.lab("web")
        def test_tmpfs_sysctls_ulimits_etc_hosts_and_command(lab, inspect):
            web = lab.host("web")
            scratch = web.check_output("findmnt -no FSTYPE,OPTIONS /srv/scratch")
            assert scratch.startswith("tmpfs ") and "size=16384k" in scratch
            assert web.check_output("cat /proc/sys/net/ipv4/ip_forward") == "1"
            assert web.check_output("cat /proc/sys/net/core/somaxconn") == "1024"
            assert web.check_output("sh -c 'ulimit -Sn; ulimit -Hn'").split() == ["1024", "2048"]
            assert web.check_output("getent hosts db.example.test").split() == [
                "10.1.2.3", "db.example.test"]
            # the command replaces the image's (its init), and the host still boots with it
            assert web.check_output("tr '\\\\0' ' ' < /proc/1/cmdline").strip() == (
                "/lib/systemd/systemd --log-level=info")
            assert inspect("web")["Config"]["Cmd"] == [
                "/lib/systemd/systemd", "--log-level=info"]
            assert web.check_output("systemctl is-system-running") == "running"

        @pytest.mark.lab("web")
        def test_a_host_gets_the_default_limits(lab, inspect):
            host_config = inspect("web")["HostConfig"]
            assert host_config["Memory"] == 2 * 1024**3
            assert host_config["PidsLimit"] == 4096
            assert host_config["NanoCpus"] == 0

        FORK = '''
        import os, time
        children = []
        try:
            for _ in range(1000):
                pid = os.fork()
                if pid == 0:
                    time.sleep(3)
                    os._exit(0)
                children.append(pid)
        except OSError as exc:
            print(len(children), exc.errno)
        for pid in children:
            os.waitpid(pid, 0)
        '''

        @pytest.mark.lab("small")
        def test_limits_are_the_hosts_own_and_a_fork_bomb_stops_at_its_pids_limit(lab, inspect):
            # cgroup v1 hosts see no memory or pids hierarchy inside: read the engine's record
            host_config = inspect("small")["HostConfig"]
            assert host_config["Memory"] == 256 * 1024**2
            assert host_config["NanoCpus"] == 500_000_000
            assert host_config["PidsLimit"] == 128
            forked, errno = lab.exec("small", ["python3", "-c", FORK]).output.split()
            assert 64 < int(forked) < 128 and errno == "11"  # EAGAIN: the pids limit
            assert lab.exec("small", "true").rc == 0  # the host lives on

        @pytest.mark.lab("web,small")
        def test_a_host_name_of_its_own_and_its_peers_reach_it_by_both(lab):
            assert lab.host("small").check_output("hostname") == "small.example.test"
            for name in ("small", "small.example.test"):
                assert lab.exec("web", f"getent hosts {{name}}").rc == 0, name
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=5)
    assert leftovers(docker_client, session_id(pytester)) == []


def test_named_volumes_and_bind_mounts(pytester: pytest.Pytester, docker_client: Any) -> None:
    pytester.makeconftest(RECORD_SESSION)
    pytester.makefile(
        ".yml",
        dockerlab="""
hosts:
  a:
    volumes: ["data:/srv/data", "./shared:/srv/shared:ro"]
  b:
    volumes: ["data:/mnt/data"]
""",
    )
    (pytester.path / "shared").mkdir()
    (pytester.path / "shared" / "hello.txt").write_text("from the lab file's folder\n")
    pytester.makepyfile(
        """
        import docker, pytest

        @pytest.mark.lab("a,b")
        def test_volumes(lab):
            a = lab.host("a")
            assert a.file("/srv/shared/hello.txt").content_string == "from the lab file's folder\\n"
            assert lab.exec("a", "touch /srv/shared/x").rc != 0  # mounted read-only
            lab.exec("a", "echo kept > /srv/data/f", check=True)
            assert lab.host("b").file("/mnt/data/f").content_string == "kept\\n"  # one volume
            lab.restart("a")
            assert lab.host("a").file("/srv/data/f").content_string == "kept\\n"
            client = docker.from_env()
            volume = client.volumes.get(f"dockerlab-{lab.session_id}-main-vol-data")
            assert volume.attrs["Labels"]["pytest-dockerlab.session"] == lab.session_id
            assert volume.attrs["Labels"]["pytest-dockerlab.volume"] == "data"
            client.close()
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert (
        leftovers(docker_client, session_id(pytester)) == []
    )  # the named volume went with the lab
    assert (pytester.path / "shared" / "hello.txt").exists()  # a bind mount's source stays


def test_hosts_resolve_the_peers_they_share_a_network_with(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    pytester.makeconftest(RECORD_SESSION)
    pytester.makefile(
        ".yml",
        dockerlab="""
networks:
  back: {subnet: 10.123.45.0/24}
hosts:
  web: {networks: [front]}
  db:
    networks: [{name: back, aliases: [database], ipv4_address: 10.123.45.20}]
  proxy: {networks: [front, back]}
""",
    )
    pytester.makepyfile(
        """
        import docker, pytest

        def resolves(lab, host, name):
            return lab.exec(host, f"getent hosts {name}").rc == 0

        @pytest.mark.lab("web,db,proxy")
        def test_networks(lab):
            assert resolves(lab, "proxy", "web")
            assert resolves(lab, "proxy", "db")
            assert resolves(lab, "proxy", "database")  # db's alias on back
            assert resolves(lab, "web", "proxy")
            assert resolves(lab, "db", "proxy")
            assert not resolves(lab, "web", "db")
            assert not resolves(lab, "web", "database")
            assert not resolves(lab, "db", "web")
            # a fixed address on a subnet of the lab file's
            assert lab.exec("proxy", "getent hosts db").output.split()[0] == "10.123.45.20"
            assert lab.exec("db", "hostname -I").output.split()[:1] == ["10.123.45.20"]
            client = docker.from_env()
            nets = client.networks.list(
                filters={"label": f"pytest-dockerlab.session={lab.session_id}"})
            prefix = f"dockerlab-{lab.session_id}-main-net"
            # no host is on the default network, so there is none
            assert sorted(n.name for n in nets) == [f"{prefix}-back", f"{prefix}-front"]
            client.close()
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert leftovers(docker_client, session_id(pytester)) == []


def test_a_host_named_as_ansible_inventories_name_hosts_resolves_and_converges(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """ubuntu_2204, as Molecule platforms and inventories write names: its peers resolve it,
    it is its own hostname, and Ansible reaches it by that name."""
    pytester.makeconftest(RECORD_SESSION)
    pytester.makefile(
        ".yml",
        dockerlab="ansible: {playbooks: [site.yml]}\nhosts:\n  web_1: {}\n  db: {}\n",
        site="- hosts: web_1\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy: {dest: /etc/me, content: '{{ inventory_hostname }}'}\n",
    )
    pytester.makepyfile(
        """
        def test_named(lab):
            assert lab.exec("db", "getent hosts web_1").rc == 0
            assert lab.host("web_1").check_output("hostname") == "web_1"
            assert lab.host("web_1").file("/etc/me").content_string == "web_1"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert leftovers(docker_client, session_id(pytester)) == []
