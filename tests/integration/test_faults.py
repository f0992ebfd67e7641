"""Network faults: a host off the network and back, two groups of hosts cut apart and healed."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import leftovers, run, session_id

# Nothing listens on port 9: a reachable peer refuses (ECONNREFUSED), a cut one is unreachable.
REACH = (
    "python3 -c 'import errno, socket; s = socket.socket(); s.settimeout(3); "
    'r = s.connect_ex(("{peer}", 9)); '
    'print("reachable" if r == errno.ECONNREFUSED else "cut: " + errno.errorcode.get(r, str(r)))\''
)

TESTS = f"""
import pytest

REACH = {REACH!r}

def reach(lab, host, peer):
    return lab.exec(host, REACH.format(peer=peer)).output.strip()

def test_partition_cuts_both_ways_and_heals(lab):
    assert reach(lab, "web", "db") == "reachable"
    with lab.partition(["web"], ["db"]):
        assert reach(lab, "web", "db").startswith("cut:")
        assert reach(lab, "db", "web").startswith("cut:")
        assert lab.exec("web", "getent hosts db").rc == 0  # the name still resolves
    assert reach(lab, "web", "db") == "reachable"
    assert reach(lab, "db", "web") == "reachable"

def test_partition_heals_when_the_block_fails(lab):
    with pytest.raises(ZeroDivisionError):
        with lab.partition(["web"], ["db"]):
            1 / 0
    assert reach(lab, "web", "db") == "reachable"

def test_disconnect_and_connect(lab):
    lab.disconnect("db")
    assert lab.exec("web", "getent hosts db").rc != 0
    lab.connect("db")
    assert lab.exec("web", "getent hosts db").rc == 0
    assert reach(lab, "web", "db") == "reachable"

def test_partitions_do_not_nest_and_one_host_may_be_named_alone(lab):
    with lab.partition("web", "db"):
        with pytest.raises(Exception, match="already cut apart by an enclosing partition"):
            with lab.partition(["db"], ["web"]):
                pass
        assert reach(lab, "web", "db").startswith("cut:")  # the outer one still holds
    assert reach(lab, "web", "db") == "reachable"

def test_disconnecting_twice_is_harmless(lab):
    lab.disconnect("db")
    lab.disconnect("db")
    lab.connect("db")
    assert reach(lab, "web", "db") == "reachable"

def test_a_host_on_both_sides_is_refused(lab):
    with pytest.raises(Exception, match="web on both sides"):
        with lab.partition(["web"], ["web", "db"]):
            pass
"""


def test_network_faults(labdir: pytest.Pytester, docker_client: Any) -> None:
    labdir.makepyfile(TESTS)
    result = run(labdir)
    result.assert_outcomes(passed=6)
    assert leftovers(docker_client, session_id(labdir)) == []
