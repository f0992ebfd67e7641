"""Sweeping dead sessions and their temporary folders; what ``list`` shows of each lab.

Session ids are 8 hex digits, as the temporary folders' names need: here they spell their
part where they can (0e: me, dead, cee: kept, a11e: alive, fa5: far, 0dd, 11fe, 01d, 0e5: new).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.cleanup import (
    ALIVE,
    DEAD,
    UNCLAIMED_TEMP_AGE,
    UNKNOWN,
    LabSummary,
    kept_lab,
    owner_state,
    reaper_log,
    summarize,
    sweep_stale,
    sweep_temp,
)
from pytest_dockerlab.cli.labs import lab_table
from pytest_dockerlab.docker_engine import DockerEngine
from pytest_dockerlab.engine import Resource
from pytest_dockerlab.exceptions import DockerlabError, NoKeptLabError
from pytest_dockerlab.labels import SessionIdentity

from .fakes import FakeEngine


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def owned(
    sid: str, pid: int, machine: str = "here", keep: bool = False, **extra: str
) -> dict[str, str]:
    labels = SessionIdentity(sid, "main", pid, machine).labels(**extra)
    if keep:
        labels[lbl.KEEP] = "true"
    return labels


def test_sweep_removes_only_dead_local_sessions_that_were_not_kept(tmp_path: Path) -> None:
    me = SessionIdentity(session_id="0e000000", owner_pid=os.getpid(), owner_host="here")
    dead = _dead_pid()
    engine = FakeEngine()
    engine.resources = {
        "c-mine": owned("0e000000", os.getpid()),
        "c-dead": owned("dead0000", dead),
        "c-alive": owned("a11e0000", os.getppid()),
        "c-other-machine": owned("fa500000", dead, machine="elsewhere"),
        "c-kept": owned("cee00000", dead, keep=True),
    }
    messages: list[str] = []
    removed = sweep_stale(engine, me, messages.append, tmp_path)
    assert removed.containers == ("c-dead",)
    assert set(engine.resources) == {"c-mine", "c-alive", "c-other-machine", "c-kept"}
    assert messages == [
        f"removing leftovers of dead session dead0000 (pid {dead}): "
        "1 container, 0 networks, 0 volumes"
    ]


def test_sweep_removes_temporary_folders_of_dead_sessions_only(tmp_path: Path) -> None:
    me = SessionIdentity(session_id="0e000000", owner_pid=os.getpid(), owner_host="here")
    dead, alive = _dead_pid(), os.getppid()
    now = time.time()
    old = now - UNCLAIMED_TEMP_AGE - 60

    def folder(name: str, mtime: float = now) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "facts").mkdir()
        os.utime(path, (mtime, mtime))
        return path

    def reaper_log_of(sid: str, pid: int, host: str = "here", mtime: float = now) -> Path:
        path = reaper_log(tmp_path, sid)
        path.write_text(f"owner {pid}@{host}\n2024-01-01 reaper 1: owner of session gone\n")
        os.utime(path, (mtime, mtime))
        return path

    sessions = {
        "dead0000": owned("dead0000", dead),
        "cee00000": owned("cee00000", dead, keep=True),
        "a11e0000": owned("a11e0000", alive),
        "fa500000": owned("fa500000", dead, machine="elsewhere"),
    }
    gone = [
        folder("dockerlab-dead0000-abc123"),  # its owner, from the engine's labels, is dead
        folder("dockerlab-0dd10000-abc123"),  # on no engine, but its reaper's log: owner dead
        reaper_log_of("0dd10000", dead),
        folder("dockerlab-01d00000-abc123", old),  # nobody claims it, untouched for long
    ]
    stays = [
        folder("dockerlab-0e000000-abc123", old),  # mine
        folder("dockerlab-cee00000-abc123"),  # a kept lab's runner folder: a reuse needs it
        folder("dockerlab-a11e0000-abc123", old),  # a live session on this engine
        folder("dockerlab-fa500000-abc123", old),  # another machine's session: can't tell
        # A live session on another engine: its reaper's log says the owner lives.
        folder("dockerlab-11fe0000-abc123", old),
        reaper_log_of("11fe0000", alive, mtime=old),
        folder("dockerlab-0e500000-abc123"),  # nobody claims it, but it is recent
        folder("dockerlab-notanid0-abc123", old),  # not our naming
        folder("unrelated", old),
    ]
    messages: list[str] = []
    removed = sweep_temp(tmp_path, sessions, me, messages.append, now)
    assert sorted(removed) == sorted(gone)
    assert sorted(tmp_path.iterdir()) == sorted(stays)
    assert "removing temporary folders of dead session 0dd10000: 2" in messages


@pytest.mark.parametrize(
    ("labels", "alive", "state"),
    [
        ({lbl.OWNER_PID: "42", lbl.OWNER_HOST: "here"}, True, ALIVE),
        ({lbl.OWNER_PID: "42", lbl.OWNER_HOST: "here"}, False, DEAD),
        ({lbl.OWNER_PID: "42", lbl.OWNER_HOST: "there"}, False, UNKNOWN),
        ({lbl.OWNER_PID: "0", lbl.OWNER_HOST: "here"}, False, UNKNOWN),
        ({lbl.OWNER_PID: "x", lbl.OWNER_HOST: "here"}, False, UNKNOWN),
        ({lbl.OWNER_HOST: "here"}, False, UNKNOWN),
    ],
)
def test_owner_state(labels: dict[str, str], alive: bool, state: str) -> None:
    assert owner_state(labels, "here", lambda pid: alive) == state


def test_summarize_groups_resources_by_session_oldest_first() -> None:
    def resource(kind: str, sid: str, pid: int, created: float, **extra: str) -> Resource:
        labels = owned(sid, pid, "here", False, **extra)
        return Resource(kind, f"{kind}-{sid}-{extra}", "n", labels, created)

    kept = owned("cee00000", 7, keep=True, host="db")
    resources = [
        resource("container", "aaaa0000", 11, 2000.0, host="web"),
        resource("container", "aaaa0000", 11, 1990.0, host="db"),
        resource("network", "aaaa0000", 11, 0.0),
        Resource("container", "k", "n", kept, 1500.0),
        resource("container", "fa500000", 12, 1800.0, host="web", variant="debian13"),
        resource("container", "fa500000", 12, 1800.0, host="web", variant="debian11"),
        resource("network", "bbbb0000", 13, 0.0),
        Resource("volume", "v", "v", {"other": "label"}, 1.0),
    ]
    labs = summarize(resources, "here", alive=lambda pid: pid == 11)
    web, both = {"web": "n"}, {"web": "n", "db": "n"}
    web_images, both_images = {"web": ""}, {"web": "", "db": ""}
    assert labs == [
        LabSummary("cee00000", "7@here", DEAD, True, ("db",), (), 1500.0,
                   containers={"db": "n"}, images={"db": ""}),
        LabSummary(
            "fa500000", "12@here", DEAD, False, ("web",), ("debian11", "debian13"), 1800.0,
            containers=web, images=web_images,
        ),
        LabSummary("aaaa0000", "11@here", ALIVE, False, ("db", "web"), (), 1990.0,
                   containers=both, images=both_images),
        LabSummary("bbbb0000", "13@here", DEAD, False, (), (), 0.0),
    ]  # fmt: skip


def kept(sid: str, created: float, lab_file: str = "/p/dockerlab.yml", **kw: object) -> LabSummary:
    options: dict[str, Any] = {"state": DEAD, "kept": True, "hosts": ("db", "web"), "variants": (),
                     "containers": {"web": f"c-{sid}-web", "db": f"c-{sid}-db"}, **kw}  # fmt: skip
    return LabSummary(sid, "1@here", created=created, lab_file=lab_file, **options)


LABS = [
    kept("0ld00000", 100.0),
    kept("11e00000", 300.0),
    kept("0e500000", 200.0, lab_file="/other/dockerlab.yml"),
    kept("a11e0000", 400.0, state=ALIVE),
    kept("0a000000", 500.0, kept=False),
    kept("db000000", 50.0, containers={"db": "c-db"}),
]


@pytest.mark.parametrize(
    ("kwargs", "chosen"),
    [
        ({"lab_file": Path("/p/dockerlab.yml")}, "11e00000"),  # the newest kept, not in use
        ({"lab_file": Path("/other/dockerlab.yml")}, "0e500000"),
        ({"session_id": "0ld00000"}, "0ld00000"),
        ({"host": "web"}, "11e00000"),
        ({"host": "db", "lab_file": Path("/other/dockerlab.yml")}, "0e500000"),
    ],
)
def test_kept_lab_is_the_one_named_or_the_newest_of_the_lab_file(
    kwargs: dict[str, Any], chosen: str
) -> None:
    assert kept_lab(LABS, **kwargs).session_id == chosen


def test_a_kept_lab_in_use_is_refused_as_in_use() -> None:
    with pytest.raises(DockerlabError, match=r"kept lab a11e0000 is in use by a running session "
                       r"\(1@here\); wait for it to end"):  # fmt: skip
        kept_lab(LABS, session_id="a11e0000")


def test_the_only_kept_lab_of_a_file_in_use_is_named_as_in_use_not_missing() -> None:
    """Without --session: "no kept lab" would send the user looking for one that is there."""
    labs = [kept("a11e0000", 400.0, state=ALIVE, lab_file="/busy/dockerlab.yml")]
    message = (
        r"^the kept lab of /busy/dockerlab.yml \(a11e0000\) is in use by a running session "
        r"\(1@here\); wait for it to end$"
    )
    with pytest.raises(DockerlabError, match=message):
        kept_lab(labs, lab_file=Path("/busy/dockerlab.yml"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"session_id": "0a000000"}, "the lab of session 0a000000 was not kept"),
        ({"session_id": "ffff0000"}, "no lab of session ffff0000 on the engine"),
        ({"lab_file": Path("/none/dockerlab.yml")}, "no kept lab of /none/dockerlab.yml"),
        ({"session_id": "db000000", "host": "web"}, "kept lab db000000 has no host 'web'"),
    ],
)
def test_no_kept_lab_says_why_and_lists_the_kept_ones(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NoKeptLabError, match=message) as caught:
        kept_lab(LABS, **kwargs)
    assert "kept labs: 0ld00000, 11e00000, 0e500000, db000000" in str(caught.value)


def test_list_shows_owner_state_kept_hosts_and_age() -> None:
    labs = [
        LabSummary("cee00000", "7@ci-runner-1", DEAD, True, ("db",), (), 1000.0),
        LabSummary("fa500000", "12@laptop", UNKNOWN, False, ("web",), ("debian11", "debian13"), 0),
        LabSummary("aaaa0000", "11@ci-runner-1", ALIVE, False, ("db", "web"), (), 4570.0),
        LabSummary("bbbb0000", "13@ci-runner-1", DEAD, False, (), (), 4600.0),
    ]
    assert lab_table(labs, now=4600.0) == [
        "SESSION   OWNER           STATE    KEPT    AGE  HOSTS",
        "cee00000  7@ci-runner-1   dead     yes      1h  db",
        "fa500000  12@laptop       unknown  no        ?  web (on debian11, debian13)",
        "aaaa0000  11@ci-runner-1  alive    no      30s  db, web",
        "bbbb0000  13@ci-runner-1  dead     no       0s  -",
    ]


def test_the_docker_engine_lists_labelled_resources_with_their_age() -> None:
    labels = {lbl.SESSION: "aaaa0000"}
    api = SimpleNamespace(
        containers=lambda **kw: [
            {
                "Id": "c1" * 32,
                "Names": ["/dockerlab-aaaa0000-main-web"],
                "Labels": labels,
                "Created": 1700000000,
            }
        ],
        networks=lambda **kw: [
            {
                "Id": "n1" * 32,
                "Name": "dockerlab-aaaa0000-main-net",
                "Labels": labels,
                "Created": "2023-11-14T22:13:20.5123456Z",
            }
        ],
        volumes=lambda **kw: {
            "Volumes": [
                {"Name": "v1", "Labels": labels, "CreatedAt": "2023-11-14T23:13:20+01:00"},
                {"Name": "v2", "Labels": None, "CreatedAt": "yesterday"},
            ]
        },
    )
    engine = DockerEngine(client=SimpleNamespace(api=api))
    found = engine.labelled(labels)
    assert [(r.kind, r.name, r.created) for r in found] == [
        ("container", "dockerlab-aaaa0000-main-web", 1700000000.0),
        ("network", "dockerlab-aaaa0000-main-net", pytest.approx(1700000000.5123456)),
        ("volume", "v1", 1700000000.0),
        ("volume", "v2", 0.0),
    ]


S_DEAD, S_LIVE, S_KEPT, S_KEPT_LIVE = "dead0000", "aaaa0000", "bbbb0000", "cccc0000"


@pytest.mark.parametrize(
    ("args", "removed", "left"),
    [
        # A session named by id is removed only when its process is gone...
        (["--session", S_DEAD, "--session", S_LIVE], {S_DEAD}, {S_LIVE}),
        # ...unless --force; --all takes dead sessions and kept labs no live process uses.
        (["--session", S_LIVE, "--force"], {S_LIVE}, set()),
        (["--all"], {S_DEAD, S_KEPT}, {S_LIVE, S_KEPT_LIVE}),
        (["--all", "--force"], {S_DEAD, S_KEPT, S_LIVE, S_KEPT_LIVE}, set()),
    ],
)
def test_clean_never_takes_a_lab_from_a_running_session_without_force(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    removed: set[str],
    left: set[str],
) -> None:
    import socket

    from pytest_dockerlab import cli

    engine = FakeEngine()
    dead, here = _dead_pid(), socket.gethostname()
    engine.resources = {
        S_DEAD: owned(S_DEAD, dead, here),
        S_LIVE: owned(S_LIVE, os.getpid(), here),
        S_KEPT: owned(S_KEPT, dead, here, keep=True),
        S_KEPT_LIVE: owned(S_KEPT_LIVE, os.getpid(), here, keep=True),
    }
    monkeypatch.setattr("pytest_dockerlab.docker_engine.DockerEngine", lambda *a, **kw: engine)
    assert cli.main(["clean", *args]) == 0
    assert set(engine.resources) == {S_DEAD, S_LIVE, S_KEPT, S_KEPT_LIVE} - removed
    out = capsys.readouterr().out
    for sid in removed:
        assert f"removed session {sid}" in out
    for sid in left:
        assert f"left session {sid} (still running; --force removes it)" in out


def test_clean_of_a_running_session_alone_says_so_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not also "no resource carries session ...": it does, and the line before said why."""
    import socket

    from pytest_dockerlab import cli

    engine = FakeEngine()
    engine.resources = {S_LIVE: owned(S_LIVE, os.getpid(), socket.gethostname())}
    monkeypatch.setattr("pytest_dockerlab.docker_engine.DockerEngine", lambda *a, **kw: engine)
    assert cli.main(["clean", "--session", S_LIVE]) == 1
    out, err = capsys.readouterr()
    assert out == f"left session {S_LIVE} (still running; --force removes it)\n"
    assert err == ""
    assert set(engine.resources) == {S_LIVE}
