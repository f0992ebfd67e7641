"""What a lab's playbooks need around them: the role under test, and its requirements.

A lab file inside a role's repository (``molecule/default/dockerlab.yml`` beside
``meta/main.yml`` two folders up) tests that role: it is put on the roles path under its
``namespace.name``, its ``role_name`` and its folder name, through links in a folder of the
run's own, never in the user's tree. A lab file inside a collection gets the collection on
the collections path. ``ansible.requirements`` are installed once per content into a cache
shared by sessions, and used from there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .engine import Progress
from .exceptions import RequirementsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnderTest:
    """The role or collection a lab file's repository holds."""

    root: Path
    names: tuple[str, ...]  # the names plays may use for it
    kind: str  # "role" or "collection"
    # A role inside a collection (roles/ssh of konstruktoid.hardening): plays name it
    # konstruktoid.hardening.ssh, and its tasks use the collection's modules.
    collection: UnderTest | None = None
    dependencies: tuple[str, ...] = ()  # a collection's, from galaxy.yml

    def missing(self, collections: list[Path]) -> list[str]:
        """The collections this one depends on that Ansible would not find: in
        ``collections`` (the run's paths), Ansible's default paths, or this Python's."""
        import importlib.util

        places = [*collections, Path.home() / ".ansible" / "collections",
                  Path("/usr/share/ansible/collections")]  # fmt: skip
        gone = []
        for name in (
            *self.dependencies,
            *(self.collection.dependencies if self.collection else ()),
        ):
            namespace, _, short = name.partition(".")
            if any((p / "ansible_collections" / namespace / short).is_dir() for p in places):
                continue
            try:
                found = importlib.util.find_spec(f"ansible_collections.{namespace}.{short}")
            except (ImportError, ValueError):
                found = None
            if found is None:
                gone.append(name)
        return gone

    def describe(self) -> str:
        text = f"{self.kind} under test: {', '.join(self.names)} ({self.root})"
        return text + (f"; in collection {self.collection.names[0]}" if self.collection else "")


def under_test(start: Path) -> UnderTest | None:
    """The role (``meta/main.yml``) or collection (``galaxy.yml``) ``start`` sits in, if any;
    a role with the collection it sits in."""
    for folder in [start, *start.parents]:
        meta = folder / "meta" / "main.yml"
        if meta.is_file() and (folder / "tasks").is_dir():
            role = UnderTest(folder, role_names(folder, _yaml(meta)), "role")
            outer = under_test(folder.parent) if folder.parent.name == "roles" else None
            if outer is not None and outer.kind == "collection":
                return UnderTest(role.root, role.names, "role", outer)
            return role
        galaxy = folder / "galaxy.yml"
        if galaxy.is_file():
            data = _yaml(galaxy)
            namespace, name = data.get("namespace"), data.get("name")
            if isinstance(namespace, str) and isinstance(name, str):
                needs = data.get("dependencies")
                needs = tuple(map(str, needs)) if isinstance(needs, dict) else ()
                return UnderTest(folder, (f"{namespace}.{name}",), "collection", None, needs)
        if (folder / ".git").exists():
            return None  # the repository's top: nothing above is the project's
    return None


def role_names(root: Path, meta: dict[str, Any]) -> tuple[str, ...]:
    """The names Molecule (ansible-compat) gives a role: ``namespace.role_name`` (the
    namespace, else the author; only when that makes a valid name), ``role_name`` (else
    the folder's name without ``ansible-role-``), and the folder's own name."""
    raw = meta.get("galaxy_info")
    info: dict[str, Any] = raw if isinstance(raw, dict) else {}
    role_name = str(info.get("role_name") or "")
    if not role_name:
        role_name = re.sub(r"^(ansible-role-|ansible-)", "", root.name).split(".", 2)[-1]
    namespace = info.get("namespace") or info.get("author")
    names = []
    if isinstance(namespace, str) and _FQRN.fullmatch(f"{namespace}.{role_name}"):
        names.append(f"{namespace}.{role_name}")
    names += [role_name, root.name]
    return tuple(dict.fromkeys(n for n in names if "/" not in n))


_FQRN = re.compile(r"[a-z0-9][a-z0-9_]+\.[a-z][a-z0-9_]+")


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def link_under_test(found: UnderTest, folder: Path) -> tuple[Path | None, Path | None]:
    """Links to the role or collection under test in ``folder``: (roles path, collections path)."""
    if found.kind == "role":
        roles = folder / "roles-under-test"
        roles.mkdir(parents=True, exist_ok=True)
        for name in found.names:
            _link(roles / name, found.root)
        if found.collection is None:
            return roles, None
        return roles, link_under_test(found.collection, folder)[1]
    namespace, name = found.names[0].split(".", 1)
    collections = folder / "collections-under-test"
    (collections / "ansible_collections" / namespace).mkdir(parents=True, exist_ok=True)
    _link(collections / "ansible_collections" / namespace / name, found.root)
    return None, collections


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)


# Requirements


