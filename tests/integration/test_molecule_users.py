"""What a Molecule user brings: a role's own scenario, requirements, stages, Ansible options."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from .conftest import RECORD_SESSION, leftovers, remove_cache_entries, run, session_id

pytestmark = pytest.mark.integration

NTP = Path(__file__).parent / "labs" / "geerlingguy.ntp"

VERIFY = """
- name: Verify
  hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.package_facts:
    - ansible.builtin.assert:
        that: "'ntpsec' in ansible_facts.packages"
"""

TESTINFRA = """
def test_the_role_installed_ntpsec(host):
    assert host.package("ntpsec").is_installed
    assert host.file("/etc/ntpsec/ntp.conf").contains("pool.ntp.org")
"""


def test_a_real_roles_molecule_scenario_runs_as_it_is(
    pytester: pytest.Pytester, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = pytester.path / "ansible-role-ntp"
    shutil.copytree(NTP, role)
    scenario = role / "molecule" / "default"
    (scenario / "verify.yml").write_text(VERIFY)
    (scenario / "tests").mkdir()
    (scenario / "tests" / "test_default.py").write_text(TESTINFRA)
    monkeypatch.setenv("MOLECULE_DISTRO", "debian12")  # the scenario's default is rockylinux9
    cached = "--dockerlab-cache=on"
    result = run(pytester, "--dockerlab-molecule", str(scenario), "-v", cached)
    # The Ansible verifier (Molecule's default): verify.yml runs, tests/ does not.
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "dockerlab: molecule.yml dropped: instance: privileged: true: the least-privileged*",
            "dockerlab: molecule.yml dropped: tests/ is not run: the verifier is ansible*",
            "*role under test: geerlingguy.ntp, ntp, ansible-role-ntp (*ansible-role-ntp)",
            "*molecule.yml::converge PASSED*",
            "*molecule.yml::idempotence PASSED*",
            "*molecule.yml::verify PASSED*",
        ]
    )
    # The role was linked by its names in a folder of the run's, never in the user's tree.
    assert not [p for p in role.rglob("*") if p.is_symlink()]
    assert labelled_by(docker_client, result) == []

    # Imported: the command it prints runs the stages as tests (verify.yml included).
    imported = subprocess.run(
        [sys.executable, "-m", "pytest_dockerlab", "import-molecule", str(scenario)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    command = imported.stdout.splitlines()[-1]
    assert command == f"run it with: pytest {scenario / 'test_molecule_stages.py'}"
    stages = run(pytester, command.split()[-1], "-v", "--dockerlab-cache=off")
    stages.assert_outcomes(passed=2)
    stages.stdout.fnmatch_lines(["*::test_converge PASSED*", "*::test_verify PASSED*"])
    for written in ("dockerlab.yml", "test_molecule_stages.py"):
        (scenario / written).unlink()

    # The testinfra verifier, and the scenario named by a lab file: tests/ runs once per
    # platform, with the platform's name in its id (a cache hit: the lab did not change).
    with (scenario / "molecule.yml").open("a") as f:
        f.write("verifier:\n  name: testinfra\n")
    (role / "dockerlab.yml").write_text("molecule: molecule/default\n")
    again = run(pytester, "--dockerlab-file", str(role / "dockerlab.yml"), "-v", cached)
    again.assert_outcomes(passed=3)
    again.stdout.fnmatch_lines(
        [
            "*converge cache: hit for instance*",
            "*test_default.py::test_the_role_installed_ntpsec[[]ansible://instance[]] PASSED*",
        ]
    )
    # A cache hit ran no converge: its stages' passes say so, never look like a run.
    again.stdout.fnmatch_lines(
        ["*molecule.yml::converge PASSED (nothing ran: the converge cache: entry *)*"]
    )
    remove_cache_entries(docker_client, scenario / "molecule.yml")


def molecule_scenario(
    pytester: pytest.Pytester, name: str, molecule_yml: str, converge_yml: str
) -> Path:
    """molecule/NAME in the test's folder, with its molecule.yml and converge.yml."""
    scenario = pytester.path / "molecule" / name
    scenario.mkdir(parents=True)
    (scenario / "molecule.yml").write_text(molecule_yml)
    (scenario / "converge.yml").write_text(converge_yml)
    return scenario


