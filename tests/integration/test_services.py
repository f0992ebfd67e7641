"""Conformance: stock Debian services, their units as shipped, run and survive a restart.

The lab is tests/integration/labs/services. It runs on the default image; set
``DOCKERLAB_IMAGE`` (debian11, debian13, debian12-sysvinit) to run it on another.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import leftovers, run

LAB = Path(__file__).parent / "labs" / "services"


def test_stock_services_run_and_come_back_after_restart(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    for item in LAB.iterdir():
        shutil.copy(item, pytester.path / item.name)
    result = run(pytester, "-v", timeout=1800)
    result.assert_outcomes(passed=4)
    header = next(line for line in result.outlines if "session " in line)
    session = header.rsplit("session ", 1)[1].rstrip(")")
    assert leftovers(docker_client, session) == []
