"""``info`` and ``seccomp``: what the engine is, and how hosts run on it."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from .common import command, connected, say

if TYPE_CHECKING:
    from .common import Commands


def register(commands: Commands) -> None:
    command(
        commands,
        "info",
        _info,
        "the detected engine and each image's run profile",
        "The detected engine (cgroup version, rootless, Podman, Docker Desktop) and the run "
        "profile each image would get on it, or why it cannot run.",
    )
    seccomp = command(
        commands,
        "seccomp",
        _seccomp,
        "print the seccomp profile of systemd hosts (for docker run --security-opt)",
        "The seccomp profile systemd hosts run with, as JSON: save it as sandbox.json to "
        "reproduce a host by hand with the flags `info` shows. It is Docker's default "
        "profile plus a few calls: --diff lists them.",
    )
    seccomp.add_argument(
        "--diff", action="store_true", help="what it allows beyond Docker's default, and why"
    )


def _info(args: argparse.Namespace) -> int:
    from ..images import catalogue, describe_engine

    with connected() as engine:
        for line in describe_engine(engine, catalogue()):
            say(line)
    return 0


def _seccomp(args: argparse.Namespace) -> int:
    from ..profiles import sandbox_seccomp, seccomp_diff

    if args.diff:
        for line in seccomp_diff():
            say(line)
        return 0
    say(json.dumps(json.loads(sandbox_seccomp()), indent=2))
    return 0
