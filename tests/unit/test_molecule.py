"""Molecule scenarios read as labs: platforms, images, provisioner, what does not carry."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_dockerlab.exceptions import LabFileError, ScenarioError
from pytest_dockerlab.images import catalogue
from pytest_dockerlab.loading import load_lab, scenario_lab, scenario_labs
from pytest_dockerlab.project import role_names, under_test
from pytest_dockerlab.settings import Settings
from pytest_dockerlab.spec import load_lab_file, parse_lab
from pytest_dockerlab.spec.molecule import (
    MOLECULE_VARS,
    STAGE_TESTS,
    convert,
    expand,
    recipe_for,
    write_lab_file,
    write_stage_tests,
)

NTP = Path(__file__).parents[1] / "integration" / "labs" / "geerlingguy.ntp"
KNOWN = catalogue()


@pytest.mark.parametrize(
    ("text", "environ", "expanded"),
    [
        ("${MOLECULE_DISTRO:-rockylinux9}", {}, "rockylinux9"),
        ("${MOLECULE_DISTRO:-rockylinux9}", {"MOLECULE_DISTRO": "debian12"}, "debian12"),
        ("${MOLECULE_DISTRO:-rockylinux9}", {"MOLECULE_DISTRO": ""}, "rockylinux9"),
        ("${X-default}", {"X": ""}, ""),
        ('${MOLECULE_DOCKER_COMMAND:-""}', {}, '""'),
        ("$HOME/x", {"HOME": "/root"}, "/root/x"),
        ("$$HOME and $${X}", {"HOME": "/root", "X": "x"}, "$HOME and ${X}"),  # Molecule's escape
    ],
)
def test_variables_expand_as_molecule_expands_them(
    text: str, environ: dict[str, str], expanded: str
) -> None:
    assert expand(text, environ) == expanded


@pytest.mark.parametrize(
    ("image", "recipe"),
    [
        ("geerlingguy/docker-debian12-ansible:latest", "debian12"),
        ("docker.io/geerlingguy/docker-ubuntu2204-ansible", "ubuntu2204"),
        ("debian:12", "debian12"),
        ("debian:bookworm", "debian12"),
        ("ubuntu:24.04", "ubuntu2404"),
        ("debian13", "debian13"),
        ("quay.io/someone/fedora:40", None),
        # Any owner's image that says its distribution and release (public scenarios).
        ("rndmh3ro/docker-debian12-ansible", "debian12"),
        ("mrlesmithjr/debian:12", "debian12"),
        ("debian:bookworm-slim", "debian12"),
        ("debian:12.5", "debian12"),
        ("quay.io/rockylinux/rockylinux:9", "rockylinux9"),
        ("ghcr.io/acme/docker-centos7-ansible:latest", "centos7"),
        ("ubuntu:noble", "ubuntu2404"),
        ("ubuntu:20.04", None),
        ("quay.io/foundata/debian13-itt:latest", "debian13"),
        ("jdubz/ci-systemd:1.1-bookworm", "debian12"),
        ("someone/ubuntu2404-systemd", "ubuntu2404"),
        ("someone/ci:1.0-focal", None),
    ],
)
def test_images_map_to_recipes(image: str, recipe: str | None) -> None:
    assert recipe_for(image, KNOWN) == recipe


def scenario(tmp_path: Path, molecule_yml: str, **playbooks: str) -> Path:
    folder = tmp_path / "molecule" / "default"
    folder.mkdir(parents=True)
    (folder / "molecule.yml").write_text(molecule_yml)
    for name, text in {"converge": "- hosts: all\n  tasks: []\n", **playbooks}.items():
        (folder / f"{name}.yml").write_text(text)
    return folder


MULTI = """
dependency: {name: galaxy}
driver: {name: docker}
platforms:
  - name: web
    image: geerlingguy/docker-${MOLECULE_DISTRO:-debian12}-ansible:latest
    groups: [webservers]
    privileged: true
    cgroupns_mode: host
    volumes: [/sys/fs/cgroup:/sys/fs/cgroup:rw, /srv:/srv:ro]
    capabilities: [NET_ADMIN]
    published_ports: ["8080:80"]
    env: {APP_ENV: test}
    command: /lib/systemd/systemd
  - name: db
    image: debian:12
    groups: [dbservers]
    children: [primary]
provisioner:
  name: ansible
  env: {ANSIBLE_FORCE_HANDLERS: "true"}
  config_options: {defaults: {forks: 10}}
  options: {vvv: true, diff: true}
  inventory:
    group_vars:
      all: {site: example}
      webservers: {http_port: 80}
    host_vars:
      web: {http_port: 8080}
