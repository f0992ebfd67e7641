"""The image catalogue: recipes shipped as package data, hashed, built once, cached by tag.

A recipe is a folder with a ``Dockerfile`` (``ARG BASE`` / ``FROM ${BASE}``) and a
``recipe.yml`` saying which init it boots and where its base comes from: a
registry image where a registry answers, or a Debian suite bootstrapped offline
and imported, where none does.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import labels as lbl
from .cleanup import DEAD, owner_state
from .engine import Engine, Progress
from .exceptions import EngineError, ImageBuildError, ImageNotFoundError, NoBaseImageError
from .onepass import MERGED_USR, SPLIT_USR_SUITES, plan
from .profiles import EngineFacts, choose_profile
from .registry import Registry
from .settings import BASE_SOURCES
from .spec import Recipe, load_recipe
from .spec.model import REPOSITORY

log = logging.getLogger(__name__)

RECIPES_DIR = Path(__file__).parent / "recipes"
# Packages the offline root filesystem starts with; the recipe installs the rest.
_BOOTSTRAP_VARIANT = "minbase"


def cannot_run(recipe: Recipe, facts: EngineFacts) -> str:
    """Why ``recipe``'s image cannot boot on the engine described by ``facts`` ("" if it can)."""
    if facts.name == "docker" and facts.cgroup_version not in recipe.cgroup:
        why = recipe.cgroup_reason or f"it needs cgroup v{' or v'.join(map(str, recipe.cgroup))}"
        return f"image {recipe.name} cannot boot on this cgroup v{facts.cgroup_version} host: {why}"
    return ""


def catalogue(extra_dirs: Iterable[Path] = ()) -> dict[str, Recipe]:
    """Every known recipe by name: the shipped ones, then users' folders (which may override).

    A recipe is a folder with a ``Dockerfile`` or a ``recipe.yml``; folders starting with
    ``_`` hold shared parts, not images.
    """
    recipes: dict[str, Recipe] = {}
    for folder in [RECIPES_DIR, *extra_dirs]:
        candidates = [folder] if _is_recipe(folder) else sorted(folder.iterdir())
        for path in candidates:
            if path.is_dir() and _is_recipe(path) and not path.name.startswith("_"):
                recipes[path.name] = load_recipe(path)
    return recipes


def _is_recipe(path: Path) -> bool:
    return (path / "Dockerfile").is_file() or (path / "recipe.yml").is_file()


# A holder seen holding a lock this long is taken to be dead (its machine may be gone: a
# shared engine cannot ask another machine about its processes). A cold build is minutes.
LOCK_LIMIT = 20 * 60.0


@contextlib.contextmanager
def build_lock(
    engine: Engine,
    tag: str,
    progress: Progress,
    owner: Mapping[str, str] | None = None,
    poll: float = 1.0,
    limit: float = LOCK_LIMIT,
) -> Iterator[None]:
    """An exclusive lock per image tag, held on the engine: sessions of every machine that
    share an engine build a tag once. The lock is a marker container named after the tag
    (the engine gives a name to one container only), labelled with its owner (host, pid,
    session: the reaper and the sweep remove it with a dead session's lab). Markers are
    removed by id, never by name: a holder removes its own marker only.

    A holder on this machine whose process is gone is taken over at once; any other after
    this waiter has watched it hold the lock for ``limit`` seconds (its own clock: machines
    sharing an engine need not agree on the time). Either is said.
    """
    name = f"{lbl.NAMESPACE}-lock-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"
    labels = dict(owner or {})
    labels.setdefault(lbl.OWNER_PID, str(os.getpid()))
    labels.setdefault(lbl.OWNER_HOST, socket.gethostname())
    labels[lbl.LOCK] = tag
    here = labels[lbl.OWNER_HOST]
    seen: dict[str, float] = {}  # holder marker id -> when this waiter first saw it
    mine = engine.try_lock(name, labels)
    while mine is None:
        holder = engine.lock_holder(name)
        if holder is not None:
            marker, held_by = holder
            who = f"pid {held_by.get(lbl.OWNER_PID, '?')} on {held_by.get(lbl.OWNER_HOST, '?')}"
            if not seen:
                progress(f"waiting for {who} to finish building {tag}")
            watched = time.monotonic() - seen.setdefault(marker, time.monotonic())
            dead = owner_state(held_by, here) == DEAD
            if dead or watched > limit:
                why = "its process is gone" if dead else f"held for {watched / 60:.0f} min"
                progress(f"taking over the build lock of {tag} from {who} ({why})")
                engine.unlock(marker)
            else:
                time.sleep(poll)
        mine = engine.try_lock(name, labels)
    try:
        yield
    finally:
        engine.unlock(mine)


