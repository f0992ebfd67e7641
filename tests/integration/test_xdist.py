"""pytest-xdist: each worker boots only the hosts of the tests it runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import labelled, run

LAB = "hosts:\n  a: {}\n  b: {}\n  unused: {}\n"

RECORD = """
import json, os, pathlib, subprocess

def record(lab, request):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    hosts = subprocess.run(
        ["docker", "ps", "-a",
         "--filter", f"label=pytest-dockerlab.session={lab.session_id}",
         "--filter", "label=pytest-dockerlab.host",
         "--format", '{{.Label "pytest-dockerlab.host"}}'],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    with open(pathlib.Path(request.config.rootpath, "boots"), "a") as out:
        out.write(json.dumps([worker, lab.hosts, sorted(hosts)]) + "\\n")
"""

TESTS_A = """
import pytest
from record import record

@pytest.mark.lab("a")
@pytest.mark.parametrize("n", range(3))
def test_a(lab, request, n):
    assert lab.exec("a", "hostname").output.strip() == "a"
    record(lab, request)
"""

TESTS_B = """
import pytest
from record import record

@pytest.mark.lab("b")
@pytest.mark.parametrize("n", range(3))
def test_b(lab, request, n):
    assert lab.exec("b", "hostname").output.strip() == "b"
    record(lab, request)
"""


def test_each_worker_boots_only_the_hosts_of_its_own_tests(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    before = labelled(docker_client)
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile(record=RECORD, test_a=TESTS_A, test_b=TESTS_B)
    pytester.syspathinsert()
    # --dist loadfile keeps each module on one worker (loadgroup's grouping is lost on
    # pytest 9 with xdist 3.8: it renames items through an attribute pytest no longer reads).
    result = run(pytester, "-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=6)
    used: dict[str, set[str]] = {}
    booted: dict[str, set[str]] = {}
    for line in (pytester.path / "boots").read_text().splitlines():
        worker, needs, hosts = json.loads(line)
        used.setdefault(worker, set()).update(needs)
        booted.setdefault(worker, set()).update(hosts)
    assert set(used) <= {"gw0", "gw1"}
    # A worker boots the hosts its own tests use, and nothing else (`unused` nowhere).
    assert booted == used, (booted, used)
    # One module per host set, one module per worker: each host boots once.
    assert sorted(h for hosts in booted.values() for h in hosts) == ["a", "b"]
    assert labelled(docker_client) == before


TESTS_INTERLEAVED = """
import pytest
from record import record

@pytest.mark.lab("a")
def test_a1(lab, request): record(lab, request)

@pytest.mark.lab("b")
def test_b1(lab, request): record(lab, request)

@pytest.mark.lab("a")
def test_a2(lab, request): record(lab, request)

@pytest.mark.lab("b")
def test_b2(lab, request): record(lab, request)

def test_no_host(): pass
"""


def test_the_scheduler_keeps_each_lab_on_one_worker(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """One module whose tests alternate between two labs, under xdist's default --dist
    load: the plugin's scheduler gives each lab whole to one worker (so each host boots
    once), longest first, and records the labs' durations for the next run."""
    before = labelled(docker_client)
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile(record=RECORD, test_interleaved=TESTS_INTERLEAVED)
    pytester.syspathinsert()
    durations = pytester.path / "durations.json"
    result = run(pytester, "-n", "2", "--dockerlab-durations", str(durations))
    result.assert_outcomes(passed=5)
    workers: dict[str, set[str]] = {}
    booted: list[str] = []
    for line in (pytester.path / "boots").read_text().splitlines():
        worker, needs, hosts = json.loads(line)
        for host in needs:
            workers.setdefault(host, set()).add(worker)
        booted += hosts
    assert {host: len(ran) for host, ran in workers.items()} == {"a": 1, "b": 1}
    assert sorted(set(booted)) == ["a", "b"]
    assert set(json.loads(durations.read_text())["labs"]) == {"a", "b"}
    assert labelled(docker_client) == before
