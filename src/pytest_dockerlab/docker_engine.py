"""The Docker engine (and Podman's Docker-compatible socket) through the Docker SDK.

This module is the boundary: every error of the SDK (and of requests and urllib3 under
it) becomes an :class:`~pytest_dockerlab.exceptions.EngineError` here, so no caller
needs to know the SDK's exceptions or shorten their messages.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import docker.utils
import requests.exceptions
import urllib3.exceptions

from .address import EngineAddress, resolve
from .engine import (
    REGISTRY_TIMEOUT,
    TRANSFER_STALL,
    ContainerState,
    ExecResult,
    ImageInfo,
    Leftovers,
    Progress,
    Pushed,
    Resource,
    epoch,
)
from .exceptions import (
    ContainerGoneError,
    EngineError,
    EngineLostError,
    EngineUnavailableError,
    HostStartError,
    ImageBuildError,
    ImageNotFoundError,
)
from .labels import KEEP, LOCK, NAME, NAMESPACE, SESSION, owned_container
from .profiles import EngineFacts, RunProfile
from .spec import ContainerSpec

log = logging.getLogger(__name__)

# How long the engine may stay silent (seconds): the first contact (its version, a ping);
# a list, an inspect or a create; and a read of what takes long (a build step, an export, an
# exec), where the bound is on silence, not on the whole (a build streams for minutes).
PROBE_TIMEOUT = 10
CALL_TIMEOUT = 30
STALL_TIMEOUT = 600
# Removing a container deletes its writable layer (hundreds of MB for a converged host).
REMOVE_TIMEOUT = 120
# Output shown with a container that is gone: enough for init's last words.
_GONE_LOG_LINES = 20
# An exec's exit code when SIGKILL ended it, and how long its container may take to be
# reported as stopped after that (under 0.15s measured on Docker 20.10).
_SIGKILLED = 128 + 9
_SETTLE_SECONDS = 0.5

# What the SDK raises: its own errors, and requests' and urllib3's underneath (requests'
# exceptions are OSErrors, as are the socket's own).
LOCK_IMAGE = f"{NAMESPACE}/lock:1"
_SDK_ERRORS = (docker.errors.DockerException, OSError, urllib3.exceptions.HTTPError)


def _build_context(context: Path, dockerfile: Path) -> dict[str, Any]:
    """The build's context and Dockerfile as the SDK takes them.

    A Dockerfile outside the context (the recipes' shared one) goes into the context's
    archive under a fixed name. Left to the SDK, its content is sent as a second
    ``dockerfile`` query value: Docker reads the first (the name), Podman the last (the
    text: "stat .../build/# A VM-like host...: file name too long").
    """
    try:
        return {"path": str(context), "dockerfile": str(dockerfile.relative_to(context))}
    except ValueError:
        pass
    name = ".dockerlab.Dockerfile"
    archive = docker.utils.tar(str(context), dockerfile=(name, dockerfile.read_text()))
    return {"fileobj": archive, "custom_context": True, "dockerfile": name}


class _Client:
    """What every part of the engine reaches it through: the client for quick calls, and
    clients that wait longer (made by :class:`DockerEngine`)."""

    _client: docker.DockerClient

    def _timed(self, seconds: int) -> Any:
        raise NotImplementedError  # DockerEngine's

    @property
    def _slow(self) -> Any:
        """The low-level client for what takes long: it gives up on a silence, not a length."""
        return self._timed(STALL_TIMEOUT)


class _Images(_Client):
    """The image half of the engine: what the catalogue builds, lists and removes."""

    def facts(self) -> EngineFacts:
        raise NotImplementedError  # DockerEngine's

    @property
    def _podman(self) -> bool:
        """Podman's compat API (4.3) takes some calls its own way: commit ignores a config."""
        return self.facts().name == "podman"

    def image_exists(self, ref: str) -> bool:
        try:
            with _translate("inspect image", ref, image=True):
                self._client.images.get(ref)
        except ImageNotFoundError:
            return False
        return True

    def pull(self, ref: str) -> None:
        # A pull reports a failure mid-way (a layer that did not arrive) in its stream.
        with _translate("pull", ref, image=True):
            for message in self._timed(TRANSFER_STALL).pull(ref, stream=True, decode=True):
                if "error" in message:
                    raise EngineError("pull", ref, str(message["error"]).strip())

    def push(self, ref: str) -> Pushed:
        repository, tag = docker.utils.parse_repository_tag(ref)
        sizes: dict[str, int] = {}  # layer -> its size, as the progress says it
        uploaded: set[str] = set()  # layers the registry did not have
        digest = ""
        with _translate("push", ref, image=True):
            api = self._timed(TRANSFER_STALL)
            for message in api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in message:
                    raise EngineError("push", ref, str(message["error"]).strip())
                layer = str(message.get("id", ""))
                total = (message.get("progressDetail") or {}).get("total")
                if total:
                    sizes[layer] = max(sizes.get(layer, 0), int(total))
                if message.get("status") == "Pushed":
                    uploaded.add(layer)
                digest = str((message.get("aux") or {}).get("Digest") or digest)
        if not digest:
            raise EngineError("push", ref, "the engine did not say what the registry holds now")
        return Pushed(digest, sum(sizes.get(layer, 0) for layer in uploaded))

    def registry_digest(self, ref: str) -> str | None:
        try:
            with _translate("look up", ref):
                found = self._timed(REGISTRY_TIMEOUT).inspect_distribution(ref)
        except EngineError as exc:
            if exc.status != 404:
                raise
            lower = exc.cause.lower()
            if "manifest unknown" in lower or "name unknown" in lower:
                return None  # the registry has no such tag
            # Podman before 5 has no /distribution endpoint: the engine cannot ask.
            raise EngineError(
                "look up",
                ref,
                f"this engine cannot ask a registry for a manifest ({exc.cause})",
                404,
            ) from exc
        return str(found["Descriptor"]["digest"])

    def tag(self, image: str, ref: str) -> None:
        repository, tag = docker.utils.parse_repository_tag(ref)
        with _translate("tag", ref, image=True):
            self._client.api.tag(image, repository, tag)

    def untag(self, ref: str) -> None:
        try:
            with _translate("untag", ref, image=True):
                self._client.api.remove_image(ref, noprune=True)
        except ImageNotFoundError:
            pass

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        progress: Progress,
    ) -> None:
        tail: deque[str] = deque(maxlen=40)
        source = _build_context(context, dockerfile)
        # The SDK leaves a context archive it was handed open: close it (a ResourceWarning).
        archive = contextlib.closing(source.get("fileobj") or io.BytesIO())
        try:
            with _translate("build", tag), archive:
                stream = self._slow.build(
                    **source,
                    tag=tag,
                    buildargs=dict(buildargs),
                    labels=dict(labels),
                    rm=True,
                    forcerm=True,
                    pull=False,
                    decode=True,
                )
                for chunk in stream:
                    if "error" in chunk:
                        raise ImageBuildError(tag, str(chunk["error"]).strip(), "\n".join(tail))
                    for line in str(chunk.get("stream", "")).splitlines():
                        if not line.strip():
                            continue
                        tail.append(line)
                        if line.startswith("Step "):
                            progress(line)
        except EngineError as exc:
            # A build the engine refused or lost is this image's failure, like a failed step.
            raise ImageBuildError(tag, exc.cause, "\n".join(tail)) from exc

    def import_rootfs(
        self,
        tarball: IO[bytes],
        tag: str,
        labels: Mapping[str, str],
        settings: Sequence[str] = (),
    ) -> None:
        changes = [f'LABEL "{key}"="{value}"' for key, value in labels.items()]
        stop = [s.split(None, 1)[1] for s in settings if s.upper().startswith("STOPSIGNAL ")]
        changes += [s for s in settings if not s.upper().startswith("STOPSIGNAL ")]
        with _translate("import", tag):
            # The tag inside the repository: Podman's compat import (4.3) ignores a
            # separate tag and names the image :latest; Docker takes either.
            # A pipe goes chunked; a file goes with its length (chunked, its bytes would be
            # read as chunk headers).
            stream = not tarball.seekable()
            self._slow.import_image(src=tarball, repository=tag, changes=changes, stream_src=stream)
        if stop:
            self._stop_signal(tag, stop[-1])

    def make_marker_image(self, ref: str, labels: Mapping[str, str]) -> None:
        changes = [f'LABEL "{key}"="{value}"' for key, value in labels.items()]
        with _translate("import", ref):
            # An empty tar archive as its layer; the tag inside the repository (Podman ignores
            # a separate one).
            self._client.api.import_image_from_data(b"\0" * 1024, repository=ref, changes=changes)

    def images(self, label: str) -> list[ImageInfo]:
        with _translate("list images labelled", label):
            containers = self._client.api.containers(all=True)
            images = self._client.api.images(filters={"label": label})
        users: dict[str, int] = {}
        for container in containers:
            users[container["ImageID"]] = users.get(container["ImageID"], 0) + 1
        return [
            ImageInfo(
                id=image["Id"],
                tags=tuple(
                    _short_tag(t) for t in image.get("RepoTags") or () if t != "<none>:<none>"
                ),
                labels=image.get("Labels") or {},
                size=int(image.get("Size", 0)),
                created=float(image.get("Created", 0)),
                containers=users.get(image["Id"], 0),
            )
            for image in images
        ]

    def remove_image(self, image_id: str) -> None:
        with _translate("remove image", image_id.removeprefix("sha256:")[:12], image=True):
            self._slow.remove_image(image_id, force=True)

    def save_image(self, ref: str, out: IO[bytes]) -> None:
        with _translate("save image", ref, image=True):
            for chunk in self._slow.get_image(ref):
                out.write(chunk)

    def load_images(self, archive: IO[bytes]) -> None:
        with _translate("load images from", getattr(archive, "name", "an archive")):
            for message in self._slow.load_image(archive):
                if "error" in message:
                    raise EngineError("load images from", str(archive.name), message["error"])

    def image_id(self, ref: str) -> str:
        with _translate("inspect image", ref, image=True):
            return str(self._client.api.inspect_image(ref)["Id"])

    def flatten(self, container: str, ref: str, labels: Mapping[str, str]) -> str:
        # Export and import, not commit: a committed image keeps the container's labels,
        # and a container a user runs from it would look like one of a session of ours.
        api = self._slow
        with _translate("inspect", container):
            config = api.inspect_container(container)["Config"]
        changes = [f"LABEL {json.dumps(key)}={json.dumps(value)}" for key, value in labels.items()]
        if config.get("Entrypoint"):
            changes.append(f"ENTRYPOINT {json.dumps(config['Entrypoint'])}")
        if config.get("Cmd"):
            changes.append(f"CMD {json.dumps(config['Cmd'])}")
        for variable in config.get("Env") or ():
            name, _, value = variable.partition("=")
            changes.append(f"ENV {name}={json.dumps(value)}")
        with _translate("export", container):
            stream = api.export(container)
            # The tag inside the repository, as in import_rootfs (Podman ignores a separate one).
            api.import_image(src=stream, repository=ref, changes=changes, stream_src=True)
        if config.get("StopSignal"):
            self._stop_signal(ref, config["StopSignal"])
        return self.image_id(ref)

    def _stop_signal(self, ref: str, signal: str) -> None:
        """An import takes no STOPSIGNAL: a commit of a container of the image does."""
        api = self._slow
        repository, tag = docker.utils.parse_repository_tag(ref)  # a registry's port is no tag
        with _translate("set the stop signal of", ref):
            imported = api.inspect_image(ref)["Id"]
            holder = api.create_container(ref)["Id"]
            try:
                # Podman's compat commit (4.3) ignores a config: a STOPSIGNAL change there
                # (Docker's commit takes no STOPSIGNAL change, but the config).
                podman = self._podman
                api.commit(
                    holder, repository=repository, tag=tag or None,
                    conf=None if podman else {"StopSignal": signal},
                    changes=[f"STOPSIGNAL {signal}"] if podman else None,
                )  # fmt: skip
            except _SDK_ERRORS:
                # No half-made image (one without its stop signal) under that name, and
                # none left nameless either: the holder goes first, then the import.
                with contextlib.suppress(*_SDK_ERRORS):
                    api.remove_container(holder, force=True)
                    api.remove_image(imported, force=True)
                raise
            finally:
                with contextlib.suppress(*_SDK_ERRORS):
                    api.remove_container(holder, force=True)

    def commit(self, container: str, ref: str, labels: Mapping[str, str]) -> str:
        repository, tag = docker.utils.parse_repository_tag(ref)
        with _translate("commit", container):
            # A config of labels is merged over the container's own (which pass on otherwise).
            # Podman's compat commit (4.3) ignores the config: LABEL changes there, which it
            # splits at the first "=" and unquotes without unescaping (so no json.dumps).
            podman = self._podman
            made = self._slow.commit(
                container,
                repository=repository,
                tag=tag or None,
                conf=None if podman else {"Labels": dict(labels)},
                changes=[f'LABEL "{k}"="{v}"' for k, v in labels.items()] if podman else None,
                pause=True,
            )
        return str(made["Id"])


