"""The container engine boundary: a small protocol, and the values that cross it.

The lab and the image builder talk to an :class:`Engine`; the Docker SDK lives behind it in
:mod:`pytest_dockerlab.docker_engine` (Docker, and Podman's Docker-compatible socket), which
callers import only when a lab actually needs an engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from .profiles import EngineFacts, RunProfile
from .spec import ContainerSpec

Progress = Callable[[str], None]

# How long a request to a registry may take (a manifest lookup, a tag listing): one that has
# not answered by then is not answering.
REGISTRY_TIMEOUT = 30
# How long a pull or a push may go without the engine saying anything of its progress.
TRANSFER_STALL = 120

# How the engine and registries date things: RFC 3339, to the nanosecond.
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def epoch(stamp: str) -> float:
    """An RFC 3339 time (``2026-12-02T13:55:20.353860534Z``) in epoch seconds; 0 if it is none."""
    match = _RFC3339.match(stamp)
    if not match:
        return 0.0
    zone = match[3] if match[3] and match[3] != "Z" else "+00:00"
    try:
        seconds = datetime.fromisoformat(match[1] + zone).timestamp()
    except ValueError:
        return 0.0
    return seconds + float(match[2] or 0)


@dataclass(frozen=True)
class ExecResult:
    rc: int
    output: str


@dataclass(frozen=True)
class ContainerState:
    """A container as the engine last saw it; a removed one has ``exists=False``."""

    exists: bool
    running: bool
    status: str  # the engine's word: "running", "exited", "dead", ..., or "removed"
    exit_code: int | None  # None while it runs, or when it never ran or is gone
    oom_killed: bool

    @classmethod
    def removed(cls) -> ContainerState:
        return cls(exists=False, running=False, status="removed", exit_code=None, oom_killed=False)


@dataclass(frozen=True)
class Leftovers:
    """What a label sweep found (or removed), by kind."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    def describe(self) -> str:
        found = (
            ("container", self.containers),
            ("network", self.networks),
            ("volume", self.volumes),
        )
        return ", ".join(
            f"{len(names)} {noun}{'' if len(names) == 1 else 's'}" for noun, names in found
        )


@dataclass(frozen=True)
class Resource:
    """A labelled container, network or volume, as a listing of labs shows it."""

    kind: str  # "container", "network" or "volume"
    id: str
    name: str
    labels: Mapping[str, str]
    created: float  # epoch seconds; 0 when the engine does not say


@dataclass(frozen=True)
class Pushed:
    """What a push left in the registry."""

    digest: str  # the manifest's digest there: ``REPO@digest`` names this image for good
    uploaded: int  # bytes (uncompressed) of the layers the registry did not have yet


@dataclass(frozen=True)
class ImageInfo:
    """One of the plugin's images on the engine."""

    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    size: int  # bytes
    created: float  # epoch seconds
    containers: int  # how many containers (running or not) use it

    def named_in(self, repository: str) -> bool:
        """Whether one of its names is in ``repository`` (``pytest-dockerlab/``): what proves
        an image the plugin's. An image built from ours, or committed from a host started
        from ours, inherits every label of ours, never a name."""
        return any(tag.startswith(repository) for tag in self.tags)


