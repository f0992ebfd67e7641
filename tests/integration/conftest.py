"""Integration tests: pytester sessions of the plugin against a real Docker engine.

Without an engine they skip in a developer's shell, and fail in CI (CI=true),
where the engine is required.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab import labels as lbl

# Labs that tests copy into a pytester folder and run there; not tests of this session.
collect_ignore_glob = ["labs/*"]

TWO_HOSTS = """
hosts:
  web:
    image: debian12
    groups: [webservers]
    vars: {http_port: 80}
  db:
    image: debian12
    groups: [dbservers]
"""

# Inner tests record their session id, so the outer test can check what it left.
RECORD_SESSION = """
import pathlib, pytest

@pytest.fixture(autouse=True)
def _record_session(request):
    if "lab" in request.fixturenames:
        lab = request.getfixturevalue("lab")
        pathlib.Path(request.config.rootpath, "session-id").write_text(lab.session_id)
"""


@pytest.fixture(autouse=True)
def _no_converge_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions converge for real unless a test asks for the cache: an entry left by an
    earlier run would turn a converge test into a cache test."""
    monkeypatch.setenv("DOCKERLAB_CACHE", "off")


def remove_cache_entries(client: Any, lab_file: Path) -> None:
    """The converge cache entries a test's lab file made."""
    from pytest_dockerlab.cache import ENTRY, LAB_FILE

    for image in client.images.list(filters={"label": f"{LAB_FILE}={lab_file}"}):
        if image.labels.get(ENTRY) == "true":
            client.images.remove(image.id, force=True)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        message = f"no Docker engine reachable ({exc}); run scripts/engine.sh start"
        if os.environ.get("CI"):
            pytest.fail(f"the engine is required in CI: {message}")
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture
def labdir(pytester: pytest.Pytester, docker_client: Any) -> pytest.Pytester:
    """A pytester folder with the two-host lab file and session recording in place."""
    pytester.makefile(".yml", dockerlab=TWO_HOSTS)
    pytester.makeconftest(RECORD_SESSION)
    return pytester


def session_id(pytester: pytest.Pytester) -> str:
    return (pytester.path / "session-id").read_text()


def leftovers(client: Any, session: str) -> list[str]:
    """Names of every container, network and volume still labelled with ``session``."""
    filters = {"label": f"{lbl.SESSION}={session}" if session else lbl.SESSION}
    # The low-level listings: one call each, so a container removed meanwhile (by a reaper at
    # work) is not inspected after it is gone.
    api = client.api
    found = [c["Names"][0].lstrip("/") for c in api.containers(all=True, filters=filters)]
    found += [n["Name"] for n in api.networks(filters=filters)]
    found += [v["Name"] for v in api.volumes(filters=filters).get("Volumes") or []]
    return found


def labelled(client: Any) -> set[str]:
    """Every container, network and volume on the engine that carries a session label."""
    return set(leftovers(client, ""))


def run(pytester: pytest.Pytester, *args: str, timeout: float = 600) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)


def write_recipe(root: Path, name: str, dockerfile: str, recipe_yml: str) -> None:
    folder = root / "recipes" / name
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text(dockerfile)
    (folder / "recipe.yml").write_text(recipe_yml)


def required(what: str) -> None:
    """A tool the tests need is missing: a skip in a developer's shell, a failure in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {what}")
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SecondEngine:
    """Another dockerd on this machine, standing in for a remote one (or a CI runner's)."""

    tcp: str
    unix: str
    client: Any

    def labelled(self) -> list[str]:
        return leftovers(self.client, "")


@contextlib.contextmanager
def another_engine(root: Path, index: int) -> Iterator[SecondEngine]:
    """A dockerd with its own data root, exec root, bridge and address pool (``index`` keeps
    several apart), on 127.0.0.1:PORT and a socket of its own; stopped and removed after."""
    import docker
    import docker.errors

    if os.geteuid() != 0 or not shutil.which("dockerd"):
        required("another dockerd needs root and dockerd (scripts/engine.sh start installs it)")
    bridge = f"dlab{os.getpid() % 10000}x{index}"
    port = free_port()
    tcp, unix = f"tcp://127.0.0.1:{port}", f"unix://{root}/docker.sock"
    # Its own bridge: the first engine owns docker0; builds run on the default bridge.
    subprocess.run(["ip", "link", "add", "name", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"10.{230 + index}.0.1/24", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    log = (root / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            "dockerd", "--host", tcp, "--host", unix,
            "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"), "--bridge", bridge,
            "--default-address-pool", f"base=10.{240 + index}.0.0/16,size=24",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    client = None
    try:
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = docker.DockerClient(base_url=tcp)  # asks the engine its API version
            except docker.errors.DockerException:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    log_tail = (root / "dockerd.log").read_text()[-2000:]
                    pytest.fail(f"another dockerd did not start:\n{log_tail}")
                time.sleep(0.5)
        yield SecondEngine(tcp, unix, client)
    finally:
        if client is not None:
            client.close()
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        subprocess.run(["pkill", "-f", f"containerd --config {root}/exec"], check=False)
        subprocess.run(["ip", "link", "delete", bridge], check=False)
        log.close()
        subprocess.run(["umount", "-R", str(root / "data")], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


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
                    pytest.fail(f"docker-registry did not start:\n{tail}")
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
def registry_server(folder: Path, htpasswd: Path | None = None) -> Iterator[RegistryServer]:
    if not shutil.which("docker-registry"):
        required("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    auth = f"auth:\n  htpasswd: {{realm: dockerlab, path: {htpasswd}}}\n" if htpasswd else ""
    (folder / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage:\n  filesystem: {{rootdirectory: {folder / 'data'}}}\n"
        "  delete: {enabled: true}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n{auth}"
    )
    server = RegistryServer(folder, f"127.0.0.1:{port}")
    server.start()
    try:
        yield server
    finally:
        server.stop()