verifier: {name: ansible}
"""


def test_a_scenario_becomes_a_lab_the_parser_accepts(tmp_path: Path) -> None:
    folder = scenario(tmp_path, MULTI, prepare="- hosts: all\n  tasks: []\n", verify="[]\n")
    converted = convert(folder, KNOWN, environ={})
    lab = converted.lab
    assert lab["image"] == "debian12"  # one image for all: --dockerlab-image moves them
    web, db = lab["hosts"]["web"], lab["hosts"]["db"]
    assert web["groups"] == ["webservers"]
    own = {k: v for k, v in web["vars"].items() if k not in MOLECULE_VARS}
    assert own == {"site": "example", "http_port": 8080}  # host vars win
    # Molecule's own inventory variables, as Molecule defines them
    assert web["vars"]["molecule_yml"] == "{{ lookup('file', molecule_file) | from_yaml }}"
    assert web["capabilities"] == ["NET_ADMIN"]
    assert web["volumes"] == ["/srv:/srv:ro"]
    assert web["published_ports"] == ["8080:80"]
    assert web["env"] == {"APP_ENV": "test"}
    assert db["groups"] == ["dbservers", "primary"]
    ansible = lab["ansible"]
    assert ansible["playbooks"] == [str(folder / "converge.yml")]
    assert ansible["prepare"] == [str(folder / "prepare.yml")]
    assert ansible["idempotence"] is True
    assert ansible["env"]["ANSIBLE_FORCE_HANDLERS"] == "true"
    assert ansible["env"]["MOLECULE_SCENARIO_DIRECTORY"] == str(folder)  # as Molecule sets it
    assert ansible["config"] == {"defaults": {"forks": 10}}
    assert (ansible["verbosity"], ansible["diff"]) == (3, True)
    assert converted.verify == folder / "verify.yml"
    notes = "\n".join(converted.summary())
    assert "dropped: web: privileged: true: the least-privileged profile" in notes  # YAML's words
    assert "dropped: web: the cgroup mount: the run profile" in notes
    assert "mapped: db: children groups are groups the host is in" in notes
    assert "command" not in notes  # the init: what the profile runs anyway
    spec = parse_lab(lab, converted.path)
    assert spec.host_names == ("web", "db")
    assert spec.ansible.run.config == {"defaults": {"forks": 10}}


def test_the_distro_variable_picks_the_image(tmp_path: Path) -> None:
    folder = scenario(tmp_path, MULTI)
    converted = convert(folder, KNOWN, environ={"MOLECULE_DISTRO": "debian13"})
    assert converted.lab["hosts"]["web"]["image"] == "debian13"
    assert converted.lab["hosts"]["db"]["image"] == "debian12"


@pytest.mark.parametrize(
    ("molecule_yml", "message"),
    [
        ("platforms: []\n", "no platforms"),
        ("platforms: [{image: debian12}]\n", r"platforms\[0\] has no name"),
        ("platforms: [{name: Ubuntu-2204, image: debian12}]\n", "is a host name"),
        ("driver: docker\nplatforms: [{name: x, image: debian12}]\n", "driver must be a mapping"),
        ("platforms: [x]\n", r"platforms\[0\] must be a mapping"),
        ("platforms: [{name: x, image: debian12, volumes: /srv:/srv}]\n", "volumes must be a list"),
        ("platforms: [{name: x, image: debian12}]\nprovisioner: {playbooks: {converge: no.yml}}\n",
         "the converge playbook no.yml is not there"),
        ("platforms: [\n", "molecule.yml does not parse"),
    ],
)  # fmt: skip
def test_a_scenario_that_cannot_run_says_why(
    tmp_path: Path, molecule_yml: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        convert(scenario(tmp_path, molecule_yml), KNOWN, environ={})


def test_import_writes_a_lab_file_that_loads(tmp_path: Path) -> None:
    folder = scenario(tmp_path, MULTI)
    converted = convert(folder, KNOWN, environ={})
    target = folder / "dockerlab.yml"
    write_lab_file(converted, target)
    text = target.read_text()
    assert "# dropped: web: privileged: true: the least-privileged profile" in text
    assert "molecule_yml" not in text  # a run's variables, not the file's
    assert "playbooks:\n  - converge.yml" in text  # relative to the lab file
    assert load_lab_file(target, {}).host_names == ("web", "db")


@pytest.mark.parametrize(
    ("environ", "web", "db"),
    [({}, "debian12", "debian12"), ({"MOLECULE_DISTRO": "debian13"}, "debian13", "debian12")],
)
def test_import_keeps_the_variable_that_picks_the_distribution(
    tmp_path: Path, environ: dict[str, str], web: str, db: str
) -> None:
    """geerlingguy's ${MOLECULE_DISTRO:-debian12} stays a variable in the lab file, which
    expands it as Molecule does: the file runs the same matrix, whatever was set at import."""
    folder = scenario(tmp_path, MULTI)
    converted = convert(folder, KNOWN, environ={"MOLECULE_DISTRO": "rockylinux9"})
    target = folder / "dockerlab.yml"
    write_lab_file(converted, target)
    assert "image: ${MOLECULE_DISTRO:-debian12}\n" in target.read_text()
    spec = load_lab_file(target, environ)
    assert (spec.hosts["web"].image, spec.hosts["db"].image) == (web, db)


def test_a_real_roles_scenario_converts(tmp_path: Path) -> None:
    role = tmp_path / "ansible-role-ntp"
    shutil.copytree(NTP, role)
    converted = convert(
        role / "molecule" / "default", KNOWN, environ={"MOLECULE_DISTRO": "debian12"}
    )
    assert converted.lab["image"] == "debian12"
    assert list(converted.lab["hosts"]) == ["instance"]
    found = under_test(role / "molecule" / "default")
    assert found is not None and found.root == role
    assert found.names == ("geerlingguy.ntp", "ntp", "ansible-role-ntp")


@pytest.mark.parametrize(
    ("meta", "folder", "names"),
    [
        ({"galaxy_info": {"namespace": "acme", "role_name": "web"}}, "r", ("acme.web", "web", "r")),
        ({"galaxy_info": {"author": "jane", "role_name": "db"}}, "r", ("jane.db", "db", "r")),
        ({"galaxy_info": {"author": "acme"}}, "ansible-role-web",
         ("acme.web", "web", "ansible-role-web")),
        # Not a valid name: no namespace.role_name, as ansible-compat would not make one.
        ({"galaxy_info": {"author": "Jeff Geerling", "role_name": "ntp"}}, "r", ("ntp", "r")),
        ({}, "r", ("r",)),
    ],
)  # fmt: skip
def test_role_names_follow_molecule(
    meta: dict[str, Any], folder: str, names: tuple[str, ...], tmp_path: Path
) -> None:
    assert role_names(tmp_path / folder, meta) == names


def test_a_lab_in_a_collection_links_the_collection(tmp_path: Path) -> None:
    from pytest_dockerlab.project import link_under_test

    collection = tmp_path / "acme_tools"
    (collection / "roles" / "hello" / "tasks").mkdir(parents=True)
    (collection / "galaxy.yml").write_text("namespace: acme\nname: tools\nversion: 1.0.0\n")
    (collection / "tests" / "lab").mkdir(parents=True)
    found = under_test(collection / "tests" / "lab")
    assert found is not None and (found.kind, found.names) == ("collection", ("acme.tools",))
    roles, collections = link_under_test(found, tmp_path / "run")
    assert roles is None and collections is not None
    linked = collections / "ansible_collections" / "acme" / "tools"
    assert linked.is_symlink() and linked.resolve() == collection
    assert not [p for p in collection.rglob("*") if p.is_symlink()]  # nothing in the user's tree


def test_a_role_in_a_collection_gets_its_collection(tmp_path: Path) -> None:
    """konstruktoid's roles/ssh/molecule/docker plays konstruktoid.hardening.ssh."""
    from pytest_dockerlab.project import link_under_test

    collection = tmp_path / "hardening"
    role = collection / "roles" / "ssh"
    (role / "tasks").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "meta" / "main.yml").write_text("galaxy_info: {role_name: ssh}\n")
    (collection / "galaxy.yml").write_text("namespace: konstruktoid\nname: hardening\n")
    found = under_test(role / "molecule" / "docker")
    assert found is not None and found.kind == "role" and found.collection is not None
    assert found.describe().endswith("; in collection konstruktoid.hardening")
    roles, collections = link_under_test(found, tmp_path / "run")
    assert roles is not None and (roles / "ssh").resolve() == role
    assert collections is not None
    linked = collections / "ansible_collections" / "konstruktoid" / "hardening"
    assert (linked / "roles" / "ssh").resolve() == role


