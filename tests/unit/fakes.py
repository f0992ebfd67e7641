"""An in-memory engine for unit tests of pure logic (never for integration tests).

It stands for the :class:`~pytest_dockerlab.engine.Engine` protocol in full, and mypy checks
that it does (:func:`_satisfies_the_protocol`): a fake that drifts from the engine fails the
type check, not a test that happens to call the missing method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO

from pytest_dockerlab.engine import (
    ContainerState,
    Engine,
    ExecResult,
    ImageInfo,
    Leftovers,
    Progress,
    Pushed,
    Resource,
)
from pytest_dockerlab.exceptions import EngineError, ImageNotFoundError
from pytest_dockerlab.profiles import EngineFacts, RunProfile
from pytest_dockerlab.spec import ContainerSpec


class FakeEngine:
    """Images by tag (``tags``) and labelled (``stored``); resources by id with their labels."""

    address = "fake://"
    alive = True  # what answers() says: False stands for an engine that is gone

    def answers(self) -> bool:
        return self.alive

    def __init__(
        self,
        images: Sequence[str] = (),
        pull_error: str | None = None,
        facts: EngineFacts | None = None,
    ) -> None:
        self._facts = facts or EngineFacts(cgroup_version=1)
        self.tags = set(images)  # image references that exist
        self.stored: dict[str, ImageInfo] = {}  # image id -> a labelled image (commits)
        self.removed_images: list[str] = []
        self.pull_error = pull_error
        self.calls: list[tuple[str, str]] = []
        self.resources: dict[str, dict[str, str]] = {}  # id -> labels
        self.created: dict[str, float] = {}  # id -> epoch seconds (0 when missing)
        self.removed: list[Leftovers] = []
        self.locks: dict[str, dict[str, str]] = {}  # marker name -> labels
        self.lock_count = 0
        self.registry: dict[str, str] = {}  # reference -> digest, in the registry
        self.pushed: dict[str, dict[str, str]] = {}  # digest -> the labels of what was pushed
        self.registry_error = ""  # what a manifest request fails with
        self.push_error = ""

    # Locks

    def try_lock(self, name: str, labels: Mapping[str, str]) -> str | None:
        if name in self.locks:
            return None
        self.lock_count += 1
        marker = f"marker{self.lock_count}"
        self.locks[name] = {"id": marker, **labels}
        return marker

    def lock_holder(self, name: str) -> tuple[str, Mapping[str, str]] | None:
        held = self.locks.get(name)
        return None if held is None else (held["id"], held)

    def unlock(self, marker: str) -> None:
        for name, held in list(self.locks.items()):
            if held["id"] == marker:
                del self.locks[name]

    # Images

    def facts(self) -> EngineFacts:
        return self._facts

    def image_exists(self, ref: str) -> bool:
        return ref in self.tags

    def pull(self, ref: str) -> None:
        self.calls.append(("pull", ref))
        if self.pull_error:
            raise EngineError("pull", ref, self.pull_error, status=500)
        digest = ref.partition("@")[2] or self.registry.get(ref, "")
        if digest in self.pushed:  # an image of ours that went through the registry
            self._store(ref, self.pushed[digest])
        self.tags.add(ref)

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        progress: Progress,
    ) -> None:
        self.calls.append(("build", f"{tag} BASE={buildargs['BASE']}"))
        self.tags.add(tag)

    def import_rootfs(
        self,
        tarball: IO[bytes],
        tag: str,
        labels: Mapping[str, str],
        settings: Sequence[str] = (),
    ) -> None:
        self._store(tag, labels)

    def make_marker_image(self, ref: str, labels: Mapping[str, str]) -> None:
        self._store(ref, labels)

    def images(self, label: str) -> list[ImageInfo]:
        key, _, value = label.partition("=")
        return [
            image
            for image in self.stored.values()
            if key in image.labels and (not value or image.labels[key] == value)
        ]

    def remove_image(self, image_id: str) -> None:
        self.removed_images.append(image_id)
        removed = self.stored.pop(image_id, None)
        if removed is None:
            raise ImageNotFoundError("remove image", image_id, "no such image")
        self.tags -= set(removed.tags)

    def push(self, ref: str) -> Pushed:
        self.calls.append(("push", ref))
        if self.push_error:
            raise EngineError("push", ref, self.push_error)
        digest = f"sha256:{len(self.pushed):064d}"
        labelled = self._labelled(ref)
        self.pushed[digest] = dict(labelled.labels) if labelled else {}
        self.registry[ref] = digest
        return Pushed(digest, 1000)

    def registry_digest(self, ref: str) -> str | None:
        self.calls.append(("look up", ref))
        if self.registry_error:
            raise EngineError("look up", ref, self.registry_error, status=500)
        return self.registry.get(ref)

    def tag(self, image: str, ref: str) -> None:
        labelled = self._labelled(image)
        if labelled is not None:
            self.stored[labelled.id] = replace(labelled, tags=(*labelled.tags, ref))
        self.tags.add(ref)

    def untag(self, ref: str) -> None:
        self.tags.discard(ref)
        labelled = self._labelled(ref)
        if labelled is not None:
            self.stored[labelled.id] = replace(
                labelled, tags=tuple(t for t in labelled.tags if t != ref)
            )

    def _labelled(self, ref: str) -> ImageInfo | None:
        return next((i for i in self.stored.values() if ref in (i.id, *i.tags)), None)

    def _store(self, ref: str, labels: Mapping[str, str]) -> str:
        image_id = f"sha256:{len(self.stored):04d}"
        self.stored[image_id] = ImageInfo(image_id, (ref,), dict(labels), 300_000_000, 1000.0, 0)
        self.tags.add(ref)
        return image_id

    def save_image(self, ref: str, out: IO[bytes]) -> None:
        out.write(ref.encode())

    def load_images(self, archive: IO[bytes]) -> None:
        self.tags.add(archive.read().decode())

    def image_id(self, ref: str) -> str:
        labelled = self._labelled(ref)
        if labelled is not None:
            return labelled.id
        if ref not in self.tags:
            raise ImageNotFoundError("inspect image", ref, "no such image")
        return f"sha256:{ref}"

    def commit(self, container: str, ref: str, labels: Mapping[str, str]) -> str:
        return self._store(ref, labels)

    def flatten(self, container: str, ref: str, labels: Mapping[str, str]) -> str:
        return self.commit(container, ref, labels)

    # Networks, volumes and containers: what pure logic never needs

    def create_network(
        self, name: str, labels: Mapping[str, str], subnet: str = "", gateway: str = ""
    ) -> str:
        raise NotImplementedError

    def create_volume(self, name: str, labels: Mapping[str, str]) -> str:
        raise NotImplementedError

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
        raise NotImplementedError

    def connect(self, network: str, container: str, aliases: Sequence[str]) -> None:
        raise NotImplementedError

    def disconnect(self, network: str, container: str) -> None:
        raise NotImplementedError

    def addresses(self, container: str) -> dict[str, str]:
        raise NotImplementedError

    def run_beside(
        self, container: str, image: str, argv: Sequence[str], labels: Mapping[str, str]
    ) -> ExecResult:
        raise NotImplementedError

    def exec(self, container: str, argv: Sequence[str], timeout: int | None = None) -> ExecResult:
        raise NotImplementedError

    def state(self, container: str) -> ContainerState:
        return ContainerState(
            exists=True, running=True, status="running", exit_code=None, oom_killed=False
        )

    def stop(self, container: str, timeout: float) -> None: ...

    def start(self, container: str) -> None: ...

    def kill(self, container: str, signal: str) -> None: ...

    def logs(self, container: str, tail: int) -> str:
        return ""

    # Labelled resources

    def find(self, labels: Mapping[str, str]) -> Leftovers:
        ids = [
            rid
            for rid, have in self.resources.items()
            if all(k in have and (not v or have[k] == v) for k, v in labels.items())
        ]
        return Leftovers(containers=tuple(ids))

    def remove(self, leftovers: Leftovers) -> None:
        self.removed.append(leftovers)
        for rid in leftovers.containers:
            self.resources.pop(rid, None)

    def sessions(self) -> dict[str, Mapping[str, str]]:
        out: dict[str, Mapping[str, str]] = {}
        for labels in self.resources.values():
            out.setdefault(labels["pytest-dockerlab.session"], labels)
        return out

    def labelled(self, labels: Mapping[str, str]) -> list[Resource]:
        return [
            Resource("container", rid, rid, self.resources[rid], self.created.get(rid, 0.0))
            for rid in self.find(labels).containers
        ]

    def close(self) -> None: ...


def _satisfies_the_protocol(fake: FakeEngine) -> Engine:
    return fake  # mypy: FakeEngine is an Engine
