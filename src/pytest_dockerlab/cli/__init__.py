"""``dockerlab`` (or ``python -m pytest_dockerlab``): labs and images without pytest.

The parser is built from the command groups, one module each: :mod:`.labs` (``list``,
``clean``: every lab on the engine), :mod:`.lab` (``up``, ``down``, ``shell``, ``bake``: one
lab by hand), :mod:`.images` (``images build|list|prune|save|load``), :mod:`.files`
(``import-molecule``, ``schema``: the files users write) and :mod:`.engine` (``info``,
``seccomp``). Each module's ``register`` adds its commands, each with a ``run`` that takes
the parsed arguments and returns the exit status. pytest is never imported here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..exceptions import DockerlabError
from . import engine, files, images, lab, labs
from .common import complain, prog

GROUPS = (labs, lab, images, files, engine)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    try:
        status: int = args.run(args)
        return status
    except DockerlabError as exc:
        complain(str(exc))
        return 1
    except BrokenPipeError:  # `dockerlab images list | head`: the reader has enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.filename is not None:
            raise  # a file of the command's own: not the output's
        # The output itself cannot be written (`> /dev/full`, a full disk).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        complain(f"cannot write the output: {exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        # What up or bake had made is removed already (their sessions' exits ran).
        complain("interrupted")
        return 130


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "images" and not any(e.startswith("-") for e in extra):
        # argparse gives `images save --dir D debian12` no place for the names after a flag.
        args.names = [*args.names, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    """The command line: every command and flag with its help line."""
    parser = argparse.ArgumentParser(
        prog=prog(),
        description="pytest-dockerlab's labs and images on the engine: DOCKER_HOST, else "
        "DOCKER_CONTEXT, else the docker CLI's current context, else a local engine socket",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    # A command's usage error, said as the command line's own (``args.error(...)``).
    parser.set_defaults(error=parser.error)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("pytest-dockerlab")
    except PackageNotFoundError:  # run from a checkout that was never installed
        mine = "unknown"
    return f"%(prog)s {mine} (Python {sys.version.split()[0]})"