def test_the_search_for_a_role_stops_at_the_repository(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "main.yml").write_text("galaxy_info: {role_name: outer}\n")
    (tmp_path / "tasks").mkdir()
    (tmp_path / "project" / ".git").mkdir(parents=True)
    (tmp_path / "project" / "labs").mkdir()
    assert under_test(tmp_path / "project" / "labs") is None


@pytest.mark.parametrize(
    "platform",
    [
        "groups: webservers\n    children: primary",
        "groups: [webservers]\n    children: [primary]",
    ],
)
def test_a_lone_group_name_is_one_group_not_its_letters(tmp_path: Path, platform: str) -> None:
    """``groups: webservers`` put the host in groups w, e, b, s, r, v: the play matched
    nothing and converge passed without the role."""
    text = f"platforms:\n  - name: web\n    image: debian:12\n    {platform}\n"
    lab = convert(scenario(tmp_path, text), KNOWN, environ={}).lab
    assert lab["hosts"]["web"]["groups"] == ["webservers", "primary"]


def test_groups_of_another_shape_are_refused_naming_the_key(tmp_path: Path) -> None:
    text = "platforms:\n  - name: web\n    image: debian:12\n    groups: {a: 1}\n"
    with pytest.raises(
        ScenarioError, match=r"platforms\[0\]\.groups must be a group name or a list"
    ):
        convert(scenario(tmp_path, text), KNOWN, environ={})


