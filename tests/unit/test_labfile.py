from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_dockerlab.exceptions import LabFileError
from pytest_dockerlab.labfile import (
    DEFAULT_IMAGE,
    AnsibleSpec,
    ImagesSpec,
    load_lab_file,
    parse_lab,
)


def write_lab(folder: Path, text: str | bytes) -> Path:
    """A lab file in ``folder``, beside a playbook (playbooks/site.yml) and a recipes folder."""
    (folder / "playbooks").mkdir(exist_ok=True)
    (folder / "playbooks" / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    (folder / "recipes" / "mine").mkdir(parents=True, exist_ok=True)
    path = folder / "dockerlab.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


TWO_HOSTS = """
hosts:
  web:
    image: debian12
    groups: [webservers, frontends]
    vars: {http_port: 80}
  db:
    groups: dbservers
    privileged: true
    env: {TZ: UTC}
"""

EVERY_SECTION = """
image: debian11
ansible:
  playbooks: [playbooks/site.yml]
  roles_path: [roles, /opt/roles]
  extra_vars: {env: test, nested: {ports: [80, 443]}}
images:
  recipes: [recipes]
  matrix: [debian11, debian12]
hosts:
  web:
    image: debian12
    groups: [webservers, frontends, webservers]
    vars: {http_port: 80}
    privileged: true
    env: {TZ: UTC, WORKERS: 4, RATIO: 1.5, FLAG: "yes"}
"""

# Every lab file here must load; tests/unit/test_schema.py checks the JSON Schema agrees.
GOOD_LABS = {
    "two hosts": TWO_HOSTS,
    "every section": EVERY_SECTION,
    "a host without settings": "hosts:\n  solo:\n",
    "default image and a pinned host": (
        "image: debian11\nhosts:\n  web: {}\n  db: {image: debian12}\n"
    ),
    "paths as lone strings": (
        "ansible:\n  playbooks: playbooks/site.yml\n  roles_path: roles\nhosts:\n  a:\n"
    ),
    "empty sections": "ansible:\nimages:\nhosts:\n  a:\n    vars:\n    env:\n",
    "empty lists": "ansible: {playbooks: []}\nimages: {recipes: [], matrix: []}\nhosts:\n  a:\n",
    "quoted names YAML would read otherwise": (
        "hosts:\n  'on': {}\n  \"123\": {}\n  'null':\n    vars: {'1': one}\n"
    ),
    "settings shared through an anchor": (
        "hosts:\n"
        "  web: &base\n    groups: [app]\n    env: {TZ: UTC}\n"
        "  db:\n    <<: *base\n    image: debian11\n"
    ),
    "a longest host name": f"hosts:\n  {'a' * 63}:\n",
    "a byte order mark": "\ufeffhosts:\n  a:\n",
}


@pytest.mark.parametrize("text", GOOD_LABS.values(), ids=list(GOOD_LABS))
def test_good_labs_load(tmp_path: Path, text: str) -> None:
    spec = load_lab_file(write_lab(tmp_path, text))
    assert spec.host_names
    assert spec.path == tmp_path / "dockerlab.yml"


def test_reads_hosts_in_file_order_with_their_settings(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, TWO_HOSTS))
    assert spec.host_names == ("web", "db")
    assert spec.root == tmp_path
    web, db = spec.hosts["web"], spec.hosts["db"]
    assert web.groups == ("webservers", "frontends")
    assert web.vars == {"http_port": 80}
    assert db.image == DEFAULT_IMAGE
    assert db.groups == ("dbservers",)
    assert db.privileged is True
    assert db.env == {"TZ": "UTC"}
    assert spec.ansible == AnsibleSpec()
    assert spec.images == ImagesSpec()


