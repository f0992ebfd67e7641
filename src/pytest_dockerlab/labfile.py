"""The lab model and the recipe model: what ``dockerlab.yml`` and ``recipe.yml`` say, checked.

Both files are read by one YAML reader that remembers where each key was written, so every
complaint names the file, the line and the key path (``hosts.web.groups[1]``). The rules for
the lab file are also published as a JSON Schema (:func:`schema`) for editors; the unit tests
keep the two in agreement.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .exceptions import LabFileError, RecipeFileError
from .init import INIT_NAMES

DEFAULT_IMAGE = "debian12"
_SCHEMA_PATH = Path(__file__).with_name("dockerlab.schema.json")

# Host names become container hostnames and DNS names on the lab network, so they
# must be valid DNS labels; lower case keeps Ansible's inventory and DNS in agreement.
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A recipe's folder name is its image's repository name: the engine takes only this form.
_IMAGE_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_GROUPS = ("all", "ungrouped")

_TOP_KEYS = ("ansible", "hosts", "image", "images")
_HOST_KEYS = ("env", "groups", "image", "privileged", "vars")
_ANSIBLE_KEYS = ("extra_vars", "playbooks", "roles_path")
_IMAGES_KEYS = ("matrix", "recipes")
_RECIPE_KEYS = ("base", "bootstrap", "cgroup", "cgroup_reason", "dockerfile", "init", "python")
_CGROUP_VERSIONS = (1, 2)

_MERGE_TAG = "tag:yaml.org,2002:merge"

# A place in a YAML document: mapping keys as YAML read them, and list indices.
_KeyPath = tuple[Any, ...]


@dataclass(frozen=True)
class HostSpec:
    """One VM-like host of the lab."""

    name: str
    image: str = DEFAULT_IMAGE
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    privileged: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    pinned: bool = False  # the host names its own image: --dockerlab-image leaves it alone


@dataclass(frozen=True)
class AnsibleSpec:
    """The ``ansible:`` section, with paths resolved against the lab file's folder."""

    playbooks: tuple[Path, ...] = ()  # each an existing file, applied in order
    roles_path: tuple[Path, ...] = ()
    extra_vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImagesSpec:
    """The ``images:`` section: users' recipe folders and the images tests run on."""

    recipes: tuple[Path, ...] = ()  # each an existing folder, resolved
    matrix: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabSpec:
    """A whole lab file: its hosts in file order, its Ansible settings and its images."""

    path: Path
    hosts: Mapping[str, HostSpec]
    ansible: AnsibleSpec = field(default_factory=AnsibleSpec)
    images: ImagesSpec = field(default_factory=ImagesSpec)

    @property
    def root(self) -> Path:
        """The folder the lab file lives in; relative paths in it start here."""
        return self.path.parent

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(self.hosts)

    def on_image(self, image: str) -> LabSpec:
        """The same lab with every host that does not pin an image on ``image``."""
        hosts = {
            name: host if host.pinned else replace(host, image=image)
            for name, host in self.hosts.items()
        }
        return replace(self, hosts=hosts)


