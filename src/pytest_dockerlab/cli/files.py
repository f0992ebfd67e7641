"""``import-molecule`` and ``schema``: the files users write."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .common import command, complain, say

if TYPE_CHECKING:
    from .common import Commands


def register(commands: Commands) -> None:
    importer = command(
        commands,
        "import-molecule",
        _import_molecule,
        "write the dockerlab.yml equivalent of a Molecule scenario",
        "Read SCENARIO/molecule.yml (platforms, provisioner inventory vars, env, "
        "config options, playbooks) and write the equivalent lab file; list what could not "
        "carry over. pytest --dockerlab-molecule SCENARIO runs a scenario without this step.",
    )
    importer.add_argument(
        "scenario", metavar="SCENARIO", help="a scenario folder (molecule/default)"
    )
    importer.add_argument(
        "--output", metavar="FILE", help="where to write it (default: SCENARIO/dockerlab.yml)"
    )
    importer.add_argument("--force", action="store_true", help="overwrite an existing file")
    command(
        commands,
        "schema",
        _schema,
        "print the lab file's JSON Schema (for editors)",
        "The JSON Schema of dockerlab.yml, built from the plugin's model: point an editor's YAML "
        "language server at it (the package ships it as dockerlab.schema.json).",
    )


def _import_molecule(args: argparse.Namespace) -> int:
    from ..images import catalogue
    from ..spec import parse_lab
    from ..spec.molecule import convert, write_lab_file

    converted = convert(Path(args.scenario), catalogue())
    parse_lab(converted.lab, converted.path)  # what pytest would refuse, refused now
    target = Path(args.output) if args.output else converted.folder / "dockerlab.yml"
    if target.exists() and not args.force:
        complain(f"{target} exists; --force overwrites it")
        return 1
    write_lab_file(converted, target.resolve())
    say(f"wrote {target} ({len(converted.lab['hosts'])} hosts from {converted.path})")
    for note in converted.notes:
        say(f"not carried: {note}")
    say(f"run it with: pytest {target.parent}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from ..spec import schema

    say(schema_text(schema()))
    return 0


def schema_text(document: dict[str, object]) -> str:
    """The schema as the shipped ``dockerlab.schema.json`` holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False)
