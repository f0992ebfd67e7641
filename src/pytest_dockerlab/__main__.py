"""``python -m pytest_dockerlab``: remove kept labs; prebuild or list images."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import labels as lbl
from .exceptions import DockerlabError

if TYPE_CHECKING:
    from .engine import Engine


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_dockerlab")
    commands = parser.add_subparsers(dest="command", required=True)

    clean = commands.add_parser("clean", help="remove labs left on the engine (kept or orphaned)")
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", help="the session id that --dockerlab-keep printed")
    which.add_argument("--all", action="store_true", help="every lab of every session")

    images = commands.add_parser("images", help="prebuild or list the plugin's images")
    images.add_argument("action", choices=["build", "list"])
    images.add_argument("names", nargs="*", help="image names (default: all)")
    images.add_argument("--base", choices=["auto", "registry", "bootstrap"], default="auto")

    args = parser.parse_args(argv)
    try:
        from .engine import connect

        engine = connect()
        if args.command == "clean":
            return _clean(engine, args.session)
        return _images(engine, args.action, args.names, args.base)
    except DockerlabError as exc:
        sys.stderr.write(f"dockerlab: {exc}\n")
        return 1


def _clean(engine: Engine, session: str | None) -> int:
    # An empty value matches every resource that carries the label at all.
    found = engine.find({lbl.SESSION: session or ""})
    engine.remove(found)
    sys.stdout.write(f"removed {found.describe()}\n")
    return 0


def _images(engine: Engine, action: str, names: Sequence[str], base: str) -> int:
    from .images import ImageBuilder, catalogue

    recipes = catalogue()
    unknown = [n for n in names if n not in recipes]
    if unknown:
        sys.stderr.write(f"unknown images {', '.join(unknown)}; known: {', '.join(recipes)}\n")
        return 2
    chosen = [recipes[n] for n in (names or list(recipes))]
    if action == "build":
        builder = ImageBuilder(engine, _say, base)
        for recipe in chosen:
            sys.stdout.write(f"{recipe.name}: {builder.ensure(recipe)}\n")
    elif action == "list":
        for recipe in chosen:
            state = "built" if engine.image_exists(recipe.tag) else "not built"
            sys.stdout.write(f"{recipe.name:<20} {recipe.tag:<45} {recipe.init:<9} {state}\n")
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
