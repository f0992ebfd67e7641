"""The lab scheduler's retries (``--dockerlab-retry-lost-labs``), driven as xdist's DSession
drives it, with workers that record what they are sent: a lab lost with its engine goes
once, whole, to a worker of another engine; never twice; never to nobody."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pytest_dockerlab.distribution import (
    LOST_ON,
    Moved,
    Retries,
    make_scheduler,
    no_retries,
    rewrite_junit,
    write_labs,
)
from pytest_dockerlab.scheduling import Collected

TESTS = [
    Collected("t.py::web1", ("web",)),
    Collected("t.py::web2", ("web",)),
    Collected("t.py::db", ("db",)),
    Collected("t.py::cache", ("cache",)),
]
IDS = [t.nodeid for t in TESTS]


class Worker:
    """An xdist worker as the scheduler sees it: the tests it was sent, in order."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[str] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += [IDS[i] for i in indices]

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduler(tmp_path: Path, lost: set[str], retries: Retries) -> tuple[Any, Worker, Worker]:
    write_labs(tmp_path, "gw0", TESTS)
    config = SimpleNamespace(
        getvalue=lambda name: ["2*popen"] if name == "tx" else None,
        option=SimpleNamespace(loadscopereorder=True),
    )
    sched = make_scheduler(config, None, tmp_path, {}, lost, retries)  # type: ignore[arg-type]
    a, b = Worker("gw0"), Worker("gw1")
    for worker in (a, b):
        sched.add_node(worker)
        sched.add_node_collection(worker, IDS)
    sched.schedule()
    return sched, a, b


def run(sched: Any, worker: Worker, nodeid: str) -> None:
    sched.mark_test_complete(worker, IDS.index(nodeid))


def test_a_lost_lab_goes_whole_and_once_to_a_worker_of_another_engine(tmp_path: Path) -> None:
    lost: set[str] = set()
    retries = Retries(on=True)
    sched, web, other = scheduler(tmp_path, lost, retries)
    assert web.sent[:2] == ["t.py::web1", "t.py::web2"]  # the longest lab first, whole
    # The web lab's engine dies under its first test: both its tests are lost there.
    lost.add(str(web.gateway.id))
    for nodeid in ("t.py::web1", "t.py::web2"):
        assert sched.lost_test(web, nodeid, "tcp://gone:2375", "s1")
        assert not sched.tests_finished  # the lost tests are still coming in
        run(sched, web, nodeid)
    assert web.shutting_down  # it gets no more labs
    assert not sched.tests_finished  # the lab waits for the other worker
    run(sched, other, other.sent[0])  # down to its last test: it takes the next lab
    assert other.sent[-2:] == ["t.py::web1", "t.py::web2"]
    # Lost again, on the other engine: a lab runs again once, then its tests fail.
    assert not sched.lost_test(other, "t.py::web1", "tcp://also-gone:2375", "s2")
    assert retries.refused == {
        "web": "lost again, with tcp://also-gone:2375: a lab runs again once"
    }


def test_with_no_worker_left_a_lost_lab_is_not_retried(tmp_path: Path) -> None:
    lost = {"gw0", "gw1"}  # both engines are gone
    retries = Retries(on=True)
    sched, a, _ = scheduler(tmp_path, lost, retries)
    assert not sched.lost_test(a, a.sent[0], "tcp://gone:2375", "s1")
    assert "no worker of another engine" in retries.refused[sched._lab(a.sent[0])[0]]


def test_without_retries_an_idle_worker_is_shut_down_and_nothing_is_retried(
    tmp_path: Path,
) -> None:
    sched, a, b = scheduler(tmp_path, set(), Retries(on=False))
    for worker in (a, b):
        for nodeid in list(worker.sent):
            run(sched, worker, nodeid)
    assert a.shutting_down and b.shutting_down


def test_with_retries_an_idle_worker_waits_until_the_run_is_done(tmp_path: Path) -> None:
    sched, a, b = scheduler(tmp_path, set(), Retries(on=True))
    for worker in (a, b):
        for nodeid in list(worker.sent):
            run(sched, worker, nodeid)
    assert not a.shutting_down and not b.shutting_down  # DSession shuts them down
    assert sched.tests_finished


