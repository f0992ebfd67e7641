"""``images build|list|prune|save|load``: the plugin's images and converge cache entries."""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import labels as lbl
from ..exceptions import DockerlabError
from ..settings import BASE_SOURCES, SettingsError, first_set, repository, switch
from .common import age, command, complain, connected, say, usage_error

if TYPE_CHECKING:
    from ..engine import Engine
    from ..registry import Registry
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
    repository = _repository(args)
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

            push = switch(*first_set(
                ("--registry-push", args.registry_push),
                ("DOCKERLAB_REGISTRY_PUSH", os.environ.get("DOCKERLAB_REGISTRY_PUSH") or None),
                ("the default", "on"),
            ))  # fmt: skip
            registry = Registry(engine, repository, say, push=push)
        status = _images(engine, args.action, args.names, args.base, args.all, registry)
        if args.action == "list" and not args.names:
            _list_cache(engine)
        return status


def _repository(args: argparse.Namespace) -> str | None:
    """The registry ``--registry`` names (bare: DOCKERLAB_REGISTRY's), or None. ``build``
    uses DOCKERLAB_REGISTRY without being told, as a session does."""
    if args.registry is None and args.action == "build" and os.environ.get("DOCKERLAB_REGISTRY"):
        args.registry = ""
    if args.registry is None:
        return None
    if args.action in ("save", "load"):
        usage_error(args, "--registry goes with `images build`, `list` and `prune`")
    origin, value = (
        ("--registry", args.registry)
        if args.registry
        else ("DOCKERLAB_REGISTRY", os.environ.get("DOCKERLAB_REGISTRY"))
    )
    if not value:
        usage_error(args, "--registry names no repository, and DOCKERLAB_REGISTRY is not set")
    try:
        return repository(origin, value, shared=True)
    except SettingsError as exc:
        usage_error(args, str(exc))


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
    """Delete there what is ours and older than ``older_than``: cache entries, outdated
    images (every image with ``all_``), bases no current image was built from lately."""
    from ..images import catalogue
    from ..registry import short_key
    from ..registry_api import RegistryAPI

    current = {r.name: r.digest[:12] for r in catalogue().values()}
    api = RegistryAPI(repository)
    now = time.time()
    deleted = 0
    for tag in api.walk(_ours(names)):
        if now - tag.created < older_than or tag.created == 0:
            continue
        if current.get(tag.name) == tag.tag and not all_:
            continue  # a current image stays unless --all
        api.delete(tag)
        deleted += 1
        what = f"{_kind(tag.name, tag.tag)}, {tag.size / 1e6:.0f}MB"
        say(f"deleted {tag.name}:{short_key(tag.tag)} ({what})")
    if deleted:
        say(
            f"deleted {deleted} tags from {repository}; the registry frees their space at its "
            "next garbage collection"
        )
    else:
        say(f"nothing of ours in {repository} is older than that")
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
    for entry in cache.entries():
        if now - max(entry.last_used, entry.created) < older_than:
            continue
        if entry.in_use:
            say(f"left cache entry {entry.key[:12]}: {entry.in_use} containers use it")
            continue
        cache.drop(entry.key)
        say(
            f"removed cache entry {entry.key[:12]} ({', '.join(entry.hosts)}, "
            f"{entry.size / 1e6:.0f}MB)"
        )
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
) -> int:
    from ..cache import ENTRY as CACHE_ENTRY
    from ..images import ImageBuilder, catalogue

    recipes = catalogue()
    chosen = [recipes[n] for n in (names or list(recipes))]
    if action == "build":
        # Its build locks carry this process as their owner: a sweep removes them if it dies.
        owner = lbl.SessionIdentity.create().labels()
        builder = ImageBuilder(engine, say, base, owner, registry=registry)
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
    if action == "list":
        say(f"{'NAME':<18} {'TAG':<50} {'SIZE':>7} {'AGE':>5}  {'IN USE':<13} RECIPE")
    for image in sorted(engine.images(lbl.IMAGE), key=lambda i: i.labels.get(lbl.IMAGE, "")):
        name = image.labels.get(lbl.IMAGE, "?")
        if (names and name not in wanted) or image.labels.get(CACHE_ENTRY) == "true":
            continue  # a converge cache entry is listed and pruned with the cache
        tag = image.tags[0] if image.tags else image.id[7:19]
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
    return 0
