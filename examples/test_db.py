"""The database tier: PostgreSQL from the distribution's packages, on the lab network."""

import pytest

pytestmark = pytest.mark.lab("db")


def test_postgresql_is_installed_enabled_and_running(lab):
    db = lab.host("db")
    assert db.package("postgresql").is_installed
    service = db.service("postgresql")
    assert service.is_enabled
    assert service.is_running
    # The server answers: Debian's service wrapper alone would not prove that.
    assert db.check_output("runuser -u postgres -- psql -tAc 'select 1'") == "1"


def test_postgresql_listens_on_every_address(lab):
    assert lab.host("db").socket("tcp://0.0.0.0:5432").is_listening


def test_the_application_database_exists(lab):
    out = lab.host("db").check_output(
        "runuser -u postgres -- psql -tAc \"select datname from pg_database where datname='app'\""
    )
    assert out == "app"
