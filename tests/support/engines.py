"""Engines and registries the integration tests and the benchmarks start beside the main
engine: another dockerd (own data root, exec root, bridge and address pool) and Debian's
docker-registry on 127.0.0.1. No pytest here: a missing tool is a :class:`Missing`, which the
tests turn into a skip (or, in CI, a failure) and the benchmarks into an exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_dockerlab import labels as lbl


class Missing(Exception):
    """What the machine lacks to start it (root, dockerd, docker-registry)."""


class DidNotStart(Exception):
    """It was started and did not answer: the log's tail says why."""


def leftovers(client: Any, session: str) -> list[str]:
    """Names of every container, network and volume still labelled with ``session`` (any
    session's when it is empty)."""
    filters = {"label": f"{lbl.SESSION}={session}" if session else lbl.SESSION}
    # The low-level listings: one call each, so a container removed meanwhile (by a reaper at
    # work) is not inspected after it is gone.
    api = client.api
    found = [c["Names"][0].lstrip("/") for c in api.containers(all=True, filters=filters)]
    found += [n["Name"] for n in api.networks(filters=filters)]
    found += [v["Name"] for v in api.volumes(filters=filters).get("Volumes") or []]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SecondEngine:
    """Another dockerd on this machine, standing in for a remote one (or a CI runner's);
    a test may kill it, freeze it (it accepts connections and says nothing) and start it
    again."""

    tcp: str  # "" for an isolated one
    unix: str
    client: Any
    root: Path
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None

    def labelled(self) -> list[str]:
        return leftovers(self.client, "")

    def start(self) -> None:
        """Start the daemon (again: a killed one leaves its pid file and containerd)."""
        import docker

        (self.root / "docker.pid").unlink(missing_ok=True)
        _stop_containerd(self.root)
        with (self.root / "dockerd.log").open("a") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not _pings(self.unix.removeprefix("unix://")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_tail = (self.root / "dockerd.log").read_text()[-2000:]
                raise DidNotStart(f"another dockerd did not start:\n{log_tail}")
            time.sleep(0.5)
        if self.client is not None:
            self.client.close()
        self.client = docker.DockerClient(base_url=self.tcp or self.unix)

    def kill(self) -> None:
        """SIGKILL, as an OOM killer or a crash would: its containers die with it."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: its socket still accepts connections, and nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.thaw()
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _pings(socket_path: str) -> bool:
    """The engine on this socket answers its ping (a plain socket: the SDK's retries leave
    theirs open)."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(socket_path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            answer = sock.recv(64)
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer


def _stop_containerd(root: Path) -> None:
    """The containerd a killed daemon left: gone before another starts on its socket."""
    pattern = f"containerd --config {root}/exec"
    subprocess.run(["pkill", "-f", pattern], check=False)
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            subprocess.run(["pkill", "-KILL", "-f", pattern], check=False)
        time.sleep(0.2)
    # Else a new daemon may find its pid still taken for a moment, and wait for it forever.
    (root / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)


@contextlib.contextmanager
def another_engine(root: Path, index: int, *, isolated: bool = False) -> Iterator[SecondEngine]:
    """A dockerd with its own data root, exec root, bridge and address pool (``index`` keeps
    several apart), on 127.0.0.1:PORT and a socket of its own; stopped and removed after.

    ``isolated``: in a network namespace of its own, reached by its socket alone. A daemon
    that is killed and started again next to the first engine deletes the first engine's
    docker0 (seen on Docker 20.10; as does one started with --bridge none): one that may be
    killed runs there, where the docker0 it sees is its own.
    """
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        raise Missing(
            "another dockerd needs root and dockerd (scripts/engine.sh start installs it)"
        )
    name = f"dlab{os.getpid() % 10000}x{index}"
    unix = f"unix://{root}/docker.sock"
    common = [
        "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "docker.pid"),
        "--default-address-pool", f"base=10.{240 + index}.0.0/16,size=24",
    ]  # fmt: skip
    if isolated:
        tcp = ""
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        # nsenter, not "ip netns exec": that one mounts a sysfs without the cgroup hierarchies.
        argv = ["nsenter", f"--net=/run/netns/{name}", "dockerd", "--host", unix, *common]
    else:
        tcp = f"tcp://127.0.0.1:{free_port()}"
        # Its own bridge: the first engine owns docker0; builds run on the default bridge.
        subprocess.run(["ip", "link", "add", "name", name, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"10.{230 + index}.0.1/24", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        argv = ["dockerd", "--host", tcp, "--host", unix, "--bridge", name, *common]
    engine = SecondEngine(tcp, unix, None, root, argv)
    try:
        engine.start()
        yield engine
    finally:
        if engine.client is not None:
            engine.client.close()
        engine.stop()
        _stop_containerd(root)
        # The shims of a killed daemon's containers outlive it.
        subprocess.run(
            ["pkill", "-KILL", "-f", f"containerd-shim.*-address {root}/exec"], check=False
        )
        if isolated:
            subprocess.run(["ip", "netns", "delete", name], check=False)
        else:
            subprocess.run(["ip", "link", "delete", name], check=False)
            # Its bridge's NAT and forwarding rules are in this machine's tables, and no
            # daemon removes them: they were piling up, run after run.
            _drop_rules([f" {name} ", f" 10.{230 + index}.0.0/24 ", f" 10.{240 + index}."])
        # A killed daemon leaves its containers' network namespaces mounted in the exec root.
        for mounted in (root / "data", root / "exec"):
            subprocess.run(["umount", "-R", "-l", str(mounted)], check=False, capture_output=True)
        for line in Path("/proc/mounts").read_text().splitlines():
            point = line.split()[1]
            if point.startswith(f"{root}/"):
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _drop_rules(marks: list[str]) -> None:
    """Delete every iptables rule whose line in ``iptables-save`` holds one of ``marks``."""
    if not shutil.which("iptables-save"):
        return
    saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False)
    table = ""
    for line in saved.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A ") and any(mark in f"{line} " for mark in marks):
            rule = shlex.split(line)[1:]
            subprocess.run(["iptables", "-t", table, "-D", *rule], check=False, capture_output=True)


@dataclass
class RegistryServer:
    """Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1:PORT, with a
    storage folder of its own; ``stop``/``start`` take it away and bring it back."""

    folder: Path
    address: str
    process: subprocess.Popen[bytes] | None = None

    def repository(self, name: str) -> str:
        return f"{self.address}/{name}"

    def start(self) -> None:
        with (self.folder / "registry.log").open("a") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(self.folder / "config.yml")],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # it answers (401: it asks for credentials)
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.folder / "registry.log").read_text()[-2000:]
                    raise DidNotStart(f"docker-registry did not start:\n{tail}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def tags(self, repository: str) -> list[str]:
        """The tags of ``repository`` (a path under this registry), none if it has none."""
        url = f"http://{self.address}/v2/{repository}/tags/list"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return sorted(json.load(answer).get("tags") or [])
        except urllib.error.HTTPError:
            return []


@contextlib.contextmanager
def registry_server(
    folder: Path, htpasswd: Path | None = None, *, deletes: bool = True
) -> Iterator[RegistryServer]:
    if not shutil.which("docker-registry"):
        raise Missing("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    auth = f"auth:\n  htpasswd: {{realm: dockerlab, path: {htpasswd}}}\n" if htpasswd else ""
    (folder / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage:\n  filesystem: {{rootdirectory: {folder / 'data'}}}\n"
        f"  delete: {{enabled: {str(deletes).lower()}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n{auth}"
    )
    server = RegistryServer(folder, f"127.0.0.1:{port}")
    server.start()
    try:
        yield server
    finally:
        server.stop()
