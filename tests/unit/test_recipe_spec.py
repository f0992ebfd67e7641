"""recipe.yml: what an image recipe says about itself, checked like the lab file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dockerlab.exceptions import RecipeFileError
from pytest_dockerlab.images import RECIPES_DIR as SHIPPED
from pytest_dockerlab.spec import Recipe, load_recipe
from pytest_dockerlab.spec.model import INIT_NAMES

SHIPPED_RECIPES = sorted(p for p in SHIPPED.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_recipes_are_shipped() -> None:
    assert len(SHIPPED_RECIPES) >= 5


@pytest.mark.parametrize("folder", SHIPPED_RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_loads(folder: Path) -> None:
    spec = load_recipe(folder)
    assert spec.path == folder
    assert spec.init in INIT_NAMES
    assert spec.dockerfile.is_file()
    assert spec.base or spec.bootstrap  # every shipped image has somewhere to come from


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("debian12", {"base": "debian:12", "bootstrap": "bookworm", "cgroup": (1, 2)}),
        (
            "debian12-sysvinit",
            {"init": "sysvinit", "dockerfile": SHIPPED / "debian12-sysvinit/Dockerfile"},
        ),
        ("centos6", {"init": "sysvinit", "python": "/usr/bin/python"}),
        ("centos7", {"cgroup": (1,), "python": "/usr/bin/python3"}),
        ("ubuntu2404", {"dockerfile": SHIPPED / "_common/apt-systemd.Dockerfile", "bootstrap": ""}),
    ],
)
def test_shipped_recipes_say_what_the_readme_says(name: str, expected: dict[str, object]) -> None:
    spec = load_recipe(SHIPPED / name)
    assert {key: getattr(spec, key) for key in expected} == expected


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    """A user's recipes: ``mine`` with its own Dockerfile, and a shared one in ``_common``."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\n")
    (tmp_path / "_common").mkdir()
    (tmp_path / "_common" / "shared.Dockerfile").write_text("ARG BASE\nFROM ${BASE}\n")
    return tmp_path


@pytest.mark.parametrize(
    "text", [None, "", "# nothing to say\n"], ids=["absent", "empty", "comment"]
)
def test_a_silent_recipe_gets_the_defaults(recipes: Path, text: str | None) -> None:
    if text is not None:
        (recipes / "mine" / "recipe.yml").write_text(text)
    mine = recipes / "mine"
    assert load_recipe(mine) == Recipe(
        name="mine", path=mine, dockerfile=mine / "Dockerfile", digest=load_recipe(mine).digest
    )


def test_every_setting_is_read(recipes: Path) -> None:
    (recipes / "mine" / "recipe.yml").write_text(
        "init: sysvinit\n"
        "base: debian:12\n"
        "bootstrap: bookworm\n"
        "python: /usr/bin/python3.11\n"
        "cgroup: [1]\n"
        "cgroup_reason: its init predates cgroup v2\n"
        "dockerfile: ../_common/shared.Dockerfile\n"
    )
    mine = recipes / "mine"
    assert load_recipe(mine) == Recipe(
        name="mine",
        path=mine,
        digest=load_recipe(mine).digest,
        init="sysvinit",
        base="debian:12",
        bootstrap="bookworm",
        python="/usr/bin/python3.11",
        cgroup=(1,),
        cgroup_reason="its init predates cgroup v2",
        dockerfile=recipes / "_common" / "shared.Dockerfile",
    )


INITS = ", ".join(INIT_NAMES)
ALLOWED = "base, bootstrap, cgroup, cgroup_reason, dockerfile, init, python"


