"""The bad-input catalogue: each mistake a user can make, the exact line they see, no traceback.

Every row of ``CATALOGUE`` is a row of docs/bad-input.md (``python
tests/plugin/test_bad_input.py`` prints them); ``test_the_docs_show_every_row`` keeps the two
in step. None of these runs needs an engine: ``DOCKER_HOST`` points at a socket that is not
there, so a run that gets as far as the engine says so instead of reaching one.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_dockerlab.exceptions import engine_hint

NO_ENGINE = "unix:///nonexistent/docker.sock"
DOCS = Path(__file__).parents[2] / "docs" / "bad-input.md"
THIS = "tests/plugin/test_bad_input.py::test_bad_input"

USAGE = int(pytest.ExitCode.USAGE_ERROR)  # 4: pytest stopped before any test ran
ARGPARSE = 2  # python -m pytest_dockerlab: a command line it cannot read
FAILED = 1  # python -m pytest_dockerlab: the command ran and could not do it

LAB_TEST = "def test_x(lab): pass\n"
HOST = "hosts:\n  web:\n"
DNS = "(lower-case letters, digits and '-', at most 63 characters)"
HOST_KEYS = (
    "cap_drop, capabilities, command, cpus, env, etc_hosts, groups, hostname, image, memory, "
    "networks, pids_limit, privileged, published_ports, security_opts, sysctls, tmpfs, "
    "ulimits, vars, volumes"
)
GROUP = "(letters, digits, '_', '-' and '.'; not 'all' or 'ungrouped')"
INITS = "systemd, sysvinit"
RECIPE_KEYS = "base, bootstrap, cgroup, cgroup_reason, dockerfile, init, python"
NO_ENGINE_LINE = (
    f"no Docker engine reachable at {NO_ENGINE} (DOCKER_HOST) (no engine socket at "
    f"/nonexistent/docker.sock). {engine_hint()}"
)


@dataclass(frozen=True)
class BadInput:
    """One mistake: what the user wrote or typed, and the line that answers it."""

    id: str
    category: str
    did: str  # what the user did, for the docs (Markdown)
    message: str  # one whole line of the output; ``*`` stands for what varies (paths, lists)
    exit_code: int = USAGE
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cli: bool = False  # python -m pytest_dockerlab ARGS instead of pytest ARGS
    # Something that is not an engine at tcp://127.0.0.1:{port} (see ``SERVERS``).
    server: str = ""


def scenario(molecule_yml: str) -> dict[str, str | bytes]:
    """A Molecule scenario at molecule/default, with its converge playbook."""
    return {
        "molecule/default/molecule.yml": molecule_yml,
        "molecule/default/converge.yml": "- hosts: all\n  tasks: []\n",
    }


PLATFORM = "platforms: [{name: x, image: debian12}]\n"
SCENARIO_ERROR = "ERROR: dockerlab: Molecule scenario */molecule/default: "


def lab(text: str | bytes, tests: str = LAB_TEST) -> dict[str, str | bytes]:
    return {"dockerlab.yml": text, "test_lab.py": tests}


def lab_error(line: int | None, problem: str) -> str:
    where = f", line {line}" if line is not None else ""
    return f"ERROR: dockerlab: lab file */dockerlab.yml{where}: {problem}"


def recipe(recipe_yml: str | None, dockerfile: bool = True, name: str = "mine") -> dict[str, str]:
    """A lab whose host runs the user's recipe ``name`` (recipes/NAME/)."""
    files = {
        "dockerlab.yml": f"images: {{recipes: [recipes]}}\nhosts:\n  web: {{image: {name}}}\n",
        "test_lab.py": LAB_TEST,
    }
    if dockerfile:
        files[f"recipes/{name}/Dockerfile"] = "ARG BASE\nFROM ${BASE}\n"
    if recipe_yml is not None:
        files[f"recipes/{name}/recipe.yml"] = recipe_yml
    return files


def recipe_error(line: int | None, problem: str, name: str = "mine") -> str:
    where = f", line {line}" if line is not None else ""
    return f"ERROR: dockerlab: recipe file */recipes/{name}/recipe.yml{where}: {problem}"


def marked(marker: str, test: str = "def test_x(lab): pass") -> dict[str, str | bytes]:
    return lab("hosts:\n  web: {}\n  db: {}\n", f"import pytest\n\n{marker}\n{test}\n")


def ini(line: str) -> dict[str, str | bytes]:
    return {**lab("hosts:\n  web: {}\n"), "pytest.ini": f"[pytest]\n{line}\n"}


