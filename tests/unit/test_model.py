"""The model's own rules: sizes, key lists taken from the fields, the shipped schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_dockerlab.cli.files import schema_text
from pytest_dockerlab.init import INITS
from pytest_dockerlab.spec import schema
from pytest_dockerlab.spec.model import (
    INIT_NAMES,
    AnsibleSpec,
    ContainerSpec,
    HostSpec,
    LabSpec,
    Recipe,
    keys,
    parse_size,
)

SHIPPED_SCHEMA = Path(__file__).parents[2] / "src" / "pytest_dockerlab" / "dockerlab.schema.json"


@pytest.mark.parametrize(
    ("text", "size"),
    [("10G", 10 * 1024**3), ("500M", 500 * 1024**2), ("1.5GiB", int(1.5 * 1024**3)),
     ("2048", 2048), ("64kb", 64 * 1024)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1G", "G"])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_every_key_of_a_section_comes_from_its_fields() -> None:
    assert keys(LabSpec) == ("ansible", "hosts", "image", "images", "molecule", "networks")
    assert set(keys(ContainerSpec)) < set(keys(HostSpec))
    assert {"check", "playbooks", "verbosity"} < set(keys(AnsibleSpec))
    assert keys(Recipe) == (
        "base", "bootstrap", "cgroup", "cgroup_reason", "dockerfile", "init", "python"
    )  # fmt: skip


def test_every_init_family_has_a_strategy() -> None:
    assert tuple(INITS) == INIT_NAMES


def test_the_shipped_schema_is_the_one_the_model_builds() -> None:
    """The package ships the schema as a file for editors: it must not fall behind the model."""
    regenerate = "python -m pytest_dockerlab schema > src/pytest_dockerlab/dockerlab.schema.json"
    shipped = SHIPPED_SCHEMA.read_text(encoding="utf-8")
    assert shipped == schema_text(schema()) + "\n", f"regenerate it: {regenerate}"
    assert json.loads(SHIPPED_SCHEMA.read_text(encoding="utf-8")) == schema()
