from __future__ import annotations

from pytest_dockerlab.labels import SessionIdentity


def test_every_resource_label_is_in_the_reserved_namespace() -> None:
    ident = SessionIdentity(session_id="abcd1234", worker="gw1", owner_pid=42, owner_host="box")
    got = ident.labels(host="web", recipe_hash="f00")
    # Spelled out: these keys are a contract with users' scripts and older sessions' sweeps.
    assert got == {
        "pytest-dockerlab.session": "abcd1234",
        "pytest-dockerlab.worker": "gw1",
        "pytest-dockerlab.owner-pid": "42",
        "pytest-dockerlab.owner-host": "box",
        "pytest-dockerlab.host": "web",
        "pytest-dockerlab.recipe-hash": "f00",
    }
    assert all(key.startswith("pytest-dockerlab.") for key in got)


def test_names_carry_session_and_worker_so_parallel_runs_never_collide() -> None:
    a = SessionIdentity(session_id="aaaa0000", worker="gw0")
    b = SessionIdentity(session_id="aaaa0000", worker="gw1")
    c = SessionIdentity(session_id="bbbb0000", worker="gw0")
    names = {x.container_name("web") for x in (a, b, c)} | {x.network_name() for x in (a, b, c)}
    assert len(names) == 6
    assert a.container_name("web") == "dockerlab-aaaa0000-gw0-web"


def test_new_sessions_get_distinct_ids() -> None:
    assert len({SessionIdentity.create().session_id for _ in range(50)}) == 50


def test_matrix_variants_of_one_session_get_their_own_names_and_a_label() -> None:
    ident = SessionIdentity(session_id="aaaa0000", worker="main")
    d11 = ident.with_variant("debian11")
    assert d11.container_name("web") == "dockerlab-aaaa0000-main-debian11-web"
    assert d11.network_name() != ident.network_name()
    assert d11.labels()["pytest-dockerlab.session"] == "aaaa0000"  # one teardown finds all
    assert d11.labels()["pytest-dockerlab.variant"] == "debian11"
    assert "pytest-dockerlab.variant" not in ident.labels()
