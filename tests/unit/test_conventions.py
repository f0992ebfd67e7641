"""What a user of the package meets first: help everywhere, a version, negations, any OS."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.cli import build_parser, main, parse_args

if sys.version_info >= (3, 11):
    import tomllib
else:  # the floor's Python
    import tomli as tomllib

ROOT = Path(__file__).parents[2]


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def test_every_command_and_flag_has_help() -> None:
    parser = build_parser()
    missing = []
    for prog, sub in _parsers(parser):
        if not sub.description:
            missing.append(f"{prog}: no description")
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest for a in action._choices_actions if a.help}
                missing += [f"{prog} {n}" for n in action.choices if n not in helped and
                            n not in {"ls", "login"}]  # fmt: skip
            elif not action.help:
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_the_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert f" {version('pytest-dockerlab')} (Python {sys.version.split()[0]})" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize("argv", [["images", "save"], ["images", "build", "--dir", "x"]])
def test_dir_goes_with_save_and_load_only(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    assert "--dir goes with `images save` and `images load`" in capsys.readouterr().err


def test_the_console_script_and_the_licence_ship() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"dockerlab": "pytest_dockerlab.cli:main"}
    assert project["license-files"] == ["LICENSE", "src/pytest_dockerlab/seccomp/LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    # Docker's seccomp profile, vendored: its licence goes with it.
    vendored = ROOT / "src" / "pytest_dockerlab" / "seccomp"
    assert "Apache License" in (vendored / "LICENSE").read_text()
    assert (
        "seccomp/*"
        in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "package-data"
        ]["pytest_dockerlab"]
    )
    assert set(project["urls"]) >= {"Homepage", "Source", "Issues", "Changelog"}
    assert (ROOT / "CHANGELOG.md").is_file()


def test_requires_python_is_what_ansible_core_needs() -> None:
    """ansible (the floor) installs an ansible-core whose controller needs this Python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    assert "Programming Language :: Python :: 3.9" not in project["classifiers"]


POSIX_ONLY = ["fcntl", "pwd", "grp", "termios", "tty", "pty", "resource", "posix"]