def labelled_by(client: Any, result: pytest.RunResult) -> list[str]:
    session = re.search(r"^dockerlab: .*\bsession ([0-9a-f]{8})\b", result.stdout.str(), re.M)
    assert session is not None, "no session in the header"
    return leftovers(client, session[1])


def test_a_scenario_whose_converge_fails_fails_its_converge_item(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    scenario = molecule_scenario(
        pytester,
        "default",
        "platforms:\n  - name: instance\n    image: geerlingguy/docker-debian12-ansible\n",
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Break\n      ansible.builtin.command: /bin/false\n",
    )
    result = run(pytester, "--dockerlab-molecule", str(scenario))
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "  instance: TASK [Break] (ansible.builtin.command): non-zero return code",
            "*- dockerlab: ansible output -*",
            "FAILED molecule/default/molecule.yml::converge - Failed: playbook *",
        ]
    )


ROLE_META = "galaxy_info:\n  namespace: acme\n  role_name: base\n  author: acme\n"
COLLECTION = """namespace: acme
name: tools
version: 1.0.0
readme: README.md
authors: [acme]
"""
REQUIREMENTS = """roles:
  - name: acme.base
    src: ./base.tar.gz
collections:
  - name: ./acme-tools-1.0.0.tar.gz
    type: file
"""
USES_THEM = """
- hosts: all
  gather_facts: false
  roles: [acme.base, acme.tools.hello]
"""
USED = """
def test_both_ran(lab):
    web = lab.host("web")
    assert web.file("/etc/from-role").exists
    assert web.file("/etc/from-collection").exists
"""


def requirements_lab(pytester: pytest.Pytester) -> None:
    source = pytester.path / "sources"
    (source / "base" / "tasks").mkdir(parents=True)
    (source / "base" / "meta").mkdir()
    (source / "base" / "meta" / "main.yml").write_text(ROLE_META)
    (source / "base" / "tasks" / "main.yml").write_text(
        "- ansible.builtin.copy: {dest: /etc/from-role, content: x}\n"
    )
    with tarfile.open(pytester.path / "base.tar.gz", "w:gz") as tar:
        tar.add(source / "base", arcname="base")
    collection = source / "acme" / "tools"
    (collection / "roles" / "hello" / "tasks").mkdir(parents=True)
    (collection / "galaxy.yml").write_text(COLLECTION)
    (collection / "README.md").write_text("# tools\n")
    (collection / "roles" / "hello" / "tasks" / "main.yml").write_text(
        "- ansible.builtin.copy: {dest: /etc/from-collection, content: x}\n"
    )
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run(
        [galaxy, "collection", "build", str(collection), "--output-path", str(pytester.path)],
        check=True,
        capture_output=True,
    )
    (pytester.path / "requirements.yml").write_text(REQUIREMENTS)
    pytester.makefile(
        ".yml",
        dockerlab="ansible:\n  playbooks: [site.yml]\n  requirements: requirements.yml\n"
        "hosts:\n  web: {}\n",
        site=USES_THEM,
    )
    pytester.makepyfile(USED)


def test_requirements_install_once_from_local_tarballs_and_then_need_nothing(
    pytester: pytest.Pytester, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(pytester.path / "cache"))
    requirements_lab(pytester)
    first = run(pytester)
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["dockerlab: installing requirements of requirements.yml into *"])
    # Installed once: the next session with the same content takes them from the cache.
    second = run(pytester)
    second.assert_outcomes(passed=1)
    assert "installing requirements" not in second.stdout.str()

    (pytester.path / "requirements.yml").write_text(
        REQUIREMENTS.replace("./base.tar.gz", "./missing.tar.gz")
    )
    broken = run(pytester)
    broken.assert_outcomes(errors=1)
    broken.stdout.fnmatch_lines(
        ["*requirements.yml: requirement acme.base could not be installed: ./missing.tar.gz not*"]
    )


