"""Accelerated converges (``ansible: {accelerate: mitogen}``, ``--dockerlab-accelerate``).

Ansible runs each task over the docker connection as a ``docker exec`` that uploads the
module and starts a Python interpreter in the host. Mitogen (PyPI ``mitogen``, the extra
``pytest-dockerlab[mitogen]``) keeps one interpreter per host for the whole run and sends
it the modules: its strategy plugins (``mitogen_linear``) swap the ``docker`` connection for
its own. What it changes is how tasks reach the hosts, not what they do: the same plays,
facts, results and idempotence pass.

When it cannot apply, the converge runs the ordinary way and one line says why: Mitogen is
not installed, the ansible-core release is newer than any this was measured with (Mitogen
patches Ansible's internals, which move between releases), or the engine is Podman (its
connection is Podman's, which Mitogen wraps under another name). ansible-core 2.19 also
deprecates strategy plugins from outside ``ansible.builtin``: the line says so, once,
instead of a warning on every test.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The ansible-core releases Mitogen converges were measured with here (older than 2.10 it
# refuses itself).
ANSIBLE_TESTED = ((2, 10), (2, 19))
# ansible-core's deprecation of third-party strategy plugins: said once in the line.
STRATEGY_DEPRECATION = "strategy plugins not included in ansible.builtin are deprecated"


@dataclass(frozen=True)
class Acceleration:
    """How a converge is accelerated: the strategy and where its plugins are."""

    strategy: str  # mitogen_linear, or mitogen_free for a run whose strategy is free
    plugins: Path  # ANSIBLE_STRATEGY_PLUGINS
    connection: str = "docker"  # the name Mitogen's strategy swaps for its own

    def envvars(self, given: Mapping[str, str]) -> dict[str, str]:
        """Ansible's environment for a run, over ``given`` (this process's environment and
        the lab file's ``env`` over it): the user's own strategy plugins stay found; their
        strategy takes Mitogen's of the same name (linear, free, host_pinned), another of
        theirs is left alone."""
        plugins = [str(self.plugins), *filter(None, [given.get("ANSIBLE_STRATEGY_PLUGINS")])]
        strategy = given.get("ANSIBLE_STRATEGY", "linear").removeprefix("ansible.builtin.")
        mitogen = strategy in ("linear", "free", "host_pinned")
        return {
            "ANSIBLE_STRATEGY_PLUGINS": ":".join(plugins),
            "ANSIBLE_STRATEGY": f"mitogen_{strategy}" if mitogen else strategy,
        }


def choose(wanted: str, engine: str) -> tuple[Acceleration | None, str]:
    """The acceleration ``wanted`` ("mitogen" or "none") on an engine named ``engine``
    ("docker" or "podman"), and the line that says what converges run with ("" for none)."""
    if wanted != "mitogen":
        return None, ""
    why = _why_not(engine)
    if why:
        return None, f"accelerate: mitogen: {why}; converges run the ordinary way"
    spec = importlib.util.find_spec("ansible_mitogen")
    assert spec is not None and spec.origin is not None  # _why_not looked
    plugins = Path(spec.origin).parent / "plugins" / "strategy"
    version = importlib.metadata.version("mitogen")
    said = (
        f"accelerate: mitogen {version}: converges run with Mitogen's strategy and docker "
        "connection, one Python per host instead of a docker exec per task (ansible-core "
        "deprecates third-party strategies; none is planned to replace them)"
    )
    return Acceleration("mitogen_linear", plugins), said


def _why_not(engine: str) -> str:
    if importlib.util.find_spec("ansible_mitogen") is None:
        return "Mitogen is not installed (pip install 'pytest-dockerlab[mitogen]')"
    found = _ansible_core()
    low, high = ANSIBLE_TESTED
    if found is not None and not low <= found[:2] <= high:
        version = ".".join(map(str, found))
        tested = f"{low[0]}.{low[1]} to {high[0]}.{high[1]}"
        return f"ansible-core {version} is not one it was measured with ({tested})"
    if engine == "podman":
        return "the engine is Podman, whose connection Mitogen does not take for docker's"
    return ""


def _ansible_core() -> tuple[int, ...] | None:
    try:
        text = importlib.metadata.version("ansible-core")
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