@dataclass(frozen=True)
class RecipeSpec:
    """What an image recipe's ``recipe.yml`` says (the defaults where it is silent or absent)."""

    path: Path  # the recipe.yml, or where it would be
    init: str = "systemd"  # one of init.INIT_NAMES
    base: str = ""  # registry image the Dockerfile starts from, e.g. debian:12
    bootstrap: str = ""  # Debian suite to bootstrap offline instead, e.g. bookworm
    python: str = "/usr/bin/python3"
    cgroup: tuple[int, ...] = (1, 2)  # cgroup versions whose hosts can boot the image
    cgroup_reason: str = ""
    dockerfile: str = "Dockerfile"  # as written, relative to the recipe folder


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the lab file, as shipped for editors."""
    # Beside this module, like the recipes: importlib.resources cannot open files of a
    # namespace package (no __init__.py) on Python 3.9.
    loaded: dict[str, Any] = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def load_lab_file(path: Path | str) -> LabSpec:
    """Read and check a lab file; every problem is a :class:`LabFileError` naming it."""
    doc = _YamlFile(Path(path).resolve(), LabFileError)
    return _parse_lab(doc, doc.load())


def parse_lab(data: Any, path: Path) -> LabSpec:
    """Check an already loaded lab document and build the model (errors carry no line)."""
    return _parse_lab(_YamlFile(Path(path), LabFileError), data)


def load_recipe_spec(folder: Path) -> RecipeSpec:
    """Read and check ``folder/recipe.yml`` (the defaults if there is none).

    Every problem is a :class:`RecipeFileError`, including a Dockerfile that is not there.
    """
    folder = Path(folder)
    doc = _YamlFile(folder / "recipe.yml", RecipeFileError)
    if not _IMAGE_NAME.fullmatch(folder.name):
        doc.fail_file(
            f"the folder name {folder.name!r} is the image's name, and the engine cannot tag "
            "it: use lower-case letters and digits, with '.', '_' or '-' between them"
        )
    data = doc.load() if doc.path.exists() else None
    if data is None:
        settings: dict[Any, Any] = {}
    elif isinstance(data, dict):
        settings = data
        doc.refuse_unknown((), settings, _RECIPE_KEYS)
    else:
        doc.fail((), f"the top level must be a mapping of recipe settings, not {_kind(data)}")

    init = settings.get("init", "systemd")
    if not isinstance(init, str) or init not in INIT_NAMES:
        got = repr(init) if isinstance(init, str) and init else _kind(init)
        doc.fail(("init",), f"must be one of {', '.join(INIT_NAMES)}, not {got}")

    dockerfile = _recipe_text(doc, settings, "dockerfile", "Dockerfile", "a path", empty_ok=False)
    target = (folder / dockerfile).resolve()
    if not target.is_file():
        if "dockerfile" not in settings:
            doc.fail_file(
                f"no Dockerfile at {target}; add one, or name another in recipe.yml "
                "with 'dockerfile:'"
            )
        doc.fail(
            ("dockerfile",), f"{'not a file' if target.exists() else 'no such file'}: {target}"
        )

    return RecipeSpec(
        path=doc.path,
        init=init,
        base=_recipe_text(doc, settings, "base", "", "an image name"),
        bootstrap=_recipe_text(doc, settings, "bootstrap", "", "a Debian suite name"),
        python=_recipe_text(doc, settings, "python", "/usr/bin/python3", "a path", empty_ok=False),
        cgroup=_cgroup_versions(doc, settings.get("cgroup", list(_CGROUP_VERSIONS))),
        cgroup_reason=_recipe_text(doc, settings, "cgroup_reason", "", "a string"),
        dockerfile=dockerfile,
    )


class _YamlFile:
    """A YAML file being checked: where each key path of it was written, and how.

    ``lines`` maps a key path to the line of its key (or list item); ``key_texts`` and
    ``value_texts`` keep scalars as written, so ``on:`` is reported as ``on``, not ``True``.
    Without a loaded file (:func:`parse_lab`) they are empty and errors carry no line.
    """

    def __init__(self, path: Path, error: type[LabFileError] | type[RecipeFileError]) -> None:
        self.path = path
        self.error = error
        self.lines: dict[_KeyPath, int] = {}
        self.key_texts: dict[_KeyPath, str] = {}
        self.value_texts: dict[_KeyPath, str] = {}

    def load(self) -> Any:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise self.error(self.path, "file not found") from None
        except OSError as exc:
            raise self.error(self.path, f"cannot read it: {exc.strerror or exc}") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(
                self.path,
                f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded; "
                "save the file as UTF-8",
                raw.count(b"\n", 0, exc.start) + 1,
            ) from exc
        try:
            return self._construct(text)
        except yaml.YAMLError as exc:
            problem, line = _yaml_problem(exc, text)
            raise self.error(self.path, f"not valid YAML: {problem}", line) from exc
        except RecursionError:
            # PyYAML reads nested lists and mappings recursively.
            raise self.error(self.path, "lists or mappings nested too deeply to read") from None

    def _construct(self, text: str) -> Any:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            self.lines[()] = node.start_mark.line + 1
            self._index(loader, node, (), set())
            return loader.construct_document(node)
        finally:
            loader.dispose()

    def _index(self, loader: yaml.SafeLoader, node: Node, path: _KeyPath, seen: set[int]) -> None:
        """Record lines and texts under ``node``; refuse a key written twice in one mapping."""
        if id(node) in seen:
            return  # an alias: its keys were indexed where its anchor is
        if isinstance(node, MappingNode):
            seen.add(id(node))
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                # Keys merged in with '<<' are indexed where they are written; a key that is a
                # list or a mapping is refused when the document is constructed.
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in first:
                    raise self.error(
                        self.path,
                        self._message(
                            path, f"duplicate key {key_node.value!r} (first on line {first[key]})"
                        ),
                        line,
                    )
                first[key] = line
                here = (*path, key)
                self.lines[here] = line
                self.key_texts[here] = key_node.value
                self._index_value(loader, value_node, here, seen)
        elif isinstance(node, SequenceNode):
            seen.add(id(node))
            for index, item in enumerate(node.value):
                here = (*path, index)
                self.lines[here] = item.start_mark.line + 1
                self._index_value(loader, item, here, seen)

    def _index_value(
        self, loader: yaml.SafeLoader, node: Node, here: _KeyPath, seen: set[int]
    ) -> None:
        if isinstance(node, ScalarNode):
            self.value_texts[here] = node.value
        else:
            self._index(loader, node, here, seen)

    def line(self, keypath: _KeyPath) -> int | None:
        """The line of ``keypath``, or of its nearest ancestor that has one."""
        for end in range(len(keypath), -1, -1):
            line = self.lines.get(keypath[:end])
            if line is not None:
                return line
        return None

    def key_text(self, keypath: _KeyPath) -> str:
        """The last key of ``keypath`` as written in the file."""
        text = self.key_texts.get(keypath)
        return _as_written(keypath[-1]) if text is None else text

    def fail(self, keypath: _KeyPath, problem: str, *, at: _KeyPath | None = None) -> NoReturn:
        """Raise the file's error about ``keypath``, on the line of ``at`` (default: keypath)."""
        line = self.line(keypath if at is None else at)
        raise self.error(self.path, self._message(keypath, problem), line)

    def fail_file(self, problem: str) -> NoReturn:
        raise self.error(self.path, problem)

    @staticmethod
    def _message(keypath: _KeyPath, problem: str) -> str:
        where = ""
        for key in keypath:
            if isinstance(key, int) and not isinstance(key, bool):
                where += f"[{key}]"
            else:
                where += f".{key}" if where else str(key)
        return f"{where}: {problem}" if where else problem

    def section(
        self, keypath: _KeyPath, value: Any, allowed: tuple[str, ...], what: str
    ) -> dict[Any, Any]:
        """A mapping of known keys (empty when the value is null)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(keypath, f"{what}, not {_kind(value)}")
        self.refuse_unknown(keypath, value, allowed)
        return value

    def refuse_unknown(
        self, keypath: _KeyPath, mapping: Mapping[Any, Any], allowed: tuple[str, ...]
    ) -> None:
        unknown = [key for key in mapping if key not in allowed]
        if not unknown:
            return
        names = ", ".join(repr(self.key_text((*keypath, key))) for key in unknown)
        plural = "s" if len(unknown) > 1 else ""
        top = "" if keypath else " at the top level"
        self.fail(
            keypath,
            f"unknown key{plural} {names}{top} (allowed: {', '.join(allowed)})",
            at=(*keypath, unknown[0]),
        )


def _parse_lab(doc: _YamlFile, data: Any) -> LabSpec:
    if data is None:
        doc.fail_file("the file is empty; a lab needs a 'hosts' mapping of host name to settings")
    if not isinstance(data, dict):
        doc.fail((), f"the top level must be a mapping with a 'hosts' key, not {_kind(data)}")
    doc.refuse_unknown((), data, _TOP_KEYS)
    if "hosts" not in data:
        doc.fail_file("no 'hosts': a lab needs a mapping of host name to settings")

    default_image = data.get("image", DEFAULT_IMAGE)
    if not isinstance(default_image, str) or not default_image:
        doc.fail(
            ("image",),
            f"must be an image name (the lab's default image), not {_kind(default_image)}",
        )

    raw_hosts = data["hosts"]
    if not isinstance(raw_hosts, dict):
        doc.fail(("hosts",), f"must be a mapping of host name to settings, not {_kind(raw_hosts)}")
    if not raw_hosts:
        doc.fail(("hosts",), "must name at least one host")
    hosts: dict[str, HostSpec] = {}
    for key, raw in raw_hosts.items():
        name = _host_name(doc, key)
        hosts[name] = _parse_host(doc, name, raw, default_image)

    root = doc.path.parent
    return LabSpec(
        path=doc.path,
        hosts=hosts,
        ansible=_parse_ansible(doc, root, data.get("ansible")),
        images=_parse_images(doc, root, data.get("images")),
    )


def _host_name(doc: _YamlFile, key: Any) -> str:
    if isinstance(key, str) and _HOST_NAME.fullmatch(key):
        return key
    at = ("hosts", key)
    text = doc.key_text(at)
    if not isinstance(key, str) and _HOST_NAME.fullmatch(text):
        doc.fail(
            ("hosts",),
            f"host name {text!r} is read by YAML as {_key_kind(key)}; "
            f"quote it ({text!r}) or pick another name",
            at=at,
        )
    doc.fail(
        ("hosts",),
        f"host name {text!r} is not a valid DNS label "
        "(lower-case letters, digits and '-', at most 63 characters)",
        at=at,
    )


def _parse_host(doc: _YamlFile, name: str, raw: Any, default_image: str) -> HostSpec:
    at = ("hosts", name)
    settings = doc.section(at, raw, _HOST_KEYS, "settings must be a mapping")

    image = settings.get("image", default_image)
    if not isinstance(image, str) or not image:
        doc.fail((*at, "image"), f"must be an image name, not {_kind(image)}")

    groups = _strings(
        doc,
        (*at, "groups"),
        settings.get("groups", []),
        "a group name",
        "group names",
        lone_ok=True,
        null_ok=False,
    )
    for where, group in groups:
        if not _GROUP_NAME.fullmatch(group) or group in _RESERVED_GROUPS:
            doc.fail(
                where,
                f"{group!r} is not a usable Ansible group name (letters, digits and '_', "
                "not starting with a digit; not 'all' or 'ungrouped')",
            )

    privileged = settings.get("privileged", False)
    if not isinstance(privileged, bool):
        doc.fail((*at, "privileged"), f"must be true or false, not {_kind(privileged)}")

    return HostSpec(
        name=name,
        image=image,
        groups=tuple(dict.fromkeys(group for _, group in groups)),
        vars=_ansible_variables(doc, (*at, "vars"), settings.get("vars")),
        privileged=privileged,
        env=_environment(doc, (*at, "env"), settings.get("env")),
        pinned="image" in settings,
    )


def _parse_ansible(doc: _YamlFile, root: Path, value: Any) -> AnsibleSpec:
    at = ("ansible",)
    raw = doc.section(at, value, _ANSIBLE_KEYS, "must be a mapping")
    playbooks = []
    for where, text in _paths(doc, (*at, "playbooks"), raw.get("playbooks")):
        playbook = (root / text).resolve()
        if playbook.is_dir():
            doc.fail(where, f"{playbook} is a folder, not a playbook")
        if not playbook.is_file():
            doc.fail(where, f"playbook not found: {playbook}")
        playbooks.append(playbook)
    roles = _paths(doc, (*at, "roles_path"), raw.get("roles_path"))
    return AnsibleSpec(
        playbooks=tuple(playbooks),
        roles_path=tuple((root / text).resolve() for _, text in roles),
        extra_vars=_ansible_variables(doc, (*at, "extra_vars"), raw.get("extra_vars")),
    )


def _parse_images(doc: _YamlFile, root: Path, value: Any) -> ImagesSpec:
    at = ("images",)
    raw = doc.section(at, value, _IMAGES_KEYS, "must be a mapping")
    recipes = []
    if "recipes" in raw:
        for where, text in _strings(
            doc,
            (*at, "recipes"),
            raw["recipes"],
            "a folder",
            "folders",
            lone_ok=False,
            null_ok=False,
        ):
            folder = (root / text).resolve()
            if not folder.exists():
                doc.fail(where, f"no such folder: {folder}")
            if not folder.is_dir():
                doc.fail(where, f"not a folder: {folder}")
            recipes.append(folder)
    matrix: list[str] = []
    if "matrix" in raw:
        images = _strings(
            doc,
            (*at, "matrix"),
            raw["matrix"],
            "an image name",
            "image names",
            lone_ok=False,
            null_ok=False,
        )
        for where, name in images:
            if name in matrix:
                doc.fail(where, f"{name!r} is listed twice")
            matrix.append(name)
    return ImagesSpec(recipes=tuple(recipes), matrix=tuple(matrix))


def _strings(
    doc: _YamlFile,
    keypath: _KeyPath,
    value: Any,
    one: str,
    many: str,
    *,
    lone_ok: bool,
    null_ok: bool,
) -> list[tuple[_KeyPath, str]]:
    """The non-empty strings of a list (or, if ``lone_ok``, of a lone string), with key paths."""
    if value is None and null_ok:
        return []
    if lone_ok and isinstance(value, str):
        items = [(keypath, value)]
    elif isinstance(value, list):
        items = [((*keypath, index), item) for index, item in enumerate(value)]
    else:
        doc.fail(keypath, f"must be a list of {many}, not {_kind(value)}")
    for where, item in items:
        if not isinstance(item, str) or not item:
            doc.fail(where, f"must be {one}, not {_kind(item)}")
    return items


def _paths(doc: _YamlFile, keypath: _KeyPath, value: Any) -> list[tuple[_KeyPath, str]]:
    """A path or a list of paths (null is none), as written."""
    return _strings(doc, keypath, value, "a path", "paths", lone_ok=True, null_ok=True)


def _variables(doc: _YamlFile, keypath: _KeyPath, value: Any) -> dict[str, Any]:
    """A mapping of variable name (a string) to any value; null is no variables."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        doc.fail(keypath, f"must be a mapping of variable name to value, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            text = doc.key_text((*keypath, key))
            doc.fail(
                keypath,
                f"variable name {text!r} is read by YAML as {_key_kind(key)}; "
                "quote it or pick another name",
                at=(*keypath, key),
            )
    return dict(value)


