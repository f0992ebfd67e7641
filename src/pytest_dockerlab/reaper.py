"""The reaper: removes a session's lab soon after its pytest process dies without cleaning up.

A session's teardown, its SIGTERM handler and its atexit hook cover every way out but a kill
no handler sees: SIGKILL (the OOM killer, ``kill -9``, a CI job's hard timeout), or the SIGHUP
of a closed terminal. The next session on the machine sweeps what that left
(:func:`~.cleanup.sweep_stale`), but on a CI machine that is kept, or a laptop, no next
session may come for days. So each session starts a watcher,
``python -m pytest_dockerlab.reaper``: a small process in a session of its own, so neither
the owner's SIGKILL nor a Ctrl-C in its terminal nor a kill of its process group reaches it,
with its output in a log file, so it holds no pipe of the test run open. It checks twice a
second that its parent, the session's process, is still there; once it is gone, it removes
every container, network and volume labelled with the session id (nothing, if the lab was
kept: ``pytest-dockerlab.keep=true``) and the session's temporary folders, then exits. A
session that ends cleanly stops it at the end of the session fixture, after the lab's own
removal. It imports nothing heavy until it has work to do.

What it sees, and what not: it talks to the engine the session used (``DOCKER_HOST`` and the
TLS settings pass through the environment), so a lab on a remote engine
(``DOCKER_HOST=tcp://...``) is reaped like a local one, as long as this machine lives. When
the machine itself goes (a reboot, a runner VM or the container the tests ran in destroyed),
the watcher goes with it: the lab is then left to the next session on this machine (the
owner labels name the machine by host name), or to
``python -m pytest_dockerlab clean`` (``list`` shows such a lab's owner as ``dead`` here, or
``unknown`` from another machine).

Why a process and not a reaper container like testcontainers' Ryuk: a container that removes
others must reach the engine's API, which means mounting the engine's socket into it, and that
hands root on the engine's machine to whatever runs there; it also needs an image of its own,
from a registry that may not answer (the plugin builds its images offline) or built at every
first run. Ryuk ties the lab's life to a TCP connection from the test process to a port the
container publishes, which a remote engine's firewall may refuse. A local process needs none
of this: it already has the user's own access to the engine. What a reaper container would do
better, outlive the test machine when the engine is remote, the next session's sweep and
``clean`` cover.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import labels as lbl
from .cleanup import combined, owner_line, pid_alive, reaper_log, remove_temp, temp_entries
from .engine import Leftovers
from .exceptions import DockerlabError

if TYPE_CHECKING:
    from .engine import Engine
    from .labels import SessionIdentity

log = logging.getLogger(__name__)

# How often the owner is checked: a SIGKILLed session's lab is gone within about this, plus
# the reaper's imports and the engine's removal (a second or two).
POLL_SECONDS = 0.5
# After a removal, the engine is asked again after this long: a container the owner asked for
# just before it died may land after the first look.
SETTLE_SECONDS = 1.0
# An engine that does not answer is tried for this long; then the next session's sweep does it.
GIVE_UP_SECONDS = 60.0
# A clean session end waits at most this long for the reaper to exit on SIGTERM.
_STOP_SECONDS = 5.0


class Reaper:
    """What the watcher decides; the owner check, the engine and the clock are handed in."""

    def __init__(
        self,
        session_id: str,
        tmpdir: Path,
        owner_gone: Callable[[], bool],
        connect: Callable[[], Engine],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self.tmpdir = tmpdir
        self.owner_gone = owner_gone
        self.connect = connect
        self.sleep = sleep
        self.clock = clock
        self.kept = False  # the lab was kept on purpose: it and its runner folder stay

    def run(self) -> Leftovers:
        """Wait for the owner to go, then remove what it left; return what was removed."""
        while not self.owner_gone():
            self.sleep(POLL_SECONDS)
        log.info("owner of session %s is gone", self.session_id)
        return self.reap()

    def reap(self) -> Leftovers:
        """Remove the session's resources (unless kept) and its temporary folders."""
        removed, done = self._remove_lab()
        log_file = reaper_log(self.tmpdir, self.session_id)
        entries = temp_entries(self.tmpdir, self.session_id).get(self.session_id, [])
        if not self.kept:  # a kept lab's runner folder stays with it, for --dockerlab-reuse
            remove_temp(p for p in entries if p != log_file)
        if done:
            # Otherwise the log stays: it says why, and names the dead owner for the sweep.
            remove_temp([log_file])
        return removed

    def removable(self, engine: Engine) -> Leftovers:
        """Everything labelled with the session, or nothing if the lab was kept on purpose."""
        if engine.find({lbl.SESSION: self.session_id, lbl.KEEP: "true"}):
            log.info("session %s was kept: leaving its lab", self.session_id)
            self.kept = True
            return Leftovers()
        return engine.find({lbl.SESSION: self.session_id})

    def _remove_lab(self) -> tuple[Leftovers, bool]:
        """Remove until the engine shows nothing removable; False if it would not answer."""
        removed = Leftovers()
        engine: Engine | None = None
        deadline = self.clock() + GIVE_UP_SECONDS
        try:
            while True:
                try:
                    if engine is None:
                        engine = self.connect()
                    found = self.removable(engine)
                    if not found:
                        return removed, True
                    log.info("removing session %s: %s", self.session_id, found.describe())
                    engine.remove(found)
                    removed = combined(removed, found)
                except DockerlabError as exc:
                    log.warning("session %s: %s", self.session_id, exc)
                if self.clock() >= deadline:
                    log.warning(
                        "session %s: gave up after %.0fs; the next session sweeps it",
                        self.session_id,
                        GIVE_UP_SECONDS,
                    )
                    return removed, False
                self.sleep(SETTLE_SECONDS)
        finally:
            if engine is not None:
                engine.close()


