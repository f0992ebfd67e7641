"""The shipped JSON Schema and the lab file parser agree on what a lab file may say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from pytest_dockerlab.exceptions import LabFileError
from pytest_dockerlab.spec import load_lab_file, schema

from .test_labfile import (
    BAD_LABS,
    BASE_60,
    DUPLICATES,
    ENCODING,
    FILES,
    GOOD_LABS,
    MEANING,
    RELATIONS,
    SYNTAX,
    BadLab,
    write_lab,
)

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_LABS = sorted(REPOSITORY.glob("examples/**/dockerlab.yml"))
VALIDATOR = Draft202012Validator(schema())


def schema_errors(text: str | bytes) -> list[ValidationError]:
    """What the schema says about a lab file, read as an editor's YAML plugin would."""
    return list(VALIDATOR.iter_errors(yaml.safe_load(text)))


def key_path(error: ValidationError) -> str:
    """Where the schema found a problem, written as the parser writes key paths."""
    text = ""
    for key in error.absolute_path:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else str(key)
    return text


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    document = schema()
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"]
    assert document["title"]


def _described(node: Any, where: str) -> list[str]:
    """Places in the schema that an editor would show without an explanation."""
    missing = []
    if isinstance(node, dict):
        for key in ("properties", "$defs"):
            for name, sub in node.get(key, {}).items():
                if "description" not in sub:
                    missing.append(f"{where}/{key}/{name}")
        for key, sub in node.items():
            missing += _described(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            missing += _described(sub, f"{where}/{index}")
    return missing


def test_every_property_is_described() -> None:
    assert _described(schema(), "#") == []


def test_the_repository_has_example_labs() -> None:
    assert EXAMPLE_LABS, "no examples/**/dockerlab.yml found"


@pytest.mark.parametrize("path", EXAMPLE_LABS, ids=lambda p: str(p.relative_to(REPOSITORY)))
def test_example_labs_pass_the_parser_and_the_schema(path: Path) -> None:
    load_lab_file(path)
    assert schema_errors(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("text", GOOD_LABS.values(), ids=list(GOOD_LABS))
def test_good_labs_pass_the_parser_and_the_schema(tmp_path: Path, text: str) -> None:
    load_lab_file(write_lab(tmp_path, text))
    assert schema_errors(text) == []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD_LABS if not c.parser_only])
def test_the_parser_and_the_schema_both_refuse(tmp_path: Path, case: BadLab) -> None:
    with pytest.raises(LabFileError):
        load_lab_file(write_lab(tmp_path, case.text))
    errors = schema_errors(case.text)
    assert errors, "the schema accepts it"
    # ... and at the same place: the schema's key path leads the parser's message
    assert case.problem.startswith(key_path(best_match(errors)))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD_LABS if c.parser_only])
def test_parser_only_cases_are_out_of_a_schemas_reach(tmp_path: Path, case: BadLab) -> None:
    """The parser refuses them; the schema cannot, and the table says why."""
    with pytest.raises(LabFileError):
        load_lab_file(write_lab(tmp_path, case.text))
    assert case.parser_only in (FILES, DUPLICATES, ENCODING, SYNTAX, RELATIONS, MEANING, BASE_60)
    if case.parser_only in (ENCODING, SYNTAX):
        with pytest.raises(yaml.YAMLError):  # no document for a schema to look at
            yaml.safe_load(case.text)
    else:
        assert schema_errors(case.text) == []
