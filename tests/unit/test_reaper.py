"""The reaper's decisions, with a fake engine, a fake owner check and a fake clock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pytest_dockerlab import labels as lbl
from pytest_dockerlab import reaper
from pytest_dockerlab.cleanup import reaper_log
from pytest_dockerlab.engine import Engine, Leftovers
from pytest_dockerlab.exceptions import EngineUnavailableError
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.reaper import GIVE_UP_SECONDS, POLL_SECONDS, Reaper, owner_check

from .fakes import FakeEngine

SID = "5e551000"


class Clock:
    """Time that passes only when the reaper sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def owner_gone_after(checks: int) -> Callable[[], bool]:
    answers = iter([False] * checks)
    return lambda: next(answers, True)


def make_reaper(
    tmp_path: Path, engine: Engine | None, clock: Clock, checks: int = 0, sid: str = SID
) -> Reaper:
    def connect() -> Engine:
        if engine is None:
            raise EngineUnavailableError("tcp://engine:2376", "Connection refused")
        return engine

    return Reaper(
        sid,
        tmp_path,
        owner_gone_after(checks),
        connect,
        sleep=clock.sleep,
        clock=clock,
    )


def labelled(sid: str, keep: bool = False) -> dict[str, str]:
    labels = SessionIdentity(sid, "main", 4242, "here").labels()
    if keep:
        labels[lbl.KEEP] = "true"
    return labels


def temp_of(tmp_path: Path, sid: str) -> list[Path]:
    folder = tmp_path / f"dockerlab-{sid}-x1y2z3"
    (folder / "run-abc").mkdir(parents=True)
    log = reaper_log(tmp_path, sid)
    log.write_text("owner 4242@here\n")
    return [folder, log]


def test_it_waits_for_the_owner_then_removes_the_session_and_its_folders_only(
    tmp_path: Path,
) -> None:
    engine = FakeEngine()
    engine.resources = {
        "web": labelled(SID),
        "db": labelled(SID),
        "other": labelled("0a0e0000"),
        "unlabelled": {"com.example": "x"},
    }
    mine, others = temp_of(tmp_path, SID), temp_of(tmp_path, "0a0e0000")
    clock = Clock()
    removed = make_reaper(tmp_path, engine, clock, checks=3).run()
    assert sorted(removed.containers) == ["db", "web"]
    assert set(engine.resources) == {"other", "unlabelled"}
    assert not any(p.exists() for p in mine)
    assert all(p.exists() for p in others)
    # Three polls while the owner lived, then one look after the removal and none after it.
    assert clock.sleeps == [POLL_SECONDS] * 3 + [reaper.SETTLE_SECONDS]


def test_a_kept_lab_is_never_reaped(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.resources = {"web": labelled(SID, keep=True), "net": labelled(SID, keep=True)}
    folders = temp_of(tmp_path, SID)
    removed = make_reaper(tmp_path, engine, Clock()).run()
    assert not removed
    assert engine.removed == []
    assert set(engine.resources) == {"web", "net"}
    # Its runner folder stays with it (--dockerlab-reuse converges again from there); the
    # reaper's log goes, its work being done.
    folder, log = folders
    assert folder.exists() and not log.exists()


def test_nothing_left_means_a_quick_exit(tmp_path: Path) -> None:
    engine = FakeEngine()
    clock = Clock()
    assert not make_reaper(tmp_path, engine, clock).run()
    assert clock.sleeps == []


class LateEngine(FakeEngine):
    """A container the owner asked for just before dying shows up after the first look."""

    landed = False

    def find(self, labels: Mapping[str, str]) -> Leftovers:
        if self.removed and not self.landed:
            self.landed = True
            self.resources["late"] = labelled(SID)
        return super().find(labels)


def test_a_container_that_lands_after_the_first_removal_goes_too(tmp_path: Path) -> None:
    engine = LateEngine()
    engine.resources = {"web": labelled(SID)}
    removed = make_reaper(tmp_path, engine, Clock()).run()
    assert removed.containers == ("web", "late")
    assert engine.resources == {}


class FlakyConnect:
    def __init__(self, engine: Engine, failures: int) -> None:
        self.engine = engine
        self.failures = failures

    def __call__(self) -> Engine:
        if self.failures:
            self.failures -= 1
            raise EngineUnavailableError("unix:///var/run/docker.sock", "Connection refused")
        return self.engine


def test_an_engine_that_answers_late_is_tried_again(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.resources = {"web": labelled(SID)}
    clock = Clock()
    connect = FlakyConnect(engine, failures=2)
    dead = Reaper(SID, tmp_path, lambda: True, connect, sleep=clock.sleep, clock=clock)
    assert dead.run().containers == ("web",)
    assert engine.resources == {}


def test_an_engine_that_never_answers_is_given_up_and_the_log_kept_for_the_sweep(
    tmp_path: Path,
) -> None:
    folder, log = temp_of(tmp_path, SID)
    clock = Clock()
    assert not make_reaper(tmp_path, None, clock).run()
    assert GIVE_UP_SECONDS <= clock.now <= GIVE_UP_SECONDS + reaper.SETTLE_SECONDS
    assert not folder.exists()
    assert log.read_text().startswith("owner 4242@here")


def test_the_owner_check_follows_the_parent_or_the_pid() -> None:
    assert owner_check(os.getppid())() is False  # our parent lives
    assert owner_check(os.getpid())() is False  # not our parent, but alive
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert owner_check(ended.pid)() is True


def test_a_malformed_session_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        reaper.main(["--session", "", "--owner", "1", "--tmpdir", "/tmp"])
    assert exc.value.code == 2
    assert "is not a session id" in capsys.readouterr().err


def test_the_session_starts_a_detached_watcher_and_stops_it_at_a_clean_end(
    tmp_path: Path,
) -> None:
    identity = SessionIdentity(SID, "main", os.getpid(), "here")
    started = time.perf_counter()
    process = reaper.start(identity, tmp_path)
    elapsed = time.perf_counter() - started
    assert process is not None
    try:
        assert elapsed < 0.1, f"starting the reaper took {elapsed * 1000:.0f} ms"
        # Its own session: neither the owner's Ctrl-C nor a kill of its process group reach it.
        assert os.getsid(process.pid) == process.pid != os.getsid(0)
        assert isinstance(process.args, list)
        assert process.args[:3] == [sys.executable, "-m", "pytest_dockerlab.reaper"]
        assert reaper_log(tmp_path, SID).read_text().startswith(f"owner {os.getpid()}@here\n")
        time.sleep(0.3)
        assert process.poll() is None, "the reaper must wait while its owner lives"
    finally:
        reaper.stop(process, identity, tmp_path)
    assert process.returncode == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
