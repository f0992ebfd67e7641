from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.exceptions import ImageBuildError
from pytest_dockerlab.images import RECIPES_DIR, ImageBuilder, build_lock, cannot_run, catalogue
from pytest_dockerlab.spec import load_recipe

from .fakes import FakeEngine


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES_DIR, tmp_path / "recipes")
    return tmp_path / "recipes" / "debian12"


def test_catalogue_ships_debian12_with_systemd_and_both_bases() -> None:
    recipe = catalogue()["debian12"]
    assert recipe.init == "systemd"
    assert recipe.base == "debian:12"
    assert recipe.bootstrap == "bookworm"
    instructions = _instructions(recipe.dockerfile)
    assert "FROM ${BASE}" in instructions
    for package in ("systemd", "dbus", "python3", "sudo"):
        assert f" {package} " in instructions
    assert re.search(r"systemctl mask[\s\\]+getty\.target", instructions)


def _instructions(dockerfile: Path) -> str:
    """A Dockerfile without its comments: what the build really does."""
    lines = dockerfile.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def test_tag_follows_the_recipe_content(recipe_dir: Path) -> None:
    before = load_recipe(recipe_dir)
    assert before.tag == load_recipe(recipe_dir).tag  # stable
    assert before.tag.startswith("pytest-dockerlab/debian12:")
    with (recipe_dir / "recipe.yml").open("a") as handle:
        handle.write("# a comment is a change too\n")
    assert load_recipe(recipe_dir).tag != before.tag


def test_tag_follows_a_shared_dockerfile(tmp_path: Path) -> None:
    shutil.copytree(RECIPES_DIR, tmp_path / "recipes")
    before = load_recipe(tmp_path / "recipes" / "debian12")
    shared = tmp_path / "recipes" / "_common" / "apt-systemd.Dockerfile"
    assert before.dockerfile == shared
    shared.write_text(shared.read_text() + "RUN true\n")
    assert load_recipe(tmp_path / "recipes" / "debian12").tag != before.tag


def test_user_recipe_folders_extend_and_override_the_catalogue(recipe_dir: Path) -> None:
    mine = recipe_dir.parent / "mine"
    mine.mkdir()
    (mine / "Dockerfile").write_text("ARG BASE=debian:12\nFROM ${BASE}\n")
    recipes = catalogue([recipe_dir.parent])
    assert recipes["mine"].path == mine
    assert recipes["debian12"].path == recipe_dir


def test_a_built_tag_is_never_rebuilt() -> None:
    recipe = catalogue()["debian12"]
    engine = FakeEngine(images=[recipe.tag])
    assert ImageBuilder(engine, lambda _: None).ensure(recipe) == recipe.tag
    assert engine.calls == []


def test_the_build_lock_is_held_on_the_engine_while_building() -> None:
    recipe = catalogue()["debian12"]
    engine = FakeEngine(images=["debian:12"])
    held: list[dict[str, str]] = []
    engine.build = lambda *a, **k: held.extend(engine.locks.values())  # type: ignore[method-assign]
    owner = {lbl.SESSION: "0123abcd", lbl.OWNER_PID: "42", lbl.OWNER_HOST: "laptop"}
    ImageBuilder(engine, lambda _: None, owner=owner).ensure(recipe)
    assert [(h[lbl.LOCK], h[lbl.SESSION], h[lbl.OWNER_HOST]) for h in held] == [
        (recipe.tag, "0123abcd", "laptop")
    ]
    assert engine.locks == {}  # released


def held_by(engine: FakeEngine, tag: str, host: str, pid: int) -> str:
    """Another session's lock on ``tag``: returns its marker id."""
    with build_lock(engine, tag, lambda _: None):
        (name,) = engine.locks
    marker = engine.try_lock(name, {lbl.LOCK: tag, lbl.OWNER_HOST: host, lbl.OWNER_PID: str(pid)})
    assert marker is not None
    return marker


def test_a_lock_of_a_dead_process_on_this_machine_is_taken_over() -> None:
    engine, said = FakeEngine(), list[str]()
    dead = subprocess.Popen(["true"])
    dead.wait()
    held_by(engine, "img:1", socket.gethostname(), dead.pid)
    with build_lock(engine, "img:1", said.append):
        pass
    who = f"pid {dead.pid} on {socket.gethostname()}"
    assert said == [
        f"waiting for {who} to finish building img:1",
        f"taking over the build lock of img:1 from {who} (its process is gone)",
    ]
    assert engine.locks == {}


