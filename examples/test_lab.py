"""Both tiers together: the network between them, and surviving restarts.

Idempotence is the lab file's `idempotence: true`: a host whose second pass changed
something makes its tests error.
"""

import pytest

pytestmark = pytest.mark.lab("web,db")

PSQL = "PGPASSWORD=app-secret-for-tests psql -h db -U app -d app -tAc 'select 42'"


def test_web_reaches_db_by_name_on_5432(lab):
    assert lab.host("web").check_output(PSQL) == "42"


def test_services_come_back_after_restart(lab):
    lab.restart("db", "web")  # both at once, as after a power cut
    web, db = lab.host("web"), lab.host("db")
    assert db.service("postgresql").is_running
    assert db.socket("tcp://0.0.0.0:5432").is_listening
    assert web.service("nginx").is_running
    assert web.service("app").is_running
    assert "Hello from web" in web.check_output("curl -sf http://localhost/")
    assert web.check_output(PSQL) == "42"
