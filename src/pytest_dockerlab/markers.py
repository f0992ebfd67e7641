"""Reading ``@pytest.mark.lab(...)``: which lab hosts a test needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .exceptions import MarkerError, UnknownHostError

MARKER = "lab"
MARKER_HELP = (
    'lab(hosts): the lab hosts this test needs, as "web,db", ["web", "db"] or hosts=...; '
    "only the hosts that selected tests name are started"
)


def parse_lab_marker(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """Turn a marker's arguments into host names, in the order written, without repeats."""
    unexpected = sorted(set(kwargs) - {"hosts"})
    if unexpected:
        raise MarkerError(f"lab marker: unexpected keyword {', '.join(unexpected)} (use hosts=)")
    if args and "hosts" in kwargs:
        raise MarkerError("lab marker: give the hosts positionally or as hosts=, not both")
    spec: Any = kwargs["hosts"] if "hosts" in kwargs else list(args)
    names = list(_split(spec))
    if not names:
        raise MarkerError("lab marker: names no host; write @pytest.mark.lab('web,db')")
    return tuple(dict.fromkeys(names))


def _split(spec: Any) -> Iterable[str]:
    if isinstance(spec, str):
        yield from (part.strip() for part in spec.split(",") if part.strip())
    elif isinstance(spec, (list, tuple, set, frozenset)):
        for item in spec:
            yield from _split(item)
    else:
        raise MarkerError(f"lab marker: {spec!r} is not a host name or a list of host names")


def check_known(names: Iterable[str], known: Sequence[str], where: str) -> None:
    """Raise :class:`UnknownHostError` when any of ``names`` is not a lab host."""
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownHostError(unknown, known, where)
