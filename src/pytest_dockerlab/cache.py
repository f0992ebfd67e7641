"""The converge cache: converged hosts kept as images, keyed by what the converge read.

A session converge's result depends on the base images, the content of the playbooks
and of everything they can load (roles, collections, group and host vars, templates,
files, plugins), the extra vars, the lab's definition of its hosts, which hosts the run
limits to, and the versions of Ansible, ansible-runner and this plugin. :func:`run_key`
digests all of that (file content, never mtimes) into one key per run; :class:`ConvergeCache`
commits each host of a successful run to an image tagged by that key, and starts the
next session's hosts from those images instead of converging again.

A hit host is the converged host after a reboot: its disk is what the converge left,
its processes start fresh from its init.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import labels as lbl
from .exceptions import DockerlabError
from .project import requirements_digest, under_test
from .registry import Registry
from .settings import DEFAULT_CACHE_BYTES

if TYPE_CHECKING:
    from .engine import Engine, ImageInfo, Progress
    from .spec import LabSpec

log = logging.getLogger(__name__)

REPOSITORY = f"{lbl.NAMESPACE}/cache"
PER_RUN = 3  # entries kept per lab file and hosts: the current one and two before it

# Labels of a cache entry's images (one image per host of the run).
ENTRY = f"{lbl.NAMESPACE}.cache-entry"  # "true" on cache images only
KEY = f"{lbl.NAMESPACE}.cache-key"
RUN_HOSTS = f"{lbl.NAMESPACE}.cache-hosts"
LAB_FILE = f"{lbl.NAMESPACE}.cache-lab"
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

# Folders that hold no Ansible content wherever they are: tools' caches and environments.
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages"})
# Inside a role (a folder with tasks/ or meta/): what Ansible never loads from it.
_ROLE_SKIP_DIRS = frozenset({"tests", "molecule"})
# Folders whose every file a task may copy, template or run.
_VERBATIM_DIRS = frozenset({"files", "templates"})
# Folders of Ansible plugins and modules: their Python files count, whatever their names.
_PLUGIN_DIRS = frozenset({"library", "module_utils", "plugins"})
# What tools and test runs write beside a lab: reports, logs, editors' backups.
_GENERATED = (".pyc", ".log", ".retry", ".xml", "~", ".swp", ".bak", ".orig")


def _skipped_file(name: str, plugins: bool) -> bool:
    """Documentation, Python tests and generated files: never read by a play."""
    lower = name.lower()
    stem, dot, suffix = lower.rpartition(".")
    if not dot:
        stem, suffix = lower, ""
    doc = stem.startswith(("readme", "license", "changelog", "copying", "authors"))
    python_test = not plugins and (
        lower == "conftest.py" or (lower.endswith(".py") and "test" in lower.split(".")[0])
    )
    return (
        lower.startswith(".")
        # Lab definitions, which Ansible never reads; the run's own counts as parsed.
        or lower in ("dockerlab.yml", "molecule.yml")
        or lower.endswith((".md", ".rst", *_GENERATED))
        or (doc and suffix in ("", "txt"))
        or python_test
    )


def ansible_files(spec: LabSpec) -> list[Path]:
    """Every file the lab's playbooks can load, in a stable order.

    The whole folder of the lab file and of each playbook (plays import playbooks and task
    lists, read vars files, ``ansible.cfg`` and lookups, copy or run any file around them,
    reach ``../shared``), every roles path, and the roles and collections paths an
    ``ansible.cfg`` there names. Not Python tests, documentation, hidden folders, generated
    files (logs, JUnit XML, backups), files git ignores, a role's ``tests``/``molecule``,
    or the lab file itself: editing those keeps the cache. Inside ``files`` and
    ``templates`` every file counts. Files outside these folders are not seen: a play that
    reads one needs ``ansible: {cache: false}``.
    """
    found: dict[Path, None] = {}
    playbooks = [*spec.ansible.prepare, *spec.ansible.playbooks]
    for playbook in playbooks:
        found[playbook.resolve()] = None
    folders = [spec.root.resolve(), *(p.resolve().parent for p in playbooks)]
    roots = dict.fromkeys([*folders, *spec.ansible.roles_path])
    found_under_test = under_test(spec.root.resolve())
    if found_under_test is not None:  # the role or collection the lab file tests
        roots[found_under_test.root] = None
    for folder in dict.fromkeys(folders):
        roots.update(dict.fromkeys(config_paths(folder / "ansible.cfg")))
    # Each on its own, nested or not: a role's walk skips its molecule/, where a lab may be.
    for root in roots:
        found.update(dict.fromkeys(_walk(root, _git_ignored(root))))
    found.pop(spec.path.resolve(), None)  # its hosts and settings count as parsed, below
    return sorted(found)


def config_paths(cfg: Path) -> list[Path]:
    """The roles and collections paths an ``ansible.cfg`` names, relative to its folder."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(cfg)
    except (configparser.Error, UnicodeDecodeError):
        return []
    found = []
    for key in ("roles_path", "collections_path", "collections_paths"):
        for entry in parser.get("defaults", key, fallback="").split(os.pathsep):
            if entry.strip():
                path = Path(os.path.expandvars(os.path.expanduser(entry.strip())))
                found.append((cfg.parent / path).resolve())
    return found


