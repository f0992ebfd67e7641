"""Which engine a session talks to: one address, resolved once, handed to every client.

Three clients reach the engine: the Docker SDK (images, containers, sweeps), and the
``docker`` CLI that Ansible's ``community.docker.docker`` connection and testinfra's
``docker://`` backend call. The SDK alone reads only ``DOCKER_HOST`` or the default
socket; the CLI also follows docker *contexts* (Docker Desktop, Colima, OrbStack,
rootless Docker). :func:`resolve` follows the CLI's order, then looks for the sockets
those engines leave, and :meth:`EngineAddress.environment` gives the CLI clients the
same address, so all three always agree.

Pure: files and environment variables are read, no engine is asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from .exceptions import EngineUnavailableError

DEFAULT_SOCKET = "/var/run/docker.sock"
WINDOWS_PIPE = "npipe:////./pipe/docker_engine"


@dataclass(frozen=True)
class Tls:
    """TLS files of an engine reached over TCP (a folder with ca.pem, cert.pem, key.pem)."""

    folder: str  # "" when there are no files: TLS without verification, as the CLI does
    verify: bool

    def file(self, name: str) -> str | None:
        path = os.path.join(self.folder, name)
        return path if self.folder and os.path.exists(path) else None


@dataclass(frozen=True)
class EngineAddress:
    """Where the engine is (``unix://``, ``tcp://``, ``ssh://``, ``npipe://``) and why."""

    host: str
    source: str  # "DOCKER_HOST", "docker context 'colima'", "the default socket", ...
    tls: Tls | None = None
    tried: tuple[str, ...] = ()  # sockets looked for when nothing named an engine

    def describe(self) -> str:
        return f"{self.host} ({self.source})"

    def environment(self) -> dict[str, str | None]:
        """``DOCKER_*`` variables that point the docker CLI at this engine: for Ansible's
        connection, testinfra and any child process (``DOCKER_HOST`` wins over a context).
        None: the variable must not be set (an inherited one would apply to this address)."""
        env: dict[str, str | None] = dict.fromkeys(
            ("DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
        )
        env["DOCKER_HOST"] = self.host
        if self.tls is not None:
            env["DOCKER_CERT_PATH"] = self.tls.folder or None
            env["DOCKER_TLS_VERIFY" if self.tls.verify else "DOCKER_TLS"] = "1"
        return env

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``docker.DockerClient``."""
        kwargs: dict[str, object] = {"base_url": self.host}
        if self.tls is not None:
            from docker.tls import TLSConfig

            cert, key = self.tls.file("cert.pem"), self.tls.file("key.pem")
            ca = self.tls.file("ca.pem")
            kwargs["tls"] = TLSConfig(
                client_cert=(cert, key) if cert and key else None,
                ca_cert=ca,
                verify=(ca or True) if self.tls.verify else False,
            )
        if self.host.startswith("ssh://"):
            # The system's ssh, as the CLI uses: its config, agent and known hosts apply.
            kwargs["use_ssh_client"] = True
        return kwargs


@contextlib.contextmanager
def exported(
    address: EngineAddress, environ: MutableMapping[str, str] | None = None
) -> Iterator[None]:
    """Point the docker CLI of this process's children (Ansible's connection, testinfra's
    backend, the reaper) at ``address`` while the block lasts, so they use the engine the SDK
    uses, a docker context's included; what was there before is given back after."""
    env = os.environ if environ is None else environ
    wanted = address.environment()
    before = {name: env.get(name) for name in wanted}
    try:
        _assign(env, wanted)
        yield
    finally:
        _assign(env, before)


def _assign(env: MutableMapping[str, str], values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:  # e.g. an inherited DOCKER_TLS_VERIFY must not apply to this address
            env.pop(name, None)
        else:
            env[name] = value


def resolve(
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    platform: str = sys.platform,
    exists: Callable[[str], bool] = os.path.exists,
) -> EngineAddress:
    """The engine the docker CLI would use here, else the first engine socket found.

    ``DOCKER_HOST``, then ``DOCKER_CONTEXT``, then the current context of the CLI's
    config (``$DOCKER_CONFIG`` or ``~/.docker``), then the sockets of Docker, rootless
    Docker, Docker Desktop, Colima, OrbStack, Rancher Desktop and Podman, in that order.
    A context that does not exist is an :class:`EngineUnavailableError`.
    """
    env = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if env.get("DOCKER_HOST"):
        return EngineAddress(env["DOCKER_HOST"], "DOCKER_HOST", _tls_from(env, home))
    config_dir = Path(env.get("DOCKER_CONFIG") or home / ".docker")
    name, source = env.get("DOCKER_CONTEXT", ""), "DOCKER_CONTEXT"
    if not name:
        name, source = _current_context(config_dir), "current context"
    if name and name != "default":
        return _context(config_dir, name, source)
    if platform == "win32":
        return EngineAddress(WINDOWS_PIPE, "the default named pipe")
    candidates = _sockets(env, home, platform)
    for path, what in candidates:
        if exists(path):
            return EngineAddress(f"unix://{path}", what)
    return EngineAddress(
        f"unix://{DEFAULT_SOCKET}", "the default socket", tried=tuple(p for p, _ in candidates)
    )


def pool_member(
    name: str,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    source: str = "--dockerlab-engines",
) -> EngineAddress:
    """An engine of ``--dockerlab-engines`` (or what ``source`` says named it): an address
    (``tcp://``, ``ssh://``, ``unix://``) or a docker context's name ("default": the engine
    :func:`resolve` finds)."""
    env = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if "://" in name:
        tls = _tls_from(env, home) if name.startswith("tcp://") else None
        return EngineAddress(name, source, tls)
    if name == "default":
        return resolve({k: v for k, v in env.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")})
    return _context(Path(env.get("DOCKER_CONFIG") or home / ".docker"), name, source)


def _tls_from(env: Mapping[str, str], home: Path) -> Tls | None:
    """TLS as the CLI and the SDK read it: ``DOCKER_TLS_VERIFY`` (any value) verifies."""
    folder = env.get("DOCKER_CERT_PATH") or str(home / ".docker")
    if env.get("DOCKER_TLS_VERIFY"):
        return Tls(folder, verify=True)
    if env.get("DOCKER_TLS"):
        return Tls(folder, verify=False)
    return None


def _current_context(config_dir: Path) -> str:
    try:
        config = json.loads((config_dir / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    current = config.get("currentContext", "") if isinstance(config, dict) else ""
    return current if isinstance(current, str) else ""


def _context(config_dir: Path, name: str, source: str) -> EngineAddress:
    """A context as ``docker context create`` stores it: meta/<sha256(name)>/meta.json."""
    ident = hashlib.sha256(name.encode()).hexdigest()
    meta_file = config_dir / "contexts" / "meta" / ident / "meta.json"
    what = f"docker context {name!r}" + (
        " from DOCKER_CONTEXT" if source == "DOCKER_CONTEXT" else ""
    )
    try:
        meta = json.loads(meta_file.read_text())
        endpoint = meta["Endpoints"]["docker"]
        host = str(endpoint["Host"])
    except FileNotFoundError:
        raise EngineUnavailableError(
            what,
            f"no such context in {config_dir / 'contexts'}",
            "'docker context ls' lists the contexts; 'docker context use NAME' picks one.",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineUnavailableError(
            what, f"cannot read {meta_file}: {exc}", "Remove the context and create it again."
        ) from None
    tls_folder = config_dir / "contexts" / "tls" / ident / "docker"
    tls = None
    skip = bool(endpoint.get("SkipTLSVerify", False))
    if tls_folder.is_dir():  # a context made with --docker "host=...,ca=...,cert=...,key=..."
        tls = Tls(str(tls_folder), verify=not skip)
    elif skip and host.startswith("tcp://"):  # --docker "host=tcp://...,skip-tls-verify=true"
        tls = Tls("", verify=False)
    return EngineAddress(host, what, tls)


def _sockets(env: Mapping[str, str], home: Path, platform: str) -> list[tuple[str, str]]:
    runtime = env.get("XDG_RUNTIME_DIR", "")
    found = [(DEFAULT_SOCKET, "the default socket")]
    if platform == "darwin":
        found += [
            (str(home / ".docker/run/docker.sock"), "Docker Desktop's socket"),
            (str(home / ".colima/default/docker.sock"), "Colima's socket"),
            (str(home / ".orbstack/run/docker.sock"), "OrbStack's socket"),
            (str(home / ".rd/docker.sock"), "Rancher Desktop's socket"),
        ]
    else:
        if runtime:
            found.append((f"{runtime}/docker.sock", "rootless Docker's socket"))
        found.append((str(home / ".docker/desktop/docker.sock"), "Docker Desktop's socket"))
    found.append(("/run/podman/podman.sock", "Podman's socket"))
    if runtime:
        found.append((f"{runtime}/podman/podman.sock", "rootless Podman's socket"))
    return found
