"""The Docker engine (and Podman's Docker-compatible socket) through the Docker SDK."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors

from .engine import ExecResult, ImageInfo, Leftovers, Progress
from .exceptions import EngineUnavailableError, HostStartError, ImageBuildError
from .labels import SESSION
from .profiles import EngineFacts, RunProfile

log = logging.getLogger(__name__)

# Generous: a cold image build on a slow mirror streams for minutes.
_API_TIMEOUT = 600


class DockerEngine:
    """An :class:`~pytest_dockerlab.engine.Engine` backed by ``docker.DockerClient``."""

    def __init__(self) -> None:
        self._address = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        where = self._address if "DOCKER_HOST" in os.environ else f"{self._address} (default)"
        if self._address.startswith("unix://") and not os.path.exists(self._address[7:]):
            raise EngineUnavailableError(where, "the socket does not exist: is dockerd running?")
        client = None
        try:
            client = docker.from_env(timeout=_API_TIMEOUT)
            client.ping()
        except docker.errors.DockerException as exc:
            if client is not None:
                client.close()
            raise EngineUnavailableError(where, _short(exc)) from exc
        self._client = client
        self._facts: EngineFacts | None = None

    @property
    def address(self) -> str:
        return self._address

    def facts(self) -> EngineFacts:
        if self._facts is None:
            self._facts = EngineFacts.from_docker_info(self._client.info(), self._client.version())
        return self._facts

    # Images

    def image_exists(self, ref: str) -> bool:
        try:
            self._client.images.get(ref)
        except docker.errors.ImageNotFound:
            return False
        return True

    def pull(self, ref: str) -> None:
        repository, _, tag = ref.partition(":")
        self._client.images.pull(repository, tag=tag or "latest")

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
        stream = self._client.api.build(
            path=str(context),
            # Outside the context (a shared Dockerfile), the SDK sends its content along.
            dockerfile=str(dockerfile),
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

    def import_rootfs(self, tarball: IO[bytes], tag: str, labels: Mapping[str, str]) -> None:
        repository, _, version = tag.partition(":")
        changes = [f'LABEL "{key}"="{value}"' for key, value in labels.items()]
        self._client.api.import_image(
            src=tarball, repository=repository, tag=version, changes=changes, stream_src=True
        )

    def images(self, label: str) -> list[ImageInfo]:
        users: dict[str, int] = {}
        for container in self._client.api.containers(all=True):
            users[container["ImageID"]] = users.get(container["ImageID"], 0) + 1
        return [
            ImageInfo(
                id=image["Id"],
                tags=tuple(t for t in image.get("RepoTags") or () if t != "<none>:<none>"),
                labels=image.get("Labels") or {},
                size=int(image.get("Size", 0)),
                created=float(image.get("Created", 0)),
                containers=users.get(image["Id"], 0),
            )
            for image in self._client.api.images(filters={"label": label})
        ]

    def remove_image(self, image_id: str) -> None:
        self._client.api.remove_image(image_id, force=True)

    # Networks and containers

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        network = self._client.networks.create(name, driver="bridge", labels=dict(labels))
        return str(network.id)

    def run_container(
        self,
        *,
        name: str,
        image: str,
        hostname: str,
        network: str,
        labels: Mapping[str, str],
        profile: RunProfile,
        environment: Mapping[str, str],
    ) -> str:
        kwargs = profile.create_kwargs()
        kwargs["environment"] = {**kwargs["environment"], **environment}
        endpoint = self._client.api.create_endpoint_config(aliases=[hostname])
        try:
            container = self._client.containers.create(
                image,
                name=name,
                hostname=hostname,
                labels=dict(labels),
                network=network,
                networking_config={network: endpoint},
                detach=True,
                **kwargs,
            )
        except docker.errors.APIError as exc:
            raise HostStartError(hostname, _short(exc)) from exc
        try:
            container.start()
        except docker.errors.APIError as exc:
            cause = _short(exc)
            hint = ""
            if profile.privileged and ("caps" in cause or "permission" in cause.lower()):
                hint = (
                    "the engine refused a privileged container; drop 'privileged: true', "
                    "the default profile needs no extra privilege"
                )
            # The container exists but never ran: remove it now, not at teardown.
            container.remove(force=True, v=True)
            raise HostStartError(hostname, cause, hint) from exc
        return str(container.id)

    def exec(self, container: str, argv: Sequence[str]) -> ExecResult:
        api = self._client.api
        exec_id = api.exec_create(container, list(argv), stdout=True, stderr=True)["Id"]
        output = api.exec_start(exec_id)
        rc = api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(rc=-1 if rc is None else int(rc), output=output.decode(errors="replace"))

    def is_running(self, container: str) -> bool:
        state = self._client.api.inspect_container(container)["State"]
        return bool(state.get("Running"))

    def stop(self, container: str, timeout: float) -> None:
        self._client.api.stop(container, timeout=int(timeout))

    def start(self, container: str) -> None:
        self._client.api.start(container)

    def kill(self, container: str, signal: str) -> None:
        self._client.api.kill(container, signal=signal)

    def logs(self, container: str, tail: int) -> str:
        try:
            data: bytes = self._client.api.logs(container, tail=tail)
        except docker.errors.APIError as exc:
            return f"(no logs: {_short(exc)})"
        return data.decode(errors="replace")

    # Sweeping by label

    def find(self, labels: Mapping[str, str]) -> Leftovers:
        filters: dict[str, Any] = {"label": [f"{k}={v}" if v else k for k, v in labels.items()]}
        return Leftovers(
            containers=tuple(
                c["Id"] for c in self._client.api.containers(all=True, filters=filters)
            ),
            networks=tuple(n["Id"] for n in self._client.api.networks(filters=filters)),
            volumes=tuple(
                v["Name"] for v in (self._client.api.volumes(filters=filters).get("Volumes") or [])
            ),
        )

    def remove(self, leftovers: Leftovers) -> None:
        api = self._client.api
        errors: list[str] = []

        def remove_container(cid: str) -> None:
            try:
                api.remove_container(cid, force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"container {cid[:12]}: {_short(exc)}")

        # Containers first and in parallel: networks and volumes are busy until they go.
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(leftovers.containers)))) as pool:
            list(pool.map(remove_container, leftovers.containers))
        for nid in leftovers.networks:
            try:
                api.remove_network(nid)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"network {nid[:12]}: {_short(exc)}")
        for name in leftovers.volumes:
            try:
                api.remove_volume(name, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"volume {name}: {_short(exc)}")
        if errors:
            log.warning("dockerlab: could not remove %s", "; ".join(errors))

    def sessions(self) -> dict[str, Mapping[str, str]]:
        found: dict[str, Mapping[str, str]] = {}
        filters = {"label": [SESSION]}
        for item in [
            *self._client.api.containers(all=True, filters=filters),
            *self._client.api.networks(filters=filters),
        ]:
            labels = item.get("Labels") or {}
            found.setdefault(labels[SESSION], labels)
        return found

    def close(self) -> None:
        self._client.close()


def _short(exc: BaseException) -> str:
    """The engine's own explanation, without the SDK's URL noise."""
    explanation = getattr(exc, "explanation", None)
    text = explanation.decode() if isinstance(explanation, bytes) else explanation
    return str(text or exc).strip()