class ImageBuilder:
    """Makes sure recipe images exist on an engine: there already, pulled from the registry
    (``registry``), or built (and then pushed there)."""

    def __init__(
        self,
        engine: Engine,
        progress: Progress,
        base_source: str = "auto",
        owner: Mapping[str, str] | None = None,
        registry: Registry | None = None,
        base_mirror: str | None = None,
    ) -> None:
        """``owner``: the labels of the session that builds, put on its build locks;
        ``base_mirror``: a repository registry-only bases are pulled through."""
        if base_source not in BASE_SOURCES:
            raise ValueError(f"base source must be one of {', '.join(BASE_SOURCES)}")
        self.engine = engine
        self.progress = progress
        self.base_source = base_source
        self.owner = owner
        self.registry = registry
        self.base_mirror = base_mirror
        self.failed: dict[str, ImageBuildError] = {}  # image name -> why its build failed

    def prepare(
        self, recipes: Iterable[Recipe]
    ) -> tuple[dict[str, str], dict[str, str], dict[str, ImageBuildError]]:
        """Make ``recipes`` ready on this engine: the tag by image name, the reason by image
        name for those that cannot run on this engine or whose base no source here has (hosts
        on them are skipped), and the error by image name for those whose build failed (hosts
        on them fail: a broken recipe or a network down is news, not a skip).
        """
        facts = self.engine.facts()
        tags: dict[str, str] = {}
        unavailable: dict[str, str] = {}
        failed: dict[str, ImageBuildError] = {}
        for recipe in recipes:
            reason = cannot_run(recipe, facts)
            if reason:
                log.warning("dockerlab: %s", reason)
                unavailable[recipe.name] = reason
            elif recipe.name in self.failed:  # once per session: later hosts get the error
                failed[recipe.name] = self.failed[recipe.name]
            else:
                try:
                    tags[recipe.name] = self.ensure(recipe)
                except NoBaseImageError as exc:  # this machine's lack: a skip, said why
                    log.warning("dockerlab: %s", exc)
                    unavailable[recipe.name] = str(exc)
                except ImageBuildError as exc:
                    failed[recipe.name] = self.failed[recipe.name] = exc
        return tags, unavailable, failed

    def ensure(self, recipe: Recipe) -> str:
        """Return the tag of ``recipe``'s image, building it (and its base) if needed.

        With a registry, an image found there is pulled instead of built, and one built here
        (or found here that the registry lacks) is pushed.
        """
        tag = recipe.tag
        if self.engine.image_exists(tag):
            self._share(tag)
            return tag
        with build_lock(self.engine, tag, self.progress, self.owner):
            if self.engine.image_exists(tag):  # another session built it while we waited
                return tag
            if self.registry is not None and self.registry.fetch(tag):
                return tag
            started = time.monotonic()
            if self._one_pass(recipe):
                self.progress(f"built image {recipe.name} in {time.monotonic() - started:.1f}s")
                self._share(tag)
                return tag
            base = self._base_for(recipe)
            self.progress(f"building image {recipe.name} as {tag} from {base}")
            self.engine.build(
                recipe.path,
                recipe.dockerfile,
                tag,
                buildargs={"BASE": base},
                labels={
                    lbl.IMAGE: recipe.name,
                    lbl.RECIPE_HASH: recipe.digest,
                    f"{lbl.NAMESPACE}.base": base,
                },
                progress=lambda line: self.progress(f"  {recipe.name}: {line}"),
            )
            self.progress(f"built image {recipe.name} in {time.monotonic() - started:.1f}s")
            self._share(tag)
        return tag

    def _one_pass(self, recipe: Recipe) -> bool:
        """Build ``recipe``'s image in one mmdebstrap run (see :mod:`.onepass`) where it
        is bootstrapped offline anyway, mmdebstrap is here, and its Dockerfile qualifies and
        installs packages. False: build it on a base, as before (``DOCKERLAB_ONE_PASS=off``
        always does)."""
        tool = shutil.which("mmdebstrap")
        if tool is None or not recipe.bootstrap or self.base_source == "registry":
            return False
        if recipe.bootstrap in SPLIT_USR_SUITES:
            return False
        if os.environ.get("DOCKERLAB_ONE_PASS", "").strip().lower() in ("off", "0", "no"):
            return False
        if self.base_source == "auto" and recipe.base and self.engine.image_exists(recipe.base):
            return False  # the registry's base is here already: the Dockerfile on it
        found = plan((recipe.path / recipe.dockerfile).read_text(encoding="utf-8"))
        if found is None or not found.include:
            return False  # no second apt pass to save: the shared root filesystem serves
        mirror = os.environ.get("DOCKERLAB_DEBIAN_MIRROR") or None
        self.progress(
            f"building image {recipe.name} as {recipe.tag} in one pass: {recipe.bootstrap} "
            f"with its packages ({', '.join(found.include)}), by mmdebstrap"
        )
        with tempfile.TemporaryDirectory(prefix="dockerlab-onepass-") as tmp:
            target = Path(tmp) / "rootfs.tar"
            _run_logged(
                found.argv(tool, recipe.bootstrap, target, mirror), self.progress, recipe.name
            )
            labels = {
                lbl.IMAGE: recipe.name,
                lbl.RECIPE_HASH: recipe.digest,
                f"{lbl.NAMESPACE}.base": f"mmdebstrap {recipe.bootstrap}",
            }
            with target.open("rb") as tarball:
                try:
                    self.engine.import_rootfs(tarball, recipe.tag, labels, found.changes)
                except EngineError as exc:
                    raise ImageBuildError(recipe.name, exc.cause) from exc
        return True

    def _share(self, tag: str) -> None:
        """Push an image of ours that the registry lacks (once per session: it remembers)."""
        if self.registry is not None:
            self.registry.publish(tag)

    def _base_for(self, recipe: Recipe) -> str:
        reasons: list[str] = []
        registry = self.base_source in ("auto", "registry") and bool(recipe.base)
        bootstrap = self.base_source in ("auto", "bootstrap") and bool(recipe.bootstrap)
        # What is already on the engine first: no network, no minutes of bootstrapping.
        if registry and self.engine.image_exists(recipe.base):
            return recipe.base
        tool = bootstrap_tool()
        if bootstrap and tool is not None:
            rootfs = self._rootfs_tag(recipe.bootstrap, tool)
            if self.engine.image_exists(rootfs) or (
                self.registry is not None and self.registry.fetch(rootfs)
            ):
                self._share(rootfs)
                return rootfs
        if registry:
            source = f"{self.base_mirror}/{recipe.base}" if self.base_mirror else recipe.base
            try:
                self.progress(f"pulling {source}")
                self.engine.pull(source)
            except EngineError as exc:
                reasons.append(f"pull {source} failed: {_first_line(exc.cause)}")
            else:
                if source == recipe.base:
                    return recipe.base
                try:  # found by its own name next time
                    self.engine.tag(source, recipe.base)
                finally:
                    self.engine.untag(source)
                return recipe.base
        if bootstrap:
            try:
                rootfs = self._bootstrap(recipe.bootstrap)
            except ImageBuildError as exc:
                reasons.append(exc.cause)
            else:
                self._share(rootfs)
                return rootfs
        if not reasons:
            reasons.append(f"the recipe has no base for source {self.base_source!r}")
        raise NoBaseImageError(recipe.name, "no base image: " + "; ".join(reasons))

    @staticmethod
    def _rootfs_tag(suite: str, tool: str) -> str:
        mirror = os.environ.get("DOCKERLAB_DEBIAN_MIRROR", "")
        # The tool is in the key: the two make different root filesystems (merged /usr).
        text = f"{suite}\0{_BOOTSTRAP_VARIANT}\0{mirror}\0{Path(tool).name}"
        key = hashlib.sha256(text.encode()).hexdigest()
        return f"{REPOSITORY}/rootfs-{suite}:{key[:12]}"

    def _bootstrap(self, suite: str) -> str:
        """Bootstrap a minimal Debian root filesystem on this machine and import it."""
        tool = bootstrap_tool()
        if tool is None:
            raise ImageBuildError(
                f"rootfs-{suite}",
                "offline bootstrap needs debootstrap or mmdebstrap (apt-get install debootstrap)",
            )
        if os.geteuid() != 0 and not tool.endswith("mmdebstrap"):
            raise ImageBuildError(f"rootfs-{suite}", "debootstrap must run as root")
        tag = self._rootfs_tag(suite, tool)
        mirror = os.environ.get("DOCKERLAB_DEBIAN_MIRROR")
        started = time.monotonic()
        self.progress(f"bootstrapping Debian {suite} with {Path(tool).name} (offline base)")
        with (
            build_lock(self.engine, tag, self.progress, self.owner),
            tempfile.TemporaryDirectory(prefix="dockerlab-rootfs-") as tmp,
        ):
            if self.engine.image_exists(tag):
                return tag
            target = Path(tmp) / "rootfs"
            argv = [tool, f"--variant={_BOOTSTRAP_VARIANT}", suite, str(target)]
            # /usr merged as debootstrap merges it (bullseye's is debootstrap's own: none)
            if (
                tool.endswith("mmdebstrap")
                and MERGED_USR.is_dir()
                and suite not in SPLIT_USR_SUITES
            ):
                argv.insert(1, f"--hook-dir={MERGED_USR}")
            if mirror:
                argv.append(mirror)
            _run_logged(argv, self.progress, f"rootfs-{suite}")
            with subprocess.Popen(
                ["tar", "-C", str(target), "--numeric-owner", "-c", "."],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ) as tar:
                assert tar.stdout is not None and tar.stderr is not None
                labels = {lbl.IMAGE: f"rootfs-{suite}", f"{lbl.NAMESPACE}.suite": suite}
                with _ended_on_interrupt(tar):
                    try:
                        self.engine.import_rootfs(tar.stdout, tag, labels)
                    except EngineError as exc:  # this image's failure: hosts on it skip
                        raise ImageBuildError(f"rootfs-{suite}", exc.cause) from exc
                errors = tar.stderr.read().decode(errors="replace")
            if tar.returncode != 0:
                # The engine imported whatever arrived: a truncated root filesystem must never
                # keep the tag, or every later build would start from it.
                with contextlib.suppress(ImageNotFoundError):  # nothing got the tag
                    self.engine.remove_image(tag)
                raise ImageBuildError(
                    f"rootfs-{suite}", f"tar exited {tar.returncode} while importing", errors
                )
        self.progress(f"bootstrapped {suite} as {tag} in {time.monotonic() - started:.1f}s")
        return tag