def owner_check(owner_pid: int) -> Callable[[], bool]:
    """A test of whether ``owner_pid`` is gone, the cheapest sure one there is."""
    if os.getppid() == owner_pid:
        # The owner started us: when it dies we are handed to another parent, whatever
        # process reuses its pid later.
        return lambda: os.getppid() != owner_pid
    return lambda: not pid_alive(owner_pid)


@contextlib.contextmanager
def watching(identity: SessionIdentity) -> Iterator[None]:
    """Keep a reaper watching this process while the block lasts; a clean exit stops it."""
    tmpdir = Path(tempfile.gettempdir())
    process = start(identity, tmpdir)
    try:
        yield
    finally:
        stop(process, identity, tmpdir)


def start(identity: SessionIdentity, tmpdir: Path) -> subprocess.Popen[bytes] | None:
    """Start the reaper of ``identity``'s session (None, with a warning, when it cannot start)."""
    log_file = reaper_log(tmpdir, identity.session_id)
    argv = [
        sys.executable,
        "-m",
        "pytest_dockerlab.reaper",
        "--session",
        identity.session_id,
        "--owner",
        str(identity.owner_pid),
        "--tmpdir",
        str(tmpdir),
    ]
    try:
        with open(log_file, "a", encoding="utf-8") as out:
            out.write(owner_line(identity))
            out.flush()
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
    except OSError as exc:
        log.warning(
            "dockerlab: no reaper for session %s (%s): if it is killed, the next session sweeps",
            identity.session_id,
            exc,
        )
        return None


def stop(process: subprocess.Popen[bytes] | None, identity: SessionIdentity, tmpdir: Path) -> None:
    """Stop the reaper of a session that ended cleanly, and remove its log."""
    log_file = reaper_log(tmpdir, identity.session_id)
    if process is not None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elif process.returncode:
            # It ended on its own while the session lived: it could not start.
            with contextlib.suppress(OSError):
                tail = log_file.read_text(errors="replace").strip().splitlines()[-5:]
                log.warning(
                    "dockerlab: the reaper of session %s ended early (rc %s): %s",
                    identity.session_id,
                    process.returncode,
                    " / ".join(tail),
                )
    remove_temp([log_file])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_dockerlab.reaper",
        description="Wait for a session's process to go, then remove its lab unless kept "
        "(started by each session; not meant to be run by hand).",
    )
    parser.add_argument(
        "--session", required=True, type=lbl.session_id_argument, help="the session id"
    )
    parser.add_argument("--owner", required=True, type=int, help="the session's process id")
    parser.add_argument(
        "--tmpdir", required=True, type=Path, help="where the session's temporary folders are"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s reaper %(process)d: %(message)s", stream=sys.stderr
    )

    def connect() -> Engine:
        from .docker_engine import DockerEngine

        return DockerEngine()

    Reaper(args.session, args.tmpdir, owner_check(args.owner), connect).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