def test_dockerlab_image_replaces_every_platforms_image(tmp_path: Path) -> None:
    """A platform image the mapping does not know runs on the image the run names."""
    folder = scenario(
        tmp_path,
        "platforms:\n  - name: a\n    image: quay.io/a/fedora:40\n"
        "  - name: b\n    image: debian:12\n    dockerfile: Dockerfile.j2\n",
    )
    converted = convert(folder, KNOWN, environ={}, image="debian13")
    assert converted.lab["image"] == "debian13"
    assert all("image" not in host for host in converted.lab["hosts"].values())
    assert converted.summary()[0] == "mapped: every platform's image: debian13 (--dockerlab-image)"


def test_a_missing_bind_source_is_to_be_created_as_docker_creates_it(tmp_path: Path) -> None:
    folder = scenario(
        tmp_path,
        "platforms:\n  - name: ns1\n    image: debian:12\n"
        "    volumes: [/sys/fs/cgroup:/sys/fs/cgroup:rw, ./zones:/var/cache/bind]\n",
    )
    converted = convert(folder, KNOWN, environ={})
    assert converted.missing_sources == [folder / "./zones"]
    assert converted.summary() == [
        "mapped: ns1: image debian:12 runs as this plugin's debian12",
        "mapped: ns1: bind source ./zones does not exist: created as an empty folder, as "
        "Docker creates it",
        "dropped: ns1: the cgroup mount: the run profile gives systemd what it needs",
    ]


def test_what_several_platforms_share_is_said_once(tmp_path: Path) -> None:
    platform = "  - name: {}\n    image: debian:12\n    privileged: true\n    foo: 1\n"
    folder = scenario(tmp_path, "platforms:\n" + "".join(platform.format(n) for n in "abc"))
    assert convert(folder, KNOWN, environ={}).summary() == [
        "mapped: a, b, c: image debian:12 runs as this plugin's debian12",
        "dropped: a, b, c: privileged: true: the least-privileged profile runs the image's "
        "init (--dockerlab-molecule-privileged keeps it)",
        "unsupported: a, b, c: foo",
    ]


def test_privileged_is_kept_only_when_asked(tmp_path: Path) -> None:
    folder = scenario(tmp_path, MULTI)
    assert "privileged" not in convert(folder, KNOWN, environ={}).lab["hosts"]["web"]
    kept = convert(folder, KNOWN, environ={}, privileged=True)
    assert kept.lab["hosts"]["web"]["privileged"] is True
    assert "mapped: web: privileged: true is kept (--dockerlab-molecule-privileged)" in (
        kept.summary()
    )
    assert parse_lab(kept.lab, kept.path).hosts["web"].privileged


ONE = "platforms:\n  - name: a\n    image: debian:12\n"
PLAY = "- hosts: all\n  tasks: []\n"


@pytest.mark.parametrize(
    ("sequence", "stages", "idempotence"),
    [
        (None, ["converge", "idempotence", "side_effect", "verify"], True),
        # Without idempotence in the sequence, there is no idempotence pass.
        ("[dependency, create, prepare, converge, verify, destroy]", ["converge", "verify"],
         False),
        ("[converge, check, idempotence, side_effect, verify, side_effect reboot.yml, verify]",
         ["converge", "check", "idempotence", "side_effect", "verify", "side_effect", "verify"],
         True),
    ],
)  # fmt: skip
def test_the_test_sequence_gives_the_items_and_their_order(
    tmp_path: Path, sequence: str | None, stages: list[str], idempotence: bool
) -> None:
    text = ONE + (f"scenario:\n  test_sequence: {sequence}\n" if sequence else "")
    folder = scenario(tmp_path, text, verify=PLAY, side_effect=PLAY, reboot=PLAY)
    converted = convert(folder, KNOWN, environ={})
    assert [stage for stage, _ in converted.stages] == stages
    assert converted.lab["ansible"]["idempotence"] is idempotence
    if sequence and "reboot" in sequence:
        assert converted.stages[5] == ("side_effect", folder / "reboot.yml")
        assert converted.stages[1] == ("check", folder / "converge.yml")


