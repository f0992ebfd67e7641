"""What a session runs on: the lab file, or the Molecule scenario it names, with its recipes.

The pytest plugin and the ``up``/``bake`` commands load a lab the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import DockerlabError, LabFileError, ScenarioError, UnknownImageError
from .images import catalogue
from .spec import LabSpec, Recipe, load_lab_file, parse_lab

if TYPE_CHECKING:
    from .settings import Settings
    from .spec.molecule import Scenario


def load_lab(
    settings: Settings, platforms: list[Any] | None = None
) -> tuple[LabSpec | None, dict[str, Recipe], Scenario | None]:
    """The lab (None without one), every recipe it may use, and the Molecule scenario it
    comes from (if it does), checked together. ``platforms`` replace the scenario's own
    (``shared_state``: the default scenario's)."""
    scenario = None
    if settings.molecule is not None and not (settings.molecule / "molecule.yml").is_file():
        recipes = catalogue()  # a folder of scenarios: scenario_labs reads them
        if settings.image is not None and settings.image not in recipes:
            where = f"{settings.image_origin} {settings.image}: unknown image"
            raise UnknownImageError(settings.image, where, sorted(recipes))
        return None, recipes, None
    if settings.molecule is not None:
        spec, scenario = scenario_lab(settings.molecule, settings, platforms)
    elif settings.lab_file is None:
        return None, {}, None
    else:
        spec = load_lab_file(settings.lab_file)
        if spec.molecule is not None:
            spec, scenario = scenario_lab(spec.molecule, settings)
    recipes = catalogue(spec.images.recipes)
    known = sorted(recipes)
    if scenario is not None:
        recipes.update(foreign_recipes(scenario))
    if settings.image is not None:
        if settings.image not in recipes:
            where = f"{settings.image_origin} {settings.image}: unknown image"
            raise UnknownImageError(settings.image, where, known)
        # One image for the whole run: it replaces the lab file's default and its matrix.
        spec = spec.on_image(settings.image)
        spec = replace(spec, images=replace(spec.images, matrix=()))
    for name in spec.images.matrix:
        if name not in recipes:
            where = f"lab file {spec.path}: images.matrix names unknown image {name!r}"
            raise UnknownImageError(name, where, known)
    for host in spec.hosts.values():
        if host.image not in recipes:
            where = f"lab file {spec.path}: host {host.name!r} uses unknown image {host.image!r}"
            raise UnknownImageError(host.image, where, known)
    return spec, recipes, scenario


@dataclass(frozen=True)
class ScenarioLab:
    """A scenario of a folder of scenarios: its lab, or why it cannot run (its item says)."""

    folder: Path
    spec: LabSpec | None = None
    scenario: Scenario | None = None
    error: DockerlabError | None = None


@dataclass
class ScenarioFolder:
    """``--dockerlab-molecule`` naming a folder of scenarios (Molecule's ``--all``)."""

    labs: dict[Path, ScenarioLab] = field(default_factory=dict)  # in Molecule's order
    recipes: dict[str, Recipe] = field(default_factory=dict)  # every scenario's images
    # shared_state: the default scenario, whose instances every scenario runs on.
    shared: Path | None = None
    said: str = ""  # what of shared_state is not honoured, for the header

    def runnable(self) -> list[ScenarioLab]:
        return [lab for lab in self.labs.values() if lab.error is None]


def scenario_labs(settings: Settings) -> ScenarioFolder | None:
    """Each scenario's lab of the folder of scenarios ``--dockerlab-molecule`` names (None
    when it names one scenario). Under ``shared_state`` (any scenario's, as in Molecule),
    every scenario's lab is the default scenario's platforms."""
    from .spec.molecule import molecule_environment, read_config, scenario_folders

    if settings.molecule is None or (settings.molecule / "molecule.yml").is_file():
        return None
    found = ScenarioFolder(recipes=catalogue())
    folders = scenario_folders(settings.molecule)
    configs = {}
    for folder in folders:
        with contextlib.suppress(DockerlabError):  # its own conversion says what is wrong
            configs[folder] = read_config(folder, molecule_environment(folder, os.environ))
    if any(config.get("shared_state") for config in configs.values()):
        found.shared = next((f for f in folders if f.name == "default"), None)
        if found.shared is None:
            found.said = (
                "shared_state: no default scenario to create the instances: each scenario "
                "runs on its own platforms, as Molecule falls back to"
            )
    platforms = None
    # The default scenario first: under shared_state, its platforms are every scenario's.
    for folder in sorted(folders, key=lambda f: f != found.shared):
        try:
            spec, recipes, scenario = load_lab(
                replace(settings, molecule=folder), platforms=platforms
            )
        except DockerlabError as exc:  # one scenario that cannot run stops no other
            found.labs[folder] = ScenarioLab(folder, error=exc)
            if folder == found.shared:
                found.said = (
                    "shared_state: the default scenario, which makes every scenario's "
                    f"instances, cannot run: {exc}"
                )
        else:
            found.labs[folder] = ScenarioLab(folder, spec, scenario)
            found.recipes.update(recipes)
            if folder == found.shared and scenario is not None:
                platforms = scenario.platforms
    found.labs = {folder: found.labs[folder] for folder in folders}
    return found


def foreign_recipes(scenario: Scenario) -> dict[str, Recipe]:
    """Recipes for a scenario's platform images that name no recipe of ours: each has the
    image as its base (pulled where a registry answers) and the Dockerfile that adds what a
    VM-like host needs, written under the scenario's ephemeral folder."""
    from .images import RECIPES_DIR
    from .spec import load_recipe

    made = {}
    where = Path(scenario.environment["MOLECULE_EPHEMERAL_DIRECTORY"], "images")
    for name, image in scenario.foreign_images.items():
        folder = where / name
        files = {
            "Dockerfile": (RECIPES_DIR / "_common" / "any-systemd.Dockerfile").read_text(),
            "recipe.yml": f"init: systemd\nbase: {json.dumps(image)}\n",
        }
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for file, text in files.items():
                _write_if_changed(folder / file, text)
        except OSError as exc:
            raise ScenarioError(
                scenario.folder,
                f"cannot write the recipe for {image} in {folder}: {exc.strerror or exc}",
            ) from None
        made[name] = load_recipe(folder)
    return made


def _write_ephemeral_inventory(scenario: Scenario) -> None:
    """provisioner.inventory's host_vars and group_vars as the files Molecule writes under
    its ephemeral folder (``inventory/host_vars/NAME``): a verify may read them."""
    import yaml

    where = Path(scenario.environment["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    try:
        for kind, by_name in scenario.inventory_vars.items():
            for name, variables in by_name.items():
                if isinstance(variables, dict):
                    (where / kind).mkdir(parents=True, exist_ok=True)
                    text = yaml.safe_dump(variables, sort_keys=False)
                    _write_if_changed(where / kind / str(name), text)
    except OSError as exc:
        raise ScenarioError(
            scenario.folder, f"cannot write Molecule's inventory in {where}: {exc.strerror or exc}"
        ) from None


def _write_if_changed(path: Path, text: str) -> None:
    """Whole or not at all, and not at all when it says that already: xdist workers each
    write the same files, while others may be reading them."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


def scenario_lab(
    folder: Path, settings: Settings, platforms: list[Any] | None = None
) -> tuple[LabSpec, Scenario]:
    """A Molecule scenario folder as a lab (every platform on the run's image, if any)."""
    from .ansible import read_inventory
    from .spec.molecule import convert

    known = catalogue()
    image = settings.image if settings.image in known else None
    scenario = convert(
        folder,
        known,
        image=image,
        privileged=settings.molecule_privileged,
        platforms=platforms,
        read_inventory=read_inventory,
    )
    if scenario.users:
        # Before the scenario's own prepare: its plays connect as those users already.
        from .spec.molecule import users_playbook

        playbook = Path(scenario.environment["MOLECULE_EPHEMERAL_DIRECTORY"], "users.yml")
        try:
            playbook.parent.mkdir(exist_ok=True)
            playbook.write_text(users_playbook(scenario.users), encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(folder, f"cannot write {playbook}: {exc.strerror or exc}") from None
        ansible = scenario.lab["ansible"]
        ansible["prepare"] = [str(playbook), *ansible.get("prepare", [])]
    _write_ephemeral_inventory(scenario)
    for source in scenario.missing_sources:
        try:
            source.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ScenarioError(
                folder, f"cannot create bind source {source}: {exc.strerror or exc}"
            ) from None
    try:
        return parse_lab(scenario.lab, scenario.path), scenario
    except LabFileError as exc:  # about what the scenario says: in molecule.yml's words
        raise ScenarioError(folder, f"molecule.yml: {scenario.origin(exc.problem)}") from None
