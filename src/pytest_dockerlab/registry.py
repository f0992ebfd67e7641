"""A registry that images and converge cache entries are shared through (``--dockerlab-registry``).

The plugin's image ``pytest-dockerlab/NAME:TAG`` is ``REPO/NAME:TAG`` there: tags are content
hashes, the same on every machine, so any engine that has the registry pulls what another one
built instead of building it, and pushes what it built. Everything goes through the engine (its
``docker pull``/``push`` and manifest requests, with the credentials the docker CLI keeps in
``config.json`` or its credential helpers): a remote engine talks to the registry itself.

Failures never pass silently, and never stop a run that can do without the registry: one line
says what failed and why, and the run builds and converges as it would without one (a
registry that cannot be asked is left alone for the rest of the session; a refused push stops
the pushing). With ``required`` (the default in CI) that line fails the session instead. A
manifest request waits at most :data:`~.docker_engine.REGISTRY_TIMEOUT` seconds; pulls and
pushes stream progress from the engine.
"""

from __future__ import annotations

import re
import time

from .engine import Engine, Progress, Pushed
from .exceptions import DockerlabError, EngineError
from .spec.model import REPOSITORY

# A converge cache key in a tag: its first 12 hex digits are how entries are named to people.
_KEY = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{52}\b")


def describe(repository: str, *, push: bool, required: bool) -> str:
    """A registry as the run's header says it: ``ghcr.io/acme/lab (push on, required)``."""
    mode = "push on" if push else "read only"
    return f"{repository} ({mode}{', required' if required else ''})"


def short_key(text: str) -> str:
    """``text`` with each converge cache key in it shortened as entries are named."""
    return _KEY.sub(r"\1", text)


class RegistryError(DockerlabError):
    """The registry failed where the run requires it (``--dockerlab-registry-required``)."""


class Registry:
    """One repository on a registry, as one session uses it through one engine."""

    def __init__(
        self,
        engine: Engine,
        repository: str,
        progress: Progress,
        *,
        push: bool = True,
        required: bool = False,
    ) -> None:
        self.engine = engine
        self.repository = repository
        self.progress = progress
        self.push = push
        self.required = required
        self.down = ""  # why the registry is not asked any more this session
        self._known: dict[str, str | None] = {}  # remote reference -> its digest, once asked

    def describe(self) -> str:
        return describe(self.repository, push=self.push, required=self.required)

    def remote(self, local: str) -> str:
        """The registry's name of the plugin's image ``local`` (``pytest-dockerlab/x:t``)."""
        return f"{self.repository}/{local.removeprefix(f'{REPOSITORY}/')}"

    def digest(self, remote: str) -> str | None:
        """The digest of ``remote`` there (None: it has no such tag, or cannot be asked)."""
        if self.down:
            return None
        if remote not in self._known:
            try:
                self._known[remote] = self.engine.registry_digest(remote)
            except EngineError as exc:
                if self.push and "denied" in exc.cause.lower():
                    # What some registries (Docker Hub, GHCR) answer for a repository nothing
                    # was pushed to yet: the push that follows says whether we may.
                    self._known[remote] = None
                    return None
                self._fail(
                    f"cannot look up {self._short(remote)}: {exc.cause}",
                    "building and converging without it this session",
                )
                self.down = exc.cause
                return None
        return self._known[remote]

    def fetch(self, local: str, remote: str | None = None, digest: str | None = None) -> bool:
        """Pull ``local`` from the registry (``remote`` there, by ``digest`` if given) and give
        it its local name; False when the registry has no such image or the pull failed."""
        remote = remote or self.remote(local)
        digest = digest or self.digest(remote)
        if digest is None:
            return False
        source = f"{_repository(remote)}@{digest}"
        started = time.monotonic()
        self.progress(f"pulling {self._short(remote)} from the registry")
        try:
            self.engine.pull(source)
            self.engine.tag(source, local)
        except EngineError as exc:
            self._fail(f"pulling {self._short(remote)} failed: {exc.cause}", "making it here")
            return False
        self.progress(f"pulled {self._short(remote)} in {time.monotonic() - started:.1f}s")
        return True

    def publish(
        self, local: str, remote: str | None = None, *, force: bool = False
    ) -> Pushed | None:
        """Push ``local`` (as ``remote``) unless this run may not push or, without ``force``,
        the registry has that tag already; what the push left there, or None."""
        remote = remote or self.remote(local)
        if not self.push or (not force and self.digest(remote) is not None) or self.down:
            return None  # (a lookup that failed just now leaves the registry down)
        started = time.monotonic()
        try:
            # The image keeps the registry's name beside ours, as after a pull: taking it off
            # again would race another session of this engine pushing the same tag.
            self.engine.tag(local, remote)
            pushed = self.engine.push(remote)
        except EngineError as exc:
            self._fail(
                f"pushing {self._short(remote)} failed: {exc.cause}",
                "not pushing for the rest of this session",
            )
            self.push = False
            return None
        self._known[remote] = pushed.digest
        new = f"{pushed.uploaded / 1e6:.0f}MB of layers new" if pushed.uploaded else "no layer new"
        self.progress(
            f"pushed {self._short(remote)} in {time.monotonic() - started:.1f}s ({new} to the "
            "registry)"
        )
        return pushed

    def _short(self, remote: str) -> str:
        """``remote`` as messages say it: inside the repository, a key as entries show it."""
        return short_key(remote.removeprefix(f"{self.repository}/"))

    def _fail(self, what: str, instead: str) -> None:
        line = f"registry {self.repository}: {what}"
        if self.required:
            raise RegistryError(line)
        self.progress(f"{line}; {instead}")


def _repository(reference: str) -> str:
    """``host:5000/a/b`` of ``host:5000/a/b:tag`` (a port is not a tag)."""
    import docker.utils

    repository, _ = docker.utils.parse_repository_tag(reference)
    return str(repository)