def test_every_section_becomes_typed_settings(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, EVERY_SECTION))
    assert spec.ansible == AnsibleSpec(
        playbooks=(tmp_path / "playbooks" / "site.yml",),
        roles_path=(tmp_path / "roles", Path("/opt/roles")),
        extra_vars={"env": "test", "nested": {"ports": [80, 443]}},
    )
    assert spec.images == ImagesSpec(
        recipes=(tmp_path / "recipes",), matrix=("debian11", "debian12")
    )
    web = spec.hosts["web"]
    assert web.groups == ("webservers", "frontends")  # a repeated group counts once
    assert web.env == {"TZ": "UTC", "WORKERS": "4", "RATIO": "1.5", "FLAG": "yes"}
    assert web.pinned


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("lone strings", GOOD_LABS["paths as lone strings"]),
        (
            "lists",
            "ansible:\n  playbooks: [playbooks/site.yml]\n  roles_path: [roles]\nhosts:\n  a:\n",
        ),
    ],
)
def test_ansible_paths_are_a_string_or_a_list(tmp_path: Path, name: str, text: str) -> None:
    spec = load_lab_file(write_lab(tmp_path, text))
    assert spec.ansible.playbooks == (tmp_path / "playbooks" / "site.yml",)
    assert spec.ansible.roles_path == (tmp_path / "roles",)


def test_empty_sections_mean_the_defaults(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, GOOD_LABS["empty sections"]))
    assert spec.ansible == AnsibleSpec()
    assert spec.images == ImagesSpec()
    assert spec.hosts["a"].vars == {}
    assert spec.hosts["a"].env == {}


def test_quoted_names_are_names(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, GOOD_LABS["quoted names YAML would read otherwise"]))
    assert spec.host_names == ("on", "123", "null")
    assert spec.hosts["null"].vars == {"1": "one"}


def test_hosts_can_share_settings_through_an_anchor(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, GOOD_LABS["settings shared through an anchor"]))
    db = spec.hosts["db"]
    assert (db.groups, db.env, db.image) == (("app",), {"TZ": "UTC"}, "debian11")


def test_lab_default_image_and_pinned_hosts(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, GOOD_LABS["default image and a pinned host"]))
    assert spec.hosts["web"].image == "debian11"
    assert not spec.hosts["web"].pinned
    assert spec.hosts["db"].pinned
    moved = spec.on_image("debian13")
    assert moved.hosts["web"].image == "debian13"
    assert moved.hosts["db"].image == "debian12"  # a pinned host keeps its image
    assert spec.hosts["web"].image == "debian11"  # the original is unchanged


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LabFileError) as info:
        load_lab_file(tmp_path / "nope.yml")
    assert str(info.value) == f"lab file {tmp_path / 'nope.yml'}: file not found"
    assert info.value.line is None


def test_a_folder_is_not_a_lab_file(tmp_path: Path) -> None:
    with pytest.raises(LabFileError) as info:
        load_lab_file(tmp_path)
    assert str(info.value) == f"lab file {tmp_path}: cannot read it: Is a directory"


# Why a JSON Schema cannot catch a case; the parser alone refuses those.
FILES = "names a file or folder that is not there"
DUPLICATES = "a key written twice (a YAML loader keeps the last)"
ENCODING = "not UTF-8"
SYNTAX = "not YAML"


@dataclass(frozen=True)
class BadLab:
    id: str
    text: str | bytes
    line: int | None
    problem: str  # what follows "lab file PATH[, line N]: "; <root> is the lab file's folder
    parser_only: str = ""  # why the JSON Schema cannot see it (one of the reasons above)


DNS = "(lower-case letters, digits and '-', at most 63 characters)"
GROUP = "(letters, digits and '_', not starting with a digit; not 'all' or 'ungrouped')"
HOST = "hosts:\n  web:\n"