class _Labelled(_Client):
    """Finding and removing what carries the plugin's labels, for teardown and sweeps."""

    def find(self, labels: Mapping[str, str]) -> Leftovers:
        wanted = [f"{k}={v}" if v else k for k, v in labels.items()]
        filters: dict[str, Any] = {"label": wanted}
        api = self._client.api
        with _translate("find resources labelled", ",".join(wanted)):
            return Leftovers(
                containers=tuple(
                    c["Id"] for c in _owned(api.containers(all=True, filters=filters))
                ),
                networks=tuple(n["Id"] for n in api.networks(filters=filters)),
                volumes=tuple(
                    v["Name"] for v in (api.volumes(filters=filters).get("Volumes") or [])
                ),
            )

    def remove(self, leftovers: Leftovers) -> None:
        api = self._timed(REMOVE_TIMEOUT)  # a container's layer of gigabytes takes a while
        errors: list[str] = []

        def attempt(kind: str, name: str, call: Any, *args: Any, **kwargs: Any) -> None:
            try:
                with _translate(f"remove {kind}", name):
                    call(*args, **kwargs)
            except EngineError as exc:
                if exc.status != 404:  # already gone is what we wanted
                    errors.append(f"{kind} {name}: {exc.cause}")

        def remove_container(cid: str) -> None:
            attempt("container", cid[:12], api.remove_container, cid, force=True, v=True)

        # Containers first and in parallel: networks and volumes are busy until they go.
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(leftovers.containers)))) as pool:
            list(pool.map(remove_container, leftovers.containers))
        for nid in leftovers.networks:
            attempt("network", nid[:12], api.remove_network, nid)
        for name in leftovers.volumes:
            attempt("volume", name, api.remove_volume, name, force=True)
        if errors:
            log.warning("dockerlab: could not remove %s", "; ".join(errors))

    def sessions(self) -> dict[str, Mapping[str, str]]:
        found: dict[str, Mapping[str, str]] = {}
        filters = {"label": [SESSION]}
        api = self._client.api
        with _translate("list resources labelled", SESSION):
            items = [
                *_owned(api.containers(all=True, filters=filters)),
                *api.networks(filters=filters),
                *(api.volumes(filters=filters).get("Volumes") or []),
            ]
        for item in items:
            labels = item.get("Labels") or {}
            # A kept lab may say so on one resource only (--dockerlab-keep=on-failure's marker).
            if labels[SESSION] not in found or labels.get(KEEP) == "true":
                found[labels[SESSION]] = labels
        return found

    def labelled(self, labels: Mapping[str, str]) -> list[Resource]:
        wanted = [f"{k}={v}" if v else k for k, v in labels.items()]
        filters: dict[str, Any] = {"label": wanted}
        api = self._client.api
        with _translate("list resources labelled", ",".join(wanted)):
            containers = _owned(api.containers(all=True, filters=filters))
            networks = api.networks(filters=filters)
            volumes = api.volumes(filters=filters).get("Volumes") or []
        found = [
            Resource(
                "container",
                c["Id"],
                str((c.get("Names") or [c["Id"][:12]])[0]).lstrip("/"),
                c.get("Labels") or {},
                float(c.get("Created") or 0),
            )
            for c in containers
        ]
        found += [
            Resource("network", n["Id"], n.get("Name", ""), n.get("Labels") or {}, _epoch(n))
            for n in networks
        ]
        found += [
            Resource("volume", v["Name"], v["Name"], v.get("Labels") or {}, _epoch(v))
            for v in volumes
        ]
        return found


