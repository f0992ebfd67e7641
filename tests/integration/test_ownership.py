"""On a real engine: what users build from the plugin's images, commit from its hosts, or
start from such a commit carries the plugin's labels, and is never removed by it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.images import catalogue

pytestmark = pytest.mark.integration


def dockerlab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", *args], capture_output=True, text=True, cwd=cwd
    )


def test_users_images_and_containers_made_from_ours_are_never_ours_to_remove(
    docker_client: Any, tmp_path: Path
) -> None:
    base = catalogue()["debian12"].tag
    if not docker_client.images.list(name=base):
        assert dockerlab("images", "build", "debian12").returncode == 0
    mine = f"dockerlab-test-app:{os.getpid()}"
    built, _ = docker_client.images.build(
        fileobj=io.BytesIO(f"FROM {base}\nRUN true\n".encode()), tag=mine, rm=True
    )
    (tmp_path / "dockerlab.yml").write_text("hosts:\n  node: {image: debian12}\n")
    up = dockerlab("up", cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    session = re.search(r"kept lab ([0-9a-f]{8})", up.stdout)
    assert session, up.stdout
    sid = session[1]
    host = docker_client.containers.get(f"dockerlab-{sid}-main-node")
    committed = host.commit(repository=f"dockerlab-test-commit-{os.getpid()}", tag="1")
    box = docker_client.containers.create(committed.id, name=f"userbox-{os.getpid()}")
    try:
        assert box.labels[lbl.SESSION] == sid  # it carries the lab's labels all the same
        assert built.labels[lbl.IMAGE] == "debian12"
        pruned = dockerlab("images", "prune", "debian12")
        assert pruned.returncode == 0, pruned.stderr
        cleaned = dockerlab("clean", "--session", sid, "--force")
        assert cleaned.returncode == 0, cleaned.stderr
        assert f"removed session {sid}" in cleaned.stdout
        # The lab went; what the user made from it stayed.
        assert not docker_client.containers.list(all=True, filters={"name": f"dockerlab-{sid}"})
        docker_client.containers.get(box.id)
        docker_client.images.get(mine)
        docker_client.images.get(committed.id)
    finally:
        box.remove(force=True)
        docker_client.images.remove(committed.id, force=True)
        docker_client.images.remove(mine, force=True)
