"""``import-molecule``, ``schema`` and ``matrix``: the files users write."""

from __future__ import annotations

import argparse
import json
import os
import shlex
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

    matrix = command(
        commands,
        "matrix",
        _matrix,
        "print a CI matrix of --dockerlab-shard values (GitHub Actions' strategy.matrix)",
        "The shards a CI job matrix runs: each job runs pytest --dockerlab-shard "
        "${{ matrix.shard }}, whole labs balanced by the durations earlier runs recorded; "
        "together they run the whole suite, no lab twice.",
    )
    matrix.add_argument(
        "--shards", type=_positive, required=True, metavar="N", help="how many CI jobs"
    )
    matrix.add_argument(
        "--format",
        choices=("github", "list"),
        default="github",
        help="github: JSON for strategy.matrix (fromJSON); list: one I/N a line",
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of shards (1 or more)")
    return int(text)


def _matrix(args: argparse.Namespace) -> int:
    shards = [f"{index}/{args.shards}" for index in range(1, args.shards + 1)]
    if args.format == "github":
        say(json.dumps({"shard": shards}))
    else:
        say("\n".join(shards))
    return 0


def _import_molecule(args: argparse.Namespace) -> int:
    from ..images import catalogue
    from ..settings import LAB_FILE_NAME
    from ..spec import parse_lab
    from ..spec.molecule import STAGE_TESTS, convert, write_lab_file, write_stage_tests

    if args.output is not None and not args.output.strip():
        complain("--output is empty: name the lab file to write, or leave it out")
        return 1
    target = Path(args.output) if args.output else Path(args.scenario) / LAB_FILE_NAME
    tests = target.parent / STAGE_TESTS
    problem = _unwritable(target) or _unwritable(tests)
    if problem:
        complain(problem)
        return 1
    converted = convert(Path(args.scenario), catalogue())
    parse_lab(converted.lab, converted.path)  # what pytest would refuse, refused now
    # Never over the scenario's own files (--force or not), nor the tests over the lab file.
    if target.resolve() == tests.resolve():
        complain(f"{target} is where the stage tests go: --output names the lab file")
        return 1
    own = {converted.path, *converted.folder.glob("*.yml")} - {converted.folder / LAB_FILE_NAME}
    if target.resolve() in own:
        complain(f"{target} is the scenario's own {target.name}: --output names another file")
        return 1
    existing = [str(p) for p in (target, tests) if p.exists()]
    if existing and not args.force:
        complain(f"{' and '.join(existing)} exist{'s' if len(existing) == 1 else ''}; "
                 "--force overwrites")  # fmt: skip
        return 1
    try:
        write_lab_file(converted, target.resolve())
        stages = write_stage_tests(converted, tests.resolve())
    except OSError as exc:
        complain(f"cannot write {exc.filename or target}: {exc.strerror or exc}")
        return 1
    say(f"wrote {target} ({len(converted.lab['hosts'])} hosts from {converted.path})")
    say(f"wrote {tests} (the scenario's {', '.join(stages)} as tests)")
    for line in converted.summary():
        say(f"molecule.yml {line}")
    if converted.testinfra:
        # Written into the lab file too, where nobody reads it before running.
        complain(
            f"{converted.tests}: its tests use testinfra's host fixture, which under this lab "
            "file is this machine: run the scenario with --dockerlab-molecule, or use "
            "lab.host(NAME) in them"
        )
    named = "" if target.name == LAB_FILE_NAME else f"--dockerlab-file {shlex.quote(str(target))} "
    say(f"run it with: pytest {named}{shlex.quote(str(tests))}")
    return 0


def _unwritable(path: Path) -> str:
    """Why ``path`` cannot be written as a file ("" when it can)."""
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder: --output names the lab file to write"
    if path.exists() and not path.is_file():
        return f"cannot write {path}: it is not a regular file"
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return f"cannot write {path}: {folder} {what}"
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"cannot write {path}: permission denied"
    return ""


def _schema(args: argparse.Namespace) -> int:
    from ..spec import schema

    say(schema_text(schema()))
    return 0


def schema_text(document: dict[str, object]) -> str:
    """The schema as the shipped ``dockerlab.schema.json`` holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False)
