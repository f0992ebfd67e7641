"""The lab file's JSON Schema, built from the model's fields (for editors).

Each key's description and value schema are the field's own (:func:`.model.doc`); the shared
vocabulary (host, group and network names, paths, variables) is defined here from the model's
constants. The package ships the result as ``dockerlab.schema.json``
(``python -m pytest_dockerlab schema`` writes it); the parser checks what a schema cannot:
files that must exist, keys written twice, the encoding.
"""

from __future__ import annotations

from dataclasses import MISSING
from typing import Any

from .model import (
    CAPABILITIES,
    DEFAULT_NETWORK,
    DNS_LABEL,
    DNS_LABEL_RULE,
    GROUP_NAME,
    HOST_LABEL,
    RESERVED_GROUPS,
    HostSpec,
    LabNetworkSpec,
    LabSpec,
    anchored,
    described,
    key_fields,
    one_of,
)

_SECTION = "section"

_DEFS: dict[str, Any] = {
    "hostName": {
        "description": "A host name: lower-case letters, digits, '-' and '_', not starting or "
        "ending with '-' or '_', at most 63 characters. Quote names YAML would read as booleans "
        "or numbers ('on', '123').",
        "type": "string",
        "pattern": anchored(HOST_LABEL),
    },
    "capabilities": {
        "description": "Linux capability names in capitals, with or without CAP_ (see "
        "capabilities(7)); ALL for every one.",
        "type": ["array", "null"],
        "items": {
            "description": "A capability.",
            "type": "string",
            "pattern": f"^(CAP_)?{one_of(('ALL', *CAPABILITIES))}$",
        },
    },
    "networkName": {
        "description": f"A lab network: a DNS label {DNS_LABEL_RULE}. {DEFAULT_NETWORK} "
        "is the lab's network, where hosts that name none are.",
        "type": "string",
        "pattern": anchored(DNS_LABEL),
    },
    "groupName": {
        "description": "An Ansible group name: letters, digits, '_', '-' and '.'; not "
        f"{' or '.join(map(repr, RESERVED_GROUPS))}.",
        "type": "string",
        "pattern": anchored(GROUP_NAME),
        "not": {"enum": list(RESERVED_GROUPS)},
    },
    "imageName": {
        "description": "An image: the name of a shipped recipe (debian12, rockylinux9, ...) or "
        "of a folder in images.recipes.",
        "type": "string",
        "minLength": 1,
    },
    "path": {
        "description": "A path, relative to the lab file's folder.",
        "type": "string",
        "minLength": 1,
    },
    "paths": {
        "description": "A path or a list of paths, relative to the lab file's folder.",
        "anyOf": [
            {"type": "null"},
            {"$ref": "#/$defs/path"},
            {"type": "array", "items": {"$ref": "#/$defs/path"}},
        ],
    },
    "variables": {
        "description": "Variables by name.",
        "type": ["object", "null"],
        "propertyNames": {"description": "A variable name.", "type": "string"},
    },
}


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the lab file."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:pytest-dockerlab:dockerlab.schema.json",
        "title": "pytest-dockerlab lab file (dockerlab.yml)",
        "description": "A lab of VM-like hosts in containers for testing Ansible playbooks with "
        "pytest. Paths are relative to the lab file's folder. The plugin also checks what a "
        "schema cannot: that named files and folders exist, that no key is written twice, and "
        "that the file is UTF-8.",
        "type": "object",
        "additionalProperties": False,
        "properties": _properties(LabSpec),
        "$defs": {
            **_DEFS,
            "host": {
                "description": "One host's settings; empty for all defaults.",
                **_mapping(HostSpec, nullable=True),
            },
            "labNetwork": {
                "description": "A lab network's settings.",
                **_mapping(LabNetworkSpec, nullable=False),
            },
        },
        # A lab has hosts, or names a Molecule scenario and nothing else.
        "oneOf": [
            {"required": ["hosts"], "not": {"required": ["molecule"]}},
            {"required": ["molecule"], "maxProperties": 1},
        ],
    }


def _properties(cls: type) -> dict[str, Any]:
    properties = {}
    for spec_field in key_fields(cls):
        description, value, opens = described(spec_field)
        if opens is not None:
            value = _mapping(opens, nullable=True)
        properties[spec_field.name] = {"description": description, **_expand(value)}
    return properties


def _mapping(cls: type, *, nullable: bool) -> dict[str, Any]:
    """A section: a mapping of ``cls``'s keys and nothing else (null: every default)."""
    found: dict[str, Any] = {"type": ["object", "null"] if nullable else "object"}
    required = [
        f.name for f in key_fields(cls) if f.default is MISSING and f.default_factory is MISSING
    ]
    if required:
        found["required"] = required
    found["additionalProperties"] = False
    found["properties"] = _properties(cls)
    return found


def _expand(value: Any) -> Any:
    """A value schema with each ``section(cls)`` replaced by that section's mapping."""
    if isinstance(value, dict):
        if set(value) == {_SECTION}:
            return _mapping(value[_SECTION], nullable=False)
        return {key: _expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item) for item in value]
    return value
