"""The converge cache key's blind spots: what a converge reads that the key once missed, and
what it must never open."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.runkey import RunKey, run_key, what_changed
from pytest_dockerlab.spec import load_lab_file

from .test_cache import BASES, VERSIONS, edit, lab_dir

__all__ = ["lab_dir"]  # the fixture, shared


def key(root: Path, environ: dict[str, str] | None = None, **kwargs: Any) -> RunKey:
    spec = load_lab_file(root / "dockerlab.yml")
    return run_key(
        spec, ("web", "db"), BASES, idempotence=False, tool_versions=VERSIONS,
        environ=environ or {}, **kwargs,
    )  # fmt: skip


def test_an_environment_variable_a_play_looks_up_is_part_of_the_key(lab_dir: Path) -> None:
    edit("roles/webapp/tasks/main.yml", "- debug: {msg: \"{{ lookup('env', 'APP_TOKEN') }}\"}\n")(
        lab_dir
    )
    first = key(lab_dir, {"APP_TOKEN": "a", "UNRELATED": "x"})
    assert key(lab_dir, {"APP_TOKEN": "a", "UNRELATED": "y"}).key == first.key
    second = key(lab_dir, {"APP_TOKEN": "b"})
    assert what_changed(first.manifest, second.manifest) == "changed environment variable APP_TOKEN"


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("roles/webapp/tasks/main.yml", "- debug: {msg: \"{{ lookup('ansible.legacy.env', "
         "'APP_TOKEN') }}\"}\n"),
        ("dockerlab.yml", None),  # a var of the lab file's own
    ],
)  # fmt: skip
def test_env_lookups_in_any_form_and_in_the_lab_file_count(
    lab_dir: Path, where: str, text: str | None
) -> None:
    if text is None:
        lab_file = (lab_dir / "dockerlab.yml").read_text()
        text = lab_file.replace(
            "{env: test}", "{env: test, token: \"{{ lookup('env', 'APP_TOKEN') }}\"}"
        )
        assert text != lab_file
    edit(where, text)(lab_dir)
    assert key(lab_dir, {"APP_TOKEN": "a"}).key != key(lab_dir, {"APP_TOKEN": "b"}).key


def test_names_built_at_run_time_are_listed_in_cache_env(lab_dir: Path) -> None:
    text = (lab_dir / "dockerlab.yml").read_text()
    edit("dockerlab.yml", text.replace("extra_vars:", "cache_env: [REGION]\n  extra_vars:"))(
        lab_dir
    )
    assert key(lab_dir, {"REGION": "eu"}).key != key(lab_dir, {"REGION": "us"}).key


def test_roles_a_config_mapping_or_the_environment_names_are_read(
    lab_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("roles")
    edit("extra/tasks/main.yml", "- debug: {}\n")(elsewhere)
    text = (lab_dir / "dockerlab.yml").read_text()
    mapping = text.replace(
        "extra_vars:", f"config: {{defaults: {{roles_path: {elsewhere}}}}}\n  extra_vars:"
    )
    edit("dockerlab.yml", mapping)(lab_dir)
    before = key(lab_dir)
    edit("extra/tasks/main.yml", "- debug: {msg: changed}\n")(elsewhere)
    assert key(lab_dir).key != before.key
    edit("dockerlab.yml", text)(lab_dir)
    environ = {"ANSIBLE_ROLES_PATH": f"{elsewhere}:/nonexistent"}
    before = key(lab_dir, environ)
    edit("extra/tasks/main.yml", "- debug: {msg: again}\n")(elsewhere)
    assert key(lab_dir, environ).key != before.key
    # A bare folder name, relative to where pytest runs.
    os.chdir(elsewhere.parent)
    environ = {"ANSIBLE_ROLES_PATH": elsewhere.name}
    before = key(lab_dir, environ)
    edit("extra/tasks/main.yml", "- debug: {msg: bare}\n")(elsewhere)
    assert key(lab_dir, environ).key != before.key


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        (".token", True),  # a hidden file a lookup reads
        ("fetch_latest.py", True),  # "test" in its name, but no test of pytest's
        ("attestation.py", True),
        ("test_web.py", False),
        ("web_test.py", False),
        ("conftest.py", False),
        (".git/config", False),  # a hidden folder
        ("license_key.txt", True),  # a document by its whole name only, not its first word
        ("settings.xml", True),  # an XML file a play copies (pytest's --junitxml is an output)
        ("LICENSE", False),
    ],
)
def test_only_pytests_own_files_and_hidden_folders_stay_out(
    lab_dir: Path, name: str, counts: bool
) -> None:
    edit(name, "one\n")(lab_dir)
    before = key(lab_dir)
    edit(name, "two\n")(lab_dir)
    assert (key(lab_dir).key != before.key) is counts


def test_the_plugins_own_artifacts_inside_the_lab_never_change_the_key(lab_dir: Path) -> None:
    """--dockerlab-artifacts art inside the lab folder: every run missed on its own output."""
    art = lab_dir / "art"
    before = key(lab_dir, outputs=[art])
    edit("art/dockerlab-1234abcd-main/hosts/web/journal.txt", "boot\n")(lab_dir)
    assert key(lab_dir, outputs=[art]).key == before.key


def test_what_cannot_be_read_is_never_opened_and_is_named(lab_dir: Path) -> None:
    """A FIFO would block the read forever, /dev/zero never end it; a link that loops or
    leads nowhere has no content. Each is named; the key is made all the same."""
    os.mkfifo(lab_dir / "roles" / "webapp" / "files" / "pipe")
    (lab_dir / "zero").symlink_to("/dev/zero")
    (lab_dir / "kmsg").symlink_to("/proc/kmsg")  # a regular file whose read blocks
    (lab_dir / "verify.yml").symlink_to("verify.yml")  # as a real role ships it
    (lab_dir / "gone.yml").symlink_to(lab_dir / "missing.yml")
    found: list[RunKey] = []
    worker = threading.Thread(target=lambda: found.append(key(lab_dir)), daemon=True)
    worker.start()
    worker.join(30)
    assert found, "the key's walk hung"
    assert found[0].skipped == {
        "roles/webapp/files/pipe": "a FIFO",
        "zero": "a link to a character device",
        "kmsg": "a link into /proc, /sys or /dev",
        "verify.yml": "a symlink loop",
        "gone.yml": "a link that leads nowhere",
    }


def test_a_miss_names_the_option_that_changed(lab_dir: Path) -> None:
    text = (lab_dir / "dockerlab.yml").read_text()
    before = key(lab_dir)
    edit("dockerlab.yml", text.replace("extra_vars:", "diff: true\n  extra_vars:"))(lab_dir)
    assert what_changed(before.manifest, key(lab_dir).manifest) == "changed ansible option diff"