def requirements_digest(path: Path) -> str:
    """Of the requirements file and of the local sources it names (paths, tarballs)."""
    h = hashlib.sha256(path.read_bytes())
    for source in local_sources(path):
        h.update(os.path.relpath(source, path.parent).encode())  # the same in every checkout
        files = [source]
        if source.is_dir():  # a role's or collection's folder: not its .git or other tools'
            files = sorted(
                p
                for p in source.rglob("*")
                if p.is_file() and not any(s.startswith(".") for s in p.relative_to(source).parts)
            )
        for file in files:
            h.update(str(file.relative_to(source.parent)).encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def _entries(path: Path) -> list[Any]:
    """The roles and collections a requirements file lists (old style: a list of roles)."""
    data = yaml.safe_load(path.read_text())
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [*(data.get("roles") or []), *(data.get("collections") or [])]
    return []


def _source(entry: Any) -> str:
    if isinstance(entry, dict):
        value = entry.get("src") or entry.get("source") or entry.get("name")
        return value if isinstance(value, str) else ""
    return entry if isinstance(entry, str) else ""


def _name(entry: Any) -> str:
    return str(entry.get("name") or _source(entry)) if isinstance(entry, dict) else str(entry)


def _looks_local(source: str) -> bool:
    return source.startswith(("./", "../", "/", "file://")) or source.endswith((".tar.gz", ".tgz"))


def local_sources(path: Path) -> list[Path]:
    """The requirements' sources that are files or folders on this machine."""
    found = []
    for entry in _entries(path):
        source = _source(entry)
        candidate = (path.parent / source.removeprefix("file://")).resolve() if source else None
        if candidate is not None and candidate.exists():
            found.append(candidate)
    return found


def install_requirements(path: Path, cache: Path, progress: Progress) -> tuple[Path, Path]:
    """Roles and collections of ``path`` installed under ``cache``, once per content.

    Returns (roles path, collections path). A second session with the same content finds
    them there and needs no network.
    """
    for entry in _entries(path):
        source = _source(entry)
        if (
            source
            and _looks_local(source)
            and not (path.parent / source.removeprefix("file://")).exists()
        ):
            # ansible-galaxy would take it for a Galaxy name and blame the network.
            raise RequirementsError(path, _name(entry), f"{source} not found")
    digest = requirements_digest(path)[:16]
    target = cache / digest
    if (target / "complete").exists():
        return target / "roles", target / "collections"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return _install(path, cache, digest, progress)
    except (OSError, TimeoutError) as exc:  # filelock's Timeout is a TimeoutError
        raise RequirementsError(path, "", f"cannot install into {cache}: {exc}") from exc


def _install(path: Path, cache: Path, digest: str, progress: Progress) -> tuple[Path, Path]:
    from filelock import FileLock

    target = cache / digest
    roles, collections = target / "roles", target / "collections"
    # Longer than one ansible-galaxy may take: a second session waits for the first.
    with FileLock(str(cache / f"{digest}.lock"), timeout=1000):
        if (target / "complete").exists():  # another session installed them meanwhile
            return roles, collections
        progress(f"installing requirements of {path.name} into {target}")
        partial = cache / f"{digest}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        data = yaml.safe_load(path.read_text())
        has_roles = isinstance(data, list) or (isinstance(data, dict) and data.get("roles"))
        has_collections = isinstance(data, dict) and data.get("collections")
        if has_roles:
            _galaxy(path, ["role", "install", "-r", str(path), "-p", str(partial / "roles")])
        if has_collections:
            _galaxy(
                path,
                ["collection", "install", "-r", str(path), "-p", str(partial / "collections")],
            )
        (partial / "roles").mkdir(parents=True, exist_ok=True)
        (partial / "collections").mkdir(parents=True, exist_ok=True)
        (partial / "complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return roles, collections


def _galaxy(path: Path, args: list[str]) -> None:
    galaxy = shutil.which("ansible-galaxy", path=sysconfig.get_path("scripts") + os.pathsep
                          + os.environ.get("PATH", ""))  # fmt: skip
    if galaxy is None:
        raise RequirementsError(path, "", "ansible-galaxy not found (pip install ansible)")
    try:
        done = subprocess.run(
            [galaxy, *args], cwd=path.parent, capture_output=True, text=True, timeout=900
        )
    except subprocess.TimeoutExpired:
        raise RequirementsError(path, "", "ansible-galaxy did not finish in 15 minutes") from None
    if done.returncode != 0:
        requirement, cause = _galaxy_failure(done.stdout + done.stderr)
        source = _source_of(path, requirement)
        if source and source != requirement:
            requirement = f"{requirement} (src {source})"
        raise RequirementsError(path, requirement, cause)


def _source_of(path: Path, requirement: str) -> str:
    """Where the requirements file says ``requirement`` comes from."""
    for entry in _entries(path):
        if isinstance(entry, dict) and requirement in (entry.get("name"), entry.get("src")):
            return str(entry.get("src") or entry.get("source") or "")
    return ""


def _galaxy_failure(output: str) -> tuple[str, str]:
    """Which requirement ansible-galaxy gave up on, and its words for why."""
    said = []
    for line in output.splitlines():
        text = line.strip()
        for prefix in ("[WARNING]:", "[ERROR]:", "ERROR!"):
            text = text.removeprefix(prefix).strip()
        text = text.removeprefix("- ").strip()
        if " was NOT installed successfully:" in text:
            requirement, _, cause = text.partition(" was NOT installed successfully:")
            return requirement.strip(), cause.strip()
        if (
            text
            and line.lstrip().startswith(("[ERROR]:", "ERROR!"))
            and "--ignore-errors" not in text
        ):
            said.append(text)
    return "", said[-1] if said else (output.strip().splitlines() or ["ansible-galaxy failed"])[-1]
