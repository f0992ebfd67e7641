"""How options, environment and ini keys resolve into the plugin's settings."""

from __future__ import annotations

import pytest

from pytest_dockerlab.config import resolve

INI = """
[pytest]
dockerlab_image = debian11
dockerlab_boot_timeout = 30
dockerlab_keep = true
"""


@pytest.fixture
def ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("DOCKERLAB_IMAGE", raising=False)
    pytester.makeini(INI)
    return pytester


def test_the_ini_sets_a_project_default(ini: pytest.Pytester) -> None:
    settings = resolve(ini.parseconfig())
    assert (settings.image, settings.boot_timeout, settings.keep) == ("debian11", 30.0, True)
    assert settings.image_origin == "ini dockerlab_image"


def test_the_environment_beats_the_ini(
    ini: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKERLAB_IMAGE", "debian13")
    settings = resolve(ini.parseconfig())
    assert (settings.image, settings.image_origin) == ("debian13", "DOCKERLAB_IMAGE")


def test_the_option_beats_the_environment(
    ini: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKERLAB_IMAGE", "debian13")
    settings = resolve(
        ini.parseconfig("--dockerlab-image", "debian12", "--dockerlab-boot-timeout", "5")
    )
    assert (settings.image, settings.image_origin) == ("debian12", "--dockerlab-image")
    assert settings.boot_timeout == 5.0


def test_an_empty_environment_variable_counts_as_unset(
    ini: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKERLAB_IMAGE", "")
    assert resolve(ini.parseconfig()).image == "debian11"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--dockerlab-boot-timeout", "0"),
            "--dockerlab-boot-timeout must be a positive number of seconds, not 0.0",
        ),
        (
            ("--dockerlab-boot-timeout", "nan"),
            "--dockerlab-boot-timeout must be a positive number of seconds, not nan",
        ),
        (
            ("--dockerlab-boot-timeout", "-3"),
            "--dockerlab-boot-timeout must be a positive number of seconds, not -3.0",
        ),
        (("--dockerlab-image", ""), "--dockerlab-image is empty; name an image or leave it out"),
    ],
)
def test_bad_values_are_usage_errors_naming_where_they_came_from(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(pytest.UsageError, match=message.replace("+", r"\+")):
        resolve(pytester.parseconfig(*args))


def test_a_bad_ini_timeout_names_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndockerlab_boot_timeout = soon\n")
    with pytest.raises(pytest.UsageError, match="ini dockerlab_boot_timeout must be a positive"):
        resolve(pytester.parseconfig())


def test_an_option_turns_off_nothing_it_was_not_given(ini: pytest.Pytester) -> None:
    settings = resolve(ini.parseconfig("--dockerlab-idempotence"))
    assert settings.idempotence is True
    assert settings.keep is True  # from the ini: an unrelated flag leaves it alone
