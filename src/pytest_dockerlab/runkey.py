"""The converge cache's key: what one converge run reads, digested.

A session converge's result depends on the base images, the content of the playbooks and of
everything they can load (roles, collections, group and host vars, templates, files, plugins,
the environment variables they look up), the extra vars, the lab's definition of its hosts,
which hosts the run limits to, and the versions of Ansible, ansible-runner and this plugin.
:func:`run_key` digests all of that (file content, never mtimes; paths relative to the lab
file's folder, so another checkout of the same content has the same key) into one key per
run, with a manifest that says which part changed when a later key differs.

Only regular files are read: a FIFO, a socket or a device (directly or through a link) would
block or never end a read, and a link that loops or leads nowhere has no content; each such
entry is named in :attr:`RunKey.skipped` (its presence still counts).
"""

from __future__ import annotations

import configparser
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .project import requirements_digest, under_test
from .spec import LabSpec

# Folders that hold no Ansible content wherever they are: tools' caches and environments.
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages"})
# Inside a role (a folder with tasks/ or meta/): what Ansible never loads from it.
_ROLE_SKIP_DIRS = frozenset({"tests", "molecule"})
# Folders whose every file a task may copy, template or run.
_VERBATIM_DIRS = frozenset({"files", "templates"})
# Folders of Ansible plugins and modules: their Python files count, whatever their names.
_PLUGIN_DIRS = frozenset({"library", "module_utils", "plugins"})
# What tools and test runs write beside a lab: reports, logs, editors' backups.
# (JUnit XML is not among them: pytest's own --junitxml file is an output, and another XML
# file may be one a play copies.)
_GENERATED = (".pyc", ".log", ".retry", "~", ".swp", ".bak", ".orig")
# A project's own documents, by their whole names (license_key.txt is no licence).
_DOC_NAMES = frozenset(
    {"readme", "license", "licence", "changelog", "copying", "authors", "notice", "contributing"}
)
# Pseudo file systems: a file there may block a read forever (/proc/kmsg) or never end.
_PSEUDO = ("/proc/", "/sys/", "/dev/")
# Where Ansible looks for roles when nothing names where, and for collections besides.
_DEFAULT_ROLES = ("~/.ansible/roles", "/usr/share/ansible/roles", "/etc/ansible/roles")
_DEFAULT_COLLECTIONS = ("~/.ansible/collections", "/usr/share/ansible/collections")
# The config keys that name folders Ansible loads content from.
_CONFIG_PATHS = ("roles_path", "collections_path", "collections_paths")
# An environment lookup in a play or template: lookup('env', 'A', 'B'), query("env", ...).
_ENV_LOOKUP = re.compile(
    r"""(?:lookup|query|q)\(\s*['"](?:ansible\.(?:builtin|legacy)\.)?env['"]"""
    r"""((?:\s*,\s*['"]\w+['"])+)"""
)
_QUOTED_NAME = re.compile(r"""['"](\w+)['"]""")
_SCAN_LIMIT = 1 << 20  # bytes of a file searched for lookups: plays and templates are small


def _skipped_file(name: str, plugins: bool) -> bool:
    """Documentation, pytest's own test files and generated files: never read by a play.

    Python tests are the files pytest collects (``test_*.py``, ``*_test.py``, ``conftest.py``):
    a ``fetch_latest.py`` or ``attestation.py`` a play runs counts. Hidden files count too
    (``.token`` read by a lookup); hidden folders (``.git``) do not.
    """
    lower = name.lower()
    stem, dot, suffix = lower.rpartition(".")
    if not dot:
        stem, suffix = lower, ""
    doc = stem in _DOC_NAMES
    python_test = not plugins and (
        lower == "conftest.py"
        or (suffix == "py" and (stem.startswith("test_") or stem.endswith("_test")))
    )
    return (
        # Lab definitions, which Ansible never reads; the run's own counts as parsed.
        lower in ("dockerlab.yml", "molecule.yml")
        or lower.endswith((".md", ".rst", *_GENERATED))
        or (doc and suffix in ("", "txt"))
        or python_test
    )


@dataclass
class Content:
    """What a walk found: the files to digest, and what it would not open, with why."""

    files: dict[Path, None] = field(default_factory=dict)
    skipped: dict[Path, str] = field(default_factory=dict)  # path -> "a FIFO", ...


