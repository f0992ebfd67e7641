"""A recipe's Dockerfile as one mmdebstrap run: which Dockerfiles qualify, what the run
installs and runs, and the image it makes (with a stand-in for mmdebstrap that records its
command line and writes an empty root filesystem)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.images import RECIPES_DIR, ImageBuilder, catalogue
from pytest_dockerlab.onepass import DEFAULT_PATH, installed, instructions, plan

from .fakes import FakeEngine


def test_the_shipped_apt_recipes_qualify_with_their_packages_in_mmdebstraps_apt_run() -> None:
    shared = plan((RECIPES_DIR / "_common" / "apt-systemd.Dockerfile").read_text())
    assert shared is not None
    assert shared.include[:3] == ("systemd", "systemd-sysv", "dbus")
    assert "python3-apt" in shared.include and "sudo" in shared.include
    assert dict(shared.env) == {
        "container": "docker", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8",
    }  # fmt: skip
    assert shared.changes[-2:] == ("STOPSIGNAL SIGRTMIN+3", 'CMD ["/sbin/init"]')
    assert len(shared.runs) == 3 and shared.runs[2].startswith("systemctl mask")
    sysv = plan((RECIPES_DIR / "debian12-sysvinit" / "Dockerfile").read_text())
    assert sysv is not None and "sysvinit-core" in sysv.include
    assert "STOPSIGNAL SIGINT" in sysv.changes


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM debian:12\nRUN true\n",  # not the recipe's base
        "ARG BASE\nFROM ${BASE}\nCOPY x /x\n",  # a file from the build context
        'ARG BASE\nFROM ${BASE}\nRUN ["/bin/true"]\n',  # exec form
        "ARG BASE\nARG OTHER\nFROM ${BASE}\n",
        "ARG BASE\nFROM ${BASE} AS one\nFROM ${BASE}\n",
        "ARG BASE\nFROM ${BASE}\nWORKDIR /srv\n",
    ],
)
def test_a_dockerfile_that_does_more_builds_the_two_step_way(dockerfile: str) -> None:
    assert plan(dockerfile) is None


def test_instructions_are_read_as_docker_reads_them() -> None:
    text = "# c\nARG BASE\nFROM $BASE\nRUN a \\\n# inside\n  && b\n\nenv K=v\n"
    assert instructions(text) == [("ARG", "BASE"), ("FROM", "$BASE"), ("RUN", "a  && b"),
                                  ("ENV", "K=v")]  # fmt: skip
    assert installed("apt-get update && apt-get install -y --no-install-recommends a b && x") == [
        "a", "b",
    ]  # fmt: skip
    assert installed("apt-get -q install c; d") == ["c"]


def test_each_run_line_is_a_hook_in_the_root_filesystem_with_the_images_environment() -> None:
    found = plan("ARG BASE\nFROM ${BASE}\nENV A=1 B='two words'\nRUN echo \"$A\" > /a\n")
    assert found is not None
    argv = found.argv("mmdebstrap", "bookworm", Path("/t/rootfs.tar"), "http://mirror/debian")
    assert argv[0] == "mmdebstrap" and argv[1] == "--variant=minbase"
    assert argv[argv.index("--skip=cleanup/apt") + 1] == "--dpkgopt=force-unsafe-io"
    assert argv[-3:] == ["bookworm", "/t/rootfs.tar", "http://mirror/debian"]
    # mmdebstrap's own dpkg setting goes last: the image keeps only the Dockerfile's.
    assert argv[-4] == '--customize-hook=rm -f "$1"/etc/dpkg/dpkg.cfg.d/99mmdebstrap'
    (hook,) = [a.removeprefix("--customize-hook=") for a in argv if "chroot" in a]
    # mmdebstrap runs it with sh -c, the root filesystem as $1.
    words = shlex.split(hook.replace('"$1"', "/root-fs"))
    assert words[:4] == ["chroot", "/root-fs", "/usr/bin/env", "-i"]
    assert words[5:7] == ["A=1", "B=two words"]
    assert words[-3:] == ["/bin/sh", "-c", 'echo "$A" > /a']
    # docker build's PATH, where the Dockerfile sets none.
    assert found.changes == (f"ENV PATH={DEFAULT_PATH}", "ENV A=1", "ENV B='two words'")


def stand_in(tmp_path: Path) -> Path:
    """An mmdebstrap that records its command line and writes an empty root filesystem."""
    tool = tmp_path / "bin" / "mmdebstrap"
    tool.parent.mkdir()
    tool.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {tmp_path}/argv\n'
        'for arg; do case "$arg" in\n'
        '  */rootfs.tar) mkdir "$arg.d" && tar -C "$arg.d" -cf "$arg" . ;;\n'  # one pass
        '  */rootfs) mkdir "$arg" ;;\n'  # a base for the Dockerfile
        "esac; done\n"
        'echo "I: installing remaining"\n'
    )
    tool.chmod(0o755)
    return tool


def test_an_offline_recipe_is_one_mmdebstrap_run_imported_under_its_own_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKERLAB_ONE_PASS")
    tool = stand_in(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: str(tool) if name == "mmdebstrap" else None)
    engine, said = FakeEngine(), list[str]()
    recipe = catalogue()["debian12"]
    assert ImageBuilder(engine, said.append).ensure(recipe) == recipe.tag
    assert [c for c in engine.calls if c[0] == "build"] == []  # no docker build, no base
    (labels,) = [i.labels for i in engine.stored.values() if i.tags == (recipe.tag,)]
    assert labels[lbl.RECIPE_HASH] == recipe.digest
    assert labels[f"{lbl.NAMESPACE}.base"] == "mmdebstrap bookworm"
    argv = (tmp_path / "argv").read_text().splitlines()
    assert "--include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates," \
           "iproute2,procps" in argv  # fmt: skip
    assert said[0].startswith("building image debian12 as pytest-dockerlab/debian12:")
    assert "  debian12: installing remaining" in said
    assert said[-1].startswith("built image debian12 in ")


def test_one_pass_gives_way_to_a_registry_base_already_here_and_to_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = stand_in(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: str(tool) if name == "mmdebstrap" else None)
    recipe = catalogue()["debian12"]
    engine = FakeEngine()
    ImageBuilder(engine, lambda _: None).ensure(recipe)  # DOCKERLAB_ONE_PASS=off (conftest)
    assert not (tmp_path / "argv").exists()
    monkeypatch.delenv("DOCKERLAB_ONE_PASS")
    engine = FakeEngine()
    engine.tags.add("debian:12")
    ImageBuilder(engine, lambda _: None).ensure(recipe)
    assert not (tmp_path / "argv").exists()
    assert [c[1] for c in engine.calls if c[0] == "build"] == [f"{recipe.tag} BASE=debian:12"]


def test_a_suite_whose_merged_usr_is_debootstraps_own_builds_the_two_step_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKERLAB_ONE_PASS")
    tool = stand_in(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: str(tool) if name == "mmdebstrap" else None)
    engine = FakeEngine()
    ImageBuilder(engine, lambda _: None, base_source="bootstrap").ensure(catalogue()["debian11"])
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:2] == ["--variant=minbase", "bullseye"]  # a base, no packages
    (build,) = [c[1] for c in engine.calls if c[0] == "build"]
    assert (
        build.startswith("pytest-dockerlab/debian11:") and "BASE=pytest-dockerlab/rootfs-" in build
    )