@pytest.mark.parametrize(
    ("sequence", "message"),
    [
        ("[converge, lint2]", r"test_sequence\[1\]: 'lint2' is no Molecule step \(dependency"),
        ("[converge, verify nope.yml]", r"test_sequence\[1\]: verify nope.yml: no such playbook"),
        ("converge", "must be a list of step names"),
    ],
)
def test_a_test_sequence_it_cannot_follow_says_which_step(
    tmp_path: Path, sequence: str, message: str
) -> None:
    folder = scenario(tmp_path, ONE + f"scenario:\n  test_sequence: {sequence}\n")
    with pytest.raises(ScenarioError, match=message):
        convert(folder, KNOWN, environ={})


def test_the_labs_errors_name_molecule_yml_keys(tmp_path: Path) -> None:
    """bind's scenario: the error named hosts.ns1.volumes[1] for platforms[0].volumes[2]."""

    folder = scenario(
        tmp_path,
        "platforms:\n  - name: ns0\n    image: debian:12\n  - name: ns1\n    image: debian:12\n"
        "    volumes: [/sys/fs/cgroup:/sys/fs/cgroup:rw, /srv:/srv, /srv:/data]\n",
    )
    with pytest.raises(ScenarioError) as raised:
        scenario_lab(folder, Settings())
    assert raised.value.problem == (
        "molecule.yml: platforms[1].volumes[2]: '/srv' is mounted twice in this host (also "
        "volumes[1])"
    )


BIND = """
platforms:
  - name: ns1
    image: debian:12
    docker_networks:
      - name: dnsnet
        ipam_config:
          - subnet: 10.11.0.0/24
    networks:
      - name: dnsnet
        ipv4_address: 10.11.0.10
        links: [ns2]
  - name: ns2
    image: debian:12
    networks:
      - {name: dnsnet, ipv4_address: 10.11.0.11, aliases: [secondary]}
"""


def test_docker_networks_and_fixed_addresses_carry_over(tmp_path: Path) -> None:
    """bind's scenario checks its servers at their fixed addresses."""
    converted = convert(scenario(tmp_path, BIND), KNOWN, environ={})
    lab = converted.lab
    assert lab["networks"] == {"dnsnet": {"subnet": "10.11.0.0/24"}}
    assert lab["hosts"]["ns2"]["networks"] == [
        {"name": "dnsnet", "aliases": ["secondary"], "ipv4_address": "10.11.0.11"}
    ]
    assert "unsupported: ns1: networks[0].links" in converted.summary()
    spec = parse_lab(lab, converted.path)
    assert spec.networks["dnsnet"].subnet == "10.11.0.0/24"
    assert spec.hosts["ns1"].container.networks[0].ipv4_address == "10.11.0.10"


def test_a_fixed_address_outside_its_subnet_names_the_platform(tmp_path: Path) -> None:

    folder = scenario(tmp_path, BIND.replace("10.11.0.11", "10.12.0.11"))
    with pytest.raises(ScenarioError) as raised:
        scenario_lab(folder, Settings())
    assert raised.value.problem == (
        "molecule.yml: platforms[1].networks[0].ipv4_address: 10.12.0.11 is no host address of "
        "dnsnet's subnet 10.11.0.0/24"
    )


