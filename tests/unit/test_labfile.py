from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dockerlab.exceptions import LabFileError
from pytest_dockerlab.labfile import DEFAULT_IMAGE, load_lab_file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dockerlab.yml"
    path.write_text(text)
    return path


def test_reads_hosts_in_file_order_with_their_settings(tmp_path: Path) -> None:
    spec = load_lab_file(
        write(
            tmp_path,
            """
hosts:
  web:
    image: debian12
    groups: [webservers, frontends]
    vars: {http_port: 80}
  db:
    groups: dbservers
    privileged: true
    env: {TZ: UTC}
""",
        )
    )
    assert spec.host_names == ("web", "db")
    assert spec.root == tmp_path
    web, db = spec.hosts["web"], spec.hosts["db"]
    assert web.groups == ("webservers", "frontends")
    assert web.vars == {"http_port": 80}
    assert db.image == DEFAULT_IMAGE
    assert db.groups == ("dbservers",)
    assert db.privileged is True
    assert db.env == {"TZ": "UTC"}


def test_a_host_without_settings_gets_the_defaults(tmp_path: Path) -> None:
    spec = load_lab_file(write(tmp_path, "hosts:\n  solo:\n"))
    assert spec.hosts["solo"].image == DEFAULT_IMAGE
    assert spec.hosts["solo"].groups == ()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match=r"nope\.yml: file not found"):
        load_lab_file(tmp_path / "nope.yml")


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match=r"not valid YAML: .* at line 3, column 1"):
        load_lab_file(write(tmp_path, "hosts:\n  web:\n\timage: debian12\n"))


def test_duplicate_host_name_is_refused_not_silently_merged(tmp_path: Path) -> None:
    text = "hosts:\n  web: {image: debian12}\n  db: {}\n  web: {image: debian11}\n"
    with pytest.raises(LabFileError, match=r"duplicate key 'web' \(first on line 2\)"):
        load_lab_file(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- web\n- db\n", "top level must be a mapping"),
        ("hosts: {}\n", "'hosts' must be a non-empty mapping"),
        ("hosts:\n  Web_1: {}\n", "'Web_1' is not a valid DNS label"),
        ("hosts:\n  web: [debian12]\n", "host 'web': settings must be a mapping, not a list"),
        (
            "hosts:\n  web: {imag: debian12}\n",
            r"host 'web': unknown key imag \(allowed: env, groups",
        ),
        ("hostz:\n  web: {}\n", "the top level: unknown key hostz"),
        ("hosts:\n  web: {groups: [all]}\n", "'all' is not a usable Ansible group name"),
        ("hosts:\n  web: {groups: [1web]}\n", "'1web' is not a usable Ansible group name"),
        ("hosts:\n  web: {privileged: 'yes'}\n", "'privileged' must be true or false"),
        ("hosts:\n  web: {vars: [a]}\n", "'vars' must be a mapping"),
        ("hosts:\n  web: {image: ''}\n", "'image' must be an image name"),
    ],
)
def test_bad_lab_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LabFileError, match=message) as info:
        load_lab_file(write(tmp_path, text))
    assert str(tmp_path / "dockerlab.yml") in str(info.value)


def test_lab_default_image_and_pinned_hosts(tmp_path: Path) -> None:
    spec = load_lab_file(
        write(tmp_path, "image: debian11\nhosts:\n  web: {}\n  db: {image: debian12}\n")
    )
    assert spec.hosts["web"].image == "debian11"
    assert not spec.hosts["web"].pinned
    assert spec.hosts["db"].pinned
    moved = spec.on_image("debian13")
    assert moved.hosts["web"].image == "debian13"
    assert moved.hosts["db"].image == "debian12"  # a pinned host keeps its image
    assert spec.hosts["web"].image == "debian11"  # the original is unchanged


def test_matrix_is_read_and_checked(tmp_path: Path) -> None:
    spec = load_lab_file(write(tmp_path, "images: {matrix: [debian11, debian12]}\nhosts:\n  a:\n"))
    assert spec.matrix == ("debian11", "debian12")
    with pytest.raises(LabFileError, match=r"images\.matrix must be a list of names"):
        load_lab_file(write(tmp_path, "images: {matrix: debian11}\nhosts:\n  a:\n"))
