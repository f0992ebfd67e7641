"""``images build|list|prune|save|load``: the plugin's images and converge cache entries."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import labels as lbl
from ..exceptions import DockerlabError
from ..settings import BASE_SOURCES, Settings, SettingsError, from_environment
from ..spec.model import REPOSITORY
from .common import age, command, complain, connected, say, usage_error

if TYPE_CHECKING:
    from ..engine import Engine
    from ..registry import Registry
    from ..registry_api import Tag
    from .common import Commands


def register(commands: Commands) -> None:
    images = command(
        commands,
        "images",
        _run,
        "prebuild, list or remove the plugin's images",
        "The plugin's images: build them ahead of a session (CI caches), list them, or remove "
        "those no container uses.",
    )
    images.add_argument(
        "action",
        choices=["build", "list", "prune", "save", "load"],
        help="build: build the images whose current recipe is not built yet; list: name, tag, "
        "size, age, users, current or outdated, then the converge cache's entries; prune: "
        "remove outdated images (with --all, every image) that no container uses, or with "
        "--cache the converge cache's entries; save: write the built images to --dir (one "
        "NAME.tar each, for a CI cache); load: load every archive of --dir",
    )
    images.add_argument(
        "--dir",
        metavar="DIR",
        help="save, load: the folder of image archives (e.g. a CI cache's path)",
    )
    images.add_argument(
        "--cache", action="store_true", help="prune: remove converge cache entries instead"
    )
    images.add_argument(
        "--older-than",
        metavar="AGE",
        type=_duration,
        default=0.0,
        help="prune --cache: only entries not used for AGE (e.g. 7d, 12h, 30m); prune "
        "--registry: only tags made AGE ago or earlier",
    )
    images.add_argument(
        "--all", action="store_true", help="prune: also current images (default: outdated only)"
    )
    images.add_argument("names", nargs="*", default=[], help="image names (default: all)")
    images.add_argument(
        "--base",
        choices=BASE_SOURCES,
        default="auto",
        help="build: where base images come from, as --dockerlab-base (default: auto)",
    )
    images.add_argument(
        "--registry",
        metavar="REPO",
        nargs="?",
        const="",
        help="the registry images are shared through, as --dockerlab-registry (bare: "
        "DOCKERLAB_REGISTRY's, which build uses unasked). build: pull what it has, push what "
        "is built; list: also what it holds of ours; prune: delete there instead (with "
        "--older-than)",
    )
    images.add_argument(
        "--registry-push",
        choices=("on", "off"),
        help="build: whether to push to the registry (default: DOCKERLAB_REGISTRY_PUSH, or on)",
    )


def _run(args: argparse.Namespace) -> int:
    from ..images import catalogue

    if (args.action in ("save", "load")) != bool(args.dir):
        usage_error(args, "--dir goes with `images save` and `images load`, and they need it")
    pruned = args.cache or args.registry is not None
    if args.older_than and not (args.action == "prune" and pruned):
        usage_error(args, "--older-than applies to `images prune --cache` and `--registry` only")
    known = catalogue()
    unknown = [n for n in args.names if n not in known]
    if unknown:
        # Before asking the engine: a typo is a usage error wherever the engine is.
        usage_error(
            args,
            f"unknown image{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"known images: {', '.join(known)}",
        )
    settings = _settings(args)
    repository = settings.registry
    if args.action == "prune" and repository:
        return _prune_registry(repository, args.names, args.older_than, args.all)
    if args.action == "list" and repository:
        _list_registry(repository, args.names)
    with connected() as engine:
        if args.action == "prune" and args.cache:
            return _prune_cache(engine, args.older_than)
        if args.action in ("save", "load"):
            try:
                return archives(engine, args.action, Path(args.dir), args.names)
            except OSError as exc:
                complain(f"images {args.action} --dir {args.dir}: {exc}")
                return 1
        registry = None
        if repository and args.action == "build":
            from ..registry import Registry

            push, required = settings.registry_push, settings.registry_required
            registry = Registry(engine, repository, say, push=push, required=required)
        status = _images(
            engine, args.action, args.names, args.base, args.all, registry, settings.base_mirror
        )
        if args.action == "list" and not args.names:
            _list_cache(engine)
        return status


def _settings(args: argparse.Namespace) -> Settings:
    """The registry settings as a session would have them: ``--registry`` (bare: none of its
    own), ``--registry-push``, then DOCKERLAB_REGISTRY, _PUSH, _REQUIRED (CI's default) and
    DOCKERLAB_BASE_MIRROR. ``build`` uses DOCKERLAB_REGISTRY without being told."""
    if args.action in ("save", "load") and args.registry is not None:
        usage_error(args, "--registry goes with `images build`, `list` and `prune`")
    try:
        settings = from_environment(
            registry=args.registry or None, registry_push=args.registry_push
        )
    except SettingsError as exc:
        usage_error(args, str(exc).replace("--dockerlab-registry", "--registry"))
    if args.registry is not None and not settings.registry:
        usage_error(args, "--registry names no repository, and DOCKERLAB_REGISTRY is not set")
    if args.registry is None and args.action != "build":
        return replace(settings, registry=None)  # list and prune go there only when asked
    return settings


def _kind(name: str, tag: str) -> str:
    if name != "cache":
        return "base" if name.startswith("rootfs-") else "image"
    return "cache marker" if "-" not in tag else "cache host"


def _ours(names: Sequence[str]) -> list[str]:
    """The repositories under the registry's that the plugin writes to."""
    from ..images import catalogue

    recipes = catalogue()
    chosen = [recipes[n] for n in (names or list(recipes))]
    suites = dict.fromkeys(f"rootfs-{r.bootstrap}" for r in chosen if r.bootstrap)
    return [*(r.name for r in chosen), *suites, *([] if names else ["cache"])]


def _list_registry(repository: str, names: Sequence[str]) -> None:
    from ..images import catalogue
    from ..registry import short_key
    from ..registry_api import RegistryAPI

    current = {r.name: r.digest[:12] for r in catalogue().values()}
    now = time.time()
    say(f"registry {repository}:")
    say(f"{'NAME':<18} {'TAG':<26} {'KIND':<12} {'SIZE':>7} {'AGE':>5}  RECIPE")
    found = 0
    for tag in RegistryAPI(repository).walk(_ours(names)):
        found += 1
        state = ""
        if tag.name in current:
            state = "current" if tag.tag == current[tag.name] else "outdated"
        created = age(now - tag.created) if tag.created else "?"
        say(
            f"{tag.name:<18} {short_key(tag.tag):<26} {_kind(tag.name, tag.tag):<12} "
            f"{tag.size / 1e6:>5.0f}MB {created:>5}  {state}"
        )
    if not found:
        say("(nothing of ours)")
    say("")


def _prune_registry(repository: str, names: Sequence[str], older_than: float, all_: bool) -> int:
    """Delete there what is ours and was made ``older_than`` ago or earlier: outdated images
    and bases (current images too with ``all_``), and converge cache entries, each whole: its
    marker first (no one sees part of an entry), then the host images it names by digest."""
    from ..cache import MARKED_IMAGES
    from ..images import catalogue
    from ..registry import short_key
    from ..registry_api import RegistryAPI

    current = {r.name: r.digest[:12] for r in catalogue().values()}
    api = RegistryAPI(repository)
    now = time.time()
    tags = list(api.walk(_ours(names)))

    def old(tag: Tag) -> bool:
        return tag.created > 0 and now - tag.created >= older_than

    doomed: list[tuple[str, str, str]] = []  # (name, digest, what to say)
    kept: set[str] = set()  # host images a marker that stays still names
    for marker in (t for t in tags if _kind(t.name, t.tag) == "cache marker"):
        named = [p.partition("=")[2] for p in marker.labels.get(MARKED_IMAGES, "").split(",")]
        if old(marker):
            doomed.append((marker.name, marker.digest, f"cache:{short_key(marker.tag)}"))
            doomed += [(marker.name, digest, "") for digest in named if digest]
        else:
            kept.update(named)
    for tag in tags:
        kind = _kind(tag.name, tag.tag)
        if kind == "cache host":
            if old(tag) and tag.digest not in kept:  # of an entry that goes, or of none
                doomed.append((tag.name, tag.digest, f"cache:{short_key(tag.tag)}"))
        elif kind != "cache marker" and old(tag) and (all_ or current.get(tag.name) != tag.tag):
            doomed.append((tag.name, tag.digest, f"{tag.name}:{tag.tag} ({kind})"))
    for name, digest, what in dict.fromkeys(doomed):
        api.delete(name, digest)
        if what:
            say(f"deleted {what}")
    if doomed:
        say(
            f"deleted {len([d for d in doomed if d[2]])} tags from {repository}; the registry "
            "frees their space at its next garbage collection"
        )
    else:
        say(f"nothing of ours in {repository} was made that long ago")
    return 0


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhms]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 7d, 12h or 30m")
    return float(match[1]) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[match[2]]


