"""A run spread lab by lab (:mod:`.scheduling`): over CI shards (``--dockerlab-shard``),
over xdist workers with a scheduler that never splits a lab, and over the engines of a pool
(``--dockerlab-engines``), each worker on one. Each run records its labs' durations for
the next one to schedule by.

Under xdist only the workers collect: each writes which lab each of its tests belongs to
into a folder the controller handed out, where the controller's scheduler reads it (a
node id alone does not say which hosts a test needs).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.junitxml import xml_key as junit_key

from .exceptions import DockerlabError
from .scheduling import (
    Collected,
    Lab,
    labs_of,
    read_durations,
    shards,
    write_durations,
)

if TYPE_CHECKING:
    from .settings import Settings

# What the controller hands each worker (workerinput): where to write its tests' labs, and
# the engine of the pool it runs on.
LABS_DIR = "dockerlab_labs_dir"
ENGINE = "dockerlab_engine"
# What a worker hands back (workeroutput): how to enter and remove the labs it kept.
KEPT = "dockerlab_kept"
# What a worker whose shard holds no lab says, in the labs folder.
EMPTY_SHARD = "empty-shard.txt"
# The durations in pytest's cache, when no file is named.
CACHE_KEY = "dockerlab/durations"
# A report's user properties: the engine its lab was lost with (the worker takes no more
# labs), and the session whose containers may remain there.
ENGINE_LOST = "dockerlab_engine_lost"
SESSION_LOST = "dockerlab_session_lost"
# A JUnit XML property of a lost test's entry that is dropped (it ran again elsewhere).
LOST_ON = "dockerlab_lost_on"


def load_durations(config: pytest.Config, settings: Settings) -> dict[str, float]:
    if settings.durations is not None:
        return read_durations(settings.durations)
    cache = getattr(config, "cache", None)
    found = cache.get(CACHE_KEY, {}) if cache is not None else {}
    return {str(k): float(v) for k, v in found.items()} if isinstance(found, dict) else {}


def save_durations(
    config: pytest.Config, settings: Settings, measured: Mapping[str, float]
) -> None:
    if not measured:
        return
    if settings.durations is not None:
        try:
            write_durations(settings.durations, measured)
        except OSError as exc:  # checked at start; gone or full since
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    f"dockerlab: the labs' durations were not recorded in "
                    f"{settings.durations}: {exc.strerror or exc}"
                )
        return
    cache = getattr(config, "cache", None)
    if cache is not None:
        before = load_durations(config, settings)
        cache.set(CACHE_KEY, {**before, **{k: round(v, 1) for k, v in measured.items()}})


def in_shard(
    tests: Sequence[Collected], shard: tuple[int, int], durations: Mapping[str, float]
) -> set[str]:
    """The node ids of shard ``(I, N)``: whole labs, balanced over the N shards by their
    durations, the same in every process that collected the same tests."""
    index, count = shard
    return {nodeid for lab in shards(labs_of(tests), count, durations)[index - 1]
            for nodeid in lab.tests}  # fmt: skip


def labs_by_test(tests: Iterable[Collected]) -> dict[str, tuple[str, int]]:
    """Each test's lab and its number of hosts."""
    return {nodeid: (lab.key, len(lab.hosts)) for lab in labs_of(tests) for nodeid in lab.tests}


def write_labs(folder: Path, worker: str, tests: Iterable[Collected]) -> None:
    """A worker's tests' labs, for the controller's scheduler: node id -> [lab, hosts]."""
    found = labs_by_test(tests)
    target = folder / f"{worker}.json"
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps(found), encoding="utf-8")
    partial.replace(target)  # whole or not at all, for a reader that may come any time