class _Locks(_Client):
    """Build locks as marker containers: the engine gives a name to one container only."""

    def make_marker_image(self, ref: str, labels: Mapping[str, str]) -> None:
        raise NotImplementedError  # _Images'

    def try_lock(self, name: str, labels: Mapping[str, str]) -> str | None:
        api = self._client.api
        for attempt in range(2):
            try:
                made = api.create_container(
                    LOCK_IMAGE,
                    command=["lock"],
                    name=name,
                    labels={**labels, NAME: name},
                    network_disabled=True,
                    host_config=api.create_host_config(network_mode="none"),
                )
                return str(made["Id"])
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    return None
                # Podman before 5.x answers a name conflict with 500: the holder says it.
                if exc.status_code != 404 and self.lock_holder(name) is not None:
                    return None
                if exc.status_code != 404 or attempt:
                    raise _engine_error("create build lock", name, exc) from exc
            except _SDK_ERRORS as exc:
                raise _engine_error("create build lock", name, exc) from exc
            self.make_marker_image(LOCK_IMAGE, {LOCK: "image"})
        return None

    def lock_holder(self, name: str) -> tuple[str, Mapping[str, str]] | None:
        try:
            found = self._client.api.inspect_container(name)
        except docker.errors.NotFound:
            return None
        except _SDK_ERRORS as exc:
            raise _engine_error("inspect build lock", name, exc) from exc
        return str(found["Id"]), dict(found.get("Config", {}).get("Labels") or {})

    def unlock(self, marker: str) -> None:
        try:
            self._client.api.remove_container(marker, force=True)
        except docker.errors.NotFound:
            pass
        except _SDK_ERRORS as exc:
            raise _engine_error("remove build lock", marker[:12], exc) from exc


