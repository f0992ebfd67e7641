"""The reaper against a real engine: a SIGKILLed session's lab goes with no new pytest run.

Nothing here starts a second session: the engine is polled directly.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import leftovers, run, session_id

pytestmark = pytest.mark.integration

# The promise is about 15 s; the test allows 20 on a busy machine.
DEADLINE = 20.0

DIES = """
import os, pathlib, signal, tempfile, time, pytest

@pytest.mark.lab("web")
def test_dies(lab, request):
    # As a converge would have left it: a temporary folder of the session.
    tempfile.mkdtemp(prefix=f"dockerlab-{lab.session_id}-")
    pathlib.Path(request.config.rootpath, "killed-at").write_text(repr(time.time()))
    os.kill(os.getpid(), signal.SIGKILL)
"""


def reapers(session: str) -> list[int]:
    """Pids of reaper processes watching ``session`` (zombies have no command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pytest_dockerlab.reaper" in argv and session.encode() in argv:
            found.append(int(entry.name))
    return found


def temp_entries(session: str) -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(f"dockerlab-{session}-*"))


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def clean(session: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", "clean", "--session", session],
        capture_output=True,
        text=True,
    )


def test_a_killed_session_is_reaped_without_a_next_session(
    labdir: pytest.Pytester, docker_client: Any, record_property: Callable[[str, object], None]
) -> None:
    labdir.makepyfile(DIES)
    run(labdir)
    sid = session_id(labdir)
    killed_at = float((labdir.path / "killed-at").read_text())
    gone = wait_until(lambda: not leftovers(docker_client, sid), DEADLINE)
    elapsed = time.time() - killed_at
    record_property("sigkill_to_gone_seconds", round(elapsed, 2))
    print(f"session {sid}: SIGKILL to lab gone in {elapsed:.1f}s")
    assert gone, f"left after {elapsed:.1f}s: {leftovers(docker_client, sid)}"
    assert elapsed < DEADLINE
    # Its temporary folders go too, and the reaper ends once its work is done.
    assert wait_until(lambda: not temp_entries(sid), 5), temp_entries(sid)
    assert wait_until(lambda: not reapers(sid), 5), f"reaper still running: {reapers(sid)}"


@pytest.mark.parametrize("ending", ["clean", "sigkill"])
def test_a_kept_lab_outlives_its_session_and_the_reaper(
    labdir: pytest.Pytester, docker_client: Any, ending: str
) -> None:
    if ending == "clean":
        labdir.makepyfile("import pytest\n@pytest.mark.lab('web')\ndef test_x(lab): pass\n")
    else:
        labdir.makepyfile(DIES)
    run(labdir, "--dockerlab-keep")
    sid = session_id(labdir)
    try:
        kept = sorted(leftovers(docker_client, sid))
        assert kept == [f"dockerlab-{sid}-main-net", f"dockerlab-{sid}-main-web"]
        time.sleep(5)
        assert sorted(leftovers(docker_client, sid)) == kept
        assert reapers(sid) == []
        listing = subprocess.run(
            [sys.executable, "-m", "pytest_dockerlab", "list"],
            capture_output=True,
            text=True,
            check=True,
        )
        mine = [line.split() for line in listing.stdout.splitlines() if line.startswith(sid)]
        assert len(mine) == 1, listing.stdout
        assert mine[0][2:4] == ["dead", "yes"], listing.stdout
        assert mine[0][-1] == "web", listing.stdout
    finally:
        cleaned = clean(sid)
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.strip() == f"removed session {sid}: 1 container, 1 network, 0 volumes"
    assert leftovers(docker_client, sid) == []


def test_when_the_reaper_dies_too_the_next_session_sweeps(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    # As after a reboot: the watcher is gone with its owner, and only a next session can help.
    labdir.makepyfile(
        """
        import os, pathlib, signal, tempfile, pytest

        @pytest.mark.lab("web")
        def test_dies_with_its_reaper(lab):
            tempfile.mkdtemp(prefix=f"dockerlab-{lab.session_id}-")
            for entry in pathlib.Path("/proc").iterdir():
                try:
                    argv = (entry / "cmdline").read_bytes().split(b"\\0")
                except OSError:
                    continue
                if b"pytest_dockerlab.reaper" in argv and lab.session_id.encode() in argv:
                    os.kill(int(entry.name), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    run(labdir)
    dead = session_id(labdir)
    assert leftovers(docker_client, dead), "with its reaper dead, the lab should be left"
    left = {p.name for p in temp_entries(dead)}
    assert len(left) == 2 and f"dockerlab-{dead}-reaper.log" in left, left
    labdir.makepyfile("import pytest\n@pytest.mark.lab('web')\ndef test_ok(lab): pass\n")
    result = run(labdir)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"dockerlab: removing leftovers of dead session {dead} (pid *)*",
            f"dockerlab: removing temporary folders of dead session {dead}: 2",
        ]
    )
    assert leftovers(docker_client, dead) == []
    assert temp_entries(dead) == []


def test_a_clean_session_end_leaves_no_reaper_behind(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makepyfile(
        """
        import pathlib, pytest

        @pytest.mark.lab("web")
        def test_watched(lab, request):
            watchers = []
            for entry in pathlib.Path("/proc").iterdir():
                try:
                    argv = (entry / "cmdline").read_bytes().split(b"\\0")
                except OSError:
                    continue
                if b"pytest_dockerlab.reaper" in argv and lab.session_id.encode() in argv:
                    watchers.append(entry.name)
            assert len(watchers) == 1, watchers
        """
    )
    run(labdir).assert_outcomes(passed=1)
    sid = session_id(labdir)
    time.sleep(2)
    assert reapers(sid) == []
    assert temp_entries(sid) == []
    assert leftovers(docker_client, sid) == []