def test_lost_tests_that_never_ran_again_are_left_and_said() -> None:
    retries = Retries(on=True)
    retries.moved["web"] = Moved(["t.py::web1", "t.py::web2"], "tcp://gone:2375", "s1", "gw1")
    retries.ran.add("t.py::web1")
    assert retries.left() == ["t.py::web2"]
    assert retries.lines() == [
        "lab web was lost with engine tcp://gone:2375 on gw1: its 2 lost tests never "
        "ran again (--dockerlab-retry-lost-labs). What session s1 made may remain there, so "
        "the run fails; once it answers: dockerlab clean --session s1 --engines tcp://gone:2375"
    ]


def test_a_lab_whose_engine_answers_again_by_the_end_is_removed_there() -> None:
    retries = Retries(on=True)
    retries.moved["web"] = Moved(["t.py::web1"], "tcp://gone:2375", "s1", "gw1", to="gw0")
    retries.ran.add("t.py::web1")
    assert retries.remaining() == [retries.moved["web"]]  # the run fails while it may remain
    retries.moved["web"].removed = True
    assert not retries.left() and not retries.remaining()
    assert retries.lines()[0].endswith(
        "What session s1 made there was removed (it answered again)."
    )


def test_every_engine_lost_ends_the_run_with_what_never_ran(tmp_path: Path) -> None:
    """xdist would stop with "Unexpectedly no active workers available" (an INTERNALERROR):
    the scheduler is done when no worker is left, and says what never ran."""
    lost = {"gw0", "gw1"}  # both engines die under the first labs
    retries = Retries(on=True)
    sched, web, other = scheduler(tmp_path, lost, retries)
    assert web.shutting_down and other.shutting_down  # given no more labs
    for worker in (web, other):
        for nodeid in list(worker.sent):
            assert not sched.tests_finished  # their tests are still coming in
            sched.lost_test(worker, nodeid, "tcp://gone:2375", "s1")
            run(sched, worker, nodeid)
    assert sched.tests_finished
    never = [t for t in IDS if t not in web.sent + other.sent]
    assert never and set(never) <= set(retries.left())
    lab = sched._lab(never[0])[0]
    assert any(line.startswith(f"lab {lab} never ran") for line in retries.lines())


def test_a_lab_lost_when_the_end_had_begun_says_so(tmp_path: Path) -> None:
    lost: set[str] = set()
    retries = Retries(on=True)
    sched, web, other = scheduler(tmp_path, lost, retries)
    other.shutting_down = True  # DSession told every worker to stop
    lost.add("gw0")
    assert not sched.lost_test(web, web.sent[-1], "tcp://gone:2375", "s1")
    assert "the other workers had been told to stop" in retries.refused["web"]


def test_junit_lists_a_test_that_ran_again_once(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    lost_entry = (
        '<testcase classname="t" name="web1"><properties>'
        f'<property name="{LOST_ON}" value="t.py::web1"/></properties></testcase>'
    )
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2">'
        f'{lost_entry}<testcase classname="t" name="web1"><failure message="no"/></testcase>'
        '<testcase classname="t" name="db"/></testsuite></testsuites>',
        encoding="utf-8",
    )
    rewrite_junit(xml)  # the entry that ran again (or the error it never did) stays
    text = xml.read_text(encoding="utf-8")
    assert text.count('name="web1"') == 1 and "<failure" in text and 'name="db"' in text


def test_why_retries_cannot_work_here() -> None:
    assert "it takes -n" in no_retries([], 0, "no")
    assert "--dist loadfile" in no_retries(["a", "b"], 2, "loadfile")
    assert "-n 1 is one worker" in no_retries(["a"], 1, "load")
    assert "every worker runs on one engine" in no_retries(["a", "a"], 2, "load")
    assert no_retries(["a", "b"], 2, "load") == ""