class _NetworkFaults(_Client):
    """Moving containers between networks, and running network tools beside them."""

    def _on_container(
        self, operation: str, container: str, *, needs_running: bool = True
    ) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError  # DockerEngine's

    def connect(self, network: str, container: str, aliases: Sequence[str]) -> None:
        with self._on_container("connect to a network", container, needs_running=False):
            self._client.api.connect_container_to_network(container, network, aliases=list(aliases))

    def disconnect(self, network: str, container: str) -> None:
        with self._on_container("disconnect from a network", container, needs_running=False):
            self._client.api.disconnect_container_from_network(container, network)

    def addresses(self, container: str) -> dict[str, str]:
        with self._on_container("inspect", container, needs_running=False):
            info = self._client.api.inspect_container(container)
        networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
        return {
            str(net.get("NetworkID")): str(net["IPAddress"])
            for net in networks.values()
            if net.get("IPAddress")
        }

    def run_beside(
        self, container: str, image: str, argv: Sequence[str], labels: Mapping[str, str]
    ) -> ExecResult:
        api = self._client.api
        name = f"{container}-beside-{secrets.token_hex(3)}"
        with self._on_container("run beside", container):
            helper = api.create_container(
                image,
                command=list(argv),
                name=name,
                labels={**labels, NAME: name},
                host_config=api.create_host_config(
                    network_mode=f"container:{container}", cap_add=["NET_ADMIN"]
                ),
            )["Id"]
        try:
            with _translate("run beside", container):
                api.start(helper)
                rc = int(api.wait(helper, timeout=60).get("StatusCode", -1))
                output: bytes = api.logs(helper)
        finally:
            with contextlib.suppress(EngineError), _translate("remove container", helper):
                api.remove_container(helper, force=True)
        return ExecResult(rc=rc, output=output.decode(errors="replace"))