# (recipe.yml, line, problem); <recipes> is the folder holding the recipe folder.
@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param(
            "- init: systemd\n",
            1,
            "the top level must be a mapping of recipe settings, not a list",
            id="a list",
        ),
        pytest.param(
            "systemd\n",
            1,
            "the top level must be a mapping of recipe settings, not a string",
            id="a string",
        ),
        pytest.param(
            "init: systemd\nnotes: boots fine\n",
            2,
            f"unknown key 'notes' at the top level (allowed: {ALLOWED})",
            id="unknown key",
        ),
        pytest.param(
            "init: upstart\n", 1, f"init: must be one of {INITS}, not 'upstart'", id="init unknown"
        ),
        pytest.param(
            "init: 1\n", 1, f"init: must be one of {INITS}, not a number", id="init a number"
        ),
        pytest.param("init:\n", 1, f"init: must be one of {INITS}, not empty", id="init null"),
        pytest.param(
            "init: systemd\nbase: 12\n", 2, "base: must be an image name, not a number", id="base"
        ),
        pytest.param(
            "bootstrap: [bookworm]\n",
            1,
            "bootstrap: must be a Debian suite name, not a list",
            id="bootstrap",
        ),
        pytest.param("python: ''\n", 1, "python: must be a path, not an empty string", id="python"),
        pytest.param(
            "cgroup: 2\n",
            1,
            "cgroup: must be a list of cgroup versions (1 or 2), not a number",
            id="cgroup a number",
        ),
        pytest.param(
            "cgroup: []\n",
            1,
            "cgroup: must name at least one cgroup version (1 or 2)",
            id="cgroup empty",
        ),
        pytest.param(
            "cgroup:\n  - 1\n  - 3\n", 3, "cgroup[1]: must be 1 or 2, not 3", id="cgroup v3"
        ),
        pytest.param(
            "cgroup: [true]\n", 1, "cgroup[0]: must be 1 or 2, not a boolean", id="cgroup boolean"
        ),
        pytest.param(
            "cgroup: ['2']\n", 1, "cgroup[0]: must be 1 or 2, not a string", id="cgroup string"
        ),
        pytest.param(
            "cgroup_reason: {why: old}\n",
            1,
            "cgroup_reason: must be a string, not a mapping",
            id="cgroup_reason",
        ),
        pytest.param(
            "dockerfile: 5\n", 1, "dockerfile: must be a path, not a number", id="dockerfile type"
        ),
        pytest.param(
            "init: systemd\ndockerfile: ../_common/nope.Dockerfile\n",
            2,
            "dockerfile: no such file: <recipes>/_common/nope.Dockerfile",
            id="dockerfile missing",
        ),
        pytest.param(
            "dockerfile: ../_common\n",
            1,
            "dockerfile: not a file: <recipes>/_common",
            id="dockerfile a folder",
        ),
        pytest.param(
            "init: sysvinit\nbase: debian:12\ninit: systemd\n",
            3,
            "duplicate key 'init' (first on line 1)",
            id="duplicate key",
        ),
        pytest.param(
            "init: systemd\ncgroup: [1\n",
            3,
            "not valid YAML: expected ',' or ']', but got '<stream end>' "
            "(column 1; while parsing a flow sequence from line 2)",
            id="not YAML",
        ),
        pytest.param(
            "base: debian:12\ncgroup_reason: init trop ancien (d\xe9faut)\n".encode("latin-1"),
            2,
            "not UTF-8 text: byte 0xe9 cannot be decoded; save the file as UTF-8",
            id="Latin-1",
        ),
    ],
)
def test_bad_recipe_files_name_the_file_the_line_and_the_key(
    recipes: Path, text: str | bytes, line: int, problem: str
) -> None:
    path = recipes / "mine" / "recipe.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(RecipeFileError) as info:
        load_recipe(recipes / "mine")
    problem = problem.replace("<recipes>", str(recipes))
    assert str(info.value) == f"recipe file {path}, line {line}: {problem}"
    assert (info.value.path, info.value.line, info.value.problem) == (path, line, problem)


@pytest.mark.parametrize("text", [None, "init: systemd\n"], ids=["no recipe.yml", "recipe.yml"])
def test_a_recipe_without_a_dockerfile_says_where_it_looked(
    recipes: Path, text: str | None
) -> None:
    folder = recipes / "bare"
    folder.mkdir()
    if text is not None:
        (folder / "recipe.yml").write_text(text)
    with pytest.raises(RecipeFileError) as info:
        load_recipe(folder)
    assert str(info.value) == (
        f"recipe file {folder / 'recipe.yml'}: no Dockerfile at {folder / 'Dockerfile'}; "
        "add one, or name another in recipe.yml with 'dockerfile:'"
    )
    assert info.value.line is None


def test_an_unreadable_recipe_file_is_a_recipe_error(recipes: Path) -> None:
    (recipes / "mine" / "recipe.yml").mkdir()
    with pytest.raises(RecipeFileError) as info:
        load_recipe(recipes / "mine")
    assert str(info.value) == (
        f"recipe file {recipes / 'mine' / 'recipe.yml'}: cannot read it: Is a directory"
    )
