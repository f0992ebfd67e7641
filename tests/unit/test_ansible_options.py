"""Ansible's options in the lab file, its deprecations, and ansible-galaxy's failures."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest

from pytest_dockerlab.ansible import deprecations, write_config
from pytest_dockerlab.exceptions import AnsibleDeprecationWarning, LabFileError
from pytest_dockerlab.outcomes import warn_deprecations
from pytest_dockerlab.project import _galaxy_failure
from pytest_dockerlab.results import Deprecation
from pytest_dockerlab.spec import RunOptions, load_lab_file

if TYPE_CHECKING:
    from pytest_dockerlab.converge import Converger

HOST = "hosts:\n  web: {}\n"


def lab(tmp_path: Path, ansible: str) -> Path:
    (tmp_path / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    (tmp_path / "dockerlab.yml").write_text(f"ansible:\n{ansible}{HOST}")
    return tmp_path / "dockerlab.yml"


def test_options_read_as_the_command_line_would_say_them(tmp_path: Path) -> None:
    (tmp_path / "vault-pass").write_text("secret\n")
    (tmp_path / "requirements.yml").write_text("roles: []\n")
    spec = load_lab_file(
        lab(
            tmp_path,
            "  playbooks: [site.yml]\n  prepare: site.yml\n  cleanup: [site.yml]\n"
            "  requirements: requirements.yml\n  check: true\n  diff: true\n  tags: web\n"
            "  skip_tags: [slow, flaky]\n  verbosity: 3\n  vault_password_file: vault-pass\n"
            "  config: {defaults: {forks: 10}}\n  env: {HTTP_PROXY: 'http://p:3128'}\n",
        )
    )
    ansible = spec.ansible
    assert ansible.prepare == ansible.cleanup == (tmp_path / "site.yml",)
    assert ansible.requirements == (tmp_path / "requirements.yml",)
    assert ansible.run == RunOptions(
        check=True,
        diff=True,
        tags=("web",),
        skip_tags=("slow", "flaky"),
        verbosity=3,
        vault_password_file=tmp_path / "vault-pass",
        config={"defaults": {"forks": 10}},
        env={"HTTP_PROXY": "http://p:3128"},
    )


@pytest.mark.parametrize(
    ("ansible", "message"),
    [
        ("  verbosity: 9\n", "ansible.verbosity: must be a number from 0 to 6"),
        ("  verbosity: yes\n", "ansible.verbosity: must be a number from 0 to 6"),
        ("  check: maybe\n", "ansible.check: must be true or false, not a string"),
        ("  config: [forks]\n", "ansible.config: must be an ansible.cfg path or a mapping"),
        ("  config: {defaults: 10}\n", "ansible.config.defaults: must be a mapping"),
        ("  config: missing.cfg\n", "ansible.config: file not found: "),
        ("  requirements: nope.yml\n", "ansible.requirements: file not found: "),
        ("  prepare: [nope.yml]\n", "ansible.prepare[0]: playbook not found: "),
        ("  tags: [web, '']\n", "ansible.tags[1]: must be a tag"),
    ],
)
def test_bad_options_name_the_key_and_the_cause(tmp_path: Path, ansible: str, message: str) -> None:
    with pytest.raises(LabFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_lab_file(lab(tmp_path, ansible))


def test_a_config_mapping_becomes_an_ansible_cfg(tmp_path: Path) -> None:
    written = write_config(
        tmp_path / "ansible.cfg",
        {"defaults": {"forks": 10, "callbacks_enabled": ["timer", "profile_tasks"]},
         "ssh_connection": {"pipelining": True}},
    )  # fmt: skip
    assert written.read_text() == (
        "[defaults]\nforks = 10\ncallbacks_enabled = timer,profile_tasks\n"
        "[ssh_connection]\npipelining = True\n"
    )


def test_deprecation_warnings_are_read_whole_and_once() -> None:
    output = """PLAY [all] ***
[DEPRECATION WARNING]: The 'include' module is deprecated. This feature will be
 removed in version 2.19.
TASK [x] ***
[DEPRECATION WARNING]: The 'include' module is deprecated. This feature will be
 removed in version 2.19.
[DEPRECATION WARNING]: Another one.
ok: [web]
"""
    assert deprecations(output) == [
        Deprecation(
            "The 'include' module is deprecated. This feature will be removed in version 2.19."
        ),
        Deprecation(
            "The 'include' module is deprecated. This feature will be removed in version 2.19.",
            task="x",
        ),
        Deprecation("Another one.", task="x"),
    ]


def test_a_deprecation_keeps_the_file_and_line_ansible_names() -> None:
    """ansible-core 2.19 says where: the warning points there, not at the plugin."""
    output = """TASK [web : install] ***
[DEPRECATION WARNING]: Merging legacy k=v args ('msg') into task args. This feature will be removed from ansible-core version 2.23.
Origin: /role/tasks/main.yml:7:14

5         msg: "{{ ansible_distribution }}"
"""  # noqa: E501
    assert deprecations(output) == [
        Deprecation(
            "Merging legacy k=v args ('msg') into task args. This feature will be removed "
            "from ansible-core version 2.23.",
            file="/role/tasks/main.yml",
            line=7,
            task="web : install",
        )
    ]


@pytest.mark.parametrize(
    ("output", "requirement", "cause"),
    [
        (
            "Starting galaxy role install process\n[WARNING]: - acme.base was NOT installed "
            "successfully: Unknown error when attempting to call Galaxy\n[ERROR]: - you can use "
            "--ignore-errors to skip failed roles and finish processing the list.\n",
            "acme.base",
            "Unknown error when attempting to call Galaxy",
        ),
        (
            "Starting galaxy collection install process\n[ERROR]: Unable to find collection "
            "artifact file at './nope-1.0.0.tar.gz'.\n",
            "",
            "Unable to find collection artifact file at './nope-1.0.0.tar.gz'.",
        ),
    ],
)
def test_galaxy_failures_name_the_requirement_and_the_cause(
    output: str, requirement: str, cause: str
) -> None:
    assert _galaxy_failure(output) == (requirement, cause)


def test_a_deprecation_warning_is_reported_at_the_playbook_line() -> None:
    """pytest's warnings summary names the task's file and line, not a line of the plugin."""
    converger = SimpleNamespace(
        deprecations=[
            Deprecation("old k=v args", file="/role/tasks/main.yml", line=7),
            Deprecation("no origin", task="web : install"),
        ]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_deprecations(cast("Converger", converger))
    assert (caught[0].filename, caught[0].lineno) == ("/role/tasks/main.yml", 7)
    assert str(caught[1].message) == "no origin (task web : install)"
    assert all(w.category is AnsibleDeprecationWarning for w in caught)
    assert converger.deprecations == []
