"""The converge cache: converged hosts kept as images, keyed by what the converge read.

:func:`~.runkey.run_key` digests what a run reads into one key; :class:`ConvergeCache`
commits each host of a successful run to an image tagged by that key, and starts the next
session's hosts from those images instead of converging again (pulling them from a registry
when one has them).

A hit host is the converged host after a reboot: its disk is what the converge left,
its processes start fresh from its init.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import labels as lbl
from .exceptions import DockerlabError
from .registry import Registry
from .runkey import RunKey, what_changed
from .settings import DEFAULT_CACHE_BYTES

if TYPE_CHECKING:
    from .engine import Engine, ImageInfo, Progress

log = logging.getLogger(__name__)

REPOSITORY = f"{lbl.NAMESPACE}/cache"
PER_RUN = 3  # entries kept per lab file and hosts: the current one and two before it

# Labels of a cache entry's images (one image per host of the run).
ENTRY = f"{lbl.NAMESPACE}.cache-entry"  # "true" on cache images only
KEY = f"{lbl.NAMESPACE}.cache-key"
RUN_HOSTS = f"{lbl.NAMESPACE}.cache-hosts"
LAB_FILE = f"{lbl.NAMESPACE}.cache-lab"  # where the lab file was on the machine that saved it
# The lab file as every checkout names it (its path in its git repository, else as LAB_FILE):
# entries of one lab from two machines are one lab's entries.
LAB_ID = f"{lbl.NAMESPACE}.cache-lab-id"
MANIFEST = f"{lbl.NAMESPACE}.cache-manifest"
BASE_SIZE = f"{lbl.NAMESPACE}.cache-base-size"
# An entry in a registry: its hosts' images, then a marker pushed last that names each of them
# by digest (``REPO/cache:KEY``). Only a marker makes an entry: a push cut off before it is no
# entry, and the marker that lands last names its own session's images, never a mix.
MARKER = f"{lbl.NAMESPACE}.cache-marker"  # the key, on a marker image
MARKED_IMAGES = f"{lbl.NAMESPACE}.cache-images"  # "host=digest,host=digest"

# A session's own labels, blanked in its cache images.
SESSION_LABELS = (lbl.SESSION, lbl.WORKER, lbl.OWNER_PID, lbl.OWNER_HOST, lbl.VARIANT, lbl.KEEP,
                  lbl.LAB_FILE)  # fmt: skip


def _compact(manifest: Mapping[str, str]) -> str:
    # A label, so short digests: enough to tell what changed, the key itself is full length.
    return json.dumps({k: v[:12] for k, v in manifest.items()}, separators=(",", ":"))


@dataclass(frozen=True)
class CacheEntry:
    """The images of one run's cached result, as ``images list`` shows them."""

    key: str
    hosts: tuple[str, ...]
    lab_file: str
    images: Mapping[str, ImageInfo]  # host -> image
    hits: int = 0
    last_used: float = 0.0
    lab_id: str = ""

    def of(self, lab: str, hosts: Sequence[str]) -> bool:
        """Whether it is an entry of lab ``lab`` (see :func:`lab_identity`) and ``hosts``."""
        return (self.lab_id or self.lab_file) == lab and sorted(self.hosts) == sorted(hosts)

    @property
    def created(self) -> float:
        """When its newest image was made (epoch seconds)."""
        return max(i.created for i in self.images.values())

    @property
    def size(self) -> int:
        """Bytes this entry adds to its base images."""
        return sum(
            max(0, i.size - int(i.labels.get(BASE_SIZE, "0") or 0)) for i in self.images.values()
        )

    @property
    def in_use(self) -> int:
        """How many containers run from its images."""
        return sum(i.containers for i in self.images.values())