def ansible_files(
    spec: LabSpec, outputs: Iterable[Path] = (), environ: Mapping[str, str] | None = None
) -> Content:
    """Every file the lab's playbooks can load, in a stable order.

    The whole folder of the lab file and of each playbook (plays import playbooks and task
    lists, read vars files, ``ansible.cfg`` and lookups, copy or run any file around them,
    reach ``../shared``), every roles path, and every roles and collections path Ansible
    will search (:func:`search_paths`). Not pytest's test files, documentation, hidden
    folders, generated files (logs, JUnit XML, backups), files git ignores, a role's
    ``tests``/``molecule``, the plugin's own ``outputs`` (an artifacts folder), or the lab
    file itself: editing those keeps the cache. Inside ``files`` and ``templates`` every
    file counts. Files outside these folders are not seen: a play that reads one needs
    ``ansible: {cache: false}``.
    """
    content = Content()
    playbooks = [*spec.ansible.prepare, *spec.ansible.playbooks]
    for playbook in playbooks:
        content.files[playbook.resolve()] = None
    roots = dict.fromkeys(search_paths(spec, environ))
    ignored = {Path(p).resolve() for p in outputs}
    # Each on its own, nested or not: a role's walk skips its molecule/, where a lab may be.
    for root in roots:
        _walk(root, content, ignored | _git_ignored(root))
    content.files.pop(spec.path.resolve(), None)  # its hosts and settings count as parsed
    content.files = dict.fromkeys(sorted(content.files))
    return content