def bootstrap_tool() -> str | None:
    """What bootstraps a base root filesystem here. debootstrap's is the one the recipes
    were written on: mmdebstrap without its merged-/usr hook left /usr split, and the
    recipe's apt run then pulled usrmerge and perl into the image."""
    return shutil.which("debootstrap") or shutil.which("mmdebstrap")


def describe_engine(engine: Engine, recipes: Mapping[str, Recipe]) -> list[str]:
    """What was detected about the engine, and how each image would run there (or why not)."""
    facts = engine.facts()
    lines = [f"engine: {engine.address}: {facts.describe()}"]
    if facts.operating_system:
        lines.append(f"engine host: {facts.operating_system}")
    for recipe in recipes.values():
        reason = cannot_run(recipe, facts)
        built = "built" if engine.image_exists(recipe.tag) else "not built"
        if reason:
            how = f"cannot run: {reason}"
        else:
            profile = choose_profile(facts, recipe.init)
            how = f"profile {profile.name}: {' '.join(profile.docker_run_flags())}"
        lines.append(f"{recipe.name:<18} {recipe.init:<9} {built:<10} {how}")
    return lines


def _run_logged(argv: list[str], progress: Progress, what: str) -> None:
    """Run a bootstrap tool, showing its stage lines, keeping the tail for the error."""
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        with _ended_on_interrupt(proc):
            tail = _follow(proc.stdout, progress, what)
    if proc.returncode != 0:
        raise ImageBuildError(
            what, f"{Path(argv[0]).name} exited {proc.returncode}", "\n".join(tail)
        )


@contextlib.contextmanager
def _ended_on_interrupt(proc: subprocess.Popen[Any]) -> Iterator[None]:
    """A Ctrl-C must not wait minutes for a bootstrap to finish: end it with the session."""
    try:
        yield
    except BaseException:
        proc.kill()
        raise


# The stage lines of debootstrap's and mmdebstrap's output that are shown as progress.
_STAGES = (
    "Retrieving Release", "Validating", "Installing", "installed",  # debootstrap
    "downloading packages", "extracting archives", "installing ", "creating tarball",
)  # fmt: skip


def _follow(lines: Iterable[str], progress: Progress, what: str) -> list[str]:
    """Show a bootstrap tool's stage lines; keep the last 30 lines for an error."""
    tail: list[str] = []
    for line in lines:
        line = line.rstrip()
        tail = [*tail[-29:], line]
        if line.startswith("I: ") and any(word in line for word in _STAGES):
            progress(f"  {what}: {line[3:]}")
    return tail


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "no reason given"
