"""A YAML file being checked: a reader that keeps where each key was written, and the readers
of values every section shares (strings, paths, variables, environments).

Every complaint names the file, the line and the key path (``hosts.web.groups[1]``), with
scalars as written (``on``, not ``True``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..exceptions import SpecFileError

_MERGE_TAG = "tag:yaml.org,2002:merge"

# A place in a YAML document: mapping keys as YAML read them, and list indices.
KeyPath = tuple[Any, ...]


class YamlFile:
    """A YAML file being checked: where each key path of it was written, and how.

    ``lines`` maps a key path to the line of its key (or list item); ``key_texts`` and
    ``value_texts`` keep scalars as written, so ``on:`` is reported as ``on``, not ``True``.
    Without a loaded file (:func:`parse_lab`) they are empty and errors carry no line.
    """

    def __init__(self, path: Path, error: type[SpecFileError]) -> None:
        self.path = path
        self.error = error
        self.lines: dict[KeyPath, int] = {}
        self.key_texts: dict[KeyPath, str] = {}
        self.value_texts: dict[KeyPath, str] = {}

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
            problem, line = yaml_problem(exc, text)
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

    def _index(self, loader: yaml.SafeLoader, node: Node, path: KeyPath, seen: set[int]) -> None:
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
        self, loader: yaml.SafeLoader, node: Node, here: KeyPath, seen: set[int]
    ) -> None:
        if isinstance(node, ScalarNode):
            self.value_texts[here] = node.value
        else:
            self._index(loader, node, here, seen)

    def line(self, keypath: KeyPath) -> int | None:
        """The line of ``keypath``, or of its nearest ancestor that has one."""
        for end in range(len(keypath), -1, -1):
            line = self.lines.get(keypath[:end])
            if line is not None:
                return line
        return None

    def key_text(self, keypath: KeyPath) -> str:
        """The last key of ``keypath`` as written in the file."""
        text = self.key_texts.get(keypath)
        return as_written(keypath[-1]) if text is None else text

    def fail(self, keypath: KeyPath, problem: str, *, at: KeyPath | None = None) -> NoReturn:
        """Raise the file's error about ``keypath``, on the line of ``at`` (default: keypath)."""
        line = self.line(keypath if at is None else at)
        raise self.error(self.path, self._message(keypath, problem), line)

    def fail_file(self, problem: str) -> NoReturn:
        raise self.error(self.path, problem)

    @staticmethod
    def _message(keypath: KeyPath, problem: str) -> str:
        where = path_text(keypath)
        return f"{where}: {problem}" if where else problem

    def section(
        self, keypath: KeyPath, value: Any, allowed: tuple[str, ...], what: str
    ) -> dict[Any, Any]:
        """A mapping of known keys (empty when the value is null)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(keypath, f"{what}, not {kind_of(value)}")
        self.refuse_unknown(keypath, value, allowed)
        return value

    def refuse_unknown(
        self, keypath: KeyPath, mapping: Mapping[Any, Any], allowed: tuple[str, ...]
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


def existing_file(doc: YamlFile, where: KeyPath, root: Path, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        doc.fail(where, f"must be a path, not {kind_of(value)}")
    path = (root / value).resolve()
    if not path.is_file():
        doc.fail(where, f"file not found: {path}")
    return path


def strings(
    doc: YamlFile,
    keypath: KeyPath,
    value: Any,
    one: str,
    many: str,
    *,
    lone_ok: bool,
    null_ok: bool,
) -> list[tuple[KeyPath, str]]:
    """The non-empty strings of a list (or, if ``lone_ok``, of a lone string), with key paths."""
    if value is None and null_ok:
        return []
    if lone_ok and isinstance(value, str):
        items = [(keypath, value)]
    elif isinstance(value, list):
        items = [((*keypath, index), item) for index, item in enumerate(value)]
    else:
        doc.fail(keypath, f"must be a list of {many}, not {kind_of(value)}")
    for where, item in items:
        if not isinstance(item, str) or not item:
            doc.fail(where, f"must be {one}, not {kind_of(item)}")
    return items


def paths(doc: YamlFile, keypath: KeyPath, value: Any) -> list[tuple[KeyPath, str]]:
    """A path or a list of paths (null is none), as written."""
    return strings(doc, keypath, value, "a path", "paths", lone_ok=True, null_ok=True)


def variables(
    doc: YamlFile,
    keypath: KeyPath,
    value: Any,
    names: str = "variable name",
    values: str = "value",
) -> dict[str, Any]:
    """A mapping of names (strings) to any value; null is none."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        doc.fail(keypath, f"must be a mapping of {names} to {values}, not {kind_of(value)}")
    for key in value:
        if not isinstance(key, str):
            text = doc.key_text((*keypath, key))
            doc.fail(
                keypath,
                f"{names} {text!r} is read by YAML as {key_kind_of(key)}; "
                "quote it or pick another name",
                at=(*keypath, key),
            )
    return dict(value)


def ansible_variables(doc: YamlFile, keypath: KeyPath, value: Any) -> dict[str, Any]:
    found = variables(doc, keypath, value)
    _check_passable(doc, keypath, value, ())
    return found


def _check_passable(doc: YamlFile, keypath: KeyPath, value: Any, within: tuple[int, ...]) -> None:
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
                    f"variable name {text!r} is read by YAML as {kind_of(key)}; "
                    "quote it or pick another name",
                    at=here,
                )
            _check_passable(doc, here, item, within)
    elif isinstance(value, (datetime.date, bytes, set)):
        problem = f"{kind_of(value)} cannot be handed to Ansible"
        written = doc.value_texts.get(keypath)
        if written and isinstance(value, datetime.date):
            problem += f"; quote it ({written!r}) to pass it as written"
        doc.fail(keypath, problem)


def environment(doc: YamlFile, keypath: KeyPath, value: Any) -> dict[str, str]:
    env = {}
    for key, item in variables(doc, keypath, value).items():
        here = (*keypath, key)
        if not key or "=" in key:
            doc.fail(
                keypath,
                f"{key!r} is not a usable environment variable name (not empty, no '=')",
                at=here,
            )
        env[key] = text_value(doc, here, item)
    return env


def text_value(doc: YamlFile, keypath: KeyPath, value: Any) -> str:
    """A string or a number, as text; what YAML read as a boolean or null is refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problem = f"must be a string or a number, not {kind_of(value)}"
        text = doc.value_texts.get(keypath)
        if text:
            problem += f"; quote it ({text!r}) to pass it as written"
        doc.fail(keypath, problem)
    return str(value)


def path_text(keypath: KeyPath) -> str:
    """A key path as messages write it: ``hosts.web.groups[1]``."""
    where = ""
    for key in keypath:
        if isinstance(key, int) and not isinstance(key, bool):
            where += f"[{key}]"
        else:
            where += f".{key}" if where else str(key)
    return where


def kind_of(value: Any) -> str:
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


def key_kind_of(key: Any) -> str:
    return "null" if key is None else kind_of(key)


def as_written(key: Any) -> str:
    """A key's likely spelling when the file's own text is not at hand."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return str(key).lower()
    return str(key)


def yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
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