STAGES_LAB = """
ansible:
  prepare: [prepare.yml]
  playbooks: [site.yml]
  cleanup: [cleanup.yml]
  idempotence: true
  env: {LAB_VALUE: from-the-lab-file, CLEANUP_FILE: "%s"}
  config: {defaults: {error_on_undefined_vars: true}}
hosts:
  web: {}
"""
PREPARE = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.shell: echo prepare >> /root/log
"""
SITE = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Log each converge (Molecule users tag such a task for the idempotence pass)
      ansible.builtin.shell: echo converge >> /root/log
      tags: [molecule-idempotence-notest]
    - name: Write what the environment says
      ansible.builtin.copy: {dest: /root/env, content: "{{ lookup('env', 'LAB_VALUE') }}"}
      tags: [envfile]
    - name: Never in a converge
      ansible.builtin.file: {path: /root/notest-ran, state: touch}
      tags: [notest]
"""
CLEANUP = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ lookup('env', 'CLEANUP_FILE') }}"
        content: "cleaned {{ inventory_hostname }}"
      delegate_to: localhost
"""
STAGES_TEST = """
def test_stages_tags_and_options(lab):
    web = lab.host("web")
    # prepare once, converge once: the idempotence pass skipped the tagged task
    assert web.file("/root/log").content_string == "prepare\\nconverge\\n"
    assert web.file("/root/env").content_string == "from-the-lab-file"
    assert not web.file("/root/notest-ran").exists
    checked = lab.converge("site.yml", check=True)
    assert checked.ok
    assert web.file("/root/log").content_string == "prepare\\nconverge\\n"  # check mode
    tagged = lab.converge("site.yml", tags=["envfile"])
    assert tagged.ok and [t.task for t in tagged.changed_tasks] == []
    assert web.file("/root/log").content_string == "prepare\\nconverge\\n"  # only the tag
"""


def test_prepare_cleanup_notest_tags_and_options(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    mark = pytester.path / "cleanup-ran"
    pytester.makefile(
        ".yml",
        dockerlab=STAGES_LAB % mark,
        prepare=PREPARE,
        site=SITE,
        cleanup=CLEANUP,
    )
    pytester.makepyfile(STAGES_TEST)
    pytester.makeconftest(RECORD_SESSION)
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "dockerlab: converging prepare.yml on web",
            "dockerlab: converging site.yml on web",
            "dockerlab: idempotence pass: running site.yml again on web",
        ]
    )
    assert mark.read_text() == "cleaned web"  # before the lab went
    assert leftovers(docker_client, session_id(pytester)) == []


CONTROLLER_VERIFY = """
- name: Verify from the controller
  hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ playbook_dir }}/checked-here"
        content: "x"
    - name: Check
      ansible.builtin.fail:
        msg: checked on the controller