def _list_cache(engine: Engine) -> None:
    from ..cache import ConvergeCache

    entries = ConvergeCache(engine, say).entries()
    if not entries:
        say("converge cache: no entries")
        return
    now = time.time()
    say(f"\n{'CACHE KEY':<12}  {'HOSTS':<16} {'SIZE':>7} {'AGE':>5} {'USED':>5} {'HITS':>4}  LAB")
    for entry in reversed(entries):
        used = age(now - entry.last_used) if entry.last_used else "-"
        say(
            f"{entry.key[:12]:<12}  {', '.join(entry.hosts):<16} {entry.size / 1e6:>5.0f}MB "
            f"{age(now - entry.created):>5} {used:>5} {entry.hits:>4}  {entry.lab_file}"
        )


def _prune_cache(engine: Engine, older_than: float) -> int:
    from ..cache import ConvergeCache

    cache = ConvergeCache(engine, say)
    now = time.time()
    removed = 0
    for entry in cache.entries():
        if now - max(entry.last_used, entry.created) < older_than:
            continue
        if entry.in_use:
            say(f"left cache entry {entry.key[:12]}: {entry.in_use} containers use it")
            continue
        cache.drop(entry.key)
        removed += 1
        say(
            f"removed cache entry {entry.key[:12]} ({', '.join(entry.hosts)}, "
            f"{entry.size / 1e6:.0f}MB)"
        )
    if not removed:
        say("no cache entry removed" + (" (none unused for that long)" if older_than else ""))
    return 0