# Every row is refused by the parser with exactly this message, and by the JSON Schema
# unless it is marked parser_only (tests/unit/test_schema.py).
BAD_LABS = [
    # the document
    BadLab(
        "empty file",
        "",
        None,
        "the file is empty; a lab needs a 'hosts' mapping of host name to settings",
    ),
    BadLab(
        "only comments",
        "# hosts to come\n",
        None,
        "the file is empty; a lab needs a 'hosts' mapping of host name to settings",
    ),
    BadLab(
        "top level a list",
        "- web\n- db\n",
        1,
        "the top level must be a mapping with a 'hosts' key, not a list",
    ),
    BadLab(
        "unknown top-level keys",
        "hostz:\n  web: {}\nhosts:\n  web: {}\nimage_: debian12\n",
        1,
        "unknown keys 'hostz', 'image_' at the top level (allowed: ansible, hosts, image, images)",
    ),
    BadLab(
        "no hosts",
        "image: debian12\n",
        None,
        "no 'hosts': a lab needs a mapping of host name to settings",
    ),
    BadLab(
        "hosts a list",
        "hosts: [web, db]\n",
        1,
        "hosts: must be a mapping of host name to settings, not a list",
    ),
    BadLab(
        "hosts null",
        "image: debian12\nhosts:\n",
        2,
        "hosts: must be a mapping of host name to settings, not empty",
    ),
    BadLab("hosts empty", "hosts: {}\n", 1, "hosts: must name at least one host"),
    BadLab(
        "default image a number",
        f"image: 12\n{HOST}",
        1,
        "image: must be an image name (the lab's default image), not a number",
    ),
    # host names
    BadLab(
        "host name not a DNS label",
        "hosts:\n  web: {}\n  Web_1: {}\n",
        3,
        f"hosts: host name 'Web_1' is not a valid DNS label {DNS}",
    ),
    BadLab(
        "host name too long",
        f"hosts:\n  {'a' * 64}: {{}}\n",
        2,
        f"hosts: host name '{'a' * 64}' is not a valid DNS label {DNS}",
    ),
    BadLab(
        "host name ending in a dash",
        "hosts:\n  web-: {}\n",
        2,
        f"hosts: host name 'web-' is not a valid DNS label {DNS}",
    ),
    BadLab(
        "host name on",
        "hosts:\n  on: {}\n",
        2,
        "hosts: host name 'on' is read by YAML as a boolean; quote it ('on') or pick another name",
    ),
    BadLab(
        "host name yes",
        "hosts:\n  web:\n  yes:\n",
        3,
        "hosts: host name 'yes' is read by YAML as a boolean; "
        "quote it ('yes') or pick another name",
    ),
    BadLab(
        "host name 123",
        "hosts:\n  123:\n    groups: [app]\n",
        2,
        "hosts: host name '123' is read by YAML as a number; quote it ('123') or pick another name",
    ),
    BadLab(
        "host name null",
        "hosts:\n  null: {}\n",
        2,
        "hosts: host name 'null' is read by YAML as null; quote it ('null') or pick another name",
    ),
    BadLab(
        "host name 1.5",
        "hosts:\n  1.5: {}\n",
        2,
        f"hosts: host name '1.5' is not a valid DNS label {DNS}",
    ),
    # host settings
    BadLab(
        "settings a list",
        "hosts:\n  web: [debian12]\n",
        2,
        "hosts.web: settings must be a mapping, not a list",
    ),
    BadLab(
        "unknown host key",
        f"{HOST}    image: debian12\n    imag: debian11\n",
        4,
        "hosts.web: unknown key 'imag' (allowed: env, groups, image, privileged, vars)",
    ),
    BadLab(
        "image empty",
        "hosts:\n  web: {image: ''}\n",
        2,
        "hosts.web.image: must be an image name, not an empty string",
    ),
    BadLab(
        "image null", f"{HOST}    image:\n", 3, "hosts.web.image: must be an image name, not empty"
    ),
    BadLab(
        "image a date",
        f"{HOST}    image: 2024-01-01\n",
        3,
        "hosts.web.image: must be an image name, not a date",
    ),
    BadLab(
        "groups a number",
        f"{HOST}    groups: 7\n",
        3,
        "hosts.web.groups: must be a list of group names, not a number",
    ),
    BadLab(
        "groups null",
        f"{HOST}    groups:\n",
        3,
        "hosts.web.groups: must be a list of group names, not empty",
    ),
    BadLab(
        "group a number",
        f"{HOST}    groups:\n      - webservers\n      - 1\n",
        5,
        "hosts.web.groups[1]: must be a group name, not a number",
    ),
    BadLab(
        "group all",
        "hosts:\n  web: {groups: [all]}\n",
        2,
        f"hosts.web.groups[0]: 'all' is not a usable Ansible group name {GROUP}",
    ),
    BadLab(
        "group starting with a digit",
        "hosts:\n  web: {groups: [app, 1web]}\n",
        2,
        f"hosts.web.groups[1]: '1web' is not a usable Ansible group name {GROUP}",
    ),
    BadLab(
        "lone group ungrouped",
        f"{HOST}    groups: ungrouped\n",
        3,
        f"hosts.web.groups: 'ungrouped' is not a usable Ansible group name {GROUP}",
    ),
    BadLab(
        "privileged a string",
        "hosts:\n  web: {privileged: 'yes'}\n",
        2,
        "hosts.web.privileged: must be true or false, not a string",
    ),
    BadLab(
        "vars a list",
        "hosts:\n  web: {vars: [a]}\n",
        2,
        "hosts.web.vars: must be a mapping of variable name to value, not a list",
    ),
    BadLab(
        "var name a number",
        f"{HOST}    vars:\n      http_port: 80\n      1: one\n",
        5,
        "hosts.web.vars: variable name '1' is read by YAML as a number; "
        "quote it or pick another name",
    ),
    BadLab(
        "env a list",
        f"{HOST}    env: [TZ=UTC]\n",
        3,
        "hosts.web.env: must be a mapping of variable name to value, not a list",
    ),
    BadLab(
        "env value yes",
        f"{HOST}    env:\n      TZ: UTC\n      DEBUG: yes\n",
        5,
        "hosts.web.env.DEBUG: must be a string or a number, not a boolean; "
        "quote it ('yes') to pass it as written",
    ),
    BadLab(
        "env value empty",
        f"{HOST}    env: {{DEBUG: }}\n",
        3,
        "hosts.web.env.DEBUG: must be a string or a number, not empty",
    ),
    BadLab(
        "env value a mapping",
        f"{HOST}    env: {{A: {{b: c}}}}\n",
        3,
        "hosts.web.env.A: must be a string or a number, not a mapping",
    ),
    BadLab(
        "env name with =",
        f"{HOST}    env: {{'A=B': c}}\n",
        3,
        "hosts.web.env: 'A=B' is not a usable environment variable name (not empty, no '=')",
    ),
    # ansible
    BadLab(
        "ansible a list",
        f"ansible: [playbooks/site.yml]\n{HOST}",
        1,
        "ansible: must be a mapping, not a list",
    ),
    BadLab(
        "unknown ansible key",
        f"ansible:\n  playbook: playbooks/site.yml\n{HOST}",
        2,
        "ansible: unknown key 'playbook' (allowed: extra_vars, playbooks, roles_path)",
    ),
    BadLab(
        "playbooks a number",
        f"ansible: {{playbooks: 5}}\n{HOST}",
        1,
        "ansible.playbooks: must be a list of paths, not a number",
    ),
    BadLab(
        "playbook an empty string",
        f"ansible:\n  playbooks: ['']\n{HOST}",
        2,
        "ansible.playbooks[0]: must be a path, not an empty string",
    ),
    BadLab(
        "roles_path a mapping",
        f"ansible:\n  roles_path: {{a: b}}\n{HOST}",
        2,
        "ansible.roles_path: must be a list of paths, not a mapping",
    ),
    BadLab(
        "extra_vars a list",
        f"ansible:\n  extra_vars: [env=test]\n{HOST}",
        2,
        "ansible.extra_vars: must be a mapping of variable name to value, not a list",
    ),
    BadLab(
        "missing playbook",
        f"ansible:\n  playbooks:\n    - playbooks/site.yml\n    - playbooks/nope.yml\n{HOST}",
        4,
        "ansible.playbooks[1]: playbook not found: <root>/playbooks/nope.yml",
        parser_only=FILES,
    ),
    BadLab(
        "playbook a folder",
        f"ansible:\n  playbooks: playbooks\n{HOST}",
        2,
        "ansible.playbooks: <root>/playbooks is a folder, not a playbook",
        parser_only=FILES,
    ),
    # images
    BadLab(
        "images a list", f"images: [debian12]\n{HOST}", 1, "images: must be a mapping, not a list"
    ),
    BadLab(
        "unknown images key",
        f"images:\n  matrx: [debian12]\n{HOST}",
        2,
        "images: unknown key 'matrx' (allowed: matrix, recipes)",
    ),
    BadLab(
        "matrix a string",
        f"images: {{matrix: debian11}}\n{HOST}",
        1,
        "images.matrix: must be a list of image names, not a string",
    ),
    BadLab(
        "matrix item a number",
        f"images:\n  matrix: [debian12, 12]\n{HOST}",
        2,
        "images.matrix[1]: must be an image name, not a number",
    ),
    BadLab(
        "matrix image twice",
        f"images:\n  matrix:\n    - debian12\n    - debian11\n    - debian12\n{HOST}",
        5,
        "images.matrix[2]: 'debian12' is listed twice",
    ),
    BadLab(
        "recipes a string",
        f"images: {{recipes: recipes}}\n{HOST}",
        1,
        "images.recipes: must be a list of folders, not a string",
    ),
    BadLab(
        "recipes null",
        f"images:\n  recipes:\n{HOST}",
        2,
        "images.recipes: must be a list of folders, not empty",
    ),
    BadLab(
        "missing recipes folder",
        f"images:\n  recipes: [recipes, nope]\n{HOST}",
        2,
        "images.recipes[1]: no such folder: <root>/nope",
        parser_only=FILES,
    ),
    BadLab(
        "recipes a file",
        f"images:\n  recipes:\n    - playbooks/site.yml\n{HOST}",
        3,
        "images.recipes[0]: not a folder: <root>/playbooks/site.yml",
        parser_only=FILES,
    ),
    # what only reading the file can tell
    BadLab(
        "duplicate host",
        "hosts:\n  web: {image: debian12}\n  db: {}\n  web: {image: debian11}\n",
        4,
        "hosts: duplicate key 'web' (first on line 2)",
        parser_only=DUPLICATES,
    ),
    BadLab(
        "duplicate top-level key",
        f"image: debian11\n{HOST}image: debian12\n",
        4,
        "duplicate key 'image' (first on line 1)",
        parser_only=DUPLICATES,
    ),
    BadLab(
        "duplicate env variable",
        f"{HOST}    env:\n      TZ: UTC\n      TZ: CET\n",
        5,
        "hosts.web.env: duplicate key 'TZ' (first on line 4)",
        parser_only=DUPLICATES,
    ),
    BadLab(
        "Latin-1 file",
        f"{HOST}    env: {{CITY: Orléans}}\n".encode("latin-1"),
        3,
        "not UTF-8 text: byte 0xe9 cannot be decoded; save the file as UTF-8",
        parser_only=ENCODING,
    ),
    BadLab(
        "a tab",
        f"{HOST}\timage: debian12\n",
        3,
        "not valid YAML: found character '\\t' that cannot start any token (column 1)",
        parser_only=SYNTAX,
    ),
    BadLab(
        "unclosed flow mapping",
        "hosts:\n  web: {image: debian12\n  db: {}\n",
        3,
        "not valid YAML: expected ',' or '}', but got ':' "
        "(column 5; while parsing a flow mapping from line 2)",
        parser_only=SYNTAX,
    ),
    BadLab(
        "two documents",
        f"{HOST}---\n{HOST}",
        3,
        "not valid YAML: but found another document "
        "(column 1; expected a single document in the stream from line 1)",
        parser_only=SYNTAX,
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD_LABS])
def test_bad_lab_files_name_the_file_the_line_and_the_key(tmp_path: Path, case: BadLab) -> None:
    path = write_lab(tmp_path, case.text)
    with pytest.raises(LabFileError) as info:
        load_lab_file(path)
    where = f", line {case.line}" if case.line is not None else ""
    problem = case.problem.replace("<root>", str(tmp_path))
    assert str(info.value) == f"lab file {path}{where}: {problem}"
    assert (info.value.path, info.value.line, info.value.problem) == (path, case.line, problem)


def test_parse_lab_without_a_file_reports_no_line() -> None:
    path = Path("/labs/dockerlab.yml")
    with pytest.raises(LabFileError) as info:
        parse_lab({"hosts": {True: {}}}, path)
    assert str(info.value) == (
        f"lab file {path}: hosts: host name 'true' is read by YAML as a boolean; "
        "quote it ('true') or pick another name"
    )
    assert info.value.line is None