def read_labs(folder: Path) -> dict[str, tuple[str, int]]:
    """What the workers wrote (any one worker's is enough: they collect alike)."""
    found: dict[str, tuple[str, int]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.update({str(k): (str(v[0]), int(v[1])) for k, v in data.items()})
    return found


def worker_engines(pool: Sequence[tuple[str, int]], workers: int) -> list[str]:
    """The engine of each of ``workers`` workers: as many per engine as its weight says,
    relatively (largest remainder), every engine at least one while workers last."""
    total = sum(weight for _, weight in pool)
    shares = [workers * weight / total for _, weight in pool]
    counts = [math.floor(share) for share in shares]
    by_remainder = sorted(range(len(pool)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in by_remainder[: workers - sum(counts)]:
        counts[i] += 1
    for i, count in enumerate(counts):  # an engine with no worker would never be used
        if count == 0:
            donor = max(range(len(counts)), key=lambda j: counts[j])
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[i] = 1
    engines = [name for (name, _), count in zip(pool, counts, strict=True) for _ in range(count)]
    # Interleaved, so that the first workers to start cover the pool.
    order = sorted(range(len(engines)), key=lambda i: engines[: i + 1].count(engines[i]))
    return [engines[i] for i in order]


@dataclass
class Pool:
    """The engines of ``--dockerlab-engines`` that answered at start, what each is, and
    what was said of those that did not."""

    live: list[str]
    facts: dict[str, str] = field(default_factory=dict)
    said: list[str] = field(default_factory=list)

    @classmethod
    def check(cls, settings: Settings) -> Pool:
        """Ask each engine once; one that does not answer is said in the header, and fails
        the run when the pool is required (CI) or none answers."""
        from .cli.common import connected

        pool = cls([])
        seen: dict[str, str] = {}  # engine id -> the name it answered to first
        for name, _ in settings.engines:
            try:
                with connected(name, "--dockerlab-engines") as engine:
                    facts = engine.facts()
            except DockerlabError as exc:
                pool.said.append(f"engine {name} of the pool does not answer: {exc}")
                continue
            twin = seen.setdefault(facts.engine_id, name) if facts.engine_id else name
            if twin != name:
                raise DockerlabError(
                    f"engines {twin} and {name} of the pool are one engine ("
                    f"{facts.engine_id.replace('|', ', ')}): name it once, with a weight for "
                    f"more workers ({twin}:2)"
                )
            pool.facts[name] = facts.describe()
            pool.live.append(name)
        if pool.said and (settings.engines_required or not pool.live):
            why = (
                "none of them answers"
                if not pool.live
                else f"the pool is required ({settings.engines_required_by})"
            )
            raise DockerlabError("; ".join([*pool.said, why]))
        return pool

    def plan(self, settings: Settings, workers: int) -> list[str]:
        """The engine of each xdist worker (gw0, gw1, ...), by the weights of those that
        answered."""
        weights = [(name, weight) for name, weight in settings.engines if name in self.live]
        return worker_engines(weights, workers) if workers and weights else []

    def lines(self, settings: Settings, workers: int, dist: str = "load") -> list[str]:
        """The header's: each engine, what it is, and the workers it runs (or why none)."""
        plan = self.plan(settings, workers)
        lines = []
        for name in self.live:
            ran = [f"gw{i}" for i, engine in enumerate(plan) if engine == name]
            if not workers:
                ran = ["this session"] if name == self.live[0] else ["none (no -n)"]
            facts = self.facts.get(name, "?")
            lines.append(f"engine {name} ({facts}): {', '.join(ran) or 'no worker'}")
        if settings.retry_lost_labs:
            why = no_retries(plan, workers, dist)
            lines.append(
                f"--dockerlab-retry-lost-labs: no effect here ({why})"
                if why
                else "a lab lost with its engine runs once more on another (not one lost in "
                "the run's last tests, once the other workers were told to stop)"
            )
        return [*lines, *self.said]


def no_retries(plan: Sequence[str], workers: int, dist: str) -> str:
    """Why a lost lab cannot run again elsewhere in this run ("" when it can)."""
    if not workers:
        return "it takes -n: each engine of the pool runs xdist workers"
    if dist not in ("load", "loadgroup"):
        return f"--dist {dist} spreads the tests its own way: it takes --dist load or loadgroup"
    if len(set(plan)) < 2:
        if workers < 2:
            return "-n 1 is one worker, on one engine: it takes two"
        return "every worker runs on one engine: it takes two engines of the pool that answer"
    return ""


def spread(
    config: pytest.Config,
    settings: Settings,
    items: list[pytest.Item],
    tests: list[Collected],
    recorder: Recorder | None,
) -> str:
    """The labs of the collected tests: a CI shard keeps only its own (the others are
    deselected); an xdist worker writes them for the controller's scheduler; one session
    keeps them for the durations it records. Returns what to say of a shard left with no
    lab (more shards than labs: it passes, as ``dockerlab matrix`` lists it)."""
    said = ""
    if settings.shard is not None:
        kept = in_shard(tests, settings.shard, load_durations(config, settings))
        if tests and not kept:
            index, count = settings.shard
            labs = len(labs_of(tests))
            said = (
                f"shard {index}/{count} holds no lab: the suite's {labs} lab"
                f"{'s' * (labs > 1)} went to the other shards (nothing to run here, which passes)"
            )
        deselected = [item for item in items if item.nodeid not in kept]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if item.nodeid in kept]
            tests = [test for test in tests if test.nodeid in kept]
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get(LABS_DIR):
        write_labs(Path(workerinput[LABS_DIR]), workerinput["workerid"], tests)
        if said:
            (Path(workerinput[LABS_DIR]) / EMPTY_SHARD).write_text(said, encoding="utf-8")
    elif recorder is not None:
        recorder.labs = labs_by_test(tests)
    return said


class Durations:
    """Each test's setup, call and teardown seconds, summed by lab at the end."""

    def __init__(self) -> None:
        self.by_test: dict[str, float] = {}

    def add(self, report: pytest.TestReport) -> None:
        self.by_test[report.nodeid] = self.by_test.get(report.nodeid, 0.0) + report.duration

    def by_lab(self, labs: Mapping[str, tuple[str, int]]) -> dict[str, float]:
        found: dict[str, float] = {}
        for nodeid, seconds in self.by_test.items():
            if nodeid in labs and labs[nodeid][1]:  # labs with hosts: the rest are not ours
                key = labs[nodeid][0]
                found[key] = found.get(key, 0.0) + seconds
        return found


@dataclass
class Moved:
    """A lab lost with its engine whose tests run once more on a worker of another engine
    (``--dockerlab-retry-lost-labs``)."""

    tests: list[str]  # those that were lost, in the order they were reported
    engine: str  # the engine of the pool it was lost with, as the pool names it
    session: str  # the session whose containers may remain there
    worker: str  # the worker it was lost on
    to: str = ""  # the worker that ran it again
    removed: bool = False  # the engine answered by the run's end, and what it held is gone


@dataclass
class Retries:
    """Labs lost with their engines, whether each runs again elsewhere, and labs that never
    ran because no worker was left."""

    on: bool
    waiting: dict[str, Moved] = field(default_factory=dict)  # lost tests still coming in
    moved: dict[str, Moved] = field(default_factory=dict)  # given to another worker
    refused: dict[str, str] = field(default_factory=dict)  # lab -> why it did not run again
    ran: set[str] = field(default_factory=set)  # node ids reported again after a move
    stranded: dict[str, list[str]] = field(default_factory=dict)  # lab -> tests never run

    def left(self) -> list[str]:
        """The tests that never ran to an end (a run that ends so is not green)."""
        lost = [t for m in self.moved.values() for t in m.tests if t not in self.ran]
        return lost + [t for tests in self.stranded.values() for t in tests]

    def remaining(self) -> list[Moved]:
        """Lost labs whose containers may still be on their engines (the run fails)."""
        return [m for m in self.moved.values() if m.session and not m.removed]

    def lines(self) -> list[str]:
        lines = []
        for lab, moved in self.moved.items():
            where = f"ran again on {moved.to}" if moved.to else "never ran again"
            tests = (
                "its lost test" if len(moved.tests) == 1 else f"its {len(moved.tests)} lost tests"
            )
            remains = (
                "It made nothing there (the engine did not answer when the worker started)."
                if not moved.session
                else f"What session {moved.session} made there was removed (it answered again)."
                if moved.removed
                else f"What session {moved.session} made may remain there, so the run fails; "
                f"once it answers: dockerlab clean --session {moved.session} --engines "
                f"{moved.engine}"
            )
            lines.append(
                f"lab {lab} was lost with engine {moved.engine} on {moved.worker}: "
                f"{tests} {where} (--dockerlab-retry-lost-labs). {remains}"
            )
        lines += [f"lab {lab} was not run again: {why}" for lab, why in self.refused.items()]
        lines += [
            f"lab {lab} never ran ({len(tests)} test{'s' * (len(tests) > 1)}): no worker was "
            "left, every engine of the pool was lost"
            for lab, tests in self.stranded.items()
        ]
        return lines

    def reclaim(self) -> None:
        """Remove what each lost lab's session left on its engine, where that engine answers
        again by the run's end (a daemon restarted): then nothing remains and the run may
        pass."""
        from . import labels as lbl
        from .cli.common import connected

        for moved in self.remaining():
            try:
                with connected(moved.engine, "--dockerlab-engines") as engine:
                    engine.remove(engine.find({lbl.SESSION: moved.session}))
            except DockerlabError:
                continue  # still down: the summary gives the line to run once it answers
            moved.removed = True


def make_scheduler(
    config: pytest.Config,
    log: Any,
    folder: Path,
    durations: Mapping[str, float],
    lost: set[str],
    retries: Retries,
) -> Any:
    """xdist's load-scope scheduler, with labs as its scopes, taken longest first; a worker
    in ``lost`` (its engine stopped answering) is given no more labs, and with
    ``retries.on`` its lost labs go once to a worker of another engine."""
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class LabScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """A lab goes whole to one worker; the longest lab left goes to the worker that
        frees first; a worker is given its next lab when its last test is all it has left
        (xdist holds a worker's last test until it knows what follows)."""

        labs: dict[str, tuple[str, int]] | None = None
        collection: list[str] | None  # xdist's: every node id, once the workers collected

        def _lab(self, nodeid: str) -> tuple[str, int]:
            if self.labs is None:
                self.labs = read_labs(folder)
            return self.labs.get(nodeid, (nodeid, 0))

        def _split_scope(self, nodeid: str) -> str:
            return self._lab(nodeid)[0]

        def _assign_work_unit(self, node: Any) -> None:
            def estimate(scope: str) -> float:
                unit = self.workqueue[scope]
                hosts = self._lab(next(iter(unit)))[1]
                return Lab(scope, tuple(unit), ("",) * hosts).estimate(durations)

            # Longest first (ties by name): the queue's head is what xdist hands out.
            longest = min(self.workqueue, key=lambda scope: (-estimate(scope), scope))
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if str(node.gateway.id) in lost:
                node.shutdown()  # the labs left go to the workers whose engines answer
                return
            if not self.workqueue:
                if not retries.on:
                    node.shutdown()
                # else it waits, for a lab lost elsewhere, until the run is done
                return
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

        def schedule(self) -> None:
            """With retries on, xdist's first distribution without its shutting down of the
            workers that got no lab, or of all of them when every lab was handed out: a
            lab lost later may need one."""
            if not retries.on or self.collection is not None:
                super().schedule()
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            collection = list(next(iter(self.registered_collections.values())))
            self.collection = collection
            for nodeid in collection:
                self.workqueue.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for node in self.nodes:
                if self.workqueue:
                    self._assign_work_unit(node)
            for node in self.nodes:
                self._reschedule(node)

        @property
        def tests_finished(self) -> bool:
            """Not while a lost lab's tests may still come in or wait for a worker; done
            when no worker is left to run what remains (every engine lost), which is then
            said and fails the run instead of xdist's "no active workers"."""
            every_lost = all(str(n.gateway.id) in lost for n in self.nodes)
            if self.collection_is_completed and self.nodes and every_lost:
                if any(self._pending_of(self.assigned_work[n]) for n in self.nodes):
                    return False  # the last of the lost workers' tests are coming in
                retries.moved.update(retries.waiting)
                retries.waiting.clear()
                while self.workqueue:
                    lab, unit = self.workqueue.popitem(last=False)
                    if lab not in retries.moved:
                        retries.stranded[lab] = [t for t, done in unit.items() if not done]
                return True
            if not super().tests_finished:
                return False
            losing = [n for n in self.nodes if str(n.gateway.id) in lost]
            return not retries.waiting and not any(
                self._pending_of(self.assigned_work[n]) for n in losing
            )

        def remove_node(self, node: Any) -> str | None:
            """A worker gone (finished or crashed): a lost lab still waiting for its tests
            from it waits no more (xdist puts what it had not run back in the queue)."""
            worker = str(node.gateway.id)
            for lab in [lab for lab, w in retries.waiting.items() if w.worker == worker]:
                retries.moved[lab] = retries.waiting.pop(lab)
            crashed: str | None = super().remove_node(node)
            return crashed

        def _live(self, node: Any) -> bool:
            return not node.shutting_down and str(node.gateway.id) not in lost

        def lost_test(self, node: Any, nodeid: str, engine: str, session: str) -> bool:
            """Whether a test lost with ``node``'s engine runs again elsewhere (its report
            then says so instead of failing): once per lab, while a worker of another
            engine is there to take it."""
            lab, worker = self._lab(nodeid)[0], str(node.gateway.id)
            waiting = retries.waiting.get(lab)
            if waiting is not None:
                if waiting.worker != worker:
                    return False
                if nodeid not in waiting.tests:
                    waiting.tests.append(nodeid)
                return True
            if lab in retries.moved:
                retries.refused[lab] = f"lost again, with {engine}: a lab runs again once"
                return False
            if not any(self._live(n) for n in self.nodes):
                others = [n for n in self.nodes if str(n.gateway.id) not in lost]
                retries.refused[lab] = (
                    "it was lost in the run's last tests, when the other workers had been "
                    "told to stop"
                    if others
                    else "no worker of another engine was left to take it"
                )
                return False
            retries.waiting[lab] = Moved([nodeid], engine, session, worker)
            return True

        def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
            super().mark_test_complete(node, item_index, duration)
            lab = self._lab(self.registered_collections[node][item_index])[0]
            waiting = retries.waiting.get(lab)
            if waiting is None or waiting.worker != str(node.gateway.id):
                return
            if not all(self.assigned_work[node][lab].values()):
                return  # more of its tests to come from the lost worker
            retries.moved[lab] = retries.waiting.pop(lab)
            live = [n for n in self.nodes if self._live(n)]
            if not live:
                return  # the run ends failed: Retries.left
            self.workqueue[lab] = dict.fromkeys(waiting.tests, False)
            self.workqueue.move_to_end(lab, last=False)
            for other in live:
                self._reschedule(other)

    return LabScheduling(config, log)


class Recorder:
    """One session's part (no xdist): its labs' durations, recorded at its end."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.durations = Durations()
        self.labs: dict[str, tuple[str, int]] = {}  # node id -> lab, hosts (at collection)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations.add(report)

    def pytest_sessionfinish(self) -> None:
        save_durations(self.config, self.settings, self.durations.by_lab(self.labs))


class Controller:
    """The xdist controller's part: a labs folder and an engine for each worker, the lab
    scheduler, and the durations the workers' reports add up to."""

    def __init__(self, config: pytest.Config, settings: Settings, pool: Pool | None) -> None:
        self.config = config
        self.settings = settings
        workers = int(getattr(config.option, "numprocesses", 0) or 0) or 1
        self.plan = pool.plan(settings, workers) if pool is not None else []  # by worker
        self.folder = Path(tempfile.mkdtemp(prefix="dockerlab-labs-"))
        self.durations = Durations()
        self.lost: set[str] = set()  # workers whose engine stopped answering
        dist = str(getattr(config.option, "dist", "load"))
        on = settings.retry_lost_labs and not no_retries(self.plan, workers, dist)
        self.retries = Retries(on)
        self.scheduler: Any = None
        self.rerun: set[tuple[str, str]] = set()  # (worker, node id) lost there, run again
        self.said: list[str] = []  # for the summary
        self.kept: dict[str, list[str]] = {}  # by worker: how to enter and remove its kept labs

    def close(self) -> None:
        for path in self.folder.glob("*"):
            path.unlink(missing_ok=True)
        self.folder.rmdir()

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[LABS_DIR] = str(self.folder)
        if self.plan:
            node.workerinput[ENGINE] = self._engine_of(str(node.gateway.id))

    def _engine_of(self, worker: str) -> str:
        """The pool's engine of xdist worker ``worker`` (gw0, gw1, ...)."""
        return self.plan[int(worker.removeprefix("gw") or 0) % len(self.plan)]

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") not in ("load", "loadgroup"):
            return None  # the user chose how to spread: loadfile, loadscope, each
        durations = load_durations(config, self.settings)
        self.scheduler = make_scheduler(
            config, log, self.folder, durations, self.lost, self.retries
        )
        return self.scheduler

    @pytest.hookimpl(tryfirst=True)  # before the terminal, JUnit XML and the failure count
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations.add(report)
        node = getattr(report, "node", None)
        if node is None:
            return
        worker = str(node.gateway.id)
        if (worker, report.nodeid) in self.rerun:  # its JUnit entry goes (rewrite_junit)
            report.user_properties.append((LOST_ON, report.nodeid))
        properties = dict(report.user_properties)
        for moved in self.retries.moved.values():  # it ran again (lost again, maybe)
            if report.nodeid in moved.tests and worker != moved.worker:
                self.retries.ran.add(report.nodeid)
                moved.to = moved.to or worker
        if ENGINE_LOST not in properties:
            return
        self.lost.add(worker)
        engine = str(properties[ENGINE_LOST])
        if self.plan:  # every worker on that engine: none of them gets another lab
            engine = self._engine_of(worker)  # as the pool names it, for --engines
            self.lost.update(f"gw{i}" for i, name in enumerate(self.plan) if name == engine)
        # Each is told now: an idle one holds its last test until told more, and would
        # keep the run waiting.
        for other in getattr(self.scheduler, "nodes", []):
            if str(other.gateway.id) in self.lost and not other.shutting_down:
                other.shutdown()
        if self.retries.on and report.failed and self.scheduler is not None:
            session = str(properties.get(SESSION_LOST) or "")
            if self.scheduler.lost_test(node, report.nodeid, engine, session):
                report.outcome = "rerun"  # type: ignore[assignment]
                self.rerun.add((worker, report.nodeid))
                report.user_properties.append((LOST_ON, report.nodeid))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        """After xdist's loop: each test lost that never ran again, or that never ran at all
        because no worker was left, is reported as an error (the terminal counts it, JUnit
        XML lists it, the run fails)."""
        try:
            return (yield)
        finally:
            self._report_left()

    def _report_left(self) -> None:
        lost = {t: m for m in self.retries.moved.values() for t in m.tests}
        for nodeid in self.retries.left():
            moved = lost.get(nodeid)
            why = (
                f"lost with engine {moved.engine} on {moved.worker}, and never ran again"
                if moved is not None
                else "never ran: every engine of the pool was lost"
            )
            path = nodeid.split("::")[0]
            report = pytest.TestReport(
                nodeid=nodeid, location=(path, None, nodeid), keywords={},
                outcome="failed", longrepr=f"dockerlab: {why} (see the summary)", when="setup",
            )  # fmt: skip
            self.config.hook.pytest_runtest_logreport(report=report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if report.outcome == "rerun":  # type: ignore[comparison-overlap]
            return "rerun", "R", ("RERUN", {"yellow": True})
        return None

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        # Once per worker: xdist says a worker that was interrupted went down twice.
        self.kept[str(node.gateway.id)] = getattr(node, "workeroutput", {}).get(KEPT, [])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.said:
            terminalreporter.write_line(f"dockerlab: {line}")
        kept = [line for lines in self.kept.values() for line in lines]
        if kept:
            terminalreporter.section("dockerlab")
            for line in kept:
                terminalreporter.write_line(line)
        lines = self.retries.lines()
        if lines:
            terminalreporter.section("dockerlab: labs lost with their engines")
            for line in lines:
                terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)  # after JUnit XML wrote its file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        measured = self.durations.by_lab(read_labs(self.folder))
        save_durations(self.config, self.settings, measured)
        empty = self.folder / EMPTY_SHARD
        if empty.exists() and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            self.said.append(empty.read_text(encoding="utf-8"))
            session.exitstatus = pytest.ExitCode.OK
        self.close()
        self.retries.reclaim()
        xml = self.config.stash.get(junit_key, None)  # its path as pytest resolved it
        if self.rerun and xml is not None:
            rewrite_junit(Path(xml.logfile))
        # Lost and never run again, or what a lost lab made may remain: not a clean run.
        if (self.retries.left() or self.retries.remaining()) and (
            session.exitstatus == pytest.ExitCode.OK
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def rewrite_junit(path: Path) -> None:
    """Drop the JUnit XML entries of tests lost with their engine: each test is listed once,
    with the outcome it had where it ran again, or the error that it never did (JUnit XML
    has no rerun; the lost run's entry would read as a pass)."""
    import xml.etree.ElementTree as ET

    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return
    for suite in tree.getroot().iter("testsuite"):
        for case in list(suite.findall("testcase")):
            if any(p.get("name") == LOST_ON for p in case.iter("property")):
                suite.remove(case)
    tree.write(path, encoding="utf-8", xml_declaration=True)
