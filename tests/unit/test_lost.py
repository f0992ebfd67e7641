"""A lab is lost only with an engine that does not answer: a call that timed out on a busy
engine stays that call's failure."""

from __future__ import annotations

from pathlib import Path

from pytest_dockerlab.exceptions import EngineLostError, LabLostError
from pytest_dockerlab.images import catalogue
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.session import LabSession
from pytest_dockerlab.settings import Settings
from pytest_dockerlab.spec import load_lab_file

from .fakes import FakeEngine


def session(tmp_path: Path, engine: FakeEngine) -> LabSession:
    (tmp_path / "dockerlab.yml").write_text("hosts:\n  web: {}\n  db: {}\n")
    spec = load_lab_file(tmp_path / "dockerlab.yml")
    identity = SessionIdentity.create()
    said: list[str] = []
    return LabSession(spec, engine, catalogue(), identity, Settings(), (), said.append)


SLOW = EngineLostError("inspect", "dockerlab-x-main-web", "nothing for 30 s")


def test_an_engine_that_still_answers_loses_nothing(tmp_path: Path) -> None:
    current = session(tmp_path, FakeEngine())
    assert current.lose(SLOW) is None
    assert current.lost is None and current.setup_failures == {}


def test_an_engine_that_does_not_answer_loses_every_host_once(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.alive = False
    current = session(tmp_path, engine)
    lost = current.lose(SLOW)
    assert isinstance(lost, LabLostError)
    assert current.lose(SLOW) is lost  # one story, however many calls fail after
    assert current.setup_failures == {"web": lost, "db": lost}
    assert str(lost) == (
        "lab lost: the engine at fake:// stopped answering (nothing for 30 s, on inspect "
        "dockerlab-x-main-web); hosts web, db went with it. What session "
        f"{current.lab.identity.session_id} made may remain there: once the engine answers, "
        f"'dockerlab clean --session {current.lab.identity.session_id}' removes it."
    )
