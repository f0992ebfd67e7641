"""An in-memory engine for unit tests of pure logic (never for integration tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from pytest_dockerlab.engine import ContainerState, ExecResult, Leftovers, Progress, Resource
from pytest_dockerlab.exceptions import EngineError
from pytest_dockerlab.profiles import EngineFacts


class FakeEngine:
    address = "fake://"

    def __init__(
        self,
        images: Sequence[str] = (),
        pull_error: str | None = None,
        facts: EngineFacts | None = None,
    ) -> None:
        self._facts = facts or EngineFacts(cgroup_version=1)
        self.images = set(images)
        self.pull_error = pull_error
        self.calls: list[tuple[str, str]] = []
        self.resources: dict[str, dict[str, str]] = {}  # id -> labels
        self.created: dict[str, float] = {}  # id -> epoch seconds (0 when missing)
        self.removed: list[Leftovers] = []
        self.locks: dict[str, dict[str, str]] = {}  # marker name -> labels

    def try_lock(self, name: str, labels: Mapping[str, str]) -> str | None:
        if name in self.locks:
            return None
        self.lock_count = getattr(self, "lock_count", 0) + 1
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

    def facts(self) -> EngineFacts:
        return self._facts

    def image_exists(self, ref: str) -> bool:
        return ref in self.images

    def pull(self, ref: str) -> None:
        self.calls.append(("pull", ref))
        if self.pull_error:
            raise EngineError("pull", ref, self.pull_error, status=500)
        self.images.add(ref)

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
        self.images.add(tag)

    def save_image(self, ref: str, out: IO[bytes]) -> None:
        out.write(ref.encode())

    def load_images(self, archive: IO[bytes]) -> None:
        self.images.add(archive.read().decode())

    def import_rootfs(self, tarball: IO[bytes], tag: str, labels: Mapping[str, str]) -> None:
        self.images.add(tag)

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        raise NotImplementedError

    def create_volume(self, name: str, labels: Mapping[str, str]) -> str:
        raise NotImplementedError

    def run_container(self, **kwargs: object) -> str:
        raise NotImplementedError

    def exec(self, container: str, argv: Sequence[str]) -> ExecResult:
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