"""


def test_a_verify_for_the_controller_runs_there_and_one_that_matches_nothing_fails(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """Both passed in 0.5 s without running (the limit left localhost out), and the role's
    other scenario's tests ran against this machine."""
    scenario = molecule_scenario(
        pytester,
        "lh",
        "platforms:\n  - name: instance\n    image: geerlingguy/docker-debian12-ansible\n",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n",
    )
    (scenario / "verify.yml").write_text(CONTROLLER_VERIFY)
    other = pytester.path / "molecule" / "default"
    (other / "tests").mkdir(parents=True)
    (other / "molecule.yml").write_text("platforms:\n  - name: other\n")
    (other / "tests" / "test_default.py").write_text(
        "def test_other(host):\n    assert False, 'ran against this machine'\n"
    )
    result = run(pytester, "--dockerlab-molecule", "molecule/lh", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*molecule.yml::verify FAILED*",
            "  localhost: TASK [Check] (ansible.builtin.fail): checked on the controller",
        ]
    )
    assert (scenario / "checked-here").read_text() == "x"
    result.stdout.no_fnmatch_line("*test_other*")

    (scenario / "verify.yml").write_text(CONTROLLER_VERIFY.replace("localhost", "verifiers"))
    nothing = run(pytester, "--dockerlab-molecule", "molecule/lh")
    nothing.assert_outcomes(passed=2, failed=1)
    nothing.stdout.fnmatch_lines(
        [
            "verify.yml ran no task: none of its plays (hosts: verifiers) matched a host of the "
            "lab (instance) or the controller (localhost)"
        ]
    )
    assert labelled_by(docker_client, nothing) == []


def test_the_test_sequence_is_followed(pytester: pytest.Pytester, docker_client: Any) -> None:
    """A scenario without idempotence in its sequence (its converge changes every time)
    failed the idempotence item Molecule never runs; check and a second verify ran not."""
    scenario = molecule_scenario(
        pytester,
        "default",
        "platforms:\n  - name: instance\n    image: debian:12\n"
        "scenario:\n  test_sequence: [create, converge, check, verify, side_effect, verify]\n",
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.command: touch /tmp/converged\n",  # changed every time,
    )
    (scenario / "side_effect.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.file: {path: /tmp/converged, state: absent}\n"
    )
    (scenario / "verify.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.stat: {path: /tmp/converged}\n      register: st\n"
        "    - ansible.builtin.assert: {that: st.stat.exists}\n"
    )
    result = run(pytester, "--dockerlab-molecule", str(scenario), "-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*molecule.yml::converge PASSED*",
            "*molecule.yml::check PASSED*",
            "*molecule.yml::verify PASSED*",
            "*molecule.yml::side_effect PASSED*",
            "*molecule.yml::verify_2 FAILED*",  # the side effect removed the file
        ]
    )
    result.stdout.no_fnmatch_line("*::idempotence*")
    assert labelled_by(docker_client, result) == []


def test_a_platform_user_connects_and_becomes_root_with_molecules_variables(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """dev-sec's ssh_hardening connects as the image's non-root ansible user, which our
    images lack: the run creates it, with sudo."""
    scenario = molecule_scenario(
        pytester,
        "default",
        "platforms:\n  - name: instance\n    image: debian:12\n"
        "provisioner:\n  inventory:\n    host_vars:\n      instance: {ansible_user: ansible}\n",
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.command: whoami\n      register: who\n      changed_when: false\n"
        "    - ansible.builtin.assert: {that: who.stdout == 'ansible'}\n"
        "    - ansible.builtin.command: whoami\n      become: true\n      register: root\n"
        "      changed_when: false\n"
        "    - ansible.builtin.assert: {that: root.stdout == 'root'}\n"
        # Molecule's inventory variables (os_hardening reads molecule_yml.driver.name)
        "    - ansible.builtin.assert:\n        that:\n"
        "          - molecule_yml.platforms[0].name == 'instance'\n"
        "          - molecule_scenario_directory is directory\n",
    )
    result = run(pytester, "--dockerlab-molecule", str(scenario), "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*mapped: instance: user ansible (ansible_user) is created*"])
    assert labelled_by(docker_client, result) == []


def test_a_platform_that_cannot_be_created_does_not_hide_the_others_failure(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """konstruktoid's scenario: noble could not be built here, and bookworm's failed converge
    was said nowhere."""
    scenario = molecule_scenario(
        pytester,
        "default",
        "platforms:\n  - name: old\n    image: centos:6\n  - name: new\n    image: debian:12\n",
        "- hosts: new\n  gather_facts: false\n  tasks:\n"
        "    - name: Break\n      ansible.builtin.command: /bin/false\n",
    )
    result = run(pytester, "--dockerlab-molecule", str(scenario), "-rs")
    # The converge item says it all; the idempotence pass points to it, once.
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "platform old: *",
            "  new: TASK [[]Break[]] (ansible.builtin.command): non-zero return code",
            "SKIPPED * the platforms could not be created: see the converge item",
        ]
    )
    assert labelled_by(docker_client, result) == []