@pytest.mark.parametrize("collection_base", [False, True])
def test_molecules_base_config_is_merged_under_molecule_yml(
    tmp_path: Path, collection_base: bool
) -> None:
    """The first base config Molecule finds (the project's .config/molecule/config.yml, a
    collection's extensions/molecule/config.yml, the user's), under each scenario's own."""
    home, project = tmp_path / "home", tmp_path / "collection"
    own = project / "extensions" / "molecule" / "config.yml" if collection_base else None
    for base, text in (
        (home / ".config" / "molecule" / "config.yml", "provisioner:\n  env: {FROM_HOME: '1'}\n"),
        (own or project / ".config" / "molecule" / "config.yml",
         "platforms:\n  - name: base\n    image: debian:12\nprovisioner:\n"
         "  env: {BOTH: project}\n  config_options: {defaults: {forks: 3}}\n"),
    ):  # fmt: skip
        base.parent.mkdir(parents=True, exist_ok=True)
        base.write_text(text)
    folder = project / "extensions" / "molecule" / "default"
    folder.mkdir(parents=True)
    (folder / "molecule.yml").write_text("provisioner:\n  env: {OWN: x}\n")
    (folder / "converge.yml").write_text(PLAY)
    converted = convert(folder, KNOWN, environ={"HOME": str(home)})
    assert list(converted.lab["hosts"]) == ["base"]  # the project's platforms
    env = converted.lab["ansible"]["env"]
    assert (env.get("FROM_HOME"), env["BOTH"], env["OWN"]) == (None, "project", "x")
    assert converted.lab["ansible"]["config"] == {"defaults": {"forks": 3}}
    assert converted.environment["MOLECULE_PROJECT_DIRECTORY"] == str(project)


def test_the_users_base_config_is_the_last_place_looked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "molecule").mkdir(parents=True)
    (home / ".config" / "molecule" / "config.yml").write_text(
        "platforms: [{name: mine, image: debian:12}]\n"
    )
    folder = tmp_path / "role" / "molecule" / "default"
    folder.mkdir(parents=True)
    (folder / "molecule.yml").write_text("driver: {name: docker}\n")
    (folder / "converge.yml").write_text(PLAY)
    assert list(convert(folder, KNOWN, environ={"HOME": str(home)}).lab["hosts"]) == ["mine"]


def test_a_platform_user_is_created_before_the_prepare(tmp_path: Path) -> None:
    """dev-sec's ssh_hardening connects as the image's non-root ansible user."""

    text = ONE + "provisioner:\n  inventory:\n    host_vars:\n      a: {ansible_user: ansible}\n"
    folder = scenario(tmp_path, text, prepare=PLAY)
    spec, converted = scenario_lab(folder, Settings())
    assert converted.users == {"a": "ansible"}
    users = folder / ".dockerlab" / "users.yml"
    assert spec.ansible.prepare == (users, folder / "prepare.yml")
    play = yaml.safe_load(users.read_text())[0]
    assert play["vars"] == {"ansible_user": "root", "dockerlab_users": {"a": "ansible"}}


def test_a_role_file_named_in_the_options_is_the_projects(tmp_path: Path) -> None:
    """dev-sec's nginx_hardening: role-file: molecule/nginx_hardening/requirements.yml."""
    text = ONE + "dependency:\n  name: galaxy\n  options:\n    role-file: {}\n"
    folder = scenario(tmp_path, text.format("molecule/default/requirements.yml"))
    (folder / "requirements.yml").write_text("roles: []\n")
    assert convert(folder, KNOWN, environ={}).lab["ansible"]["requirements"] == [
        str(folder / "requirements.yml")
    ]
    (folder / "molecule.yml").write_text(text.format("nope.yml"))
    converted = convert(folder, KNOWN, environ={})
    assert "requirements" not in converted.lab["ansible"]
    assert (
        "unsupported: dependency.options.role-file nope.yml: no such file in the project or the "
        "scenario"
    ) in converted.summary()


def test_a_gateway_of_its_own_and_a_step_before_the_converge_are_said(tmp_path: Path) -> None:
    """bind's scenario: subnet 10.11.0.0/16 with gateway 10.11.0.254, ns1 at 10.11.0.1;
    dev-sec's sequence runs check before converge."""
    text = BIND.replace("- subnet: 10.11.0.0/24", "- {subnet: 10.11.0.0/16, gateway: 10.11.0.254}")
    text = text.replace("10.11.0.10", "10.11.0.1")
    text += "scenario:\n  test_sequence: [check, converge, idempotence]\n"
    converted = convert(scenario(tmp_path, text), KNOWN, environ={})
    spec = parse_lab(converted.lab, converted.path)
    assert (spec.networks["dnsnet"].subnet, spec.networks["dnsnet"].gateway) == (
        "10.11.0.0/16",
        "10.11.0.254",
    )
    assert (
        "unsupported: scenario.test_sequence[0]: check comes before converge there; here it runs "
        "after it (the lab converges first)"
    ) in converted.summary()
    with pytest.raises(LabFileError, match=r"10.11.0.1 is the gateway of dnsnet's subnet"):
        parse_lab(
            {**converted.lab, "networks": {"dnsnet": {"subnet": "10.11.0.0/16",
                                                       "gateway": "10.11.0.1"}}},
            converted.path,
        )  # fmt: skip


