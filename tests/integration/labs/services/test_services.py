from typing import Any

import pytest

SERVICES = {
    "svc1": ["redis-server", "memcached", "nginx", "postgresql", "ssh", "cron", "rsyslog"],
    "svc2": ["apache2", "mariadb", "postfix", "squid", "named", "dovecot"],
}


def check(lab: Any, name: str) -> None:
    host = lab.host(name)
    stopped = [s for s in SERVICES[name] if not host.service(s).is_running]
    assert stopped == [], f"{name}: not running: {stopped}"
    if host.exists("systemctl"):
        failed = host.run("systemctl --failed --no-legend --plain").stdout.strip()
        assert failed == "", f"{name}: failed units:\n{failed}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_runs(lab: Any, name: str) -> None:
    check(lab, name)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_comes_back_after_a_restart(lab: Any, name: str) -> None:
    lab.restart(name)
    check(lab, name)