def test_a_lock_of_another_machine_is_waited_for_until_watched_too_long() -> None:
    """A remote holder's pid means nothing here, nor its clock: only how long this waiter
    has watched it hold the lock."""
    engine, said = FakeEngine(), list[str]()
    marker = held_by(engine, "img:1", "ci-runner-7", 1)
    threading.Timer(0.3, engine.unlock, [marker]).start()
    with build_lock(engine, "img:1", said.append, poll=0.05):
        pass
    assert said == ["waiting for pid 1 on ci-runner-7 to finish building img:1"]
    said.clear()
    held_by(engine, "img:1", "ci-runner-7", 1)
    with build_lock(engine, "img:1", said.append, poll=0.05, limit=0.2):
        pass
    assert said[0] == "waiting for pid 1 on ci-runner-7 to finish building img:1"
    assert said[-1] == (
        "taking over the build lock of img:1 from pid 1 on ci-runner-7 (held for 0 min)"
    )


def test_a_holder_releases_its_own_marker_only() -> None:
    """Taken over after a long wait, a slow first builder must not remove the new lock."""
    engine = FakeEngine()
    with build_lock(engine, "img:1", lambda _: None, limit=0):
        (name,) = engine.locks
        first = engine.locks[name]["id"]
        engine.unlock(first)  # as a waiter taking over would
        second = engine.try_lock(name, {lbl.LOCK: "img:1"})
    assert engine.lock_holder(name) == (second, {"id": second, lbl.LOCK: "img:1"})


def test_registry_base_is_used_when_it_is_already_there() -> None:
    recipe = catalogue()["debian12"]
    engine = FakeEngine(images=["debian:12"])
    ImageBuilder(engine, lambda _: None).ensure(recipe)
    assert engine.calls == [("build", f"{recipe.tag} BASE=debian:12")]


