from __future__ import annotations

from typing import Any

import pytest

from pytest_dockerlab.exceptions import MarkerError, UnknownHostError
from pytest_dockerlab.markers import check_known, parse_lab_marker


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("web,db",), {}),
        ((" web , db ",), {}),
        ((["web", "db"],), {}),
        (("web", "db"), {}),
        ((), {"hosts": "web,db"}),
        ((), {"hosts": ["web", "db"]}),
        (("web,db", "web"), {}),
    ],
)
def test_every_spelling_gives_the_same_hosts(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert parse_lab_marker(args, kwargs) == ("web", "db")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "names no host"),
        (("",), {}, "names no host"),
        ((42,), {}, "42 is not a host name"),
        (("web",), {"hosts": "db"}, "not both"),
        ((), {"host": "db"}, "unexpected keyword host"),
    ],
)
def test_unreadable_markers_are_refused(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(MarkerError, match=message):
        parse_lab_marker(args, kwargs)


def test_unknown_host_lists_the_known_ones() -> None:
    with pytest.raises(UnknownHostError) as info:
        check_known(["web", "cache"], ["web", "db"], "test_x.py::test_y")
    assert str(info.value) == (
        "unknown lab host 'cache' in test_x.py::test_y; the lab defines: web, db"
    )
