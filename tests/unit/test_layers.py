"""The package's imports form a tree that reads top-down, and the CLI never loads pytest.

Every import is read from the source (module level, function level and ``TYPE_CHECKING``
alike): a lazy import is still a tie between two modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "src" / "pytest_dockerlab"

# From the bottom up; a module may import its own layer's modules and those below.
LAYERS: list[set[str]] = [
    {"exceptions", "results", "labels", "signals", "scheduling", "onepass"},
    {"spec", "spec.model", "spec.yamlfile", "spec.container", "spec.labfile", "spec.recipe",
     "spec.molecule", "spec.schema"},
    {"settings", "profiles", "address", "markers"},
    {"engine", "init", "cleanup", "project"},
    {"registry", "registry_api", "docker_engine", "ansible", "images", "runkey", "cache", "reaper"},
    {"lab", "evidence", "faults", "artifacts", "converge", "loading"},
    {"session"},
    {"outcomes", "scenario_items", "distribution", "options", "cli.common", "cli.labs", "cli.lab",
     "cli.images", "cli.files", "cli.engine"},
    {"plugin", "cli", "__main__", ""},
]  # fmt: skip
# The modules that face pytest: only they may import it.
PYTEST_FACING = {"plugin", "options", "outcomes", "scenario_items", "distribution"}


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> tuple[set[str], set[str]]:
    """The package's modules ``name`` imports, and the top-level packages it imports."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    ours, theirs = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - node.level + 1]
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:  # ``from . import labels`` names a module
                module = f"{target}.{alias.name}" if target else alias.name
                ours.add(module if module in MODULES else target)
        elif isinstance(node, ast.ImportFrom):
            theirs.add((node.module or "").partition(".")[0])
        elif isinstance(node, ast.Import):
            theirs |= {alias.name.partition(".")[0] for alias in node.names}
    # A package's face ("from .model import X" in spec/__init__) is not a tie upward.
    return {m for m in ours if m in MODULES and m != name}, theirs


def _layer(name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def test_every_module_has_a_layer() -> None:
    assert sorted(set(MODULES) - set().union(*LAYERS)) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_down_the_house(name: str) -> None:
    upward = [m for m in _imports(name)[0] if _layer(m) > _layer(name)]
    assert upward == [], f"{name} (layer {_layer(name)}) imports from above"


def test_there_is_no_import_circle() -> None:
    graph = {name: _imports(name)[0] for name in MODULES}
    # Within a layer, ties must still not close a loop.
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        assert name not in visiting, f"import circle: {' -> '.join([*visiting, name])}"
        if name in done:
            return
        visiting.append(name)
        for other in sorted(graph[name]):
            if not (name == "spec" or other == "spec"):  # the package's face re-exports
                visit(other)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_spec_imports_nothing_of_the_package_but_the_errors() -> None:
    for name in MODULES:
        if name == "spec" or name.startswith("spec."):
            outside = {m for m in _imports(name)[0] if not m.startswith("spec")}
            assert outside <= {"exceptions"}, name


def test_only_the_pytest_facing_modules_import_pytest() -> None:
    importing = {name for name in MODULES if {"pytest", "_pytest"} & _imports(name)[1]}
    assert importing == PYTEST_FACING


def test_the_cli_never_imports_pytest_and_answers_help_quickly() -> None:
    code = (
        "import sys, pytest_dockerlab.__main__, pytest_dockerlab.cli as cli\n"
        "cli.build_parser().format_help()\n"
        "assert 'pytest' not in sys.modules, 'the CLI loaded pytest'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "import-molecule" in done.stdout
    assert time.monotonic() - started < 2.0  # measured: about 0.2 s
