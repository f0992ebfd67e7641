"""Labels and names of every engine resource the plugin makes.

Everything carries labels in one reserved namespace; teardown and the sweep of
leftovers find resources by these labels only, never by name.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace

NAMESPACE = "pytest-dockerlab"
SESSION = f"{NAMESPACE}.session"
WORKER = f"{NAMESPACE}.worker"
OWNER_PID = f"{NAMESPACE}.owner-pid"
OWNER_HOST = f"{NAMESPACE}.owner-host"
HOST = f"{NAMESPACE}.host"
NETWORK = f"{NAMESPACE}.network"  # a lab network's name in the lab file
VOLUME = f"{NAMESPACE}.volume"  # a named volume's name in the lab file
VARIANT = f"{NAMESPACE}.variant"
IMAGE = f"{NAMESPACE}.image"
RECIPE_HASH = f"{NAMESPACE}.recipe-hash"
KEEP = f"{NAMESPACE}.keep"
LOCK = f"{NAMESPACE}.lock"  # a build lock's marker container: the image tag it guards
LAB_FILE = f"{NAMESPACE}.lab-file"  # the lab file a session's resources come from: for reuse
# A container's own name, given at its creation: what proves a container the plugin's. A
# container started from an image committed from ours inherits every label of ours, this one
# with a name that is not its own (see :func:`owned_container`).
NAME = f"{NAMESPACE}.name"


# A session's id: in every resource's labels and names, and its temporary folders' names.
SESSION_ID = re.compile(r"[0-9a-f]{8}")


def new_session_id() -> str:
    """A short random id: unique enough for concurrent sessions, short enough to read."""
    return secrets.token_hex(4)


def session_id_argument(text: str) -> str:
    """A session id on a command line (argparse's ``type``): a partial one would match far
    more than one session's resources."""
    if not SESSION_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a session id (8 hex digits, as printed in the run's header)"
        )
    return text


@dataclass(frozen=True)
class SessionIdentity:
    """Who owns the resources of one pytest session (one xdist worker counts as one)."""

    session_id: str
    worker: str = "main"
    owner_pid: int = 0
    owner_host: str = ""
    variant: str = ""  # the image of a matrix lab; several labs share one session

    @classmethod
    def create(cls, worker: str | None = None) -> SessionIdentity:
        return cls(
            session_id=new_session_id(),
            worker=worker or os.environ.get("PYTEST_XDIST_WORKER", "main"),
            owner_pid=os.getpid(),
            owner_host=socket.gethostname(),
        )

    def with_variant(self, variant: str) -> SessionIdentity:
        return replace(self, variant=variant)

    def labels(self, **extra: str) -> dict[str, str]:
        """Labels for a resource of this session; ``extra`` maps label suffixes to values."""
        labels = {
            SESSION: self.session_id,
            WORKER: self.worker,
            OWNER_PID: str(self.owner_pid),
            OWNER_HOST: self.owner_host,
        }
        if self.variant:
            labels[VARIANT] = self.variant
        for key, value in extra.items():
            labels[f"{NAMESPACE}.{key.replace('_', '-')}"] = value
        return labels

    @property
    def prefix(self) -> str:
        variant = f"-{_slug(self.variant)}" if self.variant else ""
        return f"dockerlab-{self.session_id}-{_slug(self.worker)}{variant}"

    def network_name(self, network: str = "") -> str:
        """The engine's name of a lab network; the lab's default network has no ``network``."""
        return f"{self.prefix}-net-{network}" if network else f"{self.prefix}-net"

    def volume_name(self, volume: str) -> str:
        """The engine's name of a lab's named volume: two sessions never share one."""
        return f"{self.prefix}-vol-{volume}"

    def claim_marker(self) -> str:
        """The engine's name of the volume that says a session is using a kept lab now."""
        return f"{self.prefix}-in-use"

    def kept_marker(self) -> str:
        """The engine's name of the volume that says a lab was kept after its session."""
        return f"{self.prefix}-kept"

    def container_name(self, host: str) -> str:
        return f"{self.prefix}-{host}"


def owned_container(name: str, labels: Mapping[str, str]) -> bool:
    """Whether the container ``name`` with ``labels`` is one the plugin made: its own name in
    NAME (or, made before NAME existed, a name of the plugin's and no NAME at all)."""
    if NAME in labels:
        return labels[NAME] == name
    return name.startswith(("dockerlab-", f"{NAMESPACE}-lock-"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", text) or "x"