def _ansible_variables(doc: _YamlFile, keypath: _KeyPath, value: Any) -> dict[str, Any]:
    variables = _variables(doc, keypath, value)
    _check_passable(doc, keypath, value, ())
    return variables


def _check_passable(doc: _YamlFile, keypath: _KeyPath, value: Any, within: tuple[int, ...]) -> None:
    """Refuse what cannot reach Ansible: ansible-runner hands variables over as JSON."""
    if isinstance(value, (dict, list)):
        if id(value) in within:
            doc.fail(keypath, "refers to itself through a YAML alias; Ansible cannot be given it")
        within = (*within, id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            here = (*keypath, key)
            if isinstance(key, (datetime.date, bytes)):
                text = doc.key_text(here)
                doc.fail(
                    keypath,
                    f"variable name {text!r} is read by YAML as {_kind(key)}; "
                    "quote it or pick another name",
                    at=here,
                )
            _check_passable(doc, here, item, within)
    elif isinstance(value, (datetime.date, bytes, set)):
        problem = f"{_kind(value)} cannot be handed to Ansible"
        written = doc.value_texts.get(keypath)
        if written and isinstance(value, datetime.date):
            problem += f"; quote it ({written!r}) to pass it as written"
        doc.fail(keypath, problem)


def _environment(doc: _YamlFile, keypath: _KeyPath, value: Any) -> dict[str, str]:
    env = _variables(doc, keypath, value)
    for key, item in env.items():
        here = (*keypath, key)
        if not key or "=" in key:
            doc.fail(
                keypath,
                f"{key!r} is not a usable environment variable name (not empty, no '=')",
                at=here,
            )
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            problem = f"must be a string or a number, not {_kind(item)}"
            text = doc.value_texts.get(here)
            if text:
                problem += f"; quote it ({text!r}) to pass it as written"
            doc.fail(here, problem)
    return {key: str(item) for key, item in env.items()}


def _recipe_text(
    doc: _YamlFile,
    settings: Mapping[Any, Any],
    key: str,
    default: str,
    what: str,
    *,
    empty_ok: bool = True,
) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str) or not (value or empty_ok):
        doc.fail((key,), f"must be {what}, not {_kind(value)}")
    return value


