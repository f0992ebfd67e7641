"""Labs as units of work: grouping, longest-first order, shards, and the schedule's length."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.distribution import worker_engines
from pytest_dockerlab.scheduling import (
    SECONDS_PER_HOST,
    Collected,
    Lab,
    check_durations,
    labs_of,
    longest_first,
    read_durations,
    shards,
    simulate,
    write_durations,
)
from pytest_dockerlab.settings import SettingsError, engine_pool


def test_tests_that_share_a_host_are_one_lab_per_image() -> None:
    """web, db and web+db share hosts: one lab, never split (each part would boot web);
    the same hosts on another image of the matrix are another lab; a test with no host is
    a unit of its own."""
    tests = [
        Collected("t.py::web[debian12]", ("web",), "debian12"),
        Collected("t.py::db[debian12]", ("db",), "debian12"),
        Collected("t.py::both[debian12]", ("web", "db"), "debian12"),
        Collected("t.py::web[debian13]", ("web",), "debian13"),
        Collected("t.py::cache", ("cache",)),
        Collected("t.py::pure"),
    ]
    labs = labs_of(tests)
    assert [(lab.key, lab.tests) for lab in labs] == [
        ("debian12:db,web", ("t.py::web[debian12]", "t.py::db[debian12]", "t.py::both[debian12]")),
        ("debian13:web", ("t.py::web[debian13]",)),
        ("cache", ("t.py::cache",)),
        ("t.py::pure", ("t.py::pure",)),
    ]


def test_a_lab_is_estimated_from_its_hosts_until_a_run_records_it() -> None:
    lab = Lab("debian12:db,web", ("a", "b"), ("db", "web"))
    assert lab.estimate({}) == 2 * SECONDS_PER_HOST + 2
    assert lab.estimate({"debian12:db,web": 41.5}) == 41.5


def test_longest_first_breaks_ties_by_key() -> None:
    labs = [Lab(k, ("t",), ("h",)) for k in ("b", "a", "c")]
    order = longest_first(labs, {"c": 99.0})
    assert [lab.key for lab in order] == ["c", "a", "b"]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_labs_whole_and_balanced(count: int) -> None:
    """The union of all shards is every lab, none in two; their times are within the
    longest lab of each other (LPT)."""
    rng = random.Random(count)
    labs = [Lab(f"lab{i}", (f"t{i}",), ("h",)) for i in range(40)]
    durations = {lab.key: rng.uniform(5, 120) for lab in labs}
    found = shards(labs, count, durations)
    keys = [lab.key for shard in found for lab in shard]
    assert sorted(keys) == sorted(lab.key for lab in labs)
    loads = [sum(durations[lab.key] for lab in shard) for shard in found]
    assert max(loads) - min(loads) <= max(durations.values())
    assert found == shards(list(reversed(labs)), count, durations)  # any order, same shards


def test_no_shard_count_below_one() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        shards([], 0, {})


@pytest.mark.parametrize("workers", [1, 2, 4, 8, 16])
def test_list_scheduling_stays_near_the_bound(workers: int) -> None:
    """A 200-lab matrix of mixed lengths: longest first stays within 1.15x of the best
    any schedule could do (the work spread evenly, or the longest lab)."""
    rng = random.Random(200)
    durations = [rng.lognormvariate(3.3, 0.6) for _ in range(200)]
    found = simulate(durations, workers)
    assert found.makespan >= found.bound - 1e-9
    assert found.ratio <= 1.15
    if workers == 1:
        assert found.makespan == pytest.approx(sum(durations))


def test_one_long_lab_bounds_the_schedule() -> None:
    found = simulate([100.0, 1.0, 1.0, 1.0], 4)
    assert (found.makespan, found.longest, found.ratio) == (100.0, 100.0, 1.0)


def test_durations_are_kept_across_runs_and_a_broken_file_records_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".dockerlab-durations.json"
    assert read_durations(path) == {}
    write_durations(path, {"b": 12.34, "a": 5.0})
    write_durations(path, {"b": 20.0})  # a run of b only keeps a's time
    assert read_durations(path) == {"a": 5.0, "b": 20.0}
    assert path.read_text() == '{\n "labs": {\n  "a": 5.0,\n  "b": 20.0\n }\n}\n'
    path.write_text("{not json")
    assert read_durations(path) == {}


@pytest.mark.parametrize(
    ("pool", "workers", "plan"),
    [
        ([("a", 1), ("b", 1)], 4, ["a", "b", "a", "b"]),
        ([("small", 1), ("big", 3)], 4, ["small", "big", "big", "big"]),
        ([("small", 1), ("big", 3)], 2, ["small", "big"]),  # every engine while workers last
        ([("a", 1), ("b", 1), ("c", 1)], 2, ["a", "b"]),
        ([("a", 2)], 3, ["a", "a", "a"]),
    ],
)
def test_workers_are_spread_over_the_pool_by_weight(
    pool: list[tuple[str, int]], workers: int, plan: list[str]
) -> None:
    assert worker_engines(pool, workers) == plan


@pytest.mark.parametrize(
    ("text", "pool"),
    [
        ("a,b:3", (("a", 1), ("b", 3))),
        (
            "tcp://10.0.0.5:2375,ssh://ci@build:22:2,unix:///run/docker.sock:2",
            (("tcp://10.0.0.5:2375", 1), ("ssh://ci@build:22", 2), ("unix:///run/docker.sock", 2)),
        ),
        ("unix:///run/docker.sock", (("unix:///run/docker.sock", 1),)),
        (
            "tcp://[::1]:2375,tcp://[fd00::5]:2376:2",
            (("tcp://[::1]:2375", 1), ("tcp://[fd00::5]:2376", 2)),
        ),
    ],
)
def test_the_engine_pool_reads_names_addresses_and_weights(
    text: str, pool: tuple[tuple[str, int], ...]
) -> None:
    assert engine_pool("--dockerlab-engines", text) == pool


@pytest.mark.parametrize("text", ["a,,b", "a:0", "a,a", "a::3", "default:-1", "default:x"])
def test_a_bad_engine_pool_is_named(text: str) -> None:
    with pytest.raises(SettingsError, match=f"--dockerlab-engines {text}: "):
        engine_pool("--dockerlab-engines", text)


def test_an_empty_engine_pool_is_an_error_not_no_pool() -> None:
    with pytest.raises(SettingsError, match="--dockerlab-engines is empty"):
        engine_pool("--dockerlab-engines", " ")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p / "missing" / "d.json", "its folder .* does not exist"),
        (lambda p: p, "it is not a regular file"),
        (lambda p: Path("/dev/full"), "it is not a regular file"),
        (lambda p: Path("/proc/version"), "it is not JSON"),
        (lambda p: _file(p, '{"labs": {"a": "x"}}'), "it is not a durations file"),
        (lambda p: _file(p, "[1, 2]"), "it is not a durations file"),
    ],
)
def test_a_durations_file_that_is_not_one_is_refused_before_the_run(
    tmp_path: Path, make: Any, why: str
) -> None:
    assert re.match(why, check_durations(make(tmp_path)))


def test_an_absent_or_empty_durations_file_is_fine(tmp_path: Path) -> None:
    assert check_durations(tmp_path / "d.json") == ""
    assert check_durations(_file(tmp_path, "")) == ""
    assert check_durations(_file(tmp_path, '{"labs": {"a": 1.5}}')) == ""


def _file(folder: Path, text: str) -> Path:
    path = folder / "d.json"
    path.write_text(text, encoding="utf-8")
    return path