class DockerEngine(_Images, _Labelled, _Locks, _NetworkFaults):
    """An :class:`~pytest_dockerlab.engine.Engine` backed by ``docker.DockerClient``.

    Images, label sweeps and network faults live in the bases; this class connects, and
    runs the networks and the containers.
    """

    def __init__(
        self, address: EngineAddress | None = None, client: docker.DockerClient | None = None
    ) -> None:
        """Connect to ``address`` (resolved here when not given; tests pass a ``client``)."""
        self._address = resolve() if address is None else address
        self._facts: EngineFacts | None = None
        self._injected = client is not None
        self._timed_clients: dict[int, docker.APIClient] = {}
        self._making = threading.Lock()
        if client is not None:
            self._client = client
            return
        where, host = self._address.describe(), self._address.host
        if host.startswith("unix://") and not os.path.exists(host[7:]):
            tried = ", ".join(self._address.tried) or host[7:]
            raise EngineUnavailableError(where, f"no engine socket at {tried}")
        if host.startswith("unix://") and not stat.S_ISSOCK(os.stat(host[7:]).st_mode):
            what = "a folder" if os.path.isdir(host[7:]) else "a file"
            raise EngineUnavailableError(
                where, f"{host[7:]} is {what}, not a socket", "Correct the address."
            )
        kwargs = self._address.client_kwargs()
        try:
            # The SDK would ask for the version with the client's own bound: ask first, briefly.
            probe = docker.APIClient(timeout=PROBE_TIMEOUT, **kwargs)
            probe.ping()
        except _SDK_ERRORS as exc:
            raise _unreachable(where, exc) from None
        except ValueError as exc:  # the SDK parses the address with urllib and int()
            raise EngineUnavailableError(
                where, f"not a valid engine address: {exc}", "Correct it."
            ) from None
        self._timed_clients[PROBE_TIMEOUT] = probe
        self._client = docker.DockerClient(
            timeout=CALL_TIMEOUT, version=probe.api_version, **kwargs
        )

    @property
    def address(self) -> str:
        return self._address.describe()

    def answers(self) -> bool:
        """Whether the engine answers a ping now (within the first contact's bound)."""
        try:
            return bool(self._timed(PROBE_TIMEOUT).ping())
        except (*_SDK_ERRORS, EngineError):
            return False

    def _timed(self, seconds: int) -> Any:
        """A low-level client of this engine whose reads give up after ``seconds`` of silence
        (one per bound, made when first asked); the main client's bound is CALL_TIMEOUT."""
        if self._injected:
            return self._client.api
        with self._making, _translate("connect", self.address):  # hosts boot in threads
            if seconds not in self._timed_clients:
                self._timed_clients[seconds] = docker.APIClient(
                    timeout=seconds,
                    version=self._client.api.api_version,
                    **self._address.client_kwargs(),
                )
        return self._timed_clients[seconds]

    def facts(self) -> EngineFacts:
        if self._facts is None:
            with _translate("read engine info", ""):
                info, version = self._client.info(), self._client.version()
            self._facts = EngineFacts.from_docker_info(info, version)
        return self._facts

    # Networks and containers

    def create_network(
        self, name: str, labels: Mapping[str, str], subnet: str = "", gateway: str = ""
    ) -> str:
        ipam = None
        if subnet:
            pool = docker.types.IPAMPool(subnet=subnet, gateway=gateway or None)
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
        try:
            with _translate("create network", name):
                network = self._client.networks.create(
                    name, driver="bridge", labels=dict(labels), ipam=ipam
                )
        except EngineError as exc:
            if subnet and "overlap" in exc.cause.lower():
                raise EngineError(
                    "create network",
                    name,
                    f"subnet {subnet} is taken on the engine (another "
                    f"lab, or a network of its own, has it): {exc.cause}",
                ) from None
            raise
        return str(network.id)

    def create_volume(self, name: str, labels: Mapping[str, str]) -> str:
        with _translate("create volume", name):
            volume = self._client.volumes.create(name=name, driver="local", labels=dict(labels))
        return str(volume.name)

    def run_container(
        self,
        *,
        name: str,
        image: str,
        hostname: str,
        labels: Mapping[str, str],
        profile: RunProfile,
        environment: Mapping[str, str],
        settings: ContainerSpec,
    ) -> str:
        kwargs = _create_kwargs(profile, settings)
        kwargs["environment"] = {**kwargs["environment"], **environment}
        # The engine creates a container on one network; it joins the others before it starts.
        first, *others = settings.networks
        # A host answers to its name, and to its own host name (ns1.example.com) if it has one.
        names = list(dict.fromkeys([hostname, settings.hostname or hostname]))
        api = self._client.api
        try:
            with _translate("create container", name):
                endpoint = api.create_endpoint_config(
                    aliases=[*names, *first.aliases], ipv4_address=first.ipv4_address or None
                )
                container = self._client.containers.create(
                    image,
                    name=name,
                    hostname=settings.hostname or hostname,
                    labels={**labels, NAME: name},
                    network=first.name,
                    networking_config={first.name: endpoint},
                    detach=True,
                    **kwargs,
                )
        except EngineError as exc:
            raise HostStartError(
                hostname, exc.cause, _refusal_hint(profile, settings, exc.cause)
            ) from None
        try:
            for network in others:
                with _translate("connect to a network", name):
                    api.connect_container_to_network(
                        container.id,
                        network.name,
                        aliases=[*names, *network.aliases],
                        ipv4_address=network.ipv4_address or None,
                    )
            with _translate("start", name):
                container.start()
        except EngineError as exc:
            hint = _refusal_hint(profile, settings, exc.cause)
            # The container exists but never ran: remove it now, not at teardown.
            try:
                with _translate("remove container", name):
                    container.remove(force=True, v=True)
            except EngineError as removal:
                log.warning("dockerlab: %s", removal)
            if "ipv6" in exc.cause and any("ipv6" in key for key in profile.sysctls):
                # A kernel without IPv6 has no such setting: boot without ::1 on loopback.
                log.info("dockerlab: %s: no IPv6 on this engine's kernel", hostname)
                without = {k: v for k, v in profile.sysctls.items() if "ipv6" not in k}
                return self.run_container(
                    name=name,
                    image=image,
                    hostname=hostname,
                    labels=labels,
                    profile=replace(profile, sysctls=without),
                    environment=environment,
                    settings=settings,
                )
            # The cause is in the message; the SDK's chain is noise to a test's reader.
            raise HostStartError(hostname, exc.cause, hint) from None
        return str(container.id)

    def exec(self, container: str, argv: Sequence[str], timeout: int | None = None) -> ExecResult:
        api = self._client.api
        with self._on_container("exec", container):
            exec_id = api.exec_create(container, list(argv), stdout=True, stderr=True)["Id"]
            # What runs may take long: bounded by its silence, or by ``timeout``.
            running = self._slow if timeout is None else self._timed(timeout)
            output: bytes = running.exec_start(exec_id)
            rc = api.exec_inspect(exec_id).get("ExitCode")
        if rc is None or rc == _SIGKILLED:
            # The command may have died with its container (the kernel SIGKILLs what is left
            # in a container whose init ended): then its result means nothing.
            state = self._stopping(container)
            if not state.running:
                raise self._gone(container, state, "exec", "it stopped during the command")
        return ExecResult(rc=-1 if rc is None else int(rc), output=output.decode(errors="replace"))

    def state(self, container: str) -> ContainerState:
        try:
            with _translate("inspect", container):
                info = self._client.api.inspect_container(container)
        except EngineError as exc:
            if exc.status == 404:
                return ContainerState.removed()
            raise
        return _container_state(info.get("State") or {})

    def _stopping(self, container: str) -> ContainerState:
        """The state of ``container``, given a moment to show that it has stopped."""
        # The engine reports the end of an exec before the end of its container.
        deadline = time.monotonic() + _SETTLE_SECONDS
        state = self.state(container)
        while state.running and time.monotonic() < deadline:
            time.sleep(0.05)
            state = self.state(container)
        return state

    def stop(self, container: str, timeout: float) -> None:
        with self._on_container("stop", container, needs_running=False):
            self._client.api.stop(container, timeout=int(timeout))

    def start(self, container: str) -> None:
        with self._on_container("start", container, needs_running=False):
            self._client.api.start(container)

    def kill(self, container: str, signal: str) -> None:
        with self._on_container("kill", container):
            self._client.api.kill(container, signal=signal)

    def logs(self, container: str, tail: int) -> str:
        try:
            return self._log_text(container, tail)
        except EngineError as exc:
            return f"(no logs: {exc.cause})"

    def _log_text(self, container: str, tail: int) -> str:
        with _translate("read logs of", container):
            data: bytes = self._client.api.logs(container, tail=tail)
        return data.decode(errors="replace")

    @contextmanager
    def _on_container(
        self, operation: str, container: str, needs_running: bool = True
    ) -> Iterator[None]:
        """Translate like :func:`_translate`; a container that is gone raises ContainerGoneError.

        Gone means removed, or, for an operation that ``needs_running``, not running.
        """
        try:
            with _translate(operation, container):
                yield
        except EngineError as exc:
            # 404: no such container (or exec instance, when it went mid-command);
            # 409: the engine refuses exec and kill in a stopped container.
            if exc.status != 404 and not (exc.status == 409 and "not running" in exc.cause):
                raise
            state = self.state(container)
            if state.exists and (state.running or not needs_running):
                raise
            raise self._gone(container, state, operation, exc.cause, exc.status) from exc.__cause__

    def _gone(
        self,
        container: str,
        state: ContainerState,
        operation: str,
        cause: str,
        status: int | None = None,
    ) -> ContainerGoneError:
        log_tail = ""
        if state.exists:
            try:
                log_tail = self._log_text(container, tail=_GONE_LOG_LINES)
            except EngineError as exc:
                log.debug("dockerlab: no logs of %s: %s", container, exc)
        return ContainerGoneError(
            container,
            state.status,
            state.exit_code,
            state.oom_killed,
            log_tail,
            operation=operation,
            cause=cause,
            status=status,
        )

    def close(self) -> None:
        for client in self._timed_clients.values():
            client.close()
        self._client.close()