def test_an_offline_rootfs_already_imported_beats_a_pull(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = catalogue()["debian12"]
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/sbin/{name}")
    rootfs = ImageBuilder._rootfs_tag("bookworm", "/usr/sbin/debootstrap")
    engine = FakeEngine(images=[rootfs])
    ImageBuilder(engine, lambda _: None).ensure(recipe)
    assert engine.calls == [("build", f"{recipe.tag} BASE={rootfs}")]


def test_no_base_anywhere_names_every_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = catalogue()["debian12"]
    monkeypatch.setattr("shutil.which", lambda _: None)
    engine = FakeEngine(pull_error="dial tcp: lookup registry: no such host")
    with pytest.raises(ImageBuildError) as info:
        ImageBuilder(engine, lambda _: None).ensure(recipe)
    message = str(info.value)
    assert "cannot build image 'debian12'" in message
    assert "pull debian:12 failed: dial tcp" in message
    assert "apt-get install debootstrap" in message


def test_registry_only_source_does_not_bootstrap() -> None:
    recipe = catalogue()["debian12"]
    engine = FakeEngine(pull_error="no registry")
    with pytest.raises(ImageBuildError, match=r"pull debian:12 failed: no registry$"):
        ImageBuilder(engine, lambda _: None, base_source="registry").ensure(recipe)


CATALOGUE = {
    "debian11": ("systemd", "debian:11", "bullseye"),
    "debian12": ("systemd", "debian:12", "bookworm"),
    "debian13": ("systemd", "debian:13", "trixie"),
    "debian12-sysvinit": ("sysvinit", "debian:12", "bookworm"),
    "centos6": ("sysvinit", "centos:6", ""),
    "centos7": ("systemd", "centos:7", ""),
    "rockylinux9": ("systemd", "rockylinux:9", ""),
    "ubuntu2204": ("systemd", "ubuntu:22.04", ""),
    "ubuntu2404": ("systemd", "ubuntu:24.04", ""),
}


def test_the_catalogue_lists_every_image_with_its_init_and_bases() -> None:
    recipes = catalogue()
    assert {n: (r.init, r.base, r.bootstrap) for n, r in recipes.items()} == CATALOGUE


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_recipe_is_buildable_from_either_base_and_ready_for_ansible(name: str) -> None:
    recipe = catalogue()[name]
    dockerfile = _instructions(recipe.dockerfile)
    lines = [line for line in dockerfile.splitlines() if line]
    assert lines[0] in (f"ARG BASE={recipe.base}", "ARG BASE")
    assert lines[1] == "FROM ${BASE}"
    flat = " ".join(dockerfile.split())
    assert re.search(r"\b(apt-get|yum|dnf)\b.*\binstall\b.*\bsudo\b", flat)
    assert re.search(r"\binstall\b.*\bpython", flat)
    assert "CMD [" in dockerfile
    # No consoles in a container: gettys are masked or removed.
    assert re.search(r"getty|tty\.conf", dockerfile)
    if recipe.init == "systemd":
        assert "STOPSIGNAL SIGRTMIN+3" in dockerfile
    # Distinct recipes never share a tag.
    assert len({r.tag for r in catalogue().values()}) == len(CATALOGUE)


def test_centos7_is_refused_on_cgroup_v2_with_the_reason() -> None:
    from pytest_dockerlab.profiles import EngineFacts

    centos7 = catalogue()["centos7"]
    reason = cannot_run(centos7, EngineFacts(cgroup_version=2))
    assert reason == (
        "image centos7 cannot boot on this cgroup v2 host: systemd 219 cannot boot on a "
        'cgroup v2 host (podman#5153, "can not fix")'
    )
    assert cannot_run(centos7, EngineFacts(cgroup_version=1)) == ""
    assert cannot_run(catalogue()["debian12"], EngineFacts(cgroup_version=2)) == ""


def test_python_interpreter_follows_the_image() -> None:
    recipes = catalogue()
    assert recipes["centos6"].python == "/usr/bin/python"
    assert recipes["debian12"].python == "/usr/bin/python3"


def test_info_says_how_each_image_runs_or_why_it_cannot() -> None:
    from pytest_dockerlab.images import describe_engine
    from pytest_dockerlab.profiles import EngineFacts

    recipes = catalogue()
    v2 = EngineFacts(version="27.3.1", cgroup_version=2, operating_system="Ubuntu 24.04")
    lines = describe_engine(FakeEngine(images=[recipes["debian12"].tag], facts=v2), recipes)
    assert lines[:2] == ["engine: fake://: docker 27.3.1, cgroup v2", "engine host: Ubuntu 24.04"]
    by_name = {line.split()[0]: line for line in lines[2:]}
    assert by_name["debian12"].split()[1:4] == ["systemd", "built", "profile"]
    assert "cgroup2: -e container=docker" in by_name["debian12"]
    assert (
        "not built  cannot run: image centos7 cannot boot on this cgroup v2 host"
        in (by_name["centos7"])
    )
    assert "profile sysvinit:" in by_name["debian12-sysvinit"]


def test_a_failed_build_errors_its_hosts_once_per_session_and_is_not_a_skip() -> None:
    """Hosts that join later (an xdist worker's) get the same error, not another build."""
    recipe = catalogue()["debian12"]
    engine = FakeEngine(images=["debian:12"])
    builds: list[str] = []

    def broken(*args: object, **kwargs: object) -> None:
        builds.append(recipe.tag)
        raise ImageBuildError(recipe.tag, "apt-get exited 100")

    engine.build = broken  # type: ignore[method-assign]
    builder = ImageBuilder(engine, lambda _: None)
    for _ in range(2):
        tags, unavailable, failed = builder.prepare([recipe])
        assert (tags, unavailable) == ({}, {})
        assert str(failed["debian12"]).startswith(f"cannot build image {recipe.tag!r}")
    assert builds == [recipe.tag]


def test_an_image_whose_base_no_source_here_has_is_a_skip_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe = catalogue()["debian12"]
    monkeypatch.setattr("shutil.which", lambda _: None)
    engine = FakeEngine(pull_error="no registry")
    tags, unavailable, failed = ImageBuilder(engine, lambda _: None).prepare([recipe])
    assert (tags, failed) == ({}, {})
    assert "no base image: pull debian:12 failed: no registry" in unavailable["debian12"]
