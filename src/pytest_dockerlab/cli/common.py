"""What every command of the ``dockerlab`` CLI shares: its output, ages, and the engine."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from ..engine import Engine


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def complain(line: str) -> None:
    sys.stderr.write(f"dockerlab: {line}\n")


def usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    """Exit 2 with the command line's usage and ``message``, as argparse does."""
    args.error(message)
    raise AssertionError("argparse's error() exits")


def age(seconds: float) -> str:
    """A duration as ``list`` columns show it: 3d, 5h, 12m, 40s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def prog() -> str:
    name = os.path.basename(sys.argv[0])
    return "dockerlab" if name == "dockerlab" else "python -m pytest_dockerlab"


@contextlib.contextmanager
def connected(name: str | None = None, source: str = "--engines") -> Iterator[Engine]:
    """The engine the docker CLI would use here (or ``name``, an engine of a pool), for the
    command's block; Ansible's connection and a shell's ``docker exec`` reach the same one."""
    from ..address import exported, pool_member, resolve
    from ..docker_engine import DockerEngine

    address = resolve() if name is None else pool_member(name, source=source)
    with exported(address):
        engine = DockerEngine(address)
        try:
            yield engine
        finally:
            engine.close()


def pool_names(given: str | None) -> list[str | None]:
    """The engines a command reaches: ``--engines``, else ``DOCKERLAB_ENGINES``, else the
    one the docker CLI would use (None)."""
    from ..settings import engine_pool

    if given is not None:  # an empty --engines is a mistake, not "the default engine"
        return [name for name, _ in engine_pool("--engines", given)]
    text = os.environ.get("DOCKERLAB_ENGINES", "")
    if not text:
        return [None]
    origin = "DOCKERLAB_ENGINES"
    return [name for name, _ in engine_pool(origin, text)]


if TYPE_CHECKING:
    # What each group's ``register`` adds its commands to.
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

# What carries out a command: its parsed arguments in, the exit status out.
Run = Callable[[argparse.Namespace], int]


def command(
    commands: Commands, name: str, run: Run, summary: str, description: str, *aliases: str
) -> argparse.ArgumentParser:
    """Add command ``name`` (``summary`` in the list of commands, ``description`` in its own
    help), carried out by ``run``; its arguments are added to what this returns."""
    parser = commands.add_parser(name, aliases=aliases, help=summary, description=description)
    parser.set_defaults(run=run)
    return parser