# The SDK's words for an HTTP error status: "404 Client Error for http://h:1/version: ...".
_HTTP_ERROR = re.compile(
    r"(\d{3}) (?:Client|Server) Error (?:for|.*? for url:) [\w+]+://[^/\s]+(/\S*?):?(?:\s|$)"
)


def _unreachable(where: str, exc: BaseException) -> EngineUnavailableError:
    """Why the first contact with the engine at ``where`` failed, and what to do: install
    one when nothing is there, correct the address when something else answers."""
    cause, text = _short(exc), _chain_text(exc)
    not_api = (
        "Correct the address: a Docker or Podman socket, tcp:// to a daemon's API port, or "
        "ssh://USER@HOST."
    )
    tls = (
        "For a daemon that wants TLS, set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (its CA, "
        "cert and key), or use its docker context."
    )
    if "paramiko" in cause:  # the SDK's ssh:// adapter imports it, even for the ssh CLI
        return EngineUnavailableError(
            where, "ssh:// needs paramiko", "pip install 'pytest-dockerlab[ssh]'."
        )
    if "SSH-" in text:
        return EngineUnavailableError(
            where,
            "an SSH server answered, not an engine",
            "For an engine over SSH, write ssh://USER@HOST (the engine's own socket is "
            "reached through it).",
        )
    if "HTTP request to an HTTPS server" in text:
        return EngineUnavailableError(where, "the daemon there wants TLS", tls)
    if "SSL" in text or "CERTIFICATE" in text:
        return EngineUnavailableError(where, f"TLS failed ({cause})", tls)
    if "Invalid bind address" in text:
        return EngineUnavailableError(where, "not a valid engine address", "Correct it.")
    http = _HTTP_ERROR.search(text)
    if http or isinstance(exc, docker.errors.APIError) or "BadStatusLine" in text:
        said = f"HTTP {http[1]} to {http[2]}" if http else cause
        return EngineUnavailableError(
            where, f"what answered is not a Docker engine API: {said}", not_api
        )
    if "ApiVersion" in text or "Expecting value" in text or "JSONDecodeError" in text:
        return EngineUnavailableError(
            where, "what answered is not a Docker engine API: its /version is no engine's",
            not_api,
        )  # fmt: skip
    if _timed_out(exc):
        return EngineUnavailableError(
            where,
            f"it accepted the connection but did not answer in {PROBE_TIMEOUT} s",
            _restart_hint(where),
        )
    if "reset by peer" in text or "RemoteDisconnected" in text or "aborted" in text.lower():
        return EngineUnavailableError(
            where, "it closed the connection without answering", f"{not_api} {tls}"
        )
    return EngineUnavailableError(where, cause)


