from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dockerlab.settings import discover_lab_file


def test_nearest_lab_file_to_the_tested_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dockerlab.yml").touch()
    (tmp_path / "examples" / "web").mkdir(parents=True)
    (tmp_path / "examples" / "dockerlab.yml").touch()
    monkeypatch.chdir(tmp_path)
    assert discover_lab_file(tmp_path, ["examples/web"]) == tmp_path / "examples" / "dockerlab.yml"
    assert discover_lab_file(tmp_path, ["."]) == tmp_path / "dockerlab.yml"


def test_no_lab_file_means_none_and_the_search_stops_at_the_rootdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dockerlab.yml").touch()  # above the rootdir: not ours
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    monkeypatch.chdir(root)
    assert discover_lab_file(root, ["tests"]) is None
