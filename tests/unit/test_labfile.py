from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_dockerlab.exceptions import LabFileError
from pytest_dockerlab.spec.labfile import load_lab_file, parse_lab
from pytest_dockerlab.spec.model import (
    DEFAULT_IMAGE,
    DEFAULT_MEMORY,
    DEFAULT_PIDS_LIMIT,
    AnsibleSpec,
    ContainerSpec,
    ImagesSpec,
    Mount,
    NetworkSpec,
    PublishedPort,
    Ulimit,
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

# Every container setting a host can have, in Molecule's spelling.
CONTAINER_SETTINGS = """
hosts:
  fw:
    capabilities: [NET_ADMIN, CAP_SYS_PTRACE, NET_ADMIN]
    cap_drop: [NET_RAW]
    security_opts: [seccomp=unconfined, no-new-privileges, "label=disable"]
    tmpfs: [/srv/scratch, "/tmp:size=64m,mode=1777"]
    volumes:
      - data:/var/lib/data
      - ./recipes:/srv/recipes:ro
      - data2:/srv/two:ro,nocopy
    published_ports:
      - 80
      - "8080:80"
      - 127.0.0.1::53/udp
      - 0.0.0.0:8443:443
      - "[::1]:9000-9001:9000-9001"
    sysctls: {net.ipv4.ip_forward: 1, net.core.somaxconn: "1024", kernel.shmmax: 68719476736}
    networks: [front, {name: back, aliases: [gateway, fw1]}]
    command: /sbin/init --log-level=debug
    etc_hosts: {db.example.test: 10.1.2.3, v6.example.test: "::1", gw: host-gateway}
    ulimits: ["nofile:1024:4096", "nproc:512", "core:unlimited:unlimited"]
    memory: 512m
    cpus: 1.5
    pids_limit: 256
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
    "container settings": CONTAINER_SETTINGS,
    "container settings in their other forms": (
        "hosts:\n  a:\n"
        "    command: [/lib/systemd/systemd, --log-level, 7]\n"
        "    networks: [default, {name: back, aliases: db}]\n"
        "    memory: 1073741824\n"
        "    pids_limit: unlimited\n"
        "    cpus: 2\n"
        "    published_ports: ['22:22', 8000-8001]\n"
        "  b:\n    memory: unlimited\n    volumes: ['/tmp:/srv/host-tmp:rw,rslave']\n"
    ),
    "empty container settings": (
        "hosts:\n  a:\n    capabilities:\n    cap_drop: []\n    security_opts:\n"
        "    tmpfs: []\n    volumes:\n    published_ports: []\n    sysctls:\n"
        "    etc_hosts: {}\n    ulimits:\n"
    ),
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


VARIABLES = """\
image: ${DISTRO:-debian12}
hosts:
  web:
    env: {GREETING: "${GREETING-hello}", LITERAL: "$${KEEP}", SHELL: "$HOME/x"}
    vars: {cmd: "echo ${NOT_OURS}"}
  vars:
    image: ${PINNED:-debian11}
"""


@pytest.mark.parametrize(
    ("environ", "image", "greeting", "pinned"),
    [
        ({}, "debian12", "hello", "debian11"),
        ({"DISTRO": "debian13", "GREETING": "", "PINNED": ""}, "debian13", "", "debian11"),
        ({"DISTRO": "", "GREETING": "hi", "PINNED": "debian13"}, "debian12", "hi", "debian13"),
    ],
)
def test_variables_are_expanded_as_molecule_and_compose_do(
    tmp_path: Path, environ: dict[str, str], image: str, greeting: str, pinned: str
) -> None:
    """``${X:-default}`` on unset or empty, ``${X-default}`` on unset; Ansible's vars, a
    ``$HOME`` for a shell and ``$${`` stay as written (a host named vars is a host)."""
    spec = load_lab_file(write_lab(tmp_path, VARIABLES), environ)
    web = spec.hosts["web"]
    assert (web.image, web.env["GREETING"], spec.hosts["vars"].image) == (image, greeting, pinned)
    assert (web.env["LITERAL"], web.env["SHELL"]) == ("${KEEP}", "$HOME/x")
    assert web.vars == {"cmd": "echo ${NOT_OURS}"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "image: ${DISTRO}\n",
            "line 1: image: ${DISTRO} is not set: set it, or give a default: ${DISTRO:-value}",
        ),
        (
            "hosts:\n  web:\n    image: ${DISTRO:?x}\n",
            "line 3: hosts.web.image: '${DISTRO:?x}' is not a variable this file expands: "
            "write ${NAME}, ${NAME:-default} or ${NAME-default} (no nesting, no :?)",
        ),
        (
            "hosts:\n  web:\n    image: ${A:-${B:-debian12}}\n",
            "line 3: hosts.web.image: '${A:-${B:-debian12}' is not a variable this file expands",
        ),
    ],
)
def test_a_variable_that_cannot_be_expanded_is_named(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(LabFileError) as caught:
        load_lab_file(write_lab(tmp_path, text + "hosts: {web: {}}\n" * text.startswith("i")), {})
    assert problem in str(caught.value)


def test_container_settings_become_typed_settings(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, CONTAINER_SETTINGS))
    assert spec.hosts["fw"].container == ContainerSpec(
        capabilities=("NET_ADMIN", "SYS_PTRACE"),
        cap_drop=("NET_RAW",),
        security_opts=("seccomp=unconfined", "no-new-privileges", "label=disable"),
        tmpfs={"/srv/scratch": "", "/tmp": "size=64m,mode=1777"},
        volumes=(
            Mount("data", "/var/lib/data", "rw", named=True),
            Mount(str(tmp_path / "recipes"), "/srv/recipes", "ro"),
            Mount("data2", "/srv/two", "ro,nocopy", named=True),
        ),
        published_ports=(
            PublishedPort(80),
            PublishedPort(80, host_port=8080),
            PublishedPort(53, "udp"),
            PublishedPort(443, host_ip="0.0.0.0", host_port=8443),
            PublishedPort(9000, host_ip="::1", host_port=9000),
            PublishedPort(9001, host_ip="::1", host_port=9001),
        ),
        sysctls={
            "net.ipv4.ip_forward": "1",
            "net.core.somaxconn": "1024",
            "kernel.shmmax": "68719476736",
        },
        networks=(NetworkSpec("front"), NetworkSpec("back", ("gateway", "fw1"))),
        command=("/sbin/init", "--log-level=debug"),
        etc_hosts={"db.example.test": "10.1.2.3", "v6.example.test": "::1", "gw": "host-gateway"},
        ulimits=(Ulimit("nofile", 1024, 4096), Ulimit("nproc", 512, 512), Ulimit("core", -1, -1)),
        memory=512 * 1024**2,
        cpus=1.5,
        pids_limit=256,
    )
    assert spec.hosts["fw"].container.named_volumes == ("data", "data2")


def test_container_settings_in_their_other_forms(tmp_path: Path) -> None:
    spec = load_lab_file(write_lab(tmp_path, GOOD_LABS["container settings in their other forms"]))
    a, b = spec.hosts["a"].container, spec.hosts["b"].container
    assert a.command == ("/lib/systemd/systemd", "--log-level", "7")
    assert a.networks == (NetworkSpec("default"), NetworkSpec("back", ("db",)))
    assert (a.memory, a.pids_limit, a.cpus) == (1024**3, None, 2.0)
    assert a.published_ports == (
        PublishedPort(22, host_port=22),
        PublishedPort(8000),
        PublishedPort(8001),
    )
    assert b.memory is None
    assert b.volumes == (Mount("/tmp", "/srv/host-tmp", "rw,rslave"),)


def test_a_host_without_settings_gets_the_defaults(tmp_path: Path) -> None:
    for text in ("hosts:\n  a:\n", GOOD_LABS["empty container settings"]):
        container = load_lab_file(write_lab(tmp_path, text)).hosts["a"].container
        assert container == ContainerSpec()
    assert container.memory == DEFAULT_MEMORY == 2 * 1024**3
    assert container.pids_limit == DEFAULT_PIDS_LIMIT == 4096
    assert container.cpus is None
    assert container.networks == (NetworkSpec("default"),)


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("512m", 512 * 1024**2),
        ("1.5g", 3 * 1024**3 // 2),
        ("2GiB", 2 * 1024**3),
        ("64 MB", 64 << 20),
    ],
)
def test_memory_sizes_are_powers_of_1024(tmp_path: Path, written: str, size: int) -> None:
    spec = load_lab_file(write_lab(tmp_path, f"hosts:\n  a: {{memory: {written}}}\n"))
    assert spec.hosts["a"].container.memory == size


def test_a_seccomp_profile_file_is_handed_over_as_its_json(tmp_path: Path) -> None:
    (tmp_path / "seccomp").mkdir()
    (tmp_path / "seccomp" / "mine.json").write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
    text = "hosts:\n  a:\n    security_opts: [seccomp=seccomp/mine.json]\n"
    spec = load_lab_file(write_lab(tmp_path, text))
    assert spec.hosts["a"].container.security_opts == (
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
    )
    (tmp_path / "seccomp" / "mine.json").write_text("defaultAction: allow\n")
    with pytest.raises(
        LabFileError,
        match=r"line 3: hosts\.a\.security_opts\[0\]: .*mine\.json "
        r"is not a JSON seccomp profile: Expecting value",
    ):
        load_lab_file(write_lab(tmp_path, text))


def test_on_engine_names_networks_and_named_volumes_as_the_engine_knows_them(
    tmp_path: Path,
) -> None:
    container = load_lab_file(write_lab(tmp_path, CONTAINER_SETTINGS)).hosts["fw"].container
    engine = container.on_engine(network=lambda n: f"net-{n}", volume=lambda v: f"vol-{v}")
    assert engine.networks == (
        NetworkSpec("net-front"),
        NetworkSpec("net-back", ("gateway", "fw1")),
    )
    assert [m.source for m in engine.volumes] == [
        "vol-data",
        str(tmp_path / "recipes"),
        "vol-data2",
    ]
    assert engine.published_ports == container.published_ports


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
RELATIONS = "a rule between values (the same mount point or port twice, soft above hard)"
MEANING = "what a string means beyond its form (a port past 65535, an address, a command line)"
BASE_60 = "YAML 1.1 reads 22:22 as the number 1342; the schema sees a number"


@dataclass(frozen=True)
class BadLab:
    id: str
    text: str | bytes
    line: int | None
    problem: str  # what follows "lab file PATH[, line N]: "; <root> is the lab file's folder
    parser_only: str = ""  # why the JSON Schema cannot see it (one of the reasons above)


DNS = "(lower-case letters, digits and '-', at most 63 characters)"
HOST_RULE = "(lower-case letters, digits, '-' and '_', not first or last, at most 63 characters)"
HOST_KEYS = (
    "cap_drop, capabilities, command, cpus, env, etc_hosts, groups, hostname, image, memory, "
    "networks, pids_limit, privileged, published_ports, security_opts, sysctls, tmpfs, "
    "ulimits, vars, volumes"
)
GROUP = "(letters, digits, '_', '-' and '.'; not 'all' or 'ungrouped')"
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
        "unknown keys 'hostz', 'image_' at the top level "
        "(allowed: ansible, hosts, image, images, molecule, networks)",
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
        "host name in upper case",
        "hosts:\n  web: {}\n  Web_1: {}\n",
        3,
        f"hosts: host name 'Web_1' is not a valid host name {HOST_RULE}",
    ),
    BadLab(
        "host name too long",
        f"hosts:\n  {'a' * 64}: {{}}\n",
        2,
        f"hosts: host name '{'a' * 64}' is not a valid host name {HOST_RULE}",
    ),
    BadLab(
        "host name ending in a dash",
        "hosts:\n  web-: {}\n",
        2,
        f"hosts: host name 'web-' is not a valid host name {HOST_RULE}",
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
        f"hosts: host name '1.5' is not a valid host name {HOST_RULE}",
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
        f"hosts.web: unknown key 'imag' (allowed: {HOST_KEYS})",
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
        "group with a space",
        "hosts:\n  web: {groups: [app, 'web servers']}\n",
        2,
        f"hosts.web.groups[1]: 'web servers' is not a usable Ansible group name {GROUP}",
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
    # container settings
    BadLab(
        "capabilities a string",
        f"{HOST}    capabilities: NET_ADMIN\n",
        3,
        "hosts.web.capabilities: must be a list of capabilities, not a string",
    ),
    BadLab(
        "capability misspelt",
        f"{HOST}    capabilities: [NET_ADMN]\n",
        3,
        "hosts.web.capabilities[0]: 'NET_ADMN' is not a Linux capability; did you mean NET_ADMIN?",
    ),
    BadLab(
        "capability in lower case",
        f"{HOST}    capabilities:\n      - net_admin\n",
        4,
        "hosts.web.capabilities[0]: 'net_admin' is not a Linux capability; "
        "write it in capitals: NET_ADMIN",
    ),
    BadLab(
        "cap_drop unknown",
        f"{HOST}    cap_drop: [NET_RAW, XYZZY]\n",
        3,
        "hosts.web.cap_drop[1]: 'XYZZY' is not a Linux capability (see capabilities(7))",
    ),
    BadLab(
        "capability added and dropped",
        f"{HOST}    capabilities: [NET_ADMIN]\n    cap_drop: [CAP_NET_ADMIN]\n",
        4,
        "hosts.web.cap_drop[0]: NET_ADMIN is also in capabilities: add it or drop it, not both",
        parser_only=RELATIONS,
    ),
    BadLab(
        "security option unknown",
        f"{HOST}    security_opts: [selinux=disable]\n",
        3,
        "hosts.web.security_opts[0]: 'selinux=disable' is not a security option the engine "
        "knows (apparmor=..., label=..., no-new-privileges, seccomp=..., systempaths=unconfined)",
    ),
    BadLab(
        "seccomp profile missing",
        f"{HOST}    security_opts: [seccomp=nope.json]\n",
        3,
        "hosts.web.security_opts[0]: no such file: <root>/nope.json",
        parser_only=FILES,
    ),
    BadLab(
        "tmpfs a mapping",
        f"{HOST}    tmpfs: {{/tmp: size=1m}}\n",
        3,
        "hosts.web.tmpfs: must be a list of mount points, not a mapping",
    ),
    BadLab(
        "tmpfs relative",
        f"{HOST}    tmpfs: [scratch]\n",
        3,
        "hosts.web.tmpfs[0]: the mount point 'scratch' must be an absolute path in the host",
    ),
    BadLab(
        "tmpfs at /run",
        f"{HOST}    tmpfs: [/run/]\n",
        3,
        "hosts.web.tmpfs[0]: /run is the tmpfs the run profile mounts for init, which init "
        "needs; mount elsewhere",
    ),
    BadLab(
        "tmpfs in /proc",
        f"{HOST}    tmpfs: [/proc/sys]\n",
        3,
        "hosts.web.tmpfs[0]: /proc/sys in the kernel's /proc, which init needs; mount elsewhere",
    ),
    BadLab(
        "tmpfs option unknown",
        f"{HOST}    tmpfs: ['/srv:sise=1m']\n",
        3,
        "hosts.web.tmpfs[0]: 'sise=1m' is not a tmpfs option (size=, mode=, uid=, gid=, "
        "nr_inodes=, nr_blocks=, huge=, mpol=; or ro, rw, exec, noexec, suid, nosuid, dev, "
        "nodev, atime, noatime, diratime, nodiratime, relatime, norelatime, strictatime, sync, "
        "async)",
    ),
    BadLab(
        "volume without a source",
        f"{HOST}    volumes: [/data]\n",
        3,
        "hosts.web.volumes[0]: '/data' names no source: write NAME:/path for a named volume "
        "of the lab, or PATH:/path to bind a file or folder in",
    ),
    BadLab(
        "Molecule's cgroup volume",
        f"{HOST}    volumes:\n      - /sys/fs/cgroup:/sys/fs/cgroup:rw\n",
        4,
        "hosts.web.volumes[0]: /sys/fs/cgroup: the run profile gives init the cgroup file "
        "system there (a Molecule scenario's /sys/fs/cgroup volume is not needed); "
        "drop this mount",
    ),
    BadLab(
        "volume at the root",
        f"{HOST}    volumes: ['data:/']\n",
        3,
        "hosts.web.volumes[0]: / is the host's root file system, which init needs; mount elsewhere",
    ),
    BadLab(
        "bind mount of a missing folder",
        f"{HOST}    volumes: ['./nope:/srv']\n",
        3,
        "hosts.web.volumes[0]: no such file or folder: <root>/nope",
        parser_only=FILES,
    ),
    BadLab(
        "volume mode unknown",
        f"{HOST}    volumes: ['data:/srv:rx']\n",
        3,
        "hosts.web.volumes[0]: 'rx' is not a mode of a named volume (ro, rw, z, Z, nocopy)",
    ),
    BadLab(
        "volume mode ro and rw",
        f"{HOST}    volumes: ['data:/srv:ro,rw']\n",
        3,
        "hosts.web.volumes[0]: mode 'ro,rw' says both ro and rw",
        parser_only=RELATIONS,
    ),
    BadLab(
        "mount point twice",
        f"{HOST}    tmpfs: [/srv]\n    volumes: ['data:/srv/']\n",
        4,
        "hosts.web.volumes[0]: /srv is mounted twice in this host (also tmpfs[0])",
        parser_only=RELATIONS,
    ),
    BadLab(
        "published ports a string",
        f"{HOST}    published_ports: '80'\n",
        3,
        "hosts.web.published_ports: must be a list of ports ('8080:80', '9000/udp'), not a string",
    ),
    BadLab(
        "published port 22:22 unquoted",
        f"{HOST}    published_ports:\n      - 22:22\n",
        4,
        "hosts.web.published_ports[0]: YAML reads 22:22 as the number 1342 (base 60); "
        "quote it ('22:22')",
        parser_only=BASE_60,
    ),
    BadLab(
        "published port not a port",
        f"{HOST}    published_ports: ['8080:http']\n",
        3,
        "hosts.web.published_ports[0]: '8080:http' is not a port to publish: write "
        "[ADDRESS:][HOST_PORT:]PORT[/PROTOCOL], as in 80, 8080:80, 127.0.0.1:8080:80/udp "
        "or [::1]:8080:80",
    ),
    BadLab(
        "published port protocol",
        f"{HOST}    published_ports: [53/icmp]\n",
        3,
        "hosts.web.published_ports[0]: 'icmp' is not a protocol (tcp, udp, sctp)",
    ),
    BadLab(
        "published port past 65535",
        f"{HOST}    published_ports: ['70000:80']\n",
        3,
        "hosts.web.published_ports[0]: '70000' is not a port or a range of ports "
        "(1-65535, low-high)",
        parser_only=MEANING,
    ),
    BadLab(
        "published port address a name",
        f"{HOST}    published_ports: ['localhost:8080:80']\n",
        3,
        "hosts.web.published_ports[0]: 'localhost' is not an IP address",
        parser_only=MEANING,
    ),
    BadLab(
        "published port ranges of two lengths",
        f"{HOST}    published_ports: ['8000-8002:80-81']\n",
        3,
        "hosts.web.published_ports[0]: '8000-8002:80-81' maps 3 ports of the engine's "
        "machine to 2 of the host; give ranges of the same length",
        parser_only=RELATIONS,
    ),
    BadLab(
        "port published by two hosts",
        "hosts:\n  web: {published_ports: ['8080:80']}\n"
        "  db: {published_ports: ['0.0.0.0:8080:5432']}\n",
        3,
        "hosts.db.published_ports[0]: 0.0.0.0:8080/tcp is published twice "
        "(also hosts.web.published_ports[0])",
        parser_only=RELATIONS,
    ),
    BadLab(
        "sysctls a list",
        f"{HOST}    sysctls: [net.ipv4.ip_forward=1]\n",
        3,
        "hosts.web.sysctls: must be a mapping of sysctl name to value, not a list",
    ),
    BadLab(
        "sysctl of the whole machine",
        f"{HOST}    sysctls:\n      net.ipv4.ip_forward: 1\n      vm.swappiness: 10\n",
        5,
        "hosts.web.sysctls: 'vm.swappiness' cannot be set in one container: the engine sets "
        "only sysctls with a namespace of their own (net.<name>, fs.mqueue.<name>, "
        "kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, "
        "kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced)",
    ),
    BadLab(
        "sysctl value yes",
        f"{HOST}    sysctls: {{net.ipv4.ip_forward: yes}}\n",
        3,
        "hosts.web.sysctls.net.ipv4.ip_forward: must be a string or a number, not a boolean; "
        "quote it ('yes') to pass it as written",
    ),
    BadLab(
        "networks a string",
        f"{HOST}    networks: front\n",
        3,
        "hosts.web.networks: must be a list of network names, not a string",
    ),
    BadLab(
        "networks empty",
        f"{HOST}    networks: []\n",
        3,
        "hosts.web.networks: must name at least one network (a host without 'networks' is "
        "on the lab's 'default' network)",
    ),
    BadLab(
        "network name not a DNS label",
        f"{HOST}    networks: [front, Back_1]\n",
        3,
        f"hosts.web.networks[1]: network name 'Back_1' is not a valid DNS label {DNS}",
    ),
    BadLab(
        "network name on",
        f"{HOST}    networks:\n      - on\n",
        4,
        "hosts.web.networks[0]: network name 'on' is read by YAML as a boolean; "
        "quote it ('on') or pick another name",
    ),
    BadLab(
        "network listed twice",
        f"{HOST}    networks: [front, back, front]\n",
        3,
        "hosts.web.networks[2]: 'front' is listed twice",
    ),
    BadLab(
        "network without a name",
        f"{HOST}    networks:\n      - aliases: [www]\n",
        4,
        "hosts.web.networks[0]: names no network: add 'name:'",
    ),
    BadLab(
        "network key misspelt",
        f"{HOST}    networks:\n      - name: front\n        ipv4_adress: 10.0.0.2\n",
        5,
        "hosts.web.networks[0]: unknown key 'ipv4_adress' (allowed: aliases, ipv4_address, name)",
    ),
    BadLab(
        "fixed address without a subnet",
        f"{HOST}    networks:\n      - name: front\n        ipv4_address: 10.0.0.2\n",
        5,
        "hosts.web.networks[0].ipv4_address: a fixed address needs the network's subnet: add "
        "networks: {front: {subnet: ...}} to the lab file",
        parser_only=RELATIONS,
    ),
    BadLab(
        "fixed address outside the subnet",
        "networks:\n  front: {subnet: 10.9.0.0/24}\n"
        f"{HOST}    networks:\n      - name: front\n        ipv4_address: 10.0.0.2\n",
        7,
        "hosts.web.networks[0].ipv4_address: 10.0.0.2 is no host address of front's subnet "
        "10.9.0.0/24",
        parser_only=RELATIONS,
    ),
    BadLab(
        "a fixed address twice",
        "networks:\n  front: {subnet: 10.9.0.0/24}\nhosts:\n"
        "  a: {networks: [{name: front, ipv4_address: 10.9.0.5}]}\n"
        "  b: {networks: [{name: front, ipv4_address: 10.9.0.5}]}\n",
        5,
        "hosts.b.networks[0].ipv4_address: 10.9.0.5 is a's address on front already",
        parser_only=RELATIONS,
    ),
    BadLab(
        "subnet not a subnet",
        "networks:\n  front: {subnet: 10.9.0.1/24}\nhosts:\n  web: {}\n",
        2,
        "networks.front.subnet: '10.9.0.1/24' is not an IPv4 subnet (10.9.0.1/24 has host bits "
        "set)",
        parser_only=MEANING,
    ),
    BadLab(
        "network alias not a DNS label",
        f"{HOST}    networks: [{{name: front, aliases: [www, WWW_2]}}]\n",
        3,
        f"hosts.web.networks[0].aliases[1]: alias 'WWW_2' is not a valid DNS label {DNS}",
    ),
    BadLab(
        "command an empty list",
        f"{HOST}    command: []\n",
        3,
        "hosts.web.command: must be a command line or a list of words, not an empty list",
    ),
    BadLab(
        "command with an open quote",
        f"{HOST}    command: sh -c 'sleep 1\n",
        3,
        "hosts.web.command: cannot be split into words: No closing quotation",
        parser_only=MEANING,
    ),
    BadLab(
        "etc_hosts a list",
        f"{HOST}    etc_hosts: ['db:10.0.0.1']\n",
        3,
        "hosts.web.etc_hosts: must be a mapping of host name to address, not a list",
    ),
    BadLab(
        "etc_hosts address a number",
        f"{HOST}    etc_hosts: {{db: 10}}\n",
        3,
        "hosts.web.etc_hosts.db: must be an IP address, not a number",
    ),
    BadLab(
        "etc_hosts address a name",
        f"{HOST}    etc_hosts:\n      db: db.example.test\n",
        4,
        "hosts.web.etc_hosts.db: 'db.example.test' is not an IP address "
        "(or host-gateway: the engine's machine)",
        parser_only=MEANING,
    ),
    BadLab(
        "ulimits a mapping",
        f"{HOST}    ulimits: {{nofile: 1024}}\n",
        3,
        "hosts.web.ulimits: must be a list of limits ('nofile:1024:4096'), not a mapping",
    ),
    BadLab(
        "ulimit misspelt",
        f"{HOST}    ulimits: ['nofiles:1024']\n",
        3,
        "hosts.web.ulimits[0]: 'nofiles' is not a limit (did you mean nofile? core, cpu, data, "
        "fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
        "sigpending, stack)",
    ),
    BadLab(
        "ulimit not a number",
        f"{HOST}    ulimits: ['nofile:lots']\n",
        3,
        "hosts.web.ulimits[0]: 'lots' is not a number of the limit's units (or unlimited)",
    ),
    BadLab(
        "ulimit soft above hard",
        f"{HOST}    ulimits: ['nproc:100', 'nofile:4096:1024']\n",
        3,
        "hosts.web.ulimits[1]: the soft limit 4096 is above the hard limit 1024",
        parser_only=RELATIONS,
    ),
    BadLab(
        "memory a word",
        f"{HOST}    memory: lots\n",
        3,
        "hosts.web.memory: must be a size (512m, 2g, a number of bytes) or unlimited, not 'lots'",
    ),
    BadLab(
        "memory below the engine's minimum",
        f"{HOST}    memory: 1024\n",
        3,
        "hosts.web.memory: 1024 is below the engine's minimum of 6m",
    ),
    BadLab(
        "memory null",
        f"{HOST}    memory:\n",
        3,
        "hosts.web.memory: must be a size (512m, 2g, a number of bytes) or unlimited, not empty",
    ),
    BadLab(
        "cpus a string",
        f"{HOST}    cpus: '1.5'\n",
        3,
        "hosts.web.cpus: must be a number of CPUs (0.5, 2), not a string",
    ),
    BadLab(
        "cpus zero",
        f"{HOST}    cpus: 0\n",
        3,
        "hosts.web.cpus: must be at least 0.01 (the engine's smallest share), not 0",
    ),
    BadLab(
        "pids_limit zero",
        f"{HOST}    pids_limit: 0\n",
        3,
        "hosts.web.pids_limit: must be from 32 (what an init and a few services need) to "
        "4194304 (the kernel's ceiling), not 0; write unlimited for no limit",
    ),
    BadLab(
        "pids_limit a word",
        f"{HOST}    pids_limit: lots\n",
        3,
        "hosts.web.pids_limit: must be a number of processes or unlimited, not 'lots'",
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
        "ansible: unknown key 'playbook' (allowed: cache, cache_env, check, cleanup, config, "
        "diff, env, extra_vars, idempotence, playbooks, prepare, requirements, roles_path, "
        "skip_tags, tags, vault_password_file, verbosity)",
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