def _restart_hint(where: str) -> str:
    """What to do about a hung engine at ``where``: the system's daemon is a service; any
    other (rootless, a second dockerd, a remote one) is restarted by whoever runs it."""
    if re.match(r"unix://(/var)?/run/docker\.sock\b", where):
        restart = "restart it ('sudo systemctl restart docker')"
    else:
        restart = "restart the daemon behind that address"
    return f"A hung engine: {restart}, or correct the address if this is not one."


def _chain_text(exc: BaseException, depth: int = 0) -> str:
    """``exc``'s words and those of every exception it wraps, for telling causes apart."""
    inner = [*exc.args, getattr(exc, "reason", None), exc.__cause__, exc.__context__]
    nested = [
        _chain_text(e, depth + 1)
        for e in inner
        if isinstance(e, BaseException) and e is not exc and depth < 6
    ]
    return " ".join([f"{type(exc).__name__}: {exc}", *nested])


def _timed_out(exc: BaseException, depth: int = 0) -> bool:
    """``exc`` (or one it wraps) is a read that gave up waiting."""
    if isinstance(exc, (TimeoutError, urllib3.exceptions.ReadTimeoutError)):
        return True
    if type(exc).__name__ in ("ReadTimeout", "ReadTimeoutError", "timeout"):
        return True
    inner = [*exc.args, getattr(exc, "reason", None), exc.__cause__, exc.__context__]
    return depth < 6 and any(
        isinstance(e, BaseException) and e is not exc and _timed_out(e, depth + 1) for e in inner
    )