CATALOGUE = [
    # The lab file: the whole document.
    BadInput(
        "lab-file-missing",
        "lab file",
        "`--dockerlab-file labs/nope.yml`, a file that is not there",
        "ERROR: dockerlab: lab file */labs/nope.yml: file not found",
        args=("--dockerlab-file", "labs/nope.yml"),
    ),
    BadInput(
        "lab-file-a-folder",
        "lab file",
        "`--dockerlab-file labs`, a folder",
        "ERROR: dockerlab: lab file */labs: cannot read it: Is a directory",
        files={"labs/keep": ""},
        args=("--dockerlab-file", "labs"),
    ),
    BadInput(
        "lab-file-empty-option",
        "lab file",
        '`--dockerlab-file ""`',
        "ERROR: dockerlab: --dockerlab-file is empty; name a lab file or leave it out",
        files=lab("hosts:\n  web: {}\n"),
        args=("--dockerlab-file", ""),
    ),
    BadInput(
        "lab-file-not-yaml",
        "lab file",
        "a flow mapping left open: `web: {image: debian12`",
        lab_error(
            3,
            "not valid YAML: expected ',' or '}', but got ':' "
            "(column 5; while parsing a flow mapping from line 2)",
        ),
        files=lab("hosts:\n  web: {image: debian12\n  db: {}\n"),
    ),
    BadInput(
        "lab-file-tab",
        "lab file",
        "a tab for indentation",
        lab_error(
            3, "not valid YAML: found character '\\t' that cannot start any token (column 1)"
        ),
        files=lab(f"{HOST}\timage: debian12\n"),
    ),
    BadInput(
        "lab-file-not-utf8",
        "lab file",
        "the file saved as Latin-1 (`Orléans`)",
        lab_error(3, "not UTF-8 text: byte 0xe9 cannot be decoded; save the file as UTF-8"),
        files=lab(f"{HOST}    env: {{CITY: Orléans}}\n".encode("latin-1")),
    ),
    BadInput(
        "lab-file-empty",
        "lab file",
        "an empty `dockerlab.yml`",
        lab_error(
            None, "the file is empty; a lab needs a 'hosts' mapping of host name to settings"
        ),
        files=lab(""),
    ),
    BadInput(
        "lab-file-a-list",
        "lab file",
        "the top level a list: `- web`",
        lab_error(1, "the top level must be a mapping with a 'hosts' key, not a list"),
        files=lab("- web\n- db\n"),
    ),
    BadInput(
        "lab-file-too-deep",
        "lab file",
        "lists nested 1500 deep",
        lab_error(None, "lists or mappings nested too deeply to read"),
        files=lab(f"{HOST}    vars: {{x: {'[' * 1500}{']' * 1500}}}\n"),
    ),
    BadInput(
        "no-hosts",
        "lab file",
        "no `hosts:` key",
        lab_error(None, "no 'hosts': a lab needs a mapping of host name to settings"),
        files=lab("image: debian12\n"),
    ),
    BadInput(
        "hosts-empty",
        "lab file",
        "`hosts: {}`",
        lab_error(1, "hosts: must name at least one host"),
        files=lab("hosts: {}\n"),
    ),
    BadInput(
        "hosts-a-list",
        "lab file",
        "`hosts: [web, db]`",
        lab_error(1, "hosts: must be a mapping of host name to settings, not a list"),
        files=lab("hosts: [web, db]\n"),
    ),
    BadInput(
        "unknown-top-key",
        "lab file",
        "a misspelt top-level key `hostz:`",
        lab_error(
            1,
            "unknown key 'hostz' at the top level "
            "(allowed: ansible, hosts, image, images, molecule, networks)",
        ),
        files=lab("hostz:\n  web: {}\nhosts:\n  web: {}\n"),
    ),
    BadInput(
        "duplicate-top-key",
        "lab file",
        "`image:` written twice",
        lab_error(4, "duplicate key 'image' (first on line 1)"),
        files=lab(f"image: debian11\n{HOST}image: debian12\n"),
    ),
    BadInput(
        "default-image-a-number",
        "lab file",
        "`image: 12`",
        lab_error(1, "image: must be an image name (the lab's default image), not a number"),
        files=lab(f"image: 12\n{HOST}"),
    ),
    # The lab file: hosts.
    BadInput(
        "host-name-invalid",
        "lab file",
        "a host named `Web_1`",
        lab_error(
            3,
            "hosts: host name 'Web_1' is not a valid host name (lower-case letters, "
            "digits, '-' and '_', not first or last, at most 63 characters)",
        ),
        files=lab("hosts:\n  web: {}\n  Web_1: {}\n"),
    ),
    BadInput(
        "host-name-on",
        "lab file",
        "a host named `on` (YAML reads a boolean)",
        lab_error(
            2,
            "hosts: host name 'on' is read by YAML as a boolean; quote it ('on') or pick "
            "another name",
        ),
        files=lab("hosts:\n  on: {}\n"),
    ),
    BadInput(
        "host-name-123",
        "lab file",
        "a host named `123` (YAML reads a number)",
        lab_error(
            2,
            "hosts: host name '123' is read by YAML as a number; quote it ('123') or pick "
            "another name",
        ),
        files=lab("hosts:\n  123:\n    groups: [app]\n"),
    ),
    BadInput(
        "duplicate-host",
        "lab file",
        "host `web` defined twice",
        lab_error(4, "hosts: duplicate key 'web' (first on line 2)"),
        files=lab("hosts:\n  web: {image: debian12}\n  db: {}\n  web: {image: debian11}\n"),
    ),
    BadInput(
        "host-settings-a-list",
        "lab file",
        "`web: [debian12]`",
        lab_error(2, "hosts.web: settings must be a mapping, not a list"),
        files=lab("hosts:\n  web: [debian12]\n"),
    ),
    BadInput(
        "unknown-host-key",
        "lab file",
        "a misspelt host key `imag:`",
        lab_error(4, f"hosts.web: unknown key 'imag' (allowed: {HOST_KEYS})"),
        files=lab(f"{HOST}    image: debian12\n    imag: debian11\n"),
    ),
    BadInput(
        "host-image-empty",
        "lab file",
        "`image: ''` on a host",
        lab_error(2, "hosts.web.image: must be an image name, not an empty string"),
        files=lab("hosts:\n  web: {image: ''}\n"),
    ),
    BadInput(
        "groups-a-number",
        "lab file",
        "`groups: 7`",
        lab_error(3, "hosts.web.groups: must be a list of group names, not a number"),
        files=lab(f"{HOST}    groups: 7\n"),
    ),
    BadInput(
        "group-a-number",
        "lab file",
        "a group `1` in `groups:`",
        lab_error(5, "hosts.web.groups[1]: must be a group name, not a number"),
        files=lab(f"{HOST}    groups:\n      - webservers\n      - 1\n"),
    ),
    BadInput(
        "group-all",
        "lab file",
        "a group named `all`",
        lab_error(2, f"hosts.web.groups[0]: 'all' is not a usable Ansible group name {GROUP}"),
        files=lab("hosts:\n  web: {groups: [all]}\n"),
    ),
    BadInput(
        "group-name-invalid",
        "lab file",
        "a group named `web:servers` (a ':' splits Ansible's host patterns; '-' is taken)",
        lab_error(
            2, f"hosts.web.groups[1]: 'web:servers' is not a usable Ansible group name {GROUP}"
        ),
        files=lab("hosts:\n  web: {groups: [app, 'web:servers']}\n"),
    ),
    BadInput(
        "privileged-a-string",
        "lab file",
        "`privileged: 'yes'`",
        lab_error(2, "hosts.web.privileged: must be true or false, not a string"),
        files=lab("hosts:\n  web: {privileged: 'yes'}\n"),
    ),
    BadInput(
        "vars-a-list",
        "lab file",
        "`vars: [a]`",
        lab_error(2, "hosts.web.vars: must be a mapping of variable name to value, not a list"),
        files=lab("hosts:\n  web: {vars: [a]}\n"),
    ),
    BadInput(
        "var-name-a-number",
        "lab file",
        "a variable named `1`",
        lab_error(
            4,
            "hosts.web.vars: variable name '1' is read by YAML as a number; quote it or pick "
            "another name",
        ),
        files=lab(f"{HOST}    vars:\n      1: one\n"),
    ),
    BadInput(
        "var-a-date",
        "lab file",
        "a variable `release: 2024-01-01` (YAML reads a date)",
        lab_error(
            4,
            "hosts.web.vars.release: a date cannot be handed to Ansible; "
            "quote it ('2024-01-01') to pass it as written",
        ),
        files=lab(f"{HOST}    vars:\n      release: 2024-01-01\n"),
    ),
    BadInput(
        "var-refers-to-itself",
        "lab file",
        "a variable that contains itself through an alias: `x: &a [*a]`",
        lab_error(
            3,
            "hosts.web.vars.x[0]: refers to itself through a YAML alias; "
            "Ansible cannot be given it",
        ),
        files=lab(f"{HOST}    vars: {{x: &a [*a]}}\n"),
    ),
    BadInput(
        "env-a-list",
        "lab file",
        "`env: [TZ=UTC]`",
        lab_error(3, "hosts.web.env: must be a mapping of variable name to value, not a list"),
        files=lab(f"{HOST}    env: [TZ=UTC]\n"),
    ),
    BadInput(
        "env-value-yes",
        "lab file",
        "`env: {DEBUG: yes}` (YAML reads a boolean)",
        lab_error(
            3,
            "hosts.web.env.DEBUG: must be a string or a number, not a boolean; "
            "quote it ('yes') to pass it as written",
        ),
        files=lab(f"{HOST}    env: {{DEBUG: yes}}\n"),
    ),
    BadInput(
        "duplicate-env-variable",
        "lab file",
        "`TZ` twice under `env:`",
        lab_error(5, "hosts.web.env: duplicate key 'TZ' (first on line 4)"),
        files=lab(f"{HOST}    env:\n      TZ: UTC\n      TZ: CET\n"),
    ),
    # The lab file: a host's container settings.
    BadInput(
        "capability-misspelt",
        "lab file",
        "`capabilities: [NET_ADMN]`",
        lab_error(
            3,
            "hosts.web.capabilities[0]: 'NET_ADMN' is not a Linux capability; "
            "did you mean NET_ADMIN?",
        ),
        files=lab(f"{HOST}    capabilities: [NET_ADMN]\n"),
    ),
    BadInput(
        "capability-added-and-dropped",
        "lab file",
        "`NET_ADMIN` in both `capabilities:` and `cap_drop:`",
        lab_error(
            4,
            "hosts.web.cap_drop[0]: NET_ADMIN is also in capabilities: add it or drop it, not both",
        ),
        files=lab(f"{HOST}    capabilities: [NET_ADMIN]\n    cap_drop: [NET_ADMIN]\n"),
    ),
    BadInput(
        "security-option-unknown",
        "lab file",
        "`security_opts: [selinux=disable]`",
        lab_error(
            3,
            "hosts.web.security_opts[0]: 'selinux=disable' is not a security option the "
            "engine knows (apparmor=..., label=..., no-new-privileges, seccomp=..., "
            "systempaths=unconfined)",
        ),
        files=lab(f"{HOST}    security_opts: [selinux=disable]\n"),
    ),
    BadInput(
        "tmpfs-at-run",
        "lab file",
        "`tmpfs: [/run]` (init's own tmpfs)",
        lab_error(
            3,
            "hosts.web.tmpfs[0]: /run is the tmpfs the run profile mounts for init, which "
            "init needs; mount elsewhere",
        ),
        files=lab(f"{HOST}    tmpfs: [/run]\n"),
    ),
    BadInput(
        "volume-cgroup",
        "lab file",
        "a Molecule scenario's `/sys/fs/cgroup:/sys/fs/cgroup:rw` volume",
        lab_error(
            4,
            "hosts.web.volumes[0]: /sys/fs/cgroup: the run profile gives init the cgroup "
            "file system there (a Molecule scenario's /sys/fs/cgroup volume is not needed); "
            "drop this mount",
        ),
        files=lab(f"{HOST}    volumes:\n      - /sys/fs/cgroup:/sys/fs/cgroup:rw\n"),
    ),
    BadInput(
        "bind-mount-missing",
        "lab file",
        "`volumes: ['./data:/srv/data']`, no `data` beside the lab file",
        lab_error(3, "hosts.web.volumes[0]: no such file or folder: */data"),
        files=lab(f"{HOST}    volumes: ['./data:/srv/data']\n"),
    ),
    BadInput(
        "volume-without-source",
        "lab file",
        "`volumes: [/data]` (an anonymous volume)",
        lab_error(
            3,
            "hosts.web.volumes[0]: '/data' names no source: write NAME:/path for a named "
            "volume of the lab, or PATH:/path to bind a file or folder in",
        ),
        files=lab(f"{HOST}    volumes: [/data]\n"),
    ),
    BadInput(
        "published-port-base-60",
        "lab file",
        "`published_ports: [22:22]` unquoted (YAML 1.1 reads a number)",
        lab_error(
            4,
            "hosts.web.published_ports[0]: YAML reads 22:22 as the number 1342 (base 60); "
            "quote it ('22:22')",
        ),
        files=lab(f"{HOST}    published_ports:\n      - 22:22\n"),
    ),
    BadInput(
        "published-port-twice",
        "lab file",
        "two hosts publish port 8080",
        lab_error(
            3,
            "hosts.db.published_ports[0]: 127.0.0.1:8080/tcp is published twice "
            "(also hosts.web.published_ports[0])",
        ),
        files=lab(
            "hosts:\n  web: {published_ports: ['8080:80']}\n"
            "  db: {published_ports: ['8080:5432']}\n"
        ),
    ),
    BadInput(
        "sysctl-not-namespaced",
        "lab file",
        "`sysctls: {vm.swappiness: 10}` (the engine machine's, not a container's)",
        lab_error(
            3,
            "hosts.web.sysctls: 'vm.swappiness' cannot be set in one container: the engine "
            "sets only sysctls with a namespace of their own (net.<name>, fs.mqueue.<name>, "
            "kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, "
            "kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced)",
        ),
        files=lab(f"{HOST}    sysctls: {{vm.swappiness: 10}}\n"),
    ),
    BadInput(
        "network-name-invalid",
        "lab file",
        "`networks: [Back_1]`",
        lab_error(
            3, f"hosts.web.networks[0]: network name 'Back_1' is not a valid DNS label {DNS}"
        ),
        files=lab(f"{HOST}    networks: [Back_1]\n"),
    ),
    BadInput(
        "command-open-quote",
        "lab file",
        "`command: sh -c 'sleep 1` (a quote left open)",
        lab_error(3, "hosts.web.command: cannot be split into words: No closing quotation"),
        files=lab(f"{HOST}    command: sh -c 'sleep 1\n"),
    ),
    BadInput(
        "etc-hosts-not-an-address",
        "lab file",
        "`etc_hosts: {db: db.example.test}`",
        lab_error(
            3,
            "hosts.web.etc_hosts.db: 'db.example.test' is not an IP address "
            "(or host-gateway: the engine's machine)",
        ),
        files=lab(f"{HOST}    etc_hosts: {{db: db.example.test}}\n"),
    ),
    BadInput(
        "ulimit-soft-above-hard",
        "lab file",
        "`ulimits: ['nofile:4096:1024']`",
        lab_error(3, "hosts.web.ulimits[0]: the soft limit 4096 is above the hard limit 1024"),
        files=lab(f"{HOST}    ulimits: ['nofile:4096:1024']\n"),
    ),
    BadInput(
        "memory-a-word",
        "lab file",
        "`memory: lots`",
        lab_error(
            3,
            "hosts.web.memory: must be a size (512m, 2g, a number of bytes) or unlimited, "
            "not 'lots'",
        ),
        files=lab(f"{HOST}    memory: lots\n"),
    ),
    BadInput(
        "cpus-zero",
        "lab file",
        "`cpus: 0`",
        lab_error(3, "hosts.web.cpus: must be at least 0.01 (the engine's smallest share), not 0"),
        files=lab(f"{HOST}    cpus: 0\n"),
    ),
    BadInput(
        "pids-limit-zero",
        "lab file",
        "`pids_limit: 0`",
        lab_error(
            3,
            "hosts.web.pids_limit: must be from 32 (what an init and a few services need) to "
            "4194304 (the kernel's ceiling), not 0; write unlimited for no limit",
        ),
        files=lab(f"{HOST}    pids_limit: 0\n"),
    ),
    # The lab file: ansible.
    BadInput(
        "unknown-ansible-key",
        "lab file",
        "`ansible: {playbook: ...}` (singular)",
        lab_error(
            2,
            "ansible: unknown key 'playbook' (allowed: cache, cache_env, check, cleanup, config, "
            "diff, env, extra_vars, idempotence, playbooks, prepare, requirements, roles_path, "
            "skip_tags, tags, vault_password_file, verbosity)",
        ),
        files=lab(f"ansible:\n  playbook: site.yml\n{HOST}"),
    ),
    BadInput(
        "playbook-missing",
        "lab file",
        "a playbook that is not there",
        lab_error(4, "ansible.playbooks[1]: playbook not found: */playbooks/nope.yml"),
        files={
            **lab(
                "ansible:\n  playbooks:\n    - playbooks/site.yml\n    - playbooks/nope.yml\n"
                + HOST
            ),
            "playbooks/site.yml": "- hosts: all\n  tasks: []\n",
        },
    ),
    BadInput(
        "playbook-a-folder",
        "lab file",
        "`playbooks: playbooks`, a folder",
        lab_error(2, "ansible.playbooks: */playbooks is a folder, not a playbook"),
        files={**lab(f"ansible:\n  playbooks: playbooks\n{HOST}"), "playbooks/site.yml": ""},
    ),
    BadInput(
        "playbooks-a-number",
        "lab file",
        "`playbooks: 5`",
        lab_error(1, "ansible.playbooks: must be a list of paths, not a number"),
        files=lab(f"ansible: {{playbooks: 5}}\n{HOST}"),
    ),
    BadInput(
        "roles-path-a-mapping",
        "lab file",
        "`roles_path: {a: b}`",
        lab_error(2, "ansible.roles_path: must be a list of paths, not a mapping"),
        files=lab(f"ansible:\n  roles_path: {{a: b}}\n{HOST}"),
    ),
    BadInput(
        "extra-vars-a-list",
        "lab file",
        "`extra_vars: [env=test]`",
        lab_error(2, "ansible.extra_vars: must be a mapping of variable name to value, not a list"),
        files=lab(f"ansible:\n  extra_vars: [env=test]\n{HOST}"),
    ),
    # The lab file: images.
    BadInput(
        "unknown-images-key",
        "lab file",
        "`images: {matrx: ...}`",
        lab_error(2, "images: unknown key 'matrx' (allowed: matrix, recipes)"),
        files=lab(f"images:\n  matrx: [debian12]\n{HOST}"),
    ),
    BadInput(
        "recipes-folder-missing",
        "lab file",
        "`images: {recipes: [nope]}`, a folder that is not there",
        lab_error(2, "images.recipes[0]: no such folder: */nope"),
        files=lab(f"images:\n  recipes: [nope]\n{HOST}"),
    ),
    BadInput(
        "recipes-a-file",
        "lab file",
        "`images: {recipes: [site.yml]}`, a file",
        lab_error(3, "images.recipes[0]: not a folder: */site.yml"),
        files={**lab(f"images:\n  recipes:\n    - site.yml\n{HOST}"), "site.yml": ""},
    ),
    BadInput(
        "matrix-a-string",
        "lab file",
        "`images: {matrix: debian11}`",
        lab_error(1, "images.matrix: must be a list of image names, not a string"),
        files=lab(f"images: {{matrix: debian11}}\n{HOST}"),
    ),
    BadInput(
        "matrix-unknown-image",
        "lab file",
        "`images: {matrix: [debian12, suse15]}`",
        "ERROR: dockerlab: lab file */dockerlab.yml: images.matrix names unknown image "
        "'suse15'; known images: centos6, *debian12*",
        files=lab("images: {matrix: [debian12, suse15]}\nhosts:\n  web: {}\n"),
    ),
    BadInput(
        "host-unknown-image",
        "lab file",
        "`web: {image: centos5}`",
        "ERROR: dockerlab: lab file */dockerlab.yml: host 'web' uses unknown image 'centos5'; "
        "known images: centos6, *debian12*",
        files=lab("hosts:\n  web: {image: centos5}\n"),
    ),
    # recipe.yml of the user's own recipes.
    BadInput(
        "recipe-not-yaml",
        "recipe file",
        "`cgroup: [1` in `recipes/mine/recipe.yml`",
        recipe_error(
            3,
            "not valid YAML: expected ',' or ']', but got '<stream end>' "
            "(column 1; while parsing a flow sequence from line 2)",
        ),
        files=recipe("init: systemd\ncgroup: [1\n"),
    ),
    BadInput(
        "recipe-a-list",
        "recipe file",
        "`recipe.yml` a list",
        recipe_error(1, "the top level must be a mapping of recipe settings, not a list"),
        files=recipe("- init: systemd\n"),
    ),
    BadInput(
        "recipe-unknown-key",
        "recipe file",
        "`notes:` in `recipe.yml`",
        recipe_error(2, f"unknown key 'notes' at the top level (allowed: {RECIPE_KEYS})"),
        files=recipe("init: systemd\nnotes: boots fine\n"),
    ),
    BadInput(
        "recipe-bad-init",
        "recipe file",
        "`init: upstart`",
        recipe_error(1, f"init: must be one of {INITS}, not 'upstart'"),
        files=recipe("init: upstart\n"),
    ),
    BadInput(
        "recipe-bad-cgroup",
        "recipe file",
        "`cgroup: [1, 3]`",
        recipe_error(1, "cgroup[1]: must be 1 or 2, not 3"),
        files=recipe("cgroup: [1, 3]\n"),
    ),
    BadInput(
        "recipe-cgroup-a-number",
        "recipe file",
        "`cgroup: 2`",
        recipe_error(1, "cgroup: must be a list of cgroup versions (1 or 2), not a number"),
        files=recipe("cgroup: 2\n"),
    ),
    BadInput(
        "recipe-no-dockerfile",
        "recipe file",
        "a recipe folder with a `recipe.yml` and no `Dockerfile`",
        recipe_error(
            None,
            "no Dockerfile at */recipes/mine/Dockerfile; add one, or name another in "
            "recipe.yml with 'dockerfile:'",
        ),
        files=recipe("init: systemd\n", dockerfile=False),
    ),
    BadInput(
        "recipe-dockerfile-missing",
        "recipe file",
        "`dockerfile: ../_common/nope.Dockerfile`, not there",
        recipe_error(1, "dockerfile: no such file: */recipes/_common/nope.Dockerfile"),
        files=recipe("dockerfile: ../_common/nope.Dockerfile\n"),
    ),
    BadInput(
        "recipe-folder-name",
        "recipe file",
        "a recipe folder named `MyImage` (image names are lower case)",
        recipe_error(
            None,
            "the folder name 'MyImage' is the image's name, and the engine cannot tag it: "
            "use lower-case letters and digits, with '.', '_' or '-' between them",
            name="MyImage",
        ),
        files=recipe(None, name="MyImage"),
    ),
    # The lab marker.
    BadInput(
        "marker-unknown-host",
        "marker",
        '`@pytest.mark.lab("web,cache")`, `cache` not in the lab file',
        "ERROR: dockerlab: unknown lab host 'cache' in test_lab.py::test_x; "
        "the lab defines: web, db",
        files=marked('@pytest.mark.lab("web,cache")'),
    ),
    BadInput(
        "marker-no-host",
        "marker",
        "`@pytest.mark.lab()`",
        "ERROR: dockerlab: test_lab.py::test_x: lab marker: names no host; "
        "write @pytest.mark.lab('web,db')",
        files=marked("@pytest.mark.lab()"),
    ),
    BadInput(
        "marker-bad-type",
        "marker",
        "`@pytest.mark.lab(5)`",
        "ERROR: dockerlab: test_lab.py::test_x: lab marker: 5 is not a host name or a list "
        "of host names",
        files=marked("@pytest.mark.lab(5)"),
    ),
    BadInput(
        "marker-unknown-keyword",
        "marker",
        '`@pytest.mark.lab(host="web")`',
        "ERROR: dockerlab: test_lab.py::test_x: lab marker: unexpected keyword host (use hosts=)",
        files=marked('@pytest.mark.lab(host="web")'),
    ),
    BadInput(
        "marker-both-forms",
        "marker",
        '`@pytest.mark.lab("web", hosts="db")`',
        "ERROR: dockerlab: test_lab.py::test_x: lab marker: give the hosts positionally or "
        "as hosts=, not both",
        files=marked('@pytest.mark.lab("web", hosts="db")'),
    ),
    BadInput(
        "lab-without-lab-file",
        "marker",
        "a test uses `lab` and there is no `dockerlab.yml`",
        "ERROR: dockerlab: test_lab.py::test_x: uses the lab but no dockerlab.yml was found "
        "(put one beside the tests, or pass --dockerlab-file)",
        files={"test_lab.py": LAB_TEST},
    ),
    # Options, environment and ini keys.
    BadInput(
        "boot-timeout-zero",
        "options",
        "`--dockerlab-boot-timeout 0`",
        "ERROR: dockerlab: --dockerlab-boot-timeout must be a positive number of seconds, not 0.0",
        args=("--dockerlab-boot-timeout", "0"),
    ),
    BadInput(
        "boot-timeout-nan",
        "options",
        "`--dockerlab-boot-timeout nan`",
        "ERROR: dockerlab: --dockerlab-boot-timeout must be a positive number of seconds, not nan",
        args=("--dockerlab-boot-timeout", "nan"),
    ),
    BadInput(
        "boot-timeout-negative",
        "options",
        "`--dockerlab-boot-timeout -1`",
        "ERROR: dockerlab: --dockerlab-boot-timeout must be a positive number of seconds, not -1.0",
        args=("--dockerlab-boot-timeout", "-1"),
    ),
    BadInput(
        "boot-timeout-not-a-number",
        "options",
        "`--dockerlab-boot-timeout abc`",
        "*error: argument --dockerlab-boot-timeout: invalid float value: 'abc'",
        args=("--dockerlab-boot-timeout", "abc"),
    ),
    BadInput(
        "base-unknown",
        "options",
        "`--dockerlab-base ftp`",
        "*error: argument --dockerlab-base: invalid choice: 'ftp' "
        "(choose from *auto*registry*bootstrap*)",
        args=("--dockerlab-base", "ftp"),
    ),
    BadInput(
        "image-empty",
        "options",
        '`--dockerlab-image ""`',
        "ERROR: dockerlab: --dockerlab-image is empty; name an image or leave it out",
        args=("--dockerlab-image", ""),
    ),
    BadInput(
        "image-unknown",
        "options",
        "`--dockerlab-image centos5`",
        "ERROR: dockerlab: --dockerlab-image centos5: unknown image; known images: centos6, *",
        files=lab("hosts:\n  web: {}\n"),
        args=("--dockerlab-image", "centos5"),
    ),
    BadInput(
        "env-image-unknown",
        "environment",
        "`DOCKERLAB_IMAGE=centos5`",
        "ERROR: dockerlab: DOCKERLAB_IMAGE centos5: unknown image; known images: centos6, *",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKERLAB_IMAGE": "centos5"},
    ),
    BadInput(
        "env-image-blank",
        "environment",
        "`DOCKERLAB_IMAGE=' '` (blank, not empty)",
        "ERROR: dockerlab: DOCKERLAB_IMAGE is empty; name an image or leave it out",
        env={"DOCKERLAB_IMAGE": " "},
    ),
    BadInput(
        "registry-not-a-repository",
        "options",
        "`--dockerlab-registry ghcr.io/Acme/lab:v1` (capitals, a tag)",
        "ERROR: dockerlab: --dockerlab-registry 'ghcr.io/Acme/lab:v1' is not a repository docker "
        "takes: HOST[:PORT]/PATH in lower case, without a tag (ghcr.io/acme/dockerlab, "
        "127.0.0.1:5000/dockerlab)",
        args=("--dockerlab-registry", "ghcr.io/Acme/lab:v1"),
    ),
    BadInput(
        "env-registry-a-library-name",
        "environment",
        "`DOCKERLAB_REGISTRY=dockerlab` (a name in Docker Hub's library, not one's own)",
        "ERROR: dockerlab: DOCKERLAB_REGISTRY 'dockerlab' is not a repository docker takes: "
        "HOST[:PORT]/PATH in lower case, without a tag (*)",
        env={"DOCKERLAB_REGISTRY": "dockerlab"},
    ),
    BadInput(
        "env-registry-required-maybe",
        "environment",
        "`DOCKERLAB_REGISTRY_REQUIRED=maybe`",
        "ERROR: dockerlab: DOCKERLAB_REGISTRY_REQUIRED must be on or off, not 'maybe'",
        env={"DOCKERLAB_REGISTRY_REQUIRED": "maybe"},
    ),
    BadInput(
        "ini-registry-push",
        "ini",
        "`dockerlab_registry_push = sometimes` in `pytest.ini`",
        "ERROR: dockerlab: ini dockerlab_registry_push must be on or off, not 'sometimes'",
        files=ini("dockerlab_registry_push = sometimes"),
    ),
    BadInput(
        "ini-boot-timeout",
        "ini",
        "`dockerlab_boot_timeout = soon` in `pytest.ini`",
        "ERROR: dockerlab: ini dockerlab_boot_timeout must be a positive number of seconds, "
        "not 'soon'",
        files=ini("dockerlab_boot_timeout = soon"),
    ),
    BadInput(
        "ini-base",
        "ini",
        "`dockerlab_base = ftp` in `pytest.ini`",
        "ERROR: dockerlab: ini dockerlab_base must be one of auto, registry, bootstrap, not 'ftp'",
        files=ini("dockerlab_base = ftp"),
    ),
    BadInput(
        "ini-image",
        "ini",
        "`dockerlab_image = centos5` in `pytest.ini`",
        "ERROR: dockerlab: ini dockerlab_image centos5: unknown image; known images: centos6, *",
        files=ini("dockerlab_image = centos5"),
    ),
    BadInput(
        "ini-keep",
        "ini",
        "`dockerlab_keep = maybe` in `pytest.ini`",
        "ERROR: dockerlab: ini dockerlab_keep must be one of always, on-failure, never, "
        "not 'maybe'",
        files=ini("dockerlab_keep = maybe"),
    ),
    BadInput(
        "ini-lab-file",
        "ini",
        "`dockerlab_file = labs/nope.yml` in `pytest.ini`",
        "ERROR: dockerlab: lab file */labs/nope.yml: file not found",
        files=ini("dockerlab_file = labs/nope.yml"),
    ),
    # The engine.
    BadInput(
        "no-engine",
        "engine",
        "run lab tests with no engine (here `DOCKER_HOST` names a missing socket)",
        f"ERROR: dockerlab: {NO_ENGINE_LINE}",
        files=lab("hosts:\n  web: {}\n"),
    ),
    BadInput(
        "no-engine-refused",
        "engine",
        "`DOCKER_HOST=tcp://127.0.0.1:1`, where nothing listens",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:1 (DOCKER_HOST) "
        f"(Connection refused). {engine_hint()}",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:1"},
    ),
    BadInput(
        "no-engine-bad-address",
        "engine",
        "`DOCKER_HOST=tcp://127.0.0.1:abc`, not an address",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:abc (DOCKER_HOST) (not a "
        "valid engine address: Port could not be cast to integer value as 'abc'). Correct it.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:abc"},
    ),
    BadInput(
        "no-engine-ssh-without-paramiko",
        "engine",
        "`DOCKER_HOST=ssh://ops@big-box` without the `ssh` extra",
        "ERROR: dockerlab: no Docker engine reachable at ssh://ops@big-box (DOCKER_HOST) (ssh:// "
        "needs paramiko). pip install 'pytest-dockerlab[ssh]'.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "ssh://ops@big-box"},
    ),
    BadInput(
        "no-engine-context",
        "engine",
        "`DOCKER_CONTEXT=nosuch`, a docker context that was never created",
        "ERROR: dockerlab: no Docker engine reachable at docker context 'nosuch' from "
        "DOCKER_CONTEXT (no such context in */.docker/contexts). 'docker context ls' lists the "
        "contexts; 'docker context use NAME' picks one.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "", "DOCKER_CONTEXT": "nosuch"},
    ),
    BadInput(
        "engine-silent",
        "engine",
        "`DOCKER_HOST` names a socket that accepts connections and never answers (a hung "
        "engine); the error comes after 10 s",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:* (DOCKER_HOST) (it "
        "accepted the connection but did not answer in 10 s). A hung engine: restart the daemon "
        "behind that address, or correct the address if this is not one.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:{port}"},
        server="silent",
    ),
    BadInput(
        "engine-http-404",
        "engine",
        "`DOCKER_HOST` names a web server (it answers 404 to /version)",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:* (DOCKER_HOST) (what "
        "answered is not a Docker engine API: HTTP 404 to /version). Correct the address: a "
        "Docker or Podman socket, tcp:// to a daemon's API port, or ssh://USER@HOST.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:{port}"},
        server="http-404",
    ),
    BadInput(
        "engine-ssh-banner",
        "engine",
        "`DOCKER_HOST=tcp://HOST:22`, an SSH server",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:* (DOCKER_HOST) (an "
        "SSH server answered, not an engine). For an engine over SSH, write ssh://USER@HOST "
        "(the engine's own socket is reached through it).",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:{port}"},
        server="ssh",
    ),
    BadInput(
        "engine-not-json",
        "engine",
        "`DOCKER_HOST` names a web server that answers 200 with a page",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:* (DOCKER_HOST) (what "
        "answered is not a Docker engine API: its /version is no engine's). Correct the "
        "address: a Docker or Podman socket, tcp:// to a daemon's API port, or ssh://USER@HOST.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:{port}"},
        server="not-json",
    ),
    BadInput(
        "engine-wants-tls",
        "engine",
        "`DOCKER_HOST=tcp://HOST:2376` without `DOCKER_TLS_VERIFY`: the daemon wants TLS",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:* (DOCKER_HOST) (the "
        "daemon there wants TLS). For a daemon that wants TLS, set DOCKER_TLS_VERIFY=1 and "
        "DOCKER_CERT_PATH (its CA, cert and key), or use its docker context.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:{port}"},
        server="https",
    ),
    BadInput(
        "engine-resets",
        "engine",
        "`DOCKER_HOST` names something that closes the connection at once",
        "ERROR: dockerlab: no Docker engine reachable at tcp://127.0.0.1:* (DOCKER_HOST) (it "
        "closed the connection without answering). Correct the address: *",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "tcp://127.0.0.1:{port}"},
        server="reset",
    ),
    BadInput(
        "engine-socket-a-folder",
        "engine",
        "`DOCKER_HOST=unix:///some/folder`, a folder where the socket should be",
        "ERROR: dockerlab: no Docker engine reachable at unix://* (DOCKER_HOST) (* is a folder, "
        "not a socket). Correct the address.",
        files=lab("hosts:\n  web: {}\n"),
        env={"DOCKER_HOST": "unix://{root}"},
    ),
    BadInput(
        "engine-silent-cli",
        "engine",
        "`python -m pytest_dockerlab info` with an engine that accepts and never answers",
        "dockerlab: no Docker engine reachable at tcp://127.0.0.1:* (DOCKER_HOST) (it accepted "
        "the connection but did not answer in 10 s). *",
        exit_code=FAILED,
        args=("info",),
        env={"DOCKER_HOST": "tcp://127.0.0.1:{port}"},
        server="silent",
        cli=True,
    ),
    BadInput(
        "marker-error-before-engine",
        "marker",
        "a marker naming an unknown host, with no engine running: the marker is the error shown",
        "ERROR: dockerlab: unknown lab host 'cache' in test_lab.py::test_x; "
        "the lab defines: web, db",
        files=marked('@pytest.mark.lab("cache")'),
    ),
    BadInput(
        "no-engine-info",
        "engine",
        "`pytest --dockerlab-info` with no engine",
        f"dockerlab: {NO_ENGINE_LINE}",
        args=("--dockerlab-info",),
    ),
    BadInput(
        "no-engine-cli",
        "engine",
        "`python -m pytest_dockerlab clean --session 0123abcd` with no engine",
        f"dockerlab: {NO_ENGINE_LINE}",
        exit_code=FAILED,
        args=("clean", "--session", "0123abcd"),
        cli=True,
    ),
    # Molecule scenarios (--dockerlab-molecule, import-molecule).
    BadInput(
        "molecule-provisioner-a-list",
        "molecule",
        "`provisioner: []` in molecule.yml",
        SCENARIO_ERROR + "provisioner must be a mapping, not a list",
        files=scenario(PLATFORM + "provisioner: []\n"),
        args=("--dockerlab-molecule", "molecule/default"),
    ),
    BadInput(
        "molecule-group-vars-a-list",
        "molecule",
        "`provisioner.inventory.group_vars` as a list",
        SCENARIO_ERROR + "provisioner.inventory.group_vars must be a mapping, not a list",
        files=scenario(PLATFORM + "provisioner: {inventory: {group_vars: [a]}}\n"),
        args=("--dockerlab-molecule", "molecule/default"),
    ),
    BadInput(
        "molecule-platforms-a-mapping",
        "molecule",
        "`platforms:` as one mapping instead of a list",
        SCENARIO_ERROR + "platforms must be a list of platforms (- name: ...), not dict",
        files=scenario("platforms: {name: x, image: debian12}\n"),
        args=("--dockerlab-molecule", "molecule/default"),
    ),
    BadInput(
        "molecule-vagrant",
        "molecule",
        "a scenario of the `vagrant` driver (platforms with a `box`, no image)",
        SCENARIO_ERROR + "platforms[0] (x) has no image (the scenario's driver is vagrant, "
        "whose platforms are not containers: give it an image (debian:12), or run it with "
        "--dockerlab-image NAME)",
        files=scenario("driver: {name: vagrant}\nplatforms: [{name: x, box: generic/debian12}]\n"),
        args=("--dockerlab-molecule", "molecule/default"),
    ),
    BadInput(
        "molecule-groups-wrong-shape",
        "molecule",
        "a platform's `groups: {a: 1}`",
        SCENARIO_ERROR + "platforms[0].groups must be a group name or a list of them, not {'a': 1}",
        files=scenario("platforms: [{name: x, image: debian12, groups: {a: 1}}]\n"),
        args=("--dockerlab-molecule", "molecule/default"),
    ),
    BadInput(
        "import-molecule-output-missing-folder",
        "molecule",
        "`python -m pytest_dockerlab import-molecule molecule/default --output nope/lab.yml`, "
        "a folder that is not there",
        "dockerlab: cannot write nope/lab.yml: nope does not exist",
        exit_code=FAILED,
        files=scenario(PLATFORM),
        args=("import-molecule", "molecule/default", "--output", "nope/lab.yml"),
        cli=True,
    ),
    BadInput(
        "import-molecule-output-a-folder",
        "molecule",
        "`python -m pytest_dockerlab import-molecule molecule/default --output molecule`",
        "dockerlab: molecule is a folder: --output names the lab file to write",
        exit_code=FAILED,
        files=scenario(PLATFORM),
        args=("import-molecule", "molecule/default", "--output", "molecule"),
        cli=True,
    ),
    BadInput(
        "import-molecule-output-under-a-file",
        "molecule",
        "`python -m pytest_dockerlab import-molecule molecule/default --output "
        "molecule/default/converge.yml/lab.yml`, under a file",
        "dockerlab: cannot write molecule/default/converge.yml/lab.yml: "
        "molecule/default/converge.yml is not a folder",
        exit_code=FAILED,
        files=scenario(PLATFORM),
        args=(
            "import-molecule",
            "molecule/default",
            "--output",
            "molecule/default/converge.yml/lab.yml",
        ),
        cli=True,
    ),
    BadInput(
        "import-molecule-output-over-the-scenario",
        "molecule",
        "`python -m pytest_dockerlab import-molecule molecule/default --output "
        "molecule/default/molecule.yml --force`",
        "dockerlab: molecule/default/molecule.yml is the scenario's own molecule.yml: --output "
        "names another file",
        exit_code=FAILED,
        files=scenario(PLATFORM),
        args=(
            "import-molecule",
            "molecule/default",
            "--output",
            "molecule/default/molecule.yml",
            "--force",
        ),
        cli=True,
    ),
    BadInput(
        "molecule-not-utf8",
        "molecule",
        "a molecule.yml saved as Latin-1",
        SCENARIO_ERROR + "molecule.yml is not UTF-8 text (byte 0xe9): save it as UTF-8",
        files={**scenario(""), "molecule/default/molecule.yml": b"# caf\xe9\n" + PLATFORM.encode()},
        args=("--dockerlab-molecule", "molecule/default"),
    ),
    BadInput(
        "molecule-nested-too-deep",
        "molecule",
        "a molecule.yml with lists nested 5,000 deep",
        SCENARIO_ERROR + "molecule.yml nests lists or mappings too deeply",
        files=scenario("platforms: " + "[" * 5000 + "]" * 5000 + "\n"),
        args=("--dockerlab-molecule", "molecule/default"),
    ),
    BadInput(
        "import-molecule-exists",
        "molecule",
        "`python -m pytest_dockerlab import-molecule molecule/default` where a lab file is already",
        "dockerlab: molecule/default/dockerlab.yml exists; --force overwrites",
        exit_code=FAILED,
        files={**scenario(PLATFORM), "molecule/default/dockerlab.yml": "hosts: {x: {}}\n"},
        args=("import-molecule", "molecule/default"),
        cli=True,
    ),
    BadInput(
        "cli-bake-tag-too-long",
        "command line",
        "`python -m pytest_dockerlab bake web --tag localhost:5000/aaa…:1` (300 characters)",
        "python -m pytest_dockerlab bake: error: argument --tag: the name "
        "'localhost:5000/aaaaaaaaaaaaaaaaaaaaaaaaa'... is 315 characters long; docker takes "
        "255 at most",
        exit_code=ARGPARSE,
        args=("bake", "web", "--tag", "localhost:5000/" + "a" * 300 + ":1"),
        cli=True,
    ),
    # python -m pytest_dockerlab.
    BadInput(
        "cli-no-command",
        "command line",
        "`python -m pytest_dockerlab`",
        "python -m pytest_dockerlab: error: the following arguments are required: COMMAND",
        exit_code=ARGPARSE,
        cli=True,
    ),
    BadInput(
        "cli-unknown-command",
        "command line",
        "`python -m pytest_dockerlab frob`",
        "python -m pytest_dockerlab: error: argument COMMAND: invalid choice: 'frob' "
        "(choose from *clean*)",
        exit_code=ARGPARSE,
        args=("frob",),
        cli=True,
    ),
    BadInput(
        "cli-clean-nothing",
        "command line",
        "`python -m pytest_dockerlab clean`",
        "python -m pytest_dockerlab clean: error: one of the arguments --session --all is required",
        exit_code=ARGPARSE,
        args=("clean",),
        cli=True,
    ),
    BadInput(
        "cli-clean-empty-session",
        "command line",
        '`python -m pytest_dockerlab clean --session ""`',
        "python -m pytest_dockerlab clean: error: argument --session: '' is not a session id "
        "(8 hex digits, as printed in the run's header)",
        exit_code=ARGPARSE,
        args=("clean", "--session", ""),
        cli=True,
    ),
    BadInput(
        "cli-clean-bad-session",
        "command line",
        "`python -m pytest_dockerlab clean --session xyz`",
        "python -m pytest_dockerlab clean: error: argument --session: 'xyz' is not a session "
        "id (8 hex digits, as printed in the run's header)",
        exit_code=ARGPARSE,
        args=("clean", "--session", "xyz"),
        cli=True,
    ),
    BadInput(
        "cli-images-unknown-action",
        "command line",
        "`python -m pytest_dockerlab images frob`",
        "python -m pytest_dockerlab images: error: argument action: invalid choice: 'frob' "
        "(choose from *build*list*prune*)",
        exit_code=ARGPARSE,
        args=("images", "frob"),
        cli=True,
    ),
    BadInput(
        "cli-images-unknown-image",
        "command line",
        "`python -m pytest_dockerlab images build nosuch`",
        "python -m pytest_dockerlab: error: unknown image 'nosuch'; known images: *debian12*",
        exit_code=ARGPARSE,
        args=("images", "build", "nosuch"),
        cli=True,
    ),
    BadInput(
        "cli-images-no-action",
        "command line",
        "`python -m pytest_dockerlab images`",
        "python -m pytest_dockerlab images: error: the following arguments are required: action",
        exit_code=ARGPARSE,
        args=("images",),
        cli=True,
    ),
    BadInput(
        "cli-images-bad-base",
        "command line",
        "`python -m pytest_dockerlab images build --base ftp`",
        "python -m pytest_dockerlab images: error: argument --base: invalid choice: 'ftp' "
        "(choose from *auto*registry*bootstrap*)",
        exit_code=ARGPARSE,
        args=("images", "build", "--base", "ftp"),
        cli=True,
    ),
]


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id) for row in CATALOGUE])
def test_bad_input(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    row: BadInput,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    monkeypatch.delenv("DOCKERLAB_IMAGE", raising=False)
    port = serving(row.server, request) if row.server else 0
    for name, value in row.env.items():
        value = value.replace("{port}", str(port)).replace("{root}", str(pytester.path))
        if value:
            monkeypatch.setenv(name, value)
        else:  # an empty value: the variable is not set
            monkeypatch.delenv(name, raising=False)
    for name, content in row.files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    started = time.monotonic()
    if row.cli:
        result = pytester.run(sys.executable, "-m", "pytest_dockerlab", *row.args, timeout=60)
    else:
        result = pytester.runpytest("-p", "no:cacheprovider", *row.args)
    lines = result.outlines + result.errlines
    output = "\n".join(lines)
    assert result.ret == row.exit_code, output
    assert time.monotonic() - started < 30, "no mistake waits longer than that to be told"
    pytest.LineMatcher(lines).fnmatch_lines([re.sub(r"[][]", r"[\g<0>]", row.message)])
    assert "INTERNALERROR" not in output
    assert "Traceback (most recent call last)" not in output


# What some servers that are not an engine say to the first request.
ANSWERS = {
    "not-json": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    # A Go server (the Docker daemon among them) that wants TLS, asked in plain HTTP.
    "https": b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
}


def serving(kind: str, request: pytest.FixtureRequest) -> int:
    """A port on 127.0.0.1 where something that is not an engine answers, for this test."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    request.addfinalizer(listener.close)
    held: list[socket.socket] = []

    def close_held() -> None:
        for connection in held:
            connection.close()

    request.addfinalizer(close_held)

    def answer() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            held.append(connection)
            if kind == "ssh":
                connection.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
            elif kind in ANSWERS:
                connection.recv(65536)
                connection.sendall(ANSWERS[kind])
                connection.close()
            elif kind == "reset":  # closed at once, with a reset
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                connection.close()
            elif kind == "http-404":
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n"
                    b"\r\nnot found"
                )
                connection.close()
            # "silent": accepted, and nothing is ever said

    threading.Thread(target=answer, daemon=True).start()
    return int(listener.getsockname()[1])


def shown(message: str) -> str:
    """A row's message as the docs show it: ``…`` for what varies."""
    return message.replace("*", "…").replace("|", "\\|")


EXIT_NAMES = {USAGE: "4 (usage error)", ARGPARSE: "2", FAILED: "1"}


def docs_row(row: BadInput) -> str:
    """The docs/bad-input.md table row of ``row``."""
    return (
        f"| {row.category} | {row.did} | `{shown(row.message)}` | {EXIT_NAMES[row.exit_code]} | "
        f"`{THIS}[{row.id}]` |"
    )


def test_every_row_has_its_own_id() -> None:
    ids = [row.id for row in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


def test_the_docs_show_every_row() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    missing = [docs_row(row) for row in CATALOGUE if docs_row(row) not in docs.splitlines()]
    assert not missing, "docs/bad-input.md lacks or differs in these rows:\n" + "\n".join(missing)


def test_the_docs_name_tests_that_exist() -> None:
    """Rows proven elsewhere (signals, dead hosts, Ansible) name a real test and its id."""
    root = DOCS.parents[1]
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)(?:\[([^\]]+)\])?`", DOCS.read_text())
    assert len(cited) >= 45
    for path, name, param in cited:
        source = (root / path).read_text(encoding="utf-8")
        assert f"def {name}(" in source, f"{path}::{name}"
        assert not param or param in source, f"{path}::{name}[{param}]"


if __name__ == "__main__":
    for row in CATALOGUE:
        print(docs_row(row))