def search_paths(spec: LabSpec, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders whose content a run can load: the lab file's and its playbooks', the role
    or collection under test, the lab's roles paths, and every roles and collections path
    Ansible will search: those the config files name (beside the playbooks, the lab file's
    ``ansible.config``, ``$ANSIBLE_CONFIG``, ``~/.ansible.cfg``), the folders ``ANSIBLE_*``
    variables name (the environment's and the lab file's ``ansible.env``), and Ansible's
    default roles and collections folders."""
    environ = {**(os.environ if environ is None else environ), **spec.ansible.run.env}
    root = spec.root.resolve()
    playbooks = [*spec.ansible.prepare, *spec.ansible.playbooks]
    folders = [root, *(p.resolve().parent for p in playbooks)]
    found = [*folders, *spec.ansible.roles_path]
    tested = under_test(root)
    if tested is not None:  # the role or collection the lab file tests
        found.append(tested.collection.root if tested.collection else tested.root)
    configs: list[tuple[Path, Mapping[str, Any]]] = []
    for cfg in (
        *(folder / "ansible.cfg" for folder in folders),
        spec.ansible.run.config if isinstance(spec.ansible.run.config, Path) else None,
        Path(environ["ANSIBLE_CONFIG"]) if environ.get("ANSIBLE_CONFIG") else None,
        Path.home() / ".ansible.cfg",
    ):
        if cfg is not None and cfg.is_file():
            configs.append((cfg.parent, _config_defaults(cfg)))
    system = Path("/etc/ansible/ansible.cfg")
    if not configs and system.is_file():  # Ansible's last resort, read when no other is
        configs.append((system.parent, _config_defaults(system)))
    if isinstance(spec.ansible.run.config, Mapping):  # the lab file's sections, relative to it
        configs.append((root, spec.ansible.run.config.get("defaults") or {}))
    for base, defaults in configs:
        for key in _CONFIG_PATHS:
            found += _folders(str(defaults.get(key) or ""), base)
    names_roles = bool(spec.ansible.roles_path) or any(
        defaults.get("roles_path") for _, defaults in configs
    )
    for name, value in sorted(environ.items()):
        if name.startswith("ANSIBLE_") and name != "ANSIBLE_CONFIG":
            # A bare name ("sharedroles") is a folder only where the variable is a path list.
            bare = name.endswith(("_PATH", "_PATHS"))
            found += _folders(value, Path.cwd(), bare=bare)
            names_roles = names_roles or name == "ANSIBLE_ROLES_PATH"
    ansible_own = [*_DEFAULT_COLLECTIONS, *(() if names_roles else _DEFAULT_ROLES)]
    found += [Path(p).expanduser() for p in ansible_own]
    return [p for p in dict.fromkeys(p.resolve() for p in found) if p.is_dir()]


def _config_defaults(cfg: Path) -> Mapping[str, Any]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(cfg)
    except (configparser.Error, UnicodeDecodeError):
        return {}
    return dict(parser["defaults"]) if parser.has_section("defaults") else {}


def _folders(value: str, base: Path, *, bare: bool = True) -> list[Path]:
    """The existing folders a path list (``a:b``, ``~/x``, ``$HOME/y``) names, relative to
    ``base``; without ``bare``, only entries that look like paths (with a ``/``)."""
    found = []
    for entry in value.split(os.pathsep):
        entry = entry.strip()
        if entry and (bare or "/" in entry or entry in (".", "..")):
            path = base / Path(os.path.expandvars(os.path.expanduser(entry)))
            if path.is_dir():
                found.append(path)
    return found


def config_paths(cfg: Path) -> list[Path]:
    """The roles and collections paths an ``ansible.cfg`` names, relative to its folder."""
    defaults = _config_defaults(cfg)
    found = []
    for key in _CONFIG_PATHS:
        for entry in str(defaults.get(key) or "").split(os.pathsep):
            if entry.strip():
                path = Path(os.path.expandvars(os.path.expanduser(entry.strip())))
                found.append((cfg.parent / path).resolve())
    return found


def _git_ignored(root: Path) -> set[Path]:
    """Files and folders under ``root`` that git ignores (reports, build output, virtual
    environments), if it is a checkout; an ignored folder is one entry, not its files."""
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


def _walk(root: Path, content: Content, ignored: set[Path]) -> None:
    """Add the files under ``root`` but ``ignored`` ones to ``content``, following symlinked
    folders once (roles are often linked); what is no regular file goes to its skipped."""
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
            ]
        dirs[:] = sorted(d for d in dirs if _resolved(Path(folder, d)) not in ignored)
        for name in sorted(files):
            if not verbatim and _skipped_file(name, plugins):
                continue
            path = Path(folder, name)
            kind = _not_regular(path)
            if kind:
                content.skipped[path.absolute()] = kind
                continue
            resolved = path.resolve()
            if resolved not in ignored:
                content.files[resolved] = None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _not_regular(path: Path) -> str:
    """Why ``path`` is not opened ("" for a regular file): what it is, or leads to."""
    try:
        mode = os.stat(path).st_mode  # through links
    except RuntimeError:
        return "a symlink loop"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "a symlink loop"
        return "a link that leads nowhere" if path.is_symlink() else f"unreadable: {exc.strerror}"
    if stat.S_ISREG(mode):
        if os.path.realpath(path).startswith(_PSEUDO):
            return "a link into /proc, /sys or /dev"
        return "" if os.access(path, os.R_OK) else "unreadable: Permission denied"
    for test, what in (
        (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    ):  # fmt: skip
        if test(mode):
            return f"a link to {what}" if path.is_symlink() else what
    return "not a regular file"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path, lookups: set[str] | None = None) -> str:
    """The digest of a regular file's content; the environment variables it looks up are
    added to ``lookups``."""
    h = hashlib.sha256()
    head = b""
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                if len(head) < _SCAN_LIMIT:
                    head += block[: _SCAN_LIMIT - len(head)]
    except OSError as exc:  # gone meanwhile: its absence is content too
        return _digest(f"unreadable: {exc.strerror}".encode())
    if lookups is not None and b"env" in head:
        for match in _ENV_LOOKUP.finditer(head.decode("utf-8", errors="replace")):
            lookups.update(_QUOTED_NAME.findall(match[1]))
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
    skipped: Mapping[str, str] = field(default_factory=dict)  # path -> why it was not read

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
    outputs: Iterable[Path] = (),
    environ: Mapping[str, str] | None = None,
) -> RunKey:
    """The key of converging ``hosts`` of ``spec``, each from image id ``base_images[host]``.

    Per run, not per host: a play reads other hosts' groups and vars, so the whole
    inventory is part of every run's key, and each host of the run with all its settings.
    Paths count relative to the lab file's folder: a checkout elsewhere (a CI runner's, a
    colleague's) with the same content has the same key, and shares entries through a
    registry. ``outputs`` are the plugin's own (an artifacts folder): never read.
    """
    environ = os.environ if environ is None else environ
    root = spec.root.resolve()

    def portable(path: Path) -> str:
        return os.path.relpath(path, root)

    manifest: dict[str, str] = {}
    lookups: set[str] = set()
    content = ansible_files(spec, outputs, environ)
    for path in content.files:
        manifest[f"file {portable(path)}"] = _file_digest(path, lookups)
    skipped = {portable(path): why for path, why in content.skipped.items()}
    for name, why in skipped.items():
        manifest[f"file {name}"] = _digest(f"not read: {why}".encode())
    _file_digest(spec.path, lookups)  # its vars and extra_vars may look the environment up
    run = spec.ansible.run
    # Each option on its own: a miss names the one that changed. How loud a run is changes
    # nothing it does.
    options = dataclasses.replace(
        run,
        verbosity=0,
        config=Path(portable(run.config)) if isinstance(run.config, Path) else run.config,
        vault_password_file=run.vault_password_file and Path(portable(run.vault_password_file)),
    )
    settings: dict[str, Any] = {
        f"ansible option {f.name}": getattr(options, f.name) for f in dataclasses.fields(options)
    }
    looked_up = sorted(lookups | set(spec.ansible.cache_env))
    effective = {**environ, **run.env}
    settings.update(
        {
            "prepare, then playbooks": [
                [portable(p) for p in stage]
                for stage in (spec.ansible.prepare, spec.ansible.playbooks)
            ],
            "content of config and vault password files": [
                _file_digest(p)
                for p in (run.config, run.vault_password_file)
                if isinstance(p, Path)
            ],
            "requirements": [requirements_digest(p) for p in spec.ansible.requirements],
            "extra_vars": spec.ansible.extra_vars,
            "roles_path (its order picks between roles of one name)": [
                portable(p) for p in spec.ansible.roles_path
            ],
            "Ansible's environment and config files": ansible_environment(environ),
            "hosts of the run (--limit)": sorted(hosts),
            "lab networks (their subnets)": spec.networks,
            "idempotence pass": idempotence,
            "versions of ansible-core, ansible-runner, pytest-dockerlab": dict(
                tool_versions if tool_versions is not None else versions()
            ),
        }
    )
    for name in looked_up:  # lookup('env', NAME) in a play or template, ansible.cache_env
        settings[f"environment variable {name}"] = effective.get(name)
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
    return RunKey(tuple(hosts), manifest, skipped)


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
