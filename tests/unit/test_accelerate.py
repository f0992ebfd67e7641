"""Which converges Mitogen accelerates, and the one line said when it cannot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pytest_dockerlab import accelerate
from pytest_dockerlab.accelerate import Acceleration, choose


def test_none_is_the_ordinary_path_and_says_nothing() -> None:
    assert choose("none", "docker") == (None, "")


def test_without_mitogen_the_line_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ansible_mitogen" else real(name, *a),
    )
    found, said = choose("mitogen", "docker")
    assert found is None
    assert said == (
        "accelerate: mitogen: Mitogen is not installed (pip install "
        "'pytest-dockerlab[mitogen]'); converges run the ordinary way"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("ansible_mitogen") is None, reason="needs the [mitogen] extra"
)
def test_an_ansible_core_it_was_not_measured_with_or_podman_is_the_ordinary_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found, said = choose("mitogen", "docker")
    assert found is not None and (found.plugins / "mitogen_linear.py").is_file(), said
    assert "ansible-core deprecates third-party strategies" in said
    assert choose("mitogen", "podman")[1].startswith("accelerate: mitogen: the engine is Podman")
    monkeypatch.setattr(accelerate, "_ansible_core", lambda: (2, 21, 0))
    assert choose("mitogen", "docker") == (
        None,
        "accelerate: mitogen: ansible-core 2.21.0 is not one it was measured with (2.10 to "
        "2.19); converges run the ordinary way",
    )


def test_the_users_strategy_and_plugins_are_kept() -> None:
    mitogen = Acceleration("mitogen_linear", Path("/m"))
    assert mitogen.envvars({}) == {
        "ANSIBLE_STRATEGY_PLUGINS": "/m",
        "ANSIBLE_STRATEGY": "mitogen_linear",
    }
    assert mitogen.envvars({"ANSIBLE_STRATEGY": "free", "ANSIBLE_STRATEGY_PLUGINS": "/mine"}) == {
        "ANSIBLE_STRATEGY_PLUGINS": "/m:/mine",
        "ANSIBLE_STRATEGY": "mitogen_free",
    }
    assert mitogen.envvars({"ANSIBLE_STRATEGY": "debug"})["ANSIBLE_STRATEGY"] == "debug"
    for theirs, ours in (
        ("ansible.builtin.free", "mitogen_free"),
        ("host_pinned", "mitogen_host_pinned"),
    ):
        assert mitogen.envvars({"ANSIBLE_STRATEGY": theirs})["ANSIBLE_STRATEGY"] == ours