def test_the_plugin_imports_where_posix_modules_do_not_exist(tmp_path: Path) -> None:
    """pytest runs on Windows: loading the plugin there must not break it (only an engine
    needs Linux). The POSIX-only modules are made unimportable, then pytest starts."""
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    blocked = ", ".join(repr(m) for m in POSIX_ONLY if m != "posix")
    code = (
        "import sys\n"
        f"for name in ({blocked},):\n"
        "    sys.modules[name] = None\n"
        "import pytest_dockerlab.plugin, pytest_dockerlab.__main__, pytest_dockerlab.address\n"
        "import pytest_dockerlab.exceptions, pytest_dockerlab.cleanup, pytest_dockerlab.images\n"
        "import pytest\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', sys.argv[1]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def _workflow(name: str) -> tuple[dict[str, Any], list[str], list[list[str]]]:
    """A CI example: the workflow, its lab job's shell lines, and its dockerlab commands."""
    import shlex

    import yaml

    workflow = yaml.safe_load((ROOT / "examples" / "ci" / name).read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    commands = [line.strip() for s in steps for line in s.get("run", "").splitlines()]
    words = [
        shlex.split(
            c.replace("${{ matrix.image }}", "debian12").replace(
                '"ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/dockerlab"', "ghcr.io/acme/dockerlab"
            )
        )
        for c in commands
    ]
    dockerlab = [argv[1:] for argv in words if argv and argv[0] == "dockerlab"]
    for argv in dockerlab:
        if argv != ["--version"] and "|" not in argv:
            parse_args(build_parser(), argv)  # every command parses
    return workflow, commands, dockerlab


def test_the_ci_example_shares_through_a_registry_and_uploads_reports() -> None:
    """Logged in to ghcr.io, DOCKERLAB_REGISTRY set, read only for pull requests, the image
    pulled or built and pushed, the reports uploaded."""
    workflow, commands, dockerlab = _workflow("github-actions.yml")
    lab = workflow["jobs"]["lab"]
    uses = [s.get("uses", "").split("@")[0] for s in lab["steps"]]
    assert {"docker/login-action", "actions/upload-artifact"} <= set(uses)
    assert any("DOCKERLAB_REGISTRY=ghcr.io/" in c for c in commands)
    assert "pull_request" in lab["env"]["DOCKERLAB_REGISTRY_PUSH"]
    assert lab["permissions"]["packages"] == "write"
    assert ["images", "build", "debian12"] in dockerlab
    pytest_step = next(c for c in commands if c.startswith("pytest"))
    assert "--junitxml=" in pytest_step and "--dockerlab-artifacts=" in pytest_step


def test_the_ci_example_without_a_registry_caches_image_archives() -> None:
    """The image cache is real (restore, load, save) and the reports are uploaded."""
    workflow, commands, dockerlab = _workflow("github-actions-no-registry.yml")
    uses = [s.get("uses", "").split("@")[0] for s in workflow["jobs"]["lab"]["steps"]]
    assert {"actions/cache", "actions/upload-artifact"} <= set(uses)
    actions = {argv[1] for argv in dockerlab if argv[0] == "images"}
    assert actions == {"load", "build", "save"}
    pytest_step = next(c for c in commands if c.startswith("pytest"))
    assert "--junitxml=" in pytest_step and "--dockerlab-artifacts=" in pytest_step


def test_pytest_sees_one_package_to_rewrite_not_top_level_modules() -> None:
    """pytest marks a plugin's modules for assertion rewriting from its wheel's file list; a
    package without __init__.py made it mark ``__main__`` and warn in every user's run."""
    from _pytest.config import _iter_rewritable_modules

    package = ROOT / "src" / "pytest_dockerlab"
    wheel_files = [f"pytest_dockerlab/{p.name}" for p in sorted(package.glob("*.py"))]
    assert list(_iter_rewritable_modules(wheel_files)) == ["pytest_dockerlab"]


def test_images_save_and_load_keep_the_tags_and_leave_other_archives_alone(tmp_path: Path) -> None:
    from pytest_dockerlab.cli.images import archives
    from pytest_dockerlab.images import catalogue

    from .fakes import FakeEngine

    debian12 = catalogue()["debian12"].tag
    (tmp_path / "mine.tar").write_text("a user's own archive")
    (tmp_path / "debian11.tar").write_text("an archive of an outdated recipe")
    assert archives(FakeEngine(images=[debian12]), "save", tmp_path, []) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["debian12.tar", "mine.tar"]
    fresh = FakeEngine()
    (tmp_path / "mine.tar").unlink()
    assert archives(fresh, "load", tmp_path, []) == 0
    assert fresh.tags == {debian12}


def test_images_save_says_what_it_could_not_save_and_refuses_a_file_as_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_dockerlab.cli.images import archives

    from .fakes import FakeEngine

    assert archives(FakeEngine(), "save", tmp_path, ["centos7"]) == 0
    assert "centos7: not built" in capsys.readouterr().out
    (tmp_path / "a-file").write_text("")
    assert archives(FakeEngine(), "load", tmp_path / "a-file", []) == 1
    assert "a-file: not a folder" in capsys.readouterr().err


def test_podman_lists_our_tags_with_a_registry_before_them() -> None:
    """Else every image looks outdated on Podman, and `images prune` removes current ones."""
    from pytest_dockerlab.docker_engine import _short_tag

    assert _short_tag("docker.io/pytest-dockerlab/debian12:abc") == "pytest-dockerlab/debian12:abc"
    assert _short_tag("localhost/pytest-dockerlab/debian12:abc") == "pytest-dockerlab/debian12:abc"
    assert _short_tag("pytest-dockerlab/debian12:abc") == "pytest-dockerlab/debian12:abc"


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("myorg/web:1", True),
        ("localhost:5000/x:1", True),  # a registry's port is no tag
        ("a:" + "b" * 128, True),
        ("a:" + "b" * 129, False),  # docker takes tags of 128 characters at most
        ("registry.example:5000/team/web:2026-12", True),
        ("myregistry:5000/web", True),
        ("MyOrg/web:1", False),
        ("web:", False),
        ("a" * 300 + ":1", False),  # docker takes 255 characters of name
    ],
)
def test_bake_refuses_before_anything_boots_what_docker_would_refuse(ref: str, ok: bool) -> None:
    from pytest_dockerlab.cli.lab import check_reference
    from pytest_dockerlab.exceptions import DockerlabError

    if ok:
        check_reference(ref)
    else:
        with pytest.raises(DockerlabError, match="--tag"):
            check_reference(ref)
