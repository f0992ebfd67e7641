"""SIGINT and SIGTERM while the plugin works: one way to take them over, and to give them back.

Three places need them: a session turns SIGTERM into Ctrl-C so fixture teardown runs; an
Ansible run turns both into a cancel of that run; a lab's removal defers both until it is
done. Each takes the signals for a block and restores what was there before, whatever it
was (a handler installed from C reads as None and is left alone).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

Handler = Callable[[int, FrameType | None], None]
BOTH = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def handling(
    signals: tuple[signal.Signals, ...], handler: Handler, *, only_default: bool = False
) -> Iterator[bool]:
    """Install ``handler`` for ``signals`` during the block; yields whether it could.

    Off the main thread nothing is installed (Python allows handlers only there). With
    ``only_default``, a signal that already has a handler of someone else's keeps it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {}
    for sig in signals:
        if only_default and signal.getsignal(sig) is not signal.SIG_DFL:
            continue
        previous[sig] = signal.signal(sig, handler)
    try:
        yield True
    finally:
        for sig, handler_before in previous.items():
            if handler_before is not None:
                signal.signal(sig, handler_before)


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI job cancelled, ``timeout``) unwinds like Ctrl-C, so teardown runs."""
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def deferred(on_signal: Callable[[], None]) -> Iterator[None]:
    """Let the block finish; a signal that came meanwhile is raised as Ctrl-C after it."""
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        on_signal()

    with handling(BOTH, note):
        yield
    if received:
        raise KeyboardInterrupt(f"signal {received[0]}")


@contextlib.contextmanager
def noted() -> Iterator[list[int]]:
    """Record SIGINT and SIGTERM instead of acting on them: the list says which came."""
    received: list[int] = []
    with handling(BOTH, lambda signum, frame: received.append(signum)):
        yield received
