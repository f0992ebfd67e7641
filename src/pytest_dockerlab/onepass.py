"""A recipe's Dockerfile as one ``mmdebstrap`` run, for images bootstrapped offline.

The Dockerfile path bootstraps a minimal root filesystem, imports it, then builds the
recipe on it: a second apt pass (lists fetched again, every package downloaded, unpacked and
committed as a layer). Here the packages the Dockerfile's ``apt-get install`` names join
mmdebstrap's own apt run, its ``RUN`` lines run as customize hooks inside the root
filesystem (the same shell lines, with the same environment), and its ``ENV``,
``STOPSIGNAL`` and ``CMD`` become the import's settings: the same image from one run, and
the Dockerfile stays the one description of it.

Only a Dockerfile that does nothing else qualifies (``ARG BASE``, ``FROM ${BASE}``, shell
``RUN`` lines, ``ENV``, ``LABEL``, ``STOPSIGNAL``, ``CMD``); any other builds as before.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

# Docker's PATH for a RUN line when the image sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_BASE = re.compile(r"\$\{?BASE\}?")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Suites whose merged /usr is debootstrap's own symlinks, not a package (usr-is-merged came
# with bookworm): one mmdebstrap run would make them split; they build the two-step way.
SPLIT_USR_SUITES = frozenset({"jessie", "stretch", "buster", "bullseye"})
MERGED_USR = Path("/usr/share/mmdebstrap/hooks/maybe-merged-usr")
# Where mmdebstrap writes its --dpkgopt options inside the root filesystem.
_OPTIONS = '"$1"/etc/dpkg/dpkg.cfg.d/99mmdebstrap'


@dataclass(frozen=True)
class OnePass:
    """What one mmdebstrap run needs to make a recipe's image."""

    include: tuple[str, ...]  # the packages the RUN lines install, in mmdebstrap's apt run
    env: tuple[tuple[str, str], ...]  # ENV, in order: the RUN lines' and the image's
    runs: tuple[str, ...]  # the RUN lines, each a shell command
    changes: tuple[str, ...]  # the image's settings, as ``docker import --change`` takes

    def argv(self, tool: str, suite: str, target: Path, mirror: str | None) -> list[str]:
        """The mmdebstrap command line: minbase plus the packages, each RUN line a hook.

        Its own clean-up of apt's lists and cache is skipped: a RUN line that empties the
        lists leaves their folder dated 1970 for Ansible's ``cache_valid_time``, which a
        later clean-up would undo."""
        env = [f"{k}={v}" for k, v in (("PATH", DEFAULT_PATH), *self.env)]
        hooks = [
            "--customize-hook="
            + shlex.join(
                ["chroot", "$1", "/usr/bin/env", "-i", *env, "/bin/sh", "-c", run]
            ).replace("'$1'", '"$1"')  # the hook's own argument: the root filesystem
            for run in self.runs
        ]
        include = [f"--include={','.join(self.include)}"] if self.include else []
        # Merged /usr as debootstrap makes it (usr-is-merged; else apt picks usrmerge, and
        # perl with it), where the suite has it.
        merged = [f"--hook-dir={MERGED_USR}"] if MERGED_USR.is_dir() else []
        # A throwaway root filesystem need not fsync each file dpkg unpacks; the setting
        # goes before the tarball does (the image keeps only what the Dockerfile sets).
        unsafe = ["--dpkgopt=force-unsafe-io", f"--customize-hook=rm -f {_OPTIONS}"]
        argv = [tool, "--variant=minbase", *include, *merged, "--skip=cleanup/apt", unsafe[0]]
        # The mirror alone, as debootstrap's sources (mmdebstrap's default adds -updates
        # and -security).
        return [*argv, *hooks, unsafe[1], suite, str(target), mirror or DEFAULT_MIRROR]


def plan(dockerfile: str) -> OnePass | None:
    """The one-run form of ``dockerfile``, or None when it does more than one run can."""
    include: list[str] = []
    env: list[tuple[str, str]] = []
    runs: list[str] = []
    changes: list[str] = []
    froms = 0
    for keyword, rest in instructions(dockerfile):
        if keyword == "ARG":
            if rest.split("=", 1)[0].strip() != "BASE":
                return None
        elif keyword == "FROM":
            froms += 1
            if froms > 1 or not _BASE.fullmatch(rest.strip()):
                return None
        elif keyword == "ENV":
            pairs = _env_pairs(rest)
            if pairs is None:
                return None
            env += pairs
            changes += [f"ENV {k}={shlex.quote(v)}" for k, v in pairs]
        elif keyword == "RUN":
            if rest.lstrip().startswith("["):  # exec form: no shell to hand it to
                return None
            runs.append(rest.strip())
            include += [p for p in installed(rest) if p not in include]
        elif keyword in ("STOPSIGNAL", "CMD", "LABEL"):
            changes.append(f"{keyword} {rest.strip()}")
        else:
            return None
    if not froms:
        return None
    if "PATH" not in dict(env):  # as docker build sets it
        changes.insert(0, f"ENV PATH={DEFAULT_PATH}")
    return OnePass(tuple(include), tuple(env), tuple(runs), tuple(changes))


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """Each instruction, its keyword upper-cased: continued lines joined, comments out."""
    found: list[tuple[str, str]] = []
    current = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and current):
            continue  # as Docker: comment lines go, even inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            keyword, _, rest = current.strip().partition(" ")
            found.append((keyword.upper(), rest))
        current = ""
    return found


def installed(run: str) -> list[str]:
    """The packages an ``apt-get install`` in a RUN line names (its options left out)."""
    try:
        words = shlex.split(run)
    except ValueError:
        return []
    packages: list[str] = []
    for i, word in enumerate(words):
        if word in ("apt-get", "apt") and "install" in words[i + 1 : i + 3]:
            for arg in words[words.index("install", i) + 1 :]:
                if arg in ("&&", ";", "||", "|"):
                    break
                if not arg.startswith("-"):
                    packages.append(arg.removesuffix(";"))
                if arg.endswith(";"):
                    break
    return packages


def _env_pairs(rest: str) -> list[tuple[str, str]] | None:
    try:
        words = shlex.split(rest)
    except ValueError:
        return None
    if words and "=" not in words[0]:  # the old form: ENV NAME value with spaces
        return [(words[0], " ".join(words[1:]))]
    pairs = [tuple(w.split("=", 1)) for w in words]
    if any(len(p) != 2 for p in pairs):
        return None
    return [(k, v) for k, v in pairs]