class Engine(Protocol):
    """What the lab needs from a container engine.

    Every method raises only :class:`~pytest_dockerlab.exceptions.DockerlabError`
    subclasses, never the engine SDK's own errors: the
    :class:`~pytest_dockerlab.exceptions.EngineError` family (its subclass
    :class:`~pytest_dockerlab.exceptions.ContainerGoneError` when a container we act on
    has exited or was removed, :class:`~pytest_dockerlab.exceptions.ImageNotFoundError`
    for a missing image), :class:`~pytest_dockerlab.exceptions.ImageBuildError` from
    :meth:`build` and :class:`~pytest_dockerlab.exceptions.HostStartError` from
    :meth:`run_container`. Connecting raises
    :class:`~pytest_dockerlab.exceptions.EngineUnavailableError`.
    """

    @property
    def address(self) -> str:
        """Where the engine is and why, for people: ``unix:///... (DOCKER_HOST)``."""
        ...

    def answers(self) -> bool:
        """Whether the engine answers now: a call that timed out on a busy engine is not a
        lost one."""
        ...

    def facts(self) -> EngineFacts: ...

    def image_exists(self, ref: str) -> bool: ...

    def pull(self, ref: str) -> None:
        """Pull ``ref`` (a tag or ``name@digest``) from its registry, with the engine's
        credentials for it; a failure mid-way is an EngineError."""
        ...

    def push(self, ref: str) -> Pushed:
        """Push tag ``ref`` to its registry."""
        ...

    def registry_digest(self, ref: str) -> str | None:
        """The digest of ``ref``'s manifest in its registry (one manifest request, made by the
        engine with its credentials), or None when the registry has no such tag.

        An EngineError when the registry cannot be asked (unreachable, credentials refused):
        within a bounded time, never the API's long one.
        """
        ...

    def tag(self, image: str, ref: str) -> None:
        """Give image ``image`` (an id or a reference) the name ``ref`` too."""
        ...

    def untag(self, ref: str) -> None:
        """Take the name ``ref`` off its image (the image stays if it has other names)."""
        ...

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        progress: Progress,
    ) -> None: ...

    def import_rootfs(
        self,
        tarball: IO[bytes],
        tag: str,
        labels: Mapping[str, str],
        settings: Sequence[str] = (),
    ) -> None:
        """A root filesystem as the image ``tag``; ``settings`` as a Dockerfile's lines
        (``ENV``, ``CMD``, ``STOPSIGNAL``, ...)."""

    def make_marker_image(self, ref: str, labels: Mapping[str, str]) -> None:
        """Make image ``ref``: one empty layer and ``labels``, made on the engine (no registry
        needed). It says something by existing: a build lock's image, a cache entry's marker."""
        ...

    def images(self, label: str) -> list[ImageInfo]:
        """Images that carry ``label``, with their size, age and users."""
        ...

    def remove_image(self, image_id: str) -> None: ...

    def save_image(self, ref: str, out: IO[bytes]) -> None:
        """Write image ``ref`` (with its tag) to ``out`` as ``docker save`` does."""
        ...

    def load_images(self, archive: IO[bytes]) -> None:
        """Load the images of a ``docker save`` archive, with their tags."""
        ...

    def image_id(self, ref: str) -> str:
        """The id of image ``ref``; ImageNotFoundError when there is none."""
        ...

    def flatten(self, container: str, ref: str, labels: Mapping[str, str]) -> str:
        """Save ``container``'s disk as a one-layer image ``ref`` that keeps its command,
        entrypoint, environment and stop signal, with only ``labels``; returns its id."""
        ...

    def commit(self, container: str, ref: str, labels: Mapping[str, str]) -> str:
        """Save ``container``'s disk as image ``ref`` with ``labels`` added; returns its id.

        The container is paused meanwhile, so the image is one moment of its disk.
        """
        ...

    def try_lock(self, name: str, labels: Mapping[str, str]) -> str | None:
        """Create the marker ``name`` with ``labels`` and return its id; None when a marker
        of that name exists already. The engine makes one marker of a name, whichever
        machine asks: a lock for every client of a shared engine."""
        ...

    def lock_holder(self, name: str) -> tuple[str, Mapping[str, str]] | None:
        """The id and labels of marker ``name``; None when there is none."""
        ...

    def unlock(self, marker: str) -> None:
        """Remove the marker of id ``marker``; gone already is fine."""
        ...

    def create_network(
        self, name: str, labels: Mapping[str, str], subnet: str = "", gateway: str = ""
    ) -> str:
        """A bridge network where containers resolve each other's aliases, on ``subnet`` (with
        ``gateway``) if given (the engine's pool picks one otherwise); returns its id."""
        ...

    def create_volume(self, name: str, labels: Mapping[str, str]) -> str:
        """A named volume (the one already there, if any); returns its name."""
        ...

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
        """Create and start a host's container; ``profile`` boots its init, ``settings`` add to it.

        The networks and named volumes of ``settings`` carry the engine's names (network ids,
        volume names), and must exist: the container joins each network under its
        ``hostname`` and that network's aliases.
        """
        ...

    def connect(self, network: str, container: str, aliases: Sequence[str]) -> None:
        """Join ``container`` to ``network`` (an id) under ``aliases``."""
        ...

    def disconnect(self, network: str, container: str) -> None: ...

    def addresses(self, container: str) -> dict[str, str]:
        """The container's IPv4 address on each network it is on, by network id."""
        ...

    def run_beside(
        self, container: str, image: str, argv: Sequence[str], labels: Mapping[str, str]
    ) -> ExecResult:
        """Run ``argv`` in a short-lived container that shares ``container``'s network
        namespace, with CAP_NET_ADMIN: routes and links of a host that has no such right."""
        ...

    def exec(self, container: str, argv: Sequence[str], timeout: int | None = None) -> ExecResult:
        """Run ``argv`` in a running container; ContainerGoneError when it is not running.
        ``timeout``: the seconds its output may stay silent (a probe's; default: long)."""
        ...

    def state(self, container: str) -> ContainerState:
        """Where ``container`` is in its life; a missing one is reported, never raised."""
        ...

    def stop(self, container: str, timeout: float) -> None: ...

    def start(self, container: str) -> None: ...

    def kill(self, container: str, signal: str) -> None: ...

    def logs(self, container: str, tail: int) -> str:
        """The last ``tail`` lines of output, or a "(no logs: ...)" line saying why not."""
        ...

    def find(self, labels: Mapping[str, str]) -> Leftovers: ...

    def remove(self, leftovers: Leftovers) -> None:
        """Remove what a sweep found; what cannot be removed is logged, not raised."""
        ...

    def sessions(self) -> dict[str, Mapping[str, str]]:
        """Every session id that still owns a resource, with that resource's labels."""
        ...

    def labelled(self, labels: Mapping[str, str]) -> list[Resource]:
        """Every container, network and volume carrying ``labels`` (an empty value: any value)."""
        ...

    def close(self) -> None: ...