def archives(engine: Engine, action: str, folder: Path, names: Sequence[str]) -> int:
    """``images save/load --dir``: the built images as one archive each, for a CI cache.

    A saved image keeps its tag (the recipe's hash): after a load, sessions find it built."""
    from ..images import catalogue

    if folder.exists() and not folder.is_dir():
        complain(f"images {action} --dir {folder}: not a folder")
        return 1
    if action == "load":
        found = sorted(folder.glob("*.tar")) if folder.is_dir() else []
        for archive in found:
            with archive.open("rb") as data:
                engine.load_images(data)
            say(f"loaded {archive}")
        if not found:
            say(f"no image archives in {folder}: the images will be built")
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    for recipe in [r for n, r in catalogue().items() if not names or n in names]:
        archive = folder / f"{recipe.name}.tar"
        if not engine.image_exists(recipe.tag):
            # Its recipe changed or it was never built: an old archive would load in vain.
            archive.unlink(missing_ok=True)
            if names:
                say(f"{recipe.name}: not built ({recipe.tag}); `images build {recipe.name}`")
            continue
        partial = archive.with_suffix(".tar.partial")
        with partial.open("wb") as data:
            engine.save_image(recipe.tag, data)
        partial.replace(archive)
        say(f"saved {recipe.tag} to {archive}")
    return 0


def _images(
    engine: Engine,
    action: str,
    names: Sequence[str],
    base: str,
    prune_all: bool = False,
    registry: Registry | None = None,
    base_mirror: str | None = None,
) -> int:
    from ..cache import ENTRY as CACHE_ENTRY
    from ..images import ImageBuilder, catalogue

    recipes = catalogue()
    chosen = [recipes[n] for n in (names or list(recipes))]
    if action == "build":
        # Its build locks carry this process as their owner: a sweep removes them if it dies.
        owner = lbl.SessionIdentity.create().labels()
        builder = ImageBuilder(engine, say, base, owner, registry=registry, base_mirror=base_mirror)
        failed = 0
        for recipe in chosen:
            try:
                say(f"{recipe.name}: {builder.ensure(recipe)}")
            except DockerlabError as exc:
                # Building "all" on a machine without a registry: say which could not, go on.
                complain(str(exc))
                failed += 1
        return 1 if failed else 0
    current = {r.tag for r in recipes.values()}
    wanted = {r.name for r in chosen}
    now = time.time()
    removed = 0
    if action == "list":
        say(f"{'NAME':<18} {'TAG':<50} {'SIZE':>7} {'AGE':>5}  {'IN USE':<13} RECIPE")
    for image in sorted(engine.images(lbl.IMAGE), key=lambda i: i.labels.get(lbl.IMAGE, "")):
        name = image.labels.get(lbl.IMAGE, "?")
        if not image.named_in(f"{REPOSITORY}/"):
            continue  # a user's, built from ours or committed from a host: never ours to touch
        if (names and name not in wanted) or image.labels.get(CACHE_ENTRY) == "true":
            continue  # a converge cache entry is listed and pruned with the cache
        tag = next(t for t in image.tags if t.startswith(f"{REPOSITORY}/"))
        outdated = not any(t in current for t in image.tags) and not name.startswith("rootfs-")
        if action == "list":
            users = f"{image.containers} containers" if image.containers else "no"
            say(
                f"{name:<18} {tag:<50} {image.size / 1e6:>5.0f}MB {age(now - image.created):>5}"
                f"  {users:<13} {'outdated' if outdated else 'current'}"
            )
        elif (outdated or prune_all) and not image.containers:
            try:
                engine.remove_image(image.id)
            except DockerlabError as exc:  # e.g. converge cache entries are built on it
                say(f"left {name} {tag}: {exc} (images prune --cache removes cache entries)")
                continue
            say(f"removed {name} {tag} ({image.size / 1e6:.0f}MB)")
            removed += 1
    if action == "prune" and not removed:
        say(
            "no image removed: none of ours is unused"
            + ("" if prune_all else " and outdated (--all takes current ones too)")
        )
    return 0