def _owned(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The listed containers the plugin made (:func:`~.labels.owned_container`): one started
    from an image committed from ours carries our labels, never its own name in NAME."""
    return [
        c
        for c in containers
        if owned_container(str((c.get("Names") or [""])[0]).lstrip("/"), c.get("Labels") or {})
    ]


def _short_tag(tag: str) -> str:
    """A tag as the plugin names it: Podman lists ``docker.io/`` or ``localhost/`` before it."""
    for prefix in ("docker.io/", "localhost/"):
        if tag.startswith(prefix):
            return tag[len(prefix) :]
    return tag


def _refusal_hint(profile: RunProfile, settings: ContainerSpec, cause: str) -> str:
    """What to change when the engine would not start a container, where it can be told."""
    # runc's words when the engine cannot hand out a capability it does not hold itself.
    caps = "caps" in cause
    if profile.privileged and (caps or "permission" in cause.lower()):
        return (
            "the engine refused a privileged container; drop 'privileged: true' and use "
            "the default profile: this engine refuses --privileged, as one in a sandbox "
            "without CAP_SYS_RESOURCE or a rootless one does"
        )
    if "No command specified" in cause:
        return (
            "the image has no CMD: a recipe's Dockerfile must end with its init, "
            'e.g. CMD ["/sbin/init"], as the shipped recipes do'
        )
    if "error setting rlimit" in cause:
        return (
            "the engine could not raise the open-files or process limits above this "
            "machine's hard limits (it lacks CAP_SYS_RESOURCE, as in a sandbox); rootful "
            "Podman does so for every container: set default_ulimits in containers.conf "
            'under the hard limits, e.g. ["nofile=20000:20000", "nproc=32768:32768"]'
        )
    if caps and settings.capabilities:
        return (
            f"the engine could not add {', '.join(settings.capabilities)}; drop from "
            "'capabilities' what it cannot give: an engine in a sandbox, or a rootless one, "
            "can only hand on capabilities it holds"
        )
    return ""


def _create_kwargs(profile: RunProfile, settings: ContainerSpec | None = None) -> dict[str, Any]:
    """``profile`` with a host's ``settings`` on top, as arguments of ``containers.create``."""
    settings = settings or ContainerSpec()
    # The host's own mounts win over the profile's tmpfs at the same place (a bigger /tmp).
    mounted = {*settings.tmpfs, *(mount.target for mount in settings.volumes)}
    tmpfs = {path: opts for path, opts in profile.tmpfs.items() if path not in mounted}
    volumes = {src: dict(spec) for src, spec in profile.volumes.items()}
    for mount in settings.volumes:
        volumes[mount.source] = {"bind": mount.target, "mode": mount.mode}
    kwargs: dict[str, Any] = {
        "tmpfs": {**tmpfs, **settings.tmpfs},
        "volumes": volumes,
        "environment": dict(profile.environment),
        "stop_signal": profile.stop_signal,
        "privileged": profile.privileged,
    }
    if profile.cgroupns:
        kwargs["cgroupns"] = profile.cgroupns
    cap_add = [
        cap
        for cap in dict.fromkeys((*profile.capabilities, *settings.capabilities))
        if cap not in settings.cap_drop
    ]
    if cap_add:
        kwargs["cap_add"] = cap_add
    if settings.cap_drop:
        kwargs["cap_drop"] = list(settings.cap_drop)
    # A host's seccomp or AppArmor profile replaces the run profile's (the engine takes one).
    replaced = {_opt_kind(opt) for opt in settings.security_opts} & {"seccomp", "apparmor"}
    security_opt = [
        *(opt for opt in profile.security_opts if _opt_kind(opt) not in replaced),
        *settings.security_opts,
    ]
    if security_opt:
        kwargs["security_opt"] = security_opt
    if settings.published_ports:
        ports: dict[str, list[tuple[str, int | None]]] = {}
        for port in settings.published_ports:
            key = f"{port.container_port}/{port.protocol}"
            ports.setdefault(key, []).append((port.host_ip, port.host_port))
        kwargs["ports"] = ports
    sysctls = {**profile.sysctls, **settings.sysctls}
    if sysctls:
        kwargs["sysctls"] = sysctls
    if settings.etc_hosts:
        kwargs["extra_hosts"] = dict(settings.etc_hosts)
    if settings.ulimits:
        kwargs["ulimits"] = [
            docker.types.Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in settings.ulimits
        ]
    if settings.command:
        kwargs["command"] = list(settings.command)
    if settings.memory is not None:
        kwargs["mem_limit"] = settings.memory
    if settings.cpus is not None:
        kwargs["nano_cpus"] = round(settings.cpus * 1e9)
    # -1 overrides a default limit the engine may be configured with.
    kwargs["pids_limit"] = -1 if settings.pids_limit is None else settings.pids_limit
    return kwargs


def _opt_kind(security_opt: str) -> str:
    """``seccomp`` of ``seccomp=...`` (or of the older ``seccomp:...``)."""
    return re.split("[=:]", security_opt, maxsplit=1)[0]


def _epoch(item: Mapping[str, Any]) -> float:
    """When a network ("Created") or a volume ("CreatedAt") was created, in epoch seconds."""
    return epoch(str(item.get("Created") or item.get("CreatedAt") or ""))


def _container_state(state: Mapping[str, Any]) -> ContainerState:
    """A :class:`ContainerState` from the ``State`` of ``docker inspect``."""
    running = bool(state.get("Running"))
    status = str(state.get("Status") or ("running" if running else "unknown"))
    code = state.get("ExitCode")
    # The engine reports 0 for a container that never exited: that is no exit code.
    exit_code = None if running or status == "created" or code is None else int(code)
    return ContainerState(
        exists=True,
        running=running,
        status=status,
        exit_code=exit_code,
        oom_killed=bool(state.get("OOMKilled")),
    )


@contextmanager
def _translate(operation: str, target: str, *, image: bool = False) -> Iterator[None]:
    """Turn any SDK error raised inside into an :class:`EngineError`.

    With ``image``, a 404 means the image is missing: :class:`ImageNotFoundError`.
    """
    try:
        yield
    except _SDK_ERRORS as exc:
        raise _engine_error(operation, target, exc, image=image) from exc


def _engine_error(
    operation: str, target: str, exc: BaseException, *, image: bool = False
) -> EngineError:
    status = exc.status_code if isinstance(exc, docker.errors.APIError) else None
    cause = _short(exc)
    if isinstance(exc, docker.errors.ImageNotFound) or (image and status == 404):
        return ImageNotFoundError(operation, target, cause, status)
    if isinstance(exc, _NO_ANSWER):
        # requests', urllib3's and the socket's own: no answer came (refused, reset, silent).
        return EngineLostError(operation, target, cause)
    return EngineError(operation, target, cause, status)


# What says the engine did not answer, rather than answered wrongly or failed here (an answer
# that is no JSON, a file of ours that cannot be written).
_NO_ANSWER = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


# "UnixHTTPConnectionPool(host='localhost', port=None): " before urllib3's messages.
_POOL_PREFIX = re.compile(r"\w*ConnectionPool\([^)]*\):\s*")


def _short(exc: BaseException) -> str:
    """The engine's own explanation, without the SDK's URL noise."""
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    if explanation and str(explanation).strip():
        return str(explanation).strip()
    if isinstance(exc, docker.errors.APIError) and exc.response is not None:
        # Without the engine's words, the status beats a URL.
        return f"{exc.response.status_code} {exc.response.reason or ''}".strip()
    if _timed_out(exc):
        bound = re.search(r"timeout=(\d+)", str(exc))
        return f"nothing for {bound[1]} s" if bound else "timed out"
    reason = _socket_reason(exc)
    if reason:
        return reason
    text = _POOL_PREFIX.sub("", str(exc)).strip()
    return text or type(exc).__name__


def _socket_reason(exc: BaseException, depth: int = 0) -> str:
    """The operating system's words ("Connection refused") deep inside a transport error."""
    if depth > 6:
        return ""
    inner = [*exc.args, getattr(exc, "reason", None), exc.__cause__]
    for nested in inner:
        if isinstance(nested, BaseException) and nested is not exc:
            found = _socket_reason(nested, depth + 1)
            if found:
                return found
    if depth and isinstance(exc, OSError):
        if exc.strerror:
            return str(exc.strerror)
        if exc.args and isinstance(exc.args[0], str):
            return exc.args[0]
    return ""
