"""Labs as the units a run is spread by, over xdist workers (and their engines) or CI shards.

A lab is the hosts a set of tests shares, on one image of the matrix: tests whose host sets
overlap are one lab (splitting them would boot the shared host twice), and a test that needs
no host is a unit of its own. Labs go longest first to whichever worker frees first (list
scheduling, LPT: within 4/3 of the best makespan), by the durations earlier runs recorded
(a small JSON file a project may commit); a lab no run has timed is estimated from its hosts.
Plain data and arithmetic: the xdist scheduler and the shard filter are :mod:`.distribution`.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# A lab no run has timed: a boot and a converge per host, and a little per test.
SECONDS_PER_HOST = 15.0
SECONDS_PER_TEST = 1.0
DURATIONS_FILE = ".dockerlab-durations.json"


@dataclass(frozen=True)
class Collected:
    """What the scheduler knows of one collected test."""

    nodeid: str
    hosts: tuple[str, ...] = ()  # the lab hosts it needs
    variant: str = ""  # the image of the matrix, or the Molecule scenario, it runs on


@dataclass(frozen=True)
class Lab:
    """A unit of work: tests that share hosts, on one variant."""

    key: str
    tests: tuple[str, ...]
    hosts: tuple[str, ...]

    def estimate(self, durations: Mapping[str, float]) -> float:
        """Seconds this lab takes: as last recorded, else from its hosts and tests."""
        recorded = durations.get(self.key)
        if recorded is not None:
            return recorded
        return SECONDS_PER_HOST * len(self.hosts) + SECONDS_PER_TEST * len(self.tests)


def labs_of(tests: Iterable[Collected]) -> list[Lab]:
    """The labs ``tests`` make, in collection order of their first test."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    order: list[Collected] = list(tests)
    for test in order:
        nodes = [f"{test.variant}|{host}" for host in test.hosts] or [f"test|{test.nodeid}"]
        for node in nodes:
            parent.setdefault(node, node)
        for node in nodes[1:]:
            parent[find(node)] = find(nodes[0])
    grouped: dict[str, list[Collected]] = {}
    for test in order:
        first = f"{test.variant}|{test.hosts[0]}" if test.hosts else f"test|{test.nodeid}"
        grouped.setdefault(find(first), []).append(test)
    labs = []
    for members in grouped.values():
        hosts = tuple(sorted({h for t in members for h in t.hosts}))
        variant = members[0].variant
        named = ",".join(hosts)
        key = (f"{variant}:{named}" if variant else named) if hosts else members[0].nodeid
        labs.append(Lab(key, tuple(t.nodeid for t in members), hosts))
    return labs


def longest_first(labs: Iterable[Lab], durations: Mapping[str, float]) -> list[Lab]:
    """``labs`` in the order list scheduling takes them; ties by key, so every process
    that orders the same labs orders them alike."""
    return sorted(labs, key=lambda lab: (-lab.estimate(durations), lab.key))


def shards(labs: Iterable[Lab], count: int, durations: Mapping[str, float]) -> list[list[Lab]]:
    """``labs`` in ``count`` shards of about equal time, no lab split or in two shards."""
    if count < 1:
        raise ValueError("a run has at least one shard")
    bins: list[tuple[float, int]] = [(0.0, index) for index in range(count)]
    found: list[list[Lab]] = [[] for _ in range(count)]
    for lab in longest_first(labs, durations):
        load, index = heapq.heappop(bins)
        found[index].append(lab)
        heapq.heappush(bins, (load + lab.estimate(durations), index))
    return found


@dataclass(frozen=True)
class Makespan:
    """A schedule's length against the bounds no schedule beats."""

    makespan: float
    ideal: float  # all the work spread evenly
    longest: float  # the longest lab, which one worker runs whole

    @property
    def bound(self) -> float:
        return max(self.ideal, self.longest)

    @property
    def ratio(self) -> float:
        return self.makespan / self.bound if self.bound else 1.0


def simulate(durations: Sequence[float], workers: int) -> Makespan:
    """The makespan of list scheduling, longest first, of labs lasting ``durations`` on
    ``workers`` alike: each lab goes to the worker that frees first."""
    free = [0.0] * workers
    for seconds in sorted(durations, reverse=True):
        heapq.heapreplace(free, free[0] + seconds)
    total = math.fsum(durations)
    return Makespan(max(free), total / workers, max(durations, default=0.0))


# A durations file holds a number per lab: a few KiB for a large suite.
DURATIONS_MAX_BYTES = 4 * 1024 * 1024


def check_durations(path: Path) -> str:
    """Why ``path`` cannot be the durations file ("" when it can): it is read before the
    run and written after it, so an absent file in an existing folder is fine, and a file
    holding something else is never overwritten."""
    if not path.parent.is_dir():
        return f"its folder {path.parent} does not exist"
    if not path.exists():
        return ""
    if not path.is_file():
        return "it is not a regular file"
    try:
        if path.stat().st_size > DURATIONS_MAX_BYTES:
            return f"it holds more than {DURATIONS_MAX_BYTES // 1024 // 1024} MiB"
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        return f"it cannot be read ({exc.strerror if isinstance(exc, OSError) else exc})"
    if not text.strip():
        return ""  # an empty file, made for the run to fill
    try:
        data = json.loads(text)
    except ValueError as exc:
        return f"it is not JSON ({exc})"
    labs = data.get("labs", {}) if isinstance(data, dict) else None
    if not isinstance(labs, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in labs.values()
    ):
        return 'it is not a durations file ({"labs": {"LAB": SECONDS, ...}})'
    return ""


def read_durations(path: Path) -> dict[str, float]:
    """The recorded seconds by lab (checked at start: :func:`check_durations`); an absent
    or empty file records nothing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    labs = data.get("labs") if isinstance(data, dict) else None
    if not isinstance(labs, dict):
        return {}
    return {str(k): float(v) for k, v in labs.items() if isinstance(v, (int, float))}


def write_durations(path: Path, measured: Mapping[str, float]) -> None:
    """Record ``measured`` over what ``path`` held (labs not run this time keep theirs),
    sorted, so that a committed file changes only where a lab's time did."""
    try:  # what else the file holds stays
        held = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        held = {}
    held = held if isinstance(held, dict) else {}
    labs = {**read_durations(path), **{k: round(v, 1) for k, v in measured.items()}}
    text = json.dumps({**held, "labs": dict(sorted(labs.items()))}, indent=1) + "\n"
    path.write_text(text, encoding="utf-8")