def _git_ignored(root: Path) -> set[Path]:
    """Files and folders under ``root`` that git ignores (reports, build output, virtual
    environments), if it is a checkout; an ignored folder is one entry, not its files."""
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None or not root.is_dir():
        return set()
    try:
        listed = subprocess.run(
            [git, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"],
            cwd=root, capture_output=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return set()  # not a checkout, or git cannot tell: every file counts
    return {(root / name).resolve() for name in listed.stdout.decode().split("\0") if name}


def _walk(root: Path, ignored: frozenset[Path] | set[Path] = frozenset()) -> Iterator[Path]:
    """Files under ``root`` but ``ignored`` ones, following symlinked folders once (roles are
    often linked)."""
    if not root.is_dir():
        return
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        parts = {root.name, *Path(folder).relative_to(root).parts}
        verbatim = bool(_VERBATIM_DIRS & parts)
        plugins = bool(_PLUGIN_DIRS & parts) or any(p.endswith("_plugins") for p in parts)
        if not verbatim:
            role = "tasks" in dirs or "meta" in dirs
            dirs[:] = [
                d
                for d in dirs
                if d not in _SKIP_DIRS
                and not d.startswith(".")
                and not (role and d in _ROLE_SKIP_DIRS)
                and Path(folder, d).resolve() not in ignored
            ]
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name).resolve()
            if (verbatim or not _skipped_file(name, plugins)) and path not in ignored:
                yield path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:  # a dangling link: its absence is content too
        return _digest(f"unreadable: {exc.strerror}".encode())
    return h.hexdigest()


def _canonical(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.dumps(value, sort_keys=True, default=str)


def versions() -> dict[str, str]:
    """The installed versions of what runs a converge (``ansible`` ships the collections)."""
    found = {}
    for dist in ("ansible-core", "ansible", "ansible-runner", "pytest-dockerlab"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "none"
    return found


def ansible_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What outside the lab configures Ansible: ``ANSIBLE_*`` variables and the config files
    Ansible would read before the playbook folder's own (which is hashed with the folder)."""
    environ = os.environ if environ is None else environ
    found = {k: v for k, v in sorted(environ.items()) if k.startswith("ANSIBLE_")}
    for name, path in (
        ("$ANSIBLE_CONFIG", environ.get("ANSIBLE_CONFIG")),
        ("~/.ansible.cfg", str(Path.home() / ".ansible.cfg")),
    ):
        if path and Path(path).is_file():
            found[name] = _file_digest(Path(path))
    return found


@dataclass(frozen=True)
class RunKey:
    """What one converge run read, digested: ``key`` names it, ``manifest`` says by part."""

    hosts: tuple[str, ...]
    manifest: Mapping[str, str]  # "file <path>" or "setting <name>" -> digest

    @property
    def key(self) -> str:
        """The digest of the whole manifest: the entry's name."""
        return _digest(_canonical(sorted(self.manifest.items())).encode())

    @property
    def short(self) -> str:
        """The key as messages and image tags show it."""
        return self.key[:12]


def run_key(
    spec: LabSpec,
    hosts: Sequence[str],
    base_images: Mapping[str, str],
    *,
    idempotence: bool,
    tool_versions: Mapping[str, str] | None = None,
) -> RunKey:
    """The key of converging ``hosts`` of ``spec``, each from image id ``base_images[host]``.

    Per run, not per host: a play reads other hosts' groups and vars, so the whole
    inventory is part of every run's key, and each host of the run with all its settings.
    Paths count relative to the lab file's folder: a checkout elsewhere (a CI runner's, a
    colleague's) with the same content has the same key, and shares entries through a registry.
    """
    root = spec.root.resolve()

    def portable(path: Path) -> str:
        return os.path.relpath(path, root)

    manifest: dict[str, str] = {}
    for path in ansible_files(spec):
        manifest[f"file {portable(path)}"] = _file_digest(path)
    run = spec.ansible.run
    settings: dict[str, Any] = {
        "prepare, then playbooks": [
            [portable(p) for p in stage] for stage in (spec.ansible.prepare, spec.ansible.playbooks)
        ],
        # How loud a run is changes nothing it does.
        "ansible options (check, diff, tags, config, env)": dataclasses.replace(
            run,
            verbosity=0,
            config=Path(portable(run.config)) if isinstance(run.config, Path) else run.config,
            vault_password_file=run.vault_password_file and Path(portable(run.vault_password_file)),
        ),
        "content of config and vault password files": [
            _file_digest(p)
            for p in (spec.ansible.run.config, spec.ansible.run.vault_password_file)
            if isinstance(p, Path)
        ],
        "requirements": [requirements_digest(p) for p in spec.ansible.requirements],
        "extra_vars": spec.ansible.extra_vars,
        "roles_path (its order picks between roles of one name)": [
            portable(p) for p in spec.ansible.roles_path
        ],
        "Ansible's environment and config files": ansible_environment(),
        "hosts of the run (--limit)": sorted(hosts),
        "idempotence pass": idempotence,
        "versions of ansible-core, ansible-runner, pytest-dockerlab": dict(
            tool_versions if tool_versions is not None else versions()
        ),
    }
    for name, host in spec.hosts.items():
        if name in hosts:
            # Whether it names its image is the lab file's business; the image id counts.
            volumes = tuple(
                m if m.named else dataclasses.replace(m, source=portable(Path(m.source)))
                for m in host.container.volumes
            )
            container = dataclasses.replace(host.container, volumes=volumes)
            settings[f"host {name}"] = dataclasses.replace(host, pinned=False, container=container)
            settings[f"base image of {name}"] = base_images[name]
        else:  # only what the inventory shows of it
            settings[f"host {name}"] = {"groups": host.groups, "vars": host.vars}
    for name, value in settings.items():
        manifest[f"setting {name}"] = _digest(_canonical(value).encode())
    return RunKey(tuple(hosts), manifest)


def what_changed(old: Mapping[str, str], new: Mapping[str, str], limit: int = 4) -> str:
    """The parts of ``new`` that differ from ``old``, briefly: "changed roles/a/x.j2; ..."."""
    changed = [k for k in new if k in old and old[k] != new[k]]
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    parts = (
        [f"changed {k.partition(' ')[2]}" for k in changed]
        + [f"new {k.partition(' ')[2]}" for k in added]
        + [f"removed {k.partition(' ')[2]}" for k in removed]
    )
    if not parts:
        return "nothing that the key covers (the entry was removed)"
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


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


def cache_home() -> Path:
    """This user's folder of pytest-dockerlab caches (``$XDG_CACHE_HOME/pytest-dockerlab``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytest-dockerlab"


class Stats:
    """Hits and last use per entry, in a small file beside the user's other caches."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_home() / "converge-cache.json"

    def read(self) -> dict[str, dict[str, float]]:
        """Per key: ``hits`` and ``used`` (epoch seconds); empty when unreadable."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

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
            if key and host:
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
            if i.labels.get(ENTRY) == "true"
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
        marker = f"{REPOSITORY}:{run.short}.marker"
        if not self.registry.fetch(marker, remote=self._remote(run)):
            return None
        try:
            found = self.engine.images(f"{MARKER}={run.key}")
            named = found[0].labels.get(MARKED_IMAGES, "") if found else ""
        finally:
            self._drop_marker(run)
        digests = dict(pair.partition("=")[::2] for pair in named.split(",") if "=" in pair)
        if sorted(digests) != sorted(run.hosts):
            return None  # not an entry of these hosts: a miss
        for host in run.hosts:
            remote = self._remote(run, host)
            if not self.registry.fetch(self._local(run, host), remote, str(digests[host])):
                return None  # said; the hosts that did arrive are no entry without the others
        return self.lookup(run)

    def publish(self, run: RunKey) -> None:
        """Push ``run``'s entry to the registry, unless it has it or this run may not push:
        the hosts' images, then the marker naming them by digest."""
        registry = self.registry
        if registry is None or not registry.push or registry.digest(self._remote(run)):
            return
        digests = {}
        for host in run.hosts:
            # Always this session's own: another session's image of the same key may be there.
            pushed = registry.publish(self._local(run, host), self._remote(run, host), force=True)
            if pushed is None:
                return  # said by the registry; without its marker, no entry is seen there
            digests[host] = pushed.digest
        marker = f"{REPOSITORY}:{run.short}.marker"
        named = ",".join(f"{host}={digest}" for host, digest in sorted(digests.items()))
        labels = {MARKER: run.key, MARKED_IMAGES: named}
        try:
            self.engine.make_marker_image(marker, labels)
            registry.publish(marker, self._remote(run), force=True)
        finally:
            self._drop_marker(run)

    def _drop_marker(self, run: RunKey) -> None:
        for image in self.engine.images(f"{MARKER}={run.key}"):
            with contextlib.suppress(DockerlabError):
                self.engine.remove_image(image.id)

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
        same = [
            e
            for e in self.entries()
            if e.lab_file == str(lab_file) and sorted(e.hosts) == sorted(run.hosts)
        ]
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
        labels = {
            ENTRY: "true",
            KEY: run.key,
            RUN_HOSTS: ",".join(run.hosts),
            LAB_FILE: str(lab_file),
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

        with ThreadPoolExecutor(max_workers=len(run.hosts)) as pool:
            made = set(pool.map(commit, run.hosts))
        # A refresh moved the tags: the images it replaced would linger untagged. (A tagged
        # one is a concurrent session's store of the same key: it stays.)
        for image in self.engine.images(f"{KEY}={run.key}"):
            if image.id not in made and not image.tags and not image.containers:
                with contextlib.suppress(DockerlabError):
                    self.engine.remove_image(image.id)
        self.stats.used(run.key, hit=False)
        self._forget_older(run, str(lab_file))
        self.evict(keep=run.key)
        return time.monotonic() - started

    def _forget_older(self, run: RunKey, lab_file: str) -> None:
        """Keep the newest :data:`PER_RUN` entries of these hosts of this lab file: each
        edit makes one, and the older ones are rarely asked for again."""
        same = [
            e
            for e in self.entries()
            if e.lab_file == lab_file and sorted(e.hosts) == sorted(run.hosts)
            and e.key != run.key and not e.in_use
        ]  # fmt: skip
        for entry in sorted(same, key=lambda e: e.created, reverse=True)[PER_RUN - 1 :]:
            self.drop(entry.key)

    def drop(self, key: str) -> None:
        """Remove an entry's images (those no container uses)."""
        for image in self.engine.images(f"{KEY}={key}"):
            if image.labels.get(ENTRY) == "true" and not image.containers:
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
