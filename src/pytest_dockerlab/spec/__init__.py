"""What users write, read and checked: lab files, image recipes, Molecule scenarios.

The model (:mod:`.model`) is frozen specs with their defaults; :mod:`.labfile`,
:mod:`.container` and :mod:`.recipe` read files into it through a YAML reader that keeps
lines (:mod:`.yamlfile`); :mod:`.molecule` turns a Molecule scenario into a lab document;
:mod:`.schema` builds the lab file's JSON Schema from the model. This package imports
nothing of the plugin but its errors.
"""

from __future__ import annotations

from .labfile import load_lab_file, parse_lab
from .model import (
    DEFAULT_IMAGE,
    DEFAULT_NETWORK,
    AnsibleSpec,
    ContainerSpec,
    HostSpec,
    ImagesSpec,
    LabNetworkSpec,
    LabSpec,
    Mount,
    NetworkSpec,
    PublishedPort,
    Recipe,
    RunOptions,
    Ulimit,
)
from .recipe import load_recipe
from .schema import schema

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_NETWORK",
    "AnsibleSpec",
    "ContainerSpec",
    "HostSpec",
    "ImagesSpec",
    "LabNetworkSpec",
    "LabSpec",
    "Mount",
    "NetworkSpec",
    "PublishedPort",
    "Recipe",
    "RunOptions",
    "Ulimit",
    "load_lab_file",
    "load_recipe",
    "parse_lab",
    "schema",
]
