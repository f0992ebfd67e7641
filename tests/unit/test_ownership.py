"""Nothing is removed unless it is provably the plugin's: images by a name in the plugin's
repository (labels are inherited by what users build from ours), containers by their own
name in the NAME label (labels are inherited by containers started from a committed host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.cache import ENTRY, KEY, ConvergeCache, Stats
from pytest_dockerlab.cli.images import _images
from pytest_dockerlab.engine import ImageInfo
from pytest_dockerlab.images import catalogue

from .fakes import FakeEngine

OURS = {lbl.IMAGE: "debian12", lbl.RECIPE_HASH: "0ld"}


def image(image_id: str, tags: tuple[str, ...], labels: dict[str, str]) -> ImageInfo:
    return ImageInfo(image_id, tags, labels, 100_000_000, 1000.0, 0)


def test_images_prune_removes_ours_and_never_what_was_built_or_committed_from_ours() -> None:
    engine = FakeEngine()
    current = catalogue()["debian12"].tag
    engine.stored = {
        "sha256:old": image("sha256:old", ("pytest-dockerlab/debian12:000000000000",), OURS),
        "sha256:now": image("sha256:now", (current,), OURS),
        # FROM pytest-dockerlab/debian12:...: our labels, the user's name
        "sha256:app": image("sha256:app", ("myorg/app:1",), OURS),
        # docker commit of a kept host, untagged: our labels, no name at all
        "sha256:commit": image("sha256:commit", (), {**OURS, lbl.SESSION: "0123abcd"}),
    }
    assert _images(engine, "prune", [], "auto") == 0
    assert engine.removed_images == ["sha256:old"]
    assert _images(engine, "prune", [], "auto", prune_all=True) == 0
    assert engine.removed_images == ["sha256:old", "sha256:now"]
    assert set(engine.stored) == {"sha256:app", "sha256:commit"}


def test_images_prune_says_when_it_removed_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    engine = FakeEngine()
    current = catalogue()["debian12"].tag
    engine.stored = {"sha256:now": image("sha256:now", (current,), OURS)}
    assert _images(engine, "prune", [], "auto") == 0
    assert engine.removed_images == []
    assert capsys.readouterr().out == (
        "no image removed: none of ours is unused and outdated (--all takes current ones too)\n"
    )


def test_the_cache_never_takes_a_users_commit_of_a_cache_hit_host(tmp_path: Path) -> None:
    """A host started from an entry and committed by hand carries the entry's labels."""
    engine = FakeEngine()
    labels = {ENTRY: "true", KEY: "k" * 64, lbl.HOST: "web"}
    engine.stored = {
        "sha256:entry": image("sha256:entry", ("pytest-dockerlab/cache:kkkkkkkkkkkk-web",), labels),
        "sha256:users": image("sha256:users", ("myorg/web:converged",), labels),
    }
    cache = ConvergeCache(engine, lambda _: None, stats=Stats(tmp_path / "s.json"))
    assert [e.images["web"].id for e in cache.entries()] == ["sha256:entry"]
    cache.drop("k" * 64)
    assert set(engine.stored) == {"sha256:users"}


@pytest.mark.parametrize(
    ("name", "labels", "owned"),
    [
        ("dockerlab-0123abcd-main-web", {lbl.NAME: "dockerlab-0123abcd-main-web"}, True),
        # started from an image committed from that host: its labels, another name
        ("userbox", {lbl.NAME: "dockerlab-0123abcd-main-web", lbl.SESSION: "0123abcd"}, False),
        ("dockerlab-0123abcd-main-web", {lbl.SESSION: "0123abcd"}, True),  # made before NAME
        ("userbox", {lbl.SESSION: "0123abcd"}, False),
        ("pytest-dockerlab-lock-0011223344556677", {}, True),
    ],
)
def test_a_container_is_ours_by_its_own_name(
    name: str, labels: dict[str, str], owned: bool
) -> None:
    assert lbl.owned_container(name, labels) is owned