def _scenarios(root: Path, shared: str, names: tuple[str, ...]) -> Path:
    (root / ".config" / "molecule").mkdir(parents=True)
    (root / ".config" / "molecule" / "config.yml").write_text(shared)
    for name in names:
        folder = root / "molecule" / name
        folder.mkdir(parents=True)
        (folder / "molecule.yml").write_text(f"platforms: [{{name: {name}, image: debian:12}}]\n")
        (folder / "converge.yml").write_text(PLAY)
    return root / "molecule"


def test_under_shared_state_every_scenario_runs_on_the_default_scenarios_platforms(
    tmp_path: Path,
) -> None:
    """Molecule's shared_state: the default scenario creates the instances; every scenario's
    sequence runs on them."""
    folder = _scenarios(tmp_path, "shared_state: true\n", ("alpha", "default"))
    (folder / "beta").mkdir()
    (folder / "beta" / "molecule.yml").write_text("driver: {name: docker}\n")  # no platforms
    (folder / "beta" / "converge.yml").write_text(PLAY)
    found = scenario_labs(Settings(molecule=folder))
    assert found is not None and found.shared == folder / "default"
    hosts = {lab.folder.name: lab.spec.host_names for lab in found.runnable() if lab.spec}
    assert hosts == {"alpha": ("default",), "beta": ("default",), "default": ("default",)}
    alpha = found.labs[folder / "alpha"].scenario
    assert alpha is not None
    assert "mapped: platforms: the default scenario's instances (shared_state)" in alpha.summary()


def test_shared_state_without_a_default_scenario_is_said_and_not_honoured(tmp_path: Path) -> None:
    folder = _scenarios(tmp_path, "shared_state: true\n", ("alpha", "beta"))
    found = scenario_labs(Settings(molecule=folder))
    assert found is not None and found.shared is None
    assert found.said.startswith("shared_state: no default scenario to create the instances")
    hosts = [lab.spec.host_names for lab in found.runnable() if lab.spec]
    assert hosts == [("alpha",), ("beta",)]


NATIVE = """
ansible:
  executor:
    args:
      ansible_playbook: ["--inventory={{ molecule_scenario_directory }}/../inventory/"]
  env: {ANSIBLE_FORCE_HANDLERS: "true"}
  playbooks: {create: create.yml, destroy: destroy.yml, converge: converge.yml}
"""

LISTING = {
    "_meta": {
        "hostvars": {
            "web-01": {
                "ansible_connection": "community.docker.docker",
                "ansible_host": "molecule-web-01",
                "image": "geerlingguy/docker-debian12-ansible",
                "port": 8080,
            },
            "far": {"ansible_host": "10.0.0.1"},
        }
    },
    "all": {"children": ["ungrouped", "test_resources"]},
    "test_resources": {"children": ["web"]},
    "web": {"hosts": ["web-01"]},
    "ungrouped": {"hosts": ["far"]},
}


def test_an_ansible_native_scenarios_container_hosts_are_its_platforms(tmp_path: Path) -> None:
    """Molecule's ansible-native configuration: the inventory's docker-connected hosts
    become lab hosts (create.yml and destroy.yml do not run); others are said."""
    folder = scenario(tmp_path, NATIVE, create="- hosts: localhost\n  tasks: []\n")
    asked = []

    def reader(sources: Any, cwd: Path, env: Any) -> dict[str, Any]:
        asked.append((list(sources), cwd))
        return LISTING

    converted = convert(folder, KNOWN, environ={}, read_inventory=reader)
    assert asked == [([str(folder.parent / "inventory")], folder)]
    web = converted.lab["hosts"]["web-01"]
    assert converted.lab["image"] == "debian12"
    assert web["groups"] == ["test_resources", "web"]
    own = {k: v for k, v in web["vars"].items() if k not in MOLECULE_VARS}
    assert own == {"image": "geerlingguy/docker-debian12-ansible", "port": 8080}
    assert converted.lab["ansible"]["env"]["ANSIBLE_FORCE_HANDLERS"] == "true"
    notes = converted.summary()
    assert any("its container hosts are the platforms, made by the lab (create.yml and "
               "destroy.yml do not run)" in n for n in notes)  # fmt: skip
    assert "unsupported: inventory host far (ssh): not a container" in notes
    assert [stage for stage, _ in converted.stages] == ["converge", "idempotence"]


