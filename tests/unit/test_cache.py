"""The converge cache's key: what a converge reads changes it, nothing else does."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.cache import ConvergeCache, Stats
from pytest_dockerlab.runkey import RunKey, ansible_files, run_key, what_changed
from pytest_dockerlab.spec import load_lab_file

from .fakes import FakeEngine

LAB = """\
ansible:
  playbooks: [playbooks/site.yml]
  roles_path: [roles]
  extra_vars: {env: test}
hosts:
  web: {groups: [webservers], vars: {http_port: 80}}
  db: {groups: [dbservers]}
"""

FILES = {
    "playbooks/site.yml": "- hosts: all\n  roles: [webapp]\n",
    "playbooks/group_vars/all.yml": "greeting: hello\n",
    "playbooks/templates/motd.j2": "{{ greeting }}\n",
    "roles/webapp/tasks/main.yml": "- ansible.builtin.debug: {msg: hi}\n",
    "roles/webapp/templates/site.conf.j2": "listen {{ http_port }};\n",
    "roles/webapp/files/index.html": "<p>hello</p>\n",
    "roles/webapp/README.md": "# webapp\n",
    "roles/webapp/tests/test.yml": "- hosts: localhost\n",
    "roles/webapp/molecule/default/tests/test_default.py": "def test(): pass\n",
    "test_web.py": "def test_web(): pass\n",
    "conftest.py": "",
    "README.md": "# the lab\n",
}

VERSIONS = {"ansible-core": "2.17.0", "ansible-runner": "2.4.0", "pytest-dockerlab": "0.1"}
BASES = {"web": "sha256:base12", "db": "sha256:base12"}


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    (tmp_path / "dockerlab.yml").write_text(LAB)
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def key_of(root: Path, hosts: tuple[str, ...] = ("web", "db"), **kwargs: object) -> RunKey:
    spec = load_lab_file(root / "dockerlab.yml")
    options: dict[str, Any] = {"idempotence": False, "tool_versions": VERSIONS, **kwargs}
    return run_key(spec, hosts, BASES, **options)


def edit(relative: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)

    return change


def replace_in_lab(old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        lab_file = root / "dockerlab.yml"
        lab_file.write_text(lab_file.read_text().replace(old, new))

    return change


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (edit("roles/webapp/templates/site.conf.j2", "listen 8080;\n"), "site.conf.j2"),
        (edit("playbooks/group_vars/all.yml", "greeting: bye\n"), "group_vars/all.yml"),
        (edit("roles/webapp/tasks/main.yml", "- debug: {msg: bye}\n"), "tasks/main.yml"),
        (edit("roles/webapp/files/index.html", "<p>bye</p>\n"), "files/index.html"),
        (edit("roles/webapp/handlers/main.yml", "- name: h\n  debug: {}\n"), "handlers"),
        (edit("playbooks/templates/motd.j2", "{{ greeting }}!\n"), "motd.j2"),
        (edit("playbooks/tasks.yml", "- debug: {}\n"), "playbooks/tasks.yml"),
        (edit("playbooks/files/README.md", "copied by a task\n"), "files/README.md"),
        (edit("playbooks/ansible.cfg", "[defaults]\nforks=1\n"), "playbooks/ansible.cfg"),
        (edit("playbooks/scripts/setup.sh", "echo hi\n"), "scripts/setup.sh"),
        (edit("shared/vars.yml", "a: 1\n"), "shared/vars.yml"),
        (edit("playbooks/license.yml", "- debug: {}\n"), "playbooks/license.yml"),
        (edit("playbooks/tests/setup.yml", "- debug: {}\n"), "playbooks/tests/setup.yml"),
        (edit("playbooks/library/test_mod.py", "print(1)\n"), "library/test_mod.py"),
        (replace_in_lab("{env: test}", "{env: prod}"), "extra_vars"),
        (replace_in_lab("http_port: 80", "http_port: 81"), "host web"),
        (replace_in_lab("db: {groups: [dbservers]}", "db: {groups: [db]}"), "host db"),
        (
            replace_in_lab("web: {groups:", "web: {cpus: 1, groups:"),
            "host web",
        ),
    ],
    ids=[
        "role-template",
        "group-vars",
        "role-task",
        "role-file",
        "new-role-file",
        "playbook-template",
        "new-task-file",
        "file-named-like-docs",
        "ansible-cfg",
        "script-beside-the-playbook",
        "vars-outside-the-playbook-folder",
        "task-file-named-like-docs",
        "task-file-in-a-tests-folder",
        "module-named-like-a-test",
        "extra-var",
        "host-var",
        "other-host-group",
        "host-container-setting",
    ],
)
def test_what_a_converge_reads_changes_the_key_and_is_named(
    lab_dir: Path, change: Callable[[Path], None], named: str
) -> None:
    before = key_of(lab_dir)
    change(lab_dir)
    after = key_of(lab_dir)
    assert after.key != before.key
    assert named in what_changed(before.manifest, after.manifest)


def test_a_new_playbook_changes_the_key(lab_dir: Path) -> None:
    before = key_of(lab_dir)
    edit("playbooks/extra.yml", "- hosts: all\n  tasks: []\n")(lab_dir)
    replace_in_lab("[playbooks/site.yml]", "[playbooks/site.yml, playbooks/extra.yml]")(lab_dir)
    after = key_of(lab_dir)
    assert after.key != before.key
    assert "playbooks" in what_changed(before.manifest, after.manifest)


@pytest.mark.parametrize(
    "relative",
    [
        "test_web.py",
        "README.md",
        "conftest.py",
        "roles/webapp/README.md",
        "roles/webapp/tests/test.yml",
        "roles/webapp/molecule/default/tests/test_default.py",
        "docs/notes.md",
        "LICENSE",
        "pytest.log",
        "playbooks/site.yml~",
        ".pytest_cache/v/cache/lastfailed",
        "tests/test_web_tier.py",
    ],
)
def test_tests_and_docs_keep_the_key(lab_dir: Path, relative: str) -> None:
    before = key_of(lab_dir)
    edit(relative, "edited\n")(lab_dir)
    assert key_of(lab_dir).key == before.key


def test_only_content_counts_not_mtimes(lab_dir: Path) -> None:
    before = key_of(lab_dir)
    for path in lab_dir.rglob("*"):
        os.utime(path, (1, 1))
    assert key_of(lab_dir).key == before.key


def test_comments_in_the_lab_file_keep_the_key(lab_dir: Path) -> None:
    before = key_of(lab_dir)
    replace_in_lab("hosts:\n", "# the hosts\nhosts:\n")(lab_dir)
    assert key_of(lab_dir).key == before.key


def test_a_host_outside_the_run_counts_only_as_the_inventory_shows_it(lab_dir: Path) -> None:
    before = key_of(lab_dir, hosts=("web",))
    replace_in_lab("db: {groups: [dbservers]}", "db: {groups: [dbservers], cpus: 1}")(lab_dir)
    assert key_of(lab_dir, hosts=("web",)).key == before.key
    replace_in_lab("[dbservers]", "[db]")(lab_dir)
    assert key_of(lab_dir, hosts=("web",)).key != before.key


def test_ansible_environment_changes_the_key(
    lab_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = key_of(lab_dir)
    monkeypatch.setenv("ANSIBLE_JINJA2_NATIVE", "True")
    after = key_of(lab_dir)
    assert "Ansible's environment" in what_changed(before.manifest, after.manifest)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"idempotence": True},
        {"tool_versions": {**VERSIONS, "ansible-core": "2.18.0"}},
    ],
    ids=["idempotence", "ansible-version"],
)
def test_run_settings_change_the_key(lab_dir: Path, kwargs: dict[str, Any]) -> None:
    assert key_of(lab_dir, **kwargs).key != key_of(lab_dir).key


def test_the_limit_and_the_base_image_change_the_key(lab_dir: Path) -> None:
    spec = load_lab_file(lab_dir / "dockerlab.yml")
    both = run_key(spec, ("web", "db"), BASES, idempotence=False, tool_versions=VERSIONS)
    web = run_key(spec, ("web",), BASES, idempotence=False, tool_versions=VERSIONS)
    rebuilt = run_key(
        spec, ("web", "db"), {**BASES, "db": "sha256:new"}, idempotence=False,
        tool_versions=VERSIONS,
    )  # fmt: skip
    assert len({both.key, web.key, rebuilt.key}) == 3
    assert "base image of db" in what_changed(both.manifest, rebuilt.manifest)


def test_files_under_roles_path_and_beside_the_playbook_are_read(lab_dir: Path) -> None:
    spec = load_lab_file(lab_dir / "dockerlab.yml")
    names = {str(p.relative_to(lab_dir)) for p in ansible_files(spec, environ={}).files}
    assert {
        "playbooks/site.yml",
        "playbooks/group_vars/all.yml",
        "roles/webapp/templates/site.conf.j2",
        "roles/webapp/files/index.html",
    } <= names
    assert not {n for n in names if "test" in n or n.endswith(".md")}


def test_roles_an_ansible_cfg_names_are_read(
    lab_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("extroles")
    (elsewhere / "r2" / "tasks").mkdir(parents=True)
    (elsewhere / "r2" / "tasks" / "main.yml").write_text("- debug: {}\n")
    edit("playbooks/ansible.cfg", f"[defaults]\nroles_path = {elsewhere}:../roles\n")(lab_dir)
    before = key_of(lab_dir)
    (elsewhere / "r2" / "tasks" / "main.yml").write_text("- debug: {msg: changed}\n")
    assert key_of(lab_dir).key != before.key


def test_files_git_ignores_keep_the_key(lab_dir: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("no git here")
    subprocess.run(["git", "init", "-q", str(lab_dir)], check=True)
    edit(".gitignore", "/out/\n")(lab_dir)
    before = key_of(lab_dir)
    edit("out/result.json", "{}\n")(lab_dir)
    assert key_of(lab_dir).key == before.key


def test_a_symlinked_role_is_read_through_the_link(
    lab_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "linked"
    (outside / "tasks").mkdir(parents=True)
    (outside / "tasks" / "main.yml").write_text("- debug: {}\n")
    (lab_dir / "roles" / "linked").symlink_to(outside)
    before = key_of(lab_dir)
    (outside / "tasks" / "main.yml").write_text("- debug: {msg: changed}\n")
    assert key_of(lab_dir).key != before.key


def test_what_changed_is_short_when_much_changed() -> None:
    old = {f"file f{i}": "a" for i in range(10)}
    new = {f"file f{i}": "b" for i in range(10)}
    text = what_changed(old, new)
    assert text.startswith("changed f0; changed f1")
    assert text.endswith("(+6 more)")


def test_an_unreadable_file_is_content_too(lab_dir: Path) -> None:
    (lab_dir / "roles" / "webapp" / "tasks" / "gone.yml").symlink_to(lab_dir / "missing.yml")
    before = key_of(lab_dir)
    (lab_dir / "missing.yml").write_text(textwrap.dedent("- debug: {}\n"))
    assert key_of(lab_dir).key != before.key


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory) -> ConvergeCache:
    stats = Stats(tmp_path_factory.mktemp("stats") / "stats.json")
    return ConvergeCache(FakeEngine(), lambda _: None, stats=stats)


def store(cache: ConvergeCache, lab_dir: Path, hosts: tuple[str, ...] = ("web", "db")) -> RunKey:
    run = key_of(lab_dir, hosts=hosts)
    containers = {h: f"c-{h}" for h in hosts}
    cache.store(run, containers, {h: 200_000_000 for h in hosts}, lab_dir / "dockerlab.yml")
    return run


def test_a_stored_run_is_found_whole_and_a_missing_image_is_a_miss(
    cache: ConvergeCache, lab_dir: Path
) -> None:
    run = store(cache, lab_dir)
    found = cache.lookup(run)
    assert found is not None and set(found) == {"web", "db"}
    (entry,) = cache.entries()
    assert (entry.hosts, entry.hits, entry.size) == (("web", "db"), 1, 200_000_000)
    cache.engine.remove_image(found["db"])
    assert cache.lookup(run) is None


def test_a_miss_names_what_changed_since_the_newest_entry(
    cache: ConvergeCache, lab_dir: Path
) -> None:
    assert "no entry yet" in cache.why_missed(key_of(lab_dir), lab_dir / "dockerlab.yml")
    store(cache, lab_dir)
    edit("roles/webapp/templates/site.conf.j2", "listen 1;\n")(lab_dir)
    changed = key_of(lab_dir)
    assert cache.lookup(changed) is None
    why = cache.why_missed(changed, lab_dir / "dockerlab.yml")
    assert why == "changed roles/webapp/templates/site.conf.j2"


def test_over_the_cap_the_least_recently_used_entries_go(
    cache: ConvergeCache, lab_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(range(1_000, 10_000, 10))
    monkeypatch.setattr("pytest_dockerlab.cache.time.time", lambda: next(clock))
    cache.max_bytes = 1_000_000_000  # everything fits: 100MB over the base per host
    first = store(cache, lab_dir)
    store(cache, lab_dir, hosts=("web",))
    cache.lookup(first)  # used after the second: the second is now the oldest in use
    edit("playbooks/group_vars/all.yml", "greeting: bye\n")(lab_dir)
    cache.max_bytes = 400_000_000  # 500MB now: one entry must go
    third = store(cache, lab_dir)
    # The second was used last before the first's hit: it goes, not the older first.
    assert {e.key for e in cache.entries()} == {first.key, third.key}


def test_the_same_content_in_another_checkout_has_the_same_key(tmp_path: Path) -> None:
    """A CI runner's checkout and a laptop's share entries through a registry: no absolute
    path of this machine is in the key (roles paths, files outside the lab's folder, bind
    mounts)."""
    lab = tmp_path / "laptop" / "project" / "lab"
    text = LAB.replace("roles_path: [roles]", "roles_path: [roles, ../shared]").replace(
        "web: {groups", "web: {volumes: ['./fixtures:/srv/fixtures:ro'], groups"
    )
    for name, content in {**FILES, "dockerlab.yml": text, "../shared/vars.yml": "x: 1\n",
                          "fixtures/motd": "hello\n"}.items():  # fmt: skip
        edit(name, content)(lab)
    elsewhere = tmp_path / "runner" / "work" / "x" / "project"
    shutil.copytree(lab.parent, elsewhere)
    assert key_of(elsewhere / "lab").manifest == key_of(lab).manifest
