"""The lab core as a user meets it: hosts that boot, find each other, and survive a restart."""

import pytest


@pytest.mark.lab("web,db")
def test_db_resolves_from_web(lab):
    web = lab.host("web")
    assert web.run("getent hosts db").rc == 0
    assert web.service("systemd-journald").is_running


@pytest.mark.lab("web")
def test_survives_restart(lab):
    lab.restart("web")
    assert lab.host("web").system_info.type == "linux"
