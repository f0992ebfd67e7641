"""An image recipe: a folder with a ``Dockerfile`` and a ``recipe.yml``, read into a
:class:`~.model.Recipe` (checked like the lab file) with the digest of its files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..exceptions import RecipeFileError
from .model import CGROUP_VERSIONS, IMAGE_NAME, INIT_NAMES, Recipe, keys
from .yamlfile import YamlFile, kind_of


def load_recipe(folder: Path) -> Recipe:
    """Read and check ``folder/recipe.yml`` (the defaults if there is none).

    Every problem is a :class:`RecipeFileError`, including a Dockerfile that is not there.
    """
    folder = Path(folder)
    doc = YamlFile(folder / "recipe.yml", RecipeFileError)
    if not IMAGE_NAME.fullmatch(folder.name):
        doc.fail_file(
            f"the folder name {folder.name!r} is the image's name, and the engine cannot tag "
            "it: use lower-case letters and digits, with '.', '_' or '-' between them"
        )
    data = doc.load() if doc.path.exists() else None
    if data is None:
        settings: dict[Any, Any] = {}
    elif isinstance(data, dict):
        settings = data
        doc.refuse_unknown((), settings, keys(Recipe))
    else:
        doc.fail((), f"the top level must be a mapping of recipe settings, not {kind_of(data)}")

    init = settings.get("init", "systemd")
    if not isinstance(init, str) or init not in INIT_NAMES:
        got = repr(init) if isinstance(init, str) and init else kind_of(init)
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
    return Recipe(
        name=folder.name,
        path=folder,
        dockerfile=target,
        init=init,
        base=_recipe_text(doc, settings, "base", "", "an image name"),
        bootstrap=_recipe_text(doc, settings, "bootstrap", "", "a Debian suite name"),
        python=_recipe_text(doc, settings, "python", "/usr/bin/python3", "a path", empty_ok=False),
        cgroup=_cgroup_versions(doc, settings.get("cgroup", list(CGROUP_VERSIONS))),
        cgroup_reason=_recipe_text(doc, settings, "cgroup_reason", "", "a string"),
        digest=recipe_digest(folder, target),
    )


def recipe_digest(path: Path, dockerfile: Path) -> str:
    """A hash of every file of the recipe folder, and of a shared Dockerfile it uses."""
    sha = hashlib.sha256()
    files = [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for file in sorted(files):
        sha.update(file.relative_to(path).as_posix().encode() + b"\0")
        sha.update(file.read_bytes() + b"\0")
    if path not in dockerfile.parents:
        sha.update(b"dockerfile\0" + dockerfile.read_bytes())
    return sha.hexdigest()


def _recipe_text(
    doc: YamlFile,
    settings: Mapping[Any, Any],
    key: str,
    default: str,
    what: str,
    *,
    empty_ok: bool = True,
) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str) or not (value or empty_ok):
        doc.fail((key,), f"must be {what}, not {kind_of(value)}")
    return value


def _cgroup_versions(doc: YamlFile, value: Any) -> tuple[int, ...]:
    allowed = " or ".join(map(str, CGROUP_VERSIONS))
    if not isinstance(value, list):
        doc.fail(
            ("cgroup",), f"must be a list of cgroup versions ({allowed}), not {kind_of(value)}"
        )
    if not value:
        doc.fail(("cgroup",), f"must name at least one cgroup version ({allowed})")
    for index, version in enumerate(value):
        if isinstance(version, bool) or version not in CGROUP_VERSIONS:
            got = repr(version) if type(version) is int else kind_of(version)
            doc.fail(("cgroup", index), f"must be {allowed}, not {got}")
    return tuple(dict.fromkeys(value))