def lab_identity(lab_file: Path) -> str:
    """The lab file as every checkout of it names it: its path in its git repository (where
    it is in one), else its absolute path."""
    git = shutil.which("git")
    if git is not None:
        try:
            top = subprocess.run(
                [git, "rev-parse", "--show-toplevel"],
                cwd=lab_file.parent, capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            top = ""
        if top and lab_file.resolve().is_relative_to(Path(top).resolve()):
            return f"git:{lab_file.resolve().relative_to(Path(top).resolve())}"
    return str(lab_file)


def cache_home() -> Path:
    """This user's folder of pytest-dockerlab caches (``$XDG_CACHE_HOME/pytest-dockerlab``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytest-dockerlab"


class Stats:
    """Hits and last use per entry, in a small file beside the user's other caches."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_home() / "converge-cache.json"

    def read(self) -> dict[str, dict[str, float]]:
        """Per key: ``hits`` and ``used`` (epoch seconds); what is unreadable or of another
        shape is no record (bookkeeping, never a reason to fail)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(key): {k: float(v) for k, v in usage.items() if k in ("hits", "used")}
            for key, usage in data.items()
            if isinstance(usage, dict)
            and all(isinstance(usage.get(k, 0), (int, float)) for k in ("hits", "used"))
        }

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, float]]]:
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{self.path}.lock", timeout=30):
            data = self.read()
            yield data
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)

    def used(self, key: str, hit: bool) -> None:
        """Record a use of entry ``key`` now (a hit counts one more)."""
        try:
            with self._locked() as data:
                entry = data.setdefault(key, {"hits": 0, "used": 0.0})
                entry["hits"] = entry.get("hits", 0) + (1 if hit else 0)
                entry["used"] = time.time()
        except (OSError, TimeoutError) as exc:  # bookkeeping: never a reason to fail a run
            log.warning("dockerlab: cannot record cache use in %s: %s", self.path, exc)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop removed entries' records."""
        with contextlib.suppress(OSError, TimeoutError), self._locked() as data:
            for key in keys:
                data.pop(key, None)


class ConvergeCache:
    """Cache entries on one engine: look a run up, store it, drop it, evict the oldest."""

    def __init__(
        self,
        engine: Engine,
        progress: Progress,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        stats: Stats | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.engine = engine
        self.progress = progress
        self.max_bytes = max_bytes
        self.stats = stats or Stats()
        self.registry = registry

    def entries(self) -> list[CacheEntry]:
        """Every entry on the engine, least recently used first."""
        by_key: dict[str, dict[str, ImageInfo]] = {}
        for image in self.engine.images(f"{ENTRY}=true"):
            key, host = image.labels.get(KEY, ""), image.labels.get(lbl.HOST, "")
            if key and host and image.named_in(f"{REPOSITORY}:"):
                by_key.setdefault(key, {})[host] = image
        stats = self.stats.read()
        found = []
        for key, images in by_key.items():
            labels = next(iter(images.values())).labels
            hosts = tuple(h for h in labels.get(RUN_HOSTS, "").split(",") if h)
            usage = stats.get(key, {})
            found.append(
                CacheEntry(
                    key=key,
                    hosts=hosts,
                    lab_file=labels.get(LAB_FILE, ""),
                    images=images,
                    hits=int(usage.get("hits", 0)),
                    last_used=float(usage.get("used", 0.0)),
                    lab_id=labels.get(LAB_ID, ""),
                )
            )
        return sorted(found, key=lambda e: max(e.last_used, e.created))

    def lookup(self, run: RunKey) -> dict[str, str] | None:
        """The image of each host of ``run`` (host -> image id), or None on a miss.

        An entry missing any host's image is no entry.
        """
        images = {
            i.labels.get(lbl.HOST, ""): i.id
            for i in self.engine.images(f"{KEY}={run.key}")
            if i.labels.get(ENTRY) == "true" and i.named_in(f"{REPOSITORY}:")
        }
        if not all(h in images for h in run.hosts):
            return None
        self.stats.used(run.key, hit=True)
        return {h: images[h] for h in run.hosts}

    def fetch(self, run: RunKey) -> dict[str, str] | None:
        """The entry of ``run`` pulled from the registry (host -> image id), or None when the
        registry has no whole entry of it (or none is set, or it failed: said)."""
        if self.registry is None:
            return None
        marker = self._marker(run)
        if not self.registry.fetch(marker, remote=self._remote(run)):
            return None
        try:
            marker_id = self.engine.image_id(marker)
            found = [i for i in self.engine.images(f"{MARKER}={run.key}") if i.id == marker_id]
            named = found[0].labels.get(MARKED_IMAGES, "") if found else ""
        finally:
            self._drop(marker)
        digests = dict(pair.partition("=")[::2] for pair in named.split(",") if "=" in pair)
        if sorted(digests) != sorted(run.hosts):
            return None  # not an entry of these hosts: a miss
        for host in run.hosts:
            remote = self._remote(run, host)
            if not self.registry.fetch(self._local(run, host), remote, str(digests[host])):
                return None  # said; the hosts that did arrive are no entry without the others
        found_here = self.lookup(run)
        self.evict(keep=run.key)
        return found_here

    def publish(self, run: RunKey, *, replace: bool = False) -> None:
        """Push ``run``'s entry to the registry, unless it has it (and not ``replace``: a
        refresh, or an entry that would not boot) or this run may not push: the hosts'
        images, then the marker naming them by digest."""
        registry = self.registry
        if registry is None or not registry.push:
            return
        if not replace and registry.digest(self._remote(run)):
            return
        digests = {}
        for host in run.hosts:
            # Always this session's own: another session's image of the same key may be there.
            pushed = registry.publish(self._local(run, host), self._remote(run, host), force=True)
            if pushed is None:
                return  # said by the registry; without its marker, no entry is seen there
            digests[host] = pushed.digest
        marker = self._marker(run)
        named = ",".join(f"{host}={digest}" for host, digest in sorted(digests.items()))
        # A killed session's marker is an outdated image of ours: `images prune` removes it.
        labels = {MARKER: run.key, MARKED_IMAGES: named, lbl.IMAGE: "cache-marker"}
        try:
            self.engine.make_marker_image(marker, labels)
            registry.publish(marker, self._remote(run), force=True)
        finally:
            self._drop(marker)

    def _drop(self, marker: str) -> None:
        """Remove this session's marker image (by its own name: another session of this
        engine may have one of the same entry in hand)."""
        with contextlib.suppress(DockerlabError):
            self.engine.remove_image(self.engine.image_id(marker))

    @staticmethod
    def _marker(run: RunKey) -> str:
        """A name of this session's own for the marker of entry ``run`` on the engine."""
        return f"{REPOSITORY}:{run.short}.marker-{secrets.token_hex(4)}"

    @staticmethod
    def _local(run: RunKey, host: str) -> str:
        """The engine's name of host ``host``'s image of entry ``run``."""
        return f"{REPOSITORY}:{run.short}-{host}"

    def _remote(self, run: RunKey, host: str = "") -> str:
        """The registry's name of a host's image of entry ``run``, or of its marker."""
        assert self.registry is not None
        tag = f"{run.key}-{host}" if host else run.key
        return f"{self.registry.repository}/cache:{tag}"

    def why_missed(self, run: RunKey, lab_file: Path) -> str:
        """What differs from the newest entry of the same lab file and hosts."""
        lab = lab_identity(lab_file)
        same = [e for e in self.entries() if e.of(lab, run.hosts)]
        if not same:
            return "no entry yet for these hosts of this lab file"
        newest = max(same, key=lambda e: e.created)
        raw = next(iter(newest.images.values())).labels.get(MANIFEST, "{}")
        try:
            old = json.loads(raw)
        except ValueError:
            return "the newest entry's manifest is unreadable"
        return what_changed(old, {k: v[:12] for k, v in run.manifest.items()})

    def store(
        self, run: RunKey, containers: Mapping[str, str], base_sizes: Mapping[str, int],
        lab_file: Path,
    ) -> float:  # fmt: skip
        """Commit each host's container (host -> container) as this run's entry; the seconds."""
        started = time.monotonic()
        lab = lab_identity(lab_file)
        labels = {
            ENTRY: "true",
            KEY: run.key,
            RUN_HOSTS: ",".join(run.hosts),
            LAB_FILE: str(lab_file),
            LAB_ID: lab,
            MANIFEST: _compact(run.manifest),
            # A container's labels pass into its image and on to containers started from
            # it: blank the session's (a label cannot be removed; empty reads as unset).
            **dict.fromkeys(SESSION_LABELS, ""),
        }

        def commit(host: str) -> str:
            return self.engine.commit(
                containers[host],
                self._local(run, host),
                {**labels, lbl.HOST: host, BASE_SIZE: str(base_sizes.get(host, 0))},
            )

        # A refresh moves the tags: the images they named would linger nameless. Only those
        # are removed after (a nameless image with the same labels may be a user's commit).
        before = {
            i.id for i in self.engine.images(f"{KEY}={run.key}") if i.named_in(f"{REPOSITORY}:")
        }
        with ThreadPoolExecutor(max_workers=len(run.hosts)) as pool:
            made = set(pool.map(commit, run.hosts))
        for image in self.engine.images(f"{KEY}={run.key}"):
            if image.id in before - made and not image.tags and not image.containers:
                with contextlib.suppress(DockerlabError):
                    self.engine.remove_image(image.id)
        self.stats.used(run.key, hit=False)
        self._forget_older(run, lab)
        self.evict(keep=run.key)
        return time.monotonic() - started

    def _forget_older(self, run: RunKey, lab: str) -> None:
        """Keep the newest :data:`PER_RUN` entries of these hosts of this lab: each edit
        makes one, and the older ones are rarely asked for again."""
        same = [
            e for e in self.entries() if e.of(lab, run.hosts) and e.key != run.key and not e.in_use
        ]
        for entry in sorted(same, key=lambda e: e.created, reverse=True)[PER_RUN - 1 :]:
            self.drop(entry.key)

    def drop(self, key: str) -> None:
        """Remove an entry's images (those no container uses)."""
        for image in self.engine.images(f"{KEY}={key}"):
            if (
                image.labels.get(ENTRY) == "true"
                and image.named_in(f"{REPOSITORY}:")
                and not image.containers
            ):
                with contextlib.suppress(DockerlabError):
                    self.engine.remove_image(image.id)
        self.stats.forget([key])

    def evict(self, keep: str = "") -> list[CacheEntry]:
        """Remove least recently used entries until the cache fits ``max_bytes``."""
        entries = self.entries()
        total = sum(e.size for e in entries)
        removed = []
        for entry in entries:
            if total <= self.max_bytes:
                break
            if entry.key == keep or entry.in_use:
                continue
            self.drop(entry.key)
            total -= entry.size
            removed.append(entry)
            self.progress(
                f"converge cache over {self.max_bytes / 1e9:.1f}GB: removed entry "
                f"{entry.key[:12]} ({entry.size / 1e6:.0f}MB, {', '.join(entry.hosts)})"
            )
        return removed