def test_a_folder_of_scenarios_runs_each_as_a_lab_of_its_own(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """Molecule's --all: two scenarios with a platform of the same name get a lab each, one
    after the other, each with its own variables; testinfra that reads the inventory at
    import runs on its own scenario's platforms; a scenario that cannot run fails alone."""
    converge = (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n        dest: /etc/scenario\n"
        "        content: \"{{ lookup('env', 'MOLECULE_SCENARIO_NAME') }}\\n\"\n"
    )
    alpha = molecule_scenario(
        pytester,
        "alpha",
        "platforms: [{name: instance, image: debian:12}]\nverifier: {name: testinfra}\n",
        converge,
    )
    (alpha / "tests").mkdir()
    (alpha / "tests" / "test_alpha.py").write_text(
        "import os\nimport testinfra.utils.ansible_runner\n\n"
        "testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(\n"
        "    os.environ['MOLECULE_INVENTORY_FILE']).get_hosts('all')\n\n\n"
        "def test_alpha(host):\n"
        "    assert host.file('/etc/scenario').content_string == 'alpha\\n'\n"
    )
    beta = molecule_scenario(
        pytester,
        "beta",
        "platforms:\n  - {name: instance, image: debian:12}\n  - {name: other, image: debian:12}\n",
        converge,
    )
    (beta / "verify.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.slurp: {src: /etc/scenario}\n      register: written\n"
        "    - ansible.builtin.assert: {that: \"(written.content | b64decode) == 'beta\\n'\"}\n"
    )
    molecule_scenario(pytester, "broken", "platforms: []\n", converge)
    result = run(pytester, "--dockerlab-molecule", "molecule", "--dockerlab-cache", "off", "-v")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(
        [
            "dockerlab: the Molecule scenarios in */molecule, each a lab of its own, one after "
            "another (session *):",
            "dockerlab:   alpha (hosts: instance)",
            "dockerlab:   beta (hosts: instance, other)",
            "dockerlab:   broken (error)",
            "*alpha/molecule.yml::converge PASSED*",
            "*alpha/molecule.yml::idempotence PASSED*",
            "*alpha/tests/test_alpha.py::test_alpha?ansible://instance? PASSED*",
            "*beta/molecule.yml::converge PASSED*",
            "*beta/molecule.yml::idempotence PASSED*",
            "*beta/molecule.yml::verify PASSED*",
            "*broken/molecule.yml::converge FAILED*",
            "*Molecule scenario */broken: no platforms: a lab needs at least one host",
        ]
    )
    assert labelled_by(docker_client, result) == []


def test_under_shared_state_every_scenario_runs_on_the_default_scenarios_instances(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """Molecule's shared_state (from the base config): one set of instances, the default
    scenario's; each scenario converges them in turn, so the last sees what all did."""
    (pytester.path / ".config" / "molecule").mkdir(parents=True)
    (pytester.path / ".config" / "molecule" / "config.yml").write_text("shared_state: true\n")

    def writes(name: str) -> str:
        return (
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            f'    - ansible.builtin.copy: {{dest: /etc/sc-{name}, content: "{name}\\n"}}\n'
        )

    alpha = molecule_scenario(pytester, "alpha", "driver: {name: docker}\n", writes("alpha"))
    (alpha / "cleanup.yml").write_text(  # its sequence's cleanup, before the next scenario
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.file: {path: /etc/sc-alpha-cleaned, state: touch}\n"
    )
    molecule_scenario(
        pytester, "default", "platforms: [{name: instance, image: debian:12}]\n", writes("default")
    )
    zeta = molecule_scenario(pytester, "zeta", "verifier: {name: testinfra}\n", writes("zeta"))
    (zeta / "tests").mkdir()
    (zeta / "tests" / "test_zeta.py").write_text(
        "def test_every_scenario_converged_the_same_instance(host):\n"
        "    for name in ('alpha', 'default', 'zeta'):\n"
        "        assert host.file(f'/etc/sc-{name}').content_string == f'{name}\\n'\n"
        "    assert host.file('/etc/sc-alpha-cleaned').exists\n"
    )
    result = run(pytester, "--dockerlab-molecule", "molecule", "--dockerlab-cache", "off", "-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        [
            "dockerlab: the Molecule scenarios in */molecule, all on the instances of default "
            "(shared_state) (session *):",
            "*alpha/molecule.yml::converge PASSED*",
            "*zeta/tests/test_zeta.py::test_every_scenario_converged_the_same_instance*PASSED*",
        ]
    )
    assert result.stdout.str().count("dockerlab: booting instance") == 1
    assert labelled_by(docker_client, result) == []


def test_an_ansible_native_collection_runs_on_its_inventorys_containers(
    pytester: pytest.Pytester, docker_client: Any
) -> None:
    """A collection as Molecule's ansible-native docs lay it out: extensions/molecule with a
    base config (shared_state, the executor's --inventory), a default scenario that only
    creates and destroys, and a component scenario converging the inventory's containers,
    with the inventory's group_vars. Its create.yml would fail: the lab replaces it."""
    root = pytester.path
    (root / "galaxy.yml").write_text("namespace: acme\nname: demo\nversion: 1.0.0\n")
    molecule = root / "extensions" / "molecule"
    (molecule / "inventory" / "group_vars").mkdir(parents=True)
    (molecule / "config.yml").write_text(
        "ansible:\n  executor:\n    args:\n      ansible_playbook:\n"
        "        - --inventory={{ molecule_scenario_directory }}/../inventory/\n"
        "shared_state: true\n"
    )
    (molecule / "inventory" / "hosts.yml").write_text(
        "all:\n  children:\n    test_resources:\n      hosts:\n"
        "        web-01: {image: docker.io/geerlingguy/docker-debian12-ansible:latest}\n"
        "      vars: {ansible_connection: community.docker.docker}\n"
    )
    (molecule / "inventory" / "group_vars" / "test_resources.yml").write_text("greeting: hi\n")
    default = molecule / "default"
    default.mkdir()
    (default / "molecule.yml").write_text("scenario: {test_sequence: [create, destroy]}\n")
    (default / "create.yml").write_text(
        "- hosts: localhost\n  tasks:\n    - ansible.builtin.fail: {msg: not here}\n"
    )
    component = molecule / "component"
    component.mkdir()
    (component / "molecule.yml").write_text(
        "ansible: {playbooks: {converge: converge.yml, verify: verify.yml}}\n"
        "scenario: {test_sequence: [converge, verify]}\n"
    )
    (component / "converge.yml").write_text(
        "- hosts: test_resources\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy: {dest: /etc/greeting, content: '{{ greeting }}'}\n"
    )
    (component / "verify.yml").write_text(
        "- hosts: test_resources\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.slurp: {src: /etc/greeting}\n      register: said\n"
        "    - ansible.builtin.assert: {that: (said.content | b64decode) == 'hi'}\n"
    )
    result = run(pytester, "--dockerlab-molecule", ".", "--dockerlab-cache", "off", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*all on the instances of default (shared_state)*",
            "*default/molecule.yml mapped: inventory */extensions/molecule/inventory: its "
            "container hosts are the platforms, made by the lab (create.yml and destroy.yml do "
            "not run)",
            "*component/molecule.yml::converge PASSED*",
            "*component/molecule.yml::verify PASSED*",
            "*default/molecule.yml::create PASSED*",
        ]
    )
    assert labelled_by(docker_client, result) == []