def _cgroup_versions(doc: _YamlFile, value: Any) -> tuple[int, ...]:
    allowed = " or ".join(map(str, _CGROUP_VERSIONS))
    if not isinstance(value, list):
        doc.fail(("cgroup",), f"must be a list of cgroup versions ({allowed}), not {_kind(value)}")
    if not value:
        doc.fail(("cgroup",), f"must name at least one cgroup version ({allowed})")
    for index, version in enumerate(value):
        if isinstance(version, bool) or version not in _CGROUP_VERSIONS:
            got = repr(version) if type(version) is int else _kind(version)
            doc.fail(("cgroup", index), f"must be {allowed}, not {got}")
    return tuple(dict.fromkeys(value))


def _kind(value: Any) -> str:
    """What a value is, for 'must be X, not <kind>'."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime.datetime):
        return "a date and time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, (set, frozenset)):
        return "a set"
    return type(value).__name__


def _key_kind(key: Any) -> str:
    return "null" if key is None else _kind(key)


def _as_written(key: Any) -> str:
    """A key's likely spelling when the file's own text is not at hand."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return str(key).lower()
    return str(key)


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """What PyYAML found wrong, and on which line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = f"{exc.problem} (column {mark.column + 1}"
        context = exc.context_mark
        if exc.context and context is not None and context.line != mark.line:
            problem += f"; {exc.context} from line {context.line + 1}"
        return problem + ")", mark.line + 1
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        line = text.count("\n", 0, exc.position) + 1
        return f"unacceptable character #x{exc.character:04x}: {exc.reason}", line
    return str(exc), None