@pytest.mark.parametrize(
    ("molecule_yml", "listing", "message"),
    [
        ("ansible: {playbooks: {converge: converge.yml}}\n", LISTING,
         "an ansible-native scenario .* with no inventory"),
        (NATIVE, {"_meta": {"hostvars": {"far": {"ansible_host": "10.0.0.1"}}}},
         r"names no docker or podman instance: the lab makes containers, not the hosts its "
         r"create.yml reaches; run it with Molecule"),
    ],
)  # fmt: skip
def test_an_ansible_native_scenario_without_containers_says_why(
    tmp_path: Path, molecule_yml: str, listing: dict[str, Any], message: str
) -> None:
    folder = scenario(tmp_path, molecule_yml)
    with pytest.raises(ScenarioError, match=message):
        convert(folder, KNOWN, environ={}, read_inventory=lambda *_: listing)


def test_a_sequence_without_converge_boots_the_platforms_and_needs_no_converge_yml(
    tmp_path: Path,
) -> None:
    """A shared_state default scenario: test_sequence [create, destroy], no converge.yml."""
    folder = tmp_path / "molecule" / "default"
    folder.mkdir(parents=True)
    (folder / "molecule.yml").write_text(
        "platforms: [{name: x, image: debian:12}]\nscenario: {test_sequence: [create, destroy]}\n"
    )
    converted = convert(folder, KNOWN, environ={})
    assert converted.stages == [("create", None)]
    assert converted.lab["ansible"]["playbooks"] == []


def test_a_collections_galaxy_dependencies_that_are_not_installed_are_named(
    tmp_path: Path,
) -> None:
    collection = tmp_path / "acme" / "demo"
    collection.mkdir(parents=True)
    (collection / "galaxy.yml").write_text(
        "namespace: acme\nname: demo\ndependencies: {acme.there: '*', acme.gone: '>=1'}\n"
    )
    installed = tmp_path / "installed"
    (installed / "ansible_collections" / "acme" / "there").mkdir(parents=True)
    found = under_test(collection / "extensions" / "molecule" / "default")
    assert found is not None and found.dependencies == ("acme.there", "acme.gone")
    assert found.missing([installed]) == ["acme.gone"]


def test_an_image_of_no_distribution_of_ours_is_built_on_where_a_registry_answers(
    tmp_path: Path,
) -> None:
    """quay.io/acme/fedora:40: a recipe of its own with that image as its base; where no
    registry gives it, the platform's failure says what to do instead."""
    folder = scenario(tmp_path, "platforms:\n  - name: x\n    image: quay.io/acme/fedora:40\n")
    converted = convert(folder, KNOWN, environ={})
    assert converted.lab["image"] == "molecule-quay-io-acme-fedora-40"
    assert converted.foreign_images == {"molecule-quay-io-acme-fedora-40": "quay.io/acme/fedora:40"}
    assert "Give platforms[0] such an image (image: debian:12)" in converted.foreign_hints["x"]
    assert any("built on it where a registry answers" in n for n in converted.summary())
    spec, recipes, _ = load_lab(Settings(molecule=folder))
    assert spec is not None
    recipe = recipes["molecule-quay-io-acme-fedora-40"]
    assert (recipe.base, recipe.init) == ("quay.io/acme/fedora:40", "systemd")
    assert recipe.path == folder / ".dockerlab" / "images" / "molecule-quay-io-acme-fedora-40"


def test_import_of_a_sequence_without_converge_writes_a_create_test(tmp_path: Path) -> None:
    folder = tmp_path / "molecule" / "default"
    folder.mkdir(parents=True)
    (folder / "molecule.yml").write_text(
        "platforms: [{name: x, image: debian:12}]\nscenario: {test_sequence: [create, destroy]}\n"
    )
    converted = convert(folder, KNOWN, environ={})
    assert write_stage_tests(converted, folder / STAGE_TESTS) == ["create"]
    text = (folder / STAGE_TESTS).read_text()
    assert "def test_create(lab):" in text and "test_converge" not in text


def test_the_inventory_vars_are_written_where_molecule_writes_them(tmp_path: Path) -> None:
    """konstruktoid's verify reads .../inventory/host_vars/bookworm, as Molecule writes it."""
    folder = scenario(
        tmp_path,
        "platforms: [{name: bookworm, image: debian:12}]\nprovisioner:\n  inventory:\n"
        "    host_vars: {bookworm: {sshd_port: 2222}}\n    group_vars: {all: {site: x}}\n",
    )
    converted = scenario_lab(folder, Settings())[1]
    inventory = Path(converted.environment["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    assert yaml.safe_load((inventory / "host_vars" / "bookworm").read_text()) == {"sshd_port": 2222}
    assert yaml.safe_load((inventory / "group_vars" / "all").read_text()) == {"site": "x"}
